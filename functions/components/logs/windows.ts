/**
 * The window chain of the logs component: which part of each source (a log group, or a metric set) a
 * backup exports, so that consecutive backups export every event exactly once.
 *
 * A backup covers, per source, the half-open window [start, end) in milliseconds since the epoch:
 *   start = the `end` of the same source's window in the latest complete backup (its manifest), or, for a
 *           source no backup has covered yet, now - lookback;
 *   end   = now - settle.
 * Consecutive windows therefore meet exactly (no gap, no overlap), and an instant belongs to one window.
 *
 * WHICH TIME. Log windows are over INGESTION time, not the event timestamp. CloudWatch Logs accepts an event
 * whose timestamp is up to 14 days in the past (or its group's retention) and up to 2 hours in the future
 * (PutLogEvents API reference), so a window over event timestamps can never be final: an event stamped
 * yesterday may arrive next week, after yesterday's window was exported, and would be in no backup. The
 * ingestion time is assigned by the service when the event arrives ("the time the event was ingested",
 * FilteredLogEvent), so once the service's clock has passed a window's end (plus the settle delay below),
 * nothing new can land in it.
 *
 * EXACT SELECTION BY INGESTION TIME. Neither FilterLogEvents nor GetLogEvents selects by ingestion time:
 * their startTime/endTime select by event timestamp ("Events with a timestamp before this time are not
 * returned", FilterLogEvents; likewise GetLogEvents and CreateExportTask's from/to), and FilterLogEvents
 * returns events "sorted by event timestamp, the timestamp when the event was ingested by CloudWatch Logs,
 * and the ID of the PutLogEvents request". But every event the service accepted has
 *   ingestionTime - 14 days <= timestamp <= ingestionTime + 2 hours,
 * so all events with ingestionTime in [start, end) have a timestamp in [start - 14 days, end + 2 hours].
 * The backup asks FilterLogEvents for that timestamp range (queryRange, with a margin for clock skew
 * between the service's hosts) and keeps exactly the events whose ingestionTime is in [start, end)
 * (inWindow). COST: each backup reads up to 14 days + 2 hours + its own window of events by timestamp (or
 * the group's retention, if shorter: older events are gone) and discards all but its window's: for a daily
 * backup of a group keeping 14 days or more, about 15 times the events it keeps. That is the price of
 * exactness with these APIs; `lateArrivalMs` can narrow the scan, at the cost of missing events that
 * arrive more than that late (say so wherever it is lowered). The second backup's cost is therefore
 * proportional to the events of the last 14 days, not to the new events only.
 *
 * SETTLE DELAY. An event ingested just before `end` must already be visible to FilterLogEvents when the
 * backup reads, and the worker's clock (which computes `end`) may differ from the service's (which assigns
 * ingestionTime). AWS publishes no bound on how soon an ingested event is searchable; the closest it says
 * is that a log stream's lastIngestionTime "updates on an eventual consistency basis. It typically updates
 * in less than an hour after ingestion, but in rare situations might take longer" (LogStream, API
 * reference). The default settle delay is therefore one hour (DEFAULT_SETTLE_MS): on a daily schedule it
 * costs nothing but an hour of freshness, and it dwarfs clock skew (seconds). It is configurable.
 *
 * METRICS have no arrival time: GetMetricData selects and returns datapoints by the period's timestamp.
 * Their windows are over that timestamp, aligned to the period (a period is exported whole, once), and a
 * datapoint published for a period after its window was exported is in no backup. PutMetricData accepts
 * timestamps up to two weeks old, and AWS says data "timestamped 24 hours or more in the past may take in
 * excess of 48 hours to become available" (PutMetricData): such backfills are a documented limit.
 *
 * FIRST BACKUP. With no previous window, a source starts at now - lookback. The lookback defaults to the
 * group's retention (everything it still holds), capped at `maxLookbackMs` (default 14 days): a group that
 * never expires could otherwise make the first run read years of events in one worker run, and events
 * older than 14 days can never be written back into a log group anyway (PutLogEvents refuses them).
 *
 * FAILURE AND CONCURRENCY. A failed backup writes no manifest, so the next backup starts from the last
 * COMPLETE backup's end: the window never advances on failure, and a retry re-exports the same window
 * into a new backup. The engine holds the component's operation lock for the whole backup (read the
 * previous manifest, export, write the manifest): a second backup started meanwhile either waits for the
 * lock or is refused (OperationInProgressError); one that runs after the first completed reads the first's
 * manifest and starts from its end. `checkChain` (verify logs) proves the result afterwards.
 */
import { IntegrityError, InvalidInputError } from '../../core/errors';

const COMPONENT = 'logs';
export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/** CloudWatch Logs' acceptance horizon for old events (PutLogEvents): 14 days. */
export const LATE_ARRIVAL_MS = 14 * DAY_MS;
/** CloudWatch Logs' acceptance horizon for future events (PutLogEvents): 2 hours. */
export const EARLY_ARRIVAL_MS = 2 * HOUR_MS;
/** Slack on both ends of the timestamp scan for skew between the clocks that stamp and check events. */
export const SKEW_MARGIN_MS = 15 * MINUTE_MS;
export const DEFAULT_SETTLE_MS = HOUR_MS;
export const DEFAULT_MAX_LOOKBACK_MS = 14 * DAY_MS;

/** A source a backup covers: a log group (by name) or a metric set (by its configured id). */
export interface WindowSource {
  readonly id: string;
  readonly kind: 'log-group' | 'metrics';
  /** The log group's retention in days; undefined when it never expires (and for metrics). */
  readonly retentionDays?: number;
  /** Metrics: the period in ms; windows are aligned to it so that each period is exported whole, once. */
  readonly periodMs?: number;
}

export interface WindowOptions {
  /** Delay for late-visible events: a window ends this long before now. @default DEFAULT_SETTLE_MS (1 hour) */
  readonly settleMs?: number;
  /** First backup of a source: how far back it starts. @default the log group's retention, or maxLookbackMs for metrics and groups that never expire */
  readonly lookbackMs?: number;
  /** Upper bound of the first backup's lookback, whatever the retention or lookbackMs say. @default DEFAULT_MAX_LOOKBACK_MS (14 days) */
  readonly maxLookbackMs?: number;
}

/** One source's window of one backup, as its manifest records it. */
export interface Window {
  readonly source: string;
  /** Inclusive, ms since the epoch. */
  readonly start: number;
  /** Exclusive, ms since the epoch. */
  readonly end: number;
  /** Which time the window is over. */
  readonly basis: 'ingestion-time' | 'period-timestamp';
  /** True when the start came from the lookback, not from a previous backup's end. */
  readonly first: boolean;
}

/** The windows of one complete backup, in the form checkChain and coveringChain read. */
export interface BackupWindows {
  readonly backupId: string;
  readonly windows: readonly Pick<Window, 'source' | 'start' | 'end'>[];
}

function duration(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidInputError(`${name} must be a whole number of milliseconds, 0 or more, not ${JSON.stringify(value)}.`, { component: COMPONENT });
  return value;
}

const floorTo = (value: number, step: number | undefined) => (step ? Math.floor(value / step) * step : value);

/**
 * The windows of a backup taken at `now`: per source, from the previous complete backup's end (the latest
 * end recorded for that source: latestEnds) or the lookback, to now - settle. A window never starts before
 * the previous end nor ends before its start: when the previous end is later than now - settle (backups
 * closer together than the settle delay, or a clock that went back), the window is empty and the chain
 * still meets.
 */
export function planWindows(previous: readonly { source: string; end: number }[] | undefined, sources: readonly WindowSource[], now: number, options: WindowOptions = {}): Window[] {
  const settle = duration(options.settleMs, 'settle', DEFAULT_SETTLE_MS);
  const maxLookback = duration(options.maxLookbackMs, 'maxLookback', DEFAULT_MAX_LOOKBACK_MS);
  const lookback = options.lookbackMs === undefined ? undefined : duration(options.lookbackMs, 'lookback', 0);
  if (!Number.isSafeInteger(now) || now < 0) throw new InvalidInputError(`now must be a time in ms since the epoch, not ${JSON.stringify(now)}.`, { component: COMPONENT });

  const ends = new Map<string, number>();
  for (const p of previous ?? []) {
    if (!Number.isSafeInteger(p.end) || p.end < 0) throw new IntegrityError(`the previous backup records an end ${JSON.stringify(p.end)} for ${JSON.stringify(p.source)}, not a time.`, { component: COMPONENT });
    if (ends.has(p.source)) throw new IntegrityError(`the previous backup records two windows for ${JSON.stringify(p.source)}.`, { component: COMPONENT });
    ends.set(p.source, p.end);
  }
  const seen = new Set<string>();
  return sources.map((source): Window => {
    if (seen.has(source.id)) throw new InvalidInputError(`the source ${JSON.stringify(source.id)} is listed twice.`, { component: COMPONENT });
    seen.add(source.id);
    const step = source.kind === 'metrics' ? source.periodMs : undefined;
    if (step !== undefined && (!Number.isSafeInteger(step) || step <= 0)) throw new InvalidInputError(`the metric set ${JSON.stringify(source.id)} has a period of ${JSON.stringify(step)} ms, not a positive whole number.`, { component: COMPONENT });
    const basis = source.kind === 'metrics' ? 'period-timestamp' : 'ingestion-time';
    const previousEnd = ends.get(source.id);
    const end = floorTo(now - settle, step);
    if (previousEnd !== undefined) return { source: source.id, start: previousEnd, end: Math.max(previousEnd, end), basis, first: false };
    const retention = source.retentionDays === undefined ? Infinity : source.retentionDays * DAY_MS;
    const back = Math.min(lookback ?? retention, maxLookback);
    const start = floorTo(Math.max(0, now - back), step);
    return { source: source.id, start: Math.min(start, end), end, basis, first: true };
  });
}

/** Per source, the latest end any backup of the chain records: where the next backup starts (a source left out of one backup keeps its place). */
export function latestEnds(chain: readonly BackupWindows[]): { source: string; end: number }[] {
  const ends = new Map<string, number>();
  for (const backup of chain) for (const w of backup.windows) ends.set(w.source, Math.max(ends.get(w.source) ?? -Infinity, w.end));
  return [...ends].map(([source, end]) => ({ source, end }));
}

/** FilterLogEvents' timestamp range (startTime, endTime: both inclusive) that holds every event ingested in the window. */
export function queryRange(window: Pick<Window, 'start' | 'end'>, options: { lateArrivalMs?: number } = {}): { startTime: number; endTime: number } {
  const late = duration(options.lateArrivalMs, 'lateArrival', LATE_ARRIVAL_MS);
  return { startTime: Math.max(0, window.start - late - SKEW_MARGIN_MS), endTime: window.end + EARLY_ARRIVAL_MS + SKEW_MARGIN_MS };
}

/**
 * The settle delay's proof, for the engine to record and compare. The next backup's scan starts at
 * `tailSince(window)` and so sees again every event of this window stamped at or after it. A backup records
 * how many of its events those are (`{ since, count }` in its manifest); the next one counts the events it
 * sees with an ingestion time in this window. More than recorded means events that were not yet visible when
 * this window was read: the settle delay was too short, and they are in no backup. (Fewer is normal:
 * retention deletes old events.) The count is a lower bound of what was missed, and says it loudly.
 */
export function tailSince(window: Pick<Window, 'end'>, options: { lateArrivalMs?: number } = {}): number {
  return queryRange({ start: window.end, end: window.end }, options).startTime;
}

export function lateVisible(recorded: { readonly since: number; readonly count: number }, seenNow: number): number {
  return Math.max(0, seenNow - recorded.count);
}

/** Whether an event (by its ingestion time, or a datapoint by its timestamp) belongs to the window: start inclusive, end exclusive. */
export function inWindow(time: number, window: Pick<Window, 'start' | 'end'>): boolean {
  return time >= window.start && time < window.end;
}

// ---------------------------------------------------------------- the chain

export interface ChainBreak {
  readonly source: string;
  /** The span [from, to) no backup covers (a gap) or two backups cover (an overlap). */
  readonly from: number;
  readonly to: number;
  /** The backup whose window ends the covered part before the break. */
  readonly after: string;
  /** The backup whose window starts at the break. */
  readonly before: string;
}

interface Placed {
  readonly backupId: string;
  readonly start: number;
  readonly end: number;
}

/** Each source's windows ordered by start (then end, then backup id), after checking each like manifest input. */
function bySource(chain: readonly BackupWindows[]): Map<string, Placed[]> {
  const sources = new Map<string, Placed[]>();
  for (const backup of chain) {
    const own = new Set<string>();
    for (const w of backup.windows) {
      const fail = (problem: string) => new IntegrityError(`the window of ${JSON.stringify(w.source)} ${problem}.`, { component: COMPONENT, backupId: backup.backupId, hint: 'The manifest cannot be trusted; verify the backup.' });
      if (typeof w.source !== 'string' || w.source === '') throw fail('names no source');
      if (!Number.isSafeInteger(w.start) || !Number.isSafeInteger(w.end) || w.start < 0) throw fail(`has a start ${JSON.stringify(w.start)} or end ${JSON.stringify(w.end)} that is not a time`);
      if (w.end < w.start) throw fail(`ends (${iso(w.end)}) before it starts (${iso(w.start)})`);
      if (own.has(w.source)) throw fail('is recorded twice');
      own.add(w.source);
      sources.set(w.source, [...(sources.get(w.source) ?? []), { backupId: backup.backupId, start: w.start, end: w.end }]);
    }
  }
  for (const list of sources.values()) list.sort((a, b) => a.start - b.start || a.end - b.end || (a.backupId < b.backupId ? -1 : a.backupId > b.backupId ? 1 : 0));
  return sources;
}

/** Walks each source's windows in order and reports where consecutive ones do not meet. */
function breaks(source: string, windows: readonly Placed[]): { gaps: ChainBreak[]; overlaps: ChainBreak[] } {
  const gaps: ChainBreak[] = [];
  const overlaps: ChainBreak[] = [];
  let reach: Placed | undefined; // the window reaching furthest so far: what the next one must start at
  for (const w of windows) {
    if (reach) {
      if (w.start > reach.end) gaps.push({ source, from: reach.end, to: w.start, after: reach.backupId, before: w.backupId });
      if (w.start < reach.end) overlaps.push({ source, from: w.start, to: Math.min(reach.end, w.end), after: reach.backupId, before: w.backupId });
    }
    if (!reach || w.end >= reach.end) reach = w;
  }
  return { gaps, overlaps };
}

/** For `verify logs`: every gap and overlap between consecutive windows of each source, naming the backups on both sides. */
export function checkChain(chain: readonly BackupWindows[]): { gaps: ChainBreak[]; overlaps: ChainBreak[] } {
  const gaps: ChainBreak[] = [];
  const overlaps: ChainBreak[] = [];
  for (const [source, windows] of [...bySource(chain)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const found = breaks(source, windows);
    gaps.push(...found.gaps);
    overlaps.push(...found.overlaps);
  }
  return { gaps, overlaps };
}

export const iso = (ms: number) => (Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms));

/** A restore's plan: the backups to read, in chain order, with the sources each contributes. */
export interface CoveringChain {
  readonly backups: readonly { readonly backupId: string; readonly sources: readonly string[] }[];
  /** The span of ingestion time read: the event range widened by the arrival horizons. */
  readonly read: { readonly from: number; readonly to: number };
}

/**
 * The backups a restore of events stamped in [from, to) reads. An event stamped t was ingested in
 * [t - 2 hours, t + 14 days], so the restore reads every window that meets [from - 2 h, to + 14 d) and
 * keeps the events stamped in [from, to). It refuses (InvalidInputError naming the source and span) when a
 * source's chain does not cover [from, to) itself, and when a gap between two of its windows falls in the
 * span read: a restore never skips a gap silently. The widened span may run past the chain's ends
 * (events not backed up yet, or from before the first backup); that is not a gap.
 */
export function coveringChain(chain: readonly BackupWindows[], from: number, to: number, options: { sources?: readonly string[] } = {}): CoveringChain {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to <= from) throw new InvalidInputError(`the restore range ${iso(from)} .. ${iso(to)} is empty or not a time range.`, { component: COMPONENT });
  const read = { from: from - EARLY_ARRIVAL_MS - SKEW_MARGIN_MS, to: to + LATE_ARRIVAL_MS + SKEW_MARGIN_MS };
  const all = bySource(chain);
  const wanted = options.sources ?? [...all.keys()].sort();
  const refuse = (message: string) => new InvalidInputError(message, { component: COMPONENT, hint: 'Restore a range the chain covers (nca-backup verify logs lists it), or the backups on either side separately.' });
  const chosen = new Map<string, Set<string>>();
  let any = false;
  for (const source of wanted) {
    const windows = all.get(source);
    if (!windows || windows.length === 0) throw refuse(`no backup covers ${JSON.stringify(source)}.`);
    const first = windows[0].start;
    const last = Math.max(...windows.map((w) => w.end));
    // A source whose chain lies wholly outside the range contributes nothing and is not refused, unless named.
    if (options.sources === undefined && (last <= from || first >= to)) continue;
    if (from < first) throw refuse(`${JSON.stringify(source)} is backed up from ${iso(first)} on: ${iso(from)} .. ${iso(first)} is in no backup.`);
    if (to > last) throw refuse(`${JSON.stringify(source)} is backed up until ${iso(last)}: ${iso(last)} .. ${iso(to)} is in no backup yet.`);
    const gap = breaks(source, windows).gaps.find((g) => g.from < read.to && g.to > read.from);
    if (gap) throw refuse(`${JSON.stringify(source)} has a gap ${iso(gap.from)} .. ${iso(gap.to)} between backups ${gap.after} and ${gap.before}: events ingested then are in no backup.`);
    for (const w of windows) {
      if (w.start < read.to && w.end > read.from && w.end > w.start) {
        chosen.set(w.backupId, (chosen.get(w.backupId) ?? new Set()).add(source));
        any = true;
      }
    }
  }
  if (!any) throw refuse(`no backup holds events of ${iso(from)} .. ${iso(to)}.`);
  const order = new Map(chain.map((b, i) => [b.backupId, i] as const));
  const backups = [...chosen]
    .sort(([a], [b]) => (order.get(a) ?? 0) - (order.get(b) ?? 0))
    .map(([backupId, sources]) => ({ backupId, sources: [...sources].sort() }));
  return { backups, read };
}
