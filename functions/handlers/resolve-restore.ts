/** Restore workflow, first state: see resolveRestore. */
import { vaultFor } from '../core/context';
import { resolveRestore, type ResolvedRestore } from '../core/restore-plan';
import { runtimeConfigFromEvent, withoutRuntimeConfig } from '../core/runtime-config';
import type { ExecutionEnvelope } from '../core/workflow-input';

export const handler = async (event: ExecutionEnvelope<unknown>): Promise<ResolvedRestore> => {
  const config = runtimeConfigFromEvent(event);
  const resolved = await resolveRestore(config, vaultFor(config), withoutRuntimeConfig(event));
  if (!resolved.worker) throw new Error(`runtime config has no worker for ${resolved.request.component}: redeploy the stack`);
  return resolved;
};
