/**
 * The redis component (database group, working memory): a logical export through SCAN + DUMP into a
 * length-prefixed stream (format.ts), restored with pipelined RESTORE ... ABSTTL; fingerprints over
 * canonical values per key type; RDB version checks before anything is written.
 */
import type { ComponentEntry } from '../types';
import { InvalidInputError } from '../../core/errors';
import type { Component, SourceInfo } from '../types';
import { backupRedis, sourceInfo } from './backup';
import { checkRestoreCompatibility, serverFacts } from './compatibility';
import { connectRedis, parseTargetDatabase, redisFailure, withDatabase, withRedis, type RedisTarget } from './connection';
import { fingerprintRedis } from './fingerprint';
import type { RedisRestoreOptions } from './options';
import { restoreRedis } from './restore';
import { scanKeys } from './scan';
import { verifyRedisRestore } from './verify';
import { keysMemory, memoryFacts, redisRoom } from './room';
import { requireRoom } from '../room';

const ROOM_HINT =
  'Raise the target\'s maxmemory (a larger node type on ElastiCache or MemoryDB), free memory on it, or restore elsewhere (targetDatabase on another server, options.keyPattern for part of the backup).';

export { connectRedis, describeTarget, parseTargetDatabase, withDatabase, type RedisTarget, type SecretFetcher } from './connection';
export { parseRedisRestoreOptions, type RedisRestoreOptions, type RestoreMode } from './options';
export { DUMP_CONTENT_TYPE, dumpArtifactName } from './format';

/**
 * Bytes a backup will read, from INFO alone: the dataset's memory share of this database (keys here /
 * keys in all databases). DUMP payloads are usually smaller than memory (no pointers, compact
 * encodings), so this errs high, which is the safe side for choosing Lambda or Fargate.
 */
async function estimateRedis(target: RedisTarget): Promise<number> {
  return withRedis(target, async (redis) => {
    try {
      const facts = await memoryFacts(redis);
      return keysMemory(facts, facts.keys.get(target.db) ?? 0);
    } catch (error) {
      throw redisFailure(error, target, 'reading INFO');
    }
  });
}

async function targetHasKeys(target: RedisTarget): Promise<boolean> {
  return withRedis(target, async (redis) => {
    try {
      if (target.keyPatterns.includes('*')) return (await redis.dbsize()) > 0;
      for await (const keys of scanKeys(redis, target.keyPatterns)) if (keys.length > 0) return true;
      return false;
    } catch (error) {
      throw redisFailure(error, target, 'looking for keys');
    }
  });
}

/**
 * A replace restore clears the backup's key scope, but the safety backup before it saves the scope this
 * deployment is configured with. When the two differ (the patterns changed since the backup), the clear
 * could remove keys no backup holds: refuse before anything runs, and say what works instead.
 */
export function checkReplaceScope(source: SourceInfo, target: RedisTarget, options: RedisRestoreOptions): void {
  if ((options.mode ?? 'replace') !== 'replace' || target.keyPatterns.includes('*')) return;
  const backedUp = Array.isArray(source.keyPatterns) ? (source.keyPatterns as string[]) : ['*'];
  const cleared = options.keyPattern ? [options.keyPattern] : backedUp;
  const saved = new Set(target.keyPatterns);
  if (cleared.every((pattern) => saved.has(pattern))) return;
  throw new InvalidInputError(
    `a replace restore would clear keys matching ${cleared.join(', ')}, but the safety backup only saves ${target.keyPatterns.join(', ')} (backup.sources.redis.key_patterns).`,
    { component: 'redis', hint: `Restore with options {"mode": "merge"}, or with a keyPattern among ${target.keyPatterns.join(', ')}.` },
  );
}

export const redis: Component<RedisTarget, RedisRestoreOptions> = {
  name: 'redis',
  group: 'database',

  describe: (target) =>
    withRedis(target, async (client) => {
      try {
        return sourceInfo(await serverFacts(client, target.db), target);
      } catch (error) {
        throw redisFailure(error, target, 'reading INFO');
      }
    }),

  estimate: estimateRedis,

  backup: (target, sink, log) => backupRedis(target, sink, log),

  fingerprint: (target) => fingerprintRedis(target),

  async checkCompatibility(source: SourceInfo, target: RedisTarget, options?: RedisRestoreOptions) {
    checkReplaceScope(source, target, options ?? {});
    const [facts, memory] = await withRedis(target, async (client) => {
      try {
        return await Promise.all([serverFacts(client, target.db), memoryFacts(client)]);
      } catch (error) {
        throw redisFailure(error, target, 'reading INFO');
      }
    });
    checkRestoreCompatibility(source, facts);
    const room = requireRoom(redisRoom(source, target, options ?? {}, memory), { component: 'redis' }, ROOM_HINT);
    return { targetVersion: facts.serverVersion, room };
  },

  targetExists: targetHasKeys,

  restore: restoreRedis,

  verifyRestore: verifyRedisRestore,

  /** FLUSHDB of the target's index only (a drill's sandbox index, checked by the drill before). */
  dropTarget: (target) =>
    withRedis(target, async (client) => {
      await client.flushdb();
    }),
};

export const redisEntry: ComponentEntry<RedisTarget, RedisRestoreOptions, 'redis'> = {
  component: redis,
  connect: (source, env) => connectRedis(source, env),
  retarget: (target, options) =>
    options.targetDatabase === undefined || options.targetDatabase === '' ? target : withDatabase(target, parseTargetDatabase(options.targetDatabase)),
};
