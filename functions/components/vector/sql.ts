/**
 * The SQL text the component sends, built by pure functions so the pgvector variants (which cannot run
 * on this machine) are unit tested. Identifiers are always quoted; values always travel as parameters.
 */
import { quoteIdent } from '../postgres/connection';
import type { TableName } from './connection';
import { extraColumns, type ConstraintDefinition, type ElementType, type EmbeddingKind, type IndexDefinition, type VectorTableDefinition } from './format';

/** PostgreSQL truncates identifiers to 63 bytes; doing it here keeps generated names predictable. */
const MAX_IDENTIFIER_BYTES = 63;

export function relationSql(name: TableName): string {
  return `${quoteIdent(name.schema)}.${quoteIdent(name.table)}`;
}

type RowsSource = Pick<VectorTableDefinition, 'columns' | 'idColumn' | 'metadataColumn' | 'embedding'>;

/**
 * The embedding's bits as bytea. Arrays: array_send. pgvector: its own vector_send where the caller
 * names the extension's schema — about four times less server work than the cast to real[] and
 * array_send, which was what bounded a backup's read rate — else the cast and array_send.
 */
export function embeddingSendSql(kind: EmbeddingKind, column: string, vectorSchema?: string): string {
  if (kind !== 'pgvector') return `array_send(${quoteIdent(column)})`;
  return vectorSchema === undefined ? `array_send(${quoteIdent(column)}::real[])` : `${quoteIdent(vectorSchema)}.vector_send(${quoteIdent(column)})`;
}

function columnType(definition: RowsSource, column: string): string {
  const found = definition.columns.find((c) => c.name === column);
  if (!found) throw new Error(`column ${column} is not in the definition`);
  return found.type;
}

/**
 * The rows in id order, each as: id text, the embedding as array_send bytes, metadata text, the
 * embedding_model in the metadata, and the extra columns as text. `byIds` restricts it to the ids in $1.
 */
export function selectRowsSql(definition: RowsSource, relation: string, options: { byIds?: boolean; range?: IdRange; vectorSchema?: string } = {}): string {
  const id = quoteIdent(definition.idColumn);
  const metadata = definition.metadataColumn === null ? null : quoteIdent(definition.metadataColumn);
  const fields = [
    `${id}::text AS id`,
    `${embeddingSendSql(definition.embedding.kind, definition.embedding.column, options.vectorSchema)} AS embedding`,
    metadata === null ? 'NULL::text AS metadata' : `${metadata}::text AS metadata`,
    metadata === null ? 'NULL::text AS model' : `${embeddingModelSql(metadata)} AS model`,
    ...extraColumns(definition).map((name, i) => `${quoteIdent(name)}::text AS x${i}`),
  ];
  const type = columnType(definition, definition.idColumn);
  const conditions: string[] = [];
  if (options.byIds) conditions.push(`${id} = ANY($1::${type}[])`);
  if (options.range?.after !== undefined) conditions.push(`${id} > $${conditions.length + 1}::${type}`);
  if (options.range?.upTo !== undefined) conditions.push(`${id} <= $${conditions.length + 1}::${type}`);
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
  return `SELECT ${fields.join(', ')} FROM ${relation}${where} ORDER BY ${id}`;
}

/** A slice of the table by id: after < id <= upTo, either bound open when absent. Bounds are the ids' text. */
export interface IdRange {
  readonly after?: string;
  readonly upTo?: string;
}

/** The parameters selectRowsSql's range placeholders take, in order. */
export function rangeParameters(range: IdRange): string[] {
  return [...(range.after !== undefined ? [range.after] : []), ...(range.upTo !== undefined ? [range.upTo] : [])];
}

/**
 * Every `rowsPerRange`-th id in id order, as text: the upper bounds of ranges of that many rows (the
 * last range, above the last bound, holds the rest). One pass over the key, in the caller's snapshot.
 */
export function rangeBoundsSql(definition: RowsSource, relation: string): string {
  const id = quoteIdent(definition.idColumn);
  return `SELECT bound FROM (SELECT ${id}::text AS bound, row_number() OVER (ORDER BY ${id}) AS n FROM ${relation}) s WHERE n % $1 = 0 ORDER BY n`;
}

export interface TargetEmbedding {
  readonly kind: EmbeddingKind;
  /** The column type on the target, e.g. "real[]" or "\"public\".vector(768)". */
  readonly type: string;
}

/**
 * vector(n) where the target has pgvector, else real[]. double precision[] stays as it is: pgvector
 * stores float4, and narrowing would not give back the backed-up bits.
 */
export function targetEmbedding(elementType: ElementType, dimension: number | null, pgvectorSchema: string | undefined): TargetEmbedding {
  if (elementType === 'float8') return { kind: 'array', type: 'double precision[]' };
  if (pgvectorSchema === undefined) return { kind: 'array', type: 'real[]' };
  return { kind: 'pgvector', type: `${quoteIdent(pgvectorSchema)}.vector${dimension === null ? '' : `(${dimension})`}` };
}

/**
 * Names of indexes and constraints restored under another table name: the source table's name at their
 * start is replaced, other names get the target's name in front, so they never collide with the
 * originals when both tables share a schema.
 */
export function renamedObject(name: string, sourceTable: string, targetTable: string): string {
  if (sourceTable === targetTable) return name;
  const renamed = name.startsWith(sourceTable) ? targetTable + name.slice(sourceTable.length) : `${targetTable}_${name}`;
  let bytes = Buffer.from(renamed, 'utf8');
  if (bytes.length <= MAX_IDENTIFIER_BYTES) return renamed;
  bytes = bytes.subarray(0, MAX_IDENTIFIER_BYTES);
  // Never cut a UTF-8 character in half.
  return bytes.toString('utf8').replace(/\uFFFD$/, '');
}

export function createTableSql(definition: VectorTableDefinition, relation: string, embedding: TargetEmbedding): string {
  const columns = definition.columns.map((column) => {
    const type = column.name === definition.embedding.column ? embedding.type : column.type;
    const parts = [quoteIdent(column.name), type];
    if (column.generated !== null) parts.push(`GENERATED ALWAYS AS (${column.generated}) STORED`);
    else if (column.identity === 'a') parts.push('GENERATED ALWAYS AS IDENTITY');
    else if (column.identity === 'd') parts.push('GENERATED BY DEFAULT AS IDENTITY');
    else if (column.default !== null) parts.push(`DEFAULT ${column.default}`);
    if (column.notNull) parts.push('NOT NULL');
    return parts.join(' ');
  });
  return `CREATE TABLE ${relation} (${columns.join(', ')})`;
}

export function addConstraintSql(constraint: ConstraintDefinition, relation: string, name: string): string {
  return `ALTER TABLE ${relation} ADD CONSTRAINT ${quoteIdent(name)} ${constraint.definition}`;
}

export function createIndexSql(index: IndexDefinition, relation: string, name: string): string {
  return `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${quoteIdent(name)} ON ${relation} USING ${quoteIdent(index.method)} ${index.body}`;
}

/** Columns written by an INSERT, in parameter order: id, embedding, metadata, then the extra columns. */
export function insertColumns(definition: RowsSource): string[] {
  return [definition.idColumn, definition.embedding.column, ...(definition.metadataColumn === null ? [] : [definition.metadataColumn]), ...extraColumns(definition)];
}

/** PostgreSQL's limit on the parameters of one statement. */
export const MAX_PARAMETERS = 65535;

/**
 * One INSERT for `rows` rows, one parameter per value. Each parameter is cast to its column's type, which
 * is also the type the server expects it in: text values arrive as text, the embedding arrives as a
 * binary real[] / double precision[] (array_recv reads the bits as they are), and for pgvector goes
 * through pgvector's real[] → vector cast, which checks the dimension.
 */
export function insertSql(definition: RowsSource, relation: string, embedding: TargetEmbedding, rows: number): string {
  const columns = insertColumns(definition);
  const elementArray = definition.embedding.elementType === 'float8' ? 'double precision[]' : 'real[]';
  const casts = columns.map((name) => {
    if (name === definition.embedding.column) return embedding.kind === 'pgvector' ? `::real[]::${embedding.type}` : `::${elementArray}`;
    return `::${columnType(definition, name)}`;
  });
  const tuples: string[] = [];
  for (let row = 0; row < rows; row++) {
    tuples.push(`(${casts.map((cast, i) => `$${row * columns.length + i + 1}${cast}`).join(', ')})`);
  }
  return `INSERT INTO ${relation} (${columns.map(quoteIdent).join(', ')}) OVERRIDING SYSTEM VALUE VALUES ${tuples.join(', ')}`;
}

/** The binary COPY a restore loads the rows with, columns in insertColumns order. */
export function copySql(definition: RowsSource, relation: string): string {
  return `COPY ${relation} (${insertColumns(definition).map(quoteIdent).join(', ')}) FROM STDIN (FORMAT binary)`;
}

/** After rows arrive with their own ids, an identity column's sequence must continue after the largest. */
export function identityRestartSql(relation: string, column: string): string {
  return `SELECT setval(pg_get_serial_sequence($1, $2), max(${quoteIdent(column)})) FROM ${relation} HAVING max(${quoteIdent(column)}) IS NOT NULL`;
}

/**
 * The row's embedding_model: at the top of the metadata, or inside its "metadata" object where the NCA
 * stores a whole memory item ({content, metadata}) in the column.
 */
export function embeddingModelSql(metadata: string): string {
  return `COALESCE(${metadata} ->> 'embedding_model', ${metadata} -> 'metadata' ->> 'embedding_model')`;
}
