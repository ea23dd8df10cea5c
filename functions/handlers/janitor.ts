/** Scheduled (hourly): removes backup attempts that never got a manifest; see core/janitor.ts. */
import { vaultFor } from '../core/context';
import { sweepIncompleteAttempts, type JanitorReport } from '../core/janitor';
import { createLogger } from '../core/logger';
import { runtimeConfigFromEnv } from '../core/runtime-config';

export const handler = async (): Promise<JanitorReport> => {
  const config = runtimeConfigFromEnv();
  const log = createLogger({ function: 'janitor' });
  const report = await sweepIncompleteAttempts(config, vaultFor(config), { log });
  log.info('janitor done', { removedAttempts: report.removedAttempts.length, removedStepResults: report.removedStepResults, keptAttempts: report.keptAttempts.length });
  return report;
};
