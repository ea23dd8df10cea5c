/**
 * Each component's restore-option and restore-target rules, apart from the components themselves: the
 * control plane checks a restore input before anything runs, and must not bundle the database drivers to do it:
 * every module imported here is pure (test/unit/control-plane-bundles.test.ts reads the bundles to hold it so).
 */
import type { ComponentName } from '../../infra/config/types';
import { InvalidInputError } from '../core/errors';
import { parseVectorRestoreOptions } from './vector/options';
import { MONGO_SYSTEM_DATABASES, mongoTargetKey, parseMongoRestoreOptions } from './mongodb/options';
import { parseRedisRestoreOptions, redisTargetKey } from './redis/options';
import { parseMemoryRestoreOptions } from './memory/options';
import { parsePostgresRestoreOptions, POSTGRES_SYSTEM_DATABASES } from './postgres/options';

/** Checks the raw `options` object; throws InvalidInputError naming `options.<field>` and what is allowed. */
export type RestoreOptionsParser = (raw: Record<string, unknown>) => Record<string, unknown>;

export const RESTORE_OPTION_PARSERS: Partial<Record<ComponentName, RestoreOptionsParser>> = {
  postgres: parsePostgresRestoreOptions,
  redis: parseRedisRestoreOptions,
  mongodb: parseMongoRestoreOptions,
  vector: parseVectorRestoreOptions,
  memory: parseMemoryRestoreOptions,
};

/**
 * Which restore targets a component refuses on its own: the server's system databases, each with why, and
 * how the server compares names (a configured protected target matches the way the server would).
 */
export interface RestoreTargetRules {
  readonly systemDatabases: Readonly<Record<string, string>>;
  /** The form in which two target names are the same database; absent: as written. */
  readonly targetKey?: (name: string) => string;
}

export const RESTORE_TARGET_RULES: Partial<Record<ComponentName, RestoreTargetRules>> = {
  postgres: { systemDatabases: POSTGRES_SYSTEM_DATABASES },
  // The vector table lives in a PostgreSQL database: the same server, the same system databases.
  vector: { systemDatabases: POSTGRES_SYSTEM_DATABASES },
  mongodb: { systemDatabases: MONGO_SYSTEM_DATABASES, targetKey: mongoTargetKey },
  // Redis has no system database; an index in backup.restore.protected_targets matches "3", "db3" and " 3 ".
  redis: { systemDatabases: {}, targetKey: redisTargetKey },
  // memory takes no target of its own (retarget accepts only its backed-up name): its stores are the configured sources.
};

/** Where the restore target came from, for the error: the operator's field, or the backup's own database. */
export interface TargetOrigin {
  /** e.g. "targetDatabase (--target-database)"; absent: the backed-up database, used when no target is given. */
  readonly field?: string;
  /** Extra targets to refuse (backup.restore.protected_targets). */
  readonly protectedTargets?: readonly string[];
}

const PROTECTED_KEY = 'backup.restore.protected_targets';

/**
 * Why a restore may not write to `target`, as the error to throw, or undefined when it may: an empty name
 * (a dropped empty value once made a restore fall back to the backed-up database), a system database, or a
 * configured protected target. Checked before anything is read from the target or written to it.
 */
export function restoreTargetRefusal(component: ComponentName, target: string, origin: TargetOrigin = {}): InvalidInputError | undefined {
  const field = origin.field ?? 'targetDatabase';
  const elsewhere = `Nothing was touched. To restore elsewhere, name another database: targetDatabase in the restore input, --target-database <name> on the command line.`;
  if (target.trim() === '') {
    return new InvalidInputError(`${field} is empty${target === '' ? '' : ' (only spaces)'}: an empty target is never read as "the backed-up database". Nothing was touched.`, {
      component,
      hint: 'Name the database to restore into, e.g. --target-database neuroca_db_restored; leave the option out only to restore over the backed-up database.',
    });
  }
  const what = origin.field ? `${field} '${target}'` : `the backed-up database '${target}' (the target when none is given)`;
  const rules = RESTORE_TARGET_RULES[component];
  const key = rules?.targetKey ?? ((name: string) => name);
  const system = Object.entries(rules?.systemDatabases ?? {}).find(([name]) => key(name) === key(target));
  if (system) {
    return new InvalidInputError(`${what} is the system database ${system[0]} (${system[1]}): a restore never writes to it.`, { component, hint: elsewhere });
  }
  const listed = (origin.protectedTargets ?? []).find((name) => key(name) === key(target));
  if (listed !== undefined) {
    return new InvalidInputError(`${what} is a protected target (${PROTECTED_KEY} lists '${listed}'): a restore never writes to it.`, { component, hint: elsewhere });
  }
  return undefined;
}
