/**
 * Reads the runtime configuration a deployed function or task was given (its shape: config/runtime-config.ts,
 * shared with the stacks that write it): from the event's `runtimeConfig` in Lambda, from NCA_RUNTIME_CONFIG
 * in the Fargate task. Checked before use, so a wiring mistake names the field instead of failing later.
 */
import { RUNTIME_CONFIG_ENV, RUNTIME_CONFIG_FIELD, type RuntimeConfig, type VaultRuntimeConfig } from '../../config/runtime-config';
import { GROUPS } from '../../config/types';
import { setting } from '../../config/environment';
import { InvalidInputError } from './errors';

export type { ComponentRuntime, RuntimeConfig, VaultRuntimeConfig, WorkerRef } from '../../config/runtime-config';
export { RUNTIME_CONFIG_ENV, RUNTIME_CONFIG_FIELD } from '../../config/runtime-config';

const DEPLOYED_BY_STACK = 'Start this function through the state machines (or the schedule) the nca-backup stack deploys, or redeploy the stack.';

type Shape = 'vault' | 'full';

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Every problem of a parsed runtime configuration, each naming its field; empty when it is usable. */
function problems(value: unknown, where: string, shape: Shape): string[] {
  if (!isObject(value)) return [`${where} is not a JSON object`];
  const out: string[] = [];
  const field = (name: string) => `${where}.${name}`;
  for (const name of ['bucket', 'kmsKeyId']) {
    if (typeof value[name] !== 'string' || value[name] === '') out.push(`${field(name)} is not a non-empty string`);
  }
  if (typeof value.prefix !== 'string') out.push(`${field('prefix')} is not a string ("" or a path ending in /)`);
  if (value.region !== undefined && typeof value.region !== 'string') out.push(`${field('region')} is not a string`);
  if (value.manifestKey !== undefined && !(isObject(value.manifestKey) && typeof value.manifestKey.kmsKeyId === 'string')) {
    out.push(`${field('manifestKey')} is not an object with kmsKeyId`);
  }
  if (!isObject(value.components)) {
    out.push(`${field('components')} is not an object of components`);
  } else {
    for (const [name, component] of Object.entries(value.components)) {
      const at = `${field('components')}.${name}`;
      if (!isObject(component)) {
        out.push(`${at} is not an object`);
        continue;
      }
      if (!(GROUPS as readonly unknown[]).includes(component.group)) out.push(`${at}.group is not one of ${GROUPS.join(', ')}`);
      if (shape === 'full' && !isObject(component.source)) out.push(`${at}.source is not an object`);
    }
  }
  if (shape === 'full') {
    const runner = value.runner;
    if (!isObject(runner) || typeof runner.lambdaMaxBytes !== 'number' || typeof runner.maxConcurrency !== 'number') {
      out.push(`${field('runner')} is not an object with lambdaMaxBytes and maxConcurrency`);
    }
  }
  return out;
}

function parse(raw: unknown, where: string, shape: Shape): unknown {
  if (raw === undefined || raw === null || raw === '') throw new InvalidInputError(`${where} is missing. ${DEPLOYED_BY_STACK}`);
  if (typeof raw !== 'string') throw new InvalidInputError(`${where} is not JSON text (got ${Array.isArray(raw) ? 'a list' : typeof raw}). ${DEPLOYED_BY_STACK}`);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new InvalidInputError(`${where} is not valid JSON (${(error as Error).message}). ${DEPLOYED_BY_STACK}`);
  }
  const found = problems(value, where, shape);
  if (found.length > 0) throw new InvalidInputError(`${found.join('; ')}. ${DEPLOYED_BY_STACK}`);
  return value;
}

/** The event's `runtimeConfig` (JSON text the state machine passes to every Lambda task), checked. */
export function runtimeConfigFromEvent(event: unknown): RuntimeConfig {
  const raw = isObject(event) ? event[RUNTIME_CONFIG_FIELD] : undefined;
  return parse(raw, `the event's ${RUNTIME_CONFIG_FIELD}`, 'full') as RuntimeConfig;
}

/** The janitor's part of it (the vault and the components' groups), from its schedule's input. */
export function vaultRuntimeConfigFromEvent(event: unknown): VaultRuntimeConfig {
  const raw = isObject(event) ? event[RUNTIME_CONFIG_FIELD] : undefined;
  return parse(raw, `the event's ${RUNTIME_CONFIG_FIELD}`, 'vault') as VaultRuntimeConfig;
}

/** The event without its runtime configuration: what the handler's own logic (and its logs) gets. */
export function withoutRuntimeConfig<E extends object>(event: E): Omit<E, typeof RUNTIME_CONFIG_FIELD> {
  const { [RUNTIME_CONFIG_FIELD]: _omitted, ...rest } = event as E & { runtimeConfig?: unknown };
  return rest;
}

/** NCA_RUNTIME_CONFIG (the Fargate task's, or a local run standing in for a deployment), checked. */
export function runtimeConfigFromEnv(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  return parse(setting(env, 'runtimeConfig'), RUNTIME_CONFIG_ENV, 'full') as RuntimeConfig;
}
