/** Drill workflow, last state: the drills' records gathered, metrics published, the scorecard written; see core/drill-report.ts. */
import { vaultFor } from '../core/context';
import type { DrillPlan } from '../core/drill-plan';
import { reportDrills, type DrillOutcome, type DrillReport } from '../core/drill-report';
import { createLogger } from '../core/logger';
import { metricsClient } from '../core/metrics-client';
import { runtimeConfigFromEvent } from '../core/runtime-config';

export interface DrillReportEvent {
  readonly plan: DrillPlan;
  readonly outcomes: readonly DrillOutcome[];
}

export const handler = async (event: DrillReportEvent): Promise<DrillReport> => {
  const config = runtimeConfigFromEvent(event);
  const log = createLogger({ function: 'drill-report', drillId: event.plan?.drillId });
  const metrics = metricsClient(config.region);
  try {
    const ctx = { config, vault: vaultFor(config), env: process.env, log, runner: 'lambda', now: () => new Date() };
    return await reportDrills(ctx, metrics, event.plan, event.outcomes ?? []);
  } finally {
    metrics.destroy();
  }
};
