/**
 * Restoring a logs artifact's events (written and read back with format.ts, as a restore reads them) into
 * a log group of the CloudWatch Logs substitute, read back with the SDK's FilterLogEvents, and into files
 * in the Athena layout on s3rver and in a directory, read back and gunzipped.
 */
import { CloudWatchLogsClient, CreateLogGroupCommand, FilterLogEventsCommand, type FilteredLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { InvalidInputError } from '../../functions/core/errors';
import { athenaKey, partitionDate } from '../../functions/components/logs/athena';
import { readEvents, writeEvents, type LogEvent } from '../../functions/components/logs/format';
import { acceptance, PUT_LOG_EVENTS_LIMITS } from '../../functions/components/logs/putlog-batches';
import { directoryFileSink, restoreToFiles, s3FileSink } from '../../functions/components/logs/restore-files';
import { LogEventsRejectedError, restoreToLogGroup } from '../../functions/components/logs/restore-log-group';
import { startCloudWatchLogsServer, type CloudWatchLogsServer } from '../support/cloudwatch-logs-server';
import { createTestBucket, recordWrites, TEST_KMS_KEY, testS3Client } from '../support/s3';
import { rejection } from '../support/thrown';

const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

let server: CloudWatchLogsServer;
let logs: CloudWatchLogsClient;
let groups = 0;
const newGroupName = () => `/nca/restored/test-${++groups}`;

beforeAll(async () => {
  server = await startCloudWatchLogsServer({ pages: { maxEvents: 700 } });
  logs = new CloudWatchLogsClient({ region: 'us-east-1', endpoint: server.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' }, maxAttempts: 3 });
});
beforeEach(() => server.clock.set(NOW));
afterAll(async () => {
  logs.destroy();
  await server.stop();
});

/** Events in timestamp order, round-robin over the streams, `step` ms apart from `from`. */
function eventsOver(streams: readonly string[], count: number, from: number, step: number, message = (i: number) => `event ${i} {"level":"info"} ✓`): LogEvent[] {
  return Array.from({ length: count }, (_, i) => ({ timestamp: from + i * step, ingestionTime: from + i * step + 500, logStream: streams[i % streams.length], message: message(i), eventId: String(i).padStart(20, '0') }));
}

/** The events as a restore reads them: through an artifact's bytes and format.ts's reader. */
function fromArtifact(events: Iterable<LogEvent> | AsyncIterable<LogEvent>): AsyncGenerator<LogEvent> {
  const { body } = writeEvents(events, { artifact: 'events-test.jsonl.gz' });
  return readEvents(body, { artifact: 'events-test.jsonl.gz' });
}

/** Every event of a group, FilterLogEvents page after page until one has no nextToken. */
async function readBack(logGroupName: string): Promise<FilteredLogEvent[]> {
  const events: FilteredLogEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await logs.send(new FilterLogEventsCommand({ logGroupName, nextToken }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

/** Per stream name, its (timestamp, message) pairs in order. */
function byStream(events: readonly { logStream?: string; logStreamName?: string; timestamp?: number; message?: string }[]): Record<string, [number, string][]> {
  const out: Record<string, [number, string][]> = {};
  for (const e of events) (out[(e.logStream ?? e.logStreamName)!] ??= []).push([e.timestamp!, e.message!]);
  return out;
}

const putCalls = () => server.calls.filter((c) => c.operation === 'PutLogEvents').length;

describe('restoreToLogGroup', () => {
  test('a range of events lands in a new log group, one stream per original, the same events per stream; throttling is retried by the SDK', async () => {
    const group = newGroupName();
    const events = eventsOver(['2026/11/30/[$LATEST]ab12', '2026/11/30/[$LATEST]cd34', 'worker'], 1500, NOW - 6 * HOUR, 13_000);
    server.failNext(2);

    const result = await restoreToLogGroup(logs, group, fromArtifact(events));

    expect(result).toMatchObject({ logGroup: group, created: true, events: 1500 });
    expect(result.streams.map((s) => [s.logStream, s.restoredAs, s.events])).toEqual([
      ['2026/11/30/[$LATEST]ab12', '2026/11/30/[$LATEST]ab12', 500],
      ['2026/11/30/[$LATEST]cd34', '2026/11/30/[$LATEST]cd34', 500],
      ['worker', 'worker', 500],
    ]);
    expect(byStream(await readBack(group))).toEqual(byStream(events));
    // The two throttled CreateLogGroup calls and the one that succeeded.
    expect(server.calls.filter((c) => c.operation === 'CreateLogGroup' && c.name === group)).toHaveLength(3);
  });

  test('an existing group is written into (created: false), and an empty range writes nothing', async () => {
    const group = newGroupName();
    await logs.send(new CreateLogGroupCommand({ logGroupName: group }));
    const before = putCalls();

    const result = await restoreToLogGroup(logs, group, fromArtifact([]));

    expect(result).toEqual({ logGroup: group, created: false, streams: [], events: 0 });
    expect(putCalls()).toBe(before);
  });

  test('batches exactly at the limits: 10,000 events in one call and the next in another; 1,048,576 bytes in one call', async () => {
    const group = newGroupName();
    // 262,118 bytes of message + 26 counted per event = 262,144: four make exactly 1,048,576.
    const big = 'x'.repeat(PUT_LOG_EVENTS_LIMITS.maxBytes / 4 - PUT_LOG_EVENTS_LIMITS.eventOverheadBytes);
    const many = eventsOver(['many'], 10_001, NOW - 2 * HOUR, 10, (i) => `m${i}`);
    const large = eventsOver(['large'], 5, NOW - 2 * HOUR + 5, 60_000, () => big);
    const events = [...many, ...large].sort((a, b) => a.timestamp - b.timestamp);
    const before = putCalls();

    const result = await restoreToLogGroup(logs, group, fromArtifact(events), { maxBufferedBytes: 4 * 1024 * 1024 });

    expect(result.streams.map((s) => [s.logStream, s.events, s.batches])).toEqual([
      ['many', 10_001, 2],
      ['large', 5, 2],
    ]);
    expect(putCalls() - before).toBe(4);
    const stored = byStream(server.eventsOf(group));
    expect(stored.many).toHaveLength(10_001);
    expect(stored.large.map(([t, m]) => [t, m.length])).toEqual(large.map((e) => [e.timestamp, big.length]));
  });

  test('pending batches beyond maxBufferedBytes are sent early: smaller batches, the same events', async () => {
    const group = newGroupName();
    const streams = Array.from({ length: 20 }, (_, i) => `s${i}`);
    const events = eventsOver(streams, 2000, NOW - 3 * HOUR, 1000, (i) => `${i}:${'y'.repeat(200)}`);

    const result = await restoreToLogGroup(logs, group, fromArtifact(events), { maxBufferedBytes: 16 * 1024 });

    expect(result.events).toBe(2000);
    expect(result.streams.every((s) => s.batches > 1)).toBe(true);
    expect(byStream(await readBack(group))).toEqual(byStream(events));
  });

  test('events that became too old while the restore ran: a typed error naming the group and stream, and what each stream holds', async () => {
    const group = newGroupName();
    // Accepted when checked (13 days 23 hours old at most), then the clock passes the 14 days mid-restore.
    const events = eventsOver(['a', 'b'], 20, NOW - 14 * DAY + 2 * HOUR, MINUTE);
    expect(acceptance({ firstTimestamp: events[0].timestamp, lastTimestamp: events[19].timestamp }, NOW)).toEqual({ accepted: true });
    // After the reader: gzip reads its source ahead, so the clock must move as the restore takes the events.
    async function* slowly(source: AsyncIterable<LogEvent>): AsyncGenerator<LogEvent> {
      let i = 0;
      for await (const e of source) {
        if (i++ === 12) server.clock.advance(3 * HOUR);
        yield e;
      }
    }

    const error = await rejection(restoreToLogGroup(logs, group, slowly(fromArtifact(events)), { limits: { ...PUT_LOG_EVENTS_LIMITS, maxEvents: 4 } }));

    expect(error).toBeInstanceOf(LogEventsRejectedError);
    expect(error).toBeInstanceOf(InvalidInputError);
    const rejected = error as LogEventsRejectedError;
    expect(rejected.name).toBe('InvalidInputError');
    expect(rejected).toMatchObject({ logGroup: group, logStream: 'a', writtenBefore: 4, rejected: { tooOld: 4, expired: 0, tooNew: 0 } });
    // a: 4 written, then a batch of 4 rejected whole; b: 4 written.
    expect(rejected.written.map((s) => [s.restoredAs, s.events])).toEqual([
      ['a', 4],
      ['b', 4],
    ]);
    expect(rejected.message).toContain(`log group "${group}", stream "a" rejected events (4 more than 14 days old) after 4 events of that stream were written`);
    expect(rejected.message).toContain('8 events in 2 streams');
    expect(Object.fromEntries(Object.entries(byStream(await readBack(group))).map(([s, e]) => [s, e.length]))).toEqual({ a: 4, b: 4 });
  });

  test('events more than 2 hours ahead: the kept part of the batch counts as written', async () => {
    const group = newGroupName();
    const events = eventsOver(['app'], 6, NOW + HOUR, 30 * MINUTE);

    const error = (await rejection(restoreToLogGroup(logs, group, fromArtifact(events)))) as LogEventsRejectedError;

    expect(error).toBeInstanceOf(LogEventsRejectedError);
    expect(error).toMatchObject({ logStream: 'app', writtenBefore: 0, rejected: { tooOld: 0, expired: 0, tooNew: 3 } });
    expect(error.written).toEqual([{ logStream: 'app', restoredAs: 'app', events: 3, batches: 1 }]);
    expect(server.eventsOf(group).map((e) => e.timestamp)).toEqual(events.slice(0, 3).map((e) => e.timestamp));
  });

  test('a failure the SDK does not retry away is a typed error saying what is in the group already', async () => {
    const group = newGroupName();
    const events = eventsOver(['app'], 12, NOW - HOUR, 1000);
    async function* failingAfter(source: AsyncIterable<LogEvent>): AsyncGenerator<LogEvent> {
      let i = 0;
      for await (const e of source) {
        if (i++ === 9) server.failNext(1, 400, 'AccessDeniedException');
        yield e;
      }
    }

    const error = await rejection(restoreToLogGroup(logs, group, failingAfter(fromArtifact(events)), { limits: { ...PUT_LOG_EVENTS_LIMITS, maxEvents: 5 } }));

    expect(error.name).toBe('AccessDeniedError');
    expect(error.message).toContain(`CloudWatch Logs refused writing 5 events into log group "${group}", stream "app" after 5 of that stream (5 events of this restore are in the group)`);
    expect(server.eventsOf(group)).toHaveLength(5);
  });

  test('hostile names: a group with / and #, streams with unicode, / and #, restored under their own names; a group CloudWatch cannot name is refused before anything is created', async () => {
    const group = `/nca/restored/#${++groups}/a.b_c-d`;
    const streams = ['ünïcødé/日本語#1', 'a b/#/c', '[$LATEST]/x#y', '🙂'];
    const events = eventsOver(streams, 40, NOW - HOUR, 1000, (i) => `línea ${i} — 🙂\ttab`);

    const result = await restoreToLogGroup(logs, group, fromArtifact(events));

    expect(result.streams.map((s) => s.restoredAs)).toEqual(streams);
    expect(byStream(await readBack(group))).toEqual(byStream(events));

    const calls = server.calls.length;
    const refused = await rejection(restoreToLogGroup(logs, '/nca/restored/日本語', fromArtifact(events)));
    expect(refused).toBeInstanceOf(InvalidInputError);
    expect(refused.message).toContain('is not a log group name: 1 to 512 of A-Z a-z 0-9 . _ - / #');
    expect(server.calls.length).toBe(calls);
  });

  test('streamName maps names; two streams mapped onto one are refused', async () => {
    const group = newGroupName();
    const events = eventsOver(['x', 'y'], 10, NOW - HOUR, 1000);

    const result = await restoreToLogGroup(logs, group, fromArtifact(events), { streamName: (s) => `restored/${s}` });
    expect(Object.keys(byStream(await readBack(group))).sort()).toEqual(['restored/x', 'restored/y']);
    expect(result.events).toBe(10);

    const clash = await rejection(restoreToLogGroup(logs, newGroupName(), fromArtifact(events), { streamName: () => 'one' }));
    expect(clash).toBeInstanceOf(InvalidInputError);
    expect(clash.message).toContain('log streams "x" and "y" would both be restored as "one"');
  });
});

/** The JSON Lines of a gzip file, parsed. */
const linesOf = (gzip: Buffer): LogEvent[] =>
  gunzipSync(gzip)
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as LogEvent);

/** The events grouped by the UTC date of their timestamp, in order. */
function byDate(events: readonly LogEvent[]): Map<string, LogEvent[]> {
  const out = new Map<string, LogEvent[]>();
  for (const e of events) {
    const date = partitionDate(e.timestamp);
    out.set(date, [...(out.get(date) ?? []), e]);
  }
  return out;
}

describe('restoreToFiles', () => {
  // Three UTC days, from 2026-11-27 22:00 to 2026-11-29 14:00, over two streams with hostile names.
  const group = '/aws/lambda/neuroca-api#blue';
  const events = eventsOver(['2026/11/27/[$LATEST]ab12', 'ünïcødé/日本語#1'], 1200, Date.UTC(2026, 10, 27, 22), 2 * MINUTE + 7);
  const dates = [...byDate(events).keys()];

  test('into S3: one gzip JSON Lines file per date partition in the Athena layout, the same events, SSE on every write', async () => {
    expect(dates).toEqual(['2026-11-27', '2026-11-28', '2026-11-29']);
    const s3 = testS3Client();
    const bucket = await createTestBucket(s3, 'restore');
    const sent = recordWrites(s3);
    const encryption = { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: TEST_KMS_KEY, BucketKeyEnabled: true };

    const result = await restoreToFiles(s3FileSink({ client: s3, bucket, prefix: 'restores/2026-11-30', encryption }), fromArtifact(events), group, { name: '20261130T120000Z-ab12' });

    const keys = dates.map((d, i) => athenaKey('restores/2026-11-30/', group, Date.parse(`${d}T00:00:00Z`), `20261130T120000Z-ab12-0000${i + 1}.jsonl.gz`));
    expect(keys[0]).toBe('restores/2026-11-30/logs/log_group=%2Faws%2Flambda%2Fneuroca-api%23blue/dt=2026-11-27/20261130T120000Z-ab12-00001.jsonl.gz');
    expect(result.files.map((f) => [f.key, f.date, f.count])).toEqual(dates.map((d, i) => [keys[i], d, byDate(events).get(d)!.length]));
    expect(result.events).toBe(1200);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(listed.Contents?.map((o) => o.Key).sort()).toEqual([...keys].sort());
    for (const file of result.files) {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: file.key }));
      const body = Buffer.from(await object.Body!.transformToByteArray());
      expect(body.length).toBe(file.bytes);
      expect(linesOf(body)).toEqual(byDate(events).get(file.date));
      expect(file.location).toBe(`s3://${bucket}/${file.key}`);
    }
    expect(sent.map((s) => [s.sse, s.kmsKeyId])).toEqual(keys.map(() => ['aws:kms', TEST_KMS_KEY]));
  });

  describe('into a directory', () => {
    let directory: string;
    beforeEach(async () => {
      directory = await mkdtemp(join(tmpdir(), 'nca-logs-restore-'));
    });
    afterEach(() => rm(directory, { recursive: true, force: true }));

    /** Every file under the directory, relative, with `/` between segments. */
    const filesUnder = async () => (await readdir(directory, { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name).slice(directory.length + 1)).sort();

    test('the same layout as files, renamed into place (no temporary file left), the same events per partition', async () => {
      const result = await restoreToFiles(directoryFileSink(directory), fromArtifact(events), group);

      const keys = result.files.map((f) => f.key);
      expect(await filesUnder()).toEqual([...keys].sort());
      expect(keys.every((k) => k.startsWith('logs/log_group=%2Faws%2Flambda%2Fneuroca-api%23blue/dt='))).toBe(true);
      for (const file of result.files) {
        expect(file.location).toBe(join(directory, file.key));
        const body = await readFile(file.location);
        expect(body.length).toBe(file.bytes);
        expect(linesOf(body)).toEqual(byDate(events).get(file.date));
      }
    });

    test('events out of order make a new file at each step back, each file in order, none lost', async () => {
      const shuffled = [events[5], events[3], events[4], events[1000], events[6]];

      const result = await restoreToFiles(directoryFileSink(directory), Readable.from(shuffled), group, { name: 'unordered' });

      expect(result.files.map((f) => [f.date, f.count])).toEqual([
        ['2026-11-27', 1],
        ['2026-11-27', 2],
        [partitionDate(events[1000].timestamp), 1],
        ['2026-11-27', 1],
      ]);
      expect(result.files.map((f) => f.key.split('/').pop())).toEqual([1, 2, 3, 4].map((n) => `unordered-0000${n}.jsonl.gz`));
      const restored = await Promise.all(result.files.map(async (f) => linesOf(await readFile(f.location))));
      expect(restored.flat()).toEqual(shuffled);
    });

    test('a damaged artifact fails the restore with its IntegrityError, and no file of the failed partition appears', async () => {
      const { body } = writeEvents(events.slice(0, 10), { artifact: 'x' });
      const bytes = Buffer.concat(await body.toArray());
      const cut = readEvents(Readable.from([bytes.subarray(0, bytes.length - 8)]), { artifact: 'events-cut.jsonl.gz' });

      const error = await rejection(restoreToFiles(directoryFileSink(directory), cut, group));

      expect(error.name).toBe('IntegrityError');
      expect(error.message).toContain('events-cut.jsonl.gz');
      expect(await filesUnder()).toEqual([]);
    });
  });
});
