/**
 * The drill workflow's last step: every planned drill's record gathered (a worker that crashed or timed out
 * left none, so one is written here with the error the workflow caught), the per-component metrics
 * published, and the result the execution and the CLI print.
 */
import { PutMetricDataCommand, type CloudWatchClient, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import { drillRecordKey } from '../../config/vault-layout';
import { COMPONENT_DIMENSION, DRILL_BYTES_METRIC, DRILL_RESTORE_SECONDS_METRIC, DRILL_SUCCEEDED_METRIC, METRICS_NAMESPACE } from '../../config/drill-metrics';
import type { DrillResult } from './drill';
import type { DrillPlan } from './drill-plan';
import type { EngineContext } from './context';
import { verificationOf } from './drill-plan';
import { IntegrityError } from './errors';
import { buildScorecard } from './scorecard';

/**
 * What a drill's branch of the workflow ended with: the Lambda worker's result itself, only the component
 * (a Fargate task, whose result is its record in the vault), or the error the Map iteration caught.
 */
export type DrillOutcome = DrillResult | DrillCrash;

export interface DrillCrash {
  readonly component: string;
  readonly crashed?: { readonly Error?: string; readonly Cause?: string };
}

const isResult = (outcome: DrillOutcome | undefined): outcome is DrillResult => typeof (outcome as DrillResult | undefined)?.succeeded === 'boolean';

export interface DrillReport {
  readonly drillId: string;
  readonly succeeded: boolean;
  readonly drills: readonly DrillResult[];
  /**
   * The drills whose sandbox is kept (keep_hours), each with the worker that drops it, and when the last of
   * them is due: the workflow waits until then and drops them. Absent when none is kept.
   */
  readonly kept?: readonly { readonly drill: DrillResult; readonly functionName?: string }[];
  readonly keptUntil?: string;
  /** When a drill failed: which, and why, in one line (the failed execution's cause). */
  readonly failure?: string;
  /** The scorecard's keys in the vault (relative to its prefix), and whether it shows problems. */
  readonly scorecard?: { readonly keys: readonly string[]; readonly urls: readonly string[]; readonly status: 'ok' | 'problems'; readonly problems: number };
  /** Set when the scorecard could not be written: the drills' outcome and records stand. */
  readonly scorecardProblem?: string;
  /** Set when the metrics could not be published: the drills' outcome stands, the dashboard misses them. */
  readonly metricsProblem?: string;
}

/** The error a Lambda or ECS task failed with, as Step Functions reports it: its name, and the message inside a JSON Cause. */
function crashCause(crashed: DrillCrash['crashed']): { error: string; message: string } {
  let message = crashed?.Cause ?? 'no cause given';
  try {
    const parsed = JSON.parse(message) as { errorMessage?: string; StoppedReason?: string };
    message = parsed.errorMessage ?? parsed.StoppedReason ?? message;
  } catch {
    // A plain-text cause is the message itself.
  }
  return { error: crashed?.Error ?? 'DrillCrashed', message: `the drill's worker stopped before recording a result: ${message}` };
}

/** The record a drill left; written here, failed, for a drill that left none. */
async function gather(vault: EngineContext['vault'], plan: DrillPlan, outcome: DrillOutcome | undefined, component: DrillPlan['drills'][number], now: Date): Promise<DrillResult> {
  const key = drillRecordKey(plan.drillId, component.component);
  // The Lambda worker's answer came straight from it; only a Fargate task's has to be read back from the vault.
  if (isResult(outcome) && outcome.drillId === plan.drillId) return outcome;
  // A record that is not JSON (damaged, or not ours) is no answer: the drill is recorded as failed below.
  const stored = await vault.getJson<DrillResult>(key).catch((error: Error) => (error instanceof IntegrityError ? ({} as DrillResult) : Promise.reject(error)));
  if (stored && stored.drillId === plan.drillId && stored.component === component.component && typeof stored.succeeded === 'boolean') return { ...stored, recordKey: key };
  const record: DrillResult = {
    drillId: plan.drillId,
    component: component.component,
    succeeded: false,
    ...(component.backupId ? { backupId: component.backupId } : {}),
    cause: outcome && 'crashed' in outcome && outcome.crashed ? crashCause(outcome.crashed) : { error: 'DrillCrashed', message: stored ? `the drill's record at ${vault.key(key)} is not a drill record of this drill` : "the drill's worker left no record" },
    startedAt: now.toISOString(),
    finishedAt: now.toISOString(),
  };
  await vault.putJson(key, record);
  return { ...record, recordKey: key };
}

export function drillMetricData(drills: readonly DrillResult[], bytes: Readonly<Record<string, number>>, now: Date): MetricDatum[] {
  return drills.flatMap((drill) => {
    const Dimensions = [{ Name: COMPONENT_DIMENSION, Value: drill.component }];
    const data: MetricDatum[] = [{ MetricName: DRILL_SUCCEEDED_METRIC, Dimensions, Timestamp: now, Value: drill.succeeded ? 1 : 0, Unit: 'Count' }];
    if (drill.succeeded && drill.restoreSeconds !== undefined) data.push({ MetricName: DRILL_RESTORE_SECONDS_METRIC, Dimensions, Timestamp: now, Value: drill.restoreSeconds, Unit: 'Seconds' });
    const size = bytes[drill.component];
    if (drill.succeeded && size !== undefined) data.push({ MetricName: DRILL_BYTES_METRIC, Dimensions, Timestamp: now, Value: size, Unit: 'Bytes' });
    return data;
  });
}

/**
 * Gathers, publishes (when given a metrics client) and writes the scorecard. Neither the metrics nor the
 * scorecard can change a drill's outcome: their problems are reported beside it.
 */
export async function reportDrills(ctx: EngineContext, metrics: CloudWatchClient | undefined, plan: DrillPlan, outcomes: readonly DrillOutcome[]): Promise<DrillReport> {
  const deps = { vault: ctx.vault, metrics, log: ctx.log };
  const now = ctx.now();
  const drills: DrillResult[] = [];
  for (const component of plan.drills) {
    drills.push(await gather(deps.vault, plan, outcomes.find((o) => o.component === component.component), component, now));
  }
  const bytes = Object.fromEntries(plan.drills.flatMap((d) => (d.totalBytes !== undefined ? [[d.component, d.totalBytes]] : [])));
  let metricsProblem: string | undefined;
  if (deps.metrics) {
    try {
      await deps.metrics.send(new PutMetricDataCommand({ Namespace: METRICS_NAMESPACE, MetricData: drillMetricData(drills, bytes, now) }));
    } catch (error) {
      const { name, message } = error as Error;
      metricsProblem = `could not publish the drill metrics to ${METRICS_NAMESPACE} (${name}: ${message})`;
      deps.log.warn('drill metrics not published', { error: metricsProblem });
    }
  }
  let scorecard: DrillReport['scorecard'];
  let scorecardProblem: string | undefined;
  try {
    const built = await buildScorecard(ctx, verificationOf(ctx.config).objectives, { drillId: plan.drillId });
    scorecard = { ...built, urls: built.keys.map((key) => `s3://${ctx.config.bucket}/${ctx.vault.key(key)}`) };
  } catch (error) {
    const { name, message } = error as Error;
    scorecardProblem = `could not write the scorecard (${name}: ${message})`;
    deps.log.warn('scorecard not written', { error: scorecardProblem });
  }
  for (const drill of drills) {
    if (drill.succeeded) deps.log.info('drill succeeded', { component: drill.component, backupId: drill.backupId, restoreSeconds: drill.restoreSeconds });
    else deps.log.warn('drill failed', { component: drill.component, backupId: drill.backupId, cause: drill.cause });
  }
  const kept = drills.flatMap((drill) => {
    if (drill.sandboxState?.state !== 'kept' || !drill.sandboxState.keptUntil) return [];
    const functionName = plan.drills.find((d) => d.component === drill.component)?.worker?.functionName;
    return [{ drill, ...(functionName ? { functionName } : {}) }];
  });
  const keptUntil = kept.map((k) => k.drill.sandboxState!.keptUntil!).sort().pop();
  const failed = drills.filter((d) => !d.succeeded);
  const failure = failed.length > 0 ? `restore drill ${plan.drillId} failed for ${failed.map((d) => `${d.component} (${d.cause?.error ?? 'unknown'}: ${d.cause?.message ?? d.recordProblem ?? 'no cause recorded'})`).join('; ')}`.slice(0, 4000) : undefined;
  return { drillId: plan.drillId, succeeded: failed.length === 0, drills, ...(kept.length > 0 ? { kept, keptUntil } : {}), ...(failure ? { failure } : {}), ...(scorecard ? { scorecard } : {}), ...(scorecardProblem ? { scorecardProblem } : {}), ...(metricsProblem ? { metricsProblem } : {}) };
}
