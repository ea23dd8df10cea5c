/**
 * How the redis component reaches a server: from backup.yaml `sources.redis` plus, in AWS, the Secrets
 * Manager secret it names (ElastiCache/MemoryDB style JSON), or, in local runs, NCA_REDIS_URL. The
 * password lives only in the target object and the ioredis client; it is never logged or returned, and
 * no URL is ever echoed (it may carry one).
 */
import Redis from 'ioredis';
import type { RedisSourceConfig } from './descriptor';
import { InvalidInputError, NcaBackupError, ToolError, TransientError } from '../../core/errors';
import { secretsManagerFetcher, type SecretFetcher } from '../../core/secrets';
import { setting } from '../../../config/environment';
import { parallelStreams } from '../../core/streams';
import { RespConnection, type RespEndpoint } from './resp';

/** A Redis server and database; its password is never logged, only handed to ioredis and the stream connections. */
export interface RedisTarget extends RespEndpoint {
  /** MATCH globs of the keys backed up (and, on restore, replaced). */
  readonly keyPatterns: readonly string[];
}

/** ElastiCache/MemoryDB-style secret JSON. `tls` defaults to true: in-transit encryption is the norm there. */
interface RedisSecret {
  host?: string;
  port?: number | string;
  username?: string;
  password?: string;
  tls?: boolean;
}

export type { SecretFetcher };

const fetchFromSecretsManager = secretsManagerFetcher('redis');

type Endpoint = Omit<RedisTarget, 'db' | 'keyPatterns'>;

function fromUrl(url: string, passwordFallback?: string): Endpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidInputError('the Redis connection URL is not a valid redis:// or rediss:// URL.', { component: 'redis' });
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new InvalidInputError(`the Redis connection URL uses ${parsed.protocol.replace(/:$/, '')}://; use redis:// or rediss:// (TLS).`, { component: 'redis' });
  }
  // The URL's path (a database index) is ignored on purpose: sources.redis.db decides, as it does in AWS.
  return {
    host: decodeURIComponent(parsed.hostname) || '127.0.0.1',
    port: Number(parsed.port || 6379),
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : passwordFallback || undefined,
    tls: parsed.protocol === 'rediss:',
  };
}

async function fromSecret(secretArn: string, fetchSecret: SecretFetcher): Promise<Endpoint> {
  let secret: RedisSecret;
  try {
    secret = JSON.parse(await fetchSecret(secretArn)) as RedisSecret;
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new InvalidInputError(`secret ${secretArn} is not JSON with host, port, username, password and tls.`, { component: 'redis' });
    }
    throw error;
  }
  if (!secret || typeof secret.host !== 'string' || !secret.host) {
    throw new InvalidInputError(`secret ${secretArn} lacks host.`, {
      component: 'redis',
      hint: 'Store {"host", "port", "username", "password", "tls"} (the ElastiCache or MemoryDB endpoint and its AUTH/ACL user).',
    });
  }
  const port = Number(secret.port ?? 6379);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new InvalidInputError(`secret ${secretArn} has an invalid port.`, { component: 'redis' });
  return { host: secret.host, port, username: secret.username || undefined, password: secret.password || undefined, tls: secret.tls !== false };
}

function checkDatabaseIndex(db: unknown, field: string): number {
  if (typeof db !== 'number' || !Number.isInteger(db) || db < 0 || db > 0x7fffffff) {
    throw new InvalidInputError(`${field} must be a database index (0, 1, 2, ...).`, { component: 'redis' });
  }
  return db;
}

/**
 * Resolves the connection of the configured source. NCA_REDIS_URL (local runs) wins over the secret; the
 * database index and key patterns always come from the configuration.
 */
export async function connectRedis(source: RedisSourceConfig, env: NodeJS.ProcessEnv, fetchSecret: SecretFetcher = fetchFromSecretsManager): Promise<RedisTarget> {
  const db = checkDatabaseIndex(source.db ?? 0, 'backup.sources.redis.db');
  const keyPatterns = source.keyPatterns?.length ? [...source.keyPatterns] : ['*'];
  let endpoint: Endpoint;
  const url = setting(env, 'redisUrl');
  if (url) endpoint = fromUrl(url, setting(env, 'redisAuth'));
  else if (source.secretArn) endpoint = await fromSecret(source.secretArn, fetchSecret);
  else if (source.url) endpoint = fromUrl(source.url, setting(env, 'redisAuth'));
  else {
    throw new InvalidInputError('no connection for Redis.', {
      component: 'redis',
      hint: 'Set backup.sources.redis.secret_arn (AWS) or NCA_REDIS_URL (local runs).',
    });
  }
  return { ...endpoint, db, keyPatterns };
}

export function withDatabase(target: RedisTarget, db: number): RedisTarget {
  return { ...target, db: checkDatabaseIndex(db, 'targetDatabase') };
}

/** The restore option `targetDatabase` for Redis: a decimal database index. */
/** "3" or "db3" (how manifests name a Redis database, and so what a resolved restore carries). */
export function parseTargetDatabase(value: string): number {
  const index = typeof value === 'string' ? value.trim().replace(/^db/, '') : value;
  if (typeof index !== 'string' || !/^(0|[1-9]\d{0,8})$/.test(index)) {
    throw new InvalidInputError(`targetDatabase '${String(value).slice(0, 40)}' is not a Redis database index.`, {
      component: 'redis',
      hint: 'Give a decimal index such as 0 or 3, below the server\'s `databases` setting (16 by default).',
    });
  }
  return Number(index);
}

/** "host:port/db3" — what logs and errors may show of a target. */
export function describeTarget(target: RedisTarget): string {
  return `${target.host}:${target.port}/db${target.db}`;
}

/** Node's certificate verification failures (error codes, or the message where a client kept only that). */
const TLS_TRUST = /SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID|self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate|does not match certificate's altnames/;

const TRANSIENT = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|EPIPE|ENOTFOUND|Connection is closed|connect ETIMEDOUT|LOADING|BUSY |TRYAGAIN|MaxRetriesPerRequest|Stream isn't writeable/;

/** Maps a client or server failure to the error an operator can act on; the message never holds a secret. */
export function redisFailure(error: unknown, target: RedisTarget, doing: string, context: { backupId?: string; component?: string } = {}): Error {
  if (error instanceof NcaBackupError) return error;
  // The caller's component (memory reaches its working tier through this client) or redis.
  const named = { component: context.component ?? 'redis', ...(context.backupId ? { backupId: context.backupId } : {}) };
  // EXECABORT hides why: the first queued command the server rejected (e.g. NOPERM for DUMP) says it.
  const previous = (error as { previousErrors?: Error[] })?.previousErrors?.[0];
  const raw = previous?.message ?? (error instanceof Error ? error.message : String(error));
  const message = raw.replace(/\s+/g, ' ').trim().slice(0, 300);
  const where = describeTarget(target);
  if (/WRONGPASS|NOAUTH|invalid username-password|NOPERM/.test(message)) {
    return new InvalidInputError(`Redis at ${where} refused access (${doing}): ${message}.`, {
      ...named,
      hint: 'Check the user, password and ACL permissions in the secret (the user needs SCAN, TYPE, PTTL, DUMP, TIME, MULTI and the read commands to back up; RESTORE, FLUSHDB and UNLINK to restore).',
    });
  }
  const code = String((error as { code?: string })?.code ?? '');
  if (TLS_TRUST.test(code) || TLS_TRUST.test(message)) {
    // Repeating cannot help: the runner's trust store or the endpoint's name is wrong.
    return new InvalidInputError(`Redis at ${where} presented a TLS certificate this runner does not trust (${doing}): ${message}.`, {
      ...named,
      hint: "Connect by the endpoint name the certificate is issued for (ElastiCache's primary or configuration endpoint, not an IP address); the runner trusts the public CAs that issue ElastiCache's and MemoryDB's certificates.",
    });
  }
  if (TRANSIENT.test(message) || code === 'ECONNREFUSED') {
    return new TransientError(`cannot reach Redis at ${where} while ${doing} (${message}).`, named);
  }
  return new ToolError(`Redis at ${where} failed while ${doing}: ${message}.`, named);
}

/**
 * A connected client with the target's database selected; a bad index is an InvalidInputError, not db 0.
 * `component`: who errors name (memory opens its working tier's Redis through here).
 */
export async function openRedis(target: RedisTarget, component = 'redis'): Promise<Redis> {
  const redis = new Redis({
    host: target.host,
    port: target.port,
    username: target.username,
    password: target.password,
    tls: target.tls ? { servername: target.host } : undefined,
    lazyConnect: true,
    connectionName: 'nca-backup',
    connectTimeout: 10_000,
    // Fail fast: a half-done pipeline must not be replayed after a reconnect; the workflow retries the step.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // Failures reach callers through rejected commands; without a listener ioredis prints them to stderr.
  // The last one is kept: a refused AUTH rejects connect() only with "Connection is closed".
  let lastError: unknown;
  redis.on('error', (error) => (lastError = error));
  try {
    await redis.connect();
  } catch (error) {
    // After a failed connect the client has ended; disconnect() then would hold the process open for seconds.
    if (redis.status !== 'end') redis.disconnect();
    throw redisFailure(lastError ?? error, target, 'connecting', { component });
  }
  if (target.db !== 0) {
    try {
      // SELECT here rather than the `db` option: ioredis only logs a failed SELECT and stays on db 0.
      await redis.select(target.db);
    } catch (error) {
      redis.disconnect();
      const message = (error as Error).message ?? '';
      if (/out of range|invalid DB index|SELECT is not allowed/i.test(message)) {
        throw new InvalidInputError(`Redis at ${target.host}:${target.port} has no database ${target.db} (${message}).`, {
          component,
          hint: "Use an index below the server's `databases` setting (16 by default; MemoryDB and cluster mode have only 0).",
        });
      }
      throw redisFailure(error, target, `SELECT ${target.db}`, { component });
    }
  }
  return redis;
}

export async function withRedis<T>(target: RedisTarget, use: (redis: Redis) => Promise<T>, component = 'redis'): Promise<T> {
  const redis = await openRedis(target, component);
  try {
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

/**
 * Bare connections a backup, a fingerprint or a restore works over: the runner's streams
 * (parallelStreams), and two at least, so that even on one core the server works on one batch while
 * this process handles another.
 */
export function streamConnections(): number {
  return Math.max(2, parallelStreams());
}

/** The name CLIENT LIST shows for the bare connections of the hot paths (resp.ts). */
export const STREAM_CONNECTION_NAME = 'nca-backup-stream';

/**
 * `count` bare RESP connections (resp.ts) for the hot paths, all closed when `use` settles; if one
 * cannot be opened, the others are closed and that failure is thrown (mapped by redisFailure).
 */
export async function withStreams<T>(target: RedisTarget, count: number, use: (streams: RespConnection[]) => Promise<T>, component = 'redis'): Promise<T> {
  const opened = await Promise.allSettled(Array.from({ length: count }, () => RespConnection.open(target, STREAM_CONNECTION_NAME)));
  const readers = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  try {
    const failed = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw redisFailure(failed.reason, target, 'connecting', { component });
    return await use(readers);
  } finally {
    for (const reader of readers) reader.close();
  }
}

/** INFO <section> as a map of its `name:value` lines. */
export async function info(redis: Redis, section: string): Promise<Map<string, string>> {
  const text = await redis.info(section);
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}
