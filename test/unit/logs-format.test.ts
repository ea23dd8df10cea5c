/**
 * The logs component's artifacts: gzip JSON Lines of events (ordered by timestamp) and of metric
 * datapoints, written and read a line at a time, with counts and bytes for the manifest. What the writer
 * wrote reads back exactly; what it did not write (bad JSON, a missing or extra field, a line out of order,
 * outside the window, a count that differs, a cut-short or endless line) is refused with the line number.
 * Artifact names for hostile log group names are valid, unique and deterministic.
 */
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { artifactName, artifactNames, isArtifactOf } from '../../functions/components/logs/artifact-names';
import { MAX_LINE_BYTES, readDatapoints, readEvents, writeDatapoints, writeEvents, type ArtifactStats, type LogEvent, type MetricDatapoint } from '../../functions/components/logs/format';
import { IntegrityError } from '../../functions/core/errors';
import { isArtifactName } from '../../functions/core/manifest';
import { rejection } from '../support/thrown';

const T = Date.parse('2026-11-30T00:00:00.000Z');
const HOSTILE_MESSAGES = ['plain', 'ünïcødé ✓ 日本語 🚀', 'line\nbreak\r\n', '{"json": true}', 'nul\u0000byte', 'tab\tand "quotes" and \\', 'x'.repeat(300_000)];

const event = (i: number, overrides: Partial<LogEvent> = {}): LogEvent => ({
  timestamp: T + i * 1000,
  ingestionTime: T + i * 1000 + 250,
  logStream: `2026/11/30/[$LATEST]${i % 3}`,
  message: HOSTILE_MESSAGES[i % HOSTILE_MESSAGES.length],
  eventId: `3842${String(i).padStart(10, '0')}`,
  ...overrides,
});

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function all<T>(values: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of values) out.push(v);
  return out;
}

const gz = (text: string) => Readable.from([gzipSync(Buffer.from(text, 'utf8'))]);
const line = (e: object) => `${JSON.stringify(e)}\n`;

describe('events artifacts', () => {
  test('read back exactly what was written, in timestamp order, with the count and bytes the manifest records', async () => {
    const events = Array.from({ length: 50 }, (_, i) => event(i));
    const written = writeEvents((async function* () { yield* events; })(), { artifact: 'events-a.jsonl.gz' });
    const stored = await bytesOf(written.body);
    expect(written.stats).toMatchObject({ count: 50, firstTimestamp: T, lastTimestamp: T + 49_000, firstIngestionTime: T + 250, lastIngestionTime: T + 49_250 });
    const read: ArtifactStats = { count: 0, bytes: 0 };
    const back = await all(readEvents(Readable.from([stored]), { artifact: 'events-a.jsonl.gz', count: 50, stats: read }));
    expect(back).toEqual(events);
    expect(read).toEqual(written.stats);
    expect(stored.length).toBeLessThan(written.stats.bytes);
  });

  test('the writer streams: it reads events only as fast as the stored body is consumed, so an endless source is never held whole', async () => {
    let pulled = 0;
    const endless = (function* () {
      for (let i = 0; ; i++) {
        pulled++;
        yield event(i, { message: `request ${i} ${(i * 2654435761) % 4294967296}` });
      }
    })();
    const { body } = writeEvents(endless, { artifact: 'a' });
    for await (const chunk of body) {
      expect((chunk as Buffer).length).toBeGreaterThan(0);
      break; // destroys the body and stops the source
    }
    expect(pulled).toBeGreaterThan(0);
    expect(pulled).toBeLessThan(100_000);
  });

  test('each line is one JSON object with the fields in a fixed order', async () => {
    const { body } = writeEvents([event(1, { message: 'hello' })], { artifact: 'a' });
    const text = gunzipSync(await bytesOf(body)).toString('utf8');
    expect(text).toBe(`{"timestamp":${T + 1000},"ingestionTime":${T + 1250},"logStream":"2026/11/30/[$LATEST]1","message":"hello","eventId":"38420000000001"}\n`);
  });

  test('equal timestamps are kept in the order read; an event stamped before the previous one fails the stored body', async () => {
    const ties = [event(1, { eventId: 'b' }), event(1, { eventId: 'a' })];
    expect((await all(readEvents(writeEvents(ties, { artifact: 'a' }).body, { artifact: 'a' }))).map((e) => e.eventId)).toEqual(['b', 'a']);
    const error = await rejection(bytesOf(writeEvents([event(2), event(1)], { artifact: 'events-x.jsonl.gz' }).body));
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toContain('events-x.jsonl.gz: event 2 is stamped');
  });

  test('the writer refuses an event outside the window and one the API never returns', async () => {
    const outside = await rejection(bytesOf(writeEvents([event(1)], { artifact: 'a', window: { start: T + 2000, end: T + 3000 } }).body));
    expect(outside.message).toContain("outside the backup's window");
    const empty = await rejection(bytesOf(writeEvents([event(1, { message: '' })], { artifact: 'a' }).body));
    expect(empty.message).toContain('has no message');
  });

  test.each([
    ['not JSON', '{"timestamp":', 'line 2 is not JSON'],
    ['an array', '[1,2]', 'line 2 is not a JSON object'],
    ['an extra field', line({ ...event(2), secret: 'x' }), 'line 2 has a field "secret"'],
    ['a missing field', line({ ...event(2), eventId: undefined }), 'line 2 has no eventId'],
    ['a string timestamp', line({ ...event(2), timestamp: String(T) }), 'line 2 has a timestamp that is not a time'],
    ['a fractional ingestion time', line({ ...event(2), ingestionTime: 1.5 }), 'line 2 has an ingestionTime'],
    ['a log stream with a colon', line({ ...event(2), logStream: 'a:b' }), 'line 2 has a logStream'],
    ['a line out of order', line(event(0)), 'line 2 is stamped before the line preceding it'],
  ])('a file with %s is refused, naming the line', async (_, second, expected) => {
    const error = await rejection(all(readEvents(gz(`${line(event(1))}${second.endsWith('\n') ? second : `${second}\n`}`), { artifact: 'events-a.jsonl.gz', backupId: '20261130T010000Z-7f3a' })));
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toContain(`events-a.jsonl.gz ${expected}`);
    expect(error.message).toContain('20261130T010000Z-7f3a');
  });

  test('a file that holds another count than the manifest, an event outside the window, or a cut-short last line is refused', async () => {
    const two = `${line(event(1))}${line(event(2))}`;
    expect((await rejection(all(readEvents(gz(two), { artifact: 'a', count: 1 })))).message).toContain("line 2 is one more event than the manifest's 1");
    expect((await rejection(all(readEvents(gz(two), { artifact: 'a', count: 3 })))).message).toContain('line 3 is the end, after 2 events; the manifest records 3');
    expect((await rejection(all(readEvents(gz(two), { artifact: 'a', window: { start: T, end: T + 2000 } })))).message).toContain("line 2 is outside the backup's window");
    expect((await rejection(all(readEvents(gz(two.slice(0, -1)), { artifact: 'a' })))).message).toContain('line 2 does not end with a line break');
    expect((await rejection(all(readEvents(Readable.from([Buffer.from('not gzip')]), { artifact: 'a' })))).message).toContain('line 1 cannot be read');
  });

  test('a line longer than any event makes is refused before it is held whole, and invalid UTF-8 is refused', async () => {
    const endless = Readable.from([gzipSync(Buffer.alloc(MAX_LINE_BYTES + 10, 0x61))]);
    expect((await rejection(all(readEvents(endless, { artifact: 'a' })))).message).toContain('line 1 is longer than');
    const bad = Readable.from([gzipSync(Buffer.concat([Buffer.from('{"m":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]))]);
    expect((await rejection(all(readEvents(bad, { artifact: 'a' })))).message).toContain('line 1 is not UTF-8');
  });
});

describe('metrics artifacts', () => {
  const point = (i: number): MetricDatapoint => ({ namespace: 'NCA/Memory', metricName: 'Latency', dimensions: { Tier: 'working', Env: 'prod' }, stat: 'Average', period: 60, timestamp: T + i * 60_000, value: i / 3 });

  test('datapoints read back exactly, with dimensions written in name order', async () => {
    const points = Array.from({ length: 10 }, (_, i) => point(i));
    const written = writeDatapoints(points, { artifact: 'metrics-x.jsonl.gz', window: { start: T, end: T + 600_000 } });
    const back = await all(readDatapoints(written.body, { artifact: 'metrics-x.jsonl.gz', count: 10, window: { start: T, end: T + 600_000 } }));
    expect(back).toEqual(points);
    expect(Object.keys(back[0].dimensions)).toEqual(['Env', 'Tier']);
    expect(written.stats.count).toBe(10);
  });

  test('a datapoint whose value is not a finite number, or whose period is not positive, is refused', async () => {
    expect((await rejection(all(readDatapoints(gz(line({ ...point(0), value: 'NaN' })), { artifact: 'm' })))).message).toContain('line 1 has a value');
    expect((await rejection(all(readDatapoints(gz(line({ ...point(0), period: 0 })), { artifact: 'm' })))).message).toContain('line 1 has a period');
  });
});

describe('artifact names', () => {
  const HOSTILE_GROUPS = ['/aws/lambda/neuroca-api', '/aws/lambda/Neuroca-API', '/aws/lambda/neuroca-api/', 'neuroca-api', '/日本語/ロググループ', '/ünïcödé/group', '###', '.', '-', 'manifest.json', `/long/${'x'.repeat(600)}`, `/long/${'x'.repeat(599)}y`, 'a#b.c_d-e/f'];

  test('every name is a plain artifact name, unique, deterministic and readable', () => {
    const names = artifactNames('events', HOSTILE_GROUPS);
    expect(new Set(names.values()).size).toBe(HOSTILE_GROUPS.length);
    for (const [group, name] of names) {
      expect(isArtifactName(name)).toBe(true);
      expect(name).toBe(artifactName('events', group));
      expect(isArtifactOf('events', group, name)).toBe(true);
    }
    expect(names.get('/aws/lambda/neuroca-api')).toMatch(/^events-aws-lambda-neuroca-api-[0-9a-f]{12}\.jsonl\.gz$/);
    expect(names.get('/ünïcödé/group')).toMatch(/^events-unicode-group-/);
    expect(names.get('/日本語/ロググループ')).toMatch(/^events-x-[0-9a-f]{12}\.jsonl\.gz$/);
  });

  test('names differing only in case, or in a trailing slash, get different artifacts; metrics and events never share one', () => {
    expect(artifactName('events', '/aws/lambda/neuroca-api')).not.toBe(artifactName('events', '/aws/lambda/Neuroca-API'));
    expect(artifactName('events', 'a/')).not.toBe(artifactName('events', 'a'));
    expect(artifactName('metrics', 'system')).not.toBe(artifactName('events', 'system'));
    expect(isArtifactOf('events', '/aws/lambda/neuroca-api', artifactName('events', '/neuroca/audit'))).toBe(false);
  });
});
