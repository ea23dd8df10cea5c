/**
 * Reads one metric set's window (windows.ts: over the period's timestamp, aligned to the period) out of
 * CloudWatch with GetMetricData into its datapoints artifact (format.ts). A configured set (a namespace,
 * optionally metric names and dimensions) is first resolved to concrete metrics (resolveMetricSet).
 *
 * One query per metric and statistic, at most 500 in a request (GetMetricData's limit); each request is
 * paged with NextToken until an answer comes without one, at most `maxDatapoints` datapoints an answer
 * (the service's default is 100,800), oldest first (ScanBy TimestampAscending). StartTime is the window's
 * start and EndTime its end (exclusive). The service rounds StartTime down (to the minute, 5 minutes or the
 * hour, by how old it is: GetMetricData reference), which can return periods before the window: they are
 * dropped (`inWindow`), so each period is exported by the one window that holds its timestamp. A period
 * that does not divide an hour can be bucketed differently by windows whose starts round differently; the
 * configured periods should divide an hour (60, 300, 900, 3600 s do).
 *
 * Memory: one answer at a time (at most `maxDatapoints` datapoints), streamed into the writer.
 *
 * Failures: throttling is retried by the SDK (clients.ts), then a TransientError; a refusal an
 * AccessDeniedError; a query the service refuses (a statistic or period it does not take) an
 * InvalidInputError naming the metric set. A result whose StatusCode is neither Complete nor PartialData
 * (InternalError, Forbidden) fails the read: a metric with missing data is never stored as if complete.
 */
import { GetMetricDataCommand, ListMetricsCommand, type CloudWatchClient, type GetMetricDataCommandOutput, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import type { Readable } from 'node:stream';
import { AccessDeniedError, InvalidInputError, NcaBackupError, StorageError, TransientError } from '../../core/errors';
import { s3FailureKind } from '../../core/s3-errors';
import { writeDatapoints, type ArtifactStats, type MetricDatapoint } from './format';
import { inWindow, type Window } from './windows';

const COMPONENT = 'logs';
/** GetMetricData's limit on queries per request. */
export const MAX_QUERIES = 500;
/** GetMetricData's default (and largest useful) datapoints per answer. */
export const MAX_DATAPOINTS = 100_800;

/** One metric of a set: its identity and the statistics exported for it. */
export interface MetricSelection {
  readonly namespace: string;
  readonly metricName: string;
  /** @default none */
  readonly dimensions?: Readonly<Record<string, string>>;
  /** Average, Sum, Minimum, Maximum, SampleCount (or any statistic GetMetricData takes). */
  readonly stats: readonly string[];
}

/** A configured metric set, resolved to concrete metrics. */
export interface MetricSet {
  readonly id: string;
  /** Seconds; the window is aligned to it (windows.ts planWindows). */
  readonly periodSeconds: number;
  readonly metrics: readonly MetricSelection[];
}

export interface MetricsExportOptions {
  /** The artifact's name, for errors. */
  readonly artifact: string;
  /** Datapoints per GetMetricData answer. @default MAX_DATAPOINTS */
  readonly maxDatapoints?: number;
}

export interface MetricsExportStats {
  readonly metricSet: string;
  readonly window: Pick<Window, 'start' | 'end'>;
  readonly artifact: ArtifactStats;
  /** GetMetricData answers read. */
  pages: number;
  /** True once every query's last answer was read and every datapoint written. */
  complete: boolean;
}

/** A configured metric set before resolution: a namespace, optionally narrowed by metric names and dimensions. */
export interface MetricSetSelector {
  readonly id: string;
  readonly namespace: string;
  /** @default every metric of the namespace */
  readonly metricNames?: readonly string[];
  /** Only metrics that have each of these dimensions (with this value, or any value when none is given). @default no filter */
  readonly dimensions?: readonly { readonly name: string; readonly value?: string }[];
  readonly stats: readonly string[];
  readonly periodSeconds: number;
}

/**
 * The concrete metrics a selector names, by ListMetrics (paged), in a stable order. ListMetrics leaves out
 * metrics nothing was published to in the last two weeks (API reference): they have no datapoints in any
 * window a backup reads (windows start at most 14 days back, windows.ts), so nothing is lost by that.
 */
export async function resolveMetricSet(client: CloudWatchClient, selector: MetricSetSelector): Promise<MetricSet> {
  const found = new Map<string, MetricSelection>();
  for (const metricName of selector.metricNames ?? [undefined]) {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await client.send(
          new ListMetricsCommand({ Namespace: selector.namespace, MetricName: metricName, Dimensions: selector.dimensions?.map((d) => ({ Name: d.name, Value: d.value })), NextToken: token }),
        );
      } catch (error) {
        throw metricsFailure(error, selector.id);
      }
      for (const m of page.Metrics ?? []) {
        if (!m.MetricName) continue;
        const dimensions = Object.fromEntries((m.Dimensions ?? []).map((d) => [d.Name ?? '', d.Value ?? '']).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
        const key = JSON.stringify([m.MetricName, dimensions]);
        found.set(key, { namespace: selector.namespace, metricName: m.MetricName, dimensions, stats: selector.stats });
      }
      token = page.NextToken;
    } while (token);
  }
  const metrics = [...found].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, m]) => m);
  return { id: selector.id, periodSeconds: selector.periodSeconds, metrics };
}

interface Query {
  readonly metric: MetricSelection;
  readonly stat: string;
}

function metricsFailure(error: unknown, set: string): Error {
  if (error instanceof NcaBackupError) return error;
  const e = (error ?? {}) as { name?: string; message?: string };
  const detail = `${e.name ?? 'Error'}: ${String(e.message ?? error).slice(0, 300)}`;
  const doing = `reading the metric set ${JSON.stringify(set)}`;
  const context = { component: COMPONENT };
  const kind = s3FailureKind(error);
  if (kind === 'transient') return new TransientError(`CloudWatch failed while ${doing}: ${detail}.`, { ...context, hint: 'A retry may succeed.' });
  if (kind === 'denied') return new AccessDeniedError(`CloudWatch refused ${doing}: ${detail}.`, { ...context, hint: "Check the worker role's cloudwatch:GetMetricData grant." });
  if (/^InvalidParameter|^MissingParameter/.test(e.name ?? '')) return new InvalidInputError(`CloudWatch refused a query of the metric set ${JSON.stringify(set)}: ${detail}.`, { ...context, hint: 'Check its statistics and period in backup.sources.logs.' });
  return Object.assign(new StorageError(`CloudWatch failed while ${doing}: ${detail}.`, context), { cause: error });
}

async function* windowDatapoints(client: CloudWatchClient, set: MetricSet, window: Pick<Window, 'start' | 'end'>, options: MetricsExportOptions, stats: MetricsExportStats): AsyncGenerator<MetricDatapoint> {
  // Backups closer together than a period have an empty window: GetMetricData refuses StartTime = EndTime.
  const queries: Query[] = window.end > window.start ? set.metrics.flatMap((metric) => metric.stats.map((stat) => ({ metric, stat }))) : [];
  for (let first = 0; first < queries.length; first += MAX_QUERIES) {
    const chunk = queries.slice(first, first + MAX_QUERIES);
    const request: MetricDataQuery[] = chunk.map((q, i) => ({
      Id: `q${i}`,
      ReturnData: true,
      MetricStat: {
        Metric: { Namespace: q.metric.namespace, MetricName: q.metric.metricName, Dimensions: Object.entries(q.metric.dimensions ?? {}).map(([Name, Value]) => ({ Name, Value })) },
        Period: set.periodSeconds,
        Stat: q.stat,
      },
    }));
    let token: string | undefined;
    do {
      let page: GetMetricDataCommandOutput;
      try {
        page = await client.send(
          new GetMetricDataCommand({ MetricDataQueries: request, StartTime: new Date(window.start), EndTime: new Date(window.end), ScanBy: 'TimestampAscending', MaxDatapoints: options.maxDatapoints ?? MAX_DATAPOINTS, NextToken: token }),
        );
      } catch (error) {
        throw metricsFailure(error, set.id);
      }
      stats.pages++;
      for (const result of page.MetricDataResults ?? []) {
        const query = chunk[Number(result.Id?.slice(1))];
        if (!query || !/^q\d+$/.test(result.Id ?? '')) throw new StorageError(`CloudWatch answered a query ${JSON.stringify(String(result.Id).slice(0, 40))} the metric set ${JSON.stringify(set.id)} did not ask.`, { component: COMPONENT });
        if (result.StatusCode !== 'Complete' && result.StatusCode !== 'PartialData') {
          const what = `${query.metric.namespace} ${query.metric.metricName} ${query.stat}`;
          const message = `CloudWatch answered ${String(result.StatusCode)} for ${what} of the metric set ${JSON.stringify(set.id)}: ${(result.Messages ?? []).map((m) => m.Value).join('; ').slice(0, 300)}.`;
          throw result.StatusCode === 'Forbidden' ? new AccessDeniedError(message, { component: COMPONENT }) : new TransientError(message, { component: COMPONENT, hint: 'A retry may succeed.' });
        }
        const timestamps = result.Timestamps ?? [];
        const values = result.Values ?? [];
        if (timestamps.length !== values.length) throw new StorageError(`CloudWatch answered ${timestamps.length} timestamps and ${values.length} values for a query of the metric set ${JSON.stringify(set.id)}.`, { component: COMPONENT });
        for (let i = 0; i < timestamps.length; i++) {
          const timestamp = timestamps[i].getTime();
          if (!inWindow(timestamp, window)) continue;
          yield { namespace: query.metric.namespace, metricName: query.metric.metricName, dimensions: query.metric.dimensions ?? {}, stat: query.stat, period: set.periodSeconds, timestamp, value: values[i] };
        }
      }
      token = page.NextToken;
    } while (token);
  }
  stats.complete = true;
}

/** The datapoints artifact of one metric set's window: a gzip JSON Lines body and its stats, final once the body has ended. */
export function exportMetricsWindow(client: CloudWatchClient, set: MetricSet, window: Pick<Window, 'start' | 'end'>, options: MetricsExportOptions): { body: Readable; stats: MetricsExportStats } {
  if (!Number.isSafeInteger(set.periodSeconds) || set.periodSeconds <= 0) throw new InvalidInputError(`the metric set ${JSON.stringify(set.id)} has a period of ${JSON.stringify(set.periodSeconds)} s, not a positive whole number.`, { component: COMPONENT });
  const stats: { -readonly [K in keyof MetricsExportStats]: MetricsExportStats[K] } = { metricSet: set.id, window: { start: window.start, end: window.end }, artifact: { count: 0, bytes: 0 }, pages: 0, complete: false };
  // The generator's body runs on the body's first read, after the writer's stats are in place.
  const written = writeDatapoints(windowDatapoints(client, set, window, options, stats), { artifact: options.artifact, window });
  stats.artifact = written.stats;
  return { body: written.body, stats };
}
