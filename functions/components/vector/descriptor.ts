/**
 * The vector component (semantic memory) as the configuration, the CLI and the control plane see it
 * (config/component.ts). Pure: no driver.
 */
import { describeComponent } from '../../../config/component';
import { mapping, matching, parseLocalUrl, parseSecretArn } from '../../../config/fields';
import { DEFAULT_POSTGRES_DATABASE, parseServerAddress, POSTGRES_DATABASE_NAME, POSTGRES_URL_SCHEMES } from '../postgres/descriptor';
import { POSTGRES_SYSTEM_DATABASES } from '../postgres/options';
import { parseVectorRestoreOptions } from './options';

/** The table backed up when backup.yaml names none: the NCA's semantic memory. */
export const DEFAULT_VECTOR_TABLE = 'semantic_memory';

/** The vector store (semantic memory): a PostgreSQL table with pgvector (or real[]), same secret shape as postgres. */
export interface VectorSourceConfig {
  readonly secretArn?: string;
  /** The server's host name; wins over the secret's host. Required with an RDS-managed master secret. @default the secret's host */
  readonly host?: string;
  /** The server's port; wins over the secret's port. @default the secret's port, else 5432 */
  readonly port?: number;
  /** Local runs only: a connection URL without a password (the password comes from NCA_VECTOR_URL or PGPASSWORD). */
  readonly url?: string;
  /** Database holding the table. @default "neuroca_db" */
  readonly database: string;
  /** Schema-qualified or bare table name. @default "semantic_memory" (schema public) */
  readonly table: string;
}

const TABLE_NAME = /^([A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

export const vectorDescriptor = describeComponent({
  name: 'vector',
  group: 'database',
  source: {
    parse(value, { path, issues }): VectorSourceConfig | undefined {
      const map = mapping(value, path, ['secret_arn', 'host', 'port', 'url', 'database', 'table'], issues);
      if (!map) return undefined;
      const secret = parseSecretArn(map, path, issues);
      const server = parseServerAddress(map, path, issues);
      const url =
        'url' in map ? parseLocalUrl(map.url, `${path}.url`, issues, POSTGRES_URL_SCHEMES, 'postgresql://user@host:5432/neuroca_db', 'NCA_VECTOR_URL or PGPASSWORD') : undefined;
      const database =
        'database' in map ? matching(map.database, `${path}.database`, issues, POSTGRES_DATABASE_NAME, 'a PostgreSQL database name (1-63 characters)') : DEFAULT_POSTGRES_DATABASE;
      const table = 'table' in map ? matching(map.table, `${path}.table`, issues, TABLE_NAME, 'a table name like semantic_memory or public.semantic_memory') : DEFAULT_VECTOR_TABLE;
      if (!secret.ok || !server.ok || ('url' in map && url === undefined) || database === undefined || table === undefined) return undefined;
      const { host, port } = server;
      return {
        database,
        table,
        ...(secret.secretArn ? { secretArn: secret.secretArn } : {}),
        ...(host !== undefined ? { host } : {}),
        ...(port !== undefined ? { port } : {}),
        ...(url ? { url } : {}),
      };
    },
  },
  restore: {
    parseOptions: parseVectorRestoreOptions,
    // The vector table lives in a PostgreSQL database: the same server, the same system databases.
    targets: { systemDatabases: POSTGRES_SYSTEM_DATABASES },
    flags: { 'target-table': { key: 'targetTable', value: 'NAME' } },
  },
});
