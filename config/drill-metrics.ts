/**
 * The CloudWatch metrics a drill publishes per component (functions/core/drill-report.ts), graphed on the
 * dashboard and alarmed on (infra/constructs). Same namespace and dimension as RPO monitoring.
 */
export { METRICS_NAMESPACE, COMPONENT_DIMENSION } from './backup-age-metrics';
/** 1 when the component's drill restored, verified and read its sample, else 0. */
export const DRILL_SUCCEEDED_METRIC = 'DrillSucceeded';
/** Start to verified, in seconds: the RTO the drill measured (published only for a drill that got there). */
export const DRILL_RESTORE_SECONDS_METRIC = 'DrillRestoreSeconds';
/** The drilled backup's stored bytes. */
export const DRILL_BYTES_METRIC = 'DrillRestoredBytes';
