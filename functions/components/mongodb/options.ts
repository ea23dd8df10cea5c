/**
 * The mongodb component's restore options, apart from the driver: the control plane checks a restore input
 * with this before anything runs (functions/components/restore-options.ts) and must not bundle the driver.
 */
import { InvalidInputError } from '../../core/errors';

export interface MongoRestoreOptions {
  /** Restore into this database instead of the one backed up (the restore input's top-level targetDatabase). */
  readonly targetDatabase?: string;
  /** Restore only these collections of the backup; absent: all of them. */
  readonly collections?: readonly string[];
}

const component = 'mongodb';

/**
 * The server's own databases, never a restore target. MongoDB refuses two databases whose names differ only
 * in case, so names are compared in lower case ("Admin" is refused as admin is).
 */
export const MONGO_SYSTEM_DATABASES: Readonly<Record<string, string>> = {
  admin: 'it holds the users, roles and cluster-wide privileges',
  local: 'it holds the replication oplog and this node\'s own state',
  config: 'it holds the sharding metadata, sessions and transactions',
};

export function mongoTargetKey(name: string): string {
  return name.toLowerCase();
}

/** MongoDB collection names: not empty, no "$" or NUL, not system.*. */
function isCollectionName(name: unknown): name is string {
  return typeof name === 'string' && name !== '' && !/[$\0]/.test(name) && !name.startsWith('system.');
}

/** Checks the restore input's `options`; InvalidInputError naming options.<field> and what is allowed. */
export function parseMongoRestoreOptions(raw: Record<string, unknown>): Omit<MongoRestoreOptions, 'targetDatabase'> {
  for (const key of Object.keys(raw)) {
    if (key !== 'collections') {
      throw new InvalidInputError(`unknown restore option options.${key}.`, {
        component,
        hint: 'mongodb takes options.collections (a list of collection names); the target database is the top-level targetDatabase.',
      });
    }
  }
  if (raw.collections === undefined) return {};
  const list = raw.collections;
  if (!Array.isArray(list) || list.length === 0 || !list.every(isCollectionName)) {
    throw new InvalidInputError('options.collections must be a non-empty list of collection names (no "$", not system.*).', { component });
  }
  const duplicates = list.filter((name, i) => list.indexOf(name) !== i);
  if (duplicates.length) throw new InvalidInputError(`options.collections lists ${duplicates.join(', ')} more than once.`, { component });
  return { collections: [...list] };
}
