/**
 * How the postgres component reaches a server: from backup.yaml `sources.postgres` plus, in AWS, the
 * Secrets Manager secret it names, or, in local runs, NCA_POSTGRES_URL. The password lives only in the
 * target object, the pg client and the PGPASSWORD of a child process; it is never logged or returned.
 *
 * A server reached through a secret (a deployed worker) is verified as libpq's verify-full does: TLS, a
 * certificate chaining to the CA bundle (the image's RDS bundle, or NCA_PG_TLS_CA_FILE) and naming the host
 * connected to. The pg client and pg_dump/pg_restore get the same settings (clientConfig, toolEnv).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Client, type ClientConfig } from 'pg';
import type { PostgresSourceConfig } from './descriptor';
import { InvalidInputError, TransientError } from '../../core/errors';
import { classifyPgError, isTransientPgError, pgErrorCode } from './errors';
import { secretsManagerFetcher, type SecretFetcher } from '../../core/secrets';
import { caBundle } from '../../core/tls';
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
  /** CA bundle file for verify-ca/verify-full; absent: the system's trusted roots (Node's, libpq's "system"). */
  readonly sslRootCert?: string;
  /** Directory of pg_dump/pg_restore; empty means PATH. */
  readonly binDir: string;
  /** How long a backup waits for a table lock (pg_dump --lock-wait-timeout, the fingerprint's lock_timeout). */
  readonly lockTimeoutSeconds?: number;
  /** The size from which a backup dumps table by table (default PARALLEL_DUMP_MIN_BYTES, dump-layout.ts); tests and benches set it. */
  readonly parallelDumpMinBytes?: number;
  /** The RDS instance whose CloudWatch FreeStorageSpace a restore's room check reads (postgres/room.ts). */
  readonly rds?: { readonly instanceId: string; /** NCA_METRICS_ENDPOINT: a local CloudWatch substitute. */ readonly metricsEndpoint?: string };
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

/**
 * The JSON AWS Secrets Manager stores for database credentials: RDS style (host, port, username, password,
 * dbname), or an RDS-managed master secret (username and password only).
 */
interface DatabaseSecret {
  host?: string;
  port?: number | string;
  username?: string;
  password?: string;
  dbname?: string;
  sslmode?: string;
}

/** Server certificates are verified (CA and host name) unless a secret asks otherwise. */
export const DEFAULT_SECRET_SSLMODE = 'verify-full';

/**
 * The sslmodes a secret may ask for. Weaker than verify-full, for documented cases only (README
 * "backup.sources"): verify-ca for a server reached by a name its certificate does not carry (a tunnel, a
 * private DNS alias), require for a self-managed server whose CA cannot be shipped. Never without TLS:
 * the password would cross the network in clear.
 */
export const SECRET_SSLMODES = ['verify-full', 'verify-ca', 'require'] as const;

export type { SecretFetcher };

const fetchFromSecretsManager = secretsManagerFetcher('postgres');

function fromUrl(url: string, database: string, binDir: string, env: NodeJS.ProcessEnv): PostgresTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Never echo the URL: it may carry a password.
    throw new InvalidInputError('the PostgreSQL connection URL is not a valid postgres:// URL.', { component: 'postgres' });
  }
  const sslRootCert = parsed.searchParams.get('sslrootcert') ?? caBundle(setting(env, 'pgTlsCaFile'));
  return {
    host: decodeURIComponent(parsed.hostname) || '127.0.0.1',
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username) || 'postgres',
    password: parsed.password ? decodeURIComponent(parsed.password) : setting(env, 'pgPassword'),
    database,
    // Local runs: libpq's own default, and its own opt-out (sslmode=disable) in the URL.
    sslMode: parsed.searchParams.get('sslmode') ?? 'prefer',
    ...(sslRootCert ? { sslRootCert } : {}),
    binDir,
  };
}

/**
 * Resolves the connection of a configured source. NCA_POSTGRES_URL (local runs) names the server and
 * credentials; the database is always the configured one, so one URL serves every database of a run.
 * `sourcePath` is where the source sits in backup.yaml (the vector component reuses this code).
 */
export async function connectPostgres(
  source: PostgresSourceConfig,
  env: NodeJS.ProcessEnv,
  fetchSecret: SecretFetcher = fetchFromSecretsManager,
  sourcePath = 'backup.sources.postgres',
): Promise<PostgresTarget> {
  const endpoint = setting(env, 'metricsEndpoint');
  const rds = source.rdsInstanceId ? { rds: { instanceId: source.rdsInstanceId, ...(endpoint ? { metricsEndpoint: endpoint } : {}) } } : {};
  return { ...(await resolveConnection(source, env, fetchSecret, sourcePath)), lockTimeoutSeconds: lockTimeoutFrom(env), ...parallelMinFrom(env), ...rds };
}

function parallelMinFrom(env: NodeJS.ProcessEnv): { parallelDumpMinBytes?: number } {
  const raw = setting(env, 'pgParallelMinBytes');
  if (raw === undefined) return {};
  const bytes = Number(raw);
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new InvalidInputError(`NCA_PG_PARALLEL_MIN_BYTES must be a whole number of bytes, not "${raw.slice(0, 20)}".`, { component: 'postgres' });
  }
  return { parallelDumpMinBytes: bytes };
}

async function resolveConnection(source: PostgresSourceConfig, env: NodeJS.ProcessEnv, fetchSecret: SecretFetcher, sourcePath: string): Promise<PostgresTarget> {
  const binDir = setting(env, 'pgBinDir') ?? '';
  const url = setting(env, 'postgresUrl');
  if (url) return fromUrl(url, source.database, binDir, env);
  if (source.secretArn) return fromSecret(source, source.secretArn, await readSecret(source.secretArn, fetchSecret), binDir, env, sourcePath);
  if (source.url) return fromUrl(source.url, source.database, binDir, env);
  throw new InvalidInputError('no connection for PostgreSQL.', {
    component: 'postgres',
    hint: `Set ${sourcePath}.secret_arn (AWS) or NCA_POSTGRES_URL (local runs).`,
  });
}

const SECRET_SHAPES = 'Store the RDS-style JSON {"host", "port", "username", "password", "dbname"}, or use an RDS-managed master secret ({"username", "password"}) with host and port in backup.yaml.';

async function readSecret(secretArn: string, fetchSecret: SecretFetcher): Promise<DatabaseSecret> {
  let secret: unknown;
  try {
    secret = JSON.parse(await fetchSecret(secretArn));
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new InvalidInputError(`secret ${secretArn} is not JSON with a username and password.`, { component: 'postgres', hint: SECRET_SHAPES });
    }
    throw error;
  }
  if (typeof secret !== 'object' || secret === null || Array.isArray(secret)) {
    throw new InvalidInputError(`secret ${secretArn} is not a JSON object with a username and password.`, { component: 'postgres', hint: SECRET_SHAPES });
  }
  return secret as DatabaseSecret;
}

/**
 * A deployed worker's connection: credentials from the secret; host and port from backup.yaml when it sets
 * them (an RDS-managed master secret has neither), else from the secret; the database always from
 * backup.yaml; TLS verify-full unless the secret asks for one of the weaker SECRET_SSLMODES.
 */
function fromSecret(source: PostgresSourceConfig, secretArn: string, secret: DatabaseSecret, binDir: string, env: NodeJS.ProcessEnv, sourcePath: string): PostgresTarget {
  const host = source.host ?? (typeof secret.host === 'string' && secret.host !== '' ? secret.host : undefined);
  if (host === undefined) {
    throw new InvalidInputError(`secret ${secretArn} has no host and ${sourcePath}.host is not set.`, {
      component: 'postgres',
      hint: `An RDS-managed master secret holds only the username and password: set ${sourcePath}.host (and port, default 5432) in backup.yaml.`,
    });
  }
  if (typeof secret.username !== 'string' || secret.username === '') {
    throw new InvalidInputError(`secret ${secretArn} has no username.`, { component: 'postgres', hint: SECRET_SHAPES });
  }
  const port = source.port ?? Number(secret.port ?? 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidInputError(`the port in secret ${secretArn} is not a port number (1-65535).`, { component: 'postgres', hint: `Fix the secret, or set ${sourcePath}.port.` });
  }
  const sslMode = secret.sslmode ?? DEFAULT_SECRET_SSLMODE;
  if (!(SECRET_SSLMODES as readonly string[]).includes(sslMode)) {
    throw new InvalidInputError(`secret ${secretArn} asks for sslmode "${String(sslMode).slice(0, 20)}", which is not allowed: ${SECRET_SSLMODES.join(', ')}.`, {
      component: 'postgres',
      hint: 'Credentials never cross the network without TLS; remove sslmode from the secret to verify the server certificate (verify-full).',
    });
  }
  const sslRootCert = caBundle(setting(env, 'pgTlsCaFile'));
  return {
    host,
    port,
    user: secret.username,
    password: secret.password,
    database: source.database,
    sslMode,
    ...(sslRootCert ? { sslRootCert } : {}),
    binDir,
  };
}

export function withDatabase(target: PostgresTarget, database: string): PostgresTarget {
  return { ...target, database };
}

/** "host:port/database" — what logs and errors may show of a target. */
export function describeTarget(target: PostgresTarget): string {
  return `${target.host}:${target.port}/${target.database}`;
}

const VERIFYING_SSLMODES = ['verify-ca', 'verify-full'];

/** The CA bundle's certificates, or InvalidInputError naming the file (never a silent fallback to fewer checks). */
function readCa(target: PostgresTarget): Buffer | undefined {
  if (target.sslRootCert === undefined || target.sslRootCert === 'system') return undefined;
  try {
    return readFileSync(target.sslRootCert);
  } catch (error) {
    throw new InvalidInputError(`the CA bundle ${target.sslRootCert} for TLS to PostgreSQL at ${target.host}:${target.port} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`, {
      component: 'postgres',
      hint: 'Set NCA_PG_TLS_CA_FILE to a readable PEM file (the worker image ships the RDS bundle).',
    });
  }
}

/**
 * node-postgres's TLS options with libpq's sslmode meaning: require encrypts without checking the
 * certificate; verify-ca checks its chain; verify-full checks its chain and that it names the host (Node's
 * default identity check, against `servername` for a DNS name, the address for an IP).
 */
function sslOptions(target: PostgresTarget): ClientConfig['ssl'] {
  if (target.sslMode === 'require') return { rejectUnauthorized: false };
  if (!VERIFYING_SSLMODES.includes(target.sslMode)) return undefined;
  const ca = readCa(target);
  return {
    ...(ca ? { ca } : {}),
    rejectUnauthorized: true,
    ...(target.sslMode === 'verify-ca' ? { checkServerIdentity: () => undefined } : isIP(target.host) === 0 ? { servername: target.host } : {}),
  };
}

function clientConfig(target: PostgresTarget, database: string): ClientConfig {
  return { host: target.host, port: target.port, user: target.user, password: target.password, database, ssl: sslOptions(target), application_name: 'nca-backup' };
}

/** OpenSSL's and Node's certificate and handshake failures, and a server refusing TLS altogether. */
function isTlsFailure(error: unknown): boolean {
  const code = pgErrorCode(error) ?? '';
  const message = (error as Error)?.message ?? '';
  return (
    /^(ERR_TLS_|ERR_SSL_|ERR_OSSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE)/.test(code) ||
    /does not support SSL connections/i.test(message)
  );
}

function tlsFailure(target: PostgresTarget, database: string, error: unknown): InvalidInputError {
  const code = pgErrorCode(error);
  const ca = target.sslRootCert && target.sslRootCert !== 'system' ? `the CA bundle ${target.sslRootCert}` : "the system's trusted CAs";
  return new InvalidInputError(
    `TLS to the PostgreSQL server at ${where(target, database)} failed (sslmode ${target.sslMode}, ${ca}): ${(error as Error).message}${code ? ` (${code})` : ''}.`,
    {
      component: 'postgres',
      hint: 'The server certificate must chain to a CA in that bundle and, for verify-full, name the host connected to: use the endpoint name the certificate carries, or set NCA_PG_TLS_CA_FILE to the CA that signed it.',
    },
  );
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
    // Before the transient check: a certificate that fails verification fails the same way on a retry.
    if (isTlsFailure(error)) throw tlsFailure(target, database, error);
    if (isTransientPgError(error)) {
      // The server's own words when it answered (53300 "too many connections for role ..."), else the socket's.
      const said = (error as Error).message;
      throw new TransientError(`cannot reach PostgreSQL at ${where(target, database)} (${code && said && !said.includes(code) ? `${code}: ${said}` : code || said}).`, { component: 'postgres' });
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
    // libpq reads ~/.postgresql/root.crt otherwise; "system" (libpq 16+) is OpenSSL's trusted roots, as Node's are for the pg client.
    ...(VERIFYING_SSLMODES.includes(target.sslMode) ? { PGSSLROOTCERT: target.sslRootCert ?? 'system' } : {}),
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
