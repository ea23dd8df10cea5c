/** restore-all workflow, first state: the input checked, the system recovery point resolved and verified, the restores planned. */
import { vaultFor } from '../core/context';
import { authenticatorFor } from '../core/manifest-mac';
import { runtimeConfigFromEvent, withoutRuntimeConfig } from '../core/runtime-config';
import { resolveSystemPoint } from '../core/system-point';
import { parseRestoreAllInput, planRestoreAll, type RestoreAllPlan } from '../core/system-restore';
import type { ExecutionEnvelope } from '../core/workflow-input';

export const handler = async (event: ExecutionEnvelope<unknown>): Promise<RestoreAllPlan> => {
  const config = runtimeConfigFromEvent(event);
  const input = parseRestoreAllInput(withoutRuntimeConfig(event).input);
  const resolved = await resolveSystemPoint(config, vaultFor(config), authenticatorFor(config), input.systemId, { force: input.force });
  return planRestoreAll(input, resolved);
};
