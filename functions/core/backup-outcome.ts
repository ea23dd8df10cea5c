/**
 * The backup workflow's last step: every component has finished (the Map catches failures so one
 * component cannot cancel the others); decide the execution's outcome and the events to publish, and
 * publish each backed-up component's size and duration for the dashboard.
 */
import { PutMetricDataCommand, type CloudWatchClient, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import { BACKUP_BYTES_METRIC, BACKUP_DURATION_METRIC, COMPONENT_DIMENSION, METRICS_NAMESPACE } from '../../config/backup-metrics';
import type { Logger } from '../components/types';
import { eventEntry, readableCause, type EventEntry } from './events';
import type { SystemMembership } from './manifest';

export interface ComponentSucceeded {
  readonly component: string;
  readonly status: 'SUCCEEDED';
  readonly result: { readonly bytes: number; readonly durationMs: number; readonly backupId: string; readonly warnings?: readonly string[]; readonly sourceBytes?: number; readonly storedBytes?: number; readonly [k: string]: unknown };
  readonly runner?: string;
  /** Rerun on Fargate after its Lambda attempt stopped at the time limit: that attempt's error and cause. */
  readonly rerunFrom?: 'lambda';
  readonly lambdaAttempt?: { readonly error: string; readonly cause: string };
}

export interface ComponentFailed {
  readonly component: string;
  readonly status: 'FAILED';
  readonly error: string;
  readonly cause: string;
}

export interface BackupOutcomeInput {
  readonly group: string;
  readonly backupId: string;
  /** group all: the system recovery point the plan made (its index is written by Finalize); null or absent otherwise. */
  readonly system?: SystemMembership | null;
  readonly results: readonly (ComponentSucceeded | ComponentFailed)[];
}

export interface BackupOutcome {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly group: string;
  readonly backupId: string;
  readonly succeeded: readonly { component: string; bytes: number; durationMs: number; runner?: string; rerunFrom?: 'lambda'; lambdaAttempt?: { error: string; cause: string }; warnings?: readonly string[]; sourceBytes?: number; storedBytes?: number }[];
  readonly failed: readonly { component: string; error: string; cause: string }[];
  /** For the Fail state: the first failed component's error and a cause naming every failure. */
  readonly error?: string;
  readonly cause?: string;
  readonly eventEntries: readonly EventEntry[];
}

export function decideBackupOutcome(input: BackupOutcomeInput): BackupOutcome {
  const succeeded = input.results
    .filter((r): r is ComponentSucceeded => r.status === 'SUCCEEDED')
    .map((r) => ({
      component: r.component,
      bytes: r.result.bytes,
      durationMs: r.result.durationMs,
      runner: r.runner,
      ...(r.rerunFrom ? { rerunFrom: r.rerunFrom, ...(r.lambdaAttempt ? { lambdaAttempt: { ...r.lambdaAttempt } } : {}) } : {}),
      // A backup of an empty tier succeeded, but the operator must see why it holds nothing.
      ...(r.result.warnings?.length ? { warnings: [...r.result.warnings] } : {}),
      // A deduplicating component's artifacts are only its index: what it stored anew is the figure to watch.
      ...(typeof r.result.storedBytes === 'number' ? { sourceBytes: r.result.sourceBytes, storedBytes: r.result.storedBytes } : {}),
    }));
  const failed = input.results
    .filter((r): r is ComponentFailed => r.status === 'FAILED')
    .map((r) => ({ component: r.component, error: r.error, cause: readableCause(r.cause) }));
  const base = { group: input.group, backupId: input.backupId };
  const eventEntries = [
    ...succeeded.map((s) => eventEntry('Backup Succeeded', { ...base, ...s })),
    ...failed.map((f) => eventEntry('Backup Failed', { ...base, ...f })),
  ];
  if (failed.length === 0) return { status: 'SUCCEEDED', ...base, succeeded, failed, eventEntries };
  return {
    status: 'FAILED',
    ...base,
    succeeded,
    failed,
    error: failed[0].error,
    cause: failed.map((f) => `${f.component}: ${f.error}: ${f.cause}`).join(' | '),
    eventEntries,
  };
}

/** Per component that backed up: its bytes as stored (what a deduplicating component stored anew) and its duration. */
export function backupMetricData(outcome: Pick<BackupOutcome, 'succeeded'>, now: Date): MetricDatum[] {
  return outcome.succeeded.flatMap((s) => {
    const Dimensions = [{ Name: COMPONENT_DIMENSION, Value: s.component }];
    return [
      { MetricName: BACKUP_BYTES_METRIC, Dimensions, Timestamp: now, Value: s.storedBytes ?? s.bytes, Unit: 'Bytes' },
      { MetricName: BACKUP_DURATION_METRIC, Dimensions, Timestamp: now, Value: s.durationMs / 1000, Unit: 'Seconds' },
    ];
  });
}

/**
 * Publishes the outcome's metrics; true when they were. Never throws: the backups are stored whatever the metrics service says,
 * so a failed publish is a warning (the dashboard then misses the points), not a failed backup.
 */
export async function publishBackupMetrics(outcome: Pick<BackupOutcome, 'succeeded' | 'group' | 'backupId'>, metrics: CloudWatchClient, log: Logger, now: Date = new Date()): Promise<boolean> {
  const data = backupMetricData(outcome, now);
  if (data.length === 0) return true;
  try {
    await metrics.send(new PutMetricDataCommand({ Namespace: METRICS_NAMESPACE, MetricData: data }));
    return true;
  } catch (error) {
    const { name, message } = error as Error;
    log.warn('backup metrics not published', {
      group: outcome.group,
      backupId: outcome.backupId,
      error: `could not publish ${METRICS_NAMESPACE} ${BACKUP_BYTES_METRIC}/${BACKUP_DURATION_METRIC} (${name}: ${message}); the backups stand, the dashboard misses these points.`,
    });
    return false;
  }
}
