/**
 * The CloudWatch metrics substitute through @aws-sdk/client-cloudwatch (JSON 1.0, awsQueryCompatible, signed
 * for `monitoring`): PutMetricData's checks (including a gzip-compressed body), GetMetricData's aggregation
 * per period with each statistic, its rounding of StartTime, ScanBy and MaxDatapoints paging to the end,
 * ListMetrics' filters and paging, and throttling retried by the SDK.
 */
import {
  CloudWatchClient,
  GetMetricDataCommand,
  ListMetricsCommand,
  PutMetricDataCommand,
  type GetMetricDataCommandInput,
  type ListMetricsCommandInput,
  type MetricDataQuery,
  type MetricDatum,
} from '@aws-sdk/client-cloudwatch';
import { startCloudWatchMetricsServer, type CloudWatchMetricsServer, type Dimension } from '../support/cloudwatch-metrics-server';
import { rejection } from '../support/thrown';

const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

let server: CloudWatchMetricsServer;
let cloudwatch: CloudWatchClient;
let namespaceCount = 0;

beforeAll(async () => {
  server = await startCloudWatchMetricsServer();
  cloudwatch = new CloudWatchClient({ region: 'us-east-1', endpoint: server.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' }, maxAttempts: 3 });
});
beforeEach(() => server.clock.set(NOW));
afterAll(async () => {
  cloudwatch.destroy();
  await server.stop();
});

const newNamespace = () => `NCA/Test${++namespaceCount}`;
const api: Dimension[] = [{ Name: 'Service', Value: 'api' }];
const put = (Namespace: string, MetricData: MetricDatum[]) => cloudwatch.send(new PutMetricDataCommand({ Namespace, MetricData }));
const stat = (Namespace: string, Stat: string, Period = 60, extra: Partial<MetricDataQuery> = {}): MetricDataQuery => ({
  Id: Stat.toLowerCase(),
  MetricStat: { Metric: { Namespace, MetricName: 'Latency', Dimensions: api }, Period, Stat },
  ...extra,
});

/** Every datapoint of every query, following NextToken to the end, with the number of answers it took. */
async function getAll(input: GetMetricDataCommandInput) {
  const series = new Map<string, { t: number; v: number }[]>();
  let answers = 0;
  let NextToken: string | undefined;
  do {
    const answer = await cloudwatch.send(new GetMetricDataCommand({ ...input, NextToken }));
    answers++;
    for (const r of answer.MetricDataResults ?? []) {
      const points = series.get(r.Id!) ?? [];
      r.Timestamps!.forEach((t, i) => points.push({ t: t.getTime(), v: r.Values![i] }));
      series.set(r.Id!, points);
    }
    NextToken = answer.NextToken;
  } while (NextToken);
  return { series, answers };
}

describe('GetMetricData', () => {
  test('each statistic per period over values, value sets and statistic sets; empty periods are left out', async () => {
    const ns = newNamespace();
    const t0 = NOW - 10 * MINUTE;
    await put(ns, [
      { MetricName: 'Latency', Dimensions: api, Timestamp: new Date(t0 + 1_000), Value: 10 },
      { MetricName: 'Latency', Dimensions: api, Timestamp: new Date(t0 + 30_000), Values: [20, 40], Counts: [1, 2] },
      { MetricName: 'Latency', Dimensions: api, Timestamp: new Date(t0 + 2 * MINUTE), StatisticValues: { SampleCount: 4, Sum: 8, Minimum: 1, Maximum: 3 } },
      // Another dimension set is another metric.
      { MetricName: 'Latency', Dimensions: [{ Name: 'Service', Value: 'worker' }], Timestamp: new Date(t0), Value: 1000 },
    ]);
    const queries = ['Average', 'Sum', 'Minimum', 'Maximum', 'SampleCount'].map((s) => stat(ns, s));
    const answer = await cloudwatch.send(new GetMetricDataCommand({ MetricDataQueries: queries, StartTime: new Date(t0), EndTime: new Date(NOW), ScanBy: 'TimestampAscending' }));
    const byId = Object.fromEntries(answer.MetricDataResults!.map((r) => [r.Id, { t: r.Timestamps!.map((d) => d.getTime()), v: r.Values, status: r.StatusCode, label: r.Label }]));
    const times = [t0, t0 + 2 * MINUTE];
    expect(byId.sum).toEqual({ t: times, v: [10 + 20 + 80, 8], status: 'Complete', label: 'Latency' });
    expect(byId.samplecount.v).toEqual([4, 4]);
    expect(byId.average.v).toEqual([110 / 4, 2]);
    expect(byId.minimum.v).toEqual([10, 1]);
    expect(byId.maximum.v).toEqual([40, 3]);
    expect(answer.NextToken).toBeUndefined();
  });

  test('StartTime is inclusive and rounded down to the minute (or the period below 60 s); EndTime is exclusive; newest first by default', async () => {
    const ns = newNamespace();
    const t0 = NOW - 10 * MINUTE;
    await put(ns, [0, 1, 2, 3].map((i) => ({ MetricName: 'Latency', Dimensions: api, Timestamp: new Date(t0 + i * MINUTE), Value: i, StorageResolution: 1 })));
    const { series } = await getAll({ MetricDataQueries: [stat(ns, 'Sum')], StartTime: new Date(t0 + 59_000), EndTime: new Date(t0 + 3 * MINUTE) });
    expect(series.get('sum')).toEqual([
      { t: t0 + 2 * MINUTE, v: 2 },
      { t: t0 + MINUTE, v: 1 },
      { t: t0, v: 0 },
    ]);
    const tenSeconds = await getAll({ MetricDataQueries: [stat(ns, 'Sum', 10)], StartTime: new Date(t0 + 15_000), EndTime: new Date(t0 + 2 * MINUTE), ScanBy: 'TimestampAscending' });
    expect(tenSeconds.series.get('sum')).toEqual([
      { t: t0 + MINUTE, v: 1 },
    ]);
    const fiveMinutes = await getAll({ MetricDataQueries: [stat(ns, 'Sum', 300)], StartTime: new Date(t0), EndTime: new Date(NOW) });
    expect(fiveMinutes.series.get('sum')).toEqual([{ t: t0, v: 6 }]);
  });

  test('MaxDatapoints pages over all queries in order: PartialData then Complete, every datapoint once, the last answer without NextToken', async () => {
    const ns = newNamespace();
    const t0 = NOW - 60 * MINUTE;
    await put(ns, Array.from({ length: 50 }, (_, i) => ({ MetricName: 'Latency', Dimensions: api, Timestamp: new Date(t0 + i * MINUTE), Value: i })));
    const input: GetMetricDataCommandInput = { MetricDataQueries: [stat(ns, 'Sum'), stat(ns, 'Maximum')], StartTime: new Date(t0), EndTime: new Date(NOW), MaxDatapoints: 30, ScanBy: 'TimestampAscending' };

    const first = await cloudwatch.send(new GetMetricDataCommand(input));
    expect(first.MetricDataResults!.map((r) => [r.Id, r.Values!.length, r.StatusCode])).toEqual([
      ['sum', 30, 'PartialData'],
      ['maximum', 0, 'PartialData'],
    ]);
    const { series, answers } = await getAll(input);
    expect(answers).toBe(4); // 100 datapoints, 30 at a time
    expect(series.get('sum')!.map((p) => p.v)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(series.get('maximum')!.map((p) => p.t)).toEqual(Array.from({ length: 50 }, (_, i) => t0 + i * MINUTE));

    // A token continues only the request that produced it.
    await expect(cloudwatch.send(new GetMetricDataCommand({ ...input, EndTime: new Date(NOW - MINUTE), NextToken: first.NextToken }))).rejects.toMatchObject({ name: 'InvalidNextToken', Code: 'InvalidNextToken' });
  });

  test('refusals carry the query-protocol error code', async () => {
    const ns = newNamespace();
    const error = await rejection(cloudwatch.send(new GetMetricDataCommand({ MetricDataQueries: [stat(ns, 'Sum', 90)], StartTime: new Date(NOW - HOUR), EndTime: new Date(NOW) })));
    expect(error).toMatchObject({ name: 'InvalidParameterValueException', Code: 'InvalidParameterValue', $metadata: { httpStatusCode: 400 } });
    await expect(cloudwatch.send(new GetMetricDataCommand({ MetricDataQueries: [stat(ns, 'Sum')], StartTime: new Date(NOW), EndTime: new Date(NOW) }))).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
    await expect(cloudwatch.send(new GetMetricDataCommand({ MetricDataQueries: [stat(ns, 'p99')], StartTime: new Date(NOW - HOUR), EndTime: new Date(NOW) }))).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
    await expect(cloudwatch.send(new GetMetricDataCommand({ MetricDataQueries: [{ Id: 'Upper', MetricStat: stat(ns, 'Sum').MetricStat }], StartTime: new Date(NOW - HOUR), EndTime: new Date(NOW) }))).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
  });
});

describe('PutMetricData', () => {
  test('timestamps more than two weeks back or two hours ahead, AWS/ namespaces, two kinds of value at once are refused, and nothing of such a request is kept', async () => {
    const ns = newNamespace();
    const ok = { MetricName: 'Latency', Dimensions: api, Value: 1 };
    await expect(put(ns, [ok, { ...ok, Timestamp: new Date(NOW - 14 * DAY - 1_000) }])).rejects.toMatchObject({ name: 'InvalidParameterValueException', message: expect.stringContaining('MetricData.member.2.Timestamp') });
    await expect(put(ns, [{ ...ok, Timestamp: new Date(NOW + 2 * HOUR + 1_000) }])).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
    await expect(put('AWS/EC2', [ok])).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
    await expect(put(ns, [{ ...ok, Values: [1] }])).rejects.toMatchObject({ name: 'InvalidParameterCombinationException', Code: 'InvalidParameterCombination' });
    await expect(put(ns, [{ ...ok, Value: 2 ** 361 }])).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
    expect((await cloudwatch.send(new ListMetricsCommand({ Namespace: ns }))).Metrics).toEqual([]);

    await put(ns, [{ ...ok, Timestamp: new Date(NOW - 14 * DAY) }, { ...ok, Timestamp: new Date(NOW + 2 * HOUR) }]);
    expect((await cloudwatch.send(new ListMetricsCommand({ Namespace: ns }))).Metrics).toHaveLength(1);
  });

  test('a large request arrives gzip-compressed, as the SDK sends it, and is read whole', async () => {
    const ns = newNamespace();
    const data = Array.from({ length: 1000 }, (_, i) => ({ MetricName: `M${i % 10}`, Dimensions: [{ Name: 'Shard', Value: String(i % 100) }], Timestamp: new Date(NOW - MINUTE), Value: 1 }));
    const encodings: (string | undefined)[] = [];
    cloudwatch.middlewareStack.add(
      (next) => async (args) => {
        encodings.push((args.request as { headers: Record<string, string> }).headers['content-encoding']);
        return next(args);
      },
      { step: 'finalizeRequest', name: 'seeContentEncoding' },
    );
    try {
      await put(ns, data);
    } finally {
      cloudwatch.middlewareStack.remove('seeContentEncoding');
    }
    expect(encodings).toEqual(['gzip']);
    const listed: string[] = [];
    let NextToken: string | undefined;
    do {
      const answer = await cloudwatch.send(new ListMetricsCommand({ Namespace: ns, NextToken } as ListMetricsCommandInput));
      listed.push(...answer.Metrics!.map((m) => `${m.MetricName}/${m.Dimensions![0].Value}`));
      NextToken = answer.NextToken;
    } while (NextToken);
    expect(new Set(listed).size).toBe(100);
    await expect(put(ns, [...data, data[0]])).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
  });
});

describe('ListMetrics', () => {
  test('filters by namespace, name and dimensions; pages of 500; metrics silent for two weeks drop out; PT3H', async () => {
    const ns = newNamespace();
    server.clock.set(NOW - 20 * DAY);
    await put(ns, [{ MetricName: 'Old', Value: 1 }]);
    server.clock.set(NOW - 5 * HOUR);
    await put(ns, [{ MetricName: 'Latency', Dimensions: [...api, { Name: 'Region', Value: 'eu' }], Value: 1 }]);
    server.clock.set(NOW);
    await put(ns, [{ MetricName: 'Latency', Dimensions: [{ Name: 'Service', Value: 'worker' }], Value: 1 }]);

    const names = async (input: ListMetricsCommandInput) => (await cloudwatch.send(new ListMetricsCommand(input))).Metrics!.map((m) => `${m.MetricName}:${m.Dimensions!.map((d) => d.Value).join(',')}`).sort();
    expect(await names({ Namespace: ns })).toEqual(['Latency:eu,api', 'Latency:worker']);
    expect(await names({ Namespace: ns, Dimensions: [{ Name: 'Service', Value: 'api' }] })).toEqual(['Latency:eu,api']);
    expect(await names({ Namespace: ns, Dimensions: [{ Name: 'Region' }] })).toEqual(['Latency:eu,api']);
    expect(await names({ Namespace: ns, RecentlyActive: 'PT3H' })).toEqual(['Latency:worker']);
    expect(await names({ Namespace: ns, MetricName: 'Old' })).toEqual([]);

    const many = newNamespace();
    for (let batch = 0; batch < 2; batch++) {
      await put(many, Array.from({ length: 300 }, (_, i) => ({ MetricName: 'Depth', Dimensions: [{ Name: 'Queue', Value: `q${batch * 300 + i}` }], Value: 1 })));
    }
    const first = await cloudwatch.send(new ListMetricsCommand({ Namespace: many }));
    expect(first.Metrics).toHaveLength(500);
    const second = await cloudwatch.send(new ListMetricsCommand({ Namespace: many, NextToken: first.NextToken }));
    expect(second.Metrics).toHaveLength(100);
    expect(second.NextToken).toBeUndefined();
  });
});

describe('faults', () => {
  test("Throttling is retried by the SDK's standard retry; past its attempts the error reaches the caller", async () => {
    const ns = newNamespace();
    server.failNext(1);
    await put(ns, [{ MetricName: 'Latency', Value: 1 }]);
    expect(server.calls.slice(-2).map((c) => c.operation)).toEqual(['PutMetricData', 'PutMetricData']);
    const twice = new CloudWatchClient({ region: 'us-east-1', endpoint: server.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' }, maxAttempts: 2 });
    server.failNext(2);
    expect(await rejection(twice.send(new ListMetricsCommand({ Namespace: ns })))).toMatchObject({ name: 'Throttling', $metadata: { attempts: 2 } });
    twice.destroy();
    expect((await cloudwatch.send(new ListMetricsCommand({ Namespace: ns }))).Metrics).toHaveLength(1);
    expect(server.calls.every((c) => c.signed)).toBe(true);
  });
});
