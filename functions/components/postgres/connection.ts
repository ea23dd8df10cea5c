/**
 * How the postgres component reaches a server: from backup.yaml `sources.postgres` plus, in AWS, the
 * Secrets Manager secret it names, or, in local runs, NCA_POSTGRES_URL. The password lives only in the
 * target object, the pg client and the PGPASSWORD of a child process; it is never logged or returned.
 */
import { Client, type ClientConfig } from 'pg';
import type { PostgresSourceConfig } from './descriptor';
import { InvalidInputError, TransientError } from '../../core/errors';
import { classifyPgError, isTransientPgError, pgErrorCode } from './errors';
import { secretsManagerFetcher, type SecretFetcher } from '../../core/secrets';
import { setting } from '../../../config/environment';

export interface PostgresTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Never logged; handed to pg and to pg_dump/pg_restore through PGPASSWORD only. */
  readonly password?: string;
  readonly database: string;
  /** libpq sslmode: "disable", "prefer", "require", "verify-ca" or "verify-full". */
  readonly sslMode: string;
  /** Directory of pg_dump/pg_restore; empty means PATH. */
  readonly binDir: string;
  /** How long a backup waits for a table lock (pg_dump --lock-wait-timeout, the fingerprint's lock_timeout). */
  readonly lockTimeoutSeconds?: number;
}

export const DEFAULT_LOCK_TIMEOUT_SECONDS = 60;

/** NCA_PG_LOCK_TIMEOUT_SECONDS: how long a backup may wait behind an application's table lock. */
function lockTimeoutFrom(env: NodeJS.ProcessEnv): number {
  const raw = setting(env, 'pgLockTimeoutSeconds');
  if (raw === undefined) return DEFAULT_LOCK_TIMEOUT_SECONDS;
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 86400) {
    throw new InvalidInputError(`NCA_PG_LOCK_TIMEOUT_SECONDS must be a whole number of seconds from 1 to 86400, not "${raw.slice(0, 20)}".`, { component: 'postgres' });
  }
  return seconds;
}

/** The RDS-style JSON that AWS Secrets Manager stores for database credentials. */
interface DatabaseSecret {
  host?: string;
  port?: number | string;
  username?: string;
  password?: string;
  dbname?: string;
  sslmode?: string;
}

export type { SecretFetcher };

const fetchFromSecretsManager = secretsManagerFetcher('postgres');

function fromUrl(url: string, database: string, binDir: string, passwordFallback?: string): PostgresTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Never echo the URL: it may carry a password.
    throw new InvalidInputError('the PostgreSQL connection URL is not a valid postgres:// URL.', { component: 'postgres' });
  }
  return {
    host: decodeURIComponent(parsed.hostname) || '127.0.0.1',
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username) || 'postgres',
    password: parsed.password ? decodeURIComponent(parsed.password) : passwordFallback,
    database,
    sslMode: parsed.searchParams.get('sslmode') ?? 'prefer',
    binDir,
  };
}

/**
 * Resolves the connection of a configured source. NCA_POSTGRES_URL (local runs) names the server and
 * credentials; the database is always the configured one, so one URL serves every database of a run.
 */
export async function connectPostgres(
  source: PostgresSourceConfig,
  env: NodeJS.ProcessEnv,
  fetchSecret: SecretFetcher = fetchFromSecretsManager,
): Promise<PostgresTarget> {
  return { ...(await resolveConnection(source, env, fetchSecret)), lockTimeoutSeconds: lockTimeoutFrom(env) };
}

async function resolveConnection(source: PostgresSourceConfig, env: NodeJS.ProcessEnv, fetchSecret: SecretFetcher): Promise<PostgresTarget> {
  const binDir = setting(env, 'pgBinDir') ?? '';
  const url = setting(env, 'postgresUrl');
  if (url) return fromUrl(url, source.database, binDir, setting(env, 'pgPassword'));
  if (source.secretArn) {
    let secret: DatabaseSecret;
    try {
      secret = JSON.parse(await fetchSecret(source.secretArn)) as DatabaseSecret;
    } catch (error) {
      if (error instanceof SyntaxError) {
        throw new InvalidInputError(`secret ${source.secretArn} is not JSON with host, port, username and password.`, { component: 'postgres' });
      }
      throw error;
    }
    if (!secret.host || !secret.username) {
      throw new InvalidInputError(`secret ${source.secretArn} lacks host or username.`, {
        component: 'postgres',
        hint: 'Store the RDS-style JSON: {"host", "port", "username", "password", "dbname"}.',
      });
    }
    return {
      host: secret.host,
      port: Number(secret.port ?? 5432),
      user: secret.username,
      password: secret.password,
      database: source.database,
      // RDS and Aurora accept TLS; credentials never cross the network in clear.
      sslMode: secret.sslmode ?? 'require',
      binDir,
    };
  }
  if (source.url) return fromUrl(source.url, source.database, binDir, setting(env, 'pgPassword'));
  throw new InvalidInputError('no connection for PostgreSQL.', {
    component: 'postgres',
    hint: 'Set backup.sources.postgres.secret_arn (AWS) or NCA_POSTGRES_URL (local runs).',
  });
}

export function withDatabase(target: PostgresTarget, database: string): PostgresTarget {
  return { ...target, database };
}

/** "host:port/database" — what logs and errors may show of a target. */
export function describeTarget(target: PostgresTarget): string {
  return `${target.host}:${target.port}/${target.database}`;
}

function clientConfig(target: PostgresTarget, database: string): ClientConfig {
  const ssl = ['require', 'verify-ca', 'verify-full'].includes(target.sslMode)
    ? { rejectUnauthorized: target.sslMode !== 'require' }
    : undefined;
  return { host: target.host, port: target.port, user: target.user, password: target.password, database, ssl, application_name: 'nca-backup' };
}

/** Where a client is connected, for errors: never the user or password. */
function where(target: PostgresTarget, database: string): string {
  return `${target.host}:${target.port}/${database}`;
}

const lost = new WeakMap<Client, Promise<never>>();

/**
 * A connected client. Connection failures that may pass (server starting, too many clients, network)
 * are TransientError. The client's 'error' event (the server ended the session: shutdown,
 * pg_terminate_backend, idle_in_transaction_session_timeout) is always handled: unhandled, it would
 * crash the process with no result; here it settles `connectionLost(client)` with a classified error,
 * and the client's next query fails.
 */
export async function openClient(target: PostgresTarget, database = target.database): Promise<Client> {
  const client = new Client(clientConfig(target, database));
  let markLost: (error: unknown) => void = () => undefined;
  const lostPromise = new Promise<never>((_resolve, reject) => (markLost = reject));
  lostPromise.catch(() => undefined);
  lost.set(client, lostPromise);
  client.on('error', (error) => markLost(classifyPgError(error, `the connection to PostgreSQL at ${where(target, database)}`, { component: 'postgres' })));
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    const code = pgErrorCode(error) ?? '';
    if (isTransientPgError(error)) {
      throw new TransientError(`cannot reach PostgreSQL at ${where(target, database)} (${code || (error as Error).message}).`, { component: 'postgres' });
    }
    if (code === '3D000') {
      throw new InvalidInputError(`database "${database}" does not exist on ${target.host}:${target.port}.`, { component: 'postgres' });
    }
    throw new InvalidInputError(`cannot connect to PostgreSQL at ${where(target, database)}: ${(error as Error).message}.`, { component: 'postgres' });
  }
}

/** Rejects, with a classified error, when the server ends the client's session; never resolves. */
export function connectionLost(client: Client): Promise<never> {
  return lost.get(client) ?? new Promise<never>(() => undefined);
}

export async function withClient<T>(target: PostgresTarget, use: (client: Client) => Promise<T>, database = target.database): Promise<T> {
  const client = await openClient(target, database);
  try {
    return await use(client).catch((error: unknown) => {
      throw classifyPgError(error, `a query on ${where(target, database)}`, { component: 'postgres' });
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The environment of a pg_dump/pg_restore child: libpq variables, the password only in PGPASSWORD. */
export function toolEnv(target: PostgresTarget, tool = 'tool'): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: setting(process.env, 'path'),
    HOME: setting(process.env, 'home'),
    LANG: 'C',
    PGHOST: target.host,
    PGPORT: String(target.port),
    PGUSER: target.user,
    PGDATABASE: target.database,
    PGSSLMODE: target.sslMode,
    // Its own application_name, so an operator listing sessions sees which tool holds one.
    PGAPPNAME: `nca-backup/${tool}`,
    PGCONNECT_TIMEOUT: '30',
  };
  if (target.password !== undefined) env.PGPASSWORD = target.password;
  return env;
}

/**
 * A database name as a libpq `--dbname` argument that can only ever mean that name. libpq reads a dbname
 * holding "=" or starting with "postgres://"/"postgresql://" as a whole connection string: a name like
 * "host=evil.example dbname=x" would send the password to that host. Written as the conninfo
 * `dbname='<name>'` (quotes and backslashes escaped), the value is the database name and nothing else.
 */
export function conninfoDatabase(name: string): string {
  return `dbname='${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Double-quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
