/**
 * Semantic memory in a PostgreSQL table (sources.vector): id (text or uuid), embedding (pgvector
 * vector(n) in production, real[] or double precision[] where pgvector is absent), metadata (jsonb
 * holding the item's {content, metadata}).
 *
 * Reading: one REPEATABLE READ READ ONLY transaction, a cursor fetched in batches: every row of the
 * export comes from one snapshot. pgvector is read as `embedding::real[]` (exactly its float4 values,
 * printed shortest-exact). Other keys of the metadata column travel in native.fields; a NULL metadata
 * column as native.metadataIsNull; the column's text as PostgreSQL prints it in native.metadataText,
 * which a restore writes back as it is (so jsonb numbers keep their scale: 1.0 stays 1.0). Columns other than id, embedding and metadata are not exported (the
 * vector component's backup keeps the whole table).
 *
 * Restoring: one transaction: the table is created when missing (vector(n) when the target has pgvector
 * and the backup came from a vector column, else the backup's array type), TRUNCATEd and refilled in
 * batches; COMMIT only once every tier is staged. A damaged artifact rolls everything back.
 */
import type { Client } from 'pg';
import { InvalidInputError, VersionMismatchError } from '../../core/errors';
import { openClient, quoteIdent, withClient } from '../postgres/connection';
import { serverVersion } from '../postgres/server';
import { qualifiedName, type TableName } from '../vector/names';
import { relationSql } from '../vector/sql';
import { COMPONENT, type ExportHeader } from './format';
import { isObject, jsonText, parseJsonExact, type JsonObject, type MemoryItem } from './item';
import type { MemoryTarget } from './connection';
import type { StageResult, TierEntry, TierLine, TierSource, TierStager } from './tier';
import { mostCommonLength } from './consistency';

type Semantic = NonNullable<MemoryTarget['semantic']>;

export const SEMANTIC_NORMALISES = [
  'embedding: the column\'s exact float values as shortest-exact JSON numbers (vector and real[] as float4, double precision[] as float8)',
  'content and metadata: parsed from the metadata column, numbers as JSON numbers (1.0 prints as 1; integers beyond 2^53 keep their digits); native.metadataText keeps the column\'s text, which a restore writes back',
];

const FETCH_ROWS = 500;
const INSERT_ROWS = 200;

export interface TableInfo {
  readonly exists: boolean;
  /** format_type of the id column, e.g. "uuid" or "text". */
  readonly idType?: string;
  /** format_type of the embedding column, e.g. "vector(768)", "real[]". */
  readonly embeddingType?: string;
  readonly embeddingKind?: 'vector' | 'real[]' | 'double precision[]';
  /** vector(n)'s n; null for arrays and an unsized vector. */
  readonly declaredDimension: number | null;
  readonly metadataType?: string;
}

const COLUMNS_SQL = `
  SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typname AS typname, a.atttypmod AS typmod
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_type t ON t.oid = a.atttypid
  WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped`;

export function tableLabel(semantic: Semantic): string {
  return `${semantic.database}.${qualifiedName(semantic)}`;
}

export async function tableInfo(client: Client, table: TableName): Promise<TableInfo> {
  const { rows } = await client.query<{ name: string; type: string; typname: string; typmod: number }>(COLUMNS_SQL, [table.schema, table.table]);
  if (rows.length === 0) return { exists: false, declaredDimension: null };
  const column = (name: string) => rows.find((r) => r.name === name);
  const where = qualifiedName(table);
  for (const name of ['id', 'embedding', 'metadata']) {
    if (!column(name)) {
      throw new InvalidInputError(`table ${where} (sources.vector.table) has no column "${name}".`, {
        component: COMPONENT,
        hint: 'The semantic tier reads id, embedding and metadata columns: point sources.vector.table at the NCA\'s semantic memory table.',
      });
    }
  }
  const embedding = column('embedding')!;
  const kind = embedding.typname === 'vector' ? 'vector' : embedding.typname === '_float4' ? 'real[]' : embedding.typname === '_float8' ? 'double precision[]' : undefined;
  if (!kind) {
    throw new InvalidInputError(`column embedding of ${where} has type ${embedding.type}; the memory export reads vector, real[] and double precision[].`, { component: COMPONENT });
  }
  const metadata = column('metadata')!;
  if (metadata.typname !== 'jsonb' && metadata.typname !== 'json') {
    throw new InvalidInputError(`column metadata of ${where} has type ${metadata.type}; the memory export needs jsonb or json.`, { component: COMPONENT });
  }
  return {
    exists: true,
    idType: column('id')!.type,
    embeddingType: embedding.type,
    embeddingKind: kind,
    declaredDimension: kind === 'vector' && embedding.typmod > 0 ? embedding.typmod : null,
    metadataType: metadata.typname,
  };
}

/** pgvector has no real[] output of its own: the cast yields its exact float4 values. */
function embeddingExpression(info: TableInfo): string {
  return info.embeddingKind === 'vector' ? 'embedding::real[]' : 'embedding';
}

/**
 * "{0.1,-2e-05,...}" as numbers. A one-dimensional array of finite floats prints as a JSON list between
 * braces, and JSON.parse reads it six times faster than pg's array parser; anything else (NaN, NULL,
 * Infinity, nested arrays) is read element by element into non-finite values or nulls, which fail the
 * item's shape check with the element named.
 */
export function parseEmbedding(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(`[${text.slice(1, -1)}]`);
  } catch {
    return text
      .slice(1, -1)
      .split(',')
      .map((element) => (element === 'NULL' ? null : Number(element)));
  }
}

/** The most common embedding length among (at most) the first 1000 rows: cheap, for the dimension guard. */
export async function sampledDimension(client: Client, table: TableName, info: TableInfo): Promise<number | null> {
  if (!info.exists) return null;
  if (info.declaredDimension !== null) return info.declaredDimension;
  const { rows } = await client.query<{ d: number }>(
    `SELECT d FROM (SELECT cardinality(${embeddingExpression(info)}) AS d FROM ${relationSql(table)} WHERE embedding IS NOT NULL LIMIT 1000) s
     GROUP BY d ORDER BY count(*) DESC, d LIMIT 1`,
  );
  return rows.length > 0 ? Number(rows[0].d) : null;
}

/** The item of a row; `metadataText` is the column's text as PostgreSQL prints it, kept so a restore writes it back exactly. */
export function semanticItem(row: { id: string | null; embedding: unknown; metadata: unknown }, metadataText?: string): MemoryItem {
  if (typeof row.id !== 'string' || row.id === '') throw new InvalidInputError('the semantic table has a row without an id.', { component: COMPONENT });
  const item: MemoryItem = { id: row.id };
  let rest: JsonObject | undefined;
  if (row.metadata === null) {
    item.native = { metadataIsNull: true };
  } else if (!isObject(row.metadata)) {
    throw new InvalidInputError(`semantic item ${row.id}: column metadata is not a JSON object.`, {
      component: COMPONENT,
      hint: 'The NCA stores {"content", "metadata"} there; fix the row (the vector component\'s backup keeps it as it is).',
    });
  } else {
    const { content, metadata, ...others } = row.metadata;
    if (content !== undefined) item.content = content as MemoryItem['content'];
    if (metadata !== undefined) item.metadata = metadata as MemoryItem['metadata'];
    if (Object.keys(others).length > 0) rest = others;
  }
  item.embedding = row.embedding as number[] | null;
  if (rest) item.native = { fields: rest };
  if (metadataText !== undefined && row.metadata !== null) item.native = { ...item.native, metadataText };
  return item;
}

/**
 * The tier's reader. For a backup (`mustExist`), a table that does not exist is an error naming it: a
 * misnamed table would otherwise give a healthy-looking backup of nothing.
 */
export async function openSemanticSource(semantic: Semantic, mustExist = false): Promise<TierSource> {
  const client = await openClient(semantic);
  client.on('error', () => undefined);
  try {
    const version = (await serverVersion(client)).serverVersion;
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    // Shortest-exact float output: what is printed parses back to the same float4/float8.
    await client.query('SET LOCAL extra_float_digits = 1');
    const info = await tableInfo(client, semantic);
    if (!info.exists && mustExist) {
      throw new InvalidInputError(`the semantic table ${tableLabel(semantic)} does not exist.`, {
        component: COMPONENT,
        hint: 'Check sources.vector.database and sources.vector.table; nothing was backed up.',
      });
    }
    if (info.exists) {
      await client.query(
        `DECLARE nca_memory_export NO SCROLL CURSOR FOR SELECT id::text AS id, (${embeddingExpression(info)})::text AS embedding, metadata::text AS metadata FROM ${relationSql(semantic)}`,
      );
    }
    return {
      tier: 'semantic',
      version,
      description: {
        store: 'postgresql',
        database: semantic.database,
        table: qualifiedName(semantic),
        tableExists: info.exists,
        idType: info.idType ?? null,
        embeddingType: info.embeddingType ?? null,
        declaredDimension: info.declaredDimension,
      },
      declaredDimension: info.declaredDimension,
      read: { snapshot: true, method: 'PostgreSQL REPEATABLE READ transaction, one cursor' },
      async *entries(): AsyncGenerator<TierEntry> {
        if (!info.exists) return;
        // The next batch is fetched while this one is processed: the server formats rows meanwhile.
        const fetch = () => {
          const rows = client.query(`FETCH ${FETCH_ROWS} FROM nca_memory_export`).then((r) => r.rows);
          rows.catch(() => undefined);
          return rows;
        };
        let next = fetch();
        for (;;) {
          const rows = await next;
          if (rows.length === FETCH_ROWS) next = fetch();
          for (const row of rows) yield { item: semanticItem({ id: row.id, embedding: parseEmbedding(row.embedding), metadata: row.metadata === null ? null : parseJsonExact(row.metadata) }, row.metadata ?? undefined) };
          if (rows.length < FETCH_ROWS) return;
        }
      },
      facts: () => ({ tableExists: info.exists, embeddingType: info.embeddingType ?? null }),
      close: async () => {
        await client.query('ROLLBACK').catch(() => undefined);
        await client.end().catch(() => undefined);
      },
    };
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}

/** Column types for a table the restore creates, from the backup's header and what the target offers. */
async function typesForNewTable(client: Client, header: ExportHeader): Promise<{ id: string; embedding: string; note?: string }> {
  const source = header.source;
  const id = source.idType === 'uuid' ? 'uuid' : 'text';
  const embeddingType = typeof source.embeddingType === 'string' ? source.embeddingType : 'real[]';
  if (embeddingType === 'double precision[]') return { id, embedding: embeddingType };
  if (!embeddingType.startsWith('vector')) return { id, embedding: 'real[]' };
  const pgvector = (await client.query("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).rowCount === 1;
  if (pgvector) return { id, embedding: embeddingType };
  return { id, embedding: 'real[]', note: `the backup came from a ${embeddingType} column; the target has no pgvector, so the table was created with real[]` };
}

export async function openSemanticStager(semantic: Semantic): Promise<TierStager> {
  const client = await openClient(semantic);
  // A dropped idle connection surfaces at the next query; without a listener it would crash the process.
  client.on('error', () => undefined);
  let open = false;
  try {
    const before = await tableInfo(client, semantic);
    const hadItems = before.exists && ((await client.query(`SELECT 1 FROM ${relationSql(semantic)} LIMIT 1`)).rowCount ?? 0) > 0;
    // Sampled now: once staging has TRUNCATEd the table, nothing else can read it until COMMIT.
    const targetDimension = await sampledDimension(client, semantic, before);
    const where = tableLabel(semantic);
    return {
      tier: 'semantic',
      hadItems,
      targetDimension,
      async stage(header: ExportHeader, lines: AsyncIterable<TierLine>): Promise<StageResult> {
        await client.query('BEGIN');
        open = true;
        let info = await tableInfo(client, semantic);
        let created: string | undefined;
        if (!info.exists) {
          const types = await typesForNewTable(client, header);
          await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(semantic.schema)}`);
          await client.query(`CREATE TABLE ${relationSql(semantic)} (id ${types.id} PRIMARY KEY, embedding ${types.embedding}, metadata jsonb)`);
          info = await tableInfo(client, semantic);
          created = types.note ?? `created with embedding ${types.embedding}`;
        }
        await client.query(`TRUNCATE ${relationSql(semantic)}`);
        const cast = info.embeddingKind === 'double precision[]' ? '::float8[]' : info.embeddingKind === 'vector' ? `::real[]::${info.embeddingType}` : '::real[]';
        let batch: MemoryItem[] = [];
        let written = 0;
        // One INSERT in flight while the next batch is read and built.
        let inFlight: Promise<unknown> = Promise.resolve();
        const flush = async () => {
          if (batch.length === 0) return;
          const values: unknown[] = [];
          const rows = batch.map((item, i) => {
            // The column's own text where the export has it (jsonb keeps 1.0 and 1 apart), else the item printed.
            const metadata = item.native?.metadataIsNull
              ? null
              : item.native?.metadataText !== undefined
                ? item.native.metadataText
                : jsonText({ ...(item.native?.fields ?? {}), ...(item.content !== undefined ? { content: item.content } : {}), ...(item.metadata !== undefined ? { metadata: item.metadata } : {}) });
            // An array literal built here: pg's generic array serialisation is several times slower.
            values.push(item.id, Array.isArray(item.embedding) ? `{${item.embedding.join(',')}}` : null, metadata);
            return `($${3 * i + 1}, $${3 * i + 2}${cast}, $${3 * i + 3}::${info.metadataType})`;
          });
          written += batch.length;
          batch = [];
          await inFlight;
          inFlight = client.query(`INSERT INTO ${relationSql(semantic)} (id, embedding, metadata) VALUES ${rows.join(', ')}`, values);
          inFlight.catch(() => undefined);
        };
        // A declared column (vector(n)) takes no other length. On the first item that disagrees writing stops,
        // but the lines are still counted: a backup of another dimension is a table mismatch
        // (VersionMismatchError, as the compatibility check says it), one odd item is that item's problem.
        const declared = info.declaredDimension;
        const lengths = new Map<number, number>();
        let odd: { id: string; length: number } | undefined;
        for await (const { item } of lines) {
          if (!item) continue;
          if (declared !== null && Array.isArray(item.embedding)) {
            const length = item.embedding.length;
            lengths.set(length, (lengths.get(length) ?? 0) + 1);
            if (length !== declared) odd ??= { id: item.id, length };
          }
          if (odd) continue;
          batch.push(item);
          if (batch.length >= INSERT_ROWS) await flush();
        }
        if (odd) {
          checkDimensions(semantic, mostCommonLength(lengths), declared);
          throw new InvalidInputError(
            `semantic item ${odd.id} has a ${odd.length}-dimensional embedding; column embedding of ${where} is ${info.embeddingType}.`,
            { component: COMPONENT, hint: 'Restore into a table of the backup\'s dimension (drop or rename the target table to have it created).' },
          );
        }
        await flush();
        await inFlight;
        return { items: written, table: where, ...(created ? { tableCreated: created } : {}) };
      },
      async commit() {
        await client.query('COMMIT');
        open = false;
        await client.end().catch(() => undefined);
      },
      async abort() {
        if (open) await client.query('ROLLBACK').catch(() => undefined);
        open = false;
        await client.end().catch(() => undefined);
      },
    };
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}

/** The target table's dimension must equal the backup's: the NCA's embeddings and queries are built for one. */
export function checkDimensions(semantic: Semantic, backupDimension: number | null, targetDimension: number | null): void {
  if (backupDimension !== null && targetDimension !== null && targetDimension !== backupDimension) {
    throw new VersionMismatchError(
      `the backup's semantic embeddings have ${backupDimension} dimensions; the target table ${tableLabel(semantic)} holds ${targetDimension}-dimensional embeddings.`,
      { component: COMPONENT, hint: 'Restore into a table of the same dimension (or drop the target table so the restore creates it).' },
    );
  }
}

export async function checkSemanticDimension(semantic: Semantic, backupDimension: number | null): Promise<void> {
  if (backupDimension === null) return;
  const targetDimension = await withClient(semantic, async (client) => sampledDimension(client, semantic, await tableInfo(client, semantic)));
  checkDimensions(semantic, backupDimension, targetDimension);
}

export async function semanticExists(semantic: Semantic): Promise<boolean> {
  return withClient(semantic, async (client) => {
    if (!(await tableInfo(client, semantic)).exists) return false;
    return ((await client.query(`SELECT 1 FROM ${relationSql(semantic)} LIMIT 1`)).rowCount ?? 0) > 0;
  });
}

export async function semanticEstimate(semantic: Semantic): Promise<number> {
  return withClient(semantic, async (client) => {
    if (!(await tableInfo(client, semantic)).exists) return 0;
    const { rows } = await client.query<{ bytes: string }>('SELECT pg_total_relation_size($1::regclass)::text AS bytes', [relationSql(semantic)]);
    return Number(rows[0].bytes);
  });
}

export async function semanticDescription(semantic: Semantic): Promise<{ version: string; dimension: number | null; embeddingType: string | null }> {
  return withClient(semantic, async (client) => {
    const info = await tableInfo(client, semantic);
    return { version: (await serverVersion(client)).serverVersion, dimension: await sampledDimension(client, semantic, info), embeddingType: info.embeddingType ?? null };
  });
}

