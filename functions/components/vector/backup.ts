/**
 * The backup: one REPEATABLE READ READ ONLY transaction reads the definition, and the rows are read in
 * that transaction's snapshot — by parallelStreams() connections sharing it (parallel-scan.ts) when the
 * table is keyed by one splittable column, else by one cursor on the same connection. The fingerprint is
 * computed from the very rows written to rows.bin, so artifacts and fingerprint describe one instant.
 * rows.bin streams to the sink a batch at a time, in id order either way (the same bytes);
 * definition.json (a few KB) follows, once the rows have told the dimension and the embedding models.
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
import { RowStats, scanRows, type ScannedRow } from './scan';
import { ParallelScan, ROWS_PER_RANGE, singleStreamReason } from './parallel-scan';
import { parallelStreams } from '../../core/streams';
import { relationSql } from './sql';
import { detectTable, pgvectorSchema, pgvectorVersion, requireTable } from './table';

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
  // Out of the subtransaction again: a snapshot cannot be exported from one.
  await client.query('RELEASE SAVEPOINT nca_lock');
  await requireTable(client, name, database);
}

async function* rowsArtifact(batches: AsyncIterable<ScannedRow[]>, definition: VectorTableDefinition, stats: RowStats): AsyncGenerator<Buffer> {
  yield encodeHeader(rowsHeaderOf(definition));
  for await (const batch of batches) {
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

export interface VectorBackupOptions {
  /** Connections reading the rows; 1 keeps the single cursor. */
  readonly streams: number;
  /** Rows per id range when the rows are read in parallel. */
  readonly rowsPerRange: number;
}

export async function backupVector(
  target: VectorTarget,
  sink: ArtifactSink,
  log: Logger,
  options: VectorBackupOptions = { streams: parallelStreams(), rowsPerRange: ROWS_PER_RANGE },
): Promise<ComponentBackupResult> {
  const client = await openVectorClient(target);
  let scan: ParallelScan | undefined;
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

    const relation = relationSql(target);
    const singleReason = options.streams > 1 ? await singleStreamReason(client, detected, relation) : 'one stream is configured';
    const vectorSchema = await pgvectorSchema(client);
    if (singleReason === undefined) scan = await ParallelScan.plan(client, target, detected, relation, vectorSchema, options);
    else if (options.streams > 1) log.info('vector rows read by one connection', { target: describeVectorTarget(target), reason: singleReason });

    const stats = new RowStats(detected);
    // Byte mode with a 1 MiB high-water mark: the rows are read only as fast as the sink takes the bytes.
    const batches = scan ? scan.rows() : scanRows(client, detected, relation, vectorSchema);
    const body = Readable.from(rowsArtifact(batches, detected, stats), { objectMode: false, highWaterMark: 1 << 20 });
    const rows = await sink.write(ROWS_ARTIFACT, body, { contentType: ROWS_CONTENT_TYPE }).catch((error: unknown) => {
      // The sink reports the stream's failure in its words; the reader that failed says what happened.
      throw scan?.failure ?? error;
    });
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
      consistency: {
        pointInTime: true,
        method: scan
          ? `definition read in one REPEATABLE READ transaction holding the table against DDL; rows and fingerprint read by ${scan.readers} connections sharing its exported snapshot`
          : 'definition, rows and fingerprint read in one REPEATABLE READ transaction holding the table against DDL',
      },
      report: {
        rows: stats.rows,
        readers: scan?.readers ?? 1,
        ...(scan ? { idRanges: scan.ranges.length } : { singleStreamReason: singleReason }),
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
    // No reader outlives the backup, whichever way it ended.
    await scan?.close();
    await client.end().catch(() => undefined);
  }
}
