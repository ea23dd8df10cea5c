/**
 * restore-all: every component of one system recovery point, in priority order, each through the whole
 * restore checklist (the Restore state machine, or the CLI's restore sequence), then one report with each
 * component's duration against its RTO and the total against the runbook's 12 hours for the full system.
 * Pure apart from the vault the report is written to: the workflow and the CLI share it.
 */
import { COMPONENT_GROUP, type ComponentName } from '../../config/types';
import { restoreAllReportKey } from '../../config/vault-layout';
import { newBackupId } from './backup-id';
import { verificationOf } from './drill-plan';
import { InvalidInputError } from './errors';
import { readableCause } from './events';
import type { RuntimeConfig } from './runtime-config';
import type { BackupVault } from './storage';
import { restoreOrder, type ResolvedSystemPoint, type SystemPointComponent } from './system-point';
import { executionSuffix, objectInput } from './workflow-input';

/** The runbook's RTO for the full system. */
export const SYSTEM_RTO_HOURS = 12;

export interface RestoreAllInput {
  readonly systemId: string;
  /** Restore priority: the components it names first, in its order; the rest in DEFAULT_RESTORE_ORDER. */
  readonly order: readonly ComponentName[];
  readonly continueOnFailure: boolean;
  readonly force: boolean;
  readonly skipSafetyBackup: boolean;
}

const COMPONENT_NAMES = Object.keys(COMPONENT_GROUP) as ComponentName[];

function flag(fields: Record<string, unknown>, name: string): boolean {
  const value = fields[name];
  if (value !== undefined && typeof value !== 'boolean') throw new InvalidInputError(`${name} must be true or false; got ${JSON.stringify(value)?.slice(0, 60)}.`);
  return value === true;
}

/** Checks a restore-all input before anything is read; unknown fields are refused by name. */
export function parseRestoreAllInput(input: unknown): RestoreAllInput {
  const fields = objectInput(input, ['systemId', 'order', 'continueOnFailure', 'force', 'skipSafetyBackup']);
  if (typeof fields.systemId !== 'string' || fields.systemId === '') {
    throw new InvalidInputError('systemId is required: "latest" or the id of a system recovery point (a backup of group all).');
  }
  let order: ComponentName[] = [];
  if (fields.order !== undefined) {
    if (!Array.isArray(fields.order) || fields.order.some((c) => typeof c !== 'string')) throw new InvalidInputError('order must be a list of component names.');
    const unknown = (fields.order as string[]).filter((c) => !COMPONENT_NAMES.includes(c as ComponentName));
    if (unknown.length > 0) throw new InvalidInputError(`order names ${unknown.map((c) => `'${c.slice(0, 40)}'`).join(', ')}, which are no components; components: ${COMPONENT_NAMES.join(', ')}.`);
    const twice = (fields.order as string[]).filter((c, i, all) => all.indexOf(c) !== i);
    if (twice.length > 0) throw new InvalidInputError(`order lists ${[...new Set(twice)].join(', ')} more than once.`);
    order = fields.order as ComponentName[];
  }
  return {
    systemId: fields.systemId,
    order,
    continueOnFailure: flag(fields, 'continueOnFailure'),
    force: flag(fields, 'force'),
    skipSafetyBackup: flag(fields, 'skipSafetyBackup'),
  };
}

/** One nested restore: the Restore state machine's input for a component of the point. */
export interface ComponentRestore {
  readonly component: ComponentName;
  readonly backupId: string;
  readonly skipSafetyBackup: boolean;
}

/** What the workflow loops over and the report reads: the point, its components in order, the restores to run. */
export interface RestoreAllPlan {
  readonly systemId: string;
  readonly complete: boolean;
  readonly forced: boolean;
  readonly continueOnFailure: boolean;
  readonly firstSnapshotAt: string | null;
  readonly lastSnapshotAt: string | null;
  readonly spanMs: number | null;
  /** Every planned component, in restore order, with why it is left out when it is. */
  readonly components: readonly SystemPointComponent[];
  /** The restorable ones, in order: one nested restore each, into the database it was backed up from. */
  readonly restores: readonly ComponentRestore[];
  /** The same components' names, for the loop's States.ArrayGetItem. */
  readonly order: readonly ComponentName[];
  readonly count: number;
  readonly passedOver: ResolvedSystemPoint['passedOver'];
}

export function planRestoreAll(input: RestoreAllInput, resolved: ResolvedSystemPoint): RestoreAllPlan {
  const { point } = resolved;
  const components = restoreOrder(point.components, input.order);
  const restores = components.filter((c) => c.status === 'restorable').map((c) => ({ component: c.component, backupId: point.systemId, skipSafetyBackup: input.skipSafetyBackup }));
  return {
    systemId: point.systemId,
    complete: point.complete,
    forced: input.force,
    continueOnFailure: input.continueOnFailure,
    firstSnapshotAt: point.firstSnapshotAt ?? null,
    lastSnapshotAt: point.lastSnapshotAt ?? null,
    spanMs: point.spanMs ?? null,
    components,
    restores,
    order: restores.map((r) => r.component),
    count: restores.length,
    passedOver: resolved.passedOver,
  };
}

/** A component's restore as it ended: the nested execution's description, or its failure. */
export interface ComponentRestoreResult {
  readonly component: ComponentName;
  /** The nested execution (startExecution.sync:2's output): Status, StartDate, StopDate, Output (the restore's report). */
  readonly execution?: { readonly status?: string; readonly startDate?: unknown; readonly stopDate?: unknown; readonly output?: Record<string, unknown> | null };
  /** The Task's Catch: States.TaskFailed with the failed execution's description as the cause, or the error of the Task itself. */
  readonly failure?: { readonly Error?: string; readonly Cause?: string };
}

export interface ComponentReport {
  readonly component: ComponentName;
  readonly backupId: string;
  /** RESTORED; FAILED; NOT_STARTED (an earlier component failed and the run stopped); NOT_IN_POINT (its backup failed: forced restore). */
  readonly status: 'RESTORED' | 'FAILED' | 'NOT_STARTED' | 'NOT_IN_POINT';
  readonly durationMs?: number;
  /** The component's RTO (backup.verification.rto, else the runbook's for its group); null: none set. */
  readonly rtoHours: number | null;
  readonly withinRto?: boolean;
  readonly fingerprintMatch?: boolean;
  readonly safetyBackup?: unknown;
  readonly error?: string;
  readonly cause?: string;
}

export interface RestoreAllReport {
  readonly restoreId: string;
  readonly systemId: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly complete: boolean;
  readonly forced: boolean;
  readonly startedAt: string;
  readonly completedAt: string;
  readonly firstSnapshotAt: string | null;
  readonly lastSnapshotAt: string | null;
  readonly spanMs: number | null;
  readonly components: readonly ComponentReport[];
  /** From the restore-all's start to its report, against the runbook's system RTO. */
  readonly total: { readonly durationMs: number; readonly restoreMs: number; readonly rtoHours: number; readonly withinRto: boolean };
  readonly passedOver: RestoreAllPlan['passedOver'];
  /** FAILED: the first failed component's error and a cause naming every failure. */
  readonly error?: string;
  readonly cause?: string;
}

function millis(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const at = Date.parse(value);
    return Number.isNaN(at) ? undefined : at;
  }
  return undefined;
}

/**
 * A failed nested restore's error and cause: Step Functions fails the Task with States.TaskFailed and the
 * failed execution's description (JSON with its Error and Cause) as the cause; anything else is kept as given.
 */
function failureOf(failure: NonNullable<ComponentRestoreResult['failure']>): { error: string; cause: string; startDate?: unknown; stopDate?: unknown } {
  try {
    const described = JSON.parse(failure.Cause ?? '') as { Error?: unknown; Cause?: unknown; StartDate?: unknown; StopDate?: unknown };
    if (described && typeof described.Error === 'string') {
      return { error: described.Error, cause: readableCause(described.Cause), startDate: described.StartDate, stopDate: described.StopDate };
    }
  } catch {
    // not an execution's description
  }
  return { error: failure.Error ?? 'States.TaskFailed', cause: readableCause(failure.Cause) };
}

/** The results the workflow's loop collected as nested pairs ([[[], first], second] ...), oldest first. */
export function unfoldResults(collected: unknown): ComponentRestoreResult[] {
  const items: ComponentRestoreResult[] = [];
  let rest = collected;
  while (Array.isArray(rest) && rest.length === 2) {
    items.unshift(rest[1] as ComponentRestoreResult);
    rest = rest[0];
  }
  return items;
}

export function restoreAllReport(
  config: RuntimeConfig,
  plan: RestoreAllPlan,
  results: readonly ComponentRestoreResult[],
  times: { readonly restoreId: string; readonly startedAt: Date; readonly completedAt: Date },
): RestoreAllReport {
  const objectives = verificationOf(config).objectives;
  const rtoOf = (component: ComponentName) => {
    const hours = objectives[component]?.rtoHours ?? 0;
    return hours > 0 ? hours : null;
  };
  const components = plan.components.map((c): ComponentReport => {
    const base = { component: c.component, backupId: c.backupId, rtoHours: rtoOf(c.component) };
    if (c.status !== 'restorable') return { ...base, status: 'NOT_IN_POINT', error: 'IncompleteRecoveryPointError', cause: c.problem ?? 'not part of the recovery point' };
    const result = results.find((r) => r.component === c.component);
    if (!result) return { ...base, status: 'NOT_STARTED' };
    const failed = result.failure ? failureOf(result.failure) : undefined;
    const start = millis(failed ? failed.startDate : result.execution?.startDate);
    const stop = millis(failed ? failed.stopDate : result.execution?.stopDate);
    const durationMs = start !== undefined && stop !== undefined ? stop - start : undefined;
    const timing = durationMs !== undefined ? { durationMs, ...(base.rtoHours !== null ? { withinRto: durationMs <= base.rtoHours * 3_600_000 } : {}) } : {};
    if (failed) return { ...base, status: 'FAILED', ...timing, error: failed.error, cause: failed.cause };
    const output = result.execution?.output ?? {};
    return {
      ...base,
      status: 'RESTORED',
      ...timing,
      ...(typeof output.fingerprintMatch === 'boolean' ? { fingerprintMatch: output.fingerprintMatch } : {}),
      ...(output.safetyBackup !== undefined ? { safetyBackup: output.safetyBackup } : {}),
    };
  });
  const durationMs = times.completedAt.getTime() - times.startedAt.getTime();
  const failures = components.filter((c) => c.status === 'FAILED');
  return {
    restoreId: times.restoreId,
    systemId: plan.systemId,
    status: failures.length > 0 ? 'FAILED' : 'SUCCEEDED',
    complete: plan.complete,
    forced: plan.forced,
    startedAt: times.startedAt.toISOString(),
    completedAt: times.completedAt.toISOString(),
    firstSnapshotAt: plan.firstSnapshotAt,
    lastSnapshotAt: plan.lastSnapshotAt,
    spanMs: plan.spanMs,
    components,
    total: {
      durationMs,
      restoreMs: components.reduce((sum, c) => sum + (c.durationMs ?? 0), 0),
      rtoHours: SYSTEM_RTO_HOURS,
      withinRto: durationMs <= SYSTEM_RTO_HOURS * 3_600_000,
    },
    passedOver: plan.passedOver,
    ...(failures.length > 0
      ? { error: failures[0].error, cause: failures.map((f) => `${f.component}: ${f.error}: ${f.cause}`).join(' | ') }
      : {}),
  };
}

/** A restore-all's id: its start time and its execution, so reports sort by time and a retried report step writes the same key. */
export function restoreAllId(startedAt: Date, executionName: string): string {
  return newBackupId(startedAt, executionSuffix(executionName));
}

/** Writes the report to reports/restore-all/<restore id>.json; returns its key. */
export async function writeRestoreAllReport(vault: BackupVault, report: RestoreAllReport): Promise<string> {
  const key = restoreAllReportKey(report.restoreId);
  await vault.putJson(key, report);
  return `s3://${vault.bucket}/${vault.key(key)}`;
}

