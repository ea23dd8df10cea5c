/**
 * How the scheduled integrity check's findings reach CloudWatch: each finding is one log line with this
 * message (functions/core/integrity.ts), and a metric filter on the checking functions' log groups counts
 * them into this metric per component (infra/constructs/integrity.ts), which alarms and the dashboard read.
 */
export { METRICS_NAMESPACE, COMPONENT_DIMENSION } from './backup-age-metrics';
export const INTEGRITY_FINDING_MESSAGE = 'integrity finding';
export const INTEGRITY_FINDINGS_METRIC = 'IntegrityFindings';
