/** Backup workflow, last state: outcome and events from every component's result, and the backups' size and duration as metrics. */
import { decideBackupOutcome, publishBackupMetrics, type BackupOutcome, type BackupOutcomeInput } from '../core/backup-outcome';
import { createLogger } from '../core/logger';
import { metricsClient } from '../core/metrics-client';
import { setting } from '../../config/environment';

export const handler = async (event: BackupOutcomeInput): Promise<BackupOutcome> => {
  const outcome = decideBackupOutcome(event);
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
  return outcome;
};
