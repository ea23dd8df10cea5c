/**
 * The CloudWatch metrics the backup workflow's last step publishes per component that backed up
 * (functions/core/backup-outcome.ts), graphed on the dashboard (infra/constructs/dashboard.ts).
 */
export { METRICS_NAMESPACE, COMPONENT_DIMENSION } from './backup-age-metrics';
/** The backup's bytes as stored (a deduplicating component: what it stored anew). */
export const BACKUP_BYTES_METRIC = 'BackupBytes';
/** The component's backup step, start to manifest, in seconds. */
export const BACKUP_DURATION_METRIC = 'BackupDurationSeconds';
