/**
 * `backup.verification`: the runbook's "Backup Verification" chapter as settings. When restore drills run
 * and which recovery point they pick, how long a drill's sandbox is kept, and each component's recovery
 * point objective (RPO): how old its newest complete backup may be. Pure: the loader, the CDK app and the
 * workers read it.
 */
import { CronError, longestIntervalMs, toSchedulerCron } from './cron';
import { integer, mapping, oneOf, show, string, type Issues } from './fields';
import { GROUPS, type GroupName } from './groups';
import type { ComponentName } from './components';

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

export function parseVerification(value: unknown, issues: Issues, componentNames: readonly string[]): VerificationConfig | undefined {
  const path = 'backup.verification';
  const map = mapping(value, path, ['schedule', 'recovery_point', 'window_days', 'keep_hours', 'rpo', 'integrity_cycle_hours'], issues);
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
  const rpoHours: Record<string, number> = {};
  if ('rpo' in map) {
    const allowed = [...GROUPS, ...componentNames];
    const rpo = mapping(map.rpo, `${path}.rpo`, allowed, issues);
    for (const [key, raw] of Object.entries(rpo ?? {})) {
      if (!allowed.includes(key)) continue;
      const hours = parseHours(raw);
      if (hours === undefined) issues.add(`${path}.rpo.${key}`, `${show(raw)} is not a duration like 24h, 7d or 2w`);
      else rpoHours[key] = hours;
    }
  }
  if (issues.list.length > before || !schedule || !recoveryPoint || windowDays === undefined || keepHours === undefined || integrityCycleHours === undefined) return undefined;
  return { schedule, recoveryPoint, windowDays, keepHours, rpoHours, integrityCycleHours, sandbox: {}, samples: {}, sanitize: {}, rtoHours: {} };
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
