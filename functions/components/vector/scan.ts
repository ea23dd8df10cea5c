/**
 * Reads the table's rows in id order through a server-side cursor, a batch at a time, and turns each
 * into the portable record. The caller's transaction fixes the snapshot; the cursor keeps memory to one
 * batch whatever the table's size. While reading, it checks that every embedding has the table's
 * dimension and counts the embedding models named in the metadata.
 */
import type { Client } from 'pg';
import { InvalidInputError } from '../../core/errors';
import { COMPONENT } from './connection';
import { arraySendToLittleEndian, vectorSendToLittleEndian, ELEMENT_BYTES, encodeBody, extraColumns, MAX_MODELS, type VectorRecord, type VectorTableDefinition } from './format';
import { RowDigest } from './fingerprint';
import { selectRowsSql } from './sql';

export const FETCH_ROWS = 500;

export interface RawRow {
  id: string | null;
  embedding: Buffer | null;
  metadata: string | null;
  model: string | null;
  [extra: `x${number}`]: string | null;
}

export interface ScannedRow {
  readonly record: VectorRecord;
  /** encodeBody(record): the bytes rows.bin carries and the fingerprint hashes. */
  readonly body: Buffer;
  /** metadata->>'embedding_model', null when absent. */
  readonly model: string | null;
}

export type RowsDefinition = Pick<VectorTableDefinition, 'columns' | 'idColumn' | 'metadataColumn' | 'embedding' | 'schema' | 'table'>;

/**
 * `vectorSend`: the rows were selected with the pgvector schema named (selectRowsSql's vectorSchema), so
 * a pgvector embedding arrives as vector_send's bytes rather than array_send's.
 */
export function recordFromRow(row: RawRow, definition: RowsDefinition, extraCount: number, vectorSend = false): VectorRecord {
  let embedding: Buffer | null = null;
  if (row.embedding !== null) {
    const decoded = vectorSend && definition.embedding.kind === 'pgvector' ? vectorSendToLittleEndian(row.embedding) : arraySendToLittleEndian(row.embedding);
    if ('problem' in decoded) {
      throw new InvalidInputError(`the embedding of row id ${JSON.stringify(row.id)} cannot be backed up: ${decoded.problem}.`, {
        component: COMPONENT,
        hint: `Fix that row in ${definition.schema}.${definition.table}, then back up again.`,
      });
    }
    embedding = decoded.data;
  }
  const extras: (string | null)[] = [];
  for (let i = 0; i < extraCount; i++) extras.push(row[`x${i}`] ?? null);
  return { id: row.id, embedding, metadata: row.metadata, extras };
}

export function scannedRow(row: RawRow, definition: RowsDefinition, extraCount: number, vectorSend = false): ScannedRow {
  const record = recordFromRow(row, definition, extraCount, vectorSend);
  return { record, body: encodeBody(record, definition.embedding.elementType), model: row.model };
}

/** What the rows showed: counts, the common dimension, the embedding models, the content digest. */
export class RowStats {
  rows = 0;
  nullEmbeddings = 0;
  rowsWithoutModel = 0;
  dimension: number | null;
  /** The row whose dimension the others are held to (the first one read, or vector(n)'s declaration). */
  private dimensionFrom: string;
  readonly models = new Map<string, number>();
  modelsTruncated = false;
  readonly digest = new RowDigest();

  constructor(
    private readonly definition: RowsDefinition,
  ) {
    this.dimension = definition.embedding.dimension;
    this.dimensionFrom = this.dimension === null ? '' : `the column type ${definition.columns.find((c) => c.name === definition.embedding.column)?.type}`;
  }

  add(row: ScannedRow): void {
    const { model } = row;
    this.rows += 1;
    this.digest.add(row.body);
    const { record } = row;
    if (record.embedding === null) this.nullEmbeddings += 1;
    else this.checkDimension(record.id, record.embedding.length / ELEMENT_BYTES[this.definition.embedding.elementType]);
    if (model === null) this.rowsWithoutModel += 1;
    else if (this.models.has(model)) this.models.set(model, this.models.get(model)! + 1);
    else if (this.models.size < MAX_MODELS) this.models.set(model, 1);
    else this.modelsTruncated = true;
  }

  private checkDimension(id: string | null, dimension: number): void {
    if (this.dimension === null) {
      this.dimension = dimension;
      this.dimensionFrom = `row id ${JSON.stringify(id)}`;
      return;
    }
    if (dimension !== this.dimension) {
      throw new InvalidInputError(
        `the embeddings do not share one dimension: row id ${JSON.stringify(id)} has ${dimension} elements, ${this.dimensionFrom} has ${this.dimension}.`,
        { component: COMPONENT, hint: `Re-embed or delete the rows whose dimension differs in ${this.definition.schema}.${this.definition.table}, then back up again.` },
      );
    }
  }

  /** Distinct embedding models, sorted. */
  modelNames(): string[] {
    return [...this.models.keys()].sort();
  }
}

let cursorSeq = 0;

/**
 * Batches of rows, read from a cursor in the caller's open transaction (the cursor ends with it).
 * Each batch is fetched only when the previous one has been consumed: the consumer sets the pace.
 */
export async function* scanRows(client: Client, definition: RowsDefinition, relation: string, vectorSchema?: string, batchSize = FETCH_ROWS): AsyncGenerator<ScannedRow[]> {
  const cursor = `nca_vector_rows_${++cursorSeq}`;
  const extraCount = extraColumns(definition).length;
  await client.query(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${selectRowsSql(definition, relation, { vectorSchema })}`);
  try {
    for (;;) {
      const { rows } = await client.query<RawRow>(`FETCH ${batchSize} FROM ${cursor}`);
      if (rows.length === 0) return;
      yield rows.map((row) => scannedRow(row, definition, extraCount, vectorSchema !== undefined));
    }
  } finally {
    // A consumer that stops early leaves the transaction open; close the cursor so the next one starts clean.
    await client.query(`CLOSE ${cursor}`).catch(() => undefined);
  }
}
