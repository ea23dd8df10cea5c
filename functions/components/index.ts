/**
 * The registry: every component the engine can back up, with how to connect to it, how a restore
 * request redirects it to another target, and which restore options it takes. Adding a component
 * means one entry here.
 */
import type { ComponentName, RuntimeSources } from '../../infra/config/types';
import { InvalidInputError } from '../core/errors';
import { connectPostgres, postgres, withDatabase, type PostgresTarget } from './postgres';
import type { Component } from './types';
import { vectorEntry } from './vector';
import { mongodbEntry } from './mongodb';
import { redisEntry } from './redis';
import { memoryEntry } from './memory';
import { restoreTargetRefusal } from './restore-options';

/** Restore options an operator can pass, the same for every component that supports them. */
export interface RestoreTargetOptions {
  /** Restore into this database (or Redis database index) instead of the one backed up. */
  readonly targetDatabase?: string;
}

export interface ComponentEntry<Target, Options extends RestoreTargetOptions = RestoreTargetOptions, N extends ComponentName = ComponentName> {
  readonly component: Component<Target, Options>;
  connect(source: RuntimeSources[N], env: NodeJS.ProcessEnv): Promise<Target>;
  /** The target a restore with these options writes to; InvalidInputError when the options cannot name one. */
  retarget(target: Target, options: RestoreTargetOptions): Target;
}

const postgresEntry: ComponentEntry<PostgresTarget, RestoreTargetOptions, 'postgres'> = {
  component: postgres,
  connect: (source, env) => connectPostgres(source, env),
  retarget: (target, options) => (options.targetDatabase ? withDatabase(target, options.targetDatabase) : target),
};

/**
 * The last check before a target is connected to, whatever path led here (workflow, CLI, a worker invoked
 * directly): an empty target never falls back to the backed-up database, and a system database is never
 * written to. The configured protected targets are checked earlier, where the runtime config is known.
 */
function guarded<T, O extends RestoreTargetOptions>(name: ComponentName, entry: ComponentEntry<T, O, any>): ComponentEntry<T, O, any> {
  return {
    ...entry,
    retarget(target, options) {
      if (options.targetDatabase !== undefined) {
        const refusal = restoreTargetRefusal(name, String(options.targetDatabase), { field: 'targetDatabase' });
        if (refusal) throw refusal;
      }
      return entry.retarget(target, options);
    },
  };
}

const registry: Partial<Record<ComponentName, ComponentEntry<any, any, any>>> = {
  postgres: guarded('postgres', postgresEntry),
  redis: guarded('redis', redisEntry),
  mongodb: guarded('mongodb', mongodbEntry),
  vector: guarded('vector', vectorEntry),
  memory: guarded('memory', memoryEntry),
};

export const COMPONENT_NAMES = Object.keys(registry) as ComponentName[];

export function isComponentName(value: unknown): value is ComponentName {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(registry, value);
}

export function componentEntry(name: string): ComponentEntry<unknown, RestoreTargetOptions, any> {
  const entry = isComponentName(name) ? registry[name] : undefined;
  if (!entry) {
    throw new InvalidInputError(`unknown component '${name}'.`, { hint: `Known components: ${COMPONENT_NAMES.join(', ')}.` });
  }
  return entry;
}
