/**
 * The vector component (database group, semantic memory): a PostgreSQL table of embeddings — pgvector's
 * vector(n) in production, real[] where pgvector is missing — exported as a portable definition plus
 * binary rows that carry every embedding bit for bit, restored into either kind, and verified by
 * fingerprint and by sampled vectors compared bit for bit.
 */
import type { Component, ComponentEntry, RestoreTargetOptions, SourceInfo } from '../types';
import { hasDatabase, MAINTENANCE_DATABASE } from '../postgres/server';
import { dropDatabase } from '../postgres';
import { backupVector } from './backup';
import { checkEmbeddingSpace, checkServerVersion, serverVersion } from './compatibility';
import {
  COMPONENT,
  connectVector,
  describeVectorTarget,
  parseTableName,
  qualifiedName,
  serverError,
  withTable,
  withVectorClient,
  withVectorDatabase,
  type VectorTarget,
} from './connection';
import type { VectorRestoreOptions } from './options';
import { existingEmbeddingSpace, restoreVector } from './restore';
import { fingerprintLive } from './live-fingerprint';
import { relationSql } from './sql';
import { pgvectorVersion, requireTable, tableExists } from './table';
import { verifyVectorRestore } from './verify';
import { postgresRoom } from '../postgres/room';

export { connectVector, parseTableName, withTable, withVectorDatabase, describeVectorTarget, type VectorTarget } from './connection';
export { parseVectorRestoreOptions, type VectorRestoreOptions } from './options';
export * as vectorFormat from './format';


async function guard<T>(action: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw serverError(error, action);
  }
}

/**
 * The dimension/model guard at the compatibility step, so a refused restore stops before the safety
 * backup. The Restore step checks again against the definition artifact (and for backups whose manifest
 * predates the column names here).
 */
async function checkReplacedTable(source: SourceInfo, target: VectorTarget, options: VectorRestoreOptions): Promise<void> {
  if (typeof source.embeddingColumn !== 'string') return;
  const exists = await vector.targetExists(target);
  if (!exists) return;
  const existing = await guard(`lookup of ${describeVectorTarget(target)}`, () =>
    withVectorClient(target, (client) =>
      existingEmbeddingSpace(client, target, { embedding: { column: source.embeddingColumn as string }, metadataColumn: (source.metadataColumn as string | null) ?? null }),
    ),
  );
  checkEmbeddingSpace(
    { dimension: typeof source.dimension === 'number' ? source.dimension : null, models: Array.isArray(source.embeddingModels) ? (source.embeddingModels as string[]) : [] },
    { ...existing, table: `${qualifiedName(target)} in database "${target.database}"` },
    options,
  );
}

export const vector: Component<VectorTarget, VectorRestoreOptions> = {
  name: COMPONENT,
  group: 'database',

  describe: (target) =>
    guard(`describe ${describeVectorTarget(target)}`, () =>
      withVectorClient(target, async (client): Promise<SourceInfo> => {
        const pgvector = await pgvectorVersion(client);
        return { ...(await serverVersion(client)), database: target.database, table: qualifiedName(target), ...(pgvector ? { pgvector } : {}) };
      }),
    ),

  estimate: (target) =>
    guard(`estimate of ${describeVectorTarget(target)}`, () =>
      withVectorClient(target, async (client) => {
        await requireTable(client, target, target.database);
        const { rows } = await client.query<{ bytes: string }>('SELECT pg_total_relation_size($1::regclass)::text AS bytes', [relationSql(target)]);
        return Number(rows[0].bytes);
      }),
    ),

  backup: backupVector,

  fingerprint: (target) =>
    guard(`fingerprint of ${describeVectorTarget(target)}`, () =>
      withVectorClient(target, async (client) => (await fingerprintLive(client, target)).fingerprint),
    ),

  async checkCompatibility(source: SourceInfo, target: VectorTarget, options?: VectorRestoreOptions) {
    // The target database may not exist yet (restore into a new name): ask the maintenance database.
    const server = await guard(`version check of ${describeVectorTarget(target)}`, () => withVectorClient(target, serverVersion, MAINTENANCE_DATABASE));
    checkServerVersion(server, 'target');
    await checkReplacedTable(source, target, options ?? {});
    return { targetVersion: server.serverVersion, room: postgresRoom(source, 'tableBytes', describeVectorTarget(target), 'the table it replaces, until the restore commits') };
  },

  targetExists: (target) =>
    guard(`lookup of ${describeVectorTarget(target)}`, async () => {
      const databaseExists = await withVectorClient(
        target,
        (client) => hasDatabase(client, target.database),
        MAINTENANCE_DATABASE,
      );
      return databaseExists && withVectorClient(target, (client) => tableExists(client, target));
    }),

  restore: restoreVector,

  verifyRestore: (expected, source, target, options, log) =>
    guard(`verification of ${describeVectorTarget(target)}`, () => verifyVectorRestore(expected, source, target, options, log)),

  /** The whole database of the target (a drill's sandbox), like the postgres component's. */
  dropTarget: (target) => guard(`drop of ${describeVectorTarget(target)}`, () => dropDatabase(target)),
};

/**
 * Restore options may redirect both the database (targetDatabase, common to all components) and the
 * table (targetTable). retarget applies targetTable too when the caller hands it over, so fingerprint,
 * targetExists and the safety backup look at the table the restore writes.
 */
export const vectorEntry: ComponentEntry<VectorTarget, VectorRestoreOptions, 'vector'> = {
  component: vector,
  connect: (source, env) => connectVector(source, env),
  retarget(target, options: RestoreTargetOptions & { targetTable?: unknown }) {
    let result = options.targetDatabase ? withVectorDatabase(target, options.targetDatabase) : target;
    if (options.targetTable !== undefined) result = withTable(result, parseTableName(options.targetTable, 'options.targetTable'));
    return result;
  },
};
