/** Scheduled (hourly): removes backup attempts that never got a manifest; see core/janitor.ts. */
import { vaultFor } from '../core/context';
import { sweepIncompleteAttempts, type JanitorReport } from '../core/janitor';
import { createLogger } from '../core/logger';
import { authenticatorFor } from '../core/manifest-mac';
import { vaultRuntimeConfigFromEvent } from '../core/runtime-config';

/** The schedule's input: `{"runtimeConfig": "<JSON of the vault and the components' groups>"}`. */
export const handler = async (event: unknown): Promise<JanitorReport> => {
  const config = vaultRuntimeConfigFromEvent(event);
  const log = createLogger({ function: 'janitor' });
  const report = await sweepIncompleteAttempts(config, vaultFor(config), { log, authenticator: authenticatorFor(config) });
  log.info('janitor done', {
    removedAttempts: report.removedAttempts.length,
    removedStepResults: report.removedStepResults,
    keptAttempts: report.keptAttempts.length,
    blobsDeleted: report.prunedBlobs.reduce((n, p) => n + p.deleted, 0),
  });
  return report;
};
