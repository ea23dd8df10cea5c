/**
 * A local stand-in for Amazon CloudWatch metrics, speaking the protocol `@aws-sdk/client-cloudwatch` (3.1164)
 * uses: AWS JSON 1.0 with awsQueryCompatible (POST /, X-Amz-Target: GraniteServiceVersion20100801.<Operation>,
 * `x-amzn-query-mode: true`, SigV4 service `monitoring`, timestamps as epoch seconds, large PutMetricData
 * bodies gzip-compressed); errors as {"__type", "message"} plus `x-amzn-query-error: <Code>;Sender`, from
 * which the SDK takes the error's Code (InvalidParameterValue, MissingParameter, InvalidParameterCombination,
 * InvalidNextToken). Shapes and limits follow the CloudWatch API reference:
 *
 * - PutMetricData: Namespace (1 to 255 characters, not starting with `AWS/`), 1 to 1000 MetricData, each
 *   with MetricName, up to 30 Dimensions, a Timestamp (default: the clock) no more than two weeks before and
 *   two hours after the server's clock, and exactly one of Value, StatisticValues (SampleCount, Sum,
 *   Minimum, Maximum) or Values (up to 150, with Counts of the same length); values within ±2^360; Unit;
 *   StorageResolution 1 or 60.
 * - GetMetricData: 1 to 500 MetricDataQueries with a lowercase-first unique Id and a MetricStat {Metric
 *   {Namespace, MetricName, Dimensions}, Period (1, 5, 10, 20, 30 or a multiple of 60), Stat (Average, Sum,
 *   Minimum, Maximum, SampleCount), Unit}; ReturnData false leaves a query out; StartTime inclusive,
 *   rounded down as documented (to the period below 60 s, else to the minute when less than 15 days ago,
 *   5 minutes when less than 63, the hour beyond); EndTime exclusive; one datapoint per period that has
 *   data, at the period's start; ScanBy TimestampDescending (default) or TimestampAscending; at most
 *   MaxDatapoints (default 100,800) datapoints per answer, counted over all queries in their order, the
 *   rest behind NextToken, with StatusCode PartialData on a query that has more and Complete otherwise.
 *   A NextToken only continues the request it came from (else InvalidNextToken).
 * - ListMetrics: Namespace and MetricName exact, Dimensions filters (Name, optional Value; a metric with
 *   more dimensions still matches), RecentlyActive PT3H; metrics with nothing published in the last two
 *   weeks are left out, as documented; 500 per page, NextToken.
 *
 * Test hooks: `clock` is the server's "now" (the real time until a test sets it); `seed` stores datapoints
 * without PutMetricData's checks (for data older than two weeks); `failNext(n, status, type)` answers the
 * next n calls with that error (default 400 Throttling, which the SDK's standard retry retries).
 *
 * Limits of the substitute: signatures are not verified (`calls` records whether a request was SigV4-signed
 * for `monitoring`), no IAM, no metric math or Metrics Insights (Expression is refused), no percentile or
 * other extended statistics, no EntityMetricData, alarms, dashboards, anomaly detectors, metric streams or
 * cross-account observability; data never ages out or coarsens (the 3-hour/15-day/63-day/455-day
 * retention of the real service is not applied), and the delays before data appears (up to 15 minutes in
 * ListMetrics, hours for old timestamps) are not modelled; units are kept but never converted; no quotas or
 * real throttling; state lives in memory and is lost when it stops; only the operations listed exist.
 */
import { createHash } from 'node:crypto';
import { AwsJsonError, page, serverClock, startJsonService, type JsonService, type ServerClock } from './aws-json-service';

export interface Dimension {
  Name: string;
  Value: string;
}

export interface CloudWatchMetricsServer extends JsonService {
  readonly clock: ServerClock;
  /** Stores single values as published, without PutMetricData's checks. */
  seed(namespace: string, metricName: string, dimensions: readonly Dimension[], points: readonly { timestamp: number; value: number; unit?: string }[]): void;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MAX_VALUE = 2 ** 360;
const STATS = ['Average', 'Sum', 'Minimum', 'Maximum', 'SampleCount'];
const QUERY_ERROR_CODES: Record<string, string> = {
  InvalidParameterValueException: 'InvalidParameterValue',
  MissingRequiredParameterException: 'MissingParameter',
  InvalidParameterCombinationException: 'InvalidParameterCombination',
  InvalidNextToken: 'InvalidNextToken',
  Throttling: 'Throttling',
  InternalServiceFault: 'InternalServiceError',
};

interface Point {
  timestamp: number;
  sum: number;
  min: number;
  max: number;
  count: number;
  unit?: string;
}

interface Metric {
  namespace: string;
  metricName: string;
  /** Sorted by name: CloudWatch treats each combination as one metric whatever the order. */
  dimensions: Dimension[];
  points: Point[];
  /** When something was last published to it (by the clock), for ListMetrics' two weeks. */
  lastPublished: number;
}

const invalidValue = (message: string) => new AwsJsonError('InvalidParameterValueException', message);
const missing = (name: string) => new AwsJsonError('MissingRequiredParameterException', `The parameter ${name} is required.`);

function sortedDimensions(value: unknown, where: string, max: number): Dimension[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidValue(`The parameter ${where} must be a list.`);
  if (value.length > max) throw invalidValue(`The collection ${where} must not have a size greater than ${max}.`);
  return value
    .map((d: { Name?: unknown; Value?: unknown }, i) => {
      if (typeof d?.Name !== 'string' || d.Name === '') throw missing(`${where}.member.${i + 1}.Name`);
      if (typeof d.Value !== 'string' || d.Value === '') throw missing(`${where}.member.${i + 1}.Value`);
      return { Name: d.Name, Value: d.Value };
    })
    .sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
}

const metricKey = (namespace: string, metricName: string, dimensions: readonly Dimension[]) => JSON.stringify([namespace, metricName, dimensions.map((d) => [d.Name, d.Value])]);

function finite(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > MAX_VALUE) throw invalidValue(`The value ${String(value)} for parameter ${where} is invalid.`);
  return value;
}

/** Epoch seconds (the JSON protocol's timestamps) to milliseconds. */
function timeOf(value: unknown, name: string): number {
  if (value === undefined) throw missing(name);
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidValue(`The parameter ${name} must be a timestamp.`);
  return Math.round(value * 1000);
}

/** StartTime rounded down as the GetMetricData reference describes. */
function roundStart(start: number, periodSeconds: number, now: number): number {
  const unit = periodSeconds < 60 ? periodSeconds * SECOND : now - start < 15 * DAY ? MINUTE : now - start < 63 * DAY ? 5 * MINUTE : HOUR;
  return Math.floor(start / unit) * unit;
}

function statOf(stat: string, p: { sum: number; min: number; max: number; count: number }): number {
  switch (stat) {
    case 'Sum':
      return p.sum;
    case 'Minimum':
      return p.min;
    case 'Maximum':
      return p.max;
    case 'SampleCount':
      return p.count;
    default:
      return p.sum / p.count;
  }
}

export async function startCloudWatchMetricsServer(): Promise<CloudWatchMetricsServer> {
  const clock = serverClock();
  const metrics = new Map<string, Metric>();

  function record(namespace: string, metricName: string, dimensions: Dimension[], point: Point): void {
    const key = metricKey(namespace, metricName, dimensions);
    const metric = metrics.get(key) ?? { namespace, metricName, dimensions, points: [], lastPublished: 0 };
    metric.points.push(point);
    metric.lastPublished = clock.now();
    metrics.set(key, metric);
  }

  function putMetricData(input: Record<string, unknown>) {
    const namespace = input.Namespace;
    if (typeof namespace !== 'string' || namespace === '') throw missing('Namespace');
    if (namespace.length > 255 || namespace.startsWith('AWS/')) throw invalidValue(`The value ${namespace} for parameter Namespace is invalid.`);
    if (input.EntityMetricData !== undefined) throw invalidValue('EntityMetricData is not supported by this substitute.');
    const data = input.MetricData;
    if (!Array.isArray(data) || data.length === 0) throw missing('MetricData');
    if (data.length > 1000) throw invalidValue('The collection MetricData must not have a size greater than 1000.');
    const now = clock.now();
    const points: [string, Dimension[], Point][] = [];
    data.forEach((datum: Record<string, unknown>, i) => {
      const where = `MetricData.member.${i + 1}`;
      if (typeof datum?.MetricName !== 'string' || datum.MetricName === '') throw missing(`${where}.MetricName`);
      const dimensions = sortedDimensions(datum.Dimensions, `${where}.Dimensions`, 30);
      const timestamp = datum.Timestamp === undefined ? now : timeOf(datum.Timestamp, `${where}.Timestamp`);
      if (timestamp < now - 14 * DAY) throw invalidValue(`The parameter ${where}.Timestamp must specify a time no more than two weeks in the past.`);
      if (timestamp > now + 2 * HOUR) throw invalidValue(`The parameter ${where}.Timestamp must specify a time no more than two hours in the future.`);
      if (datum.StorageResolution !== undefined && datum.StorageResolution !== 1 && datum.StorageResolution !== 60) {
        throw invalidValue(`The value ${String(datum.StorageResolution)} for parameter ${where}.StorageResolution is invalid.`);
      }
      const given = (['Value', 'StatisticValues', 'Values'] as const).filter((f) => datum[f] !== undefined);
      if (given.length > 1) {
        throw new AwsJsonError('InvalidParameterCombinationException', `The parameters ${where}.${given[0]} and ${where}.${given[1]} are mutually exclusive and you have specified both.`);
      }
      if (given.length === 0) throw missing(`${where}.Value`);
      const unit = typeof datum.Unit === 'string' ? datum.Unit : undefined;
      let point: Point;
      if (given[0] === 'Value') {
        const v = finite(datum.Value, `${where}.Value`);
        point = { timestamp, sum: v, min: v, max: v, count: 1, unit };
      } else if (given[0] === 'StatisticValues') {
        const s = datum.StatisticValues as Record<string, unknown>;
        for (const f of ['SampleCount', 'Sum', 'Minimum', 'Maximum']) if (s?.[f] === undefined) throw missing(`${where}.StatisticValues.${f}`);
        point = {
          timestamp,
          count: finite(s.SampleCount, `${where}.StatisticValues.SampleCount`),
          sum: finite(s.Sum, `${where}.StatisticValues.Sum`),
          min: finite(s.Minimum, `${where}.StatisticValues.Minimum`),
          max: finite(s.Maximum, `${where}.StatisticValues.Maximum`),
          unit,
        };
      } else {
        const values = datum.Values as unknown[];
        const counts = (datum.Counts as unknown[] | undefined) ?? values.map(() => 1);
        if (!Array.isArray(values) || values.length === 0 || values.length > 150) throw invalidValue(`The collection ${where}.Values must have between 1 and 150 members.`);
        if (!Array.isArray(counts) || counts.length !== values.length) throw invalidValue(`The parameters ${where}.Values and ${where}.Counts must be of the same size.`);
        const vs = values.map((v, j) => finite(v, `${where}.Values.member.${j + 1}`));
        const cs = counts.map((c, j) => finite(c, `${where}.Counts.member.${j + 1}`));
        point = {
          timestamp,
          sum: vs.reduce((sum, v, j) => sum + v * cs[j], 0),
          min: Math.min(...vs),
          max: Math.max(...vs),
          count: cs.reduce((sum, c) => sum + c, 0),
          unit,
        };
      }
      points.push([datum.MetricName, dimensions, point]);
    });
    // All or nothing: a refused datum leaves the others unrecorded too.
    for (const [name, dimensions, point] of points) record(namespace, name, dimensions, point);
    return {};
  }

  interface Query {
    id: string;
    label: string;
    returnData: boolean;
    metric?: Metric;
    periodMs: number;
    stat: string;
    unit?: string;
  }

  function queryOf(q: Record<string, unknown>, i: number, ids: Set<string>): Query {
    const where = `MetricDataQueries.member.${i + 1}`;
    const id = q?.Id;
    if (typeof id !== 'string' || id === '') throw missing(`${where}.Id`);
    if (!/^[a-z][a-zA-Z0-9_]*$/.test(id) || id.length > 255) throw invalidValue(`The value ${id} for parameter ${where}.Id is invalid.`);
    if (ids.has(id)) throw invalidValue(`The value ${id} for parameter MetricDataQueries is duplicated.`);
    ids.add(id);
    if (q.Expression !== undefined) throw invalidValue(`${where}.Expression: metric math and Metrics Insights are not supported by this substitute.`);
    const stat = q.MetricStat as Record<string, unknown> | undefined;
    if (!stat) throw missing(`${where}.MetricStat`);
    const metric = stat.Metric as Record<string, unknown> | undefined;
    if (typeof metric?.Namespace !== 'string') throw missing(`${where}.MetricStat.Metric.Namespace`);
    if (typeof metric.MetricName !== 'string') throw missing(`${where}.MetricStat.Metric.MetricName`);
    const period = stat.Period;
    if (typeof period !== 'number' || !Number.isInteger(period) || period < 1 || (period >= 60 ? period % 60 !== 0 : ![1, 5, 10, 20, 30].includes(period))) {
      throw invalidValue(`The value ${String(period)} for parameter ${where}.MetricStat.Period is invalid.`);
    }
    if (typeof stat.Stat !== 'string' || !STATS.includes(stat.Stat)) throw invalidValue(`The value ${String(stat.Stat)} for parameter ${where}.MetricStat.Stat is invalid (this substitute computes ${STATS.join(', ')}).`);
    const dimensions = sortedDimensions(metric.Dimensions, `${where}.MetricStat.Metric.Dimensions`, 30);
    return {
      id,
      label: typeof q.Label === 'string' ? q.Label : metric.MetricName,
      returnData: q.ReturnData !== false,
      metric: metrics.get(metricKey(metric.Namespace, metric.MetricName, dimensions)),
      periodMs: period * SECOND,
      stat: stat.Stat,
      unit: typeof stat.Unit === 'string' ? stat.Unit : undefined,
    };
  }

  function series(query: Query, start: number, end: number, descending: boolean): { timestamps: number[]; values: number[] } {
    const buckets = new Map<number, { sum: number; min: number; max: number; count: number }>();
    for (const p of query.metric?.points ?? []) {
      if (p.timestamp < start || p.timestamp >= end || (query.unit !== undefined && p.unit !== query.unit)) continue;
      const bucket = start + Math.floor((p.timestamp - start) / query.periodMs) * query.periodMs;
      const b = buckets.get(bucket);
      if (!b) buckets.set(bucket, { sum: p.sum, min: p.min, max: p.max, count: p.count });
      else buckets.set(bucket, { sum: b.sum + p.sum, min: Math.min(b.min, p.min), max: Math.max(b.max, p.max), count: b.count + p.count });
    }
    const times = [...buckets.keys()].sort((a, b) => (descending ? b - a : a - b));
    return { timestamps: times, values: times.map((t) => statOf(query.stat, buckets.get(t)!)) };
  }

  function getMetricData(input: Record<string, unknown>) {
    const raw = input.MetricDataQueries;
    if (!Array.isArray(raw) || raw.length === 0) throw missing('MetricDataQueries');
    if (raw.length > 500) throw invalidValue('The collection MetricDataQueries must not have a size greater than 500.');
    const startTime = timeOf(input.StartTime, 'StartTime');
    const endTime = timeOf(input.EndTime, 'EndTime');
    if (startTime >= endTime) throw invalidValue('The parameter StartTime must be less than the parameter EndTime.');
    const scanBy = input.ScanBy ?? 'TimestampDescending';
    if (scanBy !== 'TimestampDescending' && scanBy !== 'TimestampAscending') throw invalidValue(`The value ${String(scanBy)} for parameter ScanBy is invalid.`);
    const maxDatapoints = input.MaxDatapoints ?? 100_800;
    if (typeof maxDatapoints !== 'number' || !Number.isInteger(maxDatapoints) || maxDatapoints < 1) throw invalidValue(`The value ${String(maxDatapoints)} for parameter MaxDatapoints is invalid.`);
    const ids = new Set<string>();
    const queries = raw.map((q: Record<string, unknown>, i) => queryOf(q, i, ids)).filter((q) => q.returnData);

    // A token continues only the request it was issued for.
    const request = createHash('sha256').update(JSON.stringify([raw, input.StartTime, input.EndTime, scanBy])).digest('base64url');
    let offsets = queries.map(() => 0);
    if (input.NextToken !== undefined) {
      let token: { request?: unknown; offsets?: unknown } | undefined;
      try {
        token = JSON.parse(Buffer.from(String(input.NextToken), 'base64url').toString('utf8')) as typeof token;
      } catch {
        token = undefined;
      }
      if (token?.request !== request || !Array.isArray(token.offsets) || token.offsets.length !== queries.length) throw new AwsJsonError('InvalidNextToken', 'The service returned an invalid next token.');
      offsets = token.offsets as number[];
    }

    const now = clock.now();
    let budget = maxDatapoints;
    let more = false;
    const results = queries.map((query, i) => {
      const all = series(query, roundStart(startTime, query.periodMs / SECOND, now), endTime, scanBy === 'TimestampDescending');
      const from = offsets[i];
      const take = Math.min(budget, all.timestamps.length - from);
      budget -= take;
      offsets[i] = from + take;
      const complete = offsets[i] === all.timestamps.length;
      more ||= !complete;
      return {
        Id: query.id,
        Label: query.label,
        Timestamps: all.timestamps.slice(from, from + take).map((t) => t / 1000),
        Values: all.values.slice(from, from + take),
        StatusCode: complete ? 'Complete' : 'PartialData',
        Messages: [],
      };
    });
    return {
      MetricDataResults: results,
      Messages: [],
      ...(more ? { NextToken: Buffer.from(JSON.stringify({ request, offsets })).toString('base64url') } : {}),
    };
  }

  function listMetrics(input: Record<string, unknown>) {
    const filters = input.Dimensions;
    if (filters !== undefined && (!Array.isArray(filters) || filters.length > 10)) throw invalidValue('The collection Dimensions must not have a size greater than 10.');
    if (input.RecentlyActive !== undefined && input.RecentlyActive !== 'PT3H') throw invalidValue(`The value ${String(input.RecentlyActive)} for parameter RecentlyActive is invalid.`);
    const now = clock.now();
    const since = input.RecentlyActive === 'PT3H' ? now - 3 * HOUR : now - 14 * DAY;
    const matching = [...metrics.entries()]
      .filter(([, m]) => m.lastPublished >= since)
      .filter(([, m]) => input.Namespace === undefined || m.namespace === input.Namespace)
      .filter(([, m]) => input.MetricName === undefined || m.metricName === input.MetricName)
      .filter(([, m]) => ((filters as { Name?: string; Value?: string }[] | undefined) ?? []).every((f) => m.dimensions.some((d) => d.Name === f.Name && (f.Value === undefined || d.Value === f.Value))))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const listed = page(matching, ([key]) => key, { maxResults: 500, nextToken: input.NextToken }, 'InvalidNextToken');
    return {
      Metrics: listed.items.map(([, m]) => ({ Namespace: m.namespace, MetricName: m.metricName, Dimensions: m.dimensions })),
      ...(listed.nextToken ? { NextToken: listed.nextToken } : {}),
    };
  }

  const service = await startJsonService({
    targetPrefix: 'GraniteServiceVersion20100801',
    signingName: 'monitoring',
    jsonVersion: '1.0',
    messageMember: 'message',
    defaultFault: 'Throttling',
    internalError: 'InternalServiceFault',
    operations: { PutMetricData: putMetricData, GetMetricData: getMetricData, ListMetrics: listMetrics },
    nameOf: (input) => (typeof input.Namespace === 'string' ? input.Namespace : undefined),
    errorHeaders: (type) => (QUERY_ERROR_CODES[type] ? { 'x-amzn-query-error': `${QUERY_ERROR_CODES[type]};${type === 'InternalServiceFault' ? 'Receiver' : 'Sender'}` } : undefined),
  });

  return {
    ...service,
    clock,
    seed(namespace, metricName, dimensions, points) {
      const sorted = [...dimensions].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
      for (const p of points) record(namespace, metricName, sorted, { timestamp: p.timestamp, sum: p.value, min: p.value, max: p.value, count: 1, unit: p.unit });
    },
  };
}
