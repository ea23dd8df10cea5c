/**
 * The registry: every component the engine can back up, each as the entry its folder exports (how to
 * connect to it, how a restore request redirects it to another target). Which components exist is
 * config/components.ts's list of descriptors; this one has an entry for each, and the compiler refuses
 * one without the other. Components take their contract from ./types, never from here: the registry
 * imports the components, nothing imports back (test/unit/import-graph.test.ts).
 */
import { COMPONENTS, isComponentName, type ComponentName } from '../../config/components';
import { InvalidInputError } from '../core/errors';
import { postgresEntry } from './postgres';
import type { ComponentEntry, RestoreTargetOptions } from './types';
import { vectorEntry } from './vector';
import { mongodbEntry } from './mongodb';
import { redisEntry } from './redis';
import { memoryEntry } from './memory';
import { configEntry } from './config';
import { modelsEntry } from './models';
import { logsEntry } from './logs';
import { restoreTargetRefusal } from './restore-options';

export type { ComponentEntry, RestoreTargetOptions } from './types';

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

const registry: Record<ComponentName, ComponentEntry<any, any, any>> = {
  postgres: guarded('postgres', postgresEntry),
  redis: guarded('redis', redisEntry),
  mongodb: guarded('mongodb', mongodbEntry),
  vector: guarded('vector', vectorEntry),
  memory: guarded('memory', memoryEntry),
  config: guarded('config', configEntry),
  models: guarded('models', modelsEntry),
  logs: guarded('logs', logsEntry),
};


export function componentEntry(name: string): ComponentEntry<unknown, RestoreTargetOptions, any> {
  const entry = isComponentName(name) ? registry[name] : undefined;
  if (!entry) {
    throw new InvalidInputError(`unknown component '${name}'.`, { hint: `Known components: ${COMPONENTS.map((d) => d.name).join(', ')}.` });
  }
  return entry;
}
