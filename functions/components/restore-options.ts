/**
 * Each component's restore-option rules, apart from the components themselves: the control plane checks
 * a restore input before anything runs, and must not bundle the database drivers to do it.
 */
import type { ComponentName } from '../../infra/config/types';
import { parseVectorRestoreOptions } from './vector/options';
import { parseMongoRestoreOptions } from './mongodb/options';
import { parseRedisRestoreOptions } from './redis/options';
import { parseMemoryRestoreOptions } from './memory/options';
import { parsePostgresRestoreOptions } from './postgres/options';

/** Checks the raw `options` object; throws InvalidInputError naming `options.<field>` and what is allowed. */
export type RestoreOptionsParser = (raw: Record<string, unknown>) => Record<string, unknown>;

export const RESTORE_OPTION_PARSERS: Partial<Record<ComponentName, RestoreOptionsParser>> = {
  postgres: parsePostgresRestoreOptions,
  redis: parseRedisRestoreOptions,
  mongodb: parseMongoRestoreOptions,
  vector: parseVectorRestoreOptions,
  memory: parseMemoryRestoreOptions,
};
