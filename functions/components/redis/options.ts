/**
 * Restore options of the redis component and the key scope they select.
 *
 *   mode        "replace" (default): clear the target's keys in scope, then restore the backup's;
 *               "merge": RESTORE ... REPLACE only the backup's keys in scope, leave every other key.
 *   keyPattern  a Redis glob (e.g. "memory:*"): only the backup's keys matching it are restored, and in
 *               replace mode only target keys matching it (and the backup's patterns) are cleared.
 *   targetDatabase (common option, through retarget): restore into another database index.
 */
import { InvalidInputError } from '../../core/errors';
import type { RestoreTargetOptions } from '../../../config/component';
import { compileGlob, globMatch, matchesAny, type Glob } from './glob';

export const RESTORE_MODES = ['replace', 'merge'] as const;
export type RestoreMode = (typeof RESTORE_MODES)[number];

export interface RedisRestoreOptions extends RestoreTargetOptions {
  readonly mode?: RestoreMode;
  readonly keyPattern?: string;
}

const MAX_PATTERN_LENGTH = 1024;
const HINT = 'Redis restores take options.mode ("replace" or "merge"), options.keyPattern (a glob such as "memory:*") and targetDatabase (a database index).';

function invalid(message: string): InvalidInputError {
  return new InvalidInputError(message, { component: 'redis', hint: HINT });
}

/**
 * A database index as retarget reads it ("db3", " 3 " and "3" are the same index), so a protected index in
 * backup.restore.protected_targets matches however the target is written. Redis has no system database.
 */
export function redisTargetKey(name: string): string {
  return name.trim().replace(/^db/, '');
}

/** Checks the restore input's `options` object. `targetDatabase` is accepted and left to retarget(). */
export function parseRedisRestoreOptions(raw: Record<string, unknown>): Omit<RedisRestoreOptions, 'targetDatabase'> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('options must be an object.');
  for (const key of Object.keys(raw)) {
    if (!['mode', 'keyPattern', 'targetDatabase'].includes(key)) throw invalid(`options.${key} is not a Redis restore option.`);
  }
  const options: { mode?: RestoreMode; keyPattern?: string } = {};
  if (raw.mode !== undefined) {
    if (typeof raw.mode !== 'string' || !(RESTORE_MODES as readonly string[]).includes(raw.mode)) {
      throw invalid(`options.mode must be "replace" or "merge", not ${JSON.stringify(raw.mode)?.slice(0, 40)}.`);
    }
    options.mode = raw.mode as RestoreMode;
  }
  if (raw.keyPattern !== undefined) {
    if (typeof raw.keyPattern !== 'string' || raw.keyPattern.length === 0 || raw.keyPattern.length > MAX_PATTERN_LENGTH) {
      throw invalid(`options.keyPattern must be a non-empty glob of at most ${MAX_PATTERN_LENGTH} characters.`);
    }
    options.keyPattern = raw.keyPattern;
  }
  return options;
}

/** Which keys a restore touches: those of the backup's patterns, narrowed by keyPattern when given. */
export class KeyScope {
  readonly backupGlobs: readonly Glob[];
  readonly keyGlob?: Glob;

  constructor(
    readonly backupPatterns: readonly string[],
    readonly keyPattern?: string,
  ) {
    this.backupGlobs = backupPatterns.map(compileGlob);
    this.keyGlob = keyPattern === undefined ? undefined : compileGlob(keyPattern);
  }

  /** True when the scope is the whole database: replace can FLUSHDB. */
  get wholeDatabase(): boolean {
    return this.backupGlobs.some((g) => g.matchesAll) && (!this.keyGlob || this.keyGlob.matchesAll);
  }

  /** The patterns to SCAN the target with to find every key in scope (then filtered with `contains`). */
  get scanPatterns(): readonly string[] {
    return this.keyPattern !== undefined ? [this.keyPattern] : this.backupPatterns;
  }

  /** For a record of the backup: does keyPattern select it? (Records already match the backup's patterns.) */
  selects(key: Buffer): boolean {
    return !this.keyGlob || globMatch(this.keyGlob, key);
  }

  /** For a key of the target: is it inside the scope? */
  contains(key: Buffer): boolean {
    return this.selects(key) && matchesAny(this.backupGlobs, key);
  }
}
