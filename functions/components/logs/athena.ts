/**
 * The layout a restore to files writes, and the Athena table that reads it. Events are written as the
 * backup stored them (format.ts: gzip JSON Lines, timestamp order), re-partitioned Hive-style by log group
 * and by the UTC date of the event timestamp:
 *
 *   <prefix>logs/log_group=<encoded name>/dt=<YYYY-MM-DD>/<file>.jsonl.gz
 *
 * The log group name is percent-encoded (UTF-8, everything but A-Z a-z 0-9 . _ -), so `/` and `#` never
 * make extra key levels and the name reads back exactly (decodeURIComponent). CloudWatch allows only
 * `[A-Za-z0-9._/#-]` in group names, so a real name encodes to `%2F` and `%23` only: Hive's partition
 * discovery (MSCK REPAIR TABLE) unescapes those, and with partition projection a query names the encoded
 * value (`log_group = '%2Faws%2Flambda%2Fneuroca-api'`, athenaLogGroup).
 *
 * The table definition is a function of where the files are: partition projection (default: no
 * partitions to load, the dates are projected from `firstDate` to NOW, the groups listed when known and
 * injected by the query otherwise) or plain partitions for MSCK REPAIR TABLE. Columns are snake_case with
 * their unit, mapped onto the JSON fields by the OpenX JSON SerDe (`timestamp` is a reserved word in Athena
 * DDL, and the milliseconds are worth saying).
 */
import { InvalidInputError } from '../../core/errors';
import { bucketProblem, normalisePrefix } from '../../../config/fields';
import { isArtifactName } from '../../core/manifest';

const COMPONENT = 'logs';
export const ATHENA_ROOT = 'logs/';

/** Percent-encoding of a log group name for a partition value: UTF-8 bytes, everything but A-Z a-z 0-9 . _ - as %XX. */
export function encodeLogGroup(name: string): string {
  if (name === '') throw new InvalidInputError('a log group name is empty.', { component: COMPONENT });
  return [...Buffer.from(name, 'utf8')].map((b) => (/[A-Za-z0-9._-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/** The value a query compares `log_group` with under partition projection. */
export const athenaLogGroup = encodeLogGroup;

/** The UTC date of an event timestamp, YYYY-MM-DD: its `dt` partition. */
export function partitionDate(timestamp: number): string {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp > 253402300799999) throw new InvalidInputError(`the event timestamp ${JSON.stringify(timestamp)} is not a time between 1970 and 9999.`, { component: COMPONENT });
  return new Date(timestamp).toISOString().slice(0, 10);
}

function prefixOf(prefix: string): string {
  const normal = normalisePrefix(prefix);
  if (normal === undefined) throw new InvalidInputError(`the restore prefix ${JSON.stringify(prefix)} is not a key prefix like restores/logs/ (letters, digits and !_.'()-* between slashes).`, { component: COMPONENT });
  return normal;
}

/** The key of one restored file: the partition of (log group, the UTC date of its events), then the file's name. */
export function athenaKey(prefix: string, logGroup: string, timestamp: number, file: string): string {
  if (!isArtifactName(file)) throw new InvalidInputError(`the file name ${JSON.stringify(file)} is not a plain file name.`, { component: COMPONENT });
  return `${prefixOf(prefix)}${ATHENA_ROOT}log_group=${encodeLogGroup(logGroup)}/dt=${partitionDate(timestamp)}/${file}`;
}

export const METRICS_ROOT = 'metrics/';

/** The key of one restored file of a metric set: `<prefix>metrics/metric_set=<encoded id>/dt=<date>/<file>`. */
export function metricsKey(prefix: string, metricSet: string, timestamp: number, file: string): string {
  if (!isArtifactName(file)) throw new InvalidInputError(`the file name ${JSON.stringify(file)} is not a plain file name.`, { component: COMPONENT });
  return `${prefixOf(prefix)}${METRICS_ROOT}metric_set=${encodeLogGroup(metricSet)}/dt=${partitionDate(timestamp)}/${file}`;
}

/** Where a log group's (`logs/`) or a metric set's (`metrics/`) restored files are, under a sink's prefix. */
export function partitionRoot(prefix: string, kind: 'log-group' | 'metrics', name: string): string {
  return kind === 'metrics' ? `${prefixOf(prefix)}${METRICS_ROOT}metric_set=${encodeLogGroup(name)}/` : `${prefixOf(prefix)}${ATHENA_ROOT}log_group=${encodeLogGroup(name)}/`;
}

export interface AthenaTableOptions {
  readonly bucket: string;
  /** Where the restore wrote (the `logs/` folder is under it). @default "" */
  readonly prefix?: string;
  /** @default "nca_backup" */
  readonly database?: string;
  /** @default "restored_logs" */
  readonly table?: string;
  /** `projection` (no partitions to load) or `msck` (load them with MSCK REPAIR TABLE after each restore). @default "projection" */
  readonly partitions?: 'projection' | 'msck';
  /** Projection: the log groups restored there, listed as an enum; without them a query must name its log_group (injected). */
  readonly logGroups?: readonly string[];
  /** Projection: the first date projected, YYYY-MM-DD; later dates up to NOW. @default "1970-01-01" */
  readonly firstDate?: string;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,127}$/;
const sqlString = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** `CREATE EXTERNAL TABLE` for the files a restore wrote under s3://bucket/prefix. */
export function athenaTableDdl(options: AthenaTableOptions): string {
  const problem = bucketProblem(options.bucket);
  if (problem) throw new InvalidInputError(`the bucket ${JSON.stringify(options.bucket)} ${problem}.`, { component: COMPONENT });
  const database = options.database ?? 'nca_backup';
  const table = options.table ?? 'restored_logs';
  for (const [what, name] of [['database', database], ['table', table]] as const) {
    if (!IDENTIFIER.test(name)) throw new InvalidInputError(`the Athena ${what} name ${JSON.stringify(name)} is not one of lower-case letters, digits and _ (not starting with a digit).`, { component: COMPONENT });
  }
  const firstDate = options.firstDate ?? '1970-01-01';
  if (!/^\d{4}-\d\d-\d\d$/.test(firstDate) || Number.isNaN(Date.parse(`${firstDate}T00:00:00Z`))) throw new InvalidInputError(`firstDate ${JSON.stringify(firstDate)} is not a date like 2026-11-01.`, { component: COMPONENT });
  const location = `s3://${options.bucket}/${prefixOf(options.prefix ?? '')}${ATHENA_ROOT}`;
  const groups = options.logGroups?.map(encodeLogGroup);
  const projection =
    (options.partitions ?? 'projection') === 'projection'
      ? [
          ['projection.enabled', 'true'],
          ...(groups && groups.length > 0 ? [['projection.log_group.type', 'enum'], ['projection.log_group.values', [...new Set(groups)].sort().join(',')]] : [['projection.log_group.type', 'injected']]),
          ['projection.dt.type', 'date'],
          ['projection.dt.format', 'yyyy-MM-dd'],
          ['projection.dt.range', `${firstDate},NOW`],
          ['projection.dt.interval', '1'],
          ['projection.dt.interval.unit', 'DAYS'],
          ['storage.location.template', `${location}log_group=\${log_group}/dt=\${dt}/`],
        ]
      : [];
  const properties = [['classification', 'json'], ['compressionType', 'gzip'], ...projection];
  return [
    `CREATE EXTERNAL TABLE IF NOT EXISTS \`${database}\`.\`${table}\` (`,
    '  `timestamp_ms` bigint,',
    '  `ingestion_time_ms` bigint,',
    '  `log_stream` string,',
    '  `message` string,',
    '  `event_id` string',
    ')',
    'PARTITIONED BY (`log_group` string, `dt` string)',
    "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'",
    'WITH SERDEPROPERTIES (',
    "  'mapping.timestamp_ms' = 'timestamp',",
    "  'mapping.ingestion_time_ms' = 'ingestionTime',",
    "  'mapping.log_stream' = 'logStream',",
    "  'mapping.event_id' = 'eventId'",
    ')',
    `LOCATION ${sqlString(location)}`,
    'TBLPROPERTIES (',
    properties.map(([k, v]) => `  ${sqlString(k)} = ${sqlString(v)}`).join(',\n'),
    ');',
  ].join('\n');
}
