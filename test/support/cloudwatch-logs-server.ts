/**
 * A local stand-in for Amazon CloudWatch Logs, speaking its AWS JSON 1.1 protocol over HTTP (POST /, header
 * X-Amz-Target: Logs_20140328.<Operation>, errors as {"__type", "message"}), for `@aws-sdk/client-cloudwatch-logs`
 * pointed at it with `endpoint`. Shapes, limits and error texts follow the CloudWatch Logs API reference (and
 * the messages the service is known to answer with):
 *
 * - CreateLogGroup (name 1 to 512 of `[.\-_/#A-Za-z0-9]`; ResourceAlreadyExistsException), DeleteLogGroup,
 *   DescribeLogGroups (logGroupNamePrefix or logGroupNamePattern (substring, case-insensitive), limit 1 to 50,
 *   nextToken; sorted by name; each with logGroupName, arn (`…:log-group:<name>:*`), logGroupArn,
 *   creationTime, retentionInDays, storedBytes, metricFilterCount 0, logGroupClass STANDARD),
 *   PutRetentionPolicy / DeleteRetentionPolicy (only the values the service allows), CreateLogStream
 *   (name without `:` or `*`), DescribeLogStreams (logStreamNamePrefix, limit, nextToken; by name only).
 * - PutLogEvents: 1 to 10,000 events; a batch of at most 1,048,576 bytes counted as each message's UTF-8
 *   bytes + 26 ("Upload too large: …"), an event of at most 1 MB counted the same way ("Log event too
 *   large: …"); events in chronological order ("Log events in a single PutLogEvents request must be in
 *   chronological order."). Then, as the service does today, it keeps the valid events and reports the
 *   others in rejectedLogEventsInfo: more than 14 days before the server's clock → `tooOldLogEventEndIndex`
 *   (exclusive end of that prefix), before the group's retention period → `expiredLogEventEndIndex` (same),
 *   more than 2 hours after the clock → `tooNewLogEventStartIndex` (inclusive start of that suffix); the
 *   valid ones may span at most 24 hours ("The batch of log events in a single PutLogEvents request cannot
 *   span more than 24 hours.", nothing kept). The sequence token is ignored and no nextSequenceToken is
 *   answered (both deprecated). Each kept event gets the clock's time as `ingestionTime`.
 * - FilterLogEvents: logGroupName or logGroupIdentifier (name or ARN; exactly one), logStreamNames (1 to
 *   100) or logStreamNamePrefix (not both), startTime inclusive and endTime INCLUSIVE ("Events with a
 *   timestamp later than this time are not returned"), limit 1 to 10,000; events of all streams
 *   interleaved, ordered by timestamp, then ingestion time, then the PutLogEvents request; startFromHead
 *   false (newest first) is refused with a startTime before 2024-01-01 as documented. A page holds at most
 *   `limit` events and 1 MB; nextToken is absent exactly when nothing more matches at that moment (the
 *   documented end condition); `pages.maxEvents` makes pages smaller and `pages.emptyFirst` answers that
 *   many empty pages with a nextToken first, as the service may. A nextToken continues after the last
 *   event returned, so an event ingested mid-listing with an earlier timestamp is not in that listing (the
 *   API reference promises nothing either way: a client that must see every event windows by ingestion
 *   time as well).
 * - GetLogEvents: one stream; startTime inclusive, endTime EXCLUSIVE ("equal to or later than this time
 *   are not included"); startFromHead (default false: the newest page first); nextForwardToken `f/…` and
 *   nextBackwardToken `b/…` never null; at either end the token passed in is answered again unchanged,
 *   which is how a client knows it is done. A forward token sent without startFromHead true is refused
 *   (the API reference says it must be true).
 * - ResourceNotFoundException ("The specified log group does not exist." / "… log stream …") wherever a
 *   group or stream is named; InvalidParameterException for the rest.
 *
 * Test hooks: `clock` is the server's "now" (the real time until a test sets it); `putEvents` stores events
 * with a chosen ingestion time, without PutLogEvents' checks (a late-arriving event is one whose
 * ingestionTime is well after its timestamp), creating the group and stream when missing; `eventsOf` reads
 * a group back; `failNext(n, status, type)` answers the next n calls with that error (default 400
 * ThrottlingException, which the SDK's standard retry retries).
 *
 * Limits of the substitute: signatures are not verified (`calls` records whether a request was SigV4-signed
 * for `logs`), no IAM or resource policies, no KMS keys (kmsKeyId is ignored), no filter patterns (a
 * non-empty filterPattern is refused), no metric or subscription filters, no Logs Insights, Live Tail,
 * data protection, transformers, tags, log group classes or cross-account identifiers; retention is checked
 * on PutLogEvents but old events are never deleted; tokens do not expire after 24 hours; storedBytes counts
 * uncompressed message bytes at once (the service's is compressed and lags); no per-account quotas or
 * real throttling; state lives in memory and is lost when it stops; only the operations listed exist.
 *
 * Scale: a group's events are kept in one array in FilterLogEvents order (and each stream's in its own),
 * appended as they arrive and merged into order when next read, so a page is found by binary search and
 * costs its own events, not the group's: FilterLogEvents and GetLogEvents over a group of ten million
 * events answer each page in bounded memory (bench/logs.ts). Event ids are derived from the order of
 * arrival when answered rather than stored.
 */
import { ACCOUNT, AwsJsonError, REGION, page, serverClock, startJsonService, type JsonService, type ServerClock } from './aws-json-service';

export interface StoredLogEvent {
  readonly logStreamName: string;
  readonly timestamp: number;
  readonly message: string;
  readonly ingestionTime: number;
  readonly eventId: string;
  /** Order among events with the same timestamp and ingestion time: the PutLogEvents request, then the index. */
  readonly seq: number;
}

export interface CloudWatchLogsServer extends JsonService {
  readonly clock: ServerClock;
  /** Stores events as they are, with a chosen ingestion time (default: the clock), creating group and stream. */
  putEvents(logGroupName: string, logStreamName: string, events: readonly { timestamp: number; message: string; ingestionTime?: number }[]): void;
  /** A group's events in FilterLogEvents order (empty for a missing group). */
  eventsOf(logGroupName: string): StoredLogEvent[];
}

export interface CloudWatchLogsServerOptions {
  /** How FilterLogEvents pages, within what the request allows. */
  pages?: {
    /** At most this many events in a page. @default 10000 */
    maxEvents?: number;
    /** Answer this many empty pages with a nextToken before the first events of each listing. @default 0 */
    emptyFirst?: number;
  };
}

const DAY = 24 * 60 * 60 * 1000;
const HOUR = 60 * 60 * 1000;
const MAX_BATCH_EVENTS = 10_000;
const MAX_BATCH_BYTES = 1_048_576;
const MAX_EVENT_BYTES = 1_048_576;
const EVENT_OVERHEAD = 26;
const MAX_PAGE_BYTES = 1_048_576;
const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];
const GROUP_NAME = /^[.\-_/#A-Za-z0-9]{1,512}$/;
const STREAM_NAME = /^[^:*]{1,512}$/;
const GROUP_ARN = /^arn:aws:logs:[a-z0-9-]+:\d{12}:log-group:([^:]+)(?::\*)?$/;
// Descending FilterLogEvents needs a startTime on or after this, per the API reference.
const DESCENDING_SINCE = Date.UTC(2024, 0, 1);

/** An event as kept: its id is derived from `seq` when answered (ten million stored ids would be ~1 GB). */
interface KeptEvent {
  readonly logStreamName: string;
  readonly timestamp: number;
  readonly message: string;
  readonly ingestionTime: number;
  readonly seq: number;
}

type Key = readonly [number, number, number];
const keyOf = (e: KeptEvent): Key => [e.timestamp, e.ingestionTime, e.seq];
function compare(a: Key, b: Key): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}
const order = (a: KeptEvent, b: KeptEvent) => a.timestamp - b.timestamp || a.ingestionTime - b.ingestionTime || a.seq - b.seq;
const eventIdOf = (seq: number) => String(seq).padStart(56, '0');

/** The first index in [0, n) where `pred` (false, then true, along the array) holds; n when it never does. */
function firstWhere(n: number, pred: (i: number) => boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pred(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Events in FilterLogEvents order, cheap to add to at any scale: new events wait in `pending` and are
 * merged in (one linear pass, after sorting only the new ones) on the next read, instead of each late
 * event being spliced into the middle of millions.
 */
class EventList {
  private ordered: KeptEvent[] = [];
  private pending: KeptEvent[] = [];

  add(event: KeptEvent): void {
    this.pending.push(event);
  }

  /** Every event, in order; read-only for the caller. */
  get all(): readonly KeptEvent[] {
    if (this.pending.length === 0) return this.ordered;
    const added = this.pending.sort(order);
    this.pending = [];
    const had = this.ordered;
    if (had.length === 0 || order(had[had.length - 1], added[0]) < 0) {
      for (const e of added) had.push(e);
      return had;
    }
    const merged: KeptEvent[] = new Array(had.length + added.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < had.length && j < added.length) merged[k++] = order(had[i], added[j]) <= 0 ? had[i++] : added[j++];
    while (i < had.length) merged[k++] = had[i++];
    while (j < added.length) merged[k++] = added[j++];
    this.ordered = merged;
    return merged;
  }
}

interface LogStream {
  readonly name: string;
  readonly creationTime: number;
  /** The stream's events, sorted by (timestamp, ingestionTime, seq). */
  readonly events: EventList;
  /** The latest ingestion time of its events (DescribeLogStreams). */
  lastIngestionTime?: number;
}

interface LogGroup {
  readonly name: string;
  readonly creationTime: number;
  retentionInDays?: number;
  readonly streams: Map<string, LogStream>;
  /** Every stream's events together, in FilterLogEvents order. */
  readonly events: EventList;
  /** Uncompressed message bytes of its events. */
  storedBytes: number;
}

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

function invalid(message: string): AwsJsonError {
  return new AwsJsonError('InvalidParameterException', message);
}

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
function decode(token: string): unknown {
  try {
    return JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function optionalTime(input: Record<string, unknown>, field: string): number | undefined {
  const value = input[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw invalid(`1 validation error detected: Value '${String(value)}' at '${field}' failed to satisfy constraint: Member must have value greater than or equal to 0`);
  return value;
}

function limitOf(input: Record<string, unknown>, max: number): number {
  const value = input.limit;
  if (value === undefined) return max;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw invalid(`1 validation error detected: Value '${String(value)}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to ${max}`);
  }
  return value;
}

/** Fills a page in order until `limit` events or 1 MB (message bytes + 26 each), from events as they come. */
function fill(events: Iterable<KeptEvent>, limit: number): KeptEvent[] {
  const out: KeptEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = utf8(event.message) + EVENT_OVERHEAD;
    if (out.length === limit || (out.length > 0 && bytes + size > MAX_PAGE_BYTES)) break;
    out.push(event);
    bytes += size;
  }
  return out;
}

/** The events of `list` from index `from` stepping by `step` (1 or -1) while `keep` holds, skipping those `match` refuses. */
function* walk(list: readonly KeptEvent[], from: number, step: 1 | -1, keep: (e: KeptEvent) => boolean, match: (e: KeptEvent) => boolean = () => true): Generator<KeptEvent> {
  for (let i = from; i >= 0 && i < list.length; i += step) {
    const e = list[i];
    if (!keep(e)) return;
    if (match(e)) yield e;
  }
}

/**
 * A GetLogEvents position: between events, as a boundary key. A forward token lists the events after it,
 * a backward token those before it; `head`/`tail` are the stream's ends; `incl` makes the key itself count.
 */
interface Boundary {
  dir: 'f' | 'b';
  key: Key | 'head' | 'tail';
  incl: boolean;
}
const tokenOf = (b: Boundary) => `${b.dir}/${encode({ key: b.key, incl: b.incl })}`;
function boundaryOf(token: string): Boundary {
  const dir = token.slice(0, 2);
  const body = decode(token.slice(2)) as { key?: unknown; incl?: unknown } | undefined;
  const key = body?.key;
  const validKey = key === 'head' || key === 'tail' || (Array.isArray(key) && key.length === 3 && key.every((n) => typeof n === 'number'));
  if ((dir !== 'f/' && dir !== 'b/') || !validKey || typeof body?.incl !== 'boolean') throw invalid('The specified nextToken is invalid.');
  return { dir: dir === 'f/' ? 'f' : 'b', key: key as Boundary['key'], incl: body.incl };
}
function after(b: Boundary, e: KeptEvent): boolean {
  if (b.key === 'head') return true;
  if (b.key === 'tail') return false;
  const c = compare(keyOf(e), b.key);
  return c > 0 || (b.incl && c === 0);
}
function before(b: Boundary, e: KeptEvent): boolean {
  if (b.key === 'tail') return true;
  if (b.key === 'head') return false;
  const c = compare(keyOf(e), b.key);
  return c < 0 || (b.incl && c === 0);
}

export async function startCloudWatchLogsServer(options: CloudWatchLogsServerOptions = {}): Promise<CloudWatchLogsServer> {
  const clock = serverClock();
  const groups = new Map<string, LogGroup>();
  const pageEvents = options.pages?.maxEvents ?? MAX_BATCH_EVENTS;
  const emptyFirst = options.pages?.emptyFirst ?? 0;
  let seq = 0;

  const groupArn = (name: string) => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${name}`;

  function create(name: string, creationTime = clock.now()): LogGroup {
    const group: LogGroup = { name, creationTime, streams: new Map(), events: new EventList(), storedBytes: 0 };
    groups.set(name, group);
    return group;
  }

  function groupNamed(name: string): LogGroup {
    const group = groups.get(name);
    if (!group) throw new AwsJsonError('ResourceNotFoundException', 'The specified log group does not exist.');
    return group;
  }

  function streamNamed(group: LogGroup, name: string): LogStream {
    const stream = group.streams.get(name);
    if (!stream) throw new AwsJsonError('ResourceNotFoundException', 'The specified log stream does not exist.');
    return stream;
  }

  function nameField(input: Record<string, unknown>, field: string, pattern: RegExp): string {
    const value = input[field];
    if (typeof value !== 'string' || !pattern.test(value)) throw invalid(`1 validation error detected: Value '${String(value)}' at '${field}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${pattern.source}`);
    return value;
  }

  /** logGroupName or logGroupIdentifier (a name or an ARN), exactly one, as the reading operations take it. */
  function targetGroup(input: Record<string, unknown>): LogGroup {
    const { logGroupName: name, logGroupIdentifier: identifier } = input;
    if ((name === undefined) === (identifier === undefined)) throw invalid('LogGroupName and LogGroupIdentifier are mutually exclusive: specify exactly one of them.');
    if (name !== undefined) return groupNamed(nameField(input, 'logGroupName', GROUP_NAME));
    const text = String(identifier);
    const arn = GROUP_ARN.exec(text);
    if (arn && !text.includes(`:${ACCOUNT}:`)) throw new AwsJsonError('ResourceNotFoundException', 'The specified log group does not exist.');
    return groupNamed(arn ? arn[1] : text);
  }

  function newStream(name: string): LogStream {
    return { name, creationTime: clock.now(), events: new EventList() };
  }

  function store(group: LogGroup, stream: LogStream, events: readonly { timestamp: number; message: string; ingestionTime: number }[]): void {
    for (const event of events) {
      const kept: KeptEvent = { logStreamName: stream.name, timestamp: event.timestamp, message: event.message, ingestionTime: event.ingestionTime, seq: ++seq };
      // Late events land among older ones when next read, as the service sorts by event time.
      stream.events.add(kept);
      group.events.add(kept);
      group.storedBytes += utf8(event.message);
      if (stream.lastIngestionTime === undefined || event.ingestionTime > stream.lastIngestionTime) stream.lastIngestionTime = event.ingestionTime;
    }
  }

  function describeGroup(group: LogGroup) {
    return {
      logGroupName: group.name,
      creationTime: group.creationTime,
      ...(group.retentionInDays !== undefined ? { retentionInDays: group.retentionInDays } : {}),
      metricFilterCount: 0,
      arn: `${groupArn(group.name)}:*`,
      logGroupArn: groupArn(group.name),
      storedBytes: group.storedBytes,
      logGroupClass: 'STANDARD',
    };
  }

  const operations = {
    CreateLogGroup(input: Record<string, unknown>) {
      const name = nameField(input, 'logGroupName', GROUP_NAME);
      if (groups.has(name)) throw new AwsJsonError('ResourceAlreadyExistsException', 'The specified log group already exists');
      create(name);
      return {};
    },

    DeleteLogGroup(input: Record<string, unknown>) {
      const name = nameField(input, 'logGroupName', GROUP_NAME);
      groupNamed(name);
      groups.delete(name);
      return {};
    },

    DescribeLogGroups(input: Record<string, unknown>) {
      const { logGroupNamePrefix: prefix, logGroupNamePattern: pattern } = input;
      if (prefix !== undefined && pattern !== undefined) throw invalid('LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive.');
      const limit = limitOf(input, 50);
      const matching = [...groups.values()]
        .filter((g) => (typeof prefix === 'string' ? g.name.startsWith(prefix) : true))
        .filter((g) => (typeof pattern === 'string' ? g.name.toLowerCase().includes(pattern.toLowerCase()) : true))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const listed = page(matching, (g) => g.name, { maxResults: limit, nextToken: input.nextToken }, 'InvalidParameterException');
      return { logGroups: listed.items.map(describeGroup), ...(listed.nextToken ? { nextToken: listed.nextToken } : {}) };
    },

    PutRetentionPolicy(input: Record<string, unknown>) {
      const group = groupNamed(nameField(input, 'logGroupName', GROUP_NAME));
      const days = input.retentionInDays;
      if (typeof days !== 'number' || !RETENTION_DAYS.includes(days)) {
        throw invalid(`1 validation error detected: Value '${String(days)}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [${RETENTION_DAYS.join(', ')}]`);
      }
      group.retentionInDays = days;
      return {};
    },

    DeleteRetentionPolicy(input: Record<string, unknown>) {
      delete groupNamed(nameField(input, 'logGroupName', GROUP_NAME)).retentionInDays;
      return {};
    },

    CreateLogStream(input: Record<string, unknown>) {
      const group = groupNamed(nameField(input, 'logGroupName', GROUP_NAME));
      const name = nameField(input, 'logStreamName', STREAM_NAME);
      if (group.streams.has(name)) throw new AwsJsonError('ResourceAlreadyExistsException', 'The specified log stream already exists');
      group.streams.set(name, newStream(name));
      return {};
    },

    DescribeLogStreams(input: Record<string, unknown>) {
      const group = targetGroup(input);
      if (input.orderBy !== undefined && input.orderBy !== 'LogStreamName') throw invalid('orderBy LastEventTime is not supported by this substitute');
      if (input.descending === true) throw invalid('descending is not supported by this substitute');
      const prefix = typeof input.logStreamNamePrefix === 'string' ? input.logStreamNamePrefix : '';
      const streams = [...group.streams.values()].filter((s) => s.name.startsWith(prefix)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const listed = page(streams, (s) => s.name, { maxResults: limitOf(input, 50), nextToken: input.nextToken }, 'InvalidParameterException');
      return {
        logStreams: listed.items.map((s) => ({
          logStreamName: s.name,
          creationTime: s.creationTime,
          arn: `${groupArn(group.name)}:log-stream:${s.name}`,
          storedBytes: 0,
          ...(s.events.all.length
            ? {
                firstEventTimestamp: s.events.all[0].timestamp,
                lastEventTimestamp: s.events.all[s.events.all.length - 1].timestamp,
                lastIngestionTime: s.lastIngestionTime,
              }
            : {}),
        })),
        ...(listed.nextToken ? { nextToken: listed.nextToken } : {}),
      };
    },

    PutLogEvents(input: Record<string, unknown>) {
      const group = groupNamed(nameField(input, 'logGroupName', GROUP_NAME));
      const stream = streamNamed(group, nameField(input, 'logStreamName', STREAM_NAME));
      const events = input.logEvents;
      if (!Array.isArray(events) || events.length < 1 || events.length > MAX_BATCH_EVENTS) {
        throw invalid(`1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length less than or equal to ${MAX_BATCH_EVENTS} and greater than or equal to 1`);
      }
      let batch = 0;
      events.forEach((event: { timestamp?: unknown; message?: unknown }, i) => {
        if (typeof event?.timestamp !== 'number' || !Number.isInteger(event.timestamp) || typeof event.message !== 'string' || event.message === '') {
          throw invalid(`1 validation error detected: Value at 'logEvents.${i + 1}.member' failed to satisfy constraint: timestamp and a non-empty message are required`);
        }
        const size = utf8(event.message) + EVENT_OVERHEAD;
        if (size > MAX_EVENT_BYTES) throw invalid(`Log event too large: ${size} bytes exceeds limit of ${MAX_EVENT_BYTES}`);
        batch += size;
      });
      if (batch > MAX_BATCH_BYTES) throw invalid(`Upload too large: ${batch} bytes exceeds limit of ${MAX_BATCH_BYTES}`);
      const timestamps = (events as { timestamp: number }[]).map((e) => e.timestamp);
      if (timestamps.some((t, i) => i > 0 && t < timestamps[i - 1])) throw invalid('Log events in a single PutLogEvents request must be in chronological order.');

      const now = clock.now();
      const count = (predicate: (t: number) => boolean) => timestamps.filter(predicate).length;
      const tooOld = count((t) => t < now - 14 * DAY);
      const expired = group.retentionInDays === undefined ? 0 : count((t) => t < now - group.retentionInDays! * DAY);
      const firstTooNew = timestamps.findIndex((t) => t > now + 2 * HOUR);
      const start = Math.max(tooOld, expired);
      const end = firstTooNew < 0 ? timestamps.length : firstTooNew;
      const valid = (events as { timestamp: number; message: string }[]).slice(start, Math.max(start, end));
      if (valid.length > 0 && valid[valid.length - 1].timestamp - valid[0].timestamp > DAY) {
        throw invalid('The batch of log events in a single PutLogEvents request cannot span more than 24 hours.');
      }
      store(group, stream, valid.map((e) => ({ timestamp: e.timestamp, message: e.message, ingestionTime: now })));
      const rejected = {
        ...(firstTooNew >= 0 ? { tooNewLogEventStartIndex: firstTooNew } : {}),
        ...(tooOld > 0 ? { tooOldLogEventEndIndex: tooOld } : {}),
        ...(expired > 0 ? { expiredLogEventEndIndex: expired } : {}),
      };
      return Object.keys(rejected).length ? { rejectedLogEventsInfo: rejected } : {};
    },

    FilterLogEvents(input: Record<string, unknown>) {
      const group = targetGroup(input);
      const { logStreamNames: names, logStreamNamePrefix: prefix, filterPattern } = input;
      if (names !== undefined && prefix !== undefined) throw invalid('logStreamNames and logStreamNamePrefix are mutually exclusive.');
      if (names !== undefined && (!Array.isArray(names) || names.length < 1 || names.length > 100)) {
        throw invalid("1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1");
      }
      if (typeof filterPattern === 'string' && filterPattern.trim() !== '') throw invalid('filterPattern is not supported by this substitute');
      const startTime = optionalTime(input, 'startTime');
      const endTime = optionalTime(input, 'endTime');
      const limit = limitOf(input, MAX_BATCH_EVENTS);
      let cursor: { after?: Key; descending: boolean; empties: number } = { descending: input.startFromHead === false, empties: 0 };
      if (input.nextToken !== undefined) {
        const token = decode(String(input.nextToken)) as typeof cursor | undefined;
        if (typeof token?.descending !== 'boolean' || typeof token.empties !== 'number') throw invalid('The specified nextToken is invalid.');
        cursor = token;
      } else if (cursor.descending && (startTime === undefined || startTime < DESCENDING_SINCE)) {
        throw invalid('startFromHead false is supported only with a startTime on or after Jan 1, 2024 00:00:00 UTC.');
      }
      const inStreams = Array.isArray(names) ? (n: string) => names.includes(n) : typeof prefix === 'string' ? (n: string) => n.startsWith(prefix) : undefined;
      const match = inStreams ? (e: KeptEvent) => inStreams(e.logStreamName) : undefined;
      // The page starts by binary search (after the token's key, within the time range) and reads only its events.
      const all = group.events.all;
      const mark = cursor.after;
      let from: number;
      let keep: (e: KeptEvent) => boolean;
      if (!cursor.descending) {
        from = Math.max(startTime === undefined ? 0 : firstWhere(all.length, (i) => all[i].timestamp >= startTime), mark ? firstWhere(all.length, (i) => compare(keyOf(all[i]), mark) > 0) : 0);
        keep = (e) => endTime === undefined || e.timestamp <= endTime;
      } else {
        from = Math.min(endTime === undefined ? all.length : firstWhere(all.length, (i) => all[i].timestamp > endTime), mark ? firstWhere(all.length, (i) => compare(keyOf(all[i]), mark) >= 0) : all.length) - 1;
        keep = (e) => startTime === undefined || e.timestamp >= startTime;
      }
      const matching = () => walk(all, from, cursor.descending ? -1 : 1, keep, match);
      const any = (events: Iterable<KeptEvent>) => !events[Symbol.iterator]().next().done;
      if (cursor.empties < emptyFirst && any(matching())) {
        return { events: [], searchedLogStreams: [], nextToken: encode({ ...cursor, empties: cursor.empties + 1 }) };
      }
      const events = fill(matching(), Math.min(limit, pageEvents));
      const last = events[events.length - 1];
      // More exactly when a matching event follows the last one returned.
      const lastAt = last && firstWhere(all.length, (i) => compare(keyOf(all[i]), keyOf(last)) >= 0);
      const more = last !== undefined && any(walk(all, lastAt + (cursor.descending ? -1 : 1), cursor.descending ? -1 : 1, keep, match));
      return {
        events: events.map((e) => ({ logStreamName: e.logStreamName, timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime, eventId: eventIdOf(e.seq) })),
        searchedLogStreams: [],
        ...(more ? { nextToken: encode({ ...cursor, after: keyOf(last) }) } : {}),
      };
    },

    GetLogEvents(input: Record<string, unknown>) {
      const group = targetGroup(input);
      const stream = streamNamed(group, nameField(input, 'logStreamName', STREAM_NAME));
      const startTime = optionalTime(input, 'startTime');
      const endTime = optionalTime(input, 'endTime');
      const limit = limitOf(input, MAX_BATCH_EVENTS);
      const passed = input.nextToken === undefined ? undefined : String(input.nextToken);
      let from: Boundary;
      if (passed === undefined) from = input.startFromHead === true ? { dir: 'f', key: 'head', incl: false } : { dir: 'b', key: 'tail', incl: false };
      else {
        from = boundaryOf(passed);
        if (from.dir === 'f' && input.startFromHead !== true) throw invalid('startFromHead must be true when nextToken is a nextForwardToken.');
      }
      // Binary search to the boundary and the time range; a page reads only its own events.
      const list = stream.events.all;
      let events: KeptEvent[];
      if (from.dir === 'f') {
        const start = Math.max(startTime === undefined ? 0 : firstWhere(list.length, (i) => list[i].timestamp >= startTime), firstWhere(list.length, (i) => after(from, list[i])));
        events = fill(walk(list, start, 1, (e) => endTime === undefined || e.timestamp < endTime), limit);
      } else {
        const end = Math.min(endTime === undefined ? list.length : firstWhere(list.length, (i) => list[i].timestamp >= endTime), firstWhere(list.length, (i) => !before(from, list[i])));
        events = fill(walk(list, end - 1, -1, (e) => startTime === undefined || e.timestamp >= startTime), limit).reverse();
      }
      let nextForwardToken: string;
      let nextBackwardToken: string;
      if (events.length > 0) {
        nextForwardToken = tokenOf({ dir: 'f', key: keyOf(events[events.length - 1]), incl: false });
        nextBackwardToken = tokenOf({ dir: 'b', key: keyOf(events[0]), incl: false });
      } else {
        // At the end in the direction read: that direction's token comes back as it was passed.
        const same = passed ?? tokenOf(from);
        const other = tokenOf({ dir: from.dir === 'f' ? 'b' : 'f', key: from.key, incl: !from.incl });
        nextForwardToken = from.dir === 'f' ? same : other;
        nextBackwardToken = from.dir === 'b' ? same : other;
      }
      return { events: events.map((e) => ({ timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime })), nextForwardToken, nextBackwardToken };
    },
  };

  const service = await startJsonService({
    targetPrefix: 'Logs_20140328',
    signingName: 'logs',
    messageMember: 'message',
    internalError: 'ServiceUnavailableException',
    operations,
    nameOf: (input) => (typeof input.logGroupName === 'string' ? input.logGroupName : typeof input.logGroupIdentifier === 'string' ? input.logGroupIdentifier : undefined),
  });

  return {
    ...service,
    clock,
    putEvents(logGroupName, logStreamName, events) {
      const group = groups.get(logGroupName) ?? create(logGroupName);
      let stream = group.streams.get(logStreamName);
      if (!stream) {
        stream = newStream(logStreamName);
        group.streams.set(logStreamName, stream);
      }
      store(group, stream, events.map((e) => ({ timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime ?? clock.now() })));
    },
    eventsOf(logGroupName) {
      const group = groups.get(logGroupName);
      return group ? group.events.all.map((e) => ({ ...e, eventId: eventIdOf(e.seq) })) : [];
    },
  };
}
