/**
 * The CloudWatch metrics RPO monitoring publishes (functions/core/backup-age.ts) and alarms on
 * (infra/constructs/backup-age.ts), and the field of the function's schedule input that carries the RPOs.
 */
export const METRICS_NAMESPACE = 'NcaBackup';
/** Hours since the newest trusted backup of the component started. */
export const BACKUP_AGE_METRIC = 'BackupAgeHours';
/** The component's RPO in hours (config/verification.ts `rpoOf`), next to its age on a graph. */
export const RPO_METRIC = 'RpoHours';
export const COMPONENT_DIMENSION = 'Component';
/** The field of the schedule's input that carries each component's RPO in hours (components without one are absent). */
export const RPO_HOURS_FIELD = 'rpoHours';
