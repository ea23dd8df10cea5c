/**
 * Validation and shaping of what operators and schedules put into the workflows. Pure: the handlers
 * add the runtime config and the vault. Every rejection names the field and what is allowed.
 */
import { createHash } from 'node:crypto';
import { GROUPS, type ComponentName, type GroupName } from '../../config/types';
import { InvalidInputError } from './errors';
import { isBackupId, isSafetyBackupId, newBackupId } from './backup-id';
import { MAX_CHANGED_BYTES } from './config-changes';
import { restoreOptionsParser, restoreTargetRefusal } from '../components/restore-options';
import type { RuntimeConfig, WorkerRef } from './runtime-config';

/** What the state machines pass to the control-plane functions alongside the execution input. */
/** A backup's place in a system recovery point (backup group all), recorded in its manifest under the MAC. */
export interface SystemMembership {
  readonly systemId: string;
  /** Every component the system backup planned, this one included, sorted. */
  readonly components: readonly ComponentName[];
}

export interface ExecutionEnvelope<I> {
  readonly input: I;
  readonly executionName: string;
  readonly startTime: string;
}

export function objectInput(input: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidInputError(`the execution input must be a JSON object with ${allowed.join(', ')}.`);
  }
  const unknown = Object.keys(input).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new InvalidInputError(`unknown input field ${unknown.map((k) => `'${k}'`).join(', ')}; allowed: ${allowed.join(', ')}.`);
  }
  return input as Record<string, unknown>;
}

/** Ids derive from the execution, so a retried step computes the same id instead of a second backup. */
export function executionSuffix(executionName: string): string {
  return createHash('sha256').update(executionName).digest('hex').slice(0, 6);
}

/**
 * How far ahead of this machine's clock a new backup id may be dated: clocks of the machines that start
 * backups (an operator's laptop, Step Functions, the workers) may disagree by a little, never by more.
 */
export const BACKUP_ID_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** The UTC time a backup id carries ("20261123T020000Z-7f3a" → 2026-11-23T02:00:00Z), or undefined when it is no real time. */
function backupIdTime(id: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number);
  const at = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  // Date.UTC rolls 20261399 over into another month: a real time reads back as written.
  const same = at.getUTCFullYear() === year && at.getUTCMonth() === month - 1 && at.getUTCDate() === day && at.getUTCHours() === hour && at.getUTCMinutes() === minute;
  return same && at.getUTCSeconds() === second ? at : undefined;
}

/**
 * Checks the id a new backup is written under, wherever it comes from (`backup --backup-id`, the plan, a
 * worker's step): the id format (it becomes a key prefix, so "../x" would write outside the component's
 * backups), a real UTC time no more than BACKUP_ID_CLOCK_SKEW_MS ahead of `now` (a future id would be
 * `latest` over every later backup for its whole retention), and the -safety suffix only on safety backups.
 */
export function checkNewBackupId(value: unknown, options: { field: string; now: Date; safety?: boolean; component?: string }): string {
  const { field, now, component } = options;
  const shown = typeof value === 'string' ? `'${value.slice(0, 100)}'` : JSON.stringify(value) ?? 'nothing';
  const at = typeof value === 'string' && isBackupId(value) ? backupIdTime(value) : undefined;
  if (typeof value !== 'string' || at === undefined) {
    throw new InvalidInputError(`${field} ${shown} is not a backup id: the UTC time to the second, a dash and 4 to 12 lower-case letters or digits, like 20261123T020000Z-7f3a.`, {
      component,
      hint: 'Leave it out to have one made from the current time.',
    });
  }
  if (at.getTime() > now.getTime() + BACKUP_ID_CLOCK_SKEW_MS) {
    throw new InvalidInputError(
      `${field} '${value}' is dated ${at.toISOString()}, more than ${BACKUP_ID_CLOCK_SKEW_MS / 60_000} minutes after the current time ${now.toISOString()} (the allowance for clock skew): a backup id carries the time the backup is taken, and a future one would stay "latest" over every later backup.`,
      { component, hint: 'Leave it out to have one made from the current time, or check this machine\'s clock.' },
    );
  }
  const safety = options.safety === true;
  if (isSafetyBackupId(value) !== safety) {
    throw new InvalidInputError(
      safety ? `${field} '${value}' must end in -safety: it names a safety backup.` : `${field} '${value}' ends in -safety, which only safety backups (taken by a restore) carry.`,
      { component },
    );
  }
  return value;
}

export interface PlannedComponent {
  readonly component: ComponentName;
  readonly worker: WorkerRef;
}

/** The backup input's group that backs up every configured component under one id: a system recovery point. */
export const SYSTEM_GROUP = 'all';

export interface BackupPlan {
  readonly group: GroupName | typeof SYSTEM_GROUP;
  readonly backupId: string;
  readonly trigger: 'scheduled' | 'manual' | 'change';
  /**
   * With trigger change, the first changed item's name (recorded in the manifest); null otherwise. Always
   * present: the Map's ItemSelector names it, and a JSONPath to a missing field fails the execution.
   */
  readonly changed: string | null;
  readonly maxConcurrency: number;
  readonly components: readonly PlannedComponent[];
  /**
   * group all: the system recovery point each component's manifest records (its id is the backup id);
   * null otherwise. Always present, for the same reason as `changed`.
   */
  readonly system: SystemMembership | null;
}

/** An RFC 3339 UTC time as the Wait state reads it (`2026-11-30T15:31:00Z`, fractions allowed) that is a real date. */
function isUtcTimestamp(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?Z$/.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number);
  const at = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  return at.getUTCFullYear() === year && at.getUTCMonth() === month - 1 && at.getUTCDate() === day && at.getUTCHours() === hour && at.getUTCMinutes() === minute && at.getUTCSeconds() === second;
}

/** `changed` of a backup input: required with trigger change, refused with any other. */
function changedOf(input: Record<string, unknown>, trigger: string): string | null {
  const changed = input.changed;
  if (trigger !== 'change') {
    if (changed !== undefined) throw new InvalidInputError(`changed is only for trigger change, not ${trigger}.`, { hint: 'Leave it out, or give trigger "change".' });
    return null;
  }
  if (typeof changed !== 'string' || changed === '' || Buffer.byteLength(changed, 'utf8') > MAX_CHANGED_BYTES) {
    throw new InvalidInputError(`changed must name the changed item (a string of 1 to ${MAX_CHANGED_BYTES} UTF-8 bytes) when trigger is change; got ${JSON.stringify(changed)?.slice(0, 100) ?? 'nothing'}.`);
  }
  return changed;
}

export function planBackup(config: RuntimeConfig, envelope: ExecutionEnvelope<unknown>): BackupPlan {
  const input = objectInput(envelope.input, ['group', 'trigger', 'components', 'changed', 'notBefore']);
  const group = input.group;
  const system = group === SYSTEM_GROUP;
  if (typeof group !== 'string' || !(system || (GROUPS as readonly string[]).includes(group))) {
    throw new InvalidInputError(`group '${String(group)}' is not a backup group; allowed: ${GROUPS.join(', ')}, or ${SYSTEM_GROUP} for one system recovery point of every configured component.`);
  }
  // A system recovery point is every configured component: a subset would be restored as if it were the system.
  if (system && input.components !== undefined) {
    throw new InvalidInputError(`components cannot be given with group ${SYSTEM_GROUP}: a system recovery point holds every configured component.`, {
      hint: 'Back up a subset with its own group, e.g. {"group": "database", "components": ["postgres"]}.',
    });
  }
  const trigger = input.trigger ?? 'manual';
  if (trigger !== 'scheduled' && trigger !== 'manual' && trigger !== 'change') throw new InvalidInputError(`trigger '${String(trigger)}' must be scheduled, manual or change.`);
  const changed = changedOf(input, trigger);
  // The Wait state has already waited for it; one that is no timestamp skipped the wait and stops here.
  if (input.notBefore !== undefined && !isUtcTimestamp(input.notBefore)) {
    throw new InvalidInputError(`notBefore ${JSON.stringify(input.notBefore)?.slice(0, 100)} is not a UTC time like 2026-11-30T15:31:00Z.`);
  }
  const inGroup = (Object.entries(config.components) as [ComponentName, RuntimeConfig['components'][ComponentName]][])
    .filter(([, c]) => system || c?.group === group)
    .map(([name]) => name);
  let selected = inGroup;
  if (input.components !== undefined) {
    if (!Array.isArray(input.components) || input.components.some((c) => typeof c !== 'string')) {
      throw new InvalidInputError('components must be a list of component names.');
    }
    const outside = (input.components as string[]).filter((c) => !inGroup.includes(c as ComponentName));
    if (outside.length > 0) {
      throw new InvalidInputError(`components ${outside.join(', ')} are not configured in group ${group}; configured: ${inGroup.join(', ') || 'none'}.`);
    }
    // Two workers under one backup id would write the same keys and clean up each other's objects.
    const twice = [...new Set((input.components as string[]).filter((c, i, all) => all.indexOf(c) !== i))];
    if (twice.length > 0) {
      throw new InvalidInputError(`components lists ${twice.join(', ')} more than once; each component is backed up once per backup id.`, {
        hint: `Give each component once, e.g. ${JSON.stringify([...new Set(input.components as string[])])}.`,
      });
    }
    selected = input.components as ComponentName[];
  }
  if (selected.length === 0) {
    throw new InvalidInputError(`group ${group} has no configured components.`, { hint: 'Add a source for it under backup.sources in backup.yaml.' });
  }
  const backupId = checkNewBackupId(newBackupId(new Date(envelope.startTime), executionSuffix(envelope.executionName)), { field: 'backupId (from the execution start time)', now: new Date() });
  return {
    group: group as BackupPlan['group'],
    backupId,
    trigger,
    changed,
    // A system recovery point starts every component at the same moment: the span between their snapshots is
    // what makes them one point in time, so backup.runner.max_concurrency does not spread them out.
    maxConcurrency: system ? selected.length : config.runner.maxConcurrency,
    components: selected.map((component) => ({ component, worker: workerOf(config, component) })),
    system: system ? { systemId: backupId, components: [...selected].sort() } : null,
  };
}

function workerOf(config: RuntimeConfig, component: ComponentName): WorkerRef {
  const worker = config.components[component]?.worker;
  if (!worker) throw new Error(`runtime config has no worker for ${component}: redeploy the stack`);
  return worker;
}

export interface RestoreInput {
  readonly component: ComponentName;
  readonly backupId: string;
  readonly targetDatabase?: string;
  readonly skipSafetyBackup: boolean;
  /** Component-specific restore options, checked by the component ({} when none were given). */
  readonly options: Record<string, unknown>;
}

/**
 * Checks a component's restore options (the input's `options` object) with the component's own rules.
 * A component that takes none refuses any.
 */
export function parseComponentOptions(component: ComponentName, raw: unknown): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidInputError('options must be a JSON object of restore options.', { component });
  }
  if ('targetDatabase' in raw) {
    throw new InvalidInputError('options.targetDatabase is not an option: give targetDatabase at the top level of the input.', { component });
  }
  const parse = restoreOptionsParser(component);
  if (!parse) {
    const given = Object.keys(raw);
    if (given.length === 0) return {};
    throw new InvalidInputError(`component ${component} takes no restore options; got ${given.map((k) => `options.${k}`).join(', ')}.`, { component });
  }
  return { ...parse(raw as Record<string, unknown>) };
}

/**
 * A database name, or a Redis database index ("3"): any identifier PostgreSQL accepts (quoted, every
 * character but NUL, at most 63 bytes), the same rule as backup.yaml's `sources.postgres.database`, so
 * any database that can be backed up can be named as a target. Components narrow it in `retarget`
 * (MongoDB's forbidden characters, Redis's index range); the name is only ever used quoted.
 */
export const MAX_DATABASE_NAME_BYTES = 63;

export function isDatabaseName(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && !value.includes('\0') && Buffer.byteLength(value, 'utf8') <= MAX_DATABASE_NAME_BYTES;
}

/**
 * Refuses a restore target before anything is read from it or written to it: empty or only spaces, a system
 * database of the component's server, or one of the configured protected targets (backup.restore.protected_targets).
 * `given` false: the target is the backed-up database (manifest `source.database`), used when none was given.
 * Returns the target unchanged.
 */
export function checkRestoreTarget(config: RuntimeConfig, component: ComponentName, target: string, options: { given?: boolean } = {}): string {
  const refusal = restoreTargetRefusal(component, target, {
    ...(options.given === false ? {} : { field: 'targetDatabase (--target-database)' }),
    protectedTargets: config.protectedTargets ?? [],
  });
  if (refusal) throw refusal;
  return target;
}

/** The database a restore writes to: the one given, else the backed-up one; either checked by checkRestoreTarget. */
export function restoreTarget(config: RuntimeConfig, component: ComponentName, given: string | undefined, backedUp: string): string {
  return given !== undefined ? checkRestoreTarget(config, component, given) : checkRestoreTarget(config, component, backedUp, { given: false });
}

/** Checks a restore execution's input before anything is read or touched. */
export function parseRestoreInput(config: RuntimeConfig, input: unknown): RestoreInput {
  const fields = objectInput(input, ['component', 'backupId', 'targetDatabase', 'skipSafetyBackup', 'options']);
  const configured = Object.keys(config.components);
  if (typeof fields.component !== 'string' || !configured.includes(fields.component)) {
    throw new InvalidInputError(`component '${String(fields.component)}' is not a configured component; configured: ${configured.join(', ') || 'none'}.`);
  }
  if (typeof fields.backupId !== 'string' || fields.backupId === '') {
    throw new InvalidInputError('backupId is required: "latest" or an id from `nca-backup list ' + fields.component + '`.', { component: fields.component });
  }
  if (typeof fields.targetDatabase === 'string') checkRestoreTarget(config, fields.component as ComponentName, fields.targetDatabase);
  if (fields.targetDatabase !== undefined && !isDatabaseName(fields.targetDatabase)) {
    throw new InvalidInputError(`targetDatabase '${String(fields.targetDatabase).slice(0, 100)}' is not a database name (1 to ${MAX_DATABASE_NAME_BYTES} bytes, no NUL).`, {
      component: fields.component,
    });
  }
  if (fields.skipSafetyBackup !== undefined && typeof fields.skipSafetyBackup !== 'boolean') {
    throw new InvalidInputError('skipSafetyBackup must be true or false.', { component: fields.component });
  }
  return {
    component: fields.component as ComponentName,
    backupId: fields.backupId,
    targetDatabase: fields.targetDatabase as string | undefined,
    skipSafetyBackup: fields.skipSafetyBackup === true,
    options: parseComponentOptions(fields.component as ComponentName, fields.options),
  };
}

export function safetyBackupIdFor(envelope: ExecutionEnvelope<unknown>): string {
  return newBackupId(new Date(envelope.startTime), executionSuffix(envelope.executionName), { safety: true });
}
