/**
 * A logs backup: per configured source (each log group, and each metric set), the window from the previous
 * complete backup's end to now minus the settle delay (windows.ts), exported into one artifact, one source
 * after another so that memory stays that of one page whatever the number of groups. The manifest records
 * each window (manifest-windows.ts), which is what the next backup starts from: the engine holds the
 * component's operation lock for the whole backup, and a failed backup writes no manifest, so a window
 * never advances on failure and never overlaps a concurrent backup's.
 */
import { DescribeLogGroupsCommand, type CloudWatchLogsClient, type LogGroup } from '@aws-sdk/client-cloudwatch-logs';
import type { S3Client } from '@aws-sdk/client-s3';
import { InvalidInputError } from '../../core/errors';
import type { ArtifactSink, ComponentBackupResult, Logger, SourceInfo } from '../types';
import { artifactNames } from './artifact-names';
import type { LogsClients } from './clients';
import { EVENTS_CONTENT_TYPE, METRICS_CONTENT_TYPE } from './format';
import { windowsOf, type WindowRecord } from './manifest-windows';
import { exportMetricsWindow, resolveMetricSet, type MetricSet } from './metrics-read';
import { lookbackMsOf } from './options';
import { exportLogGroupWindow, logsFailure, type PreviousTail } from './read';
import { metricsSourceId, type LogsRestoreOptions, type LogsSourceConfig } from './source';
import { HOUR_MS, iso, latestEnds, MINUTE_MS, planWindows, type WindowSource } from './windows';

const COMPONENT = 'logs';
/** What a logs backup records as its "database": the restore's default target name. */
export const LOGS = 'logs';

/** A configured logs source, connected: the clients and the clock the windows are taken by. */
export interface LogsTarget {
  readonly source: LogsSourceConfig;
  readonly clients: LogsClients;
  /** Writes restored files to S3 (targetPrefix). */
  readonly s3: S3Client;
  /** ms since the epoch. @default Date.now */
  readonly now: () => number;
  /** Events per FilterLogEvents page (tests make pages small). @default 10,000 */
  readonly pageLimit?: number;
  /**
   * Where a restore with these options writes (retarget records its targetLogGroup, targetPrefix and
   * directory): what a drill's dropTarget removes. @default none (a backup's target)
   */
  readonly writesTo?: Pick<LogsRestoreOptions, 'targetLogGroup' | 'targetPrefix' | 'directory'>;
}

/** Every log group of the account and region whose name starts with `prefix`, with its retention. */
async function groupsWithPrefix(client: CloudWatchLogsClient, prefix: string): Promise<LogGroup[]> {
  const groups: LogGroup[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: prefix, nextToken })).catch((error: unknown) => {
      throw logsFailure(error, `${prefix}*`);
    });
    groups.push(...(page.logGroups ?? []).filter((g) => g.logGroupName?.startsWith(prefix)));
    nextToken = page.nextToken;
  } while (nextToken);
  return groups;
}

/**
 * What a backup reads, roughly: each group's stored bytes (CloudWatch's compressed count, so an
 * underestimate of the JSON a backup handles) over the share of its retention one scan spans (the late-arrival
 * reach plus a day); all of it when the group never expires. It decides Lambda or Fargate, nothing more.
 */
export async function estimateLogs(client: CloudWatchLogsClient, source: LogsSourceConfig): Promise<number> {
  const names = new Set((await resolveLogGroups(client, source)).map((g) => g.id));
  const groups = new Map<string, LogGroup>();
  for (const prefix of [...source.logGroups, ...source.logGroupPrefixes]) for (const g of await groupsWithPrefix(client, prefix)) if (names.has(g.logGroupName!)) groups.set(g.logGroupName!, g);
  const spanDays = source.lateArrivalHours / 24 + 1;
  return [...groups.values()].reduce((sum, g) => sum + Math.round((g.storedBytes ?? 0) * (g.retentionInDays ? Math.min(1, spanDays / g.retentionInDays) : 1)), 0);
}

/** The log groups a backup reads: the named ones (each must exist) and every group under a prefix, sorted. */
export async function resolveLogGroups(client: CloudWatchLogsClient, source: LogsSourceConfig): Promise<WindowSource[]> {
  const found = new Map<string, WindowSource>();
  const add = (g: LogGroup) => found.set(g.logGroupName!, { id: g.logGroupName!, kind: 'log-group', ...(g.retentionInDays ? { retentionDays: g.retentionInDays } : {}) });
  for (const name of source.logGroups) {
    const group = (await groupsWithPrefix(client, name)).find((g) => g.logGroupName === name);
    if (!group) {
      throw new InvalidInputError(`the log group ${JSON.stringify(name)} does not exist.`, {
        component: COMPONENT,
        hint: 'A configured log group that vanished is not a group without events: recreate it, or remove it from backup.sources.logs.log_groups.',
      });
    }
    add(group);
  }
  for (const prefix of source.logGroupPrefixes) for (const group of await groupsWithPrefix(client, prefix)) add(group);
  // A restored group is never a source: its events carry new ingestion times and would be exported again.
  return [...found.values()].filter((g) => !g.id.startsWith(source.restoreLogGroupPrefix)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

async function resolveMetricSets(target: LogsTarget): Promise<MetricSet[]> {
  const sets: MetricSet[] = [];
  for (const m of target.source.metrics) {
    sets.push(await resolveMetricSet(target.clients.metrics, { id: m.id, namespace: m.namespace, metricNames: m.metricNames, dimensions: m.dimensions, stats: m.statistics, periodSeconds: m.periodSeconds }));
  }
  return sets;
}

export function describeLogs(source: LogsSourceConfig, windows: readonly WindowRecord[] = []): SourceInfo {
  // CloudWatch has no server version: the artifact format stands for it.
  return { serverVersion: 'cloudwatch-jsonl-1', serverMajor: 1, database: LOGS, settleMinutes: source.settleMinutes, lateArrivalHours: source.lateArrivalHours, windows };
}

export async function backupLogs(target: LogsTarget, sink: ArtifactSink, log: Logger): Promise<ComponentBackupResult> {
  const { source, clients } = target;
  const now = target.now();
  const previous = await sink.previous?.();
  // Every complete backup, not only the latest: the latest by id is not the one that ended last when two ran
  // in the same second, and a source left out of one backup keeps its place (windows.ts latestEnds).
  const chain = previous ? ((await previous.chain?.()) ?? [previous]) : [];
  const recorded = chain.map((b) => ({ backupId: b.backup?.backupId ?? '', windows: windowsOf(b) }));
  const ends = latestEnds(recorded);
  /** Per source, the record of the window that ends where this backup starts (its tail is the late-visibility check's). */
  const before = ends.map(({ source, end }) => recorded.flatMap((b) => b.windows).find((w) => w.source === source && w.end === end)!);
  const groups = await resolveLogGroups(clients.logs, source);
  const sets = await resolveMetricSets(target);
  const sources: WindowSource[] = [...groups, ...sets.map((s): WindowSource => ({ id: metricsSourceId(s.id), kind: 'metrics', periodMs: s.periodSeconds * 1000 }))];
  const windows = planWindows(before, sources, now, { settleMs: source.settleMinutes * MINUTE_MS, lookbackMs: lookbackMsOf(source) });
  const eventNames = artifactNames('events', groups.map((g) => g.id));
  const metricNames = artifactNames('metrics', sets.map((s) => metricsSourceId(s.id)));
  const lateArrivalMs = source.lateArrivalHours * HOUR_MS;
  log.info('logs windows planned', { component: COMPONENT, backupId: sink.backupId, previous: previous?.backup?.backupId, sources: windows.length, windows: windows.map((w) => ({ source: w.source, start: iso(w.start), end: iso(w.end), first: w.first })) });

  const records: WindowRecord[] = [];
  const artifacts = [];
  const fingerprint: Record<string, { count: number; digest: string }> = {};
  const warnings: string[] = [];
  let scanned = 0;
  for (const window of windows) {
    const prior = before.find((w) => w.source === window.source);
    let record: WindowRecord;
    if (window.basis === 'ingestion-time') {
      const artifact = eventNames.get(window.source)!;
      const previousTail: PreviousTail | undefined = prior?.tail ? { window: prior, tail: prior.tail } : undefined;
      const { body, stats } = exportLogGroupWindow(clients.logs, window.source, window, { artifact, lateArrivalMs, previous: previousTail, pageLimit: target.pageLimit });
      const stored = await sink.write(artifact, body, { contentType: EVENTS_CONTENT_TYPE });
      artifacts.push(stored);
      scanned += stats.scanned;
      if (stats.lateVisible) {
        const warning = `${stats.lateVisible} events of ${JSON.stringify(window.source)} ingested in the previous backup's window (${prior?.start !== undefined ? iso(prior.start) : '?'} .. ${prior ? iso(prior.end) : '?'}) became visible only after it read them: they are in no backup; raise backup.sources.logs.settle_minutes`;
        warnings.push(warning);
        log.warn('events became visible after their window was read', { component: COMPONENT, backupId: sink.backupId, logGroup: window.source, missed: stats.lateVisible });
      }
      record = { source: window.source, kind: 'log-group', start: window.start, end: window.end, basis: window.basis, first: window.first, artifact, count: stats.artifact.count, bytes: stats.artifact.bytes, ...span(stats.artifact), tail: { since: stats.tail.since, count: stats.tail.count } };
      fingerprint[window.source] = { count: stats.artifact.count, digest: stored.sha256 };
      log.info('log group exported', { component: COMPONENT, backupId: sink.backupId, logGroup: window.source, events: stats.artifact.count, scanned: stats.scanned, pages: stats.pages, bytes: stored.bytes });
    } else {
      const set = sets.find((s) => metricsSourceId(s.id) === window.source)!;
      const artifact = metricNames.get(window.source)!;
      const { body, stats } = exportMetricsWindow(clients.metrics, set, window, { artifact });
      const stored = await sink.write(artifact, body, { contentType: METRICS_CONTENT_TYPE });
      artifacts.push(stored);
      record = { source: window.source, kind: 'metrics', start: window.start, end: window.end, basis: window.basis, first: window.first, artifact, count: stats.artifact.count, bytes: stats.artifact.bytes, ...span(stats.artifact) };
      fingerprint[window.source] = { count: stats.artifact.count, digest: stored.sha256 };
      log.info('metric set exported', { component: COMPONENT, backupId: sink.backupId, metricSet: set.id, metrics: set.metrics.length, datapoints: stats.artifact.count, bytes: stored.bytes });
    }
    records.push(record);
  }
  if (sources.length === 0) warnings.push('no log group matched the configured names and prefixes, and no metric set is configured: the backup holds nothing');
  const events = records.filter((r) => r.kind === 'log-group').reduce((n, r) => n + r.count, 0);
  return {
    artifacts,
    fingerprint,
    source: describeLogs(source, records),
    consistency: {
      pointInTime: false,
      method: 'per source, exactly the events ingested (datapoints stamped) in a half-open window that starts where the previous complete backup\'s ended',
    },
    report: {
      sources: records.length,
      events,
      datapoints: records.filter((r) => r.kind === 'metrics').reduce((n, r) => n + r.count, 0),
      scanned,
      ...(previous?.backup ? { previousBackupId: previous.backup.backupId } : {}),
      ...(warnings.length > 0 ? { warnings } : {}),
    },
  };
}

const span = (stats: { firstTimestamp?: number; lastTimestamp?: number }) =>
  stats.firstTimestamp === undefined || stats.lastTimestamp === undefined ? {} : { firstTimestamp: stats.firstTimestamp, lastTimestamp: stats.lastTimestamp };
