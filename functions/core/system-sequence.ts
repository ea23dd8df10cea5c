/**
 * backup-all and restore-all in one process, as the CLI runs them: the same plan, the same system index,
 * the same restore checklist per component (core/restore-sequence.ts, which mirrors restore.asl.json) and
 * the same report as the workflows (backup.asl.json with group all, restore-all.asl.json).
 */
import { randomBytes } from 'node:crypto';
import type { ComponentName } from '../../config/types';
import type { ComponentFailed, ComponentSucceeded } from './backup-outcome';
import { runBackup, summarize } from './backup-run';
import { authenticatorOf, configuredComponent, type EngineContext } from './context';
import { IncompleteRecoveryPointError } from './errors';
import { withOperationLock } from './operation-lock';
import { runRestoreSequence } from './restore-sequence';
import { restoreComponent } from './restore-steps';
import { buildSystemIndex, resolveSystemPoint, writeSystemIndex, type SystemIndex } from './system-point';
import { planRestoreAll, restoreAllId, restoreAllReport, writeRestoreAllReport, type ComponentRestoreResult, type RestoreAllInput, type RestoreAllReport } from './system-restore';

/**
 * Every configured component backed up under `systemId`, all started at once, each under its operation
 * lock; the system index written last. An incomplete point fails with IncompleteRecoveryPointError carrying
 * the index as its result.
 */
export async function runBackupAll(ctx: EngineContext, systemId: string, trigger: 'manual' | 'scheduled'): Promise<SystemIndex> {
  const components = (Object.keys(ctx.config.components) as ComponentName[]).sort();
  const system = { systemId, components };
  const results = await Promise.all(
    components.map(async (component): Promise<ComponentSucceeded | ComponentFailed> => {
      const { name, group } = configuredComponent(ctx.config, component);
      try {
        const manifest = await withOperationLock(ctx.vault, { group, component: name, owner: `cli-backup-${systemId}`, operation: 'backup', log: ctx.log }, () =>
          runBackup(ctx, { component: name, backupId: systemId, trigger, system }),
        );
        return { component, status: 'SUCCEEDED', result: { ...summarize(manifest) }, runner: ctx.runner };
      } catch (error) {
        const { name: errorName, message } = error as Error;
        return { component, status: 'FAILED', error: errorName, cause: message };
      }
    }),
  );
  const index = await writeSystemIndex(ctx.vault, buildSystemIndex(system, results, ctx.now()));
  if (index.outcome !== 'complete') {
    const failed = index.components.filter((c) => c.status === 'FAILED');
    throw Object.assign(
      new IncompleteRecoveryPointError(`system backup ${systemId} is incomplete: ${failed.map((c) => `${c.component}: ${c.error}: ${c.cause}`).join(' | ')}.`, {
        component: failed[0]?.component,
        backupId: systemId,
        hint: 'The other components are backed up; the point is listed but restorable as a whole only with --force.',
      }),
      { result: index },
    );
  }
  return index;
}

/**
 * The recovery point resolved and verified, then each component restored in order through the whole
 * restore sequence, stopping at the first failure unless `continueOnFailure`; the report written to the
 * vault. A failed component fails the command with its own error, carrying the report as its result.
 */
export async function runRestoreAllSequence(ctx: EngineContext, input: RestoreAllInput): Promise<RestoreAllReport & { reportKey: string }> {
  const startedAt = ctx.now();
  const executionName = `cli-${randomBytes(6).toString('hex')}`;
  const plan = planRestoreAll(input, await resolveSystemPoint(ctx.config, ctx.vault, authenticatorOf(ctx), input.systemId, { force: input.force }));
  const results: ComponentRestoreResult[] = [];
  const errors = new Map<string, Error>();
  for (const restore of plan.restores) {
    const started = ctx.now().getTime();
    const envelope = { input: restore, executionName: `${executionName}-${restore.component}`, startTime: new Date(started).toISOString() };
    try {
      const output = await runRestoreSequence(ctx, restoreComponent(ctx.config, restore.component), envelope, '--skip-safety-backup');
      results.push({ component: restore.component, execution: { status: 'SUCCEEDED', startDate: started, stopDate: ctx.now().getTime(), output: output as unknown as Record<string, unknown> } });
    } catch (error) {
      const err = error as Error;
      errors.set(restore.component, err);
      // In the shape of a failed nested execution's description, so the report reads both the same way.
      const description = { Status: 'FAILED', Error: err.name, Cause: err.message, StartDate: started, StopDate: ctx.now().getTime() };
      results.push({ component: restore.component, failure: { Error: 'States.TaskFailed', Cause: JSON.stringify(description) } });
      if (!input.continueOnFailure) break;
    }
  }
  const report = restoreAllReport(ctx.config, plan, results, { restoreId: restoreAllId(startedAt, executionName), startedAt, completedAt: ctx.now() });
  const reportKey = await writeRestoreAllReport(ctx.vault, report);
  const failed = report.components.find((c) => c.status === 'FAILED');
  if (failed) throw Object.assign(errors.get(failed.component) ?? new Error(report.cause), { result: { ...report, reportKey } });
  return { ...report, reportKey };
}
