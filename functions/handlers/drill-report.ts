/** Drill workflow, last state: the drills' records gathered, metrics published, the scorecard written; see core/drill-report.ts. */
import { vaultFor } from '../core/context';
import type { DrillPlan } from '../core/drill-plan';
import { recordDroppedSandboxes, reportDrills, type DrillOutcome, type DrillReport } from '../core/drill-report';
import { createLogger } from '../core/logger';
import { metricsClient } from '../core/metrics-client';
import { runtimeConfigFromEvent } from '../core/runtime-config';

export interface DrillReportEvent {
  readonly plan: DrillPlan;
  readonly outcomes?: readonly DrillOutcome[];
  /** Present after DropKeptSandboxes: what each drop returned; the records are rewritten, signed. */
  readonly dropped?: readonly unknown[];
}

export const handler = async (event: DrillReportEvent): Promise<DrillReport | readonly unknown[]> => {
  const config = runtimeConfigFromEvent(event);
  const log = createLogger({ function: 'drill-report', drillId: event.plan?.drillId });
  const metrics = metricsClient(config.region);
  try {
    const ctx = { config, vault: vaultFor(config), env: process.env, log, runner: 'lambda', now: () => new Date() };
    if (event.dropped) return await recordDroppedSandboxes(ctx, event.plan, event.dropped);
    return await reportDrills(ctx, metrics, event.plan, event.outcomes ?? []);
  } finally {
    metrics.destroy();
  }
};
