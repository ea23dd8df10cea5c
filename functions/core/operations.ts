/**
 * The worker's operations, one per Task state of the workflows. The Lambda worker and the Fargate
 * task's `run-step` command both call `runOperation`, so both runners execute the same code.
 */
import { componentEntry } from '../components';
import { componentPrefix, isBackupId } from './catalog';
import { runBackup, summarize } from './backup-run';
import { configuredComponent, type EngineContext } from './context';
import { InvalidInputError } from './errors';
import { parseComponentOptions } from './workflow-input';
import type { BackupTrigger } from './manifest';
import { checkCompatibility, loadManifest, postVerify, restoreBackup, safetyBackup, verifyArtifacts } from './restore-steps';
import { chooseRunner } from './runner';

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
] as const;
export type OperationName = (typeof OPERATIONS)[number];

export interface OperationEvent {
  readonly operation: OperationName;
  readonly component: string;
  readonly backupId?: string;
  readonly trigger?: BackupTrigger;
  readonly targetDatabase?: string;
  readonly safetyBackupId?: string;
  /** Component-specific restore options, as resolved from the restore input. */
  readonly options?: Record<string, unknown>;
  /** Fargate runs have no return channel: their result is stored under this id and read back by a Lambda step. */
  readonly stepId?: string;
}

const STEP_ID = /^[A-Za-z0-9_.:-]{1,200}$/;
const TRIGGERS: readonly BackupTrigger[] = ['scheduled', 'manual', 'safety'];

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
  return `${componentPrefix(group, name)}_steps/${stepId}.json`;
}

export async function runOperation(ctx: EngineContext, event: OperationEvent): Promise<unknown> {
  if (!OPERATIONS.includes(event.operation)) {
    throw new InvalidInputError(`unknown operation '${String(event.operation)}'.`, { hint: `Known: ${OPERATIONS.join(', ')}.` });
  }
  const { name, source } = configuredComponent(ctx.config, event.component);
  // Options are checked again here: a worker can be invoked without the resolve step (CLI, console tests).
  const restoreRequest = () => ({
    component: name,
    backupId: required(event, 'backupId'),
    targetDatabase: event.targetDatabase,
    options: parseComponentOptions(name, event.options),
  });

  switch (event.operation) {
    case 'estimate': {
      const entry = componentEntry(name);
      const estimatedBytes = await entry.component.estimate(await entry.connect(source, ctx.env));
      return { component: name, estimatedBytes, runner: chooseRunner(estimatedBytes, ctx.config.runner) };
    }
    case 'backup': {
      const trigger = event.trigger ?? 'scheduled';
      if (!TRIGGERS.includes(trigger)) throw new InvalidInputError(`trigger '${trigger}' is not one of ${TRIGGERS.join(', ')}.`);
      return summarize(await runBackup(ctx, { component: name, backupId: required(event, 'backupId'), trigger }));
    }
    case 'describe-backup':
      return summarize(await loadManifest(ctx, name, required(event, 'backupId')));
    case 'verify-artifacts':
      return verifyArtifacts(ctx, await loadManifest(ctx, name, required(event, 'backupId')));
    case 'check-compatibility': {
      const request = restoreRequest();
      return checkCompatibility(ctx, await loadManifest(ctx, name, request.backupId), request);
    }
    case 'safety-backup':
      return safetyBackup(ctx, restoreRequest(), required(event, 'safetyBackupId'));
    case 'restore': {
      const request = restoreRequest();
      return restoreBackup(ctx, await loadManifest(ctx, name, request.backupId), request);
    }
    case 'post-verify': {
      const request = restoreRequest();
      return postVerify(ctx, await loadManifest(ctx, name, request.backupId), request);
    }
    case 'read-step-result': {
      const stepId = required(event, 'stepId');
      const result = await ctx.vault.getJson<unknown>(stepResultKey(ctx, name, stepId));
      if (result === undefined) {
        throw new InvalidInputError(`the Fargate task for step ${stepId} stored no result: it stopped before finishing.`, {
          component: name,
          hint: 'Read the task log in CloudWatch (log group of the worker task definition).',
        });
      }
      return result;
    }
  }
}

/** Used by the Fargate task: runs the operation and stores its result where `read-step-result` finds it. */
export async function runStoredOperation(ctx: EngineContext, event: OperationEvent): Promise<unknown> {
  const stepId = required(event, 'stepId');
  const result = await runOperation(ctx, event);
  await ctx.vault.putJson(stepResultKey(ctx, event.component, stepId), result);
  return result;
}
