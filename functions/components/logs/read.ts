/**
 * Reads one log group's window (windows.ts) out of CloudWatch Logs into its events artifact (format.ts).
 *
 * SELECTION. FilterLogEvents selects by event timestamp, so the reader asks for `queryRange(window)` (the
 * window widened by the 14-day and 2-hour arrival horizons) and keeps exactly the events whose ingestion
 * time is in [start, end) (`inWindow`). Every other event it reads is counted (`scanned`) and dropped.
 *
 * PAGING. It follows nextToken until a page comes without one, the documented end condition; a page may
 * hold no events and still carry a token (the service stops searching after a while), and is followed
 * like any other. An event ingested while the listing runs is either behind the cursor (missed) or after
 * the window's end (dropped): the window ended a settle delay before now, so neither loses an event of it.
 *
 * ORDER AND MEMORY. FilterLogEvents returns the events of all streams interleaved, "sorted by event
 * timestamp, the timestamp when the event was ingested by CloudWatch Logs, and the ID of the PutLogEvents
 * request" (API reference), which is the order the artifact keeps (format.ts). The reader streams them as
 * they come, with no sort: it holds the page being written and the next one being fetched (each at most
 * 10,000 events and 1 MB of messages), whatever the window's size. A page out of that order is not
 * reordered (that would take the whole window in memory or on disk): the writer refuses it with an
 * IntegrityError naming the artifact, and nothing is stored.
 *
 * FAILURES. Throttling is retried by the SDK's standard retry (clients.ts: 8 attempts); still throttled
 * after those, or a 5xx, it is a TransientError the workflow retries. A group that does not exist is an
 * InvalidInputError naming it, never an empty artifact: a configured group that vanished must not look
 * like a quiet day. A refusal is an AccessDeniedError naming the group.
 */
import { FilterLogEventsCommand, type CloudWatchLogsClient, type FilterLogEventsCommandOutput, type FilteredLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import type { Readable } from 'node:stream';
import { AccessDeniedError, IntegrityError, InvalidInputError, NcaBackupError, StorageError, TransientError } from '../../core/errors';
import { s3FailureKind } from '../../core/s3-errors';
import { writeEvents, type ArtifactStats, type LogEvent } from './format';
import { inWindow, lateVisible, queryRange, tailSince, type Window } from './windows';

const COMPONENT = 'logs';
/** FilterLogEvents' largest page. */
export const MAX_PAGE_EVENTS = 10_000;

/** What a previous backup recorded about its window of this group: the late-visibility check's input. */
export interface PreviousTail {
  readonly window: Pick<Window, 'start' | 'end'>;
  readonly tail: { readonly since: number; readonly count: number };
}

export interface LogGroupExportOptions {
  /** The artifact's name, for errors. */
  readonly artifact: string;
  /** How late an event may arrive and still be found (windows.ts queryRange). @default LATE_ARRIVAL_MS (14 days) */
  readonly lateArrivalMs?: number;
  /** The previous complete backup's record of this group, to count the events of its window that became visible after it read. @default no check */
  readonly previous?: PreviousTail;
  /** Events per FilterLogEvents page (tests make pages small). @default MAX_PAGE_EVENTS */
  readonly pageLimit?: number;
}

/** What the manifest records per log group, filled while the body is read; final once `complete` is true. */
export interface LogGroupExportStats {
  readonly group: string;
  readonly window: Pick<Window, 'start' | 'end'>;
  /** The FilterLogEvents timestamp range read, both ends inclusive. */
  readonly scan: { readonly startTime: number; readonly endTime: number };
  /** The artifact: events kept (ingested in the window), their uncompressed bytes and time span. */
  readonly artifact: ArtifactStats;
  /** FilterLogEvents pages read, empty ones included. */
  pages: number;
  /** Events read, kept or not. */
  scanned: number;
  /** For the next backup's late-visibility check (windows.ts tailSince): the kept events stamped at or after `since`. */
  readonly tail: { readonly since: number; count: number };
  /**
   * With `previous`: the events now seen ingested in the previous window and stamped at or after its tail's
   * `since`. Left undefined (the check not made, for the engine to say so) when this scan starts after that
   * `since`, as it does when lateArrivalMs was lowered between the two backups.
   */
  previousSeen?: number;
  /** With `previous`: how many of those the previous backup did not see (windows.ts lateVisible); more than 0 means events in no backup. */
  lateVisible?: number;
  /** True once the last page was read and every kept event written. */
  complete: boolean;
}

/** The typed error for a failed FilterLogEvents call about `group`. */
export function logsFailure(error: unknown, group: string): Error {
  if (error instanceof NcaBackupError) return error;
  const e = (error ?? {}) as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const detail = `${e.name ?? 'Error'}: ${String(e.message ?? error).slice(0, 300)}`;
  const context = { component: COMPONENT };
  if (e.name === 'ResourceNotFoundException') {
    return new InvalidInputError(`the log group ${JSON.stringify(group)} does not exist (${detail}).`, {
      ...context,
      hint: 'A configured log group that vanished is not a group without events: recreate it, or remove it from backup.sources.logs.',
    });
  }
  // LimitExceededException is CloudWatch Logs' "too many concurrent requests": a retry later succeeds.
  const kind = e.name === 'LimitExceededException' ? 'transient' : s3FailureKind(error);
  if (kind === 'transient') return new TransientError(`CloudWatch Logs failed while reading the log group ${JSON.stringify(group)}: ${detail}.`, { ...context, hint: 'A retry may succeed.' });
  if (kind === 'denied') return new AccessDeniedError(`CloudWatch Logs refused reading the log group ${JSON.stringify(group)}: ${detail}.`, { ...context, hint: "Check the worker role's logs:FilterLogEvents grant for this log group." });
  return Object.assign(new StorageError(`CloudWatch Logs failed while reading the log group ${JSON.stringify(group)}: ${detail}.`, context), { cause: error });
}

/**
 * An event as the artifact keeps it. Without its times it could not even be placed in a window (it would be
 * dropped unseen), so that is refused here; another field the API left out stays empty for the writer to refuse.
 */
function logEvent(e: FilteredLogEvent, group: string): LogEvent {
  if (typeof e.timestamp !== 'number' || typeof e.ingestionTime !== 'number') {
    throw new IntegrityError(`CloudWatch Logs returned an event of the log group ${JSON.stringify(group)} without its timestamp or ingestion time; nothing was stored.`, { component: COMPONENT });
  }
  return { timestamp: e.timestamp, ingestionTime: e.ingestionTime, logStream: e.logStreamName ?? '', message: e.message ?? '', eventId: e.eventId ?? '' };
}

/** The events of the group ingested in the window, in FilterLogEvents' order, counting into `stats`. */
async function* windowEvents(client: CloudWatchLogsClient, group: string, window: Pick<Window, 'start' | 'end'>, options: LogGroupExportOptions, stats: LogGroupExportStats): AsyncGenerator<LogEvent> {
  const limit = options.pageLimit ?? MAX_PAGE_EVENTS;
  // A scan that starts after the previous tail's `since` (lateArrivalMs lowered since) cannot count that tail whole: no check rather than a false all-clear.
  const previous = options.previous && options.previous.tail.since >= stats.scan.startTime ? options.previous : undefined;
  const fetchPage = (nextToken: string | undefined): Promise<FilterLogEventsCommandOutput> => {
    const page = client.send(new FilterLogEventsCommand({ logGroupName: group, startTime: stats.scan.startTime, endTime: stats.scan.endTime, limit, nextToken })).catch((error: unknown) => {
      throw logsFailure(error, group);
    });
    // Fetched ahead while the previous page is written; if the body is abandoned meanwhile, nobody awaits it.
    page.catch(() => undefined);
    return page;
  };
  if (previous) stats.previousSeen = 0;
  let next: Promise<FilterLogEventsCommandOutput> | undefined = fetchPage(undefined);
  while (next) {
    const page: FilterLogEventsCommandOutput = await next;
    stats.pages++;
    next = page.nextToken ? fetchPage(page.nextToken) : undefined;
    for (const raw of page.events ?? []) {
      stats.scanned++;
      const event = logEvent(raw, group);
      if (previous && inWindow(event.ingestionTime, previous.window) && event.timestamp >= previous.tail.since) stats.previousSeen!++;
      if (!inWindow(event.ingestionTime, window)) continue;
      if (event.timestamp >= stats.tail.since) stats.tail.count++;
      yield event;
    }
  }
  if (previous) stats.lateVisible = lateVisible(previous.tail, stats.previousSeen!);
  stats.complete = true;
}

/**
 * The events artifact of one log group's window: a gzip JSON Lines body to store (it fails with a typed
 * error when reading fails, so a failed read is never stored as a short file) and its stats, final once the
 * body has ended (`complete`). Reading starts when the body is first read and follows its pace.
 */
export function exportLogGroupWindow(client: CloudWatchLogsClient, group: string, window: Pick<Window, 'start' | 'end'>, options: LogGroupExportOptions): { body: Readable; stats: LogGroupExportStats } {
  const lateArrival = { lateArrivalMs: options.lateArrivalMs };
  if (options.pageLimit !== undefined && (!Number.isSafeInteger(options.pageLimit) || options.pageLimit < 1 || options.pageLimit > MAX_PAGE_EVENTS)) {
    throw new InvalidInputError(`the FilterLogEvents page limit must be 1 to ${MAX_PAGE_EVENTS}, not ${JSON.stringify(options.pageLimit)}.`, { component: COMPONENT });
  }
  const stats: { -readonly [K in keyof LogGroupExportStats]: LogGroupExportStats[K] } = {
    group,
    window: { start: window.start, end: window.end },
    scan: queryRange(window, lateArrival),
    artifact: { count: 0, bytes: 0 },
    pages: 0,
    scanned: 0,
    tail: { since: tailSince(window, lateArrival), count: 0 },
    complete: false,
  };
  // The generator's body runs on the body's first read, after the writer's stats are in place.
  const written = writeEvents(windowEvents(client, group, window, options, stats), { artifact: options.artifact, window });
  stats.artifact = written.stats;
  return { body: written.body, stats };
}
