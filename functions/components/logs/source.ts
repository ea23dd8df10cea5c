/**
 * The logs component's settings as parsed (the runbook's logs and monitoring data: application logs, audit
 * trails, system metrics, performance data). Pure types shared by the descriptor (the configuration, the
 * control plane, the CDK app) and the engine.
 */

/** A metric set of `backup.sources.logs.metrics`: a namespace, optionally narrowed, exported at a period. */
export interface MetricSetConfig {
  /** The set's name in windows, manifests and artifact names. @default its namespace */
  readonly id: string;
  readonly namespace: string;
  /** @default every metric of the namespace */
  readonly metricNames?: readonly string[];
  /** Only metrics with each of these dimensions (with this value, or any value when none is given). @default no filter */
  readonly dimensions?: readonly { readonly name: string; readonly value?: string }[];
  /** Seconds per datapoint: 60 or a multiple of 60 (or 1, 5, 10, 30 for high-resolution metrics). @default 60 */
  readonly periodSeconds: number;
  /** @default ["Average", "Minimum", "Maximum", "Sum", "SampleCount"] */
  readonly statistics: readonly string[];
}

/** backup.sources.logs. At least one log group, prefix or metric set. */
export interface LogsSourceConfig {
  /** Log groups by exact name, e.g. "/neuroca/app". @default none */
  readonly logGroups: readonly string[];
  /** Every log group whose name starts with one of these, e.g. "/aws/lambda/neuroca-". @default none */
  readonly logGroupPrefixes: readonly string[];
  /** @default none */
  readonly metrics: readonly MetricSetConfig[];
  /** How long before now a window ends, for events still becoming visible (windows.ts). @default 60 minutes */
  readonly settleMinutes: number;
  /** A new source's first backup starts this far back, capped at 14 days. @default the log group's retention (metrics: 14 days) */
  readonly lookbackDays?: number;
  /**
   * How late (by event timestamp) an event may arrive and still be exported: the backward reach of each
   * backup's scan (windows.ts queryRange). Lowering it shortens every scan and misses events that arrive
   * later than that. @default 336 hours (14 days, all CloudWatch Logs accepts)
   */
  readonly lateArrivalHours: number;
  /**
   * Where a deployed restore may write files (the Athena layout): an S3 location the worker is granted
   * PutObject under; a restore's `targetPrefix` must be inside it. @default none (file restores only from the CLI, to a directory)
   */
  readonly restoreLocation?: { readonly bucket: string; readonly prefix: string };
  /**
   * Log groups a restore may write into: a restore's `targetLogGroup` must start with it (the worker's role
   * may create and write only those). @default "/nca-backup/restored/"
   */
  readonly restoreLogGroupPrefix: string;
}

/** Window source ids of metric sets are `metrics:<id>`: a log group name never holds ':'. */
export const METRICS_SOURCE_PREFIX = 'metrics:';
export const metricsSourceId = (id: string) => `${METRICS_SOURCE_PREFIX}${id}`;

export const DEFAULT_STATISTICS: readonly string[] = ['Average', 'Minimum', 'Maximum', 'Sum', 'SampleCount'];
export const DEFAULT_SETTLE_MINUTES = 60;
export const DEFAULT_LATE_ARRIVAL_HOURS = 14 * 24;
export const DEFAULT_RESTORE_LOG_GROUP_PREFIX = '/nca-backup/restored/';

/** Restore options of the logs component, checked (options.ts). */
export interface LogsRestoreOptions {
  /**
   * Event timestamps restored: [from, to), ms since the epoch (given as ISO 8601 or ms). The restore reads
   * every backup of the chain that may hold such an event. @default both absent: exactly the events of the backup restored
   */
  readonly from?: number;
  readonly to?: number;
  /** The backed-up log groups restored (exact names). @default every group of the backups read */
  readonly logGroups?: readonly string[];
  /** Write the events into this log group (created if missing); one source group per restore. @default none */
  readonly targetLogGroup?: string;
  /** Write files in the Athena layout under this S3 location (inside `restoreLocation` when deployed). @default none */
  readonly targetPrefix?: { readonly bucket: string; readonly prefix: string };
  /** Write files in the Athena layout into this local directory (the CLI). @default none */
  readonly directory?: string;
}
