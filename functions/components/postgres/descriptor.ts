/**
 * The postgres component as the configuration, the CLI and the control plane see it (config/component.ts).
 * Pure: no driver.
 */
import { describeComponent } from '../../../config/component';
import { integer, mapping, matching, parseLocalUrl, parseSecretArn, type Issues } from '../../../config/fields';
import { parsePostgresRestoreOptions, POSTGRES_SYSTEM_DATABASES } from './options';

/** The database backed up when backup.yaml names none: the NCA's. */
export const DEFAULT_POSTGRES_DATABASE = 'neuroca_db';

/**
 * PostgreSQL (the NCA's database). Secret JSON: RDS style {"host", "port", "username", "password", "dbname"},
 * or an RDS-managed master secret ({"username", "password"} only) with `host` and `port` set here.
 */
export interface PostgresSourceConfig {
  /** Secrets Manager secret with the RDS-style JSON (host, port, username, password, dbname) or {username, password}. */
  readonly secretArn?: string;
  /** The server's host name; wins over the secret's host. Required with an RDS-managed master secret. @default the secret's host */
  readonly host?: string;
  /** The server's port; wins over the secret's port. @default the secret's port, else 5432 */
  readonly port?: number;
  /** Database to back up. @default the secret's dbname, else "neuroca_db" */
  readonly database: string;
  /** Local runs only: a connection URL without a password (the password comes from NCA_POSTGRES_URL or PGPASSWORD). */
  readonly url?: string;
  /**
   * The RDS DB instance the server is: a restore's room check reads its FreeStorageSpace from CloudWatch
   * (PostgreSQL itself reports no free disk space). Not for Aurora, whose storage grows on its own.
   * @default none: the room is `unknown`
   */
  readonly rdsInstanceId?: string;
}

/** An RDS DB instance identifier: 1-63 letters, digits and hyphens, a letter first, no "--", no hyphen last. */
export const RDS_INSTANCE_ID = /^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$/;

/** A database name PostgreSQL accepts (it truncates longer ones; we refuse them). */
export const POSTGRES_DATABASE_NAME = /^[^\0]{1,63}$/;
export const POSTGRES_URL_SCHEMES = ['postgresql:', 'postgres:'];

/** A DNS name or IPv4 address: what a server certificate names and verify-full checks. */
export const SERVER_HOST = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * `host` and `port` of a PostgreSQL source (postgres, vector): where the server is when the secret does
 * not say (an RDS-managed master secret holds only the username and password). `url` names a server
 * itself, so the two do not combine.
 */
export function parseServerAddress(map: Record<string, unknown>, path: string, issues: Issues): { ok: boolean; host?: string; port?: number } {
  const host = 'host' in map ? matching(map.host, `${path}.host`, issues, SERVER_HOST, 'a host name like neuroca.cluster-abc123.us-west-2.rds.amazonaws.com') : undefined;
  const port = 'port' in map ? integer(map.port, `${path}.port`, issues, 1, 65535) : undefined;
  let ok = !('host' in map && host === undefined) && !('port' in map && port === undefined);
  if ('url' in map && ('host' in map || 'port' in map)) {
    issues.add(`${path}.${'host' in map ? 'host' : 'port'}`, 'cannot be combined with url, which names the server itself; keep one');
    ok = false;
  }
  return { ok, ...(host !== undefined ? { host } : {}), ...(port !== undefined ? { port } : {}) };
}

export const postgresDescriptor = describeComponent({
  name: 'postgres',
  group: 'database',
  source: {
    parse(value, { path, issues }): PostgresSourceConfig | undefined {
      const map = mapping(value, path, ['secret_arn', 'host', 'port', 'database', 'url', 'rds_instance_id'], issues);
      if (!map) return undefined;
      const secret = parseSecretArn(map, path, issues);
      const server = parseServerAddress(map, path, issues);
      const database =
        'database' in map ? matching(map.database, `${path}.database`, issues, POSTGRES_DATABASE_NAME, 'a PostgreSQL database name (1-63 characters)') : DEFAULT_POSTGRES_DATABASE;
      const url =
        'url' in map ? parseLocalUrl(map.url, `${path}.url`, issues, POSTGRES_URL_SCHEMES, 'postgresql://user@host:5432/neuroca_db', 'NCA_POSTGRES_URL or PGPASSWORD') : undefined;
      const rdsInstanceId =
        'rds_instance_id' in map
          ? matching(map.rds_instance_id, `${path}.rds_instance_id`, issues, RDS_INSTANCE_ID, 'an RDS DB instance identifier like neuroca-db (1-63 letters, digits and hyphens, a letter first)')
          : undefined;
      if (!secret.ok || !server.ok || database === undefined || ('url' in map && url === undefined) || ('rds_instance_id' in map && rdsInstanceId === undefined)) return undefined;
      const { host, port } = server;
      return {
        database,
        ...(secret.secretArn ? { secretArn: secret.secretArn } : {}),
        ...(host !== undefined ? { host } : {}),
        ...(port !== undefined ? { port } : {}),
        ...(url ? { url } : {}),
        ...(rdsInstanceId ? { rdsInstanceId } : {}),
      };
    },
    // Without `sources`, the runbook's example still backs up its PostgreSQL database.
    whenNoSources: { database: DEFAULT_POSTGRES_DATABASE },
    // The pre-restore room check reads the RDS instance's FreeStorageSpace (room.ts); without the id, nothing.
    grants: (source: PostgresSourceConfig) =>
      source.rdsInstanceId
        ? [{
            sid: 'RdsFreeStorageRead',
            actions: ['cloudwatch:GetMetricData'],
            resources: ['*'],
            wildcardReason: `GetMetricData supports no resource-level permission and no namespace condition; the restore's room check reads FreeStorageSpace of RDS instance ${source.rdsInstanceId} with it, datapoints only.`,
          }]
        : [],
  },
  restore: {
    parseOptions: parsePostgresRestoreOptions,
    targets: { systemDatabases: POSTGRES_SYSTEM_DATABASES },
  },
});
