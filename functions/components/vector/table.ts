/**
 * What the vector table looks like, read from the catalog: its columns, which of them are the id, the
 * embedding and the metadata, its constraints and its indexes. The embedding is either pgvector's
 * vector(n) or a real[] / double precision[] column (where pgvector cannot be installed).
 */
import type { Client } from 'pg';
import { InvalidInputError } from '../../core/errors';
import { COMPONENT, qualifiedName, type TableName } from './connection';
import {
  DEFINITION_FORMAT,
  FORMAT_VERSION,
  type ColumnDefinition,
  type ConstraintDefinition,
  type ElementType,
  type EmbeddingKind,
  type IndexDefinition,
  type VectorTableDefinition,
} from './format';
import { relationSql } from './sql';

interface ColumnRow {
  name: string;
  type: string;
  not_null: boolean;
  default: string | null;
  identity: '' | 'a' | 'd';
  generated: string;
  base_type: string;
  element_type: string | null;
  typmod: number;
  is_pgvector: boolean;
}

const COLUMNS_SQL = `
  SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
         CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END AS default,
         a.attidentity AS identity, a.attgenerated AS generated,
         t.typname AS base_type, et.typname AS element_type, a.atttypmod AS typmod,
         EXISTS (SELECT 1 FROM pg_extension e WHERE e.extname = 'vector' AND e.extnamespace = t.typnamespace) AND t.typname = 'vector' AS is_pgvector,
         CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END AS generated_expr
  FROM pg_attribute a
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
  ORDER BY a.attnum`;

const CONSTRAINTS_SQL = `
  SELECT conname AS name, contype AS type, pg_get_constraintdef(oid) AS definition, conkey
  FROM pg_constraint WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'x', 'c', 'f')
  ORDER BY contype = 'p' DESC, conname`;

/** Indexes that do not back a constraint (those come back with their constraint). */
const INDEXES_SQL = `
  SELECT i.relname AS name, ix.indisunique AS unique, am.amname AS method, pg_get_indexdef(ix.indexrelid) AS definition,
         'CREATE ' || CASE WHEN ix.indisunique THEN 'UNIQUE ' ELSE '' END || 'INDEX ' || quote_ident(i.relname)
           || ' ON ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' USING ' || quote_ident(am.amname) || ' ' AS prefix,
         EXISTS (SELECT 1 FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = ix.indexrelid AND d.refclassid = 'pg_class'::regclass
                   AND d.refobjid = ix.indrelid AND a.attname = $2) AS uses_embedding
  FROM pg_index ix
  JOIN pg_class i ON i.oid = ix.indexrelid
  JOIN pg_class c ON c.oid = ix.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_am am ON am.oid = i.relam
  WHERE ix.indrelid = $1::regclass
    AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = ix.indexrelid AND k.conrelid = ix.indrelid)
  ORDER BY i.relname`;

const notFound = (name: TableName, database: string) =>
  new InvalidInputError(`table ${qualifiedName(name)} does not exist in database "${database}".`, {
    component: COMPONENT,
    hint: 'Check backup.sources.vector.table and .database (the table may be schema-qualified: schema.table).',
  });

/** The relation's kind ('r' table, 'p' partitioned, ...) or undefined when there is none by that name. */
export async function relationKind(client: Client, name: TableName): Promise<string | undefined> {
  const { rows } = await client.query<{ kind: string }>(
    'SELECT c.relkind AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2',
    [name.schema, name.table],
  );
  return rows[0]?.kind;
}

export async function tableExists(client: Client, name: TableName): Promise<boolean> {
  return (await relationKind(client, name)) !== undefined;
}

export async function requireTable(client: Client, name: TableName, database: string): Promise<void> {
  const kind = await relationKind(client, name);
  if (kind === undefined) throw notFound(name, database);
  if (kind !== 'r') {
    throw new InvalidInputError(`${qualifiedName(name)} is not a plain table (relkind '${kind}'); partitioned tables, views and foreign tables are not supported.`, {
      component: COMPONENT,
      hint: 'Point backup.sources.vector.table at the table that stores the vectors.',
    });
  }
}

interface EmbeddingColumn {
  readonly kind: EmbeddingKind;
  readonly elementType: ElementType;
  /** vector(n)'s n; null for arrays and an unconstrained vector. */
  readonly declaredDimension: number | null;
}

function embeddingColumnKind(column: ColumnRow): EmbeddingColumn | undefined {
  if (column.is_pgvector) return { kind: 'pgvector', elementType: 'float4', declaredDimension: column.typmod > 0 ? column.typmod : null };
  if (column.element_type === 'float4') return { kind: 'array', elementType: 'float4', declaredDimension: null };
  if (column.element_type === 'float8') return { kind: 'array', elementType: 'float8', declaredDimension: null };
  return undefined;
}

/**
 * The embedding column: the one named "embedding" if it holds vectors, else the only column that does.
 * Anything else would be a guess, so it is an error naming the candidates.
 */
function pickEmbedding(columns: ColumnRow[], name: TableName): ColumnRow {
  const candidates = columns.filter((c) => embeddingColumnKind(c) !== undefined && !c.generated);
  const named = candidates.find((c) => c.name === 'embedding');
  if (named) return named;
  if (candidates.length === 1) return candidates[0];
  const unsupported = columns.find((c) => c.name === 'embedding');
  throw new InvalidInputError(
    candidates.length === 0
      ? `table ${qualifiedName(name)} has no embedding column: none is vector(n), real[] or double precision[]${unsupported ? ` ("embedding" is ${unsupported.type})` : ''}.`
      : `table ${qualifiedName(name)} has several vector columns (${candidates.map((c) => c.name).join(', ')}) and none is named "embedding".`,
    { component: COMPONENT, hint: 'The vector component backs up tables with one embedding column: vector(n) (pgvector), real[] or double precision[] (halfvec and sparsevec are not supported).' },
  );
}

function pickId(columns: ColumnRow[], primaryKey: string[] | undefined, name: TableName): ColumnRow {
  const byKey = primaryKey?.length === 1 ? columns.find((c) => c.name === primaryKey[0]) : undefined;
  const id = byKey ?? columns.find((c) => c.name === 'id');
  if (!id) {
    throw new InvalidInputError(`table ${qualifiedName(name)} has neither a one-column primary key nor an "id" column.`, {
      component: COMPONENT,
      hint: 'Give the table a primary key on its id column.',
    });
  }
  return id;
}

function indexBody(row: { name: string; definition: string; prefix: string }, name: TableName): string {
  // pg_get_indexdef always qualifies the table, so the prefix is known exactly; what follows is kept as is.
  if (!row.definition.startsWith(row.prefix)) {
    throw new InvalidInputError(`cannot read the definition of index ${row.name} on ${qualifiedName(name)}: ${row.definition}`, {
      component: COMPONENT,
      hint: 'Report this index definition; drop the index before the backup to proceed.',
    });
  }
  return row.definition.slice(row.prefix.length);
}

/**
 * The definition as the catalog shows it. Dimension (for arrays), embedding models and the row count
 * come from the rows and are filled in by the scan; here they are left empty.
 */
export async function detectTable(client: Client, name: TableName, database: string): Promise<VectorTableDefinition> {
  await requireTable(client, name, database);
  const relation = relationSql(name);
  const columns = (await client.query<ColumnRow & { generated_expr: string | null }>(COLUMNS_SQL, [relation])).rows;
  const constraintRows = (await client.query<{ name: string; type: string; definition: string; conkey: number[] }>(CONSTRAINTS_SQL, [relation])).rows;
  const primary = constraintRows.find((c) => c.type === 'p');
  const primaryColumns = primary
    ? (await client.query<{ name: string }>('SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::regclass AND attnum = ANY($2::int2[]) ORDER BY attnum', [relation, primary.conkey])).rows.map((r) => r.name)
    : undefined;

  const embeddingRow = pickEmbedding(columns, name);
  const embedding = embeddingColumnKind(embeddingRow)!;
  const id = pickId(columns, primaryColumns, name);
  if (id.name === embeddingRow.name) throw new InvalidInputError(`table ${qualifiedName(name)}: the id column cannot be the embedding.`, { component: COMPONENT });
  const metadata = columns.find((c) => c.name === 'metadata' && (c.base_type === 'jsonb' || c.base_type === 'json'));

  const indexRows = (
    await client.query<{ name: string; unique: boolean; method: string; definition: string; prefix: string; uses_embedding: boolean }>(INDEXES_SQL, [relation, embeddingRow.name])
  ).rows;
  const indexes: IndexDefinition[] = indexRows.map((row) => ({
    name: row.name,
    unique: row.unique,
    method: row.method,
    body: indexBody(row, name),
    usesEmbedding: row.uses_embedding,
    definition: row.definition,
  }));

  const columnDefinitions: ColumnDefinition[] = columns.map((c) => {
    const serial = c.identity === '' && c.default !== null && /^nextval\(/.test(c.default);
    return {
      name: c.name,
      type: c.type,
      notNull: c.not_null,
      default: serial ? null : c.default,
      identity: serial ? 'd' : c.identity,
      generated: c.generated ? c.generated_expr : null,
    };
  });
  const constraints: ConstraintDefinition[] = constraintRows
    .filter((c) => c.type !== 'f')
    .map((c) => ({ name: c.name, type: c.type as ConstraintDefinition['type'], definition: c.definition }));

  return {
    format: DEFINITION_FORMAT,
    version: FORMAT_VERSION,
    schema: name.schema,
    table: name.table,
    columns: columnDefinitions,
    idColumn: id.name,
    metadataColumn: metadata?.name ?? null,
    embedding: { column: embeddingRow.name, kind: embedding.kind, elementType: embedding.elementType, dimension: embedding.declaredDimension },
    constraints,
    indexes,
    foreignKeysSkipped: constraintRows.filter((c) => c.type === 'f').map((c) => c.name),
    embeddingModels: [],
    embeddingModel: null,
    rows: 0,
  };
}

/** Whether pgvector is installed in the database, and in which schema its types live. */
export async function pgvectorSchema(client: Client): Promise<string | undefined> {
  const { rows } = await client.query<{ schema: string }>(
    "SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'",
  );
  return rows[0]?.schema;
}

export async function pgvectorVersion(client: Client): Promise<string | undefined> {
  const { rows } = await client.query<{ version: string }>("SELECT extversion AS version FROM pg_extension WHERE extname = 'vector'");
  return rows[0]?.version;
}
