/**
 * Restoring events into a log group: whether the group still accepts them, and batches PutLogEvents takes.
 *
 * PutLogEvents (API reference) takes a batch of at most 10,000 events and 1,048,576 bytes, counted as the
 * sum of the messages in UTF-8 plus 26 bytes per event; the events in chronological order by timestamp;
 * the batch spanning at most 24 hours. It rejects events more than 2 hours in the future, more than 14 days
 * in the past, or older than the group's retention. Old timestamps cannot be rewritten, so a restore writes
 * into a log group only when every event of its range is still accepted (acceptance), and otherwise to
 * files (athena.ts): it never drops the rejected part of a range silently.
 *
 * The splitter never reorders (that would need the whole range in memory): it streams, and closes a batch
 * whenever the next event would break a limit, including the order (an event stamped before the last one
 * starts a new batch). Read from an artifact (timestamp order, format.ts) the batches are as full as the
 * limits allow. "At most 24 hours" is taken strictly (a batch's last timestamp is less than 24 hours after
 * its first): the documentation says "cannot span more than 24 hours" and a batch refused for the last
 * millisecond would fail the restore.
 */
import { InvalidInputError } from '../../core/errors';
import { DAY_MS, EARLY_ARRIVAL_MS, HOUR_MS, iso, LATE_ARRIVAL_MS } from './windows';

const COMPONENT = 'logs';

export interface PutLogEventsLimits {
  /** @default 10,000 */
  readonly maxEvents: number;
  /** @default 1,048,576 */
  readonly maxBytes: number;
  /** Bytes counted per event beside its message. @default 26 */
  readonly eventOverheadBytes: number;
  /** A batch's last timestamp is less than this after its first. @default 24 hours */
  readonly maxSpanMs: number;
}

export const PUT_LOG_EVENTS_LIMITS: PutLogEventsLimits = { maxEvents: 10_000, maxBytes: 1_048_576, eventOverheadBytes: 26, maxSpanMs: DAY_MS };

/** What PutLogEvents takes (InputLogEvent). */
export interface InputLogEvent {
  readonly timestamp: number;
  readonly message: string;
}

export interface Batch<E extends InputLogEvent> {
  readonly events: E[];
  /** As PutLogEvents counts them. */
  readonly bytes: number;
}

/** What PutLogEvents counts for one event. */
export function eventBytes(event: InputLogEvent, limits: PutLogEventsLimits = PUT_LOG_EVENTS_LIMITS): number {
  return Buffer.byteLength(event.message, 'utf8') + limits.eventOverheadBytes;
}

/** What PutLogEvents counts for the n-th event; refuses an event it never takes (no time, no message, more than a batch holds). */
export function checkedEventBytes(event: InputLogEvent, n: number, limits: PutLogEventsLimits = PUT_LOG_EVENTS_LIMITS): number {
  if (!Number.isSafeInteger(event.timestamp) || event.timestamp < 0) throw new InvalidInputError(`event ${n} has a timestamp ${JSON.stringify(event.timestamp)} that is not a time.`, { component: COMPONENT });
  if (typeof event.message !== 'string' || event.message === '') throw new InvalidInputError(`event ${n} (${iso(event.timestamp)}) has no message; PutLogEvents takes none empty.`, { component: COMPONENT });
  const size = eventBytes(event, limits);
  if (size > limits.maxBytes) {
    throw new InvalidInputError(`event ${n} (${iso(event.timestamp)}) counts ${size} bytes, more than a PutLogEvents batch holds (${limits.maxBytes}).`, { component: COMPONENT, hint: 'Restore this range to files (targetPrefix) instead.' });
  }
  return size;
}

/** Whether an event of `size` bytes must start a new batch after `batch` (of `bytes`): it would break a limit or the order. */
export function closesBatch(batch: readonly InputLogEvent[], bytes: number, event: InputLogEvent, size: number, limits: PutLogEventsLimits = PUT_LOG_EVENTS_LIMITS): boolean {
  if (batch.length === 0) return false;
  const first = batch[0].timestamp;
  const last = batch[batch.length - 1].timestamp;
  return batch.length >= limits.maxEvents || bytes + size > limits.maxBytes || event.timestamp - first >= limits.maxSpanMs || event.timestamp < last;
}

/** The events, in the order given, as batches within PutLogEvents' limits; streamed (one batch held at a time). */
export async function* putLogEventsBatches<E extends InputLogEvent>(events: AsyncIterable<E> | Iterable<E>, limits: PutLogEventsLimits = PUT_LOG_EVENTS_LIMITS): AsyncGenerator<Batch<E>> {
  let batch: E[] = [];
  let bytes = 0;
  let n = 0;
  for await (const event of events) {
    const size = checkedEventBytes(event, ++n, limits);
    if (closesBatch(batch, bytes, event, size, limits)) {
      yield { events: batch, bytes };
      batch = [];
      bytes = 0;
    }
    batch.push(event);
    bytes += size;
  }
  if (batch.length > 0) yield { events: batch, bytes };
}

export interface TargetGroup {
  /** The target log group's retention in days; undefined when it never expires (or when it is created by the restore without one). */
  readonly retentionDays?: number;
}

export type Acceptance = { readonly accepted: true } | { readonly accepted: false; readonly reason: string };

/**
 * Whether a log group accepts every event stamped in [first, last] if the restore writes them now.
 * `marginMs` is how long the restore may take: an event barely inside the 14 days (or the retention) when
 * checked could be outside by the time its batch is sent, and PutLogEvents would reject it then.
 */
export function acceptance(range: { readonly firstTimestamp?: number; readonly lastTimestamp?: number }, now: number, target: TargetGroup = {}, options: { readonly marginMs?: number } = {}): Acceptance {
  if (range.firstTimestamp === undefined || range.lastTimestamp === undefined) return { accepted: true }; // nothing to write
  const margin = options.marginMs ?? HOUR_MS;
  const retention = target.retentionDays === undefined ? Infinity : target.retentionDays * DAY_MS;
  const horizon = Math.min(LATE_ARRIVAL_MS, retention);
  const oldest = now - horizon + margin;
  if (range.firstTimestamp < oldest) {
    const why = retention < LATE_ARRIVAL_MS ? `the target group's retention (${target.retentionDays} days)` : 'the 14 days PutLogEvents accepts';
    return { accepted: false, reason: `the oldest event (${iso(range.firstTimestamp)}) is older than ${why}, less the restore's margin: it would be rejected.` };
  }
  if (range.lastTimestamp > now + EARLY_ARRIVAL_MS) {
    return { accepted: false, reason: `the newest event (${iso(range.lastTimestamp)}) is more than 2 hours ahead of now: it would be rejected.` };
  }
  return { accepted: true };
}
