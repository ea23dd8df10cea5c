/**
 * The logs component's `backup.sources.logs` section and restore options, read the one way, driver-free:
 * the configuration, the control plane and the CDK app check them without bundling the CloudWatch clients.
 */
import { bucketProblem, integer, list, mapping, normalisePrefix, show, string, type Issues, type Mapping } from '../../../config/fields';
import { InvalidInputError } from '../../core/errors';
import { DEFAULT_LATE_ARRIVAL_HOURS, DEFAULT_RESTORE_LOG_GROUP_PREFIX, DEFAULT_SETTLE_MINUTES, DEFAULT_STATISTICS, type LogsRestoreOptions, type LogsSourceConfig, type MetricSetConfig } from './source';

const COMPONENT = 'logs';

/** CreateLogGroup's name rule (API reference): 1 to 512 of these characters. */
export const LOG_GROUP_NAME = /^[.\-_/#A-Za-z0-9]{1,512}$/;
const LOG_GROUP_WHAT = 'a log group name (1 to 512 of A-Z a-z 0-9 . _ - / #), like /neuroca/app';
/** CloudWatch namespaces: 1 to 255 of these, not starting with "AWS/"... unless reading AWS's own (allowed). */
const NAMESPACE = /^[A-Za-z0-9 .\-_/#:]{1,255}$/;
const METRIC_SET_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** GetMetricData's periods: 1, 5, 10, 30 (high resolution) or a multiple of 60 seconds. */
const isPeriod = (s: number) => [1, 5, 10, 30].includes(s) || (s >= 60 && s % 60 === 0 && s <= 86_400);
const STATISTIC = /^(SampleCount|Average|Sum|Minimum|Maximum|IQM|p\d{1,2}(\.\d{1,2})?|(tm|wm|tc|ts)\d{1,2}(\.\d{1,2})?)$/;

export const SOURCE_KEYS = ['log_groups', 'log_group_prefixes', 'metrics', 'settle_minutes', 'lookback_days', 'late_arrival_hours', 'restore_location', 'restore_log_group_prefix'] as const;
const METRIC_KEYS = ['id', 'namespace', 'metric_names', 'dimensions', 'period', 'statistics'];

function names(map: Mapping, key: string, path: string, issues: Issues, pattern: RegExp, what: string): string[] | undefined {
  if (!(key in map)) return [];
  const field = `${path}.${key}`;
  const values = list(map[key], field, issues, `a list of ${what}`);
  if (!values) return undefined;
  const out = values.map((v, i) => {
    const text = string(v, `${field}[${i}]`, issues, what);
    if (text !== undefined && !pattern.test(text)) return issues.add(`${field}[${i}]`, `${show(text)} is not ${what}`);
    return text;
  });
  if (out.some((v) => v === undefined)) return undefined;
  const duplicate = out.find((v, i) => out.indexOf(v) !== i);
  return duplicate === undefined ? (out as string[]) : issues.add(field, `${show(duplicate)} is listed twice`);
}

function parseDimensions(value: unknown, path: string, issues: Issues): { name: string; value?: string }[] | undefined {
  // Written as a mapping {InstanceId: "i-0abc"}; an empty value ("" or ~) means "any value".
  const map = value === undefined ? {} : typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Mapping) : issues.add(path, `${show(value)} is not a mapping of dimension names to values, like {InstanceId: i-0abc, ClusterName: ~}`);
  if (!map) return undefined;
  const out: { name: string; value?: string }[] = [];
  for (const [name, v] of Object.entries(map)) {
    if (!/^[^:]{1,255}$/.test(name)) issues.add(`${path}.${name}`, 'is not a dimension name (1 to 255 characters, no ":")');
    else if (v === null || v === undefined || v === '') out.push({ name });
    else if (typeof v === 'string' && v.length <= 1024) out.push({ name, value: v });
    else issues.add(`${path}.${name}`, `${show(v)} is not a dimension value (text up to 1024 characters, or ~ for any)`);
  }
  if (out.length > 30) return issues.add(path, 'names more than 30 dimensions, the most a metric has');
  return out;
}

function parseMetricSet(value: unknown, path: string, issues: Issues): MetricSetConfig | undefined {
  const map = mapping(value, path, METRIC_KEYS, issues);
  if (!map) return undefined;
  const before = issues.list.length;
  const namespace = 'namespace' in map ? string(map.namespace, `${path}.namespace`, issues, 'a CloudWatch namespace like CWAgent or NCA/Performance') : issues.add(`${path}.namespace`, 'is required: the CloudWatch namespace, like CWAgent');
  if (namespace !== undefined && !NAMESPACE.test(namespace)) issues.add(`${path}.namespace`, `${show(namespace)} is not a CloudWatch namespace (1 to 255 of letters, digits and . - _ / # : space)`);
  const id = 'id' in map ? string(map.id, `${path}.id`, issues, 'a name of 1 to 64 of A-Z a-z 0-9 . _ -') : namespace?.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 64);
  if (id !== undefined && !METRIC_SET_ID.test(id)) issues.add(`${path}.id`, `${show(id)} is not 1 to 64 of A-Z a-z 0-9 . _ - (give the set an id)`);
  const metricNames = names(map, 'metric_names', path, issues, /^.{1,255}$/su, 'a metric name (1 to 255 characters)');
  const dimensions = parseDimensions(map.dimensions, `${path}.dimensions`, issues);
  const period = 'period' in map ? integer(map.period, `${path}.period`, issues, 1, 86_400) : 60;
  if (period !== undefined && !isPeriod(period)) issues.add(`${path}.period`, `${period} is not a GetMetricData period: 1, 5, 10, 30 or a multiple of 60 seconds`);
  const statistics = 'statistics' in map ? names(map, 'statistics', path, issues, STATISTIC, 'a statistic (Average, Sum, Minimum, Maximum, SampleCount, IQM or a percentile like p99)') : [...DEFAULT_STATISTICS];
  if (statistics && statistics.length === 0) issues.add(`${path}.statistics`, 'is empty: name at least one statistic, or leave it out for the default five');
  if (issues.list.length > before || namespace === undefined || id === undefined || !metricNames || !dimensions || period === undefined || !statistics) return undefined;
  return {
    id,
    namespace,
    ...(metricNames.length > 0 ? { metricNames } : {}),
    ...(dimensions.length > 0 ? { dimensions } : {}),
    periodSeconds: period,
    statistics,
  };
}

/** An S3 location written `s3://bucket/prefix/`, or why it is not one. */
export function parseS3Location(text: string): { bucket: string; prefix: string } | { problem: string } {
  const value = text.trim();
  if (!value.startsWith('s3://')) return { problem: 'is not an S3 URL like s3://neuroca-log-restores/restores/' };
  const rest = value.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const problem = bucketProblem(bucket);
  if (problem) return { problem: `names the bucket '${bucket}', which ${problem}` };
  const prefix = normalisePrefix(slash < 0 ? '' : rest.slice(slash + 1));
  if (prefix === undefined || prefix.includes('*')) return { problem: 'has a key prefix that is not one like restores/ (letters, digits and !_.\'()- between slashes)' };
  return { bucket, prefix };
}

/** Reads backup.sources.logs; every problem is recorded under its field. */
export function parseLogsSource(value: unknown, path: string, issues: Issues): LogsSourceConfig | undefined {
  const map = mapping(value, path, SOURCE_KEYS, issues);
  if (!map) return undefined;
  const before = issues.list.length;
  const logGroups = names(map, 'log_groups', path, issues, LOG_GROUP_NAME, LOG_GROUP_WHAT);
  const logGroupPrefixes = names(map, 'log_group_prefixes', path, issues, LOG_GROUP_NAME, `a log group name prefix (${LOG_GROUP_WHAT})`);
  const metricValues = 'metrics' in map ? list(map.metrics, `${path}.metrics`, issues, 'a list of metric sets like {namespace: CWAgent, period: 60}') : [];
  const metrics = metricValues?.map((m, i) => parseMetricSet(m, `${path}.metrics[${i}]`, issues));
  const settleMinutes = 'settle_minutes' in map ? integer(map.settle_minutes, `${path}.settle_minutes`, issues, 0, 24 * 60) : DEFAULT_SETTLE_MINUTES;
  const lookbackDays = 'lookback_days' in map ? integer(map.lookback_days, `${path}.lookback_days`, issues, 0, 14) : undefined;
  const lateArrivalHours = 'late_arrival_hours' in map ? integer(map.late_arrival_hours, `${path}.late_arrival_hours`, issues, 0, DEFAULT_LATE_ARRIVAL_HOURS) : DEFAULT_LATE_ARRIVAL_HOURS;
  let restoreLocation: LogsSourceConfig['restoreLocation'];
  if ('restore_location' in map) {
    const text = string(map.restore_location, `${path}.restore_location`, issues, 'an S3 URL like s3://neuroca-log-restores/restores/');
    const parsed = text === undefined ? undefined : parseS3Location(text);
    if (parsed && 'problem' in parsed) issues.add(`${path}.restore_location`, `${show(text)} ${parsed.problem}`);
    else restoreLocation = parsed;
  }
  const restoreLogGroupPrefix = 'restore_log_group_prefix' in map ? string(map.restore_log_group_prefix, `${path}.restore_log_group_prefix`, issues, 'a log group name prefix like /nca-backup/restored/') : DEFAULT_RESTORE_LOG_GROUP_PREFIX;
  if (restoreLogGroupPrefix !== undefined && !(LOG_GROUP_NAME.test(restoreLogGroupPrefix) && restoreLogGroupPrefix.length >= 2)) issues.add(`${path}.restore_log_group_prefix`, `${show(restoreLogGroupPrefix)} is not a log group name prefix of at least 2 characters (A-Z a-z 0-9 . _ - / #)`);
  const overlapping = [...(logGroups ?? []), ...(logGroupPrefixes ?? [])].find((g) => restoreLogGroupPrefix !== undefined && (g.startsWith(restoreLogGroupPrefix) || restoreLogGroupPrefix.startsWith(g)));
  // Restored events carry new ingestion times: a restored group that is also backed up would be exported again.
  if (overlapping !== undefined) issues.add(`${path}.restore_log_group_prefix`, `${show(restoreLogGroupPrefix)} overlaps the backed-up ${show(overlapping)}: restored groups must not be backed up again`);
  if (issues.list.length > before || restoreLogGroupPrefix === undefined || !logGroups || !logGroupPrefixes || !metrics || metrics.some((m) => m === undefined) || settleMinutes === undefined || lateArrivalHours === undefined) return undefined;
  const sets = metrics as MetricSetConfig[];
  const duplicate = sets.map((s) => s.id).find((id, i, ids) => ids.indexOf(id) !== i);
  if (duplicate !== undefined) return issues.add(`${path}.metrics`, `two metric sets have the id '${duplicate}' (an id defaults to the namespace): give each an id`);
  if (logGroups.length + logGroupPrefixes.length + sets.length === 0) return issues.add(path, 'names nothing to back up: give log_groups, log_group_prefixes or metrics');
  return {
    logGroups,
    logGroupPrefixes,
    metrics: sets,
    settleMinutes,
    ...(lookbackDays !== undefined ? { lookbackDays } : {}),
    lateArrivalHours,
    ...(restoreLocation ? { restoreLocation } : {}),
    restoreLogGroupPrefix,
  };
}

// ---------------------------------------------------------------- restore options

const RESTORE_KEYS = ['from', 'to', 'logGroups', 'targetLogGroup', 'targetPrefix', 'directory'];
const invalid = (message: string, hint?: string) => new InvalidInputError(message, { component: COMPONENT, ...(hint ? { hint } : {}) });

/** A time as ISO 8601 with a zone (or Z) or ms since the epoch. */
function parseTime(value: unknown, key: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(value.trim())) {
    const ms = Date.parse(value.trim());
    if (Number.isFinite(ms)) return ms;
  }
  throw invalid(`options.${key} ${JSON.stringify(value)} is not a time: give ISO 8601 with a zone, like 2026-11-24T00:00:00Z, or ms since the epoch.`);
}

/**
 * Checks a logs restore's options. The range is of event timestamps, [from, to); the targets are a log
 * group, an S3 location and a directory, of which the restore uses the log group when CloudWatch Logs
 * still accepts every event of the range, else a file target (restore.ts decides, at run time).
 */
export function parseLogsRestoreOptions(raw: Record<string, unknown>): LogsRestoreOptions {
  for (const key of Object.keys(raw)) {
    if (!RESTORE_KEYS.includes(key)) throw invalid(`options.${key} is not a restore option of the logs component.`, `Allowed: ${RESTORE_KEYS.join(', ')}.`);
  }
  const from = raw.from === undefined ? undefined : parseTime(raw.from, 'from');
  const to = raw.to === undefined ? undefined : parseTime(raw.to, 'to');
  if ((from === undefined) !== (to === undefined)) throw invalid('options.from and options.to go together: give both (a range of event timestamps) or neither (the events of the backup restored).');
  if (from !== undefined && to !== undefined && to <= from) throw invalid(`options.to (${new Date(to).toISOString()}) is not after options.from (${new Date(from).toISOString()}).`);
  let logGroups: string[] | undefined;
  if (raw.logGroups !== undefined) {
    const values = typeof raw.logGroups === 'string' ? raw.logGroups.split(',').map((s) => s.trim()) : raw.logGroups;
    if (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== 'string' || v === '')) throw invalid('options.logGroups must be a non-empty list of backed-up log group names (or metrics:<set id>).');
    logGroups = [...new Set(values as string[])];
  }
  let targetLogGroup: string | undefined;
  if (raw.targetLogGroup !== undefined) {
    if (typeof raw.targetLogGroup !== 'string' || !LOG_GROUP_NAME.test(raw.targetLogGroup)) throw invalid(`options.targetLogGroup ${JSON.stringify(raw.targetLogGroup)} is not ${LOG_GROUP_WHAT}.`);
    targetLogGroup = raw.targetLogGroup;
  }
  let targetPrefix: LogsRestoreOptions['targetPrefix'];
  if (raw.targetPrefix !== undefined) {
    const given = raw.targetPrefix as unknown;
    const text = typeof given === 'string' ? given : isLocation(given) ? `s3://${given.bucket}/${given.prefix}` : undefined;
    const parsed = text === undefined ? { problem: 'is not an S3 URL like s3://neuroca-log-restores/restores/' } : parseS3Location(text);
    if ('problem' in parsed) throw invalid(`options.targetPrefix ${JSON.stringify(given)} ${parsed.problem}.`);
    targetPrefix = parsed;
  }
  let directory: string | undefined;
  if (raw.directory !== undefined) {
    if (typeof raw.directory !== 'string' || !raw.directory.startsWith('/') || raw.directory.split('/').some((s) => s === '..') || raw.directory.includes('\0')) {
      throw invalid(`options.directory ${JSON.stringify(raw.directory)} is not an absolute directory path without .. segments.`);
    }
    directory = raw.directory;
  }
  if (targetPrefix && directory) throw invalid('options.targetPrefix and options.directory are both file targets: give one.');
  // The result parses to itself: the control plane checks an input's options, and the engine parses them again.
  return {
    ...(from !== undefined && to !== undefined ? { from, to } : {}),
    ...(logGroups ? { logGroups } : {}),
    ...(targetLogGroup ? { targetLogGroup } : {}),
    ...(targetPrefix ? { targetPrefix } : {}),
    ...(directory ? { directory } : {}),
  };
}

function isLocation(value: unknown): value is { bucket: string; prefix: string } {
  return typeof value === 'object' && value !== null && typeof (value as { bucket?: unknown }).bucket === 'string' && typeof (value as { prefix?: unknown }).prefix === 'string';
}

/** The lookback of a source's first backup in ms, when configured. */
export const lookbackMsOf = (source: LogsSourceConfig) => (source.lookbackDays === undefined ? undefined : source.lookbackDays * 86_400_000);
