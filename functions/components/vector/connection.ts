/**
 * How the vector component reaches its table: the postgres component's connection code (secret, URL,
 * TLS, transient errors) with the vector source's own settings. NCA_VECTOR_URL names server and
 * credentials in local runs, falling back to NCA_POSTGRES_URL, because the semantic memory usually lives
 * in the same PostgreSQL as the structured data.
 */
import type { Client } from 'pg';
import type { VectorSourceConfig } from './descriptor';
import { InvalidInputError, NcaBackupError, TransientError } from '../../core/errors';
import { isTransientPgError } from '../postgres/errors';
import { connectPostgres, openClient, withDatabase, type PostgresTarget, type SecretFetcher } from '../postgres/connection';
import { COMPONENT, parseTableName, qualifiedName, type TableName } from './names';
import { setting } from '../../../config/environment';

export { COMPONENT, parseTableName, qualifiedName, type TableName } from './names';

/** A PostgreSQL server and database plus the table holding the vectors. */
export interface VectorTarget extends PostgresTarget, TableName {}

export function withTable(target: VectorTarget, name: TableName): VectorTarget {
  return { ...target, schema: name.schema, table: name.table };
}

export function withVectorDatabase(target: VectorTarget, database: string): VectorTarget {
  return { ...withDatabase(target, database), schema: target.schema, table: target.table };
}

/** "host:port/database/schema.table": what logs and errors may show of a target. */
export function describeVectorTarget(target: VectorTarget): string {
  return `${target.host}:${target.port}/${target.database}/${qualifiedName(target)}`;
}

/**
 * Errors from the shared postgres connection code name the postgres component; an operator reading a
 * failed vector backup must see "vector". Same class (TransientError stays retried), same text.
 */
export function asVectorError(error: unknown): unknown {
  if (!(error instanceof NcaBackupError) || error.component !== 'postgres') return error;
  const Kind = error.constructor as new (message: string, context: { component: string; backupId?: string }) => NcaBackupError;
  const renamed = new Kind(error.message.replace(/^postgres: /, ''), { component: COMPONENT, backupId: error.backupId });
  return renamed;
}

export async function connectVector(source: VectorSourceConfig, env: NodeJS.ProcessEnv, fetchSecret?: SecretFetcher): Promise<VectorTarget> {
  const url = setting(env, 'vectorUrl') ?? setting(env, 'postgresUrl');
  if (!url && !source.secretArn && !source.url) {
    throw new InvalidInputError('no connection for the vector store.', {
      component: COMPONENT,
      hint: 'Set backup.sources.vector.secret_arn (AWS), or NCA_VECTOR_URL / NCA_POSTGRES_URL (local runs).',
    });
  }
  const name = parseTableName(source.table, 'sources.vector.table');
  try {
    const server = await connectPostgres(
      { secretArn: source.secretArn, host: source.host, port: source.port, url: source.url, database: source.database },
      { ...env, NCA_POSTGRES_URL: url },
      fetchSecret,
      'backup.sources.vector',
    );
    return { ...server, ...name };
  } catch (error) {
    throw asVectorError(error);
  }
}

export async function openVectorClient(target: PostgresTarget, database = target.database): Promise<Client> {
  try {
    return await openClient(target, database);
  } catch (error) {
    throw asVectorError(error);
  }
}

export async function withVectorClient<T>(target: PostgresTarget, use: (client: Client) => Promise<T>, database = target.database): Promise<T> {
  const client = await openVectorClient(target, database);
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Any failure of a backup, restore or check, in the component's words: our own errors pass unchanged;
 * a server or socket error gets the component, what was being done, and the class a retry policy needs.
 */
export function serverError(error: unknown, action: string, hint?: string): unknown {
  if (error instanceof NcaBackupError) return asVectorError(error);
  if (!(error instanceof Error)) return error;
  const code = (error as { code?: string }).code;
  if (code === undefined) return error;
  const message = `${action} failed: ${error.message} (${code}).`;
  return isTransientPgError(error) ? new TransientError(message, { component: COMPONENT, hint }) : new InvalidInputError(message, { component: COMPONENT, hint });
}
