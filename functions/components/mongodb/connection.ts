/**
 * How the mongodb component reaches a server: from backup.yaml `sources.mongodb` plus, in AWS, the Secrets
 * Manager secret it names ({"uri"} or DocumentDB-style {"host", "port", "username", "password", "ssl"}), or,
 * in local runs, NCA_MONGODB_URL. Credentials live only in the target object and the driver; logs, errors
 * and results see `describeTarget` (hosts and database), never the URL.
 */
import {
  MongoClient,
  MongoCompatibilityError,
  MongoError,
  MongoErrorLabel,
  MongoInvalidArgumentError,
  MongoMissingCredentialsError,
  MongoNetworkError,
  MongoParseError,
  MongoServerClosedError,
  MongoServerError,
  MongoServerSelectionError,
  type MongoClientOptions,
} from 'mongodb';
import type { MongoSourceConfig } from './descriptor';
import { InvalidInputError, NcaBackupError, ToolError, TransientError } from '../../core/errors';
import { secretsManagerFetcher, type SecretFetcher } from '../../core/secrets';
import { caBundle, RDS_CA_BUNDLE } from '../../core/tls';
import { setting } from '../../../config/environment';

export const COMPONENT = 'mongodb';
export const DEFAULT_DATABASE = 'neuroca_episodic';

export interface MongoTarget {
  /** Connection string; may carry credentials, so it is never logged or returned. */
  readonly url: string;
  /** Driver options (TLS, credentials of a DocumentDB-style secret); never logged. */
  readonly clientOptions: MongoClientOptions;
  /** "host:port[,host:port]" without credentials: what logs and errors show. */
  readonly hosts: string;
  readonly database: string;
  /** Collections backed up; absent: every collection of the database. */
  readonly collections?: readonly string[];
}

/** The secret shapes Secrets Manager may hold for MongoDB / Amazon DocumentDB. */
interface MongoSecret {
  uri?: string;
  host?: string;
  port?: number | string;
  username?: string;
  password?: string;
  ssl?: boolean | string;
}

export type { SecretFetcher };

const fetchFromSecretsManager = secretsManagerFetcher(COMPONENT);

const URL_PATTERN = /^mongodb(\+srv)?:\/\/(?:([^@/]*)@)?([^/?]+)/;

/** The hosts of a connection string, or InvalidInputError that never echoes the string (it may hold a password). */
function hostsOf(url: string, where: string): { hosts: string; hasPassword: boolean } {
  const match = URL_PATTERN.exec(url);
  if (!match) {
    throw new InvalidInputError(`${where} is not a mongodb:// or mongodb+srv:// connection string.`, { component: COMPONENT });
  }
  return { hosts: match[3], hasPassword: (match[2] ?? '').includes(':') };
}

function truthy(value: boolean | string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  return value === true || String(value).toLowerCase() === 'true';
}

/** Amazon DocumentDB cluster, instance and elastic cluster endpoints ("host[:port]"). */
const DOCUMENTDB_HOST = /\.docdb(-elastic)?\.amazonaws\.com(\.cn)?(:\d+)?$/i;

/**
 * The CA bundle TLS connections verify the server with: NCA_MONGODB_TLS_CA_FILE when set; else, for Amazon
 * DocumentDB endpoints, the worker image's RDS bundle (DocumentDB's CAs are in it; Node does not ship
 * them), which also replaces the relative `tlsCAFile=global-bundle.pem` of the connection string AWS's
 * console shows; else none: Node's trusted roots (MongoDB Atlas, a server with a public certificate).
 */
export function mongoCaFile(hosts: string, configured: string | undefined, imageBundle = RDS_CA_BUNDLE): string | undefined {
  if (configured) return configured;
  const documentDb = hosts.split(',').every((host) => DOCUMENTDB_HOST.test(host.trim()));
  return documentDb ? caBundle(undefined, imageBundle) : undefined;
}

function target(url: string, clientOptions: MongoClientOptions, hosts: string, source: MongoSourceConfig, env: NodeJS.ProcessEnv): MongoTarget {
  const options: MongoClientOptions = { appName: 'nca-backup', ...clientOptions };
  // Read by the driver only when TLS is on; an option object's tlsCAFile wins over the connection string's.
  const caFile = mongoCaFile(hosts, setting(env, 'mongodbTlsCaFile'));
  if (caFile) options.tlsCAFile = caFile;
  if (!/[?&]serverSelectionTimeoutMS=/i.test(url)) options.serverSelectionTimeoutMS = 15_000;
  return {
    url,
    clientOptions: options,
    hosts,
    database: source.database || DEFAULT_DATABASE,
    ...(source.collections ? { collections: [...source.collections] } : {}),
  };
}

/**
 * Resolves the connection of a configured source. NCA_MONGODB_URL (local runs) wins; then the secret; then
 * `url` (local runs, never with a password). The database and collections always come from the config.
 */
export async function connectMongo(source: MongoSourceConfig, env: NodeJS.ProcessEnv, fetchSecret: SecretFetcher = fetchFromSecretsManager): Promise<MongoTarget> {
  const url = setting(env, 'mongodbUrl');
  if (url) {
    return target(url, {}, hostsOf(url, 'NCA_MONGODB_URL').hosts, source, env);
  }
  if (source.secretArn) {
    let secret: MongoSecret;
    try {
      secret = JSON.parse(await fetchSecret(source.secretArn)) as MongoSecret;
    } catch (error) {
      if (error instanceof SyntaxError) {
        throw new InvalidInputError(`secret ${source.secretArn} is not JSON.`, {
          component: COMPONENT,
          hint: 'Store {"uri": "mongodb://..."} or {"host", "port", "username", "password", "ssl"}.',
        });
      }
      throw error;
    }
    if (secret.uri) return target(secret.uri, {}, hostsOf(secret.uri, `the uri in secret ${source.secretArn}`).hosts, source, env);
    if (!secret.host) {
      throw new InvalidInputError(`secret ${source.secretArn} has neither uri nor host.`, {
        component: COMPONENT,
        hint: 'Store {"uri": "mongodb://..."} or {"host", "port", "username", "password", "ssl"}.',
      });
    }
    const hosts = `${secret.host}:${secret.port ?? 27017}`;
    return target(
      `mongodb://${hosts}/`,
      {
        ...(secret.username ? { auth: { username: secret.username, password: secret.password } } : {}),
        // DocumentDB and most managed servers require TLS; credentials never cross the network in clear.
        tls: truthy(secret.ssl, true),
        // Amazon DocumentDB does not support retryable writes.
        retryWrites: false,
      },
      hosts,
      source,
      env,
    );
  }
  if (source.url) {
    const { hosts, hasPassword } = hostsOf(source.url, 'sources.mongodb.url');
    if (hasPassword) {
      throw new InvalidInputError('sources.mongodb.url carries a password.', {
        component: COMPONENT,
        hint: 'Keep passwords out of backup.yaml: use secret_arn, or NCA_MONGODB_URL for local runs.',
      });
    }
    return target(source.url, {}, hosts, source, env);
  }
  throw new InvalidInputError('no connection for MongoDB.', {
    component: COMPONENT,
    hint: 'Set backup.sources.mongodb.secret_arn (AWS) or NCA_MONGODB_URL (local runs).',
  });
}

/** MongoDB database names: no / \ . " $ space or NUL, at most 63 bytes. */
export function checkDatabaseName(name: string, field: string): string {
  if (name === '' || /[/\\. "$\0]/.test(name) || Buffer.byteLength(name) > 63) {
    throw new InvalidInputError(`${field} '${name}' is not a MongoDB database name (no / \\ . " $ or spaces; at most 63 bytes).`, { component: COMPONENT });
  }
  return name;
}

export function withDatabase(t: MongoTarget, database: string): MongoTarget {
  return { ...t, database: checkDatabaseName(database, 'targetDatabase') };
}

/** "hosts/database" — what logs and errors may show of a target. */
export function describeTarget(t: MongoTarget): string {
  return `${t.hosts}/${t.database}`;
}

/** Error codes that mean the credentials or their privileges are wrong, not the network. */
const AUTH_CODES = new Set([13, 18]);

/**
 * The retryable-reads/-writes specification's codes (the driver keeps its copy internal): the node is
 * stepping down, shutting down, recovering or unreachable, so the same operation may pass on a retry.
 */
const TRANSIENT_CODES = new Map<number, string>([
  [6, 'HostUnreachable'],
  [7, 'HostNotFound'],
  [89, 'NetworkTimeout'],
  [91, 'ShutdownInProgress'],
  [134, 'ReadConcernMajorityNotAvailableYet'],
  [189, 'PrimarySteppedDown'],
  [262, 'ExceededTimeLimit'],
  [9001, 'SocketException'],
  [10107, 'NotWritablePrimary'],
  [11600, 'InterruptedAtShutdown'],
  [11602, 'InterruptedDueToReplStateChange'],
  [13435, 'NotPrimaryNoSecondaryOk'],
  [13436, 'NotPrimaryOrSecondary'],
]);

/** Labels the server or driver puts on a failure it says may pass when the operation is repeated. */
const TRANSIENT_LABELS = [MongoErrorLabel.RetryableWriteError, MongoErrorLabel.TransientTransactionError, MongoErrorLabel.ResumableChangeStreamError, MongoErrorLabel.PoolRequestedRetry];

/** A driver failure the connection string or driver options caused: no retry fixes it. */
const isConfigurationError = (error: unknown) =>
  error instanceof MongoParseError || error instanceof MongoInvalidArgumentError || error instanceof MongoMissingCredentialsError || error instanceof MongoCompatibilityError;

function isTransient(error: MongoError): boolean {
  return (
    error instanceof MongoNetworkError ||
    error instanceof MongoServerSelectionError ||
    error instanceof MongoServerClosedError ||
    TRANSIENT_LABELS.some((label) => error.hasErrorLabel(label)) ||
    TRANSIENT_CODES.has(Number(error.code))
  );
}

/**
 * The one classification of MongoDB failures, used by every component that talks to MongoDB: each
 * becomes a typed error naming the component (mongodb, or the caller's, e.g. memory), the target's hosts
 * and what was being done, never the credentials. TransientError: network errors, server selection,
 * a node stepping down, a snapshot that expired, anything the server labels retryable. InvalidInputError:
 * refused credentials or privileges, a connection string or option the driver rejects. ToolError: any
 * other refusal by the server or the driver (its code name is in the message).
 */
export function mongoFailure(error: unknown, t: MongoTarget, doing: string, context: { component?: string; backupId?: string } = {}): Error {
  if (error instanceof NcaBackupError) return error;
  const where = { component: context.component ?? COMPONENT, ...(context.backupId ? { backupId: context.backupId } : {}) };
  const password = t.clientOptions.auth?.password;
  const raw = error instanceof Error ? error.message : String(error);
  const message = (password ? raw.split(password).join('***') : raw).replace(/\/\/[^@/\s]*@/g, '//***@').replace(/\s+/g, ' ').trim().slice(0, 300);
  if (error instanceof MongoServerError && error.code === 239) {
    return new TransientError(`the snapshot of ${describeTarget(t)} expired while ${doing} (SnapshotTooOld).`, {
      ...where,
      hint: 'The backup outlived the server\'s snapshot history window (minSnapshotHistoryWindowInSeconds, default 300 s): raise it, or run the backup on a faster runner.',
    });
  }
  if (error instanceof MongoError && isTransient(error)) {
    const code = error instanceof MongoServerError ? ` (${TRANSIENT_CODES.get(Number(error.code)) ?? error.codeName ?? error.code})` : '';
    return new TransientError(`cannot reach MongoDB at ${t.hosts} while ${doing}${code}: ${message}.`, where);
  }
  if (error instanceof MongoServerError && AUTH_CODES.has(Number(error.code))) {
    return new InvalidInputError(`MongoDB at ${t.hosts} refused ${doing}: ${message}.`, {
      ...where,
      hint: 'Check the credentials in the secret and that the user may read (backup) or write (restore) the database.',
    });
  }
  if (isConfigurationError(error)) {
    // The driver's parse errors may quote the connection string: the message above has its credentials masked.
    return new InvalidInputError(`the MongoDB connection for ${t.hosts} is not usable while ${doing}: ${message}.`, where);
  }
  const code = error instanceof MongoServerError ? ` (${error.codeName ?? 'code'} ${String(error.code ?? '')})`.replace(/ \)$/, ')') : '';
  return new ToolError(`MongoDB at ${t.hosts} failed while ${doing}${code}: ${message}.`, where);
}

/** Who a failure names: the mongodb component, or the one that reaches MongoDB through it (memory). */
export interface MongoCaller {
  readonly component?: string;
}

/**
 * A connected client, which the caller closes. A connection string the driver cannot parse is
 * InvalidInputError; a failure to connect is classified by mongoFailure (unreachable: TransientError).
 */
export async function openClient(t: MongoTarget, doing: string, caller: MongoCaller = {}): Promise<MongoClient> {
  let client: MongoClient;
  try {
    client = new MongoClient(t.url, t.clientOptions);
  } catch {
    // The driver's parse errors may quote the connection string: say only where it came from.
    throw new InvalidInputError(`the MongoDB connection string for ${t.hosts} is not valid.`, { component: caller.component ?? COMPONENT });
  }
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.close().catch(() => undefined);
    throw mongoFailure(error, t, doing, caller);
  }
}

/** A connected client for the duration of `use`; its failures, and use's, classified by mongoFailure. */
export async function withClient<T>(t: MongoTarget, doing: string, use: (client: MongoClient) => Promise<T>, caller: MongoCaller = {}): Promise<T> {
  const client = await openClient(t, doing, caller);
  try {
    return await use(client);
  } catch (error) {
    throw mongoFailure(error, t, doing, caller);
  } finally {
    await client.close().catch(() => undefined);
  }
}
