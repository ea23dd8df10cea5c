/**
 * Scheduled (hourly, per component): the recovery vault's share of the integrity check (core/integrity.ts
 * `checkReplicas`). Runs outside the workers' VPC, whose S3 endpoint serves the primary region only.
 */
import { vaultFor } from '../core/context';
import { createLogger } from '../core/logger';
import { authenticatorFor } from '../core/manifest-mac';
import { checkReplicaIntegrity, type IntegrityReport } from '../core/integrity';
import { vaultRuntimeConfigFromEvent } from '../core/runtime-config';

/** The schedule's input: `{"runtimeConfig": "<JSON of the vault part>", "component": "postgres", "cycleHours": 168, "recovery": {"bucket": "...", "region": "..."}}`. */
export const handler = async (event: unknown): Promise<IntegrityReport> => {
  const config = vaultRuntimeConfigFromEvent(event);
  const input = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
  const log = createLogger({ function: 'integrity-replica', component: typeof input.component === 'string' ? input.component : undefined });
  return checkReplicaIntegrity(config, input, { vaultOf: (vault) => vaultFor(vault), authenticator: authenticatorFor(config), log, now: new Date() });
};
