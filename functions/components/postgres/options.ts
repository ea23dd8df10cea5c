/**
 * Restore options of the postgres component, apart from the driver: the control plane checks a restore
 * input with this (functions/components/restore-options.ts) before anything runs.
 *
 *   terminateSessions    end the sessions on the target database before the swap (default false: a
 *                        restore over a database in use is refused, naming its sessions);
 *   sessionGraceSeconds  how long those sessions get to end on their own first (default 30);
 *   keepPreviousHours    how long the replaced database is kept aside before a later restore of the same
 *                        server drops it (default 24; 0 drops it right after the swap);
 *   createRoles          create the roles the backup's objects use that the target server lacks
 *                        (NOLOGIN unless they had LOGIN, never with a password);
 *   noOwner              restore without owners and grants (into another server whose roles differ);
 *   lockTimeoutSeconds   how long the restore's own statements (rename, settings) wait for a lock (default 30).
 *   targetDatabase (common option, through retarget): restore under another name.
 */
import { InvalidInputError } from '../../core/errors';

export interface PostgresRestoreOptions {
  readonly targetDatabase?: string;
  readonly terminateSessions?: boolean;
  readonly sessionGraceSeconds?: number;
  readonly keepPreviousHours?: number;
  readonly createRoles?: boolean;
  readonly noOwner?: boolean;
  readonly lockTimeoutSeconds?: number;
}

/**
 * The server's own databases, never a restore target: a restore into them cannot be undone by dropping
 * a database, and the restore itself depends on them. Names are compared as written (they are quoted).
 */
export const POSTGRES_SYSTEM_DATABASES: Readonly<Record<string, string>> = {
  template0: 'the pristine template: a damaged template1 is rebuilt from it',
  template1: 'every later CREATE DATABASE copies it, restored data and all',
  postgres: 'the maintenance database: the restore itself connects to it to create, rename and drop databases',
};

export const RESTORE_DEFAULTS = {
  terminateSessions: false,
  sessionGraceSeconds: 30,
  keepPreviousHours: 24,
  createRoles: false,
  noOwner: false,
  lockTimeoutSeconds: 30,
} as const;

export type ResolvedRestoreOptions = { -readonly [K in keyof typeof RESTORE_DEFAULTS]: (typeof RESTORE_DEFAULTS)[K] extends boolean ? boolean : number };

const HINT =
  'PostgreSQL restores take options.terminateSessions (true/false), options.sessionGraceSeconds (0-3600), options.keepPreviousHours (0-8760), ' +
  'options.createRoles (true/false), options.noOwner (true/false), options.lockTimeoutSeconds (1-3600); the target database is the top-level targetDatabase.';

function invalid(message: string): InvalidInputError {
  return new InvalidInputError(message, { component: 'postgres', hint: HINT });
}

const BOOLEANS = ['terminateSessions', 'createRoles', 'noOwner'] as const;
const NUMBERS: Record<string, { min: number; max: number; integer: boolean }> = {
  sessionGraceSeconds: { min: 0, max: 3600, integer: true },
  keepPreviousHours: { min: 0, max: 8760, integer: false },
  lockTimeoutSeconds: { min: 1, max: 3600, integer: true },
};

/** Checks the restore input's `options`; InvalidInputError naming options.<field> and what is allowed. */
export function parsePostgresRestoreOptions(raw: Record<string, unknown>): Omit<PostgresRestoreOptions, 'targetDatabase'> {
  // An object without targetDatabase: core/workflow-input.ts refuses anything else before it calls this.
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if ((BOOLEANS as readonly string[]).includes(key)) {
      if (typeof value !== 'boolean') throw invalid(`options.${key} must be true or false, not ${JSON.stringify(value)?.slice(0, 40)}.`);
      options[key] = value;
    } else if (key in NUMBERS) {
      const { min, max, integer } = NUMBERS[key];
      if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
        throw invalid(`options.${key} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, not ${JSON.stringify(value)?.slice(0, 40)}.`);
      }
      options[key] = value;
    } else {
      throw invalid(`options.${key} is not a PostgreSQL restore option.`);
    }
  }
  if (options.createRoles === true && options.noOwner === true) {
    throw invalid('options.createRoles and options.noOwner contradict each other: roles are only needed to restore owners and grants.');
  }
  return options as Omit<PostgresRestoreOptions, 'targetDatabase'>;
}

/** The options with every default filled in. */
export function resolveRestoreOptions(options: PostgresRestoreOptions = {}): ResolvedRestoreOptions {
  const resolved = { ...RESTORE_DEFAULTS } as ResolvedRestoreOptions;
  for (const key of Object.keys(RESTORE_DEFAULTS) as (keyof ResolvedRestoreOptions)[]) {
    if (options[key] !== undefined) (resolved as Record<string, unknown>)[key] = options[key];
  }
  return resolved;
}
