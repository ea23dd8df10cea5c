/** restore-all workflow, last Task: the report from the nested restores, written to the vault. */
import { vaultFor } from '../core/context';
import { runtimeConfigFromEvent } from '../core/runtime-config';
import { restoreAllId, restoreAllReport, unfoldResults, writeRestoreAllReport, type RestoreAllPlan, type RestoreAllReport } from '../core/system-restore';

export interface RestoreAllReportEvent {
  readonly plan: RestoreAllPlan;
  /** The loop's results as nested pairs (see unfoldResults). */
  readonly results: unknown;
  readonly executionName: string;
  readonly startTime: string;
}

export const handler = async (event: RestoreAllReportEvent): Promise<RestoreAllReport & { reportKey: string }> => {
  const config = runtimeConfigFromEvent(event);
  const startedAt = new Date(event.startTime);
  const report = restoreAllReport(config, event.plan, unfoldResults(event.results), { restoreId: restoreAllId(startedAt, event.executionName), startedAt, completedAt: new Date() });
  const reportKey = await writeRestoreAllReport(vaultFor(config), report);
  return { ...report, reportKey };
};
