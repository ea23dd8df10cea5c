/**
 * `backup.verification`: the runbook's "Backup Verification" chapter as settings. When restore drills run
 * and which recovery point they pick, how long a drill's sandbox is kept, and each component's recovery
 * point objective (RPO): how old its newest complete backup may be. Pure: the loader, the CDK app and the
 * workers read it.
 */
import { CronError, longestIntervalMs, toSchedulerCron } from './cron';
import { integer, isMapping, list, mapping, oneOf, show, string, type Issues, type Mapping } from './fields';
import { GROUPS, type GroupName } from './groups';
import type { ComponentName, Components } from './components';

/** The runbook's drill cadence: quarterly, 06:00 UTC on the first of January, April, July and October. */
export const DEFAULT_DRILL_SCHEDULE = '0 6 1 */3 *';
export const DEFAULT_WINDOW_DAYS = 30;
export const DEFAULT_INTEGRITY_CYCLE_HOURS = 168;

/** The runbook's RPO table (hours): database 24 h, memory tiers 24 h, configuration 7 days. */
export const RUNBOOK_RPO_HOURS: Readonly<Partial<Record<GroupName, number>>> = { database: 24, memory_tiers: 24, configuration: 7 * 24 };

/** The runbook's RTO table (hours): database 4 h, memory tiers 6 h (the full system's 12 h is issue 15's restore-all). */
export const RUNBOOK_RTO_HOURS: Readonly<Partial<Record<GroupName, number>>> = { database: 4, memory_tiers: 6 };

/**
 * A sample data retrieval check a drill runs against its sandbox after the fingerprint matched: the data is
 * there and answers a query the application would ask. Which kind applies depends on the component.
 */
export type SampleCheck =
  /** postgres, vector: a SQL query (read-only, run in a READ ONLY transaction) that must return at least minRows rows. */
  | { readonly sql: string; readonly minRows: number }
  /** redis: a SCAN MATCH pattern that must match at least minKeys keys. */
  | { readonly keys: string; readonly minKeys: number }
  /** mongodb: a find filter on a collection that must match at least minDocuments documents. */
  | { readonly collection: string; readonly filter: Readonly<Record<string, unknown>>; readonly minDocuments: number };

/**
 * Sanitization of a sandbox kept for people (runbook: "Sanitize sensitive data in test restores"), applied
 * after verification, before the drill reports the sandbox as kept.
 */
export interface SanitizeRule {
  /** postgres/vector: `schema.table.column` (or `table.column`, schema public); mongodb: `collection.field` (dotted path); redis: a key pattern whose values are replaced. */
  readonly target: string;
  /** hash: SHA-256 hex of the value; mask: every character but the last four replaced by `*`; null: NULL / field removed / key deleted; fixed: `value`. */
  readonly action: 'hash' | 'mask' | 'null' | 'fixed';
  /** The replacement of `fixed`. */
  readonly value?: string;
}

/** A schedule as written and as EventBridge Scheduler reads it (types.ts ScheduleConfig, which imports this module). */
interface ScheduleConfig {
  readonly cron: string;
  readonly expression: string;
}

export interface VerificationConfig {
  /** When restore drills run. @default quarterly (DEFAULT_DRILL_SCHEDULE) */
  readonly schedule: ScheduleConfig;
  /** The backup a drill restores: the newest, or one picked at random within `windowDays`. @default latest */
  readonly recoveryPoint: 'latest' | 'random';
  /** How far back `random` picks from. @default 30 */
  readonly windowDays: number;
  /** How long a drill's sandbox is kept for people to look at; 0 drops it when the drill ends. @default 0 */
  readonly keepHours: number;
  /** RPOs as written, in hours, by group or component name (a component's wins). @default the runbook's, else the schedule's longest interval plus a margin */
  readonly rpoHours: Readonly<Record<string, number>>;
  /**
   * The integrity check runs hourly and reads 1/cycle of the backups each time, so every backup is re-read
   * in both vaults once per cycle. @default 168 (weekly: reading the recovery vault crosses regions, paid per GB)
   */
  readonly integrityCycleHours: number;
  /**
   * Per component, runtime source fields (camelCase, as in RuntimeSources) that replace the production
   * server's for drills: another host, port or credentials secret; for redis also `db`, the sandbox index.
   * @default the production server, and redis index 15
   */
  readonly sandbox: Readonly<Partial<Record<ComponentName, Readonly<Record<string, unknown>>>>>;
  /** Per component, the sample data retrieval checks of a drill. @default per component, the NCA schema's (functions/core/drill-samples.ts) */
  readonly samples: Readonly<Partial<Record<ComponentName, readonly SampleCheck[]>>>;
  /** Per component, the sanitization of a kept sandbox. @default none */
  readonly sanitize: Readonly<Partial<Record<ComponentName, readonly SanitizeRule[]>>>;
  /** RTOs as written, in hours, by group or component name (a component's wins). @default the runbook's */
  readonly rtoHours: Readonly<Record<string, number>>;
}

/** "24h", "7d", "2w" → hours. */
export function parseHours(value: unknown): number | undefined {
  const match = typeof value === 'string' ? /^\s*(\d+)\s*([hdw])\s*$/i.exec(value) : null;
  if (!match) return undefined;
  const hours = Number(match[1]) * { h: 1, d: 24, w: 168 }[match[2].toLowerCase() as 'h' | 'd' | 'w'];
  return hours > 0 && Number.isSafeInteger(hours) ? hours : undefined;
}

/**
 * The connection fields of each drillable component's `backup.sources` section, as written and as the runtime
 * source has them: what `backup.verification.sandbox.<component>` may replace. Everything else (database,
 * table, key patterns, collections) is the drill's to choose.
 */
export const SANDBOX_FIELDS: Readonly<Partial<Record<ComponentName, Readonly<Record<string, string>>>>> = {
  postgres: { secret_arn: 'secretArn', host: 'host', port: 'port', url: 'url' },
  vector: { secret_arn: 'secretArn', host: 'host', port: 'port', url: 'url' },
  redis: { secret_arn: 'secretArn', url: 'url', db: 'db' },
  mongodb: { secret_arn: 'secretArn', url: 'url' },
};

/** Which sample check each drillable component takes, with its keys as written. */
const SAMPLE_KINDS = { postgres: 'sql', vector: 'sql', redis: 'keys', mongodb: 'collection' } as const;
const SAMPLE_KEYS = { sql: ['sql', 'min_rows'], keys: ['keys', 'min_keys'], collection: ['collection', 'filter', 'min_documents'] } as const;

/** The field naming what a sanitization rule rewrites, per component, and what it looks like. */
const SANITIZE_TARGETS = {
  postgres: { key: 'column', what: 'a column as schema.table.column or table.column (double-quote a name holding a dot or a quote, "" for a quote)' },
  vector: { key: 'column', what: 'a column as schema.table.column or table.column (double-quote a name holding a dot or a quote, "" for a quote)' },
  mongodb: { key: 'field', what: 'a field as collection.path, e.g. ltm_memories.content.text (the collection name must not hold a dot)' },
  redis: { key: 'keys', what: 'a Redis key pattern like "memory:*" (no spaces)' },
} as const;
const SANITIZE_ACTIONS = ['hash', 'mask', 'null', 'fixed'] as const;

/**
 * `schema.table.column` / `table.column` as names: each part bare (any character but `.` and `"`) or in double
 * quotes with `""` for a quote, as SQL writes them; names are taken as they are in the catalog (no case
 * folding). Undefined when it is not two or three parts.
 */
export function splitColumnPath(text: string): { readonly schema: string; readonly table: string; readonly column: string } | undefined {
  const parts: string[] = [];
  let i = 0;
  while (i <= text.length) {
    let part = '';
    if (text[i] === '"') {
      i += 1;
      for (;;) {
        if (i >= text.length) return undefined;
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        part += text[i];
        i += 1;
      }
    } else {
      while (i < text.length && text[i] !== '.' && text[i] !== '"') part += text[i++];
    }
    if (part === '' || part.length > 63) return undefined;
    parts.push(part);
    if (i === text.length) break;
    if (text[i] !== '.') return undefined;
    i += 1;
    if (i === text.length) return undefined;
  }
  if (parts.length === 2) return { schema: 'public', table: parts[0], column: parts[1] };
  if (parts.length === 3) return { schema: parts[0], table: parts[1], column: parts[2] };
  return undefined;
}

/** `collection.path` → the collection (up to the first dot) and the dotted field path. */
export function splitFieldPath(text: string): { readonly collection: string; readonly field: string } | undefined {
  const dot = text.indexOf('.');
  if (dot <= 0 || dot === text.length - 1) return undefined;
  const collection = text.slice(0, dot);
  const field = text.slice(dot + 1);
  if (collection.startsWith('system.') || /[$\0]/.test(collection) || field.split('.').some((p) => p === '' || p.startsWith('$'))) return undefined;
  return { collection, field };
}

const REDIS_PATTERN = /^[^\s]{1,256}$/;

/** A redis server as configured: its URL's scheme, host and port, else its secret; undefined when neither is set (both from the environment). */
function serverOf(source: Readonly<Record<string, unknown>>): string | undefined {
  if (typeof source.url === 'string') {
    const url = new URL(source.url);
    return `${url.protocol}//${url.hostname.toLowerCase()}:${url.port || '6379'}`;
  }
  return typeof source.secretArn === 'string' ? source.secretArn : undefined;
}

/**
 * `sandbox.<component>`: only that component's connection fields, each checked by the component's own
 * source parser (so a sandbox URL is refused with a password exactly like a source's), redis `db` 0-15.
 */
function parseSandbox(value: unknown, path: string, issues: Issues, components: Components, sources: Readonly<Record<string, unknown>> | undefined) {
  const drillable = components.filter((d) => SANDBOX_FIELDS[d.name as ComponentName]);
  const map = mapping(value, path, drillable.map((d) => d.name), issues);
  const sandbox: Record<string, Readonly<Record<string, unknown>>> = {};
  for (const descriptor of drillable) {
    if (!map || !(descriptor.name in map)) continue;
    const fields = SANDBOX_FIELDS[descriptor.name as ComponentName] ?? {};
    const at = `${path}.${descriptor.name}`;
    const own = mapping(map[descriptor.name], at, Object.keys(fields), issues);
    if (!own) continue;
    const known = Object.fromEntries(Object.entries(own).filter(([key]) => key in fields && key !== 'db'));
    const before = issues.list.length;
    const parsed = descriptor.source.parse(known, { path: at, issues, sources: {} }) as Record<string, unknown> | undefined;
    const db = 'db' in own ? integer(own.db, `${at}.db`, issues, 0, 15) : undefined;
    if (!parsed || issues.list.length > before) continue;
    const out: Record<string, unknown> = {};
    for (const [key, name] of Object.entries(fields)) if (key in own && key !== 'db') out[name] = parsed[name];
    if (db !== undefined) out.db = db;
    sandbox[descriptor.name] = out;
  }
  // A redis sandbox is an index: on production's server and index a drill would restore over production and
  // flush it. Only a configured one is refused here; the default index is checked when a drill runs, so that
  // a production on index 15 still loads for its backups.
  const production = sources?.redis as Readonly<Record<string, unknown>> | undefined;
  const configured = sandbox.redis;
  if (production && configured?.db !== undefined && serverOf({ ...production, ...configured }) === serverOf(production) && configured.db === production.db) {
    issues.add(
      `${path}.redis.db`,
      `${String(configured.db)} is backup.sources.redis.db (${String(production.db)}) on the same server: a drill would restore over production and flush it; choose another index (0-15) or another server (url, secret_arn)`,
    );
  }
  return sandbox;
}

function parseSamples(value: unknown, path: string, issues: Issues, componentNames: readonly string[]) {
  const allowed = componentNames.filter((name) => name in SAMPLE_KINDS) as (keyof typeof SAMPLE_KINDS)[];
  const map = mapping(value, path, allowed, issues);
  const samples: Record<string, SampleCheck[]> = {};
  for (const name of allowed) {
    if (!map || !(name in map)) continue;
    const kind = SAMPLE_KINDS[name];
    const at = `${path}.${name}`;
    const items = list(map[name], at, issues, `checks with ${SAMPLE_KEYS[kind].join(', ')}`);
    const checks = (items ?? []).map((item, i) => parseSample(item, `${at}[${i}]`, issues, kind));
    if (items && checks.every((c) => c !== undefined)) samples[name] = checks as SampleCheck[];
  }
  return samples;
}

function parseSample(item: unknown, path: string, issues: Issues, kind: 'sql' | 'keys' | 'collection'): SampleCheck | undefined {
  const map = mapping(item, path, SAMPLE_KEYS[kind], issues);
  if (!map || Object.keys(map).some((key) => !(SAMPLE_KEYS[kind] as readonly string[]).includes(key))) return undefined;
  const minimum = (key: string) => (key in map ? integer(map[key], `${path}.${key}`, issues, 1, 1_000_000_000) : 1);
  if (kind === 'sql') {
    const sql = string(map.sql, `${path}.sql`, issues, 'a SQL query returning rows (run read-only)');
    const minRows = minimum('min_rows');
    return sql !== undefined && minRows !== undefined ? { sql, minRows } : undefined;
  }
  if (kind === 'keys') {
    const keys = string(map.keys, `${path}.keys`, issues, 'a Redis key pattern like "memory:*"');
    if (keys !== undefined && !REDIS_PATTERN.test(keys)) issues.add(`${path}.keys`, `${show(keys)} is not a Redis key pattern like "memory:*" (no spaces)`);
    const minKeys = minimum('min_keys');
    return keys !== undefined && REDIS_PATTERN.test(keys) && minKeys !== undefined ? { keys, minKeys } : undefined;
  }
  const collection = string(map.collection, `${path}.collection`, issues, 'a collection name');
  if (collection !== undefined && (collection.startsWith('system.') || collection.includes('$'))) issues.add(`${path}.collection`, `${show(collection)} is not a collection name (no $, not system.*)`);
  const filter = 'filter' in map ? (isMapping(map.filter) ? (map.filter as Mapping) : issues.add(`${path}.filter`, `${show(map.filter)} is not a mapping (a MongoDB query filter)`)) : {};
  const minDocuments = minimum('min_documents');
  if (collection === undefined || collection.startsWith('system.') || collection.includes('$') || filter === undefined || minDocuments === undefined) return undefined;
  return { collection, filter, minDocuments };
}

function parseSanitize(value: unknown, path: string, issues: Issues, componentNames: readonly string[]) {
  const allowed = componentNames.filter((name) => name in SANITIZE_TARGETS) as (keyof typeof SANITIZE_TARGETS)[];
  const map = mapping(value, path, allowed, issues);
  const sanitize: Record<string, SanitizeRule[]> = {};
  for (const name of allowed) {
    if (!map || !(name in map)) continue;
    const { key, what } = SANITIZE_TARGETS[name];
    const at = `${path}.${name}`;
    const items = list(map[name], at, issues, `rules with ${key}, action (hash, mask, null, fixed) and value (fixed only)`);
    const rules = (items ?? []).map((item, i): SanitizeRule | undefined => {
      const ruleAt = `${at}[${i}]`;
      const rule = mapping(item, ruleAt, [key, 'action', 'value'], issues);
      if (!rule || Object.keys(rule).some((k) => ![key, 'action', 'value'].includes(k))) return undefined;
      const text = string(rule[key], `${ruleAt}.${key}`, issues, what);
      const valid =
        text !== undefined &&
        (name === 'redis' ? REDIS_PATTERN.test(text) : name === 'mongodb' ? splitFieldPath(text) !== undefined : splitColumnPath(text) !== undefined);
      if (text !== undefined && !valid) issues.add(`${ruleAt}.${key}`, `${show(text)} is not ${what}`);
      // YAML reads a bare `action: null` as no value: that is the null action, not a missing one.
      const action = oneOf(rule.action === null && 'action' in rule ? 'null' : rule.action, `${ruleAt}.action`, issues, SANITIZE_ACTIONS);
      let fixed: string | undefined;
      if (action === 'fixed') {
        if (!('value' in rule)) issues.add(`${ruleAt}.value`, 'is required with action fixed: the replacement');
        else if (typeof rule.value === 'string' || typeof rule.value === 'number') fixed = String(rule.value);
        else issues.add(`${ruleAt}.value`, `${show(rule.value)} is not a string or number`);
      } else if ('value' in rule && action !== undefined) {
        issues.add(`${ruleAt}.value`, `only action fixed takes a value; ${action} computes its own`);
      }
      if (!valid || action === undefined || (action === 'fixed' && fixed === undefined) || (action !== 'fixed' && 'value' in rule)) return undefined;
      return { target: text as string, action, ...(fixed !== undefined ? { value: fixed } : {}) };
    });
    if (items && rules.every((r) => r !== undefined)) sanitize[name] = rules as SanitizeRule[];
  }
  return sanitize;
}

/** RPOs or RTOs: a group or component name to a duration. */
function parseDurations(value: unknown, path: string, issues: Issues, componentNames: readonly string[]): Record<string, number> {
  const allowed = [...GROUPS, ...componentNames];
  const durations: Record<string, number> = {};
  for (const [key, raw] of Object.entries(mapping(value, path, allowed, issues) ?? {})) {
    if (!allowed.includes(key)) continue;
    const hours = parseHours(raw);
    if (hours === undefined) issues.add(`${path}.${key}`, `${show(raw)} is not a duration like 24h, 7d or 2w`);
    else durations[key] = hours;
  }
  return durations;
}

/**
 * `backup.verification` (absent reads as every default). `sources` is the parsed `backup.sources` (undefined
 * when it had problems): a redis sandbox on production's server and index is refused here, at load.
 */
export function parseVerification(value: unknown, issues: Issues, components: Components, sources?: Readonly<Record<string, unknown>>): VerificationConfig | undefined {
  const path = 'backup.verification';
  const componentNames = components.map((d) => d.name);
  const map = mapping(value, path, ['schedule', 'recovery_point', 'window_days', 'keep_hours', 'rpo', 'rto', 'integrity_cycle_hours', 'sandbox', 'samples', 'sanitize'], issues);
  if (!map) return undefined;
  const before = issues.list.length;
  let schedule: ScheduleConfig | undefined;
  const cron = 'schedule' in map ? string(map.schedule, `${path}.schedule`, issues, 'a five-field cron like "0 6 1 */3 *"') : DEFAULT_DRILL_SCHEDULE;
  if (cron !== undefined) {
    try {
      schedule = { cron, expression: toSchedulerCron(cron) };
    } catch (error) {
      if (!(error instanceof CronError)) throw error;
      issues.add(`${path}.schedule`, error.message);
    }
  }
  const recoveryPoint = 'recovery_point' in map ? oneOf(map.recovery_point, `${path}.recovery_point`, issues, ['latest', 'random'] as const) : 'latest';
  const windowDays = 'window_days' in map ? integer(map.window_days, `${path}.window_days`, issues, 1, 3650) : DEFAULT_WINDOW_DAYS;
  const keepHours = 'keep_hours' in map ? integer(map.keep_hours, `${path}.keep_hours`, issues, 0, 24 * 14) : 0;
  const integrityCycleHours = 'integrity_cycle_hours' in map ? integer(map.integrity_cycle_hours, `${path}.integrity_cycle_hours`, issues, 1, 24 * 90) : DEFAULT_INTEGRITY_CYCLE_HOURS;
  const rpoHours = 'rpo' in map ? parseDurations(map.rpo, `${path}.rpo`, issues, componentNames) : {};
  const rtoHours = 'rto' in map ? parseDurations(map.rto, `${path}.rto`, issues, componentNames) : {};
  const sandbox = parseSandbox(map.sandbox, `${path}.sandbox`, issues, components, sources);
  const samples = 'samples' in map ? parseSamples(map.samples, `${path}.samples`, issues, componentNames) : {};
  const sanitize = 'sanitize' in map ? parseSanitize(map.sanitize, `${path}.sanitize`, issues, componentNames) : {};
  if (issues.list.length > before || !schedule || !recoveryPoint || windowDays === undefined || keepHours === undefined || integrityCycleHours === undefined) return undefined;
  return { schedule, recoveryPoint, windowDays, keepHours, rpoHours, integrityCycleHours, sandbox, samples, sanitize, rtoHours };
}

/** The defaults of a backup.yaml without a verification section. */
export const DEFAULT_VERIFICATION: VerificationConfig = { schedule: { cron: DEFAULT_DRILL_SCHEDULE, expression: toSchedulerCron(DEFAULT_DRILL_SCHEDULE) }, recoveryPoint: 'latest', windowDays: DEFAULT_WINDOW_DAYS, keepHours: 0, rpoHours: {}, integrityCycleHours: DEFAULT_INTEGRITY_CYCLE_HOURS, sandbox: {}, samples: {}, sanitize: {}, rtoHours: {} };

export interface Rpo {
  readonly hours: number;
  /** Where the figure comes from. */
  readonly from: 'configured' | 'runbook' | 'schedule' | 'none';
}

/**
 * A component's RPO: configured (by component, then by group), else the runbook's for its group, else its
 * group's schedule's longest interval plus a margin (a tenth, at least 2 hours: a backup takes time to
 * complete). A group without a schedule and without a configured RPO has none: its age is published, not
 * alarmed.
 */
export function rpoOf(verification: VerificationConfig, component: string, group: GroupName, schedule?: ScheduleConfig): Rpo {
  const configured = verification.rpoHours[component] ?? verification.rpoHours[group];
  if (configured !== undefined) return { hours: configured, from: 'configured' };
  const runbook = RUNBOOK_RPO_HOURS[group];
  if (runbook !== undefined) return { hours: runbook, from: 'runbook' };
  if (!schedule) return { hours: 0, from: 'none' };
  const period = longestIntervalMs(schedule.cron) / 3_600_000;
  return { hours: Math.ceil(period + Math.max(2, period / 10)), from: 'schedule' };
}

/** A component's RTO: configured (by component, then by group), else the runbook's for its group, else none. */
export function rtoOf(verification: VerificationConfig, component: string, group: GroupName): { readonly hours: number; readonly from: 'configured' | 'runbook' | 'none' } {
  const configured = verification.rtoHours[component] ?? verification.rtoHours[group];
  if (configured !== undefined) return { hours: configured, from: 'configured' };
  const runbook = RUNBOOK_RTO_HOURS[group];
  return runbook !== undefined ? { hours: runbook, from: 'runbook' } : { hours: 0, from: 'none' };
}

/** What deployed drills and the scorecard need of `backup.verification`: the settings, with each component's RPO and RTO resolved at synth. */
export type RuntimeVerification = Omit<VerificationConfig, 'schedule' | 'rpoHours' | 'rtoHours'> & {
  /** Per configured component, its RPO and RTO in hours (0: none). */
  readonly objectives: Readonly<Partial<Record<ComponentName, { readonly rpoHours: number; readonly rtoHours: number }>>>;
};

/** `verification` of the runtime configuration, for the configured components and their groups' schedules. */
export function runtimeVerification(
  verification: VerificationConfig,
  components: readonly { readonly name: ComponentName; readonly group: GroupName }[],
  schedules: Readonly<Partial<Record<GroupName, ScheduleConfig>>>,
): RuntimeVerification {
  const { schedule: _schedule, rpoHours: _rpo, rtoHours: _rto, ...settings } = verification;
  const objectives = Object.fromEntries(
    components.map(({ name, group }) => [name, { rpoHours: rpoOf(verification, name, group, schedules[group]).hours, rtoHours: rtoOf(verification, name, group).hours }]),
  );
  return { ...settings, objectives };
}
