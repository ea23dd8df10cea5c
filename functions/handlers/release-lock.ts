/** Restore workflow, last step on both ends: releases the operation lock Resolve took for this execution. */
import { vaultFor } from '../core/context';
import { releaseRestoreLock, type LockReleaseEvent, type LockReleaseOutcome } from '../core/lock-release';
import { runtimeConfigFromEvent, withoutRuntimeConfig } from '../core/runtime-config';

export const handler = async (event: LockReleaseEvent): Promise<LockReleaseOutcome> => {
  const config = runtimeConfigFromEvent(event);
  return releaseRestoreLock(config, vaultFor(config), withoutRuntimeConfig(event));
};
