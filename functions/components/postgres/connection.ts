/**
 * How the postgres component reaches a server: from backup.yaml `sources.postgres` plus, in AWS, the
 * Secrets Manager secret it names, or, in local runs, NCA_POSTGRES_URL. The password lives only in the
 * target object, the pg client and the PGPASSWORD of a child process; it is never logged or returned.
 */
import { Client, type ClientConfig } from 'pg';
import type { PostgresSourceConfig } from '../../../infra/config/types';
import { InvalidInputError, TransientError } from '../../core/errors';
import { secretsManagerFetcher, type SecretFetcher } from '../../core/secrets';

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
  const binDir = env.NCA_PG_BIN_DIR ?? '';
  if (env.NCA_POSTGRES_URL) return fromUrl(env.NCA_POSTGRES_URL, source.database, binDir, env.PGPASSWORD);
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
  if (source.url) return fromUrl(source.url, source.database, binDir, env.PGPASSWORD);
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

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', '57P03', '53300', '08006', '08001']);

/** A connected client; connection failures that may pass (server starting, too many clients) are TransientError. */
export async function openClient(target: PostgresTarget, database = target.database): Promise<Client> {
  const client = new Client(clientConfig(target, database));
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    const code = (error as { code?: string }).code ?? '';
    const where = `${target.host}:${target.port}/${database}`;
    if (TRANSIENT_CODES.has(code)) {
      throw new TransientError(`cannot reach PostgreSQL at ${where} (${code}).`, { component: 'postgres' });
    }
    if (code === '3D000') {
      throw new InvalidInputError(`database "${database}" does not exist on ${target.host}:${target.port}.`, { component: 'postgres' });
    }
    throw new InvalidInputError(`cannot connect to PostgreSQL at ${where}: ${(error as Error).message}.`, { component: 'postgres' });
  }
}

export async function withClient<T>(target: PostgresTarget, use: (client: Client) => Promise<T>, database = target.database): Promise<T> {
  const client = await openClient(target, database);
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The environment of a pg_dump/pg_restore child: libpq variables, the password only in PGPASSWORD. */
export function toolEnv(target: PostgresTarget): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: 'C',
    PGHOST: target.host,
    PGPORT: String(target.port),
    PGUSER: target.user,
    PGDATABASE: target.database,
    PGSSLMODE: target.sslMode,
    PGAPPNAME: 'nca-backup',
    PGCONNECT_TIMEOUT: '30',
  };
  if (target.password !== undefined) env.PGPASSWORD = target.password;
  return env;
}

/** Double-quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
