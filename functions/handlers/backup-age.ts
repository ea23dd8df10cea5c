/** Scheduled (every 15 minutes): publishes each component's backup age and RPO; see core/backup-age.ts. */
import { monitorBackupAges, rpoHoursFromEvent, type BackupAge } from '../core/backup-age';
import { vaultFor } from '../core/context';
import { createLogger } from '../core/logger';
import { metricsClient } from '../core/metrics-client';
import { authenticatorFor } from '../core/manifest-mac';
import { vaultRuntimeConfigFromEvent } from '../core/runtime-config';

/** The schedule's input: `{"runtimeConfig": "<JSON of the vault and the components' groups>", "rpoHours": {"<component>": 24}}`. */
export const handler = async (event: unknown): Promise<BackupAge[]> => {
  const config = vaultRuntimeConfigFromEvent(event);
  const rpoHours = rpoHoursFromEvent(event, config);
  const log = createLogger({ function: 'backup-age' });
  const metrics = metricsClient(config.region);
  try {
    const ages = await monitorBackupAges(config, rpoHours, { vault: vaultFor(config), authenticator: authenticatorFor(config), metrics, log });
    log.info('backup ages published', {
      components: ages.length,
      breached: ages.filter((a) => a.breached).map((a) => a.component),
      withoutBackup: ages.filter((a) => a.ageHours === undefined).map((a) => a.component),
    });
    return ages;
  } finally {
    metrics.destroy();
  }
};
