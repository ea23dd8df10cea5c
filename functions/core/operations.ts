/**
 * The worker's operations, one per Task state of the workflows. The Lambda worker and the Fargate
 * task's `run-step` command both call `runOperation`, so both runners execute the same code.
 */
import { randomBytes } from 'node:crypto';
import { componentEntry } from '../components';
import { isBackupId } from './backup-id';
import { stepResultKey as layoutStepResultKey } from '../../config/vault-layout';
import { runBackup, summarize } from './backup-run';
import { authenticatorOf, configuredComponent, type EngineContext } from './context';
import { checkPrimary, integrityFailure, integrityRunOf, type IntegrityReport } from './integrity';
import type { ManifestAuthenticator } from './manifest-mac';
import type { VaultRuntimeConfig } from './runtime-config';
import type { BackupVault } from './storage';
import type { Logger } from '../components/types';
import { dropKeptSandbox, runDrill, type DrillResult } from './drill';
import { verificationOf } from './drill-plan';
import { InvalidInputError, TaskStoppedError, TransientError } from './errors';
import { checkNewBackupId, checkRestoreTarget, parseComponentOptions } from './workflow-input';
import { MAX_CHANGED_BYTES } from './config-changes';
import { systemMembershipProblem, type BackupTrigger, type SystemMembership } from './manifest';
import { checkCompatibility, loadManifest, postVerify, restoreBackup, restoreScope, safetyBackup, verifyArtifacts } from './restore-steps';
import { chooseRunner } from './runner';
import { withOperationLock } from './operation-lock';

export const OPERATIONS = [
  'estimate',
  'backup',
  'describe-backup',
  'verify-artifacts',
  'check-compatibility',
  'safety-backup',
  'restore',
  'post-verify',
  'read-step-result',
  'integrity-check',
  'drill',
  'drop-kept-sandbox',
] as const;
export type OperationName = (typeof OPERATIONS)[number];

export interface OperationEvent {
  readonly operation: OperationName;
  readonly component: string;
  readonly backupId?: string | null;
  readonly trigger?: BackupTrigger;
  /** backup with trigger change only: the first changed item's name (null or absent otherwise). */
  readonly changed?: string | null;
  /** backup of a system recovery point (`group: "all"`) only: its id and planned components (null or absent otherwise). */
  readonly system?: SystemMembership | null;
  readonly targetDatabase?: string;
  readonly safetyBackupId?: string;
  /** Component-specific restore options, as resolved from the restore input. */
  readonly options?: Record<string, unknown>;
  /** Fargate runs have no return channel: their result is stored under this id and read back by a Lambda step. */
  readonly stepId?: string;
  /**
   * The operation lock's owner: a restore execution's name, passed to that restore's safety-backup and
   * restore steps, which renew the lock its Resolve step took instead of taking a second one. Absent: the
   * step takes and releases a lock of its own. A backup's lock is always owned by its backup id.
   */
  readonly lockOwner?: string;
  /** post-verify only: the restore's safety backup step result, named in a verification failure. */
  readonly safetyBackup?: { readonly skipped?: boolean; readonly backupId?: string };
  /** integrity-check only: the cycle's length in hourly runs (the recovery vault is compared by the integrity-replica function). */
  readonly cycleHours?: number;
  /** drill only: the drill's id (its records' folder); `backupId` the recovery point its plan picked (absent: the drill picks). */
  readonly drillId?: string;
  /** drop-kept-sandbox only: the drill's result as its workflow's report gave it. */
  readonly drill?: DrillResult;
  /** read-step-result only: the Fargate step as the workflow ran it, with the RunTask error when the task failed. */
  readonly fargateStep?: { readonly taskError?: { readonly Error?: string; readonly Cause?: string } };
}

/** What a Fargate task stores under its step id: its result, or the error it failed with. */
export type StoredStep =
  | { readonly outcome: 'succeeded'; readonly result: unknown }
  | { readonly outcome: 'failed'; readonly error: { readonly name: string; readonly message: string; readonly component?: string; readonly backupId?: string } };

const STEP_ID = /^[A-Za-z0-9_.:-]{1,200}$/;
/** Execution names (up to 80 characters, no whitespace or control characters), "backup-<id>", "cli-<hex>". */
const LOCK_OWNER = /^[^\s\u0000-\u001f]{1,200}$/u;

function checkedOwner(event: OperationEvent): string {
  if (typeof event.lockOwner !== 'string' || !LOCK_OWNER.test(event.lockOwner)) {
    throw new InvalidInputError(`lockOwner '${String(event.lockOwner)}' is not an execution name.`, { component: event.component });
  }
  return event.lockOwner;
}
const TRIGGERS: readonly BackupTrigger[] = ['scheduled', 'manual', 'change', 'safety'];

/** A backup's `changed`: the changed item's name with trigger change (required), nothing with any other. */
function changedOf(event: OperationEvent, trigger: BackupTrigger, component: string): string | undefined {
  const changed = event.changed ?? undefined;
  if (trigger !== 'change') {
    if (changed !== undefined) throw new InvalidInputError(`changed is only for trigger change, not ${trigger}.`, { component });
    return undefined;
  }
  if (typeof changed !== 'string' || changed === '' || Buffer.byteLength(changed, 'utf8') > MAX_CHANGED_BYTES) {
    throw new InvalidInputError(`a backup with trigger change needs changed, the changed item's name (1 to ${MAX_CHANGED_BYTES} UTF-8 bytes).`, { component });
  }
  return changed;
}

/** A backup's system membership, checked like the manifest's reader checks it, so a worker never writes one it would refuse. */
function systemOf(event: OperationEvent, backupId: string, component: string): SystemMembership | undefined {
  if (event.system === undefined || event.system === null) return undefined;
  const problem = systemMembershipProblem(event.system, backupId, component);
  if (problem) throw new InvalidInputError(`the backup step has a ${problem}.`, { component, backupId });
  return { systemId: event.system.systemId, components: [...event.system.components].sort() };
}

function required(event: OperationEvent, field: 'backupId' | 'safetyBackupId' | 'stepId'): string {
  const value = event[field];
  if (typeof value !== 'string' || value === '') {
    throw new InvalidInputError(`operation ${event.operation} needs ${field}.`, { component: event.component });
  }
  if (field !== 'stepId' && !isBackupId(value)) {
    throw new InvalidInputError(`${field} '${value}' is not a backup id.`, { component: event.component });
  }
  if (field === 'stepId' && !STEP_ID.test(value)) throw new InvalidInputError(`stepId '${value}' has characters outside [A-Za-z0-9_.:-].`);
  return value;
}

export function stepResultKey(ctx: EngineContext, component: string, stepId: string): string {
  const { name, group } = configuredComponent(ctx.config, component);
  return layoutStepResultKey(group, name, stepId);
}

/**
 * `signal` stops a backup step midway (the Lambda worker's deadline): it fails as a failed attempt does,
 * with the signal's reason.
 */
export async function runOperation(ctx: EngineContext, event: OperationEvent, signal?: AbortSignal): Promise<unknown> {
  if (!OPERATIONS.includes(event.operation)) {
    throw new InvalidInputError(`unknown operation '${String(event.operation)}'.`, { hint: `Known: ${OPERATIONS.join(', ')}.` });
  }
  const { name, group, source } = configuredComponent(ctx.config, event.component);
  /** Runs a step under the component's operation lock (see operation-lock.ts). */
  const locked = <T>(operation: string, owner: string, keep: boolean, work: () => Promise<T>) =>
    withOperationLock(ctx.vault, { group, component: name, owner, operation, keep, now: ctx.now, log: ctx.log }, work);
  /** A restore's step: under the restore's lock when it names its owner, else under its own for its duration. */
  const restoreStep = <T>(work: () => Promise<T>) =>
    event.lockOwner !== undefined
      ? locked('restore', checkedOwner(event), true, work)
      : locked('restore', `${event.operation}-${randomBytes(4).toString('hex')}`, false, work);
  // Options and the target are checked again here: a worker can be invoked without the resolve step (CLI,
  // console tests), and the workflow hands over the resolved target, which may be the backed-up database.
  // The step's scope reads the manifest and connects the target once, whatever the step needs of them.
  const restoreStepScope = () => {
    const request = {
      component: name,
      backupId: required(event, 'backupId'),
      targetDatabase: event.targetDatabase === undefined ? undefined : checkRestoreTarget(ctx.config, name, String(event.targetDatabase)),
      options: parseComponentOptions(name, event.options),
    };
    return restoreScope(ctx, { name, group, source, entry: componentEntry(name) }, request);
  };
  /** An id this step writes a backup under: never a future one (see checkNewBackupId). */
  const newId = (field: 'backupId' | 'safetyBackupId', safety: boolean) =>
    checkNewBackupId(required(event, field), { field, now: ctx.now(), safety, component: name });

  switch (event.operation) {
    case 'estimate': {
      const entry = componentEntry(name);
      const estimatedBytes = await entry.component.estimate(await entry.connect(source, ctx.env));
      return { component: name, estimatedBytes, runner: chooseRunner(estimatedBytes, ctx.config.runner) };
    }
    case 'backup': {
      const trigger = event.trigger ?? 'scheduled';
      if (!TRIGGERS.includes(trigger)) throw new InvalidInputError(`trigger '${trigger}' is not one of ${TRIGGERS.join(', ')}.`);
      const changed = changedOf(event, trigger, name);
      const backupId = newId('backupId', trigger === 'safety');
      // Owned by the backup id: a retried step of the same backup (either runner) finds its own lock and carries on.
      const system = systemOf(event, backupId, name);
      return summarize(await locked('backup', `backup-${backupId}`, false, () => runBackup(ctx, { component: name, backupId, trigger, ...(changed ? { changed } : {}), ...(system ? { system } : {}), ...(signal ? { signal } : {}) })));
    }
    case 'describe-backup':
      return summarize(await loadManifest(ctx, name, required(event, 'backupId')));
    case 'verify-artifacts':
      return verifyArtifacts(ctx, await loadManifest(ctx, name, required(event, 'backupId')));
    case 'check-compatibility':
      return checkCompatibility(restoreStepScope());
    // The safety backup runs under the restore's lock: it is part of that restore, not a second operation.
    case 'safety-backup': {
      const scope = restoreStepScope();
      const safetyBackupId = newId('safetyBackupId', true);
      return restoreStep(() => safetyBackup(scope, safetyBackupId));
    }
    case 'restore': {
      const scope = restoreStepScope();
      return restoreStep(() => restoreBackup(scope));
    }
    case 'post-verify': {
      const scope = restoreStepScope();
      const safety = event.safetyBackup;
      const safetyBackupId = safety && safety.skipped === false && typeof safety.backupId === 'string' && isBackupId(safety.backupId) ? safety.backupId : undefined;
      return postVerify(scope, safetyBackupId);
    }
    case 'integrity-check':
      return runIntegrityCheck({ vault: ctx.vault, authenticator: authenticatorOf(ctx), log: ctx.log, now: ctx.now() }, ctx.config, event);
    // A drill's failure is its result (recorded, reported), not an error of the step.
    case 'drill': {
      const drillId = event.drillId;
      if (typeof drillId !== 'string' || !isBackupId(drillId)) throw new InvalidInputError(`drillId '${String(drillId)}' is not a drill id (a backup id's form).`, { component: name });
      // null: the plan found no recovery point; the drill looks again and records why there is none.
      const backupId = event.backupId === undefined || event.backupId === null ? undefined : required(event, 'backupId');
      return runDrill(ctx, name, { drillId, verification: verificationOf(ctx.config), ...(backupId ? { backupId } : {}) });
    }
    case 'drop-kept-sandbox': {
      const drill = event.drill;
      if (typeof drill !== 'object' || drill === null || drill.component !== name || typeof drill.drillId !== 'string' || !isBackupId(drill.drillId)) {
        throw new InvalidInputError(`drill must be this component's drill result (component ${name}, drillId).`, { component: name });
      }
      return dropKeptSandbox(ctx, drill, verificationOf(ctx.config));
    }
    case 'read-step-result': {
      const stepId = required(event, 'stepId');
      const stored = await ctx.vault.getJson<StoredStep>(stepResultKey(ctx, name, stepId));
      if (stored === undefined) throw stoppedTaskError(name, stepId, event.fargateStep?.taskError);
      if (stored.outcome === 'failed') throw storedError(stored.error);
      return stored.result;
    }
  }
}

/**
 * The integrity-check step: this hour's share of the component's backups in the primary vault, with the
 * component's structure check (its parsers are why the component's worker runs it). It needs only the vault
 * part of the runtime config, which is what its hourly schedule passes (an EventBridge input holds 8 KB, the
 * sources have no length limit). A run with a finding fails with IntegrityError naming the first.
 */
export async function runIntegrityCheck(
  deps: { readonly vault: BackupVault; readonly authenticator: ManifestAuthenticator; readonly log: Logger; readonly now: Date },
  config: VaultRuntimeConfig,
  event: Pick<OperationEvent, 'component' | 'cycleHours'>,
): Promise<IntegrityReport> {
  const { component, options } = integrityRunOf(config, event, deps.now);
  const report = await checkPrimary(deps.vault, deps.authenticator, [component], options, (name) => componentEntry(name).component.inspect, deps.log);
  if (report.findings.length > 0) throw integrityFailure(report);
  return report;
}

/**
 * Used by the Fargate task: runs the operation and stores its result, or the error it failed with, where
 * `read-step-result` finds it, so the execution sees the engine's error name and cause as on Lambda.
 * A result left by an earlier attempt of the same step is removed first: a task that dies before storing
 * anything must read as "no result", never as the previous attempt's outcome.
 */
export async function runStoredOperation(ctx: EngineContext, event: OperationEvent): Promise<unknown> {
  const stepId = required(event, 'stepId');
  const key = stepResultKey(ctx, event.component, stepId);
  let result: unknown;
  try {
    await ctx.vault.deleteObject(key);
    result = await runOperation(ctx, event);
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    const fields = err as Error & { component?: string; backupId?: string };
    const stored: StoredStep = {
      outcome: 'failed',
      error: { name: err.name, message: err.message, ...(fields.component ? { component: fields.component } : {}), ...(fields.backupId ? { backupId: fields.backupId } : {}) },
    };
    // The task still fails (non-zero exit) with the engine's error; the stored copy is how its name reaches the workflow.
    await ctx.vault.putJson(key, stored).catch((storeError: unknown) => {
      ctx.log.warn('could not store the step error', { stepId, error: (storeError as Error).message });
    });
    throw err;
  }
  await ctx.vault.putJson(key, { outcome: 'succeeded', result } satisfies StoredStep);
  return result;
}

/** The stored error, raised again under its own name and message: what the Lambda runner would have thrown. */
function storedError(stored: { name: string; message: string; component?: string; backupId?: string }): Error {
  const error = new Error(stored.message) as Error & { component?: string; backupId?: string };
  error.name = stored.name;
  if (stored.component) error.component = stored.component;
  if (stored.backupId) error.backupId = stored.backupId;
  return error;
}

/**
 * Task stops that another attempt can fix: no Fargate capacity, the network interface or image pull
 * timing out while the task started, a Spot interruption. ECS reports them in the stopped task's
 * StopCode and StoppedReason, which runTask.sync passes on as the States.TaskFailed cause.
 */
const RETRYABLE_STOP = /capacity is unavailable|insufficient capacity|RESOURCE:(CPU|MEMORY|ENI)|Timeout waiting for network interface|ResourceInitializationError|i\/o timeout|connection reset|TLS handshake timeout|SpotInterruption|ServiceUnavailable|ThrottlingException/i;

function stoppedTaskError(component: string, stepId: string, taskError?: { Error?: string; Cause?: string }): Error {
  const cause = taskError?.Cause ?? '';
  let described = '';
  let retryable = false;
  try {
    const task = JSON.parse(cause) as { StopCode?: string; StoppedReason?: string; Containers?: { ExitCode?: number; Reason?: string }[] };
    const exit = task.Containers?.map((c) => [c.ExitCode !== undefined ? `exit code ${c.ExitCode}` : '', c.Reason ?? ''].filter(Boolean).join(' ')).filter(Boolean).join('; ');
    described = [task.StopCode, task.StoppedReason, exit].filter(Boolean).join(': ');
    retryable = task.StopCode === 'SpotInterruption' || RETRYABLE_STOP.test(`${task.StopCode ?? ''} ${task.StoppedReason ?? ''}`);
  } catch {
    described = cause.slice(0, 500);
    retryable = RETRYABLE_STOP.test(cause);
  }
  const what = [taskError?.Error, described].filter(Boolean).join(': ') || 'the task ended without an error report';
  if (retryable) {
    return new TransientError(`the Fargate task for step ${stepId} could not run (${what}).`, { component, hint: 'Another attempt starts a new task.' });
  }
  return new TaskStoppedError(`the Fargate task for step ${stepId} stopped without storing a result (${what}).`, {
    component,
    hint: 'Read the task log in CloudWatch (log group of the worker task definition). A restore step that stopped may have left its target partly changed.',
  });
}
