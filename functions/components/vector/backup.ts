/**
 * The backup: one REPEATABLE READ READ ONLY transaction reads the definition and the rows, and the
 * fingerprint is computed from the very rows written to rows.bin, so artifacts and fingerprint describe
 * one instant. rows.bin streams from a cursor to the sink a batch at a time; definition.json (a few KB)
 * follows, once the rows have told the dimension and the embedding models.
 */
import { Readable } from 'node:stream';
import type { Client } from 'pg';
import type { ArtifactSink, ComponentBackupResult, Logger, SourceInfo } from '../types';
import { describeVectorTarget, openVectorClient, qualifiedName, serverError, type TableName, type VectorTarget } from './connection';
import { checkServerVersion, serverVersion } from './compatibility';
import { beginSnapshot, vectorFingerprint } from './fingerprint';
import {
  DEFINITION_ARTIFACT,
  DEFINITION_CONTENT_TYPE,
  encodeHeader,
  encodeTrailer,
  frameBody,
  ROWS_ARTIFACT,
  ROWS_CONTENT_TYPE,
  rowsHeaderOf,
  type VectorTableDefinition,
} from './format';
import { RowStats, scanRows } from './scan';
import { relationSql } from './sql';
import { detectTable, pgvectorVersion, requireTable } from './table';

export const ROWS_FORMAT = 'nca-vector-rows v1';

/** Holds the table against DDL for the transaction; a missing table is a clear error, not a SQL one. */
async function lockTable(client: Client, name: TableName, database: string): Promise<void> {
  await client.query('SAVEPOINT nca_lock');
  try {
    await client.query(`LOCK TABLE ${relationSql(name)} IN ACCESS SHARE MODE`);
  } catch (error) {
    const code = (error as { code?: string }).code;
    // 42P01 undefined table, 3F000 undefined schema: let requireTable say so in the component's words.
    if (code !== '42P01' && code !== '3F000') throw error;
    await client.query('ROLLBACK TO SAVEPOINT nca_lock');
  }
  await requireTable(client, name, database);
}

async function* rowsArtifact(client: Client, definition: VectorTableDefinition, stats: RowStats): AsyncGenerator<Buffer> {
  yield encodeHeader(rowsHeaderOf(definition));
  for await (const batch of scanRows(client, definition, relationSql(definition))) {
    const frames: Buffer[] = [];
    for (const row of batch) {
      stats.add(row);
      frames.push(frameBody(row.body));
    }
    yield Buffer.concat(frames);
  }
  yield encodeTrailer(stats.rows);
}

/** The definition with what only the rows can tell. */
export function completeDefinition(detected: VectorTableDefinition, stats: RowStats): VectorTableDefinition {
  const models = stats.modelNames();
  return {
    ...detected,
    embedding: { ...detected.embedding, dimension: stats.dimension },
    embeddingModels: models,
    embeddingModel: models.length === 1 ? models[0] : null,
    rows: stats.rows,
  };
}

export async function backupVector(target: VectorTarget, sink: ArtifactSink, log: Logger): Promise<ComponentBackupResult> {
  const client = await openVectorClient(target);
  try {
    const server = await serverVersion(client);
    checkServerVersion(server, 'source');
    await beginSnapshot(client);
    await lockTable(client, target, target.database);
    const detected = await detectTable(client, target, target.database);
    const pgvector = await pgvectorVersion(client);
    // The size a restore needs free, for its room check (postgres/room.ts): the table with its indexes and TOAST.
    const tableBytes = Number((await client.query<{ bytes: string }>('SELECT pg_total_relation_size($1::regclass)::text AS bytes', [relationSql(target)])).rows[0].bytes);
    log.info('vector backup started', { target: describeVectorTarget(target), embeddingKind: detected.embedding.kind, server: server.serverVersion });

    const stats = new RowStats(detected);
    // Byte mode with a 1 MiB high-water mark: the cursor is read only as fast as the sink takes the bytes.
    const body = Readable.from(rowsArtifact(client, detected, stats), { objectMode: false, highWaterMark: 1 << 20 });
    const rows = await sink.write(ROWS_ARTIFACT, body, { contentType: ROWS_CONTENT_TYPE });
    const definition = completeDefinition(detected, stats);
    const written = await sink.write(DEFINITION_ARTIFACT, Readable.from([Buffer.from(`${JSON.stringify(definition, null, 2)}\n`)], { objectMode: false }), {
      contentType: DEFINITION_CONTENT_TYPE,
    });
    await client.query('COMMIT');
    log.info('vector backup completed', { target: describeVectorTarget(target), rows: stats.rows, dimension: stats.dimension, bytes: rows.bytes });

    if (stats.modelsTruncated) {
      log.warn('metadata.embedding_model has more distinct values than recorded', { recorded: definition.embeddingModels.length });
    }
    const source: SourceInfo = {
      ...server,
      database: target.database,
      table: qualifiedName(target),
      embeddingKind: definition.embedding.kind,
      elementType: definition.embedding.elementType,
      dimension: definition.embedding.dimension,
      embeddingModel: definition.embeddingModel,
      embeddingModels: definition.embeddingModels,
      // Named so the compatibility step can inspect the table a restore would replace, before anything runs.
      embeddingColumn: definition.embedding.column,
      metadataColumn: definition.metadataColumn,
      rows: stats.rows,
      tableBytes,
      format: ROWS_FORMAT,
      ...(pgvector ? { pgvector } : {}),
    };
    return {
      artifacts: [rows, written],
      fingerprint: vectorFingerprint(stats.digest, definition),
      source,
      consistency: { pointInTime: true, method: 'definition, rows and fingerprint read in one REPEATABLE READ transaction holding the table against DDL' },
      report: {
        rows: stats.rows,
        nullEmbeddings: stats.nullEmbeddings,
        rowsWithoutEmbeddingModel: stats.rowsWithoutModel,
        embeddingModels: Object.fromEntries(stats.models),
        ...(stats.modelsTruncated ? { embeddingModelsTruncated: true } : {}),
        indexes: definition.indexes.map((i) => i.name),
        ...(definition.foreignKeysSkipped.length > 0 ? { foreignKeysSkipped: definition.foreignKeysSkipped } : {}),
      },
    };
  } catch (error) {
    throw serverError(error, `backup of ${describeVectorTarget(target)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
