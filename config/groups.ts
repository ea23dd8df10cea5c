/**
 * The runbook's schedule groups, apart from the rest of the configuration model so that a component's
 * descriptor can name its group without importing the model built from the descriptors.
 */

/** Schedule groups of the runbook, as written under `backup.schedule` and `backup.retention`. */
export const GROUPS = ['database', 'memory_tiers', 'configuration', 'model_weights', 'logs'] as const;
export type GroupName = (typeof GROUPS)[number];

/** The S3 key prefix (retention class, DESIGN.md "Storage layout") each group's backups live under. */
export const GROUP_PREFIX: Record<GroupName, string> = {
  database: 'database',
  memory_tiers: 'memory',
  configuration: 'config',
  model_weights: 'models',
  logs: 'logs',
};
