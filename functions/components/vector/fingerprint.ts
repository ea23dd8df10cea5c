/**
 * The vector table's fingerprint, two entries whose names do not depend on the table's name (a restore
 * may write another table):
 *
 *   rows     count of rows; digest over every row's portable record (id, the embedding's exact bits,
 *            metadata text, extra columns' text). A multiset hash — each record's SHA-256, summed mod
 *            2^128 and XOR-ed — so it ignores the order rows are stored in, and one changed bit in one
 *            embedding changes it. The embedding's bits are the same whether the server stores
 *            vector(n) or real[], so a pgvector table and its real[] restore agree.
 *   columns  number of columns; digest over their names, types (the embedding's reduced to its element
 *            type) and NOT NULL, plus which columns are id, embedding and metadata.
 *
 * Both are computed in the component (the server only streams rows), the same way at backup, where the
 * rows being written to rows.bin are hashed as they pass, and after a restore.
 */
import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import type { Fingerprint, FingerprintEntry } from '../types';
import { STABLE_OUTPUT_SETTINGS } from '../postgres/fingerprint';
import type { ElementType, VectorTableDefinition } from './format';

export const ROWS_OBJECT = 'rows';
export const COLUMNS_OBJECT = 'columns';

const MASK_128 = (1n << 128n) - 1n;

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest();

export class RowDigest {
  private sum = 0n;
  private xor = 0n;
  private n = 0;

  add(body: Buffer): void {
    const hash = sha256(body);
    const value = (hash.readBigUInt64BE(0) << 64n) | hash.readBigUInt64BE(8);
    this.sum = (this.sum + value) & MASK_128;
    this.xor ^= value;
    this.n += 1;
  }

  entry(elementType: ElementType): FingerprintEntry {
    const text = `nca-vector-rows-v1:${elementType}:${this.n}:${this.sum.toString(16)}:${this.xor.toString(16)}`;
    return { count: this.n, digest: sha256(text).toString('hex') };
  }
}

export function columnsEntry(definition: Pick<VectorTableDefinition, 'columns' | 'idColumn' | 'metadataColumn' | 'embedding'>): FingerprintEntry {
  const columns = definition.columns.map((c) => [c.name, c.name === definition.embedding.column ? `embedding ${definition.embedding.elementType}` : c.type, c.notNull]);
  const canonical = JSON.stringify({
    id: definition.idColumn,
    embedding: definition.embedding.column,
    metadata: definition.metadataColumn,
    columns,
  });
  return { count: definition.columns.length, digest: sha256(canonical).toString('hex') };
}

export function vectorFingerprint(rows: RowDigest, definition: Pick<VectorTableDefinition, 'columns' | 'idColumn' | 'metadataColumn' | 'embedding'>): Fingerprint {
  return { [ROWS_OBJECT]: rows.entry(definition.embedding.elementType), [COLUMNS_OBJECT]: columnsEntry(definition) };
}

/**
 * Opens a REPEATABLE READ transaction with session-independent text output (timestamps, floats); with
 * `snapshot` (pg_export_snapshot()'s id from another open transaction), one that sees exactly what that
 * transaction sees.
 */
export async function beginSnapshot(client: Client, readOnly = true, snapshot?: string): Promise<void> {
  await client.query(`BEGIN ISOLATION LEVEL REPEATABLE READ${readOnly ? ' READ ONLY' : ''}`);
  // SET TRANSACTION SNAPSHOT must come before any other statement of the transaction.
  if (snapshot !== undefined) await client.query(`SET TRANSACTION SNAPSHOT ${client.escapeLiteral(snapshot)}`);
  for (const statement of STABLE_OUTPUT_SETTINGS) await client.query(statement);
}
