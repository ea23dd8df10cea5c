/**
 * The logs component's artifacts: gzip JSON Lines, one object per line, streamed both ways (bounded
 * memory: a line at a time, never a whole file).
 *
 *   events (one artifact per log group and backup):
 *     {"timestamp":1764464400000,"ingestionTime":1764464400123,"logStream":"2026/11/30/[$LATEST]ab12","message":"…","eventId":"3842…"}
 *   metrics (one artifact per metric set and backup):
 *     {"namespace":"NCA/Memory","metricName":"Latency","dimensions":{"Tier":"working"},"stat":"Average","period":60,"timestamp":1764464400000,"value":12.5}
 *
 * ORDER. Events are ordered by timestamp (ties in the order read), which is the order FilterLogEvents
 * returns them in ("sorted by event timestamp, the timestamp when the event was ingested …, and the ID of
 * the PutLogEvents request"): the writer streams them as read, with no sort and no buffer, even though the
 * backup keeps them by ingestion time (windows.ts). Timestamp order is also what a restore needs:
 * PutLogEvents takes a batch in chronological order by timestamp, and the Athena layout partitions by the
 * timestamp's date. The writer refuses an event out of order (an artifact it could not restore in
 * batches is never stored), and the reader refuses a file out of order.
 *
 * The reader reads a file like untrusted input: each line must be one JSON object with exactly the fields
 * above, of the right types and ranges (and, given the manifest's window, an ingestion time inside it);
 * a line longer than any event could make is refused before it is held whole. Every refusal is an
 * IntegrityError naming the artifact and the line number, never quoting a message.
 */
import { createGunzip, createGzip } from 'node:zlib';
import { pipeline, Readable } from 'node:stream';
import { IntegrityError } from '../../core/errors';
import { inWindow } from './windows';

const COMPONENT = 'logs';
export const EVENTS_CONTENT_TYPE = 'application/vnd.nca-backup.log-events+jsonl';
export const METRICS_CONTENT_TYPE = 'application/vnd.nca-backup.metric-datapoints+jsonl';

/** A log event as FilterLogEvents returns it (FilteredLogEvent), with the stream named `logStream`. */
export interface LogEvent {
  readonly timestamp: number;
  readonly ingestionTime: number;
  readonly logStream: string;
  readonly message: string;
  readonly eventId: string;
}

/** One datapoint of one metric statistic, as GetMetricData returns it (a timestamp and value of a MetricDataResult). */
export interface MetricDatapoint {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly stat: string;
  /** Seconds. */
  readonly period: number;
  readonly timestamp: number;
  readonly value: number;
}

/** What an artifact holds, for the manifest: counts and bytes, and the time span of what it holds. */
export interface ArtifactStats {
  count: number;
  /** Uncompressed JSON Lines bytes (the stored size is the artifact record's). */
  bytes: number;
  /** Smallest and largest timestamp (events and datapoints), and ingestion time (events); undefined when empty. */
  firstTimestamp?: number;
  lastTimestamp?: number;
  firstIngestionTime?: number;
  lastIngestionTime?: number;
}

/**
 * The longest line a valid event can make: a message of at most 1 MiB of UTF-8 (PutLogEvents' event
 * limit), which JSON may grow sixfold (`\u0000` for each control byte), plus the other fields.
 */
export const MAX_LINE_BYTES = 6 * 1024 * 1024 + 4096;
const MAX_STREAM_NAME = 512;
const MAX_ID = 256;
const MAX_METRIC_NAME = 255;
const MAX_DIMENSIONS = 30;

type Check = (value: Record<string, unknown>) => string | undefined;

const EVENT_FIELDS = ['timestamp', 'ingestionTime', 'logStream', 'message', 'eventId'] as const;
const METRIC_FIELDS = ['namespace', 'metricName', 'dimensions', 'stat', 'period', 'timestamp', 'value'] as const;

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;

function fieldsProblem(value: Record<string, unknown>, fields: readonly string[]): string | undefined {
  const unknown = Object.keys(value).find((k) => !fields.includes(k));
  if (unknown !== undefined) return `has a field ${JSON.stringify(unknown.slice(0, 40))} this format does not write`;
  const missing = fields.find((f) => !(f in value));
  return missing === undefined ? undefined : `has no ${missing}`;
}

/** Why a value is not a log event this format holds, or undefined. */
const eventProblem: Check = (e) =>
  fieldsProblem(e, EVENT_FIELDS) ??
  (!isTime(e.timestamp) ? 'has a timestamp that is not a time in ms'
  : !isTime(e.ingestionTime) ? 'has an ingestionTime that is not a time in ms'
  // The log stream pattern of the API: 1 to 512 characters, no ':' or '*'.
  : !isText(e.logStream, MAX_STREAM_NAME) || /[:*]/.test(e.logStream) ? 'has a logStream that is not a log stream name'
  : typeof e.message !== 'string' || e.message === '' ? 'has no message (the API never returns an empty one)'
  : !isText(e.eventId, MAX_ID) ? 'has no eventId'
  : undefined);

/** Why a value is not a datapoint this format holds, or undefined. */
const datapointProblem: Check = (d) => {
  const fields = fieldsProblem(d, METRIC_FIELDS);
  if (fields) return fields;
  if (!isText(d.namespace, MAX_METRIC_NAME)) return 'has no namespace';
  if (!isText(d.metricName, MAX_METRIC_NAME)) return 'has no metricName';
  const dims = d.dimensions;
  if (typeof dims !== 'object' || dims === null || Array.isArray(dims)) return 'has dimensions that are not an object';
  const entries = Object.entries(dims);
  if (entries.length > MAX_DIMENSIONS || entries.some(([k, v]) => !isText(k, MAX_METRIC_NAME) || !isText(v, 1024))) return 'has dimensions that are not up to 30 names with values';
  if (!isText(d.stat, 100)) return 'has no stat';
  if (!Number.isSafeInteger(d.period) || (d.period as number) <= 0) return 'has a period that is not a positive number of seconds';
  if (!isTime(d.timestamp)) return 'has a timestamp that is not a time in ms';
  if (typeof d.value !== 'number' || !Number.isFinite(d.value)) return 'has a value that is not a finite number';
  return undefined;
};

/** The fixed-order object written for an event, so equal events make equal bytes. */
const eventLine = (e: LogEvent) => JSON.stringify({ timestamp: e.timestamp, ingestionTime: e.ingestionTime, logStream: e.logStream, message: e.message, eventId: e.eventId });
const datapointLine = (d: MetricDatapoint) =>
  JSON.stringify({ namespace: d.namespace, metricName: d.metricName, dimensions: Object.fromEntries(Object.entries(d.dimensions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), stat: d.stat, period: d.period, timestamp: d.timestamp, value: d.value });

export interface WriteOptions {
  /** The artifact's name, for errors. */
  readonly artifact: string;
  /** The backup's window of this source: an event whose ingestion time is outside it is a defect, refused. */
  readonly window?: { readonly start: number; readonly end: number };
}

interface Codec<T> {
  readonly what: string;
  readonly problem: Check;
  readonly line: (value: T) => string;
  /** The time the artifact is ordered by, or undefined when it has no required order. */
  readonly order?: (value: T) => number;
  /** The time the window is over. */
  readonly windowTime: (value: T) => number;
}

const EVENTS: Codec<LogEvent> = { what: 'event', problem: eventProblem, line: eventLine, order: (e) => e.timestamp, windowTime: (e) => e.ingestionTime };
// Datapoints are written as GetMetricData pages them (per metric); their window is over the period's timestamp.
const DATAPOINTS: Codec<MetricDatapoint> = { what: 'datapoint', problem: datapointProblem, line: datapointLine, windowTime: (d) => d.timestamp };

function record(stats: ArtifactStats, timestamp: number, ingestionTime: number | undefined, bytes: number): void {
  stats.count++;
  stats.bytes += bytes;
  stats.firstTimestamp = Math.min(stats.firstTimestamp ?? timestamp, timestamp);
  stats.lastTimestamp = Math.max(stats.lastTimestamp ?? timestamp, timestamp);
  if (ingestionTime !== undefined) {
    stats.firstIngestionTime = Math.min(stats.firstIngestionTime ?? ingestionTime, ingestionTime);
    stats.lastIngestionTime = Math.max(stats.lastIngestionTime ?? ingestionTime, ingestionTime);
  }
}

/**
 * Lines go to gzip in batches of about this many bytes: zlib works each write on the thread pool, and a
 * write per line (a few hundred bytes) spends most of the time handing work over (about 16,000 events/s
 * against 100,000+ batched). The batch is the only thing held besides the stream buffers.
 */
const BATCH_BYTES = 64 * 1024;

function write<T extends LogEvent | MetricDatapoint>(codec: Codec<T>, values: AsyncIterable<T> | Iterable<T>, options: WriteOptions): { body: Readable; stats: ArtifactStats } {
  const stats: ArtifactStats = { count: 0, bytes: 0 };
  const refuse = (n: number, why: string) => new IntegrityError(`${options.artifact}: ${codec.what} ${n} ${why}; nothing was stored.`, { component: COMPONENT, hint: 'This is a defect of nca-backup or the source returned what its API never does: report it with the artifact named.' });
  async function* lines(): AsyncGenerator<Buffer> {
    let previous = -Infinity;
    let batch: Buffer[] = [];
    let batchBytes = 0;
    for await (const value of values) {
      const n = stats.count + 1;
      const problem = codec.problem(value as unknown as Record<string, unknown>);
      if (problem) throw refuse(n, problem);
      if (codec.order) {
        const at = codec.order(value);
        if (at < previous) throw refuse(n, `is stamped ${at}, before the ${codec.what} preceding it (${previous}): the source did not return them in timestamp order`);
        previous = at;
      }
      if (options.window && !inWindow(codec.windowTime(value), options.window)) throw refuse(n, `is outside the backup's window [${options.window.start}, ${options.window.end})`);
      const line = Buffer.from(`${codec.line(value)}\n`, 'utf8');
      if (line.length > MAX_LINE_BYTES) throw refuse(n, `makes a line of ${line.length} bytes, more than the reader accepts (${MAX_LINE_BYTES})`);
      record(stats, (value as { timestamp: number }).timestamp, (value as Partial<LogEvent>).ingestionTime, line.length);
      batch.push(line);
      batchBytes += line.length;
      if (batchBytes >= BATCH_BYTES) {
        yield Buffer.concat(batch);
        batch = [];
        batchBytes = 0;
      }
    }
    if (batch.length) yield Buffer.concat(batch);
  }
  // pipeline, not pipe: a refusal in the generator must fail the stored body, not end it early and cleanly.
  const body = pipeline(Readable.from(lines()), createGzip(), () => undefined);
  return { body, stats };
}

/** The events artifact of one log group: a gzip JSON Lines stream, and its stats (final once the stream has ended). */
export function writeEvents(events: AsyncIterable<LogEvent> | Iterable<LogEvent>, options: WriteOptions): { body: Readable; stats: ArtifactStats } {
  return write(EVENTS, events, options);
}

/** The datapoints artifact of one metric set. */
export function writeDatapoints(datapoints: AsyncIterable<MetricDatapoint> | Iterable<MetricDatapoint>, options: WriteOptions): { body: Readable; stats: ArtifactStats } {
  return write(DATAPOINTS, datapoints, options);
}

// ---------------------------------------------------------------- reading

export interface ReadOptions {
  readonly artifact: string;
  readonly backupId?: string;
  /** The manifest's window of this source: a value outside it is refused. */
  readonly window?: { readonly start: number; readonly end: number };
  /** The manifest's count: a file with more or fewer values is refused when it ends. */
  readonly count?: number;
  /** Filled while reading: what the file held so far. */
  readonly stats?: ArtifactStats;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The lines of a gzip stream, each at most MAX_LINE_BYTES, held one at a time. */
async function* gzipLines(stream: Readable, refuse: (n: number, why: string) => Error): AsyncGenerator<{ n: number; text: string }> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let n = 0;
  const decode = (bytes: Buffer) => {
    try {
      return utf8.decode(bytes);
    } catch {
      throw refuse(n, 'is not UTF-8 text');
    }
  };
  const gunzip = createGunzip();
  const plain = pipeline(stream, gunzip, () => undefined);
  try {
    for await (const chunk of plain as AsyncIterable<Buffer>) {
      let at = 0;
      for (let nl = chunk.indexOf(10, at); nl >= 0; nl = chunk.indexOf(10, at)) {
        n++;
        const piece = chunk.subarray(at, nl);
        if (pendingBytes + piece.length > MAX_LINE_BYTES) throw refuse(n, `is longer than any ${MAX_LINE_BYTES}-byte line this format writes`);
        const line = pending.length ? Buffer.concat([...pending, piece]) : piece;
        pending = [];
        pendingBytes = 0;
        yield { n, text: decode(line) };
        at = nl + 1;
      }
      if (at < chunk.length) {
        const rest = chunk.subarray(at);
        pendingBytes += rest.length;
        if (pendingBytes > MAX_LINE_BYTES) throw refuse(n + 1, `is longer than any ${MAX_LINE_BYTES}-byte line this format writes`);
        pending.push(Buffer.from(rest));
      }
    }
  } catch (error) {
    if (error instanceof IntegrityError) throw error;
    throw refuse(n + 1, `cannot be read: ${(error as Error).message} (damaged or not gzip)`);
  }
  if (pendingBytes > 0) throw refuse(n + 1, 'does not end with a line break (the file is cut short)');
}

async function* read<T extends LogEvent | MetricDatapoint>(codec: Codec<T>, stream: Readable, options: ReadOptions): AsyncGenerator<T> {
  const stats = options.stats ?? { count: 0, bytes: 0 };
  const refuse = (n: number, why: string) => new IntegrityError(`${options.artifact} line ${n} ${why}; nothing after it was restored.`, { component: COMPONENT, backupId: options.backupId, hint: 'The artifact was damaged or not written by nca-backup; restore from another backup.' });
  let previous = -Infinity;
  for await (const { n, text } of gzipLines(stream, refuse)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw refuse(n, 'is not JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refuse(n, `is not a JSON object`);
    const problem = codec.problem(value as Record<string, unknown>);
    if (problem) throw refuse(n, problem);
    const typed = value as T;
    if (codec.order) {
      const at = codec.order(typed);
      if (at < previous) throw refuse(n, `is stamped before the line preceding it: the file is not in timestamp order`);
      previous = at;
    }
    if (options.window && !inWindow(codec.windowTime(typed), options.window)) throw refuse(n, `is outside the backup's window [${options.window.start}, ${options.window.end})`);
    if (options.count !== undefined && stats.count >= options.count) throw refuse(n, `is one more ${codec.what} than the manifest's ${options.count}`);
    record(stats, typed.timestamp, (typed as Partial<LogEvent>).ingestionTime, Buffer.byteLength(text, 'utf8') + 1);
    yield typed;
  }
  if (options.count !== undefined && stats.count !== options.count) throw refuse(stats.count + 1, `is the end, after ${stats.count} ${codec.what}s; the manifest records ${options.count}`);
}

/** The events of an events artifact, one at a time, each checked; the stream fails with an IntegrityError at the first bad line. */
export function readEvents(stream: Readable, options: ReadOptions): AsyncGenerator<LogEvent> {
  return read(EVENTS, stream, options);
}

/** The datapoints of a metrics artifact, one at a time, each checked. */
export function readDatapoints(stream: Readable, options: ReadOptions): AsyncGenerator<MetricDatapoint> {
  return read(DATAPOINTS, stream, options);
}
