/**
 * The restore: definition.json says what to build, rows.bin streams in as one binary COPY (batched
 * INSERTs for tables with a column type binary COPY is not written for), and everything — DROP of the
 * table being replaced, CREATE, the rows, constraints, indexes — happens in ONE transaction. A damaged
 * artifact (the source fails the stream with IntegrityError), a row the server refuses or a lost
 * connection rolls it all back: the target is as it was. A database created for the restore is dropped
 * again when the restore fails.
 *
 * Before the first write the target is checked: a table of another embedding dimension or model is not
 * replaced unless options allow it (compatibility.ts).
 */
import type { Readable } from 'node:stream';
import type { Client } from 'pg';
import { BackupNotFoundError, IntegrityError } from '../../core/errors';
import { digestErrorAfter } from '../../core/checksums';
import { quoteIdent } from '../postgres/connection';
import { hasDatabase, MAINTENANCE_DATABASE } from '../postgres/server';
import type { ArtifactSource, ComponentRestoreResult, Logger } from '../types';
import { checkEmbeddingSpace, type EmbeddingSpace } from './compatibility';
import {
  COMPONENT,
  describeVectorTarget,
  parseTableName,
  qualifiedName,
  serverError,
  withTable,
  withVectorClient,
  type TableName,
  type VectorTarget,
} from './connection';
import {
  DEFINITION_ARTIFACT,
  DEFINITION_FORMAT,
  extraColumns,
  FORMAT_VERSION,
  littleEndianToArrayRecv,
  ROWS_ARTIFACT,
  RowsDecoder,
  RowsFormatError,
  type RowsHeader,
  type VectorRecord,
  type VectorTableDefinition,
} from './format';
import type { VectorRestoreOptions } from './options';
import {
  embeddingModelSql,
  addConstraintSql,
  copySql,
  createIndexSql,
  createTableSql,
  identityRestartSql,
  insertColumns,
  insertSql,
  MAX_PARAMETERS,
  relationSql,
  renamedObject,
  targetEmbedding,
  type TargetEmbedding,
} from './sql';
import { pgvectorSchema, tableExists } from './table';
import { STABLE_OUTPUT_SETTINGS } from '../postgres/fingerprint';
import { copyHeader, copyTrailer, CopyTupleEncoder, textEncoderFor, UnencodableValueError } from './copy-binary';
import { copyIn } from './copy-in';

/** A batch is sent when it reaches either bound: few round trips, bounded memory. */
const BATCH_ROWS = 1000;
const BATCH_BYTES = 8 << 20;

export function restoreTableName(target: VectorTarget, options: Pick<VectorRestoreOptions, 'targetTable'>): TableName {
  return options.targetTable === undefined ? target : parseTableName(options.targetTable, 'options.targetTable');
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** definition.json, checked for the fields the restore relies on. It is a few KB: read whole. */
export async function readDefinition(source: ArtifactSource): Promise<VectorTableDefinition> {
  for (const name of [DEFINITION_ARTIFACT, ROWS_ARTIFACT]) {
    if (!source.artifacts.some((a) => a.name === name)) {
      throw new BackupNotFoundError(`the backup holds no ${name}; it is not a vector backup.`, { component: COMPONENT });
    }
  }
  const text = (await readAll(source.open(DEFINITION_ARTIFACT))).toString('utf8');
  let definition: VectorTableDefinition;
  try {
    definition = JSON.parse(text) as VectorTableDefinition;
  } catch {
    throw new IntegrityError(`artifact ${DEFINITION_ARTIFACT} is not JSON.`, { component: COMPONENT, hint: 'Restore another backup.' });
  }
  if (definition?.format !== DEFINITION_FORMAT || definition.version !== FORMAT_VERSION || !Array.isArray(definition.columns) || !definition.embedding) {
    throw new IntegrityError(`artifact ${DEFINITION_ARTIFACT} is not a version ${FORMAT_VERSION} vector table definition.`, {
      component: COMPONENT,
      hint: 'It was written by another version of nca-backup; restore with that version.',
    });
  }
  return definition;
}

/** What the table about to be replaced holds: the dimension of its embeddings and their models. */
export async function existingEmbeddingSpace(
  client: Client,
  name: TableName,
  definition: { readonly embedding: { readonly column: string }; readonly metadataColumn: string | null },
): Promise<EmbeddingSpace> {
  const relation = relationSql(name);
  const column = await client.query<{ typmod: number; is_pgvector: boolean; element: string | null; metadata: boolean }>(
    `SELECT a.atttypmod AS typmod, t.typname = 'vector' AS is_pgvector, et.typname AS element,
            EXISTS (SELECT 1 FROM pg_attribute m JOIN pg_type mt ON mt.oid = m.atttypid
                    WHERE m.attrelid = a.attrelid AND m.attname = $3 AND NOT m.attisdropped AND mt.typname IN ('json', 'jsonb')) AS metadata
     FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
     WHERE a.attrelid = $1::regclass AND a.attname = $2 AND NOT a.attisdropped`,
    [relation, definition.embedding.column, definition.metadataColumn ?? ''],
  );
  const found = column.rows[0];
  let dimension: number | null = null;
  if (found?.is_pgvector && found.typmod > 0) {
    dimension = found.typmod;
  } else if (found && (found.is_pgvector || found.element === 'float4' || found.element === 'float8')) {
    const embedding = quoteIdent(definition.embedding.column);
    const read = found.is_pgvector ? `${embedding}::real[]` : embedding;
    const first = await client.query<{ n: number }>(`SELECT cardinality(${read}) AS n FROM ${relation} WHERE ${embedding} IS NOT NULL LIMIT 1`);
    dimension = first.rows[0]?.n ?? null;
  }
  let models: string[] = [];
  if (found?.metadata && definition.metadataColumn !== null) {
    const metadata = quoteIdent(definition.metadataColumn);
    const distinct = await client.query<{ model: string }>(
      `SELECT DISTINCT ${embeddingModelSql(metadata)} AS model FROM ${relation} WHERE ${embeddingModelSql(metadata)} IS NOT NULL ORDER BY 1 LIMIT 101`,
    );
    models = distinct.rows.map((r) => r.model);
  }
  return { dimension, models };
}

function checkHeader(header: RowsHeader, definition: VectorTableDefinition): void {
  const expected = JSON.stringify([definition.embedding.elementType, definition.idColumn, definition.embedding.column, definition.metadataColumn, extraColumns(definition)]);
  const actual = JSON.stringify([header.elementType, header.idColumn, header.embeddingColumn, header.metadataColumn, header.extraColumns]);
  if (expected !== actual) {
    throw new RowsFormatError(`artifact ${ROWS_ARTIFACT} does not match ${DEFINITION_ARTIFACT}: its columns are ${actual}, the definition's ${expected}.`, { component: COMPONENT });
  }
}

/** The parameters of one INSERT: per row id, embedding (binary array), metadata, extras. */
class Batch {
  readonly values: (string | Buffer | null)[] = [];
  rows = 0;
  bytes = 0;

  constructor(
    private readonly width: number,
    private readonly definition: VectorTableDefinition,
  ) {}

  add(record: VectorRecord): void {
    checkWidth(record, this.width, this.definition);
    const embedding = record.embedding === null ? null : littleEndianToArrayRecv(record.embedding, this.definition.embedding.elementType);
    this.values.push(record.id, embedding);
    if (this.definition.metadataColumn !== null) this.values.push(record.metadata);
    this.values.push(...record.extras);
    this.bytes += (embedding?.length ?? 0) + (record.metadata?.length ?? 0);
    this.rows += 1;
  }

  full(maxRows: number): boolean {
    return this.rows >= maxRows || this.bytes >= BATCH_BYTES;
  }
}

let statementSeq = 0;

/**
 * rows.bin's records, a chunk's worth at a time, checked against the definition. A format error is
 * replaced by the digest check's verdict when the rest of the artifact is damaged (the better error).
 */
async function* recordsOf(source: ArtifactSource, definition: VectorTableDefinition): AsyncGenerator<VectorRecord[]> {
  const stream = source.open(ROWS_ARTIFACT);
  const decoder = new RowsDecoder();
  let headerChecked = false;
  let complete = false;
  try {
    // destroyOnReturn false: after a format error the stream is still there to be read to its digest check.
    for await (const chunk of stream.iterator({ destroyOnReturn: false })) {
      decoder.push(chunk as Buffer);
      const records: VectorRecord[] = [];
      for (let record = decoder.next(); ; record = decoder.next()) {
        if (!headerChecked && decoder.header) {
          checkHeader(decoder.header, definition);
          headerChecked = true;
        }
        if (record === undefined) break;
        records.push(record);
      }
      if (records.length > 0) yield records;
    }
    decoder.finish();
    if (decoder.count !== definition.rows) {
      throw new RowsFormatError(`artifact ${ROWS_ARTIFACT} holds ${decoder.count} rows, ${DEFINITION_ARTIFACT} says ${definition.rows}.`, { component: COMPONENT });
    }
    complete = true;
  } catch (error) {
    if (error instanceof RowsFormatError) throw (await digestErrorAfter(stream)) ?? error;
    throw error;
  } finally {
    // A consumer that stopped early (the server refused the COPY) leaves the file half read.
    if (!complete) stream.destroy();
  }
}

function checkWidth(record: VectorRecord, width: number, definition: VectorTableDefinition): void {
  const fields = 3 + record.extras.length - (definition.metadataColumn === null ? 1 : 0);
  if (fields !== width) throw new RowsFormatError(`a record of ${ROWS_ARTIFACT} has ${fields} fields, the definition ${width}.`, { component: COMPONENT });
}

/** Streams rows.bin into the table with batched INSERTs; returns the number of rows written. */
async function insertRows(client: Client, source: ArtifactSource, definition: VectorTableDefinition, relation: string, embedding: TargetEmbedding): Promise<number> {
  const width = insertColumns(definition).length;
  const maxRows = Math.min(BATCH_ROWS, Math.floor(MAX_PARAMETERS / width));
  // Full batches share one prepared statement; only the last, shorter one is planned separately.
  const statements = new Map<number, { name: string; text: string }>();
  const statement = (rows: number) => {
    let found = statements.get(rows);
    if (!found) {
      found = { name: `nca_vector_insert_${++statementSeq}`, text: insertSql(definition, relation, embedding, rows) };
      statements.set(rows, found);
    }
    return found;
  };
  let batch = new Batch(width, definition);
  let rows = 0;
  const flush = async () => {
    if (batch.rows === 0) return;
    await client.query({ ...statement(batch.rows), values: batch.values });
    rows += batch.rows;
    batch = new Batch(width, definition);
  };
  for await (const records of recordsOf(source, definition)) {
    for (const record of records) {
      batch.add(record);
      if (batch.full(maxRows)) await flush();
    }
  }
  await flush();
  return rows;
}

/** The column whose type binary COPY cannot write, or undefined when every column can go by COPY. */
export function copyBlocker(definition: VectorTableDefinition): string | undefined {
  const columns = insertColumns(definition).filter((name) => name !== definition.embedding.column);
  return columns.find((name) => textEncoderFor(definition.columns.find((c) => c.name === name)!.type) === undefined);
}

/** Streams rows.bin into the table with one binary COPY; returns the number of rows written. */
async function copyRows(client: Client, source: ArtifactSource, definition: VectorTableDefinition, relation: string, embedding: TargetEmbedding): Promise<number> {
  const columns = insertColumns(definition);
  const textTypes = columns.filter((name) => name !== definition.embedding.column).map((name) => definition.columns.find((c) => c.name === name)!.type);
  const encoder = new CopyTupleEncoder(textTypes, embedding.kind === 'pgvector' ? { kind: 'pgvector' } : { kind: 'array', elementType: definition.embedding.elementType }, definition.metadataColumn !== null);
  async function* tuples(): AsyncGenerator<Buffer> {
    yield copyHeader();
    for await (const records of recordsOf(source, definition)) {
      const encoded: Buffer[] = [];
      for (const record of records) {
        checkWidth(record, encoder.width, definition);
        encoded.push(encoder.encode(record));
      }
      yield Buffer.concat(encoded);
    }
    yield copyTrailer();
  }
  return copyIn(client, copySql(definition, relation), tuples());
}

interface LoadResult {
  readonly rows: number;
  /** How the rows went in: one binary COPY, or batched INSERTs (and why). */
  readonly load: 'copy-binary' | 'insert';
  readonly insertReason?: string;
}

/**
 * Binary COPY where every column has a binary form written here; otherwise, and when a value turns out
 * not to be readable by its encoder, batched INSERTs that hand the text to the server's own input
 * functions. A savepoint lets the second attempt start from an empty table within the same transaction.
 */
async function loadRows(client: Client, source: ArtifactSource, definition: VectorTableDefinition, relation: string, embedding: TargetEmbedding, tuning: VectorRestoreTuning): Promise<LoadResult> {
  if (tuning.load === 'insert') return { rows: await insertRows(client, source, definition, relation, embedding), load: 'insert', insertReason: 'INSERTs were asked for' };
  const blocker = copyBlocker(definition);
  if (blocker !== undefined) {
    const type = definition.columns.find((c) => c.name === blocker)!.type;
    return { rows: await insertRows(client, source, definition, relation, embedding), load: 'insert', insertReason: `column ${blocker} has type ${type}, which binary COPY is not written for here` };
  }
  await client.query('SAVEPOINT nca_vector_copy');
  try {
    return { rows: await copyRows(client, source, definition, relation, embedding), load: 'copy-binary' };
  } catch (error) {
    if (!(error instanceof UnencodableValueError)) throw error;
    await client.query('ROLLBACK TO SAVEPOINT nca_vector_copy');
    return { rows: await insertRows(client, source, definition, relation, embedding), load: 'insert', insertReason: `a value binary COPY cannot encode: ${error.message}` };
  }
}

interface SkippedIndex {
  readonly name: string;
  readonly reason: string;
}

async function databaseExists(target: VectorTarget): Promise<boolean> {
  return withVectorClient(target, (client) => hasDatabase(client, target.database), MAINTENANCE_DATABASE);
}

/** Not an operator's option: the bench compares the two ways of loading the rows. */
export interface VectorRestoreTuning {
  readonly load?: 'copy-binary' | 'insert';
}

export async function restoreVector(source: ArtifactSource, target: VectorTarget, options: VectorRestoreOptions, log: Logger, tuning: VectorRestoreTuning = {}): Promise<ComponentRestoreResult> {
  const name = restoreTableName(target, options);
  const into = withTable(target, name);
  const relation = relationSql(name);
  const definition = await readDefinition(source);

  const createdDatabase = !(await databaseExists(into));
  if (createdDatabase) {
    log.info('creating target database', { target: describeVectorTarget(into) });
    await withVectorClient(into, (client) => client.query(`CREATE DATABASE ${quoteIdent(into.database)}`), MAINTENANCE_DATABASE);
  }
  try {
    return await withVectorClient(into, async (client) => {
      const pgvector = await pgvectorSchema(client);
      const replacedExisting = await tableExists(client, name);
      if (replacedExisting) {
        const existing = await existingEmbeddingSpace(client, name, definition);
        checkEmbeddingSpace({ dimension: definition.embedding.dimension, models: definition.embeddingModels }, { ...existing, table: `${qualifiedName(name)} in database "${into.database}"` }, options);
      }
      const embedding = targetEmbedding(definition.embedding.elementType, definition.embedding.dimension, pgvector);
      log.info('vector restore started', { target: describeVectorTarget(into), rows: definition.rows, embeddingKind: embedding.kind, replacing: replacedExisting });

      await client.query('BEGIN');
      try {
        for (const statement of STABLE_OUTPUT_SETTINGS) await client.query(statement);
        const schemaExists = (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name.schema])).rowCount === 1;
        if (!schemaExists) await client.query(`CREATE SCHEMA ${quoteIdent(name.schema)}`);
        if (replacedExisting) await client.query(`DROP TABLE ${relation}`);
        await client.query(createTableSql(definition, relation, embedding));
        const loaded = await loadRows(client, source, definition, relation, embedding, tuning);
        const { rows } = loaded;

        // Constraints and indexes after the rows: each index is built once instead of updated per row.
        for (const constraint of definition.constraints) {
          await client.query(addConstraintSql(constraint, relation, renamedObject(constraint.name, definition.table, name.table)));
        }
        const created: string[] = [];
        const skipped: SkippedIndex[] = [];
        for (const index of definition.indexes) {
          const indexName = renamedObject(index.name, definition.table, name.table);
          if (index.usesEmbedding && embedding.kind !== definition.embedding.kind) {
            skipped.push({ name: indexName, reason: `it was built on ${definition.embedding.kind === 'pgvector' ? 'pgvector vector' : 'a float array'}; the embedding is ${embedding.type} here` });
            continue;
          }
          await client.query(createIndexSql(index, relation, indexName));
          created.push(indexName);
        }
        for (const column of definition.columns.filter((c) => c.identity !== '')) {
          await client.query(identityRestartSql(relation, column.name), [relation, column.name]);
        }
        await client.query('COMMIT');
        if (loaded.insertReason) log.info('rows loaded with INSERTs instead of binary COPY', { target: describeVectorTarget(into), reason: loaded.insertReason });
        for (const index of skipped) log.warn('index not recreated', { target: describeVectorTarget(into), index: index.name, reason: index.reason });
        log.info('vector restore completed', { target: describeVectorTarget(into), rows });
        return {
          target: `${into.database}/${qualifiedName(name)}`,
          replacedExisting,
          details: {
            table: qualifiedName(name),
            rows,
            embeddingKind: embedding.kind,
            embeddingType: embedding.type,
            dimension: definition.embedding.dimension,
            embeddingModels: definition.embeddingModels,
            load: loaded.load,
            ...(loaded.insertReason ? { insertReason: loaded.insertReason } : {}),
            createdDatabase,
            indexesCreated: created,
            indexesSkipped: skipped,
            ...(definition.foreignKeysSkipped.length > 0 ? { foreignKeysSkipped: definition.foreignKeysSkipped } : {}),
          },
        };
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  } catch (error) {
    if (createdDatabase) {
      await withVectorClient(into, (client) => client.query(`DROP DATABASE IF EXISTS ${quoteIdent(into.database)}`), MAINTENANCE_DATABASE).catch(() => undefined);
    }
    throw serverError(error, `restore into ${describeVectorTarget(into)}`, 'The transaction was rolled back: the target is as it was.');
  }
}
