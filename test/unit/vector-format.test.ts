/**
 * The vector component's pure parts: the rows.bin format, the binary array conversions that keep
 * embeddings bit for bit, the fingerprint's order independence, the compatibility rules, and the SQL it
 * generates — including the pgvector variants, which cannot run on this machine (no pgvector here).
 */
import { checkEmbeddingSpace, checkServerVersion } from '../../functions/components/vector/compatibility';
import { parseTableName } from '../../functions/components/vector/connection';
import { columnsEntry, RowDigest } from '../../functions/components/vector/fingerprint';
import {
  arraySendToLittleEndian,
  decodeBody,
  encodeBody,
  encodeHeader,
  encodeTrailer,
  frameBody,
  littleEndianToArrayRecv,
  RowsDecoder,
  RowsFormatError,
  type RowsHeader,
  type VectorRecord,
  type VectorTableDefinition,
} from '../../functions/components/vector/format';
import {
  addConstraintSql,
  createIndexSql,
  createTableSql,
  insertSql,
  renamedObject,
  selectRowsSql,
  targetEmbedding,
} from '../../functions/components/vector/sql';
import { sampleOrdinals } from '../../functions/components/vector/verify';
import { InvalidInputError, VersionMismatchError } from '../../functions/core/errors';

const float4 = (...bits: number[]) => {
  const data = Buffer.alloc(bits.length * 4);
  bits.forEach((b, i) => data.writeUInt32LE(b >>> 0, i * 4));
  return data;
};

const header: RowsHeader = { elementType: 'float4', idColumn: 'id', embeddingColumn: 'embedding', metadataColumn: 'metadata', extraColumns: ['content'] };
const records: VectorRecord[] = [
  { id: '0b6f5c1e-0000-4000-8000-000000000001', embedding: float4(0x3f800000, 0x80000000, 0x7fc00001, 0x00000001), metadata: '{"embedding_model": "m"}', extras: ['héllo'] },
  { id: 'b', embedding: null, metadata: null, extras: [null] },
  { id: 'c', embedding: float4(), metadata: '{}', extras: [''] },
];

function rowsStream(rows: VectorRecord[], trailerCount = rows.length): Buffer {
  return Buffer.concat([encodeHeader(header), ...rows.map((r) => frameBody(encodeBody(r, 'float4'))), encodeTrailer(trailerCount)]);
}

function decodeAll(bytes: Buffer, chunkSize: number): VectorRecord[] {
  const decoder = new RowsDecoder();
  const out: VectorRecord[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) {
    decoder.push(bytes.subarray(i, i + chunkSize));
    for (let r = decoder.next(); r !== undefined; r = decoder.next()) out.push(r);
  }
  decoder.finish();
  expect(decoder.header).toEqual(header);
  return out;
}

describe('rows.bin', () => {
  test.each([1, 7, 4096])('round-trips records read in chunks of %i bytes', (chunkSize) => {
    expect(decodeAll(rowsStream(records), chunkSize)).toEqual(records);
  });

  test('an empty table is a header and a trailer', () => {
    expect(decodeAll(rowsStream([]), 3)).toEqual([]);
  });

  test('a truncated, padded, miscounted or foreign stream is an IntegrityError with the offset', () => {
    const whole = rowsStream(records);
    expect(() => decodeAll(whole.subarray(0, whole.length - 12), 64)).toThrow(/ends after 3 records without its trailer/);
    expect(() => decodeAll(Buffer.concat([whole, Buffer.from([0])]), 64)).toThrow(/bytes after the trailer/);
    expect(() => decodeAll(rowsStream(records, 2), 64)).toThrow(/the trailer counts 2 records, the stream holds 3/);
    expect(() => decodeAll(Buffer.from('PGDMP and more bytes than a header'), 64)).toThrow(RowsFormatError);
    expect(() => decodeAll(Buffer.from('PGDMP and more bytes than a header'), 64)).toThrow(/does not start with NCAVROWS \(at byte 0\)/);
    const future = Buffer.from(whole);
    future.writeUInt32LE(2, 8);
    expect(() => decodeAll(future, 64)).toThrow(/format version 2 is not supported/);
    const huge = Buffer.from(whole);
    huge.writeUInt32LE(0x7fffffff, encodeHeader(header).length);
    expect(() => decodeAll(huge, 64)).toThrow(/a record length of 2147483647 bytes/);
    expect(new RowsFormatError('x')).toBeInstanceOf(Error);
  });

  test('a record body must be consumed exactly', () => {
    const body = encodeBody(records[0], 'float4');
    expect(decodeBody(body, 'float4')).toEqual(records[0]);
    expect(() => decodeBody(Buffer.concat([body, Buffer.from([1])]), 'float4')).toThrow(/1 bytes left over/);
    expect(() => decodeBody(body.subarray(0, 20), 'float4')).toThrow(/ends inside a field/);
  });
});

/** PostgreSQL's binary array (array_send) built by hand, big-endian. */
function arraySend(oid: number, elements: (number | null)[], width = 4, ndim = 1): Buffer {
  const head = [ndim, elements.includes(null) ? 1 : 0, oid, ...(ndim === 0 ? [] : [elements.length, 1])];
  const parts = [Buffer.alloc(head.length * 4)];
  head.forEach((v, i) => parts[0].writeInt32BE(v, i * 4));
  for (const bits of elements) {
    const item = Buffer.alloc(bits === null ? 4 : 4 + width);
    item.writeInt32BE(bits === null ? -1 : width, 0);
    if (bits !== null && width === 4) item.writeUInt32BE(bits >>> 0, 4);
    if (bits !== null && width === 8) item.writeBigUInt64BE(BigInt(bits), 4);
    parts.push(item);
  }
  return Buffer.concat(parts);
}

describe('embeddings as bits', () => {
  test('array_send of real[] becomes little-endian float4, every bit kept (NaN payloads, -0, subnormals)', () => {
    const bits = [0x7fc00001, 0x7f800001, 0x80000000, 0x00000001, 0x7f7fffff, 0x3dcccccd];
    const decoded = arraySendToLittleEndian(arraySend(700, bits));
    expect(decoded).toEqual({ elementType: 'float4', data: float4(...bits) });
    expect(littleEndianToArrayRecv(float4(...bits), 'float4')).toEqual(arraySend(700, bits));
    expect(arraySendToLittleEndian(arraySend(700, [], 4, 0))).toEqual({ elementType: 'float4', data: Buffer.alloc(0) });
    expect(littleEndianToArrayRecv(Buffer.alloc(0), 'float4')).toEqual(arraySend(700, [], 4, 0));
  });

  test('double precision[] keeps 8 bytes per element', () => {
    const send = arraySend(701, [1, 2], 8);
    const decoded = arraySendToLittleEndian(send);
    expect(decoded).toEqual({ elementType: 'float8', data: Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]) });
    expect(littleEndianToArrayRecv((decoded as { data: Buffer }).data, 'float8')).toEqual(send);
  });

  test('arrays that are not embeddings are named as such', () => {
    expect(arraySendToLittleEndian(arraySend(700, [0x3f800000, null]))).toEqual({ problem: 'it contains NULL elements' });
    expect(arraySendToLittleEndian(arraySend(23, [1]))).toEqual({ problem: 'its elements have type oid 23, not real or double precision' });
    expect(arraySendToLittleEndian(arraySend(700, [1], 4, 2))).toEqual({ problem: 'it is a 2-dimensional array; an embedding is one-dimensional' });
  });
});

const definition: VectorTableDefinition = {
  format: 'nca-vector-definition',
  version: 1,
  schema: 'public',
  table: 'semantic_memory',
  columns: [
    { name: 'id', type: 'uuid', notNull: true, default: 'gen_random_uuid()', identity: '', generated: null },
    { name: 'embedding', type: 'vector(768)', notNull: true, default: null, identity: '', generated: null },
    { name: 'metadata', type: 'jsonb', notNull: false, default: "'{}'::jsonb", identity: '', generated: null },
    { name: 'seq', type: 'bigint', notNull: true, default: null, identity: 'd', generated: null },
    { name: 'model', type: 'text', notNull: false, default: null, identity: '', generated: "(metadata ->> 'embedding_model'::text)" },
  ],
  idColumn: 'id',
  metadataColumn: 'metadata',
  embedding: { column: 'embedding', kind: 'pgvector', elementType: 'float4', dimension: 768 },
  constraints: [{ name: 'semantic_memory_pkey', type: 'p', definition: 'PRIMARY KEY (id)' }],
  indexes: [
    {
      name: 'semantic_memory_embedding_idx',
      unique: false,
      method: 'hnsw',
      body: '(embedding vector_cosine_ops) WITH (m=16, ef_construction=64)',
      usesEmbedding: true,
      definition: 'CREATE INDEX semantic_memory_embedding_idx ON public.semantic_memory USING hnsw (embedding vector_cosine_ops) WITH (m=16, ef_construction=64)',
    },
  ],
  foreignKeysSkipped: [],
  embeddingModels: ['nomic-embed-text-v1.5'],
  embeddingModel: 'nomic-embed-text-v1.5',
  rows: 3,
};
const relation = '"public"."semantic_memory"';

describe('generated SQL (pgvector variants are tested only here)', () => {
  test('pgvector embeddings are read through their cast to real[]; arrays as they are', () => {
    expect(selectRowsSql(definition, relation)).toBe(
      `SELECT "id"::text AS id, array_send("embedding"::real[]) AS embedding, "metadata"::text AS metadata, COALESCE("metadata" ->> 'embedding_model', "metadata" -> 'metadata' ->> 'embedding_model') AS model, "seq"::text AS x0 FROM "public"."semantic_memory" ORDER BY "id"`,
    );
    const arrays = { ...definition, metadataColumn: null, embedding: { ...definition.embedding, kind: 'array' as const } };
    expect(selectRowsSql(arrays, relation, { byIds: true })).toBe(
      `SELECT "id"::text AS id, array_send("embedding") AS embedding, NULL::text AS metadata, NULL::text AS model, "metadata"::text AS x0, "seq"::text AS x1 FROM "public"."semantic_memory" WHERE "id" = ANY($1::uuid[]) ORDER BY "id"`,
    );
  });

  test('the target stores vector(n) where pgvector is installed, real[] elsewhere, and float8 always as an array', () => {
    expect(targetEmbedding('float4', 768, 'extensions')).toEqual({ kind: 'pgvector', type: '"extensions".vector(768)' });
    expect(targetEmbedding('float4', null, 'public')).toEqual({ kind: 'pgvector', type: '"public".vector' });
    expect(targetEmbedding('float4', 768, undefined)).toEqual({ kind: 'array', type: 'real[]' });
    expect(targetEmbedding('float8', 768, 'public')).toEqual({ kind: 'array', type: 'double precision[]' });
  });

  test('CREATE TABLE keeps defaults, identity, generated columns and NOT NULL; the embedding takes the target type', () => {
    expect(createTableSql(definition, relation, targetEmbedding('float4', 768, 'public'))).toBe(
      'CREATE TABLE "public"."semantic_memory" ("id" uuid DEFAULT gen_random_uuid() NOT NULL, "embedding" "public".vector(768) NOT NULL, ' +
        `"metadata" jsonb DEFAULT '{}'::jsonb, "seq" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL, "model" text GENERATED ALWAYS AS ((metadata ->> 'embedding_model'::text)) STORED)`,
    );
    expect(createTableSql(definition, relation, targetEmbedding('float4', 768, undefined))).toContain('"embedding" real[] NOT NULL');
  });

  test('INSERT takes one typed parameter per value; pgvector gets the binary real[] through its cast', () => {
    expect(insertSql(definition, relation, targetEmbedding('float4', 768, 'public'), 2)).toBe(
      'INSERT INTO "public"."semantic_memory" ("id", "embedding", "metadata", "seq") OVERRIDING SYSTEM VALUE VALUES ' +
        '($1::uuid, $2::real[]::"public".vector(768), $3::jsonb, $4::bigint), ($5::uuid, $6::real[]::"public".vector(768), $7::jsonb, $8::bigint)',
    );
    expect(insertSql(definition, relation, targetEmbedding('float4', 768, undefined), 1)).toContain('($1::uuid, $2::real[], $3::jsonb, $4::bigint)');
  });

  test('indexes and constraints are recreated with names that follow the target table', () => {
    const [hnsw] = definition.indexes;
    expect(createIndexSql(hnsw, '"public"."semantic_copy"', renamedObject(hnsw.name, 'semantic_memory', 'semantic_copy'))).toBe(
      'CREATE INDEX "semantic_copy_embedding_idx" ON "public"."semantic_copy" USING "hnsw" (embedding vector_cosine_ops) WITH (m=16, ef_construction=64)',
    );
    expect(addConstraintSql(definition.constraints[0], relation, 'semantic_memory_pkey')).toBe('ALTER TABLE "public"."semantic_memory" ADD CONSTRAINT "semantic_memory_pkey" PRIMARY KEY (id)');
    expect(renamedObject('semantic_memory_pkey', 'semantic_memory', 'semantic_memory')).toBe('semantic_memory_pkey');
    expect(renamedObject('by_created', 'semantic_memory', 'copy')).toBe('copy_by_created');
    const long = renamedObject('semantic_memory_embedding_idx', 'semantic_memory', 'ä'.repeat(30));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(63);
    expect(long.startsWith('ä'.repeat(30))).toBe(true);
  });
});

describe('fingerprint', () => {
  test('the row digest is independent of order and sees every record', () => {
    const bodies = records.map((r) => encodeBody(r, 'float4'));
    const forward = new RowDigest();
    bodies.forEach((b) => forward.add(b));
    const backward = new RowDigest();
    [...bodies].reverse().forEach((b) => backward.add(b));
    expect(backward.entry('float4')).toEqual(forward.entry('float4'));
    expect(forward.entry('float4').count).toBe(3);
    const changed = new RowDigest();
    [bodies[0], bodies[1], encodeBody({ ...records[2], extras: ['x'] }, 'float4')].forEach((b) => changed.add(b));
    expect(changed.entry('float4').digest).not.toBe(forward.entry('float4').digest);
  });

  test('the columns entry is the same for a pgvector table and its real[] restore', () => {
    const restored = { ...definition, columns: definition.columns.map((c) => (c.name === 'embedding' ? { ...c, type: 'real[]' } : c)), embedding: { ...definition.embedding, kind: 'array' as const } };
    expect(columnsEntry(restored)).toEqual(columnsEntry(definition));
    expect(columnsEntry({ ...restored, embedding: { ...restored.embedding, elementType: 'float8' } })).not.toEqual(columnsEntry(definition));
  });

  test('samples spread evenly over the backup', () => {
    expect(sampleOrdinals(3)).toEqual([0, 1, 2]);
    expect(sampleOrdinals(0)).toEqual([]);
    const spread = sampleOrdinals(3000);
    expect(spread).toHaveLength(100);
    expect(new Set(spread).size).toBe(100);
    expect([spread[0], spread[1], spread[99]]).toEqual([0, 30, 2970]);
  });
});

describe('compatibility', () => {
  const existing = { dimension: 768, models: ['nomic-embed-text-v1.5'], table: 'public.semantic_memory in database "neuroca_db"' };

  test('another dimension or another model is refused unless allowed; unknown on either side passes', () => {
    expect(() => checkEmbeddingSpace({ dimension: 768, models: ['nomic-embed-text-v1.5'] }, existing, {})).not.toThrow();
    expect(() => checkEmbeddingSpace({ dimension: 1536, models: [] }, existing, {}, { backupId: '20261124T020000Z-7f3a' })).toThrow(
      'vector 20261124T020000Z-7f3a: the backup holds embeddings of dimension 1536; the existing table public.semantic_memory in database "neuroca_db" holds embeddings of dimension 768. Nothing was written.',
    );
    expect(() => checkEmbeddingSpace({ dimension: 1536, models: [] }, existing, { allowDimensionChange: true })).not.toThrow();
    expect(() => checkEmbeddingSpace({ dimension: 768, models: ['text-embedding-3-small'] }, existing, {})).toThrow(VersionMismatchError);
    expect(() => checkEmbeddingSpace({ dimension: 768, models: ['a', 'nomic-embed-text-v1.5'] }, existing, {})).toThrow(/embedding_model "a", "nomic-embed-text-v1\.5"/);
    expect(() => checkEmbeddingSpace({ dimension: 768, models: ['text-embedding-3-small'] }, existing, { allowModelChange: true })).not.toThrow();
    expect(() => checkEmbeddingSpace({ dimension: null, models: [] }, existing, {})).not.toThrow();
    expect(() => checkEmbeddingSpace({ dimension: 3, models: ['x'] }, { dimension: null, models: [], table: 't' }, {})).not.toThrow();
  });

  test('servers older than PostgreSQL 14 are refused', () => {
    expect(() => checkServerVersion({ serverVersion: '14.0', serverMajor: 14 }, 'target')).not.toThrow();
    expect(() => checkServerVersion({ serverVersion: '13.16', serverMajor: 13 }, 'target')).toThrow(
      /vector: the target server runs PostgreSQL 13\.16; the vector component needs PostgreSQL 14 or newer/,
    );
  });

  test('table names are "table" or "schema.table"', () => {
    expect(parseTableName('semantic_memory', 'sources.vector.table')).toEqual({ schema: 'public', table: 'semantic_memory' });
    expect(parseTableName('Memory.Semantic', 'sources.vector.table')).toEqual({ schema: 'Memory', table: 'Semantic' });
    for (const bad of ['', 'a.b.c', 'a.', 'has space', 'x'.repeat(64), 42]) {
      expect(() => parseTableName(bad, 'options.targetTable')).toThrow(InvalidInputError);
    }
  });
});
