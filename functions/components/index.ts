/**
 * The registry: every component the engine can back up, with how to connect to it and how a restore
 * request redirects it to another target (another database name). Adding a component means one entry here.
 */
import type { ComponentName, PostgresSourceConfig } from '../../infra/config/types';
import { InvalidInputError } from '../core/errors';
import { connectPostgres, postgres, withDatabase, type PostgresTarget } from './postgres';
import type { Component } from './types';

/** Restore options an operator can pass, the same for every component that supports them. */
export interface RestoreTargetOptions {
  /** Restore into this database instead of the one that was backed up (created when missing). */
  readonly targetDatabase?: string;
}

export interface ComponentEntry<Target> {
  readonly component: Component<Target, RestoreTargetOptions>;
  connect(source: PostgresSourceConfig, env: NodeJS.ProcessEnv): Promise<Target>;
  /** The target a restore with these options writes to. */
  retarget(target: Target, options: RestoreTargetOptions): Target;
}

const postgresEntry: ComponentEntry<PostgresTarget> = {
  component: postgres,
  connect: (source, env) => connectPostgres(source, env),
  retarget: (target, options) => (options.targetDatabase ? withDatabase(target, options.targetDatabase) : target),
};

const registry: Record<ComponentName, ComponentEntry<any>> = {
  postgres: postgresEntry,
};

export const COMPONENT_NAMES = Object.keys(registry) as ComponentName[];

export function isComponentName(value: unknown): value is ComponentName {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(registry, value);
}

export function componentEntry(name: string): ComponentEntry<unknown> {
  if (!isComponentName(name)) {
    throw new InvalidInputError(`unknown component '${name}'.`, { hint: `Known components: ${COMPONENT_NAMES.join(', ')}.` });
  }
  return registry[name];
}
