/**
 * A restore into a log group: the events of an artifact (format.ts's reader, timestamp order) written back
 * with PutLogEvents, one log stream per original stream.
 *
 * STREAM NAMES. A restored stream keeps its original name by default: the target is a log group of its
 * own (the engine names it), so the names cannot clash there, a reader finds `2026/11/30/[$LATEST]ab12` as
 * it knew it, and any prefix (`restored/…`) could push a 512-character name over the limit. The group
 * itself says it was restored. `streamName` maps names otherwise; two originals mapped onto one name are
 * refused, since their events would interleave in one stream. An existing group or stream is written into
 * (ResourceAlreadyExists is fine): a second run into the same group duplicates what the first one wrote.
 *
 * MEMORY. The artifact interleaves all streams, so each stream holds at most its one pending batch
 * (putlog-batches.ts's rules: 10,000 events, 1 MiB, under 24 hours, in order), and a batch is sent as soon
 * as the next event of its stream would break a limit. Any number of streams may be pending at once, but
 * never more than `maxBufferedBytes` (counted as PutLogEvents counts them) in all: beyond it the fullest
 * pending batch is sent early, smaller than it could be. So memory is about maxBufferedBytes plus one
 * batch, plus a name and a count per stream seen. One PutLogEvents is in flight at a time: a stream's
 * batches must arrive in order, and one call already carries up to 1 MiB.
 *
 * REJECTIONS. PutLogEvents keeps the events it accepts and lists the others in rejectedLogEventsInfo (too
 * old, older than the retention, too new). The engine decides before writing, with `acceptance`, whether a
 * log group can take the whole range; any rejection that still happens means the range is not restored
 * whole, so it fails the restore with LogEventsRejectedError, naming the group, the stream, and what
 * every stream holds so far (the caller must know what is already in the group). Throttling is retried by
 * the SDK (the client's retry strategy); what remains after it is a TransientError.
 */
import { CreateLogGroupCommand, CreateLogStreamCommand, PutLogEventsCommand, type CloudWatchLogsClient, type RejectedLogEventsInfo } from '@aws-sdk/client-cloudwatch-logs';
import { AccessDeniedError, InvalidInputError, NcaBackupError, TransientError, type ErrorContext } from '../../core/errors';
import { s3FailureKind } from '../../core/s3-errors';
import type { LogEvent } from './format';
import { checkedEventBytes, closesBatch, PUT_LOG_EVENTS_LIMITS, type InputLogEvent, type PutLogEventsLimits } from './putlog-batches';

const COMPONENT = 'logs';
/** CreateLogGroup's pattern (API reference). */
const GROUP_NAME = /^[.\-_/#A-Za-z0-9]{1,512}$/;
/** CreateLogStream's: 1 to 512 characters, no ':' or '*'. */
const STREAM_NAME = /^[^:*]{1,512}$/u;

export interface LogGroupRestoreOptions {
  /** The restored stream's name for an original stream's. @default the original name */
  readonly streamName?: (original: string) => string;
  /** Bytes pending in all streams' batches before the fullest is sent early. @default 8 MiB */
  readonly maxBufferedBytes?: number;
  /** @default PUT_LOG_EVENTS_LIMITS */
  readonly limits?: PutLogEventsLimits;
  /** For errors. */
  readonly backupId?: string;
}

/** What one original stream became. */
export interface RestoredStream {
  readonly logStream: string;
  readonly restoredAs: string;
  readonly events: number;
  readonly batches: number;
}

export interface LogGroupRestoreResult {
  readonly logGroup: string;
  /** False when the group existed already. */
  readonly created: boolean;
  /** By original name, in the order first seen. */
  readonly streams: readonly RestoredStream[];
  readonly events: number;
}

export interface RejectedEvents {
  readonly tooOld: number;
  readonly expired: number;
  readonly tooNew: number;
}

/**
 * PutLogEvents rejected events of a restore. `written` is what each stream holds from this restore
 * (including what the rejecting call kept), so the operator knows what to delete before another attempt.
 * Its name stays InvalidInputError (the target cannot take the range: restore it to files instead).
 */
export class LogEventsRejectedError extends InvalidInputError {
  constructor(
    readonly logGroup: string,
    readonly logStream: string,
    /** Events of this stream written before the rejecting call. */
    readonly writtenBefore: number,
    readonly rejected: RejectedEvents,
    readonly written: readonly RestoredStream[],
    context: ErrorContext,
  ) {
    const total = written.reduce((sum, s) => sum + s.events, 0);
    const reasons = [
      rejected.tooOld && `${rejected.tooOld} more than 14 days old`,
      rejected.expired && `${rejected.expired} older than the group's retention`,
      rejected.tooNew && `${rejected.tooNew} more than 2 hours ahead`,
    ].filter(Boolean);
    super(
      `PutLogEvents into log group ${JSON.stringify(logGroup)}, stream ${JSON.stringify(logStream)} rejected events (${reasons.join(', ')}) after ${writtenBefore} events of that stream were written; ` +
        `the restore stopped with ${total} events in ${written.length} streams of the group: ${written.map((s) => `${JSON.stringify(s.restoredAs)} ${s.events}`).join(', ')}.`,
      { ...context, hint: 'Restore this range to files (targetPrefix) instead; the events listed are in the group already, so another attempt into it duplicates them.' },
    );
  }
}

interface Pending {
  readonly logStream: string;
  readonly restoredAs: string;
  batch: InputLogEvent[];
  bytes: number;
  events: number;
  batches: number;
  created: boolean;
}

function logsFailure(error: unknown, doing: string, context: ErrorContext): Error {
  if (error instanceof NcaBackupError) return error;
  const e = (error ?? {}) as { name?: string; message?: string };
  const detail = `${String(e.message ?? error).slice(0, 300)}${e.name ? ` (${e.name})` : ''}`;
  switch (s3FailureKind(error)) {
    case 'transient':
      return new TransientError(`CloudWatch Logs failed while ${doing}: ${detail}.`, { ...context, hint: 'A retry may succeed.' });
    case 'denied':
      return new AccessDeniedError(`CloudWatch Logs refused ${doing}: ${detail}.`, { ...context, hint: "Check the role's logs:CreateLogGroup, logs:CreateLogStream and logs:PutLogEvents permissions on the target group." });
    default:
      return Object.assign(new InvalidInputError(`CloudWatch Logs refused ${doing}: ${detail}.`, context), { cause: error });
  }
}

const alreadyExists = (error: unknown) => (error as { name?: string })?.name === 'ResourceAlreadyExistsException';

/** The number of events PutLogEvents rejected in a batch of `size`, by reason (the indexes bound a prefix or a suffix). */
function rejectedOf(info: RejectedLogEventsInfo, size: number): RejectedEvents & { kept: number } {
  const oldEnd = Math.max(info.tooOldLogEventEndIndex ?? 0, info.expiredLogEventEndIndex ?? 0);
  const newStart = info.tooNewLogEventStartIndex ?? size;
  const tooNew = size - newStart;
  return { tooOld: info.tooOldLogEventEndIndex ?? 0, expired: Math.max(0, (info.expiredLogEventEndIndex ?? 0) - (info.tooOldLogEventEndIndex ?? 0)), tooNew, kept: Math.max(0, newStart - oldEnd) };
}

/** Writes the events into `logGroup` (created when missing), one stream per original stream; returns the counts per stream. */
export async function restoreToLogGroup(client: CloudWatchLogsClient, logGroup: string, events: AsyncIterable<LogEvent> | Iterable<LogEvent>, options: LogGroupRestoreOptions = {}): Promise<LogGroupRestoreResult> {
  const context: ErrorContext = { component: COMPONENT, backupId: options.backupId };
  if (!GROUP_NAME.test(logGroup)) {
    throw new InvalidInputError(`the target log group ${JSON.stringify(logGroup)} is not a log group name: 1 to 512 of A-Z a-z 0-9 . _ - / #.`, context);
  }
  const limits = options.limits ?? PUT_LOG_EVENTS_LIMITS;
  const maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  const nameOf = options.streamName ?? ((original: string) => original);

  let created = true;
  try {
    await client.send(new CreateLogGroupCommand({ logGroupName: logGroup }));
  } catch (error) {
    if (!alreadyExists(error)) throw logsFailure(error, `creating log group ${JSON.stringify(logGroup)}`, context);
    created = false;
  }

  const streams = new Map<string, Pending>();
  const owners = new Map<string, string>();
  let buffered = 0;
  const counts = (): RestoredStream[] => [...streams.values()].map((s) => ({ logStream: s.logStream, restoredAs: s.restoredAs, events: s.events, batches: s.batches }));

  function streamOf(original: string): Pending {
    const known = streams.get(original);
    if (known) return known;
    const restoredAs = nameOf(original);
    if (!STREAM_NAME.test(restoredAs)) throw new InvalidInputError(`the restored name ${JSON.stringify(restoredAs)} of log stream ${JSON.stringify(original)} is not a log stream name (1 to 512 characters, no ':' or '*').`, context);
    const other = owners.get(restoredAs);
    if (other !== undefined) throw new InvalidInputError(`log streams ${JSON.stringify(other)} and ${JSON.stringify(original)} would both be restored as ${JSON.stringify(restoredAs)}.`, context);
    owners.set(restoredAs, original);
    const pending: Pending = { logStream: original, restoredAs, batch: [], bytes: 0, events: 0, batches: 0, created: false };
    streams.set(original, pending);
    return pending;
  }

  async function send(stream: Pending): Promise<void> {
    const batch = stream.batch;
    if (batch.length === 0) return;
    buffered -= stream.bytes;
    stream.batch = [];
    stream.bytes = 0;
    const where = `log group ${JSON.stringify(logGroup)}, stream ${JSON.stringify(stream.restoredAs)}`;
    if (!stream.created) {
      try {
        await client.send(new CreateLogStreamCommand({ logGroupName: logGroup, logStreamName: stream.restoredAs }));
      } catch (error) {
        if (!alreadyExists(error)) throw logsFailure(error, `creating ${where}`, context);
      }
      stream.created = true;
    }
    let answer;
    try {
      answer = await client.send(new PutLogEventsCommand({ logGroupName: logGroup, logStreamName: stream.restoredAs, logEvents: batch }));
    } catch (error) {
      const total = [...streams.values()].reduce((sum, s) => sum + s.events, 0);
      throw logsFailure(error, `writing ${batch.length} events into ${where} after ${stream.events} of that stream (${total} events of this restore are in the group)`, context);
    }
    const info = answer.rejectedLogEventsInfo;
    if (info && (info.tooOldLogEventEndIndex !== undefined || info.expiredLogEventEndIndex !== undefined || info.tooNewLogEventStartIndex !== undefined)) {
      const { kept, ...rejected } = rejectedOf(info, batch.length);
      const before = stream.events;
      stream.events += kept;
      stream.batches++;
      throw new LogEventsRejectedError(logGroup, stream.restoredAs, before, rejected, counts(), context);
    }
    stream.events += batch.length;
    stream.batches++;
  }

  let n = 0;
  for await (const event of events) {
    const stream = streamOf(event.logStream);
    const input: InputLogEvent = { timestamp: event.timestamp, message: event.message };
    const size = checkedEventBytes(input, ++n, limits);
    if (closesBatch(stream.batch, stream.bytes, input, size, limits)) await send(stream);
    stream.batch.push(input);
    stream.bytes += size;
    buffered += size;
    while (buffered > maxBuffered) {
      let fullest = stream;
      for (const s of streams.values()) if (s.bytes > fullest.bytes) fullest = s;
      await send(fullest);
    }
  }
  for (const stream of streams.values()) await send(stream);
  const restored = counts();
  return { logGroup, created, streams: restored, events: restored.reduce((sum, s) => sum + s.events, 0) };
}
