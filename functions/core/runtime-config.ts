/**
 * Reads the runtime configuration a deployed function was given (its shape: config/runtime-config.ts,
 * shared with the stacks that write it).
 */
import { RUNTIME_CONFIG_ENV, type RuntimeConfig } from '../../config/runtime-config';
import { setting } from '../../config/environment';

export type { ComponentRuntime, RuntimeConfig, WorkerRef } from '../../config/runtime-config';
export { RUNTIME_CONFIG_ENV } from '../../config/runtime-config';

/** Reads NCA_RUNTIME_CONFIG; a clear error when a function was deployed without it. */
export function runtimeConfigFromEnv(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const raw = setting(env, 'runtimeConfig');
  if (!raw) throw new Error(`${RUNTIME_CONFIG_ENV} is not set: this function must be deployed by the nca-backup stack`);
  return JSON.parse(raw) as RuntimeConfig;
}
