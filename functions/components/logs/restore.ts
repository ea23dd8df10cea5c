/**
 * The logs restore. Log events cannot be written back as they were (PutLogEvents stamps a new ingestion
 * time and refuses events older than 14 days or the group's retention), so a restore writes:
 *   - into `targetLogGroup` (created when missing, under `restore_log_group_prefix`) when CloudWatch Logs
 *     accepts every event of the range now (putlog-batches.ts acceptance); otherwise
 *   - files in the Athena layout (athena.ts) under `targetPrefix` (S3) or `directory` (the CLI).
 * Metric sets are restored only to files (CloudWatch keeps its own datapoints; PutMetricData would merge).
 *
 * WHAT IS READ. Without a range: exactly the windows of the backup restored. With `from`/`to` (event
 * timestamps): every backup of the chain that may hold an event stamped in the range (windows.ts
 * coveringChain, which refuses a range the chain does not cover or a gap inside it), each source's
 * artifacts merged into timestamp order with one event held per artifact, and the events stamped in
 * [from, to) kept.
 *
 * CHECKED FIRST. Every artifact the restore will read is read end to end once before the first event is
 * written: its SHA-256 against the manifest (the engine's verified read), every line against the format and
 * the window, its count against the manifest's. That pass also counts the events of the range and their
 * timestamp span, from which the target is chosen. Nothing is written when anything is wrong.
 *
 * VERIFIED AFTER. verifyLogsRestore reads the target back (FilterLogEvents over the range, or the files the
 * restore wrote) and compares its counts, per source, with the artifacts'.
 */
import { DescribeLogGroupsCommand, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { InvalidInputError } from '../../core/errors';
import type { ArtifactSource, ComponentRestoreResult, Logger, RestoreVerification } from '../types';
import type { LogsTarget } from './backup';
import { athenaTableDdl, partitionDate, partitionRoot } from './athena';
import { readDatapoints, readEvents, type LogEvent, type MetricDatapoint } from './format';
import { chainEntry, windowsOf, type WindowRecord } from './manifest-windows';
import { acceptance, type Acceptance } from './putlog-batches';
import { logsFailure } from './read';
import { directoryFileSink, restoreDatapointsToFiles, restoreToFiles, s3FileSink, type FileSink } from './restore-files';
import { restoreToLogGroup } from './restore-log-group';
import type { LogsRestoreOptions } from './source';
import { coveringChain, iso } from './windows';

const COMPONENT = 'logs';

/** One artifact a source's restore reads, and the backup it is in. */
interface Read {
  readonly backup: ArtifactSource;
  readonly record: WindowRecord;
}

/** What the restore writes for one source: the artifacts it reads, in chain order. */
interface Planned {
  readonly source: string;
  readonly kind: WindowRecord['kind'];
  readonly reads: readonly Read[];
  /** The event timestamps kept: the requested range narrowed to what this source's chain covers; none: every event read. */
  readonly range?: { readonly from: number; readonly to: number };
}

interface Plan {
  readonly sources: readonly Planned[];
  /** The range asked for. */
  readonly requested?: { readonly from: number; readonly to: number };
  /** The restored files' name: the backup id and the range, so a repeated restore writes the same keys. */
  readonly name: string;
  readonly backupId?: string;
}

const compact = (ms: number) => iso(ms).replace(/[-:]/g, '');

/** The sources, artifacts and range a restore with these options reads. */
async function plan(source: ArtifactSource, options: LogsRestoreOptions): Promise<Plan> {
  const backupId = source.backup?.backupId;
  const refuse = (message: string, hint?: string) => new InvalidInputError(message, { component: COMPONENT, backupId, ...(hint ? { hint } : {}) });
  const requested = options.from !== undefined && options.to !== undefined ? { from: options.from, to: options.to } : undefined;
  const planned: Planned[] = [];
  if (requested) {
    const chain = source.chain ? await source.chain() : [source];
    const entries = chain.map((backup) => ({ backup, windows: windowsOf(backup) }));
    const all = chain.map(chainEntry);
    for (const [name, span] of coveredSpans(entries.flatMap((e) => e.windows), requested, options.logGroups)) {
      // Per source: metric windows end on a period boundary, log windows at the backup's time; neither narrows the other.
      const cover = coveringChain(all, span.from, span.to, { sources: [name] });
      const reads = cover.backups.map(({ backupId: id }) => {
        const entry = entries.find((e) => e.backup.backup?.backupId === id)!;
        return { backup: entry.backup, record: entry.windows.find((w) => w.source === name)! };
      });
      planned.push({ source: name, kind: reads[0].record.kind, reads, range: span });
    }
    if (planned.length === 0) throw refuse(`no backup up to ${backupId} holds events of ${iso(requested.from)} .. ${iso(requested.to)}${options.logGroups ? ` for ${options.logGroups.join(', ')}` : ''}.`, 'nca-backup verify logs lists what the chain covers.');
  } else {
    const windows = windowsOf(source);
    const unknown = options.logGroups?.find((g) => !windows.some((w) => w.source === g));
    if (unknown !== undefined) throw refuse(`backup ${backupId} holds no window of ${JSON.stringify(unknown)}.`, `It holds: ${windows.map((w) => w.source).join(', ') || 'nothing'}.`);
    for (const record of windows) if (!options.logGroups || options.logGroups.includes(record.source)) planned.push({ source: record.source, kind: record.kind, reads: [{ backup: source, record }] });
  }
  // The files' name carries the range asked for, so the restore and its verification name the same files.
  const name = `${backupId ?? 'backup'}${requested ? `_${compact(requested.from)}-${compact(requested.to)}` : ''}`;
  return { sources: planned, ...(requested ? { requested } : {}), name, backupId };
}

/**
 * Per source, the part of the requested range its chain covers. The ends of a chain are not gaps (before
 * the first backup nothing was backed up; after the last, nothing yet): a range reaching past them is
 * narrowed, and the restore says so in its output. A gap inside is still refused (coveringChain). A source
 * whose chain lies wholly outside the range is left out, unless named (then coveringChain refuses it).
 */
function coveredSpans(windows: readonly WindowRecord[], range: { from: number; to: number }, only?: readonly string[]): Map<string, { from: number; to: number }> {
  const spans = new Map<string, { first: number; last: number }>();
  for (const w of windows) {
    if (only && !only.includes(w.source)) continue;
    const s = spans.get(w.source);
    spans.set(w.source, { first: Math.min(s?.first ?? Infinity, w.start), last: Math.max(s?.last ?? -Infinity, w.end) });
  }
  for (const named of only ?? []) if (!spans.has(named)) throw new InvalidInputError(`no backup covers ${JSON.stringify(named)}.`, { component: COMPONENT, hint: 'options.logGroups names backed-up log groups (or metrics:<set id>).' });
  const out = new Map<string, { from: number; to: number }>();
  for (const [source, s] of [...spans].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const from = Math.max(range.from, s.first);
    const to = Math.min(range.to, s.last);
    if (to > from) out.set(source, { from, to });
    else if (only) throw new InvalidInputError(`${JSON.stringify(source)} is backed up from ${iso(s.first)} to ${iso(s.last)}: nothing of ${iso(range.from)} .. ${iso(range.to)}.`, { component: COMPONENT });
  }
  return out;
}

/** One artifact's values in its order, each checked (format.ts), the artifact's count checked at its end. */
function valuesOf(read: Read): AsyncGenerator<LogEvent | MetricDatapoint> {
  const { backup, record } = read;
  const options = { artifact: record.artifact, backupId: backup.backup?.backupId, window: { start: record.start, end: record.end }, count: record.count };
  const stream = backup.open(record.artifact);
  return record.kind === 'metrics' ? readDatapoints(stream, options) : readEvents(stream, options);
}

/**
 * A source's values from all its artifacts in timestamp order (then ingestion time), those of the range only:
 * each artifact is in that order already (format.ts refuses anything else), so a merge holding one value per
 * artifact orders the whole. Late events of a later window sort among the earlier window's.
 */
async function* merged<T extends LogEvent | MetricDatapoint>(planned: Planned): AsyncGenerator<T> {
  const range = planned.range;
  const iterators = planned.reads.map((r) => valuesOf(r) as AsyncGenerator<T>);
  const heads: (T | undefined)[] = [];
  try {
    for (const it of iterators) heads.push((await it.next()).value as T | undefined);
    const order = (v: T) => [v.timestamp, 'ingestionTime' in v ? v.ingestionTime : 0] as const;
    for (;;) {
      let best = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (h === undefined) continue;
        if (best < 0) best = i;
        else {
          const [a, b] = [order(h), order(heads[best]!)];
          if (a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])) best = i;
        }
      }
      if (best < 0) return;
      const value = heads[best]!;
      const next = await iterators[best].next();
      heads[best] = next.done ? undefined : next.value;
      if (!range || (value.timestamp >= range.from && value.timestamp < range.to)) yield value;
    }
  } finally {
    await Promise.all(iterators.map((it) => it.return(undefined)));
  }
}

/** Per source, what the range holds: read end to end, every artifact checked. */
interface Counted {
  readonly source: string;
  readonly kind: WindowRecord['kind'];
  readonly count: number;
  readonly firstTimestamp?: number;
  readonly lastTimestamp?: number;
}

async function countPlanned(p: Plan, log: Logger): Promise<Counted[]> {
  const counted: Counted[] = [];
  for (const planned of p.sources) {
    let count = 0;
    let first: number | undefined;
    let last: number | undefined;
    for await (const value of merged(planned)) {
      count++;
      first ??= value.timestamp;
      last = value.timestamp;
    }
    counted.push({ source: planned.source, kind: planned.kind, count, ...(first !== undefined ? { firstTimestamp: first, lastTimestamp: last } : {}) });
    log.info('logs restore: artifacts checked', { component: COMPONENT, backupId: p.backupId, source: planned.source, artifacts: planned.reads.length, selected: count });
  }
  return counted;
}

/** The file target of these options, or none. */
function fileSinkOf(target: LogsTarget, options: LogsRestoreOptions, source: ArtifactSource): FileSink | undefined {
  if (options.directory) return directoryFileSink(options.directory);
  if (!options.targetPrefix) return undefined;
  const { bucket, prefix } = options.targetPrefix;
  const allowed = target.source.restoreLocation;
  const refuse = (message: string, hint: string) => new InvalidInputError(message, { component: COMPONENT, backupId: source.backup?.backupId, hint });
  if (allowed && !(bucket === allowed.bucket && prefix.startsWith(allowed.prefix))) {
    throw refuse(`options.targetPrefix s3://${bucket}/${prefix} is outside backup.sources.logs.restore_location (s3://${allowed.bucket}/${allowed.prefix}).`, 'The worker may write files only there: name a prefix inside it.');
  }
  const vault = source.blobs;
  if (vault && bucket === vault.bucket && (prefix.startsWith(vault.prefix) || vault.prefix.startsWith(prefix))) {
    throw refuse(`options.targetPrefix s3://${bucket}/${prefix} is inside the backup vault.`, 'Restore files to another bucket or prefix: the vault holds backups only.');
  }
  // No SSE header: the restore bucket's default encryption applies (its own KMS key, which the worker may use
  // through S3 for that location); naming aws:kms here would silently switch it to the AWS managed key.
  return s3FileSink({ client: target.s3, bucket, prefix });
}

/** The target group's retention, or undefined when it does not exist yet or never expires. */
async function retentionOf(target: LogsTarget, group: string): Promise<{ exists: boolean; retentionDays?: number }> {
  const answer = await target.clients.logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: group })).catch((error: unknown) => {
    throw logsFailure(error, group);
  });
  const found = (answer.logGroups ?? []).find((g) => g.logGroupName === group);
  return found ? { exists: true, ...(found.retentionInDays ? { retentionDays: found.retentionInDays } : {}) } : { exists: false };
}

/** Events of `group` stamped in [first, last]: a restore refuses a group that holds some, and verifies by counting them. */
async function countInGroup(target: LogsTarget, group: string, first: number, last: number, options: { stopAt?: number } = {}): Promise<number> {
  let count = 0;
  let nextToken: string | undefined;
  do {
    const page = await target.clients.logs.send(new FilterLogEventsCommand({ logGroupName: group, startTime: first, endTime: last, nextToken, limit: 10_000 })).catch((error: unknown) => {
      throw logsFailure(error, group);
    });
    count += page.events?.length ?? 0;
    if (options.stopAt !== undefined && count >= options.stopAt) return count;
    nextToken = page.nextToken;
  } while (nextToken);
  return count;
}

/** Where the events of the one log group go: the target group when it takes them all, else files, else a refusal naming why. */
async function chooseLogTarget(target: LogsTarget, options: LogsRestoreOptions, events: Counted[], files: FileSink | undefined, backupId?: string): Promise<{ kind: 'log-group'; group: string; existed: boolean } | { kind: 'files' }> {
  const refuse = (message: string, hint?: string) => new InvalidInputError(message, { component: COMPONENT, backupId, ...(hint ? { hint } : {}) });
  const group = options.targetLogGroup;
  if (group === undefined) {
    if (!files) throw refuse('a logs restore needs a target: options.targetLogGroup, options.targetPrefix or (from the CLI) options.directory.');
    return { kind: 'files' };
  }
  const prefix = target.source.restoreLogGroupPrefix;
  if (!group.startsWith(prefix)) throw refuse(`options.targetLogGroup ${JSON.stringify(group)} is not under backup.sources.logs.restore_log_group_prefix (${prefix}).`, `Name a group like ${prefix}${events[0]?.source.replace(/^\//, '') ?? 'app'}: restored events must not land in a group that is backed up again.`);
  if (events.length > 1) throw refuse(`options.targetLogGroup takes one log group's events, and this restore has ${events.length}: ${events.map((e) => e.source).join(', ')}.`, 'Name one with options.logGroups, or restore to files (targetPrefix), which keeps each group apart.');
  const only = events[0];
  const now = target.now();
  const { exists, retentionDays } = await retentionOf(target, group);
  const accepted: Acceptance = only ? acceptance(only, now, { retentionDays }) : { accepted: true };
  if (!accepted.accepted) {
    if (files) return { kind: 'files' };
    throw refuse(`the log group ${JSON.stringify(group)} cannot take this range: ${accepted.reason} Nothing was written.`, 'Give options.targetPrefix (or, from the CLI, options.directory) as well: the restore then writes files Athena reads.');
  }
  if (exists && only?.firstTimestamp !== undefined) {
    const held = await countInGroup(target, group, only.firstTimestamp, only.lastTimestamp!, { stopAt: 1 });
    if (held > 0) throw refuse(`the log group ${JSON.stringify(group)} already holds events stamped in ${iso(only.firstTimestamp)} .. ${iso(only.lastTimestamp!)}: the restore would mix with them and could not be verified. Nothing was written.`, 'Restore into a new group name, or delete that group first.');
  }
  return { kind: 'log-group', group, existed: exists };
}

/** Per source whose range was narrowed, why: the range restored is smaller than the one asked for. */
function narrowed(p: Plan): Record<string, string> | undefined {
  if (!p.requested) return undefined;
  const out: Record<string, string> = {};
  for (const s of p.sources) {
    if (!s.range) continue;
    const parts = [
      p.requested.from < s.range.from && `its backups start at ${iso(s.range.from)}: events stamped before it may be in no backup`,
      p.requested.to > s.range.to && `its backups end at ${iso(s.range.to)}: events stamped after it are in no backup yet`,
    ].filter(Boolean);
    if (parts.length > 0) out[s.source] = parts.join('; ');
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export async function restoreLogs(source: ArtifactSource, target: LogsTarget, options: LogsRestoreOptions, log: Logger): Promise<ComponentRestoreResult> {
  const p = await plan(source, options);
  const why = narrowed(p);
  if (why) log.warn('logs restore: the range restored is narrower than asked', { component: COMPONENT, backupId: p.backupId, narrowed: why });
  const files = fileSinkOf(target, options, source);
  const counted = await countPlanned(p, log);
  const events = counted.filter((c) => c.kind === 'log-group');
  const metrics = counted.filter((c) => c.kind === 'metrics');
  const choice = events.length > 0 ? await chooseLogTarget(target, options, events, files, p.backupId) : ({ kind: 'files' } as const);
  if (!files && metrics.length > 0 && options.logGroups?.some((g) => metrics.some((m) => m.source === g))) {
    throw new InvalidInputError('metric sets are restored to files only: give options.targetPrefix or options.directory.', { component: COMPONENT, backupId: p.backupId });
  }
  const sources: Record<string, unknown>[] = [];
  for (const planned of p.sources) {
    const c = counted.find((x) => x.source === planned.source)!;
    if (planned.kind === 'log-group' && choice.kind === 'log-group') {
      const done = await restoreToLogGroup(target.clients.logs, choice.group, merged<LogEvent>(planned), { backupId: p.backupId });
      sources.push({ source: planned.source, ...rangeOf(planned), target: `log group ${choice.group}`, events: done.events, streams: done.streams.length, created: done.created });
    } else if (files) {
      const done = planned.kind === 'metrics'
        ? await restoreDatapointsToFiles(files, merged<MetricDatapoint>(planned), planned.source, { name: p.name, backupId: p.backupId })
        : await restoreToFiles(files, merged<LogEvent>(planned), planned.source, { name: p.name, backupId: p.backupId });
      const count = 'events' in done ? done.events : done.datapoints;
      sources.push({ source: planned.source, ...rangeOf(planned), target: files.locate(partitionRoot(files.prefix, planned.kind, planned.source)), [planned.kind === 'metrics' ? 'datapoints' : 'events']: count, files: done.files.length });
    } else {
      // Metrics without a file target: left out, and said.
      sources.push({ source: planned.source, skipped: 'metric sets are restored to files only (no targetPrefix or directory given)', datapoints: c.count });
      continue;
    }
    log.info('logs restore: source written', { component: COMPONENT, backupId: p.backupId, ...sources[sources.length - 1] });
  }
  const where = choice.kind === 'log-group' ? `log group ${choice.group}` : files ? files.locate(files.prefix) : 'nothing';
  return {
    target: where,
    replacedExisting: false,
    details: {
      written: choice.kind === 'log-group' ? 'log-group' : 'files',
      ...(p.requested ? { requested: { from: iso(p.requested.from), to: iso(p.requested.to) } } : {}),
      ...(why ? { narrowed: why } : {}),
      backupsRead: new Set(p.sources.flatMap((s) => s.reads.map((r) => r.backup.backup?.backupId))).size,
      events: events.reduce((n, e) => n + e.count, 0),
      datapoints: metrics.reduce((n, m) => n + m.count, 0),
      sources,
      ...(choice.kind === 'files' && files ? { fileName: p.name } : {}),
      // The table that reads what was written, ready to paste into Athena (README, "Logs": the table).
      ...(choice.kind === 'files' && options.targetPrefix ? { athenaTable: athenaTableDdl({ bucket: options.targetPrefix.bucket, prefix: options.targetPrefix.prefix, logGroups: events.map((e) => e.source), ...firstDateOf(events) }) } : {}),
    },
  };
}

/** The projection's first date: the oldest restored event's (a query then never lists partitions before it). */
function firstDateOf(events: readonly Counted[]): { firstDate?: string } {
  const first = Math.min(...events.map((e) => e.firstTimestamp ?? Infinity));
  return Number.isFinite(first) ? { firstDate: partitionDate(first) } : {};
}

const rangeOf = (planned: Planned) => (planned.range ? { range: { from: iso(planned.range.from), to: iso(planned.range.to) } } : {});

/** Counts the values of the files this restore wrote for a source (their name carries the backup id and range). */
async function countFiles(files: FileSink, planned: Planned, name: string): Promise<number> {
  const root = partitionRoot(files.prefix, planned.kind, planned.source);
  const keys = (await files.list(root)).filter((k) => (k.split('/').pop() ?? '').startsWith(`${name}-`));
  let count = 0;
  for (const key of keys) {
    const options = { artifact: files.locate(key) };
    const values = planned.kind === 'metrics' ? readDatapoints(await files.open(key), options) : readEvents(await files.open(key), options);
    for await (const _ of values) count++;
  }
  return count;
}

export async function verifyLogsRestore(source: ArtifactSource, target: LogsTarget, options: LogsRestoreOptions, log: Logger): Promise<RestoreVerification> {
  const p = await plan(source, options);
  const counted = await countPlanned(p, log);
  const files = fileSinkOf(target, options, source);
  const differences: RestoreVerification['differences'][number][] = [];
  const found: Record<string, number> = {};
  for (const planned of p.sources) {
    const expected = counted.find((c) => c.source === planned.source)!;
    let actual: number | undefined;
    // The restore refuses a group that already holds events of the range, so events there now are its own.
    const group = planned.kind === 'log-group' ? options.targetLogGroup : undefined;
    if (group !== undefined && expected.firstTimestamp !== undefined && (await retentionOf(target, group)).exists) {
      const inGroup = await countInGroup(target, group, expected.firstTimestamp, expected.lastTimestamp!);
      if (inGroup > 0 || !files) actual = inGroup;
    }
    if (actual === undefined && files) actual = await countFiles(files, planned, p.name);
    if (actual === undefined) {
      if (planned.kind === 'metrics') continue; // not restored without a file target (restoreLogs said so)
      actual = 0;
    }
    found[planned.source] = actual;
    if (actual !== expected.count) differences.push({ object: planned.source, expected: { count: expected.count, digest: '' }, actual: { count: actual, digest: '' }, problem: `the target holds ${actual} ${planned.kind === 'metrics' ? 'datapoints' : 'events'} of the range, the backups ${expected.count}` });
  }
  return { differences, objects: Object.keys(found).length, details: { counts: found } };
}
