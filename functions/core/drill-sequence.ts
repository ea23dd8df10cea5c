/**
 * The drill workflow in one process, for `nca-backup drill`: the steps state-machines/restore-test.asl.json
 * runs (plan, each drill in turn, report), with the same code, records, scorecard and result.
 */
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { authenticatorOf, type EngineContext } from './context';
import { runDrill } from './drill';
import { planDrills, verificationOf } from './drill-plan';
import { reportDrills, type DrillReport } from './drill-report';

export async function runDrillSequence(
  ctx: EngineContext,
  components: readonly string[],
  options: { readonly executionName: string; readonly metrics?: CloudWatchClient },
): Promise<DrillReport> {
  const envelope = { input: components.length > 0 ? { components } : {}, executionName: options.executionName, startTime: ctx.now().toISOString() };
  const plan = await planDrills(ctx.config, { vault: ctx.vault, authenticator: authenticatorOf(ctx) }, envelope);
  const verification = verificationOf(ctx.config);
  const outcomes = [];
  for (const drill of plan.drills) {
    outcomes.push(await runDrill(ctx, drill.component, { drillId: plan.drillId, verification, ...(drill.backupId ? { backupId: drill.backupId } : {}) }));
  }
  return reportDrills(ctx, options.metrics, plan, outcomes);
}
