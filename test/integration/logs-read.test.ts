/**
 * Reading log groups' windows and metric sets' windows out of CloudWatch, through the SDK clients, against
 * the CloudWatch Logs and metrics substitutes (test/support/cloudwatch-logs-server.ts,
 * cloudwatch-metrics-server.ts): three consecutive backups with events arriving in between, some of them
 * late, each event exported by exactly one window; empty pages with a token; the late-visibility facts a
 * manifest records; throttling retried and given up on; a missing group and a refusal as typed errors; a
 * window of 200,000 events read at the pace its body is consumed; a metric set's datapoints across pages.
 */
import { DeleteLogGroupCommand } from '@aws-sdk/client-cloudwatch-logs';
import { Readable } from 'node:stream';
import { createLogsClients, destroyLogsClients, type LogsClients } from '../../functions/components/logs/clients';
import { readDatapoints, readEvents, type LogEvent, type MetricDatapoint } from '../../functions/components/logs/format';
import { exportMetricsWindow, resolveMetricSet, type MetricSet } from '../../functions/components/logs/metrics-read';
import { exportLogGroupWindow, type LogGroupExportStats } from '../../functions/components/logs/read';
import { DAY_MS, HOUR_MS, MINUTE_MS, planWindows, type Window } from '../../functions/components/logs/windows';
import { AccessDeniedError, InvalidInputError, TransientError } from '../../functions/core/errors';
import { startCloudWatchLogsServer, type CloudWatchLogsServer } from '../support/cloudwatch-logs-server';
import { startCloudWatchMetricsServer, type CloudWatchMetricsServer } from '../support/cloudwatch-metrics-server';
import { rejection } from '../support/thrown';

const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const GROUP = '/nca/memory-service';

let server: CloudWatchLogsServer;
let clients: LogsClients;

beforeAll(async () => {
  // Small pages, each listing opening with two empty pages that carry a token, as the service may answer.
  server = await startCloudWatchLogsServer({ pages: { maxEvents: 7, emptyFirst: 2 } });
  clients = createLogsClients({ logsEndpoint: server.endpoint, maxAttempts: 4 });
});

afterAll(async () => {
  destroyLogsClients(clients);
  await server.stop();
});

async function readBack(body: Readable, artifact: string, window: Pick<Window, 'start' | 'end'>, count?: number): Promise<LogEvent[]> {
  const events: LogEvent[] = [];
  for await (const e of readEvents(body, { artifact, window, count })) events.push(e);
  return events;
}

/** The error a body fails with, consumed as the vault's upload consumes it (raw bytes). */
async function failure(body: Readable): Promise<Error> {
  return rejection(
    (async () => {
      for await (const chunk of body) void chunk;
    })(),
  );
}

async function exportWindow(group: string, window: Window, previous?: { window: Window; stats: LogGroupExportStats }) {
  const artifact = `events-${window.start}.jsonl.gz`;
  const { body, stats } = exportLogGroupWindow(clients.logs, group, window, { artifact, previous: previous && { window: previous.window, tail: previous.stats.tail } });
  const events = await readBack(body, artifact, window);
  expect(stats.complete).toBe(true);
  return { events, stats };
}

describe('log groups', () => {
  test('three consecutive windows with events arriving in between, some late: every event is exported by exactly one window, and counted', async () => {
    const source = [{ id: GROUP, kind: 'log-group' as const, retentionDays: 30 }];
    const at = (ms: number) => ({ ingestionTime: ms });
    // Before the first backup: two days of events, each ingested a second after it was stamped.
    const early = Array.from({ length: 40 }, (_, i) => NOW - 2 * DAY_MS + i * HOUR_MS);
    server.putEvents(GROUP, 'api/1', early.filter((_, i) => i % 2 === 0).map((t) => ({ timestamp: t, message: `early ${t}`, ...at(t + 1000) })));
    server.putEvents(GROUP, 'worker/1', early.filter((_, i) => i % 2 === 1).map((t) => ({ timestamp: t, message: `early ${t}`, ...at(t + 1000) })));
    // Ingested within the settle delay before the first backup: they belong to the second window.
    server.putEvents(GROUP, 'api/1', [{ timestamp: NOW - 20 * MINUTE_MS, message: 'settling', ...at(NOW - 10 * MINUTE_MS) }]);

    const [w1] = planWindows(undefined, source, NOW);
    const b1 = await exportWindow(GROUP, w1);

    // Between the first and second backups: on-time events, one stamped 3 days before it arrived (late),
    // one stamped 1 h 50 min after it arrived (early, within the 2-hour horizon).
    const day2 = NOW + 6 * HOUR_MS;
    server.putEvents(GROUP, 'worker/1', [
      { timestamp: day2 - 3 * DAY_MS, message: 'late by three days', ...at(day2) },
      { timestamp: day2 + 110 * MINUTE_MS, message: 'stamped ahead', ...at(day2 + MINUTE_MS) },
    ]);
    server.putEvents(GROUP, 'api/1', Array.from({ length: 15 }, (_, i) => ({ timestamp: day2 + i * MINUTE_MS, message: `day two ${i}`, ...at(day2 + i * MINUTE_MS + 500) })));
    const [w2] = planWindows([{ source: GROUP, end: w1.end }], source, NOW + DAY_MS);
    server.putEvents(GROUP, 'api/1', [{ timestamp: w2.end - 1, message: 'just before the boundary', ...at(w2.end - 1) }]);
    const b2 = await exportWindow(GROUP, w2, { window: w1, stats: b1.stats });

    // Between the second and third: one stamped 13 days before it arrived, and one at the third window's very start.
    const day3 = NOW + 30 * HOUR_MS;
    server.putEvents(GROUP, 'api/2', [
      { timestamp: w2.end, message: 'at the boundary', ...at(w2.end) },
      { timestamp: day3 - 13 * DAY_MS, message: 'late by thirteen days', ...at(day3) },
    ]);
    const [w3] = planWindows([{ source: GROUP, end: w2.end }], source, NOW + 2 * DAY_MS);
    const b3 = await exportWindow(GROUP, w3, { window: w2, stats: b2.stats });

    expect([w2.start, w3.start]).toEqual([w1.end, w2.end]);
    const stored = server.eventsOf(GROUP);
    const exported = [b1, b2, b3].flatMap((b) => b.events.map((e) => e.eventId));
    expect(exported.length).toBe(stored.length);
    expect(new Set(exported).size).toBe(stored.length);
    expect(new Set(exported)).toEqual(new Set(stored.map((e) => e.eventId)));
    const messages = (b: { events: LogEvent[] }) => b.events.map((e) => e.message);
    expect(b1.events.length).toBe(40);
    expect(messages(b2)).toEqual(expect.arrayContaining(['settling', 'late by three days', 'stamped ahead', 'just before the boundary']));
    expect(messages(b3)).toEqual(expect.arrayContaining(['at the boundary', 'late by thirteen days']));
    for (const b of [b1, b2, b3]) {
      // Counted as written, and in timestamp order (the writer and reader check it too).
      expect(b.stats.artifact.count).toBe(b.events.length);
      expect(b.stats.artifact.bytes).toBeGreaterThan(0);
      expect(b.events.map((e) => e.timestamp)).toEqual([...b.events.map((e) => e.timestamp)].sort((x, y) => x - y));
    }
    // Each window read the group's whole timestamp scan and kept its own; empty pages were followed.
    expect(b3.stats.scanned).toBe(stored.length);
    expect(b3.stats.pages).toBeGreaterThan(Math.ceil(stored.length / 7) + 2 - 1);
    // Nothing became visible after its window was read.
    expect([b2.stats.lateVisible, b3.stats.lateVisible]).toEqual([0, 0]);
    expect(b2.stats.tail.since).toBe(w2.end - 14 * DAY_MS - 15 * MINUTE_MS);
    expect(b2.stats.tail.count).toBe(b2.events.filter((e) => e.timestamp >= b2.stats.tail.since).length);
  });

  test('an event of a window that became visible only after that window was read is counted by the next backup', async () => {
    const group = '/nca/late-visible';
    const source = [{ id: group, kind: 'log-group' as const }];
    server.putEvents(group, 's', [{ timestamp: NOW - 3 * HOUR_MS, message: 'seen', ingestionTime: NOW - 3 * HOUR_MS }]);
    const [w1] = planWindows(undefined, source, NOW);
    const b1 = await exportWindow(group, w1);
    expect(b1.stats.tail).toEqual({ since: w1.end - 14 * DAY_MS - 15 * MINUTE_MS, count: 1 });
    // Ingested inside the first window, but not searchable when it was read: the settle delay was too short.
    server.putEvents(group, 's', [{ timestamp: w1.end - 2 * MINUTE_MS, message: 'invisible then', ingestionTime: w1.end - MINUTE_MS }]);
    const [w2] = planWindows([{ source: group, end: w1.end }], source, NOW + DAY_MS);
    const b2 = await exportWindow(group, w2, { window: w1, stats: b1.stats });
    expect(b2.events).toEqual([]);
    expect(b2.stats.previousSeen).toBe(2);
    expect(b2.stats.lateVisible).toBe(1);
    // A scan narrowed since (lateArrivalMs lowered) starts after the recorded tail: no check, rather than a false all-clear.
    const narrowed = exportLogGroupWindow(clients.logs, group, w2, { artifact: 'events-narrowed.jsonl.gz', lateArrivalMs: DAY_MS, previous: { window: w1, tail: b1.stats.tail } });
    expect(await readBack(narrowed.body, 'events-narrowed.jsonl.gz', w2)).toEqual([]);
    expect(narrowed.stats.complete).toBe(true);
    expect([narrowed.stats.previousSeen, narrowed.stats.lateVisible]).toEqual([undefined, undefined]);
  });

  test('an empty window still reads the group, so an empty artifact means no events, not no group', async () => {
    const window = { start: NOW - HOUR_MS, end: NOW - HOUR_MS };
    const { events, stats } = await exportWindow(GROUP, { ...window, source: GROUP, basis: 'ingestion-time', first: false });
    expect(events).toEqual([]);
    expect(stats.artifact.count).toBe(0);
    expect(stats.scanned).toBeGreaterThan(0);
    const gone = exportLogGroupWindow(clients.logs, '/nca/never-created', window, { artifact: 'events-gone.jsonl.gz' });
    const error = await failure(gone.body);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toContain('the log group "/nca/never-created" does not exist');
    expect(error.message).toContain('remove it from backup.sources.logs');
  });

  test('a group deleted between backups is a typed error naming it, never an empty artifact', async () => {
    const group = '/nca/deleted';
    server.putEvents(group, 's', [{ timestamp: NOW - 2 * HOUR_MS, message: 'before' }]);
    await clients.logs.send(new DeleteLogGroupCommand({ logGroupName: group }));
    const window = { start: NOW - DAY_MS, end: NOW - HOUR_MS };
    const { body, stats } = exportLogGroupWindow(clients.logs, group, window, { artifact: 'events-deleted.jsonl.gz' });
    const error = await failure(body);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toContain('"/nca/deleted" does not exist');
    expect(stats.complete).toBe(false);
  });

  test('throttling is retried by the SDK; still throttled after every attempt, it is a TransientError naming the group', async () => {
    const window = { start: NOW - 3 * DAY_MS, end: NOW - HOUR_MS };
    const calls = server.calls.length;
    server.failNext(3);
    const { body, stats } = exportLogGroupWindow(clients.logs, GROUP, window, { artifact: 'events-throttled.jsonl.gz' });
    const events = await readBack(body, 'events-throttled.jsonl.gz', window);
    expect(events.length).toBe(stats.artifact.count);
    expect(events.length).toBeGreaterThan(0);
    expect(server.calls.length - calls).toBe(stats.pages + 3);

    server.failNext(4); // every attempt of the 4 the client makes
    const throttled = exportLogGroupWindow(clients.logs, GROUP, window, { artifact: 'events-throttled.jsonl.gz' });
    const error = await failure(throttled.body);
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toContain(`reading the log group "${GROUP}": ThrottlingException`);
  });

  test('a refusal is an AccessDeniedError naming the group and the grant to check', async () => {
    const window = { start: NOW - DAY_MS, end: NOW - HOUR_MS };
    server.failNext(1, 400, 'AccessDeniedException');
    const { body } = exportLogGroupWindow(clients.logs, GROUP, window, { artifact: 'events-denied.jsonl.gz' });
    const error = await failure(body);
    expect(error).toBeInstanceOf(AccessDeniedError);
    expect(error.message).toContain(`refused reading the log group "${GROUP}"`);
    expect(error.message).toContain('logs:FilterLogEvents');
  });
});

describe('a window of 200,000 events', () => {
  const COUNT = 200_000;
  const group = '/nca/busy';
  let busy: CloudWatchLogsServer;
  let busyClients: LogsClients;
  const window = { start: NOW - DAY_MS, end: NOW - HOUR_MS };

  beforeAll(async () => {
    busy = await startCloudWatchLogsServer();
    busyClients = createLogsClients({ logsEndpoint: busy.endpoint });
    for (let s = 0; s < 4; s++) {
      const stream = `2026/11/30/[$LATEST]${s}`;
      const events = [];
      for (let i = s; i < COUNT; i += 4) {
        const t = window.start + Math.floor((i * (window.end - window.start - 1)) / COUNT);
        events.push({ timestamp: t, ingestionTime: t + 250, message: `{"level":"info","msg":"recall","request":${i},"tier":"working","latency_ms":${i % 97}}` });
      }
      busy.putEvents(group, stream, events);
    }
  });

  afterAll(async () => {
    destroyLogsClients(busyClients);
    await busy.stop();
  });

  test('its body reads pages only as fast as it is consumed: a stalled consumer holds the reader at its first pages', async () => {
    const { body, stats } = exportLogGroupWindow(busyClients.logs, group, window, { artifact: 'events-busy.jsonl.gz' });
    const calls = busy.calls.length;
    const chunks = body[Symbol.asyncIterator]();
    expect((await chunks.next()).done).toBe(false);
    // The consumer stalls: the reader must not run ahead to the window's end (20 pages).
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(busy.calls.length - calls).toBeLessThanOrEqual(2); // the page being written and the one fetched ahead
    expect(stats.scanned).toBeLessThanOrEqual(20_000);
    body.destroy();
  });

  test('read whole, it holds every event once, in order, counted', async () => {
    const artifact = 'events-busy.jsonl.gz';
    const { body, stats } = exportLogGroupWindow(busyClients.logs, group, window, { artifact });
    let count = 0;
    const ids = new Set<string>();
    // The reader refuses a line out of timestamp order or past the manifest's count.
    for await (const e of readEvents(body, { artifact, window, count: COUNT })) {
      count++;
      ids.add(e.eventId);
    }
    expect(count).toBe(COUNT);
    expect(ids.size).toBe(COUNT);
    expect(stats.pages).toBeGreaterThanOrEqual(COUNT / 10_000); // pages of at most 10,000 events and 1 MB
    expect(stats).toMatchObject({ complete: true, scanned: COUNT, artifact: { count: COUNT } });
  });
});

describe('metric sets', () => {
  let metrics: CloudWatchMetricsServer;
  let metricClients: LogsClients;
  const set: MetricSet = {
    id: 'memory-performance',
    periodSeconds: 60,
    metrics: [
      { namespace: 'NCA/Memory', metricName: 'RecallLatency', dimensions: { Tier: 'working' }, stats: ['Average', 'Maximum'] },
      { namespace: 'NCA/Memory', metricName: 'Consolidations', stats: ['Sum', 'SampleCount'] },
    ],
  };

  async function datapoints(window: Pick<Window, 'start' | 'end'>, maxDatapoints?: number) {
    const artifact = `metrics-${window.start}.jsonl.gz`;
    const { body, stats } = exportMetricsWindow(metricClients.metrics, set, window, { artifact, maxDatapoints });
    const points: MetricDatapoint[] = [];
    for await (const d of readDatapoints(body, { artifact, window })) points.push(d);
    return { points, stats };
  }

  /** One value every 20 s over [from, to): three per minute period. */
  function seed(from: number, to: number) {
    const points = [];
    for (let t = from; t < to; t += 20_000) points.push({ timestamp: t, value: ((t / 20_000) % 50) + 1 });
    metrics.seed('NCA/Memory', 'RecallLatency', [{ Name: 'Tier', Value: 'working' }], points);
    metrics.seed('NCA/Memory', 'Consolidations', [], points);
  }

  beforeAll(async () => {
    metrics = await startCloudWatchMetricsServer();
    metrics.clock.set(NOW);
    metricClients = createLogsClients({ metricsEndpoint: metrics.endpoint, maxAttempts: 4 });
  });

  afterAll(async () => {
    destroyLogsClients(metricClients);
    await metrics.stop();
  });

  test('a window of datapoints across pages: every period of every metric and statistic once, values as computed', async () => {
    const window = { start: NOW - 4 * HOUR_MS, end: NOW - HOUR_MS };
    seed(window.start - 10 * MINUTE_MS, window.end + 10 * MINUTE_MS);
    const { points, stats } = await datapoints(window, 50);
    const periods = (window.end - window.start) / MINUTE_MS;
    expect(points.length).toBe(4 * periods);
    expect(stats).toMatchObject({ complete: true, artifact: { count: 4 * periods } });
    expect(stats.pages).toBeGreaterThanOrEqual((4 * periods) / 50);
    const keys = new Set(points.map((d) => `${d.metricName}/${d.stat}/${d.timestamp}`));
    expect(keys.size).toBe(points.length);
    expect(points.every((d) => d.timestamp >= window.start && d.timestamp < window.end && d.period === 60)).toBe(true);
    const first = (name: string, stat: string) => points.find((d) => d.metricName === name && d.stat === stat && d.timestamp === window.start)!;
    const v = (t: number) => ((t / 20_000) % 50) + 1;
    const values = [v(window.start), v(window.start + 20_000), v(window.start + 40_000)];
    expect(first('RecallLatency', 'Maximum')).toEqual({ namespace: 'NCA/Memory', metricName: 'RecallLatency', dimensions: { Tier: 'working' }, stat: 'Maximum', period: 60, timestamp: window.start, value: Math.max(...values) });
    expect(first('Consolidations', 'SampleCount').value).toBe(3);
    expect(first('Consolidations', 'Sum').dimensions).toEqual({});
  });

  test('periods the service returns before the window (its StartTime rounding) are left to the window that holds them', async () => {
    // More than 15 days ago the service rounds StartTime down to 5 minutes: a window starting at :01 gets :00 too.
    const start = Math.floor((NOW - 20 * DAY_MS) / (5 * MINUTE_MS)) * 5 * MINUTE_MS + MINUTE_MS;
    const window = { start, end: start + 10 * MINUTE_MS };
    seed(start - 5 * MINUTE_MS, window.end);
    const { points } = await datapoints(window);
    expect(Math.min(...points.map((d) => d.timestamp))).toBe(window.start);
    expect(points.length).toBe(4 * 10);
  });

  test('a configured namespace resolves to its metrics, narrowed by metric names and dimensions, and exports them', async () => {
    // After every other test's window, so that this test depends on none of them.
    const at = [{ timestamp: NOW - 30 * MINUTE_MS, value: 7 }];
    metrics.seed('NCA/Memory', 'RecallLatency', [{ Name: 'Tier', Value: 'working' }], at);
    metrics.seed('NCA/Memory', 'RecallLatency', [{ Name: 'Tier', Value: 'long_term' }], at);
    metrics.seed('NCA/Memory', 'Consolidations', [], at);
    metrics.seed('NCA/Health', 'Energy', [], at);
    const base = { id: 'memory', namespace: 'NCA/Memory', stats: ['Maximum'], periodSeconds: 300 };
    const names = (set: MetricSet) => set.metrics.map((m) => `${m.metricName} ${JSON.stringify(m.dimensions)}`);
    expect(names(await resolveMetricSet(metricClients.metrics, base))).toEqual(['Consolidations {}', 'RecallLatency {"Tier":"long_term"}', 'RecallLatency {"Tier":"working"}']);
    expect(names(await resolveMetricSet(metricClients.metrics, { ...base, dimensions: [{ name: 'Tier' }] }))).toEqual(['RecallLatency {"Tier":"long_term"}', 'RecallLatency {"Tier":"working"}']);
    const narrowed = await resolveMetricSet(metricClients.metrics, { ...base, metricNames: ['RecallLatency'], dimensions: [{ name: 'Tier', value: 'long_term' }] });
    expect(names(narrowed)).toEqual(['RecallLatency {"Tier":"long_term"}']);
    const window = { start: NOW - HOUR_MS, end: NOW };
    const { body } = exportMetricsWindow(metricClients.metrics, narrowed, window, { artifact: 'metrics-narrowed.jsonl.gz' });
    const points: MetricDatapoint[] = [];
    for await (const d of readDatapoints(body, { artifact: 'metrics-narrowed.jsonl.gz', window })) points.push(d);
    expect(points).toEqual([{ namespace: 'NCA/Memory', metricName: 'RecallLatency', dimensions: { Tier: 'long_term' }, stat: 'Maximum', period: 300, timestamp: NOW - 30 * MINUTE_MS, value: 7 }]);
  });

  test('throttling is retried by the SDK', async () => {
    const window = { start: NOW - 4 * HOUR_MS, end: NOW - 3 * HOUR_MS };
    metrics.failNext(2);
    const { points } = await datapoints(window);
    expect(points.length).toBe(4 * 60);
    metrics.failNext(4);
    const error = await failure(exportMetricsWindow(metricClients.metrics, set, window, { artifact: 'metrics-throttled.jsonl.gz' }).body);
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toContain('reading the metric set "memory-performance"');
  });
});
