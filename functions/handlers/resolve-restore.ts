/** Restore workflow, first state: see resolveRestore. */
import { vaultFor } from '../core/context';
import { resolveRestore, type ResolvedRestore } from '../core/restore-plan';
import { runtimeConfigFromEnv } from '../core/runtime-config';
import type { ExecutionEnvelope } from '../core/workflow-input';

export const handler = async (event: ExecutionEnvelope<unknown>): Promise<ResolvedRestore> => {
  const config = runtimeConfigFromEnv();
  const resolved = await resolveRestore(config, vaultFor(config), event);
  if (!resolved.worker) throw new Error(`runtime config has no worker for ${resolved.request.component}: redeploy the stack`);
  return resolved;
};
