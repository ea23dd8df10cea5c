/**
 * The postgres component as the configuration, the CLI and the control plane see it (config/component.ts).
 * Pure: no driver.
 */
import { describeComponent } from '../../../config/component';
import { mapping, matching, parseLocalUrl, parseSecretArn } from '../../../config/fields';
import { parsePostgresRestoreOptions, POSTGRES_SYSTEM_DATABASES } from './options';

/** The database backed up when backup.yaml names none: the NCA's. */
export const DEFAULT_POSTGRES_DATABASE = 'neuroca_db';

/** PostgreSQL (the NCA's database). Secret JSON: RDS style {"host", "port", "username", "password", "dbname"}. */
export interface PostgresSourceConfig {
  /** Secrets Manager secret with the RDS-style JSON (host, port, username, password, dbname). */
  readonly secretArn?: string;
  /** Database to back up. @default the secret's dbname, else "neuroca_db" */
  readonly database: string;
  /** Local runs only: a connection URL without a password (the password comes from NCA_POSTGRES_URL or PGPASSWORD). */
  readonly url?: string;
}

/** A database name PostgreSQL accepts (it truncates longer ones; we refuse them). */
export const POSTGRES_DATABASE_NAME = /^[^\0]{1,63}$/;
export const POSTGRES_URL_SCHEMES = ['postgresql:', 'postgres:'];

export const postgresDescriptor = describeComponent({
  name: 'postgres',
  group: 'database',
  source: {
    parse(value, { path, issues }): PostgresSourceConfig | undefined {
      const map = mapping(value, path, ['secret_arn', 'database', 'url'], issues);
      if (!map) return undefined;
      const secret = parseSecretArn(map, path, issues);
      const database =
        'database' in map ? matching(map.database, `${path}.database`, issues, POSTGRES_DATABASE_NAME, 'a PostgreSQL database name (1-63 characters)') : DEFAULT_POSTGRES_DATABASE;
      const url =
        'url' in map ? parseLocalUrl(map.url, `${path}.url`, issues, POSTGRES_URL_SCHEMES, 'postgresql://user@host:5432/neuroca_db', 'NCA_POSTGRES_URL or PGPASSWORD') : undefined;
      if (!secret.ok || database === undefined || ('url' in map && url === undefined)) return undefined;
      return { database, ...(secret.secretArn ? { secretArn: secret.secretArn } : {}), ...(url ? { url } : {}) };
    },
    // Without `sources`, the runbook's example still backs up its PostgreSQL database.
    whenNoSources: { database: DEFAULT_POSTGRES_DATABASE },
  },
  restore: {
    parseOptions: parsePostgresRestoreOptions,
    targets: { systemDatabases: POSTGRES_SYSTEM_DATABASES },
  },
});
