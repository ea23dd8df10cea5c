/**
 * The logs component through the real state machines, against the CloudWatch Logs and CloudWatch metrics
 * substitutes: three incremental backups with events arriving in between (some stamped hours before the
 * window they arrive in), a failed backup between the first two complete ones that leaves no window, a
 * restore of a range spanning them all into a log group and into an S3 prefix, and a restore refused
 * across a gap. Every check reads the substitute's own store or the restored files with gunzip and JSON.parse,
 * never through the component.
 */
import { gunzipSync } from 'node:zlib';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { RuntimeConfig } from '../../functions/core/runtime-config';
import { localWorker, workflowHarness, type WorkflowHarness } from '../../scripts/local-workflows';
import { startCloudWatchLogsServer, type CloudWatchLogsServer } from '../support/cloudwatch-logs-server';
import { startCloudWatchMetricsServer, type CloudWatchMetricsServer } from '../support/cloudwatch-metrics-server';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, listKeys, readObject, testS3Client } from '../support/s3';
import { expectSucceeded } from '../support/workflow-results';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const APP = '/nca/app';
const AUDIT = '/nca/audit';
const RESTORED = '/nca-backup/restored/app';

let s3: S3Client;
let vault: string;
let restores: string;
let logs: CloudWatchLogsServer;
let metrics: CloudWatchMetricsServer;
let config: RuntimeConfig;
let harness: WorkflowHarness;
const T0 = Date.now();

const object = (bucket: string, key: string) => readObject(s3, bucket, key);
const keys = (bucket: string, prefix: string) => listKeys(s3, bucket, prefix);
const manifestKey = (backupId: string) => `backups/logs/logs/${backupId}/manifest.json`;
const manifestOf = async (backupId: string) => JSON.parse((await object(vault, manifestKey(backupId))).toString());

let n = 0;
/** Events ingested now (the substitute's clock), stamped `ageMs` before it: a late one when the age is hours. */
function arrive(group: string, stream: string, count: number, ageMs: number): void {
  const now = Date.now();
  logs.putEvents(group, stream, Array.from({ length: count }, (_, i) => ({ timestamp: now - ageMs + i, message: `${group} ${stream} event ${++n} "quoted" \u00e9\u4e2d ${'x'.repeat(i % 7)}`, ingestionTime: now })));
}

/** The multiset of (timestamp, stream, message) as text, sorted: what a faithful copy of a group's events must equal. */
const multiset = (events: readonly { timestamp: number; logStreamName?: string; logStream?: string; message: string }[]) =>
  events.map((e) => JSON.stringify([e.timestamp, e.logStreamName ?? e.logStream, e.message])).sort();

beforeAll(async () => {
  s3 = testS3Client();
  [vault, restores] = await Promise.all([createTestBucket(s3, 'logs-vault'), createTestBucket(s3, 'logs-restores')]);
  logs = await startCloudWatchLogsServer({ pages: { maxEvents: 50, emptyFirst: 1 } });
  metrics = await startCloudWatchMetricsServer();
  // The first backup's lookback (1 day) holds these: events of the last few hours in two groups.
  arrive(APP, 'api/1', 120, 3 * HOUR);
  arrive(APP, 'worker/1', 40, 2 * HOUR);
  arrive(AUDIT, 'audit', 30, 90 * MINUTE);
  // A day of one-minute datapoints, ending well before now.
  const start = Math.floor((T0 - 6 * HOUR) / MINUTE) * MINUTE;
  metrics.seed('NCA/Memory', 'RecallLatency', [{ Name: 'Tier', Value: 'working' }], Array.from({ length: 300 }, (_, i) => ({ timestamp: start + i * MINUTE, value: 5 + (i % 13) })));
  config = testRuntimeConfig({
    bucket: vault,
    components: {
      logs: {
        group: 'logs',
        source: {
          logGroups: [APP, AUDIT],
          logGroupPrefixes: [],
          metrics: [{ id: 'memory', namespace: 'NCA/Memory', periodSeconds: 60, statistics: ['Average', 'Maximum'] }],
          settleMinutes: 0,
          lookbackDays: 1,
          lateArrivalHours: 336,
          restoreLogGroupPrefix: '/nca-backup/restored/',
          restoreLocation: { bucket: restores, prefix: 'restores/' },
        },
        worker: localWorker('logs'),
      },
    },
  });
  harness = workflowHarness(config, { NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT!, NCA_LOGS_ENDPOINT: logs.endpoint, NCA_METRICS_ENDPOINT: metrics.endpoint, NCA_LOGS_PAGE_LIMIT: '50' });
});

afterAll(async () => {
  await logs.stop();
  await metrics.stop();
});

describe('logs and metrics through the state machines', () => {
  const complete: string[] = [];

  test('three incremental backups with a failed one between: consecutive windows meet, every event is in exactly one backup', async () => {
    const first = await harness.run('backup', { group: 'logs' });
    expectSucceeded(first);
    complete.push(first.output.backupId);

    // Events arrive, some stamped hours before the first window's end (late); then a backup fails.
    arrive(APP, 'api/1', 25, 10 * MINUTE);
    arrive(APP, 'api/2', 15, 5 * HOUR);
    arrive(AUDIT, 'audit', 5, 1 * MINUTE);
    logs.failNext(1, 400, 'AccessDeniedException');
    const failed = await harness.run('backup', { group: 'logs' });
    expect(failed).toMatchObject({ status: 'FAILED', error: 'AccessDeniedError' });

    arrive(APP, 'worker/1', 10, 26 * HOUR); // older than the first backup's lookback: only the ingestion time counts
    const second = await harness.run('backup', { group: 'logs' });
    expectSucceeded(second);
    complete.push(second.output.backupId);

    arrive(APP, 'api/1', 33, 3 * MINUTE);
    arrive(AUDIT, 'audit', 7, 4 * HOUR);
    const third = await harness.run('backup', { group: 'logs' });
    expectSucceeded(third);
    complete.push(third.output.backupId);

    const manifests = await Promise.all(complete.map(manifestOf));
    // No manifest, no window: the failed backup left nothing the chain would count.
    expect((await keys(vault, 'backups/logs/logs/')).filter((k) => k.endsWith('/manifest.json'))).toHaveLength(3);
    for (const source of [APP, AUDIT, 'metrics:memory']) {
      const windows = manifests.map((m) => m.source.windows.find((w: any) => w.source === source));
      expect(windows[1].start).toBe(windows[0].end);
      expect(windows[2].start).toBe(windows[1].end);
      expect(windows[0].first).toBe(true);
    }
    // Per group: the events the manifests count are exactly the substitute's, and each artifact's lines are its events.
    for (const group of [APP, AUDIT]) {
      const stored = logs.eventsOf(group);
      const backedUp: any[] = [];
      for (const m of manifests) {
        const w = m.source.windows.find((x: any) => x.source === group);
        const lines = gunzipSync(await object(vault, `backups/logs/logs/${m.backupId}/${w.artifact}`)).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
        expect(lines).toHaveLength(w.count);
        backedUp.push(...lines);
      }
      expect(multiset(backedUp)).toEqual(multiset(stored));
      expect(new Set(backedUp.map((e) => e.eventId)).size).toBe(stored.length);
    }
    // The workflow output and the manifest say what each backup held.
    expect(manifests[1].report).toMatchObject({ events: 25 + 15 + 5 + 10, previousBackupId: complete[0] });
  });

  /** The span the chain covers: from the first backup's lookback to the newest backup's end (a range beyond either is refused). */
  async function chainRange(): Promise<{ from: number; to: number }> {
    const [first, last] = await Promise.all([manifestOf(complete[0]), manifestOf(complete[2])]);
    const groups = (m: any) => m.source.windows.filter((w: any) => w.kind === 'log-group');
    return { from: Math.max(...groups(first).map((w: any) => w.start)), to: Math.min(...groups(last).map((w: any) => w.end)) };
  }
  const inRange = (group: string, { from, to }: { from: number; to: number }) => logs.eventsOf(group).filter((e) => e.timestamp >= from && e.timestamp < to);

  test('a restore of a range spanning all three backups into a log group holds exactly the events of that range', async () => {
    // Asked for more than the chain holds (from before its first backup to after its last): narrowed, and said.
    const range = await chainRange();
    const [from, to] = [new Date(T0 - 30 * HOUR).toISOString(), new Date(Date.now() + HOUR).toISOString()];
    const restore = await harness.run('restore', { component: 'logs', backupId: 'latest', options: { from, to, logGroups: [APP], targetLogGroup: RESTORED } });
    expectSucceeded(restore);
    expect(restore.output.fingerprintMatch).toBe(true);
    expect(restore.output.details).toMatchObject({ written: 'log-group', backupsRead: 3, requested: { from, to }, sources: [{ source: APP, range: { from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString() } }] });
    expect(restore.output.details.narrowed[APP]).toMatch(/backups start at .* backups end at /);
    const expected = inRange(APP, range);
    // The late event stamped 26 hours ago, before the chain's start, is not in the range.
    expect(expected.length).toBe(logs.eventsOf(APP).length - 10);
    expect(multiset(logs.eventsOf(RESTORED))).toEqual(multiset(expected));
    // Streams keep their names.
    expect(new Set(logs.eventsOf(RESTORED).map((e) => e.logStreamName))).toEqual(new Set(['api/1', 'api/2', 'worker/1']));

    // Again into the same group: refused before anything is written (it already holds events of the range).
    const again = await harness.run('restore', { component: 'logs', backupId: 'latest', options: { from, to, logGroups: [APP], targetLogGroup: RESTORED } });
    expect(again).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
    expect(again.cause).toContain('already holds events');
    expect(logs.eventsOf(RESTORED)).toHaveLength(expected.length);
  });

  test('a restore of the same range to an S3 prefix writes Athena-partitioned files of every group and metric set', async () => {
    const range = await chainRange();
    const restore = await harness.run('restore', { component: 'logs', backupId: 'latest', options: { from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString(), targetPrefix: `s3://${restores}/restores/drill-1/` } });
    expectSucceeded(restore);
    const files = await keys(restores, 'restores/drill-1/');
    for (const group of [APP, AUDIT]) {
      const partition = `restores/drill-1/logs/log_group=${encodeURIComponent(group).replace(/%2F/g, '%2F')}/`;
      const mine = files.filter((k) => k.startsWith(partition));
      expect(mine.length).toBeGreaterThan(0);
      expect(mine.every((k) => /\/dt=\d{4}-\d\d-\d\d\/[^/]+\.jsonl\.gz$/.test(k))).toBe(true);
      const events: any[] = [];
      for (const key of mine) events.push(...gunzipSync(await object(restores, key)).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
      expect(multiset(events)).toEqual(multiset(inRange(group, range)));
      // Each event sits in the partition of its UTC date.
      for (const key of mine) {
        const dt = /dt=([\d-]+)\//.exec(key)![1];
        for (const line of gunzipSync(await object(restores, key)).toString('utf8').split('\n').filter(Boolean)) expect(new Date(JSON.parse(line).timestamp).toISOString().slice(0, 10)).toBe(dt);
      }
    }
    const datapoints = files.filter((k) => k.startsWith('restores/drill-1/metrics/metric_set=metrics%3Amemory/'));
    expect(datapoints.length).toBeGreaterThan(0);
    const points = (await Promise.all(datapoints.map(async (k) => gunzipSync(await object(restores, k)).toString('utf8').split('\n').filter(Boolean)))).flat().map((l) => JSON.parse(l));
    // Two statistics of the one metric, per minute of the backed-up windows.
    expect(new Set(points.map((p) => p.stat))).toEqual(new Set(['Average', 'Maximum']));
    expect(restore.output.fingerprintMatch).toBe(true);
    // The output carries the Athena table over what was written, both groups listed.
    expect(restore.output.details.athenaTable).toContain(`LOCATION 's3://${restores}/restores/drill-1/logs/'`);
    expect(restore.output.details.athenaTable).toContain("'projection.log_group.values' = '%2Fnca%2Fapp,%2Fnca%2Faudit'");
  });

  test('a target outside restore_location and a log group outside the restore prefix are refused before anything is written', async () => {
    const outside = await harness.run('restore', { component: 'logs', backupId: 'latest', options: { targetPrefix: `s3://${vault}/elsewhere/` } });
    expect(outside).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
    expect(outside.cause).toContain('restore_location');
    const source = await harness.run('restore', { component: 'logs', backupId: 'latest', options: { logGroups: [APP], targetLogGroup: APP } });
    expect(source).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
    expect(source.cause).toContain('restore_log_group_prefix');
    expect(await keys(vault, 'backups/elsewhere/')).toEqual([]);
  });

  test('with the middle backup gone, a restore across the gap is refused naming it; one beside it still works', async () => {
    await s3.send(new DeleteObjectCommand({ Bucket: vault, Key: manifestKey(complete[1]) }));
    const range = await chainRange();
    const [from, to] = [new Date(range.from).toISOString(), new Date(range.to).toISOString()];
    const across = await harness.run('restore', { component: 'logs', backupId: 'latest', options: { from, to, logGroups: [APP], targetPrefix: `s3://${restores}/restores/gap/` } });
    expect(across).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
    expect(across.cause).toContain('has a gap');
    expect(across.cause).toContain(complete[0]);
    expect(await keys(restores, 'restores/gap/')).toEqual([]);
    // The newest backup alone (no range) still restores: exactly its own windows.
    const own = await harness.run('restore', { component: 'logs', backupId: complete[2], options: { logGroups: [AUDIT], targetPrefix: `s3://${restores}/restores/own/` } });
    expectSucceeded(own);
    const third = await manifestOf(complete[2]);
    const count = third.source.windows.find((w: any) => w.source === AUDIT).count;
    expect(count).toBeGreaterThan(0);
    expect(own.output.details).toMatchObject({ written: 'files', backupsRead: 1, events: count });
    const lines = (await Promise.all((await keys(restores, 'restores/own/')).map(async (k) => gunzipSync(await object(restores, k)).toString('utf8').split('\n').filter(Boolean)))).flat();
    expect(lines).toHaveLength(count);
  });

  test('events older than CloudWatch Logs accepts go to files when a file target is given, and are refused with nothing written when not', async () => {
    // Stamped 13 days 23.5 hours ago, arriving now: CloudWatch Logs took them (under 14 days), but a restore
    // into a group cannot finish before they pass the 14 days (its one-hour margin).
    const age = 14 * 24 * HOUR - 30 * MINUTE;
    arrive(AUDIT, 'replayed', 4, age);
    const fourth = await harness.run('backup', { group: 'logs' });
    expectSucceeded(fourth);
    const onlyGroup = await harness.run('restore', { component: 'logs', backupId: fourth.output.backupId, options: { logGroups: [AUDIT], targetLogGroup: '/nca-backup/restored/audit' } });
    expect(onlyGroup).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
    expect(onlyGroup.cause).toContain('14 days');
    expect(logs.eventsOf('/nca-backup/restored/audit')).toEqual([]);

    const either = await harness.run('restore', { component: 'logs', backupId: fourth.output.backupId, options: { logGroups: [AUDIT], targetLogGroup: '/nca-backup/restored/audit', targetPrefix: `s3://${restores}/restores/old/` } });
    expectSucceeded(either);
    expect(either.output.details).toMatchObject({ written: 'files', events: 4 });
    expect(logs.eventsOf('/nca-backup/restored/audit')).toEqual([]);
    const files = await keys(restores, 'restores/old/');
    expect(files).toHaveLength(1);
    expect(files[0]).toContain(`/dt=${new Date(Date.now() - age).toISOString().slice(0, 10)}/`);
  });

  test('a corrupted artifact anywhere in the range fails the restore before it writes anything', async () => {
    const fourth = (await keys(vault, 'backups/logs/logs/')).filter((k) => k.endsWith('/manifest.json')).map((k) => k.split('/')[3]).sort().pop()!;
    const manifest = await manifestOf(fourth);
    const w = manifest.source.windows.find((x: any) => x.source === AUDIT);
    const key = `backups/logs/logs/${fourth}/${w.artifact}`;
    const bytes = await object(vault, key);
    bytes[bytes.length - 5] ^= 0xff;
    await s3.send(new PutObjectCommand({ Bucket: vault, Key: key, Body: bytes }));
    const restore = await harness.run('restore', { component: 'logs', backupId: fourth, options: { logGroups: [AUDIT], targetPrefix: `s3://${restores}/restores/corrupt/` } });
    expect(restore).toMatchObject({ status: 'FAILED', error: 'IntegrityError' });
    expect(await keys(restores, 'restores/corrupt/')).toEqual([]);
  });

  test('two backups started at once: one runs, the other is refused or follows it; the windows still meet', async () => {
    arrive(APP, 'api/1', 12, MINUTE);
    const both = await Promise.all([harness.run('backup', { group: 'logs' }), harness.run('backup', { group: 'logs' })]);
    const ok = both.filter((r) => r.status === 'SUCCEEDED');
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of both.filter((x) => x.status !== 'SUCCEEDED')) expect(r.error).toBe('OperationInProgressError');
    const ids = (await keys(vault, 'backups/logs/logs/')).filter((k) => k.endsWith('/manifest.json')).map((k) => k.split('/')[3]);
    const windows = (await Promise.all(ids.map(manifestOf))).map((m) => m.source.windows.find((x: any) => x.source === APP)).sort((a, b) => a.start - b.start || a.end - b.end);
    // No two windows overlap (the deleted middle backup leaves its one gap, nothing else).
    for (let i = 1; i < windows.length; i++) expect(windows[i].start).toBeGreaterThanOrEqual(windows[i - 1].end);
    const newest = logs.eventsOf(APP).slice(-12).map((e) => e.eventId);
    const artifacts = await Promise.all(ok.map(async (r) => {
      const m = await manifestOf(r.output.backupId);
      const a = m.source.windows.find((x: any) => x.source === APP);
      return gunzipSync(await object(vault, `backups/logs/logs/${r.output.backupId}/${a.artifact}`)).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).eventId);
    }));
    // The new events are in exactly one of them.
    expect(artifacts.flat().filter((id) => newest.includes(id)).sort()).toEqual([...newest].sort());
  });

  test('an event that became searchable only after its window was read is in no backup, and the next backup says so', async () => {
    const ids = (await keys(vault, 'backups/logs/logs/')).filter((k) => k.endsWith('/manifest.json')).map((k) => k.split('/')[3]);
    const ends = (await Promise.all(ids.map(manifestOf))).map((m) => m.source.windows.find((x: any) => x.source === AUDIT).end);
    const lastEnd = Math.max(...ends);
    // Ingested (by the service's clock) just before the last window's end, visible only now: what a settle delay too short lets through.
    logs.putEvents(AUDIT, 'slow-shard', [{ timestamp: lastEnd - 5000, message: 'ingested before the window closed, searchable after', ingestionTime: lastEnd - 1 }]);
    const next = await harness.run('backup', { group: 'logs' });
    expectSucceeded(next);
    const manifest = await manifestOf(next.output.backupId);
    expect(manifest.report.warnings).toEqual([expect.stringMatching(/^1 events of "\/nca\/audit" ingested in the previous backup's window .* raise backup.sources.logs.settle_minutes$/)]);
    expect(next.output.components[0].warnings).toEqual(manifest.report.warnings);
  });
});
