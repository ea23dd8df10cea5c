/** Drill workflow, first state: which components are drilled, from which backup, on which runner; see core/drill-plan.ts. */
import { vaultFor } from '../core/context';
import { planDrills, type DrillPlan } from '../core/drill-plan';
import { authenticatorFor } from '../core/manifest-mac';
import { runtimeConfigFromEvent, withoutRuntimeConfig } from '../core/runtime-config';
import type { ExecutionEnvelope } from '../core/workflow-input';

export const handler = async (event: ExecutionEnvelope<unknown>): Promise<DrillPlan> => {
  const config = runtimeConfigFromEvent(event);
  return planDrills(config, { vault: vaultFor(config), authenticator: authenticatorFor(config) }, withoutRuntimeConfig(event));
};
