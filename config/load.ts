/**
 * backup.yaml → BackupConfig. The runbook's example must load unchanged when documentation values are allowed
 * (its key is a placeholder: not hex, in the documentation's account); everything beyond it is optional with
 * defaults. Every problem is collected before throwing, so one synth shows all of them, each naming the field
 * (`backup.storage.primary.region`) and what is allowed. The field reference is README.md, "backup.yaml".
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { ACCOUNT_ID_LENGTH, MAX_BUCKET_NAME_LENGTH, vaultBucketName } from './bucket-names';
import { CronError, toSchedulerCron } from './cron';
import { COMPONENTS, sourceArns, type Components } from './components';
import { DEFAULT_VERIFICATION, parseVerification } from './verification';
import { parseRecovery } from './recovery';
import { parseAudit } from './audit';
export { normalisePrefix } from './fields';
import { ACCOUNT, boolean, bucketProblem, normalisePrefix, integer, Issues, isMapping, list, mapping, matching, oneOf, PARTITION, REGION, regionOfArn, show, string, uniqueStrings, type ConfigIssue } from './fields';
import {
  DEFAULT_INSTALLATION,
  GROUPS,
  type BackupConfig,
  type ColdStorageClass,
  type ColdStorageConfig,
  type CreatedNetworkConfig,
  type EncryptionConfig,
  type GroupName,
  type NetworkConfig,
  type NotificationsConfig,
  type ObjectLockConfig,
  type RestoreConfig,
  type RunnerConfig,
  type ScheduleConfig,
  type SourcesConfig,
  type StorageLocation,
} from './types';

export const DEFAULT_CONFIG_FILE = 'backup.yaml';

export type { ConfigIssue } from './fields';

/**
 * Thrown for any problem in backup.yaml; `path` is the field, e.g. "backup.retention.database". When several
 * fields are wrong, `path`/`problem` are the first and `issues` lists all; the message has one line per issue.
 */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];

  constructor(
    readonly path: string,
    readonly problem: string,
    more: readonly ConfigIssue[] = [],
  ) {
    const issues = [{ path, problem }, ...more];
    super(issues.map((i) => `${i.path}: ${i.problem}`).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** The runbook's retention, used for any group backup.yaml leaves out. */
export const DEFAULT_RETENTION_DAYS: Readonly<Record<GroupName, number>> = {
  database: 30,
  memory_tiers: 14,
  configuration: 90,
  model_weights: 180,
  logs: 90,
};
const GIB = 1024 ** 3;
const FARGATE_CPUS = [256, 512, 1024, 2048, 4096, 8192, 16384] as const;

function steps(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

/** Fargate's CPU → memory (MiB) table: the task definition is refused for any other pair. */
const FARGATE_MEMORY: Readonly<Record<number, { readonly options: readonly number[]; readonly text: string }>> = {
  256: { options: [512, 1024, 2048], text: '512, 1024, 2048' },
  512: { options: steps(1024, 4096, 1024), text: '1024-4096 in steps of 1024' },
  1024: { options: steps(2048, 8192, 1024), text: '2048-8192 in steps of 1024' },
  2048: { options: steps(4096, 16384, 1024), text: '4096-16384 in steps of 1024' },
  4096: { options: steps(8192, 30720, 1024), text: '8192-30720 in steps of 1024' },
  8192: { options: steps(16384, 61440, 4096), text: '16384-61440 in steps of 4096' },
  16384: { options: steps(32768, 122880, 8192), text: '32768-122880 in steps of 8192' },
};
const DEFAULT_FARGATE_MEMORY = 4096;
const COLD_STORAGE_CLASSES = ['GLACIER_IR', 'STANDARD_IA', 'INTELLIGENT_TIERING'] as const satisfies readonly ColdStorageClass[];
/** Archive classes S3 serves only after a RestoreObject, which no restore here issues. */
const ARCHIVE_CLASSES = ['GLACIER', 'DEEP_ARCHIVE'];
/** S3 refuses lifecycle transitions to STANDARD_IA earlier than 30 days after creation. */
const STANDARD_IA_MIN_DAYS = 30;
/** Lambda's VPC limits: security groups and subnets per function. */
const MAX_SECURITY_GROUPS = 5;
const MAX_SUBNETS = 16;

/** "30d", "2w", "1y" → days. A bare number is refused: 30 what? */
export function parseDuration(value: unknown): number | undefined {
  const match = typeof value === 'string' ? /^\s*(\d+)\s*([dwy])\s*$/i.exec(value) : null;
  if (!match) return undefined;
  const days = Number(match[1]) * { d: 1, w: 7, y: 365 }[match[2].toLowerCase() as 'd' | 'w' | 'y'];
  return days > 0 && Number.isSafeInteger(days) ? days : undefined;
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** "2GiB", "500MB", "1.5GiB" or a whole number of bytes → bytes. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)?\s*$/i.exec(value) : null;
  if (!match) return undefined;
  const unit = SIZE_UNITS[(match[2] ?? 'b').toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * unit);
  return bytes > 0 && Number.isSafeInteger(bytes) ? bytes : undefined;
}

// ---------------------------------------------------------------------------------------------------------

function parseSchedule(value: unknown, issues: Issues): { schedule: Partial<Record<GroupName, ScheduleConfig>>; timeZone?: string } {
  const path = 'backup.schedule';
  const map = mapping(value, path, [...GROUPS, 'time_zone'], issues);
  const schedule: Partial<Record<GroupName, ScheduleConfig>> = {};
  if (!map) return { schedule };
  for (const group of GROUPS) {
    if (!(group in map)) continue;
    const cron = string(map[group], `${path}.${group}`, issues, 'a five-field cron like "0 2 * * *"');
    if (cron === undefined) continue;
    try {
      schedule[group] = { cron, expression: toSchedulerCron(cron) };
    } catch (error) {
      if (!(error instanceof CronError)) throw error;
      issues.add(`${path}.${group}`, error.message);
    }
  }
  if (!('time_zone' in map)) return { schedule, timeZone: 'UTC' };
  return { schedule, timeZone: parseTimeZone(map.time_zone, `${path}.time_zone`, issues) };
}

function parseTimeZone(value: unknown, path: string, issues: Issues): string | undefined {
  const what = 'an IANA time zone like UTC or Europe/Berlin';
  const zone = string(value, path, issues, what);
  if (zone === undefined) return undefined;
  // Intl alone would also take offsets like "+01:00", which EventBridge Scheduler refuses.
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(zone)) return issues.add(path, `${show(zone)} is not ${what}`);
  try {
    const resolved = new Intl.DateTimeFormat(undefined, { timeZone: zone }).resolvedOptions().timeZone;
    // Keep the operator's spelling unless only its case differs ("utc" → "UTC").
    return resolved.toLowerCase() === zone.toLowerCase() ? resolved : zone;
  } catch {
    return issues.add(path, `${show(zone)} is not ${what}`);
  }
}

function parseLocation(value: unknown, path: string, issues: Issues): Partial<StorageLocation> | undefined {
  if (value === undefined || value === null) return issues.add(path, 'is required: a mapping with type, bucket, region, path');
  const map = mapping(value, path, ['type', 'bucket', 'region', 'path', 'exact_name'], issues);
  if (!map) return undefined;
  const type = 'type' in map ? oneOf(map.type, `${path}.type`, issues, ['s3'] as const) : 's3';
  let bucket: string | undefined;
  if (!('bucket' in map)) issues.add(`${path}.bucket`, 'is required: an S3 bucket name like neuroca-backups');
  else {
    bucket = string(map.bucket, `${path}.bucket`, issues, 'an S3 bucket name like neuroca-backups');
    const problem = bucket === undefined ? undefined : bucketProblem(bucket);
    if (problem) bucket = issues.add(`${path}.bucket`, `${show(bucket)} is not a valid S3 bucket name: ${problem}`);
  }
  const region =
    'region' in map
      ? matching(map.region, `${path}.region`, issues, REGION, 'an AWS region like us-west-2')
      : issues.add(`${path}.region`, 'is required: an AWS region like us-west-2');
  let prefix: string | undefined = '';
  if ('path' in map) {
    const text = typeof map.path === 'string' ? map.path : undefined;
    prefix = text === undefined ? undefined : normalisePrefix(text);
    if (prefix === undefined) {
      issues.add(`${path}.path`, `${show(map.path)} is not a key prefix like "/backups" (letters, digits and !_.*'()- between slashes)`);
    }
  }
  const exactName = 'exact_name' in map ? boolean(map.exact_name, `${path}.exact_name`, issues) : false;
  if (exactName === undefined) return undefined;
  return { type, bucket, region, prefix, ...(exactName ? { exactName: true } : {}) };
}

function complete(location: Partial<StorageLocation> | undefined): StorageLocation | undefined {
  const { type, bucket, region, prefix, exactName } = location ?? {};
  return type && bucket && region && prefix !== undefined ? { type, bucket, region, prefix, ...(exactName ? { exactName } : {}) } : undefined;
}

/** backup.installation: short, lower case, usable in stack names, KMS aliases, role names and bucket names. */
const INSTALLATION = /^[a-z][a-z0-9-]{0,18}[a-z0-9]$/;

function parseInstallation(value: unknown, issues: Issues): string | undefined {
  const path = 'backup.installation';
  const what = 'an installation name like nca-backup (2-20 of a-z, 0-9 and -, starting with a letter, ending with a letter or digit)';
  const name = string(value, path, issues, what);
  if (name === undefined) return undefined;
  if (!INSTALLATION.test(name) || name.includes('--')) return issues.add(path, `${show(name)} is not ${what}`);
  // KMS reserves aliases under alias/aws.
  if (name.startsWith('aws')) return issues.add(path, `${show(name)} must not start with aws (KMS reserves alias/aws*)`);
  return name;
}

function parseColdStorage(value: unknown, path: string, issues: Issues): Partial<ColdStorageConfig> | undefined {
  const map = mapping(value, path, ['storage_class', 'after_days'], issues);
  if (!map) return undefined;
  const named = typeof map.storage_class === 'string' ? map.storage_class.trim().toUpperCase() : undefined;
  const archived = ARCHIVE_CLASSES.find((c) => c === named);
  const storageClass = archived
    ? issues.add(
        `${path}.storage_class`,
        `${show(map.storage_class)} is not allowed: ${archived} objects must be restored (RestoreObject, hours) before they can be read, which no restore here does, so every restore would fail; use GLACIER_IR (millisecond retrieval) or INTELLIGENT_TIERING; allowed: ${COLD_STORAGE_CLASSES.join(', ')}`,
      )
    : 'storage_class' in map
      ? oneOf(map.storage_class, `${path}.storage_class`, issues, COLD_STORAGE_CLASSES)
      : issues.add(`${path}.storage_class`, `is required; allowed: ${COLD_STORAGE_CLASSES.join(', ')}`);
  const afterDays =
    'after_days' in map
      ? integer(map.after_days, `${path}.after_days`, issues, 0, 36500)
      : issues.add(`${path}.after_days`, 'is required: days after a backup is written that it moves to storage_class');
  if (storageClass === 'STANDARD_IA' && afterDays !== undefined && afterDays < STANDARD_IA_MIN_DAYS) {
    issues.add(`${path}.after_days`, `${afterDays} is too early for STANDARD_IA: S3 moves objects there no earlier than ${STANDARD_IA_MIN_DAYS} days`);
  }
  return { storageClass, afterDays };
}

/**
 * The vaults' default retention. `object_lock: false` means none (the buckets keep Object Lock enabled,
 * which CloudFormation cannot add later); absent, or a mapping without mode/days, means mode GOVERNANCE and
 * days from the shortest retention, filled in by objectLockDefaults once retention is known.
 */
function parseObjectLock(value: unknown, path: string, issues: Issues): Partial<ObjectLockConfig> | false | undefined {
  if (value === false) return false;
  if (value === true) return {};
  const map = mapping(value, path, ['mode', 'days'], issues);
  if (!map) return undefined;
  const mode = 'mode' in map ? oneOf(map.mode, `${path}.mode`, issues, ['GOVERNANCE', 'COMPLIANCE'] as const) : 'GOVERNANCE';
  const days = 'days' in map ? integer(map.days, `${path}.days`, issues, 1, 36500) : undefined;
  return { mode, days };
}

/** The default retention as the vaults get it: none when opted out, else mode and days with the shortest retention as the default. */
function objectLockDefaults(
  lock: Partial<ObjectLockConfig> | false | undefined,
  retention: Partial<Record<GroupName, number>>,
): Partial<ObjectLockConfig> | undefined {
  if (lock === false) return undefined;
  const days = GROUPS.map((g) => retention[g]);
  const shortest = days.every((d) => d !== undefined) ? Math.min(...(days as number[])) : undefined;
  return { mode: lock?.mode ?? 'GOVERNANCE', days: lock?.days ?? shortest };
}

const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const ROLE_ARN = new RegExp(`^arn:${PARTITION}:iam::${ACCOUNT}:role/([\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$`);

function parseBreakGlassRole(value: unknown, path: string, issues: Issues): string | undefined {
  const text = string(value, path, issues, 'a role name or role ARN');
  if (text === undefined) return undefined;
  if (text.startsWith('arn:')) return ROLE_ARN.test(text) ? text : issues.add(path, `${show(text)} is not a role ARN like arn:aws:iam::123456789012:role/vault-break-glass`);
  return ROLE_NAME.test(text) ? text : issues.add(path, `${show(text)} is not a role name (1-64 of letters, digits and +=,.@_-)`);
}

function parseRetention(value: unknown, issues: Issues): Partial<Record<GroupName, number>> {
  const path = 'backup.retention';
  const map = mapping(value, path, GROUPS, issues) ?? {};
  const retention: Partial<Record<GroupName, number>> = {};
  for (const group of GROUPS) {
    if (!(group in map)) {
      retention[group] = DEFAULT_RETENTION_DAYS[group];
      continue;
    }
    const days = parseDuration(map[group]);
    if (days === undefined) issues.add(`${path}.${group}`, `${show(map[group])} is not a duration like 30d (a positive whole number of d days, w weeks or y years)`);
    else retention[group] = days;
  }
  return retention;
}

/** A KMS key id: a UUID of hex digits, or a multi-Region key's mrk- id. */
const KEY_ID = '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})';
const ALIAS_NAME = 'alias/[A-Za-z0-9/_-]+';
const KMS_KEY = new RegExp(`^(arn:${PARTITION}:kms:[a-z0-9-]+:${ACCOUNT}:(key/${KEY_ID}|${ALIAS_NAME})|${ALIAS_NAME}|${KEY_ID})$`);
/**
 * What the documentation writes where a key id goes (the runbook's `abcd1234-ef56-gh78-ij90-klmn1234pqrs` is
 * not hex): accepted only when the caller allows documentation values.
 */
const DOCUMENTATION_KMS_KEY = new RegExp(
  `^(arn:${PARTITION}:kms:[a-z0-9-]+:${ACCOUNT}:key/[0-9A-Za-z]{8}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{12}` +
    '|[0-9A-Za-z]{8}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{12})$',
);
const KMS_KEY_WHAT = 'a KMS key ARN, alias ARN, alias/<name> or key id (a key id is a UUID of hex digits like 1234abcd-12ab-34cd-56ef-1234567890ab)';

/** The AWS documentation's example account ids: an ARN in them is an example copied, never a real resource. */
export const DOCUMENTATION_ACCOUNTS: readonly string[] = ['123456789012', '111122223333', '444455556666'];

function parseEncryption(value: unknown, issues: Issues, allowDocumentationValues: boolean): Partial<EncryptionConfig> {
  const path = 'backup.encryption';
  const map = mapping(value, path, ['enabled', 'key_management', 'kms_key_id'], issues) ?? {};
  if ('enabled' in map && map.enabled !== true) {
    issues.add(`${path}.enabled`, `${show(map.enabled)} is not allowed: backups are never written unencrypted; set enabled: true (or leave it out)`);
  }
  if ('key_management' in map) oneOf(map.key_management, `${path}.key_management`, issues, ['kms'] as const);
  let kmsKeyId: string | undefined;
  if ('kms_key_id' in map) {
    const text = string(map.kms_key_id, `${path}.kms_key_id`, issues, KMS_KEY_WHAT);
    if (text !== undefined && (KMS_KEY.test(text) || (allowDocumentationValues && DOCUMENTATION_KMS_KEY.test(text)))) kmsKeyId = text;
    else if (text !== undefined) {
      const hint = DOCUMENTATION_KMS_KEY.test(text) ? '; this key id is not hex (an example from the documentation?): name your key, or leave kms_key_id out and the stack creates one' : '';
      issues.add(`${path}.kms_key_id`, `${show(text)} is not ${KMS_KEY_WHAT}${hint}`);
    }
  }
  return { enabled: true, keyManagement: 'kms', kmsKeyId };
}

/**
 * backup.sources: one section per component, each read by its descriptor. Without `sources`, each
 * component's `whenNoSources` (the runbook's example still backs up its PostgreSQL database).
 */
function parseSources(value: unknown, issues: Issues, components: Components): SourcesConfig | undefined {
  const path = 'backup.sources';
  if (value === undefined) {
    return Object.fromEntries(components.flatMap((d) => (d.source.whenNoSources === undefined ? [] : [[d.name, d.source.whenNoSources]]))) as SourcesConfig;
  }
  const map = mapping(value, path, components.map((d) => d.name), issues);
  if (!map) return undefined;
  const before = issues.list.length;
  const sources: Record<string, unknown> = {};
  for (const descriptor of components) {
    if (descriptor.name in map) sources[descriptor.name] = descriptor.source.parse(map[descriptor.name], { path: `${path}.${descriptor.name}`, issues, sources: map });
  }
  return issues.list.length === before ? (sources as SourcesConfig) : undefined;
}

const IMPORTED_NETWORK_KEYS = ['vpc_id', 'subnet_ids', 'availability_zones', 'security_group_ids'] as const;
const CREATED_NETWORK_KEYS = ['interface_endpoints', 'flow_logs'] as const;

/** `true` or `false`, nothing else ("yes" and 1 read as mistakes, not as on). */
function flag(value: unknown, path: string, issues: Issues): boolean | undefined {
  return typeof value === 'boolean' ? value : issues.add(path, `${show(value)} is not allowed; allowed: true, false`);
}

/** backup.network with a vpc_id: the workers' own VPC. Without one (only created-VPC choices), undefined. */
export function parseNetwork(value: unknown, issues: Issues, path = 'backup.network'): NetworkConfig | undefined {
  const map = mapping(value, path, [...IMPORTED_NETWORK_KEYS, ...CREATED_NETWORK_KEYS], issues);
  if (!map || !IMPORTED_NETWORK_KEYS.some((key) => key in map)) return undefined;
  const vpcId =
    'vpc_id' in map
      ? matching(map.vpc_id, `${path}.vpc_id`, issues, /^vpc-([0-9a-f]{8}|[0-9a-f]{17})$/, 'a VPC id like vpc-0123456789abcdef0')
      : issues.add(`${path}.vpc_id`, 'is required: the workers\' VPC id, like vpc-0123456789abcdef0');
  const ids = (key: string, what: string, pattern: RegExp, example: string, max: number): string[] | undefined => {
    if (!(key in map)) return issues.add(`${path}.${key}`, `is required: a list of ${what} like ${example}`);
    const items = list(map[key], `${path}.${key}`, issues, `${what} like ${example}`);
    if (!items) return undefined;
    if (items.length > max) return issues.add(`${path}.${key}`, `has ${items.length} entries; at most ${max} are allowed (Lambda's VPC limit)`);
    return uniqueStrings(items, `${path}.${key}`, issues, pattern, `a ${what.replace(/s$/, '')} like ${example}`);
  };
  const subnetIds = ids('subnet_ids', 'subnet ids', /^subnet-([0-9a-f]{8}|[0-9a-f]{17})$/, 'subnet-0123456789abcdef0', MAX_SUBNETS);
  const availabilityZones = ids('availability_zones', 'availability zones', /^[a-z]{2}(-[a-z]+)+-\d{1,2}[a-z]$/, 'us-west-2a', MAX_SUBNETS);
  const securityGroupIds = ids('security_group_ids', 'security group ids', /^sg-([0-9a-f]{8}|[0-9a-f]{17})$/, 'sg-0123456789abcdef0', MAX_SECURITY_GROUPS);
  if (subnetIds && availabilityZones && subnetIds.length !== availabilityZones.length) {
    issues.add(
      `${path}.availability_zones`,
      `has ${availabilityZones.length} entries but subnet_ids has ${subnetIds.length}: list the availability zone of each subnet, in the same order`,
    );
    return undefined;
  }
  if (!vpcId || !subnetIds || !availabilityZones || !securityGroupIds) return undefined;
  return { vpcId, subnetIds, availabilityZones, securityGroupIds };
}

/** backup.network's choices for the VPC the stack creates; refused next to a vpc_id, where there is none. */
export function parseCreatedNetwork(value: unknown, issues: Issues, path = 'backup.network'): CreatedNetworkConfig | undefined {
  if (!isMapping(value) || !CREATED_NETWORK_KEYS.some((key) => key in value)) return undefined;
  if (IMPORTED_NETWORK_KEYS.some((key) => key in value)) {
    for (const key of CREATED_NETWORK_KEYS.filter((k) => k in value)) {
      issues.add(`${path}.${key}`, 'applies only to the VPC the stack creates (no vpc_id); the endpoints and flow logs of your own VPC are yours to manage');
    }
    return undefined;
  }
  const interfaceEndpoints = 'interface_endpoints' in value ? flag(value.interface_endpoints, `${path}.interface_endpoints`, issues) : undefined;
  const flowLogs = 'flow_logs' in value ? oneOf(value.flow_logs, `${path}.flow_logs`, issues, ['ALL', 'REJECT', 'OFF'] as const) : undefined;
  return { ...(interfaceEndpoints !== undefined ? { interfaceEndpoints } : {}), ...(flowLogs ? { flowLogs } : {}) };
}

function parseRunner(value: unknown, issues: Issues): RunnerConfig | undefined {
  const path = 'backup.runner';
  const map = mapping(value, path, ['lambda_max_bytes', 'force', 'max_concurrency', 'lambda', 'fargate'], issues);
  if (!map) return undefined;
  let lambdaMaxBytes: number | undefined = 2 * GIB;
  if ('lambda_max_bytes' in map) {
    lambdaMaxBytes = parseSize(map.lambda_max_bytes);
    if (lambdaMaxBytes === undefined) {
      issues.add(`${path}.lambda_max_bytes`, `${show(map.lambda_max_bytes)} is not a size like 2GiB, 500MB or a whole number of bytes`);
    }
  }
  const force = 'force' in map ? oneOf(map.force, `${path}.force`, issues, ['lambda', 'fargate'] as const) : undefined;
  const maxConcurrency = 'max_concurrency' in map ? integer(map.max_concurrency, `${path}.max_concurrency`, issues, 1, 40) : 4;

  const lambdaMap = mapping(map.lambda, `${path}.lambda`, ['memory_mb', 'timeout_minutes'], issues);
  const memoryMiB = lambdaMap && 'memory_mb' in lambdaMap ? integer(lambdaMap.memory_mb, `${path}.lambda.memory_mb`, issues, 128, 10240) : 2048;
  const timeoutMinutes = lambdaMap && 'timeout_minutes' in lambdaMap ? integer(lambdaMap.timeout_minutes, `${path}.lambda.timeout_minutes`, issues, 1, 15) : 15;

  const fargate = parseFargate(map.fargate, `${path}.fargate`, issues);
  if (lambdaMaxBytes === undefined || (map.force !== undefined && force === undefined) || maxConcurrency === undefined) return undefined;
  if (!lambdaMap || memoryMiB === undefined || timeoutMinutes === undefined || !fargate) return undefined;
  return { lambdaMaxBytes, ...(force ? { force } : {}), maxConcurrency, lambda: { memoryMiB, timeoutMinutes }, fargate };
}

function parseFargate(value: unknown, path: string, issues: Issues): RunnerConfig['fargate'] | undefined {
  const map = mapping(value, path, ['cpu', 'memory_mb', 'ephemeral_storage_gb', 'container_insights'], issues);
  if (!map) return undefined;
  // 8 vCPU: with parallelStreams() at 8, the RTO model's default that restores the runbook's upper sizes in time (README "RTO model").
  let cpu: number | undefined = 8192;
  if ('cpu' in map) {
    cpu = FARGATE_CPUS.find((c) => c === map.cpu);
    if (cpu === undefined) issues.add(`${path}.cpu`, `${show(map.cpu)} is not a Fargate CPU size; allowed: ${FARGATE_CPUS.join(', ')}`);
  }
  let memoryMiB: number | undefined;
  if (cpu !== undefined) {
    const { options, text } = FARGATE_MEMORY[cpu];
    if ('memory_mb' in map) {
      memoryMiB = options.find((m) => m === map.memory_mb);
      if (memoryMiB === undefined) {
        issues.add(`${path}.memory_mb`, `${show(map.memory_mb)} is not valid with cpu ${cpu}; allowed: ${text}`);
      }
    } else {
      // The default that fits the CPU: 4096, or the nearest size this CPU allows.
      memoryMiB = options.reduce((best, m) => (Math.abs(m - DEFAULT_FARGATE_MEMORY) < Math.abs(best - DEFAULT_FARGATE_MEMORY) ? m : best));
    }
  }
  const ephemeralStorageGiB = 'ephemeral_storage_gb' in map ? integer(map.ephemeral_storage_gb, `${path}.ephemeral_storage_gb`, issues, 21, 200) : 21;
  const containerInsights = 'container_insights' in map ? flag(map.container_insights, `${path}.container_insights`, issues) : undefined;
  if (cpu === undefined || memoryMiB === undefined || ephemeralStorageGiB === undefined) return undefined;
  return { cpu, memoryMiB, ephemeralStorageGiB, ...(containerInsights !== undefined ? { containerInsights } : {}) };
}

/** A database name as any component's target may spell it: 1-63 characters, no NUL (the strictest server decides at restore). */
const TARGET_NAME = /^[^\0]{1,63}$/;

function parseRestore(value: unknown, issues: Issues): RestoreConfig | undefined {
  const path = 'backup.restore';
  const map = mapping(value, path, ['protected_targets'], issues);
  if (!map || !('protected_targets' in map)) return undefined;
  const key = `${path}.protected_targets`;
  const raw = map.protected_targets;
  // An empty list is a way to say "none": the system databases stay refused whatever it holds.
  if (Array.isArray(raw) && raw.length === 0) return undefined;
  const values = list(raw, key, issues, 'database names like "neuroca_db"');
  const protectedTargets = values && uniqueStrings(values, key, issues, TARGET_NAME, 'a database name (1-63 characters, no NUL)');
  return protectedTargets ? { protectedTargets } : undefined;
}

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s.]+$/;
const TOPIC_ARN = new RegExp(`^arn:${PARTITION}:sns:[a-z0-9-]+:${ACCOUNT}:[A-Za-z0-9_-]{1,256}(\\.fifo)?$`);

function parseNotifications(value: unknown, issues: Issues): NotificationsConfig | undefined {
  const path = 'backup.notifications';
  const map = mapping(value, path, ['email', 'sns_topic_arn', 'subscribe_later'], issues);
  if (!map) return undefined;
  let emails: string[] | undefined = [];
  if ('email' in map) {
    const raw = typeof map.email === 'string' ? [map.email] : Array.isArray(map.email) ? map.email : undefined;
    emails = raw === undefined
      ? issues.add(`${path}.email`, `${show(map.email)} is not an e-mail address or a list of them`)
      : uniqueStrings(raw, `${path}.email`, issues, EMAIL, 'an e-mail address like oncall@example.com');
  }
  const snsTopicArn =
    'sns_topic_arn' in map
      ? matching(map.sns_topic_arn, `${path}.sns_topic_arn`, issues, TOPIC_ARN, 'an SNS topic ARN like arn:aws:sns:us-west-2:123456789012:ops-alerts')
      : undefined;
  let subscribeLater = false;
  if ('subscribe_later' in map) {
    if (typeof map.subscribe_later !== 'boolean') {
      issues.add(`${path}.subscribe_later`, `${show(map.subscribe_later)} is not true or false`);
    } else if (map.subscribe_later && ((emails?.length ?? 0) > 0 || 'sns_topic_arn' in map)) {
      issues.add(`${path}.subscribe_later`, 'is only for a deploy with neither email nor sns_topic_arn: remove it, or remove those');
    } else {
      subscribeLater = map.subscribe_later;
    }
  }
  if (!emails || ('sns_topic_arn' in map && !snsTopicArn)) return undefined;
  return { emails, ...(snsTopicArn ? { snsTopicArn } : {}), ...(subscribeLater ? { subscribeLater: true as const } : {}) };
}

/** Rules that relate fields of different sections; each runs only when the fields it reads are valid. */
function crossCheck(
  config: {
    primary?: StorageLocation;
    secondary?: StorageLocation;
    retention: Partial<Record<GroupName, number>>;
    coldStorage?: Partial<ColdStorageConfig>;
    objectLock?: Partial<ObjectLockConfig>;
    kmsKeyId?: string;
    sources?: SourcesConfig;
    /** backup.recovery.sources, merged with backup.sources (config/recovery.ts). */
    recoverySources?: SourcesConfig;
    network?: NetworkConfig;
    notifications?: NotificationsConfig;
    installation?: string;
    breakGlassRole?: string;
    allowDocumentationValues: boolean;
    components: Components;
  },
  issues: Issues,
): void {
  const { primary, secondary, installation } = config;
  if (installation !== undefined) {
    for (const [key, location] of [['primary', primary], ['secondary', secondary]] as const) {
      if (!location) continue;
      const longest = vaultBucketName(location, installation, '0'.repeat(ACCOUNT_ID_LENGTH));
      if (longest.length > MAX_BUCKET_NAME_LENGTH) {
        issues.add(
          `backup.storage.${key}.bucket`,
          `${show(location.bucket)} is too long: the stacks name the bucket ${show(vaultBucketName(location, installation, '<account>'))}, ` +
            `${longest.length} characters with the 12-digit account id, and S3 allows ${MAX_BUCKET_NAME_LENGTH}; ` +
            `shorten it to at most ${location.bucket.length - (longest.length - MAX_BUCKET_NAME_LENGTH)} characters, or set exact_name: true to use it as written`,
        );
      }
    }
  }
  if (primary && secondary) {
    if (primary.region === secondary.region) {
      issues.add(
        'backup.storage.secondary.region',
        `${show(secondary.region)} is the primary's region; cross-region replication needs another region (e.g. eu-central-1 for us-west-2)`,
      );
    }
    if (primary.bucket === secondary.bucket) {
      issues.add('backup.storage.secondary.bucket', `${show(secondary.bucket)} is the primary's bucket; bucket names are global, use another name`);
    }
  }
  const retentions = GROUPS.map((g) => config.retention[g]);
  const allRetention = retentions.every((d) => d !== undefined) ? (retentions as number[]) : undefined;
  const cold = config.coldStorage;
  if (allRetention && cold?.afterDays !== undefined && cold.storageClass !== undefined) {
    // One transition rule per group; a group that expires first simply never moves (S3 refuses a transition
    // that is not earlier than the expiration), so only a transition no group would reach is an error.
    const longest = Math.max(...allRetention);
    if (cold.afterDays >= longest) {
      issues.add(
        'backup.storage.cold_storage.after_days',
        `${cold.afterDays} is not less than the longest retention (${longest} days), so no backup would ever move to ${cold.storageClass}`,
      );
    }
  }
  const lock = config.objectLock;
  if (allRetention && lock?.days !== undefined) {
    // The lock is the bucket's default for every object, and a locked version cannot be deleted, so a lock
    // longer than a group's retention would keep that group's backups past their retention.
    const shortest = Math.min(...allRetention);
    const group = GROUPS[allRetention.indexOf(shortest)];
    if (lock.days > shortest) {
      issues.add(
        'backup.storage.object_lock.days',
        `${lock.days} exceeds the shortest retention (${group}: ${shortest} days); locked backups could not expire on time, allowed: 1-${shortest}`,
      );
    }
  }
  if (!config.allowDocumentationValues) {
    const documentation = (path: string, arn: string | undefined, instead: string) => {
      const account = arn?.startsWith('arn:') ? arn.split(':')[4] : undefined;
      if (account && DOCUMENTATION_ACCOUNTS.includes(account)) {
        issues.add(path, `names the account ${account}, an example account of the AWS documentation, not yours; ${instead}`);
      }
    };
    documentation('backup.encryption.kms_key_id', config.kmsKeyId, 'give your own key\'s ARN, or leave kms_key_id out and the stack creates a key');
    for (const { path, arn } of sourceArns(config.sources ?? {}, config.components)) documentation(path, arn, 'give the ARN of your own resource (for a secret, Secrets Manager shows it)');
    for (const { path, arn } of sourceArns(config.recoverySources ?? {}, config.components)) {
      documentation(path.replace(/^backup\.sources\./, 'backup.recovery.sources.'), arn, 'give the ARN of your own secret in the recovery region');
    }
    documentation('backup.notifications.sns_topic_arn', config.notifications?.snsTopicArn, 'give your own topic\'s ARN, or leave sns_topic_arn out and the stack creates a topic');
    documentation('backup.storage.break_glass_role', config.breakGlassRole, 'give your own role\'s ARN, or a role name for the stack to create');
  }
  if (!primary) return;
  const region = primary.region;
  const inPrimary = (path: string, arn: string | undefined, why: string) => {
    if (arn?.startsWith('arn:') && regionOfArn(arn) !== region) {
      issues.add(path, `is in ${regionOfArn(arn)}, but the primary bucket is in ${region}; ${why}`);
    }
  };
  inPrimary('backup.encryption.kms_key_id', config.kmsKeyId, 'SSE-KMS needs a key in the bucket\'s region');
  for (const { path, arn } of sourceArns(config.sources ?? {}, config.components)) {
    inPrimary(path, arn, 'the workers run there and read it from their own region');
  }
  inPrimary('backup.notifications.sns_topic_arn', config.notifications?.snsTopicArn, 'CloudWatch alarms notify topics in their own region only');
  const zones = config.network?.availabilityZones ?? [];
  const foreign = zones.filter((z) => !z.startsWith(region) || !/^[a-z]$/.test(z.slice(region.length)));
  if (foreign.length > 0) {
    issues.add('backup.network.availability_zones', `${foreign.join(', ')} not in ${region}; the workers run in the primary region`);
  }
}

export interface ParseOptions {
  /**
   * Where the text came from, for error messages.
   * @default DEFAULT_CONFIG_FILE
   */
  readonly source?: string;
  /**
   * The descriptors whose `backup.sources` sections are read.
   * @default COMPONENTS
   */
  readonly components?: Components;
  /**
   * Accept the documentation's example values: ARNs in its example accounts (123456789012 …) and key ids
   * that are not hex. Only tests of the runbook's example set it; a real backup.yaml never needs it.
   * @default false
   */
  readonly allowDocumentationValues?: boolean;
}

/** Parses and validates backup.yaml text. Throws ConfigError naming the field (all problems, one per line). */
export function parseBackupConfig(yamlText: string, options: ParseOptions = {}): BackupConfig {
  const { source = DEFAULT_CONFIG_FILE, components = COMPONENTS, allowDocumentationValues = false } = options;
  const doc = parseDocument(yamlText, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // Only the first: later YAML errors are mostly echoes of it.
    const error = doc.errors[0];
    const pos = error.linePos?.[0];
    const reason = error.message.replace(/ at line \d+, column \d+.*$/s, '');
    // A cron written unquoted and starting with * reads as a YAML alias.
    const hint = /alias/i.test(reason) ? '; quote values that contain *, e.g. "*/15 * * * *"' : '';
    throw new ConfigError(pos ? `line ${pos.line}, column ${pos.col}` : source, `${source} is not valid YAML: ${reason}${hint}`);
  }
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // The yaml library refuses alias expansion past maxAliasCount ("billion laughs") with a plain Error.
    throw new ConfigError(source, `${source} cannot be read as YAML: ${(error as Error).message}`);
  }
  if (!isMapping(root) || !('backup' in root)) {
    throw new ConfigError('backup', `is required: ${source} must have a top-level backup: mapping (see the runbook's example)`);
  }
  const issues = new Issues();
  for (const key of Object.keys(root)) if (key !== 'backup') issues.add(key, 'unknown key; allowed: backup');
  const top = mapping(root.backup, 'backup', ['installation', 'schedule', 'storage', 'retention', 'encryption', 'sources', 'network', 'runner', 'notifications', 'restore', 'verification', 'recovery', 'audit'], issues);
  if (!top) throw new ConfigError(issues.list[0].path, issues.list[0].problem, issues.list.slice(1));

  const installation = 'installation' in top ? parseInstallation(top.installation, issues) : DEFAULT_INSTALLATION;
  const { schedule, timeZone } = parseSchedule(top.schedule, issues);
  const storage =
    'storage' in top ? mapping(top.storage, 'backup.storage', ['primary', 'secondary', 'cold_storage', 'object_lock', 'break_glass_role', 'replication_time_control'], issues) : undefined;
  if (!('storage' in top)) issues.add('backup.storage', 'is required: primary and secondary (type, bucket, region, path)');
  const primary = storage ? complete(parseLocation(storage.primary, 'backup.storage.primary', issues)) : undefined;
  const secondary = storage ? complete(parseLocation(storage.secondary, 'backup.storage.secondary', issues)) : undefined;
  const coldStorage = storage && 'cold_storage' in storage ? parseColdStorage(storage.cold_storage, 'backup.storage.cold_storage', issues) : undefined;
  const lockSetting = storage && 'object_lock' in storage ? parseObjectLock(storage.object_lock, 'backup.storage.object_lock', issues) : {};
  const breakGlassRole =
    storage && 'break_glass_role' in storage ? parseBreakGlassRole(storage.break_glass_role, 'backup.storage.break_glass_role', issues) : undefined;
  const replicationTimeControl =
    storage && 'replication_time_control' in storage ? flag(storage.replication_time_control, 'backup.storage.replication_time_control', issues) : undefined;
  const retention = parseRetention(top.retention, issues);
  const objectLock = lockSetting === undefined ? undefined : objectLockDefaults(lockSetting, retention);
  const encryption = parseEncryption(top.encryption, issues, allowDocumentationValues);
  const sources = parseSources(top.sources, issues, components);
  const network = 'network' in top ? parseNetwork(top.network, issues) : undefined;
  const createdNetwork = parseCreatedNetwork(top.network, issues);
  const runner = parseRunner(top.runner, issues);
  const notifications = parseNotifications(top.notifications, issues);
  const restore = parseRestore(top.restore, issues);
  const recovery =
    'recovery' in top
      ? parseRecovery(top.recovery, {
          issues,
          sources: isMapping(top.sources) ? top.sources : {},
          sourcesValid: sources !== undefined,
          primary,
          secondary,
          components,
          parseNetwork,
          parseCreatedNetwork,
        })
      : undefined;
  const verification = 'verification' in top ? parseVerification(top.verification, issues, components, sources) : DEFAULT_VERIFICATION;
  const audit = 'audit' in top ? parseAudit(top.audit, issues) : undefined;
  crossCheck(
    { primary, secondary, retention, coldStorage, objectLock, kmsKeyId: encryption.kmsKeyId, sources, recoverySources: recovery?.sources, network, notifications, installation, breakGlassRole, allowDocumentationValues, components },
    issues,
  );

  if (issues.list.length > 0) throw new ConfigError(issues.list[0].path, issues.list[0].problem, issues.list.slice(1));
  // No issue was recorded, so every section parsed completely; the assertions below cannot fail.
  const present = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('backup.yaml loader: a section failed without reporting why');
    return value;
  };
  return {
    installation: present(installation),
    schedule,
    timeZone: present(timeZone),
    storage: {
      primary: present(primary),
      secondary: present(secondary),
      ...(coldStorage ? { coldStorage: coldStorage as ColdStorageConfig } : {}),
      ...(objectLock ? { objectLock: objectLock as ObjectLockConfig } : {}),
      ...(breakGlassRole ? { breakGlassRole } : {}),
      ...(replicationTimeControl !== undefined ? { replicationTimeControl } : {}),
    },
    retention: retention as Record<GroupName, number>,
    encryption: { enabled: true, keyManagement: 'kms', ...(encryption.kmsKeyId ? { kmsKeyId: encryption.kmsKeyId } : {}) },
    sources: present(sources),
    ...(network ? { network } : {}),
    ...(createdNetwork ? { createdNetwork } : {}),
    runner: present(runner),
    notifications: present(notifications),
    ...(restore ? { restore } : {}),
    verification: present(verification),
    ...(recovery ? { recovery } : {}),
    // Absent when backup.yaml has no section: readers take DEFAULT_AUDIT (config/audit.ts auditOf).
    ...('audit' in top ? { audit: present(audit) } : {}),
  };
}

/** Reads a backup.yaml file from disk and validates it. A missing or unreadable file is a ConfigError too. */
export function loadBackupConfig(file: string): BackupConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      file,
      code === 'ENOENT'
        ? 'no such file; copy the repository\'s backup.yaml or point NCA_BACKUP_CONFIG at yours'
        : `cannot be read (${code ?? (error as Error).message})`,
    );
  }
  return parseBackupConfig(text, { source: file });
}
