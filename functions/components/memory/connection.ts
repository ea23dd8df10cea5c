/**
 * How the memory component reaches its three stores, each through its own source in backup.yaml:
 * working memory through sources.redis, episodic through sources.mongodb, semantic through
 * sources.vector. Local runs override each with NCA_REDIS_URL, NCA_MONGODB_URL and NCA_VECTOR_URL
 * (falling back to NCA_POSTGRES_URL). Passwords live only in these objects and the clients made from
 * them; logs and errors show `describe*()` (host, port, names). The stores are reached exactly as the
 * redis, mongodb and vector components reach them.
 */
import type Redis from 'ioredis';
import { MongoError, type MongoClient } from 'mongodb';
import type { MemoryRuntimeSource } from './descriptor';
import { MEMORY_TIERS, TIER_SOURCE, type MemoryTier } from './tiers';
import { InvalidInputError, NcaBackupError } from '../../core/errors';
import type { SecretFetcher } from '../../core/secrets';
import { connectMongo, mongoFailure, openClient as openMongoClient, withClient as withMongoClient, type MongoTarget } from '../mongodb/connection';
import { classifyPgError } from '../postgres/errors';
import { connectRedis, openRedis as openRedisClient, redisFailure, withRedis as withRedisClient, type RedisTarget } from '../redis/connection';
import { connectVector, type VectorTarget } from '../vector/connection';
import { COMPONENT } from './format';

/** Working memory's store: the redis component's connection (its keyPatterns are not used here). */
export type RedisConnection = RedisTarget;
/** Episodic memory's store: the mongodb component's connection. */
export type MongoConnection = MongoTarget;

export interface MemoryTarget {
  /** Tiers this target reads and writes, in MEMORY_TIERS order. */
  readonly tiers: readonly MemoryTier[];
  readonly working?: { readonly redis: RedisConnection; readonly namespace: string };
  readonly episodic?: { readonly mongo: MongoConnection; readonly database: string; readonly collection: string };
  /** Semantic memory's store: the vector component's connection (server, database and table). */
  readonly semantic?: VectorTarget;
}

export type { SecretFetcher };

export async function connectMemory(source: MemoryRuntimeSource, env: NodeJS.ProcessEnv, fetchSecret?: SecretFetcher): Promise<MemoryTarget> {
  const tiers = MEMORY_TIERS.filter((tier) => source.tiers.includes(tier));
  if (tiers.length === 0) {
    throw new InvalidInputError('sources.memory.tiers names no tier.', { component: COMPONENT, hint: `Allowed: ${MEMORY_TIERS.join(', ')}.` });
  }
  for (const tier of tiers) {
    const store = TIER_SOURCE[tier];
    if (!source[store]) {
      throw new InvalidInputError(`the ${tier} tier is configured but sources.${store} is not.`, {
        component: COMPONENT,
        hint: `Add sources.${store} to backup.yaml, or remove ${tier} from sources.memory.tiers.`,
      });
    }
  }
  const target: { -readonly [K in keyof MemoryTarget]: MemoryTarget[K] } = { tiers };
  // Each store's settings (and backup.yaml's defaults for them) come from the loader, complete.
  if (tiers.includes('working')) {
    target.working = { redis: await connectRedis(source.redis!, env, fetchSecret), namespace: source.workingNamespace };
  }
  if (tiers.includes('episodic')) {
    const mongo = await connectMongo(source.mongodb!, env, fetchSecret);
    target.episodic = { mongo, database: mongo.database, collection: source.episodicCollection };
  }
  if (tiers.includes('semantic')) target.semantic = await connectVector(source.vector!, env, fetchSecret);
  return target;
}

/** Working memory's Redis is opened as the redis component opens it: no reconnects or replays (a
 * restore's MULTI must never be resent outside its transaction), and a database it cannot select is
 * an error, never db 0. */
export { describeTarget as describeRedis } from '../redis/connection';

export const openRedis = (redis: RedisConnection): Promise<Redis> => openRedisClient(redis, COMPONENT);

/** A client for `use`; its failures are classified by the redis component's classifier, naming memory. */
export async function withRedis<T>(redis: RedisConnection, use: (client: Redis) => Promise<T>): Promise<T> {
  try {
    return await withRedisClient(redis, use, COMPONENT);
  } catch (error) {
    throw redisFailure(error, redis, 'reading the working tier', { component: COMPONENT });
  }
}

/** Episodic memory's MongoDB, opened and classified as the mongodb component does, naming memory. */
export const openMongo = (mongo: MongoConnection): Promise<MongoClient> => openMongoClient(mongo, 'connecting', { component: COMPONENT });

export const withMongo = <T>(mongo: MongoConnection, use: (client: MongoClient) => Promise<T>): Promise<T> =>
  withMongoClient(mongo, 'reading the episodic tier', use, { component: COMPONENT });

/** A client or server error of a store's driver (not one of ours, not an artifact's bytes). */
function isStoreError(tier: MemoryTier, error: unknown): boolean {
  if (tier === 'episodic') return error instanceof MongoError;
  // ioredis: the server's replies (ReplyError), a closed or unwritable connection, socket errors (code E...).
  const e = error as { name?: string; code?: unknown; message?: string } | undefined;
  return (
    e?.name === 'ReplyError' ||
    e?.name === 'MaxRetriesPerRequestError' ||
    (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code)) ||
    /^(Connection is closed|Stream isn't writeable)/.test(e?.message ?? '')
  );
}

/**
 * A tier store's failure in its driver's one classification (redisFailure, mongoFailure,
 * classifyPgError), naming the memory component. `always`: the operation touched only the store (a
 * commit), so whatever failed is the store's; otherwise errors that are not the driver's (an artifact's
 * bytes, our own checks) pass unchanged, as classifyPgError always does for the semantic tier.
 */
export function tierFailure(target: MemoryTarget, tier: MemoryTier, error: unknown, doing: string, always = false): unknown {
  if (error instanceof NcaBackupError) return error;
  if (tier === 'semantic') return classifyPgError(error, doing, { component: COMPONENT });
  if (!always && !isStoreError(tier, error)) return error;
  if (tier === 'working') return redisFailure(error, target.working!.redis, doing, { component: COMPONENT });
  return mongoFailure(error, target.episodic!.mongo, doing, { component: COMPONENT });
}
