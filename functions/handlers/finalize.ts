/**
 * Backup workflow, last state: outcome and events from every component's result, and the backups' size and
 * duration as metrics; for a system backup (group all), the system index, written last.
 */
import { decideBackupOutcome, publishBackupMetrics, type BackupOutcome, type BackupOutcomeInput } from '../core/backup-outcome';
import { vaultFor } from '../core/context';
import { createLogger } from '../core/logger';
import { metricsClient } from '../core/metrics-client';
import { runtimeConfigFromEvent } from '../core/runtime-config';
import { buildSystemIndex, writeSystemIndex, type SystemIndex } from '../core/system-point';
import { setting } from '../../config/environment';

export const handler = async (event: BackupOutcomeInput): Promise<BackupOutcome & { systemPoint: SystemIndex | null }> => {
  const outcome = decideBackupOutcome(event);
  // The index is written whatever the outcome: an incomplete point is listed, and refused as a whole by restore-all.
  const systemPoint = event.system ? await writeSystemIndex(vaultFor(runtimeConfigFromEvent(event)), buildSystemIndex(event.system, event.results, new Date())) : null;
  // The deployed function publishes (its stack sets NCA_BACKUP_METRICS); local workflow runs only when asked.
  if (setting(process.env, 'backupMetrics') === 'on') {
    // No region from the event: the function's own (AWS_REGION), the primary region like every metric here.
    const metrics = metricsClient(undefined);
    try {
      await publishBackupMetrics(outcome, metrics, createLogger({ function: 'finalize' }));
    } finally {
      metrics.destroy();
    }
  }
  return { ...outcome, systemPoint };
};
