/**
 * How the memory component reaches its three stores, each through its own source in backup.yaml:
 * working memory through sources.redis, episodic through sources.mongodb, semantic through
 * sources.vector. Local runs override each with NCA_REDIS_URL, NCA_MONGODB_URL and NCA_VECTOR_URL
 * (falling back to NCA_POSTGRES_URL). Passwords live only in these objects and the clients made from
 * them; logs and errors show `describe*()` (host, port, names). The stores are reached exactly as the
 * redis, mongodb and vector components reach them.
 */
import type Redis from 'ioredis';
import { MongoClient, MongoError } from 'mongodb';
import { MEMORY_TIERS, TIER_SOURCE, type MemoryRuntimeSource, type MemoryTier } from '../../../infra/config/types';
import { InvalidInputError, NcaBackupError } from '../../core/errors';
import type { SecretFetcher } from '../../core/secrets';
import { connectMongo, mongoFailure, type MongoTarget } from '../mongodb/connection';
import { connectPostgres, quoteIdent, type PostgresTarget } from '../postgres/connection';
import { classifyPgError } from '../postgres/errors';
import { connectRedis, openRedis as openRedisClient, redisFailure, withRedis as withRedisClient, type RedisTarget } from '../redis/connection';
import { parseTableName } from '../vector/names';
import { COMPONENT } from './format';

/** Working memory's store: the redis component's connection (its keyPatterns are not used here). */
export type RedisConnection = RedisTarget;
/** Episodic memory's store: the mongodb component's connection. */
export type MongoConnection = MongoTarget;

export interface TableName {
  readonly schema: string;
  readonly name: string;
}

export interface MemoryTarget {
  /** Tiers this target reads and writes, in MEMORY_TIERS order. */
  readonly tiers: readonly MemoryTier[];
  readonly working?: { readonly redis: RedisConnection; readonly namespace: string };
  readonly episodic?: { readonly mongo: MongoConnection; readonly database: string; readonly collection: string };
  readonly semantic?: { readonly postgres: PostgresTarget; readonly table: TableName };
}

export type { SecretFetcher };

export function qualifiedTable(table: TableName): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}

export async function connectMemory(source: MemoryRuntimeSource, env: NodeJS.ProcessEnv, fetchSecret?: SecretFetcher): Promise<MemoryTarget> {
  const requested = source.tiers ?? MEMORY_TIERS;
  const tiers = MEMORY_TIERS.filter((tier) => requested.includes(tier));
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
  if (tiers.includes('working')) {
    target.working = { redis: await connectRedis(source.redis!, env, fetchSecret), namespace: source.workingNamespace ?? 'generic' };
  }
  if (tiers.includes('episodic')) {
    target.episodic = {
      mongo: await connectMongo(source.mongodb!, env, fetchSecret),
      database: source.mongodb!.database ?? 'neuroca_episodic',
      collection: source.episodicCollection ?? 'ltm_memories',
    };
  }
  if (tiers.includes('semantic')) {
    const vector = source.vector!;
    const url = env.NCA_VECTOR_URL ?? env.NCA_POSTGRES_URL;
    if (!url && !vector.secretArn && !vector.url) {
      throw new InvalidInputError('no connection for the vector store (semantic memory).', {
        component: COMPONENT,
        hint: 'Set backup.sources.vector.secret_arn (AWS) or NCA_VECTOR_URL (local runs).',
      });
    }
    const database = vector.database ?? 'neuroca_db';
    const postgres = await connectPostgres({ database, secretArn: vector.secretArn, url: vector.url }, { NCA_POSTGRES_URL: url, PGPASSWORD: env.PGPASSWORD }, fetchSecret);
    // The vector component's parser: the semantic tier reads the same table, named the same way.
    const { schema, table } = parseTableName(vector.table ?? 'semantic_memory', 'sources.vector.table', COMPONENT);
    target.semantic = { postgres, table: { schema, name: table } };
  }
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

export async function openMongo(mongo: MongoConnection): Promise<MongoClient> {
  let client: MongoClient;
  try {
    client = new MongoClient(mongo.url, { ...mongo.clientOptions, serverSelectionTimeoutMS: 10_000, appName: 'nca-backup' });
  } catch (error) {
    throw mongoFailure(error, mongo, 'opening the client', { component: COMPONENT });
  }
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.close().catch(() => undefined);
    throw mongoFailure(error, mongo, 'connecting', { component: COMPONENT });
  }
}

export async function withMongo<T>(mongo: MongoConnection, use: (client: MongoClient) => Promise<T>): Promise<T> {
  const client = await openMongo(mongo);
  try {
    return await use(client);
  } catch (error) {
    throw mongoFailure(error, mongo, 'reading the episodic tier', { component: COMPONENT });
  } finally {
    await client.close().catch(() => undefined);
  }
}

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
