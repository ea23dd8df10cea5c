/**
 * How the memory component reaches its three stores, each through its own source in backup.yaml:
 * working memory through sources.redis, episodic through sources.mongodb, semantic through
 * sources.vector. Local runs override each with NCA_REDIS_URL, NCA_MONGODB_URL and NCA_VECTOR_URL
 * (falling back to NCA_POSTGRES_URL). Passwords live only in these objects and the clients made from
 * them; logs and errors show `describe*()` (host, port, names). Deliberately small: the redis and
 * mongodb components' own connect functions may replace these helpers.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import Redis, { type RedisOptions } from 'ioredis';
import { MongoClient } from 'mongodb';
import { MEMORY_TIERS, type MemoryRuntimeSource, type MemoryTier } from '../../../infra/config/types';
import { InvalidInputError, TransientError } from '../../core/errors';
import { connectPostgres, quoteIdent, type PostgresTarget } from '../postgres/connection';
import { COMPONENT } from './format';

export interface RedisConnection {
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  /** Never logged. */
  readonly password?: string;
  readonly tls: boolean;
  readonly db: number;
}

export interface MongoConnection {
  /** mongodb:// or mongodb+srv:// URI, possibly with credentials: never logged. */
  readonly uri: string;
  /** Hosts only, for logs and errors. */
  readonly hosts: string;
}

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

export type SecretFetcher = (secretArn: string) => Promise<string>;

const fetchFromSecretsManager: SecretFetcher = async (secretArn) => {
  const value = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretArn }));
  if (!value.SecretString) throw new InvalidInputError(`secret ${secretArn} has no SecretString.`, { component: COMPONENT });
  return value.SecretString;
};

async function secretJson(fetchSecret: SecretFetcher, secretArn: string, shape: string): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fetchSecret(secretArn));
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
  }
  if (typeof parsed !== 'object' || parsed === null) {
    throw new InvalidInputError(`secret ${secretArn} is not JSON with ${shape}.`, { component: COMPONENT });
  }
  return parsed as Record<string, unknown>;
}

function parseUrl(url: string, what: string): URL {
  try {
    return new URL(url);
  } catch {
    // Never echo the URL: it may carry a password.
    throw new InvalidInputError(`the ${what} connection URL is not a valid URL.`, { component: COMPONENT });
  }
}

function redisFromUrl(url: string, db: number, passwordFallback?: string): RedisConnection {
  const parsed = parseUrl(url, 'Redis');
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new InvalidInputError('the Redis connection URL must start with redis:// or rediss://.', { component: COMPONENT });
  }
  return {
    host: decodeURIComponent(parsed.hostname) || '127.0.0.1',
    port: Number(parsed.port || 6379),
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : passwordFallback,
    tls: parsed.protocol === 'rediss:',
    db,
  };
}

async function connectRedis(source: NonNullable<MemoryRuntimeSource['redis']>, env: NodeJS.ProcessEnv, fetchSecret: SecretFetcher): Promise<RedisConnection> {
  const db = source.db ?? 0;
  if (env.NCA_REDIS_URL) return redisFromUrl(env.NCA_REDIS_URL, db);
  if (source.secretArn) {
    const secret = await secretJson(fetchSecret, source.secretArn, 'host, port, username, password and tls');
    if (typeof secret.host !== 'string') {
      throw new InvalidInputError(`secret ${source.secretArn} lacks host.`, { component: COMPONENT, hint: 'Store {"host", "port", "username"?, "password"?, "tls"?}.' });
    }
    return {
      host: secret.host,
      port: Number(secret.port ?? 6379),
      username: typeof secret.username === 'string' ? secret.username : undefined,
      password: typeof secret.password === 'string' ? secret.password : undefined,
      // ElastiCache and MemoryDB only accept AUTH over TLS: on unless the secret says otherwise.
      tls: secret.tls !== false,
      db,
    };
  }
  if (source.url) return redisFromUrl(source.url, db, env.REDISCLI_AUTH);
  throw new InvalidInputError('no connection for Redis (working memory).', {
    component: COMPONENT,
    hint: 'Set backup.sources.redis.secret_arn (AWS) or NCA_REDIS_URL (local runs).',
  });
}

function mongoHosts(uri: string): string {
  const match = /^mongodb(?:\+srv)?:\/\/(?:[^@/]*@)?([^/?]+)/.exec(uri);
  return match ? match[1] : 'MongoDB';
}

async function connectMongo(source: NonNullable<MemoryRuntimeSource['mongodb']>, env: NodeJS.ProcessEnv, fetchSecret: SecretFetcher): Promise<MongoConnection> {
  const fromUri = (uri: string): MongoConnection => {
    if (!/^mongodb(\+srv)?:\/\//.test(uri)) {
      throw new InvalidInputError('the MongoDB connection URL must start with mongodb:// or mongodb+srv://.', { component: COMPONENT });
    }
    return { uri, hosts: mongoHosts(uri) };
  };
  if (env.NCA_MONGODB_URL) return fromUri(env.NCA_MONGODB_URL);
  if (source.secretArn) {
    const secret = await secretJson(fetchSecret, source.secretArn, 'uri, or host, port, username and password');
    if (typeof secret.uri === 'string') return fromUri(secret.uri);
    if (typeof secret.host !== 'string') {
      throw new InvalidInputError(`secret ${source.secretArn} has neither uri nor host.`, {
        component: COMPONENT,
        hint: 'Store {"uri"} or {"host", "port", "username", "password", "ssl"?} (DocumentDB style).',
      });
    }
    const credentials =
      typeof secret.username === 'string' ? `${encodeURIComponent(secret.username)}:${encodeURIComponent(String(secret.password ?? ''))}@` : '';
    const tls = secret.ssl !== false;
    const uri = `mongodb://${credentials}${secret.host}:${Number(secret.port ?? 27017)}/?tls=${tls}${credentials ? '&authSource=admin' : ''}`;
    return { uri, hosts: `${secret.host}:${Number(secret.port ?? 27017)}` };
  }
  if (source.url) return fromUri(source.url);
  throw new InvalidInputError('no connection for MongoDB (episodic memory).', {
    component: COMPONENT,
    hint: 'Set backup.sources.mongodb.secret_arn (AWS) or NCA_MONGODB_URL (local runs).',
  });
}

export function parseTableName(table: string): TableName {
  const dot = table.indexOf('.');
  return dot === -1 ? { schema: 'public', name: table } : { schema: table.slice(0, dot), name: table.slice(dot + 1) };
}

export function qualifiedTable(table: TableName): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}

const STORE_OF: Record<MemoryTier, 'redis' | 'mongodb' | 'vector'> = { working: 'redis', episodic: 'mongodb', semantic: 'vector' };

export async function connectMemory(source: MemoryRuntimeSource, env: NodeJS.ProcessEnv, fetchSecret: SecretFetcher = fetchFromSecretsManager): Promise<MemoryTarget> {
  const requested = source.tiers ?? MEMORY_TIERS;
  const tiers = MEMORY_TIERS.filter((tier) => requested.includes(tier));
  if (tiers.length === 0) {
    throw new InvalidInputError('sources.memory.tiers names no tier.', { component: COMPONENT, hint: `Allowed: ${MEMORY_TIERS.join(', ')}.` });
  }
  for (const tier of tiers) {
    const store = STORE_OF[tier];
    if (!source[store]) {
      throw new InvalidInputError(`the ${tier} tier is configured but sources.${store} is not.`, {
        component: COMPONENT,
        hint: `Add sources.${store} to backup.yaml, or remove ${tier} from sources.memory.tiers.`,
      });
    }
  }
  const target: { -readonly [K in keyof MemoryTarget]: MemoryTarget[K] } = { tiers };
  if (tiers.includes('working')) {
    target.working = { redis: await connectRedis(source.redis!, env, fetchSecret), namespace: source.workingNamespace ?? 'working' };
  }
  if (tiers.includes('episodic')) {
    target.episodic = {
      mongo: await connectMongo(source.mongodb!, env, fetchSecret),
      database: source.mongodb!.database ?? 'neuroca_episodic',
      collection: source.episodicCollection ?? 'memories',
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
    target.semantic = { postgres, table: parseTableName(vector.table ?? 'semantic_memory') };
  }
  return target;
}

/** "host:port db N" — what logs and errors may show of a Redis connection. */
export function describeRedis(redis: RedisConnection): string {
  return `${redis.host}:${redis.port} db ${redis.db}`;
}

const TRANSIENT = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|EHOSTUNREACH|Connection is closed|connect ETIMEDOUT/;

/**
 * A connected ioredis client that never reconnects or replays commands on its own: a restore's
 * MULTI must not be resent outside its transaction on a new connection, and the workflow retries
 * whole steps anyway.
 */
export async function openRedis(redis: RedisConnection, options: RedisOptions = {}): Promise<Redis> {
  const client = new Redis({
    host: redis.host,
    port: redis.port,
    username: redis.username,
    password: redis.password,
    db: redis.db,
    tls: redis.tls ? {} : undefined,
    lazyConnect: true,
    connectTimeout: 10_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: false,
    connectionName: 'nca-backup',
    ...options,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (error) {
    // A failed connect has already closed; disconnect() would now wait out its 2 s disconnectTimeout.
    if (client.status !== 'end') client.disconnect();
    const message = (error as Error).message ?? '';
    const where = describeRedis(redis);
    if (TRANSIENT.test(message)) throw new TransientError(`cannot reach Redis at ${where}.`, { component: COMPONENT });
    throw new InvalidInputError(`cannot connect to Redis at ${where}: ${message.replace(/\S+@/g, '')}.`, { component: COMPONENT });
  }
}

export async function withRedis<T>(redis: RedisConnection, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = await openRedis(redis);
  try {
    return await use(client);
  } finally {
    client.disconnect();
  }
}

export async function openMongo(mongo: MongoConnection): Promise<MongoClient> {
  const client = new MongoClient(mongo.uri, { serverSelectionTimeoutMS: 10_000, appName: 'nca-backup' });
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.close().catch(() => undefined);
    const name = (error as Error).name;
    if (name === 'MongoServerSelectionError' || name === 'MongoNetworkError' || name === 'MongoNetworkTimeoutError') {
      throw new TransientError(`cannot reach MongoDB at ${mongo.hosts}.`, { component: COMPONENT });
    }
    throw new InvalidInputError(`cannot connect to MongoDB at ${mongo.hosts}: ${(error as Error).message.replace(/\S+@/g, '')}.`, { component: COMPONENT });
  }
}

export async function withMongo<T>(mongo: MongoConnection, use: (client: MongoClient) => Promise<T>): Promise<T> {
  const client = await openMongo(mongo);
  try {
    return await use(client);
  } finally {
    await client.close().catch(() => undefined);
  }
}
