/**
 * The vector component against the run's real PostgreSQL 15. These tables store embeddings as real[]
 * (and double precision[]); live pgvector tables are in vector-parallel.test.ts (where pgvector is
 * installed), and the pgvector SQL is unit tested (test/unit/vector-format.test.ts). Each test works
 * in databases of its own.
 */
import { Readable } from 'node:stream';
import { vector, vectorEntry, connectVector, parseVectorRestoreOptions, withTable, withVectorDatabase, type VectorTarget } from '../../functions/components/vector';
import { IntegrityError, InvalidInputError, TransientError, VersionMismatchError } from '../../functions/core/errors';
import { backupToFs, fsArtifacts, readArtifact } from '../support/fs-artifacts';
import { createDatabase, databaseExists, sql, testPostgresUrl } from '../support/postgres-db';
import { silentLogger as quiet } from '../../functions/core/logger';

const env = () => ({ NCA_VECTOR_URL: testPostgresUrl() });
const target = (database: string, table = 'semantic_memory') => connectVector({ database, table }, env());


const backupOf = (t: VectorTarget) => backupToFs(vector, t, quiet);

const SEMANTIC_TABLE = `
  CREATE TABLE semantic_memory (
    id uuid PRIMARY KEY,
    embedding real[] NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    content text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT semantic_memory_importance CHECK ((metadata ->> 'importance')::float8 BETWEEN 0 AND 1)
  );
  CREATE INDEX semantic_memory_metadata ON semantic_memory USING gin (metadata jsonb_path_ops);
  CREATE INDEX semantic_memory_created ON semantic_memory (created_at DESC) WHERE content IS NOT NULL`;

/** `rows` memories with random 768-float embeddings; the correlated subquery draws a new vector per row. */
async function loadSemantic(database: string, rows: number, options: { dimension?: number; model?: string; table?: string } = {}): Promise<void> {
  const dimension = options.dimension ?? 768;
  const table = options.table ?? 'semantic_memory';
  await sql(database, table === 'semantic_memory' ? SEMANTIC_TABLE : SEMANTIC_TABLE.replace(/semantic_memory/g, table));
  await sql(
    database,
    `INSERT INTO ${table} (id, embedding, metadata, content, created_at)
     SELECT gen_random_uuid(),
            (SELECT array_agg(((random() - 0.5) * 2)::real) FROM generate_series(1, $1) WHERE g.i > 0),
            jsonb_build_object('embedding_model', $2::text, 'embedding_dimensions', $1::int, 'importance', round(random()::numeric, 3), 'tags', jsonb_build_array('t' || (g.i % 7))),
            'memory ' || g.i,
            timestamptz '2026-01-01 00:00:00+00' + g.i * interval '1 minute'
     FROM generate_series(1, $3) AS g(i)`,
    [dimension, options.model ?? 'nomic-embed-text-v1.5', rows],
  );
}

/** Every row's id and the exact bits of its embedding (array_send), for comparisons outside the component. */
async function embeddingBits(database: string, table: string): Promise<Map<string, string>> {
  const rows = await sql(database, `SELECT id::text AS id, encode(array_send(embedding), 'hex') AS bits FROM ${table} ORDER BY id`);
  return new Map(rows.map((r) => [r.id, r.bits]));
}

let sampleDb: string;
let sample: VectorTarget;

beforeAll(async () => {
  sampleDb = await createDatabase('vector');
  await loadSemantic(sampleDb, 3000);
  sample = await target(sampleDb);
});

describe('vector backup and restore', () => {
  test('a damaged table is restored row for row and bit for bit, with its indexes and constraints', async () => {
    const db = await createDatabase('vecdamage');
    await loadSemantic(db, 3000);
    const t = await target(db);
    const before = await embeddingBits(db, 'semantic_memory');
    const { artifacts, result } = await backupOf(t);

    expect(result.artifacts.map((a) => a.name)).toEqual(['rows.bin', 'definition.json']);
    expect(readArtifact(artifacts, 'rows.bin').subarray(0, 8).toString()).toBe('NCAVROWS');
    expect(result.source).toMatchObject({
      serverMajor: 15,
      database: db,
      table: 'public.semantic_memory',
      dimension: 768,
      embeddingKind: 'array',
      elementType: 'float4',
      embeddingModel: 'nomic-embed-text-v1.5',
      embeddingModels: ['nomic-embed-text-v1.5'],
      rows: 3000,
    });
    expect(result.consistency.pointInTime).toBe(true);
    expect(result.fingerprint.rows.count).toBe(3000);
    expect(result.fingerprint.columns.count).toBe(5);
    expect(result.report).toMatchObject({ rows: 3000, embeddingModels: { 'nomic-embed-text-v1.5': 3000 }, indexes: ['semantic_memory_created', 'semantic_memory_metadata'] });
    const definition = JSON.parse(readArtifact(artifacts, 'definition.json').toString());
    expect(definition.embedding).toEqual({ column: 'embedding', kind: 'array', elementType: 'float4', dimension: 768 });
    expect(definition.indexes[1].definition).toBe('CREATE INDEX semantic_memory_metadata ON public.semantic_memory USING gin (metadata jsonb_path_ops)');

    await sql(db, `DELETE FROM semantic_memory WHERE content LIKE '%7'`);
    await sql(db, `UPDATE semantic_memory SET embedding[5] = 42 WHERE id = (SELECT id FROM semantic_memory ORDER BY id LIMIT 1)`);
    await sql(db, 'DROP INDEX semantic_memory_metadata');
    expect(await vector.fingerprint(t)).not.toEqual(result.fingerprint);
    expect(await vector.targetExists(t)).toBe(true);

    const restored = await vector.restore(artifacts.source(), t, {}, quiet);
    expect(restored).toMatchObject({ target: `${db}/public.semantic_memory`, replacedExisting: true, details: { rows: 3000, embeddingKind: 'array', indexesSkipped: [] } });
    expect(await vector.fingerprint(t)).toEqual(result.fingerprint);
    expect(await embeddingBits(db, 'semantic_memory')).toEqual(before);
    const indexes = await sql(db, `SELECT indexname FROM pg_indexes WHERE tablename = 'semantic_memory' ORDER BY 1`);
    expect(indexes.map((r) => r.indexname)).toEqual(['semantic_memory_created', 'semantic_memory_metadata', 'semantic_memory_pkey']);
    await expect(sql(db, `UPDATE semantic_memory SET metadata = '{"importance": 7}' WHERE id = (SELECT id FROM semantic_memory ORDER BY id LIMIT 1)`)).rejects.toThrow(/semantic_memory_importance/);

    const verification = await vector.verifyRestore!(result.fingerprint, artifacts.source(), t, {}, quiet);
    expect(verification).toEqual({ objects: 2, differences: [], details: { sampled: 100, mismatched: 0 } });
  });

  test('special float values survive bit for bit: -0, subnormals, extremes, NaN and infinities', async () => {
    const db = await createDatabase('vecfloat');
    await sql(db, 'CREATE TABLE semantic_memory (id text PRIMARY KEY, embedding real[], metadata jsonb)');
    const values = ['-0', '0', '1.4e-45', '-1.4e-45', '1e-40', '1.1754942e-38', '1.17549435e-38', '3.4028235e38', '-3.4028235e38', '1e-30', '0.1', '0.3333333', '16777217', 'NaN', 'Infinity', '-Infinity'];
    await sql(db, `INSERT INTO semantic_memory VALUES ('a', $1::real[], '{"embedding_model": "m"}'), ('b', $2::real[], NULL), ('c', NULL, '{}')`, [
      `{${values.join(',')}}`,
      `{${[...values].reverse().join(',')}}`,
    ]);
    // NaNs with other payloads than the canonical one (a signalling NaN among them) can only be written as bits.
    const payloads = [0x7fc00001, 0xffc00000, 0x7f800001, 0x7fbfffff];
    const binary = Buffer.alloc(20 + payloads.length * 8);
    [1, 0, 700, payloads.length, 1].forEach((v, i) => binary.writeInt32BE(v, i * 4));
    payloads.forEach((bits, i) => {
      binary.writeInt32BE(4, 20 + i * 8);
      binary.writeUInt32BE(bits, 24 + i * 8);
    });
    await sql(db, `INSERT INTO semantic_memory VALUES ('d', $1::real[] || $2::real[], NULL)`, [binary, `{${values.slice(0, 12).join(',')}}`]);
    expect((await embeddingBits(db, 'semantic_memory')).get('d')).toContain('7fc0000100000004ffc00000000000047f800001000000047fbfffff');
    const t = await target(db);
    const before = await embeddingBits(db, 'semantic_memory');
    const { artifacts, result } = await backupOf(t);
    expect(result.source).toMatchObject({ dimension: 16, rows: 4 });
    expect(result.report).toMatchObject({ nullEmbeddings: 1, rowsWithoutEmbeddingModel: 3 });

    const copy = withVectorDatabase(withTable(t, { schema: 'restored', table: 'floats' }), `${db}_copy`);
    const restored = await vector.restore(artifacts.source(), withVectorDatabase(t, `${db}_copy`), { targetTable: 'restored.floats' }, quiet);
    expect(restored).toMatchObject({ target: `${db}_copy/restored.floats`, replacedExisting: false, details: { createdDatabase: true } });
    expect(await embeddingBits(`${db}_copy`, 'restored.floats')).toEqual(before);
    expect(await vector.fingerprint(copy)).toEqual(result.fingerprint);
    const verification = await vector.verifyRestore!(result.fingerprint, artifacts.source(), withVectorDatabase(t, `${db}_copy`), { targetTable: 'restored.floats' }, quiet);
    expect(verification.differences).toEqual([]);
    expect(verification.details).toEqual({ sampled: 4, mismatched: 0 });
  });

  test('double precision[] embeddings keep all 64 bits', async () => {
    const db = await createDatabase('vecf8');
    await sql(db, 'CREATE TABLE semantic_memory (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, embedding double precision[] NOT NULL, metadata jsonb)');
    await sql(db, `INSERT INTO semantic_memory (embedding) VALUES ('{0.1,5e-324,-0,1.7976931348623157e308,NaN}'), ('{1e-300,2.2250738585072014e-308,3,4,5}')`);
    const t = await target(db);
    const before = await embeddingBits(db, 'semantic_memory');
    const { artifacts, result } = await backupOf(t);
    expect(result.source).toMatchObject({ elementType: 'float8', dimension: 5 });
    await sql(db, 'DELETE FROM semantic_memory');
    await vector.restore(artifacts.source(), t, {}, quiet);
    expect(await embeddingBits(db, 'semantic_memory')).toEqual(before);
    expect(await vector.fingerprint(t)).toEqual(result.fingerprint);
    // The identity column continues after the restored ids.
    const [{ id }] = await sql(db, `INSERT INTO semantic_memory (embedding) VALUES ('{1,2,3,4,5}') RETURNING id`);
    expect(Number(id)).toBe(3);
  });

  test('a restore into another table of the same database leaves the original alone and renames indexes', async () => {
    const { artifacts, result } = await backupOf(sample);
    const original = await vector.fingerprint(sample);
    const options = parseVectorRestoreOptions({ targetTable: 'semantic_memory_restored' });
    const restored = await vector.restore(artifacts.source(), sample, options, quiet);
    expect(restored).toMatchObject({ target: `${sampleDb}/public.semantic_memory_restored`, replacedExisting: false });
    const copy = vectorEntry.retarget(sample, { targetTable: 'semantic_memory_restored' } as never);
    expect(copy.table).toBe('semantic_memory_restored');
    expect(await vector.fingerprint(copy)).toEqual(result.fingerprint);
    expect(await vector.fingerprint(sample)).toEqual(original);
    const indexes = await sql(sampleDb, `SELECT indexname FROM pg_indexes WHERE tablename = 'semantic_memory_restored' ORDER BY 1`);
    expect(indexes.map((r) => r.indexname)).toEqual(['semantic_memory_restored_created', 'semantic_memory_restored_metadata', 'semantic_memory_restored_pkey']);
  });

  test('a restore into another database (targetDatabase) creates it', async () => {
    const { artifacts, result } = await backupOf(sample);
    const copy = vectorEntry.retarget(sample, { targetDatabase: `${sampleDb}_other` });
    expect(await vector.targetExists(copy)).toBe(false);
    await vector.restore(artifacts.source(), copy, {}, quiet);
    expect(await vector.targetExists(copy)).toBe(true);
    expect(await vector.fingerprint(copy)).toEqual(result.fingerprint);
  });

  test('an empty table backs up and restores', async () => {
    const db = await createDatabase('vecempty');
    await sql(db, SEMANTIC_TABLE);
    const t = await target(db);
    const { artifacts, result } = await backupOf(t);
    expect(result.source).toMatchObject({ rows: 0, dimension: null, embeddingModel: null, embeddingModels: [] });
    expect(result.fingerprint.rows.count).toBe(0);
    const copy = withVectorDatabase(t, `${db}_copy`);
    await vector.restore(artifacts.source(), copy, {}, quiet);
    expect(await vector.fingerprint(copy)).toEqual(result.fingerprint);
    const verification = await vector.verifyRestore!(result.fingerprint, artifacts.source(), copy, {}, quiet);
    expect(verification).toMatchObject({ differences: [], details: { sampled: 0, mismatched: 0 } });
  });

  test('rows written during a backup land neither in the artifacts nor in the fingerprint', async () => {
    const db = await createDatabase('vecbusy');
    await loadSemantic(db, 1500);
    const t = await target(db);
    let writing = true;
    const writer = (async () => {
      let n = 0;
      while (writing) {
        await sql(db, `INSERT INTO semantic_memory (id, embedding, metadata) SELECT gen_random_uuid(), array_fill(0.5::real, ARRAY[768]), '{"embedding_model": "nomic-embed-text-v1.5"}'`);
        n += 1;
      }
      return n;
    })();
    const { artifacts, result } = await backupOf(t);
    writing = false;
    expect(await writer).toBeGreaterThan(0);
    const copy = withVectorDatabase(t, `${db}_copy`);
    await vector.restore(artifacts.source(), copy, {}, quiet);
    expect(await vector.fingerprint(copy)).toEqual(result.fingerprint);
  });

  test('the fingerprint ignores physical order but sees one changed bit', async () => {
    const db = await createDatabase('vecorder');
    await loadSemantic(db, 300, { dimension: 16 });
    const t = await target(db);
    const before = await vector.fingerprint(t);
    // Rows were inserted in created_at order; the primary key (random uuids) is another order entirely.
    await sql(db, 'CLUSTER semantic_memory USING semantic_memory_pkey');
    expect(await vector.fingerprint(t)).toEqual(before);
    // Negating one element flips exactly one bit (the sign) of one row.
    await sql(db, `UPDATE semantic_memory SET embedding[3] = -embedding[3] WHERE id = (SELECT id FROM semantic_memory ORDER BY id LIMIT 1)`);
    const after = await vector.fingerprint(t);
    expect(after.rows.count).toBe(300);
    expect(after.rows.digest).not.toBe(before.rows.digest);
    expect(after.columns).toEqual(before.columns);
  });

  test('verification finds a vector changed after the restore and names the row', async () => {
    const db = await createDatabase('vecverify');
    await loadSemantic(db, 500, { dimension: 32 });
    const t = await target(db);
    const { artifacts, result } = await backupOf(t);
    const [{ id }] = await sql(db, 'SELECT id::text AS id FROM semantic_memory ORDER BY id LIMIT 1');
    // Negation flips the sign bit of one element: the smallest change there is.
    await sql(db, `UPDATE semantic_memory SET embedding[7] = -embedding[7] WHERE id = $1`, [id]);
    // Another session time zone prints created_at differently; verification must not mistake that for a change.
    await sql(db, `ALTER DATABASE ${db} SET TimeZone = 'Asia/Kolkata'`);
    const verification = await vector.verifyRestore!(result.fingerprint, artifacts.source(), t, {}, quiet);
    expect(verification.differences.map((d) => d.object)).toEqual(['rows', 'rows.bin sample']);
    expect(verification.details).toEqual({ sampled: 100, mismatched: 1, mismatchedIds: [{ id, problem: 'embedding' }] });
  });

  test('estimate is the table size on disk, indexes and TOAST included', async () => {
    const bytes = await vector.estimate(sample);
    const [{ size }] = await sql(sampleDb, `SELECT pg_total_relation_size('semantic_memory')::bigint AS size`);
    expect(bytes).toBe(Number(size));
    expect(bytes).toBeGreaterThan(3000 * 768 * 4);
  });
});

describe('vector restores that must not write', () => {
  test('a table of another dimension is refused before writing, then replaced with allowDimensionChange', async () => {
    const db = await createDatabase('vecdim');
    await loadSemantic(db, 50, { dimension: 384 });
    const t = await target(db);
    const before = await vector.fingerprint(t);
    const { artifacts, result } = await backupOf(sample);
    // The compatibility step refuses it already, from the manifest alone: the workflow stops before the safety backup.
    await expect(vector.checkCompatibility(result.source, t, {})).rejects.toThrow(/dimension 768; the existing table .* dimension 384/);
    await expect(vector.checkCompatibility(result.source, t, { allowDimensionChange: true })).resolves.toMatchObject({ targetVersion: expect.any(String) });
    const failure = vector.restore(artifacts.source(), t, {}, quiet);
    await expect(failure).rejects.toThrow(VersionMismatchError);
    await expect(failure).rejects.toThrow(
      `vector: the backup holds embeddings of dimension 768; the existing table public.semantic_memory in database "${db}" holds embeddings of dimension 384. Nothing was written.`,
    );
    await expect(failure).rejects.toThrow(/options\.allowDimensionChange/);
    expect(await vector.fingerprint(t)).toEqual(before);

    await vector.restore(artifacts.source(), t, { allowDimensionChange: true }, quiet);
    expect((await vector.fingerprint(t)).rows.count).toBe(3000);
  });

  test('a table of another embedding model is refused, then replaced with allowModelChange', async () => {
    const db = await createDatabase('vecmodel');
    await loadSemantic(db, 50, { model: 'text-embedding-3-small' });
    const t = await target(db);
    const before = await vector.fingerprint(t);
    const { artifacts, result } = await backupOf(sample);
    await expect(vector.checkCompatibility(result.source, t, {})).rejects.toThrow(/embedding_model "nomic-embed-text-v1\.5"/);
    const failure = vector.restore(artifacts.source(), t, { allowDimensionChange: true }, quiet);
    await expect(failure).rejects.toThrow(VersionMismatchError);
    await expect(failure).rejects.toThrow(/embedding_model "nomic-embed-text-v1\.5"; the existing table .* holds embeddings of "text-embedding-3-small"/);
    expect(await vector.fingerprint(t)).toEqual(before);

    await vector.restore(artifacts.source(), t, { allowModelChange: true }, quiet);
    expect(await vector.fingerprint(t)).toEqual(result.fingerprint);
  });

  test('a damaged rows.bin fails with IntegrityError and the target is unchanged', async () => {
    const db = await createDatabase('vecvictim');
    await loadSemantic(db, 400, { dimension: 64 });
    const t = await target(db);
    const { artifacts } = await backupOf(t);
    await sql(db, `DELETE FROM semantic_memory WHERE content LIKE '%3'`);
    const before = await vector.fingerprint(t);
    const pristine = readArtifact(artifacts, 'rows.bin');

    // One bit inside a float: every record still parses; only the digest check can tell.
    const inFloat = Buffer.from(pristine);
    inFloat[Math.floor(inFloat.length / 2)] ^= 0x01;
    artifacts.corrupt('rows.bin', inFloat);
    await expect(vector.restore(artifacts.source(), t, {}, quiet)).rejects.toThrow(IntegrityError);
    expect(await vector.fingerprint(t)).toEqual(before);

    // The first record's length prefix, now over 2 GiB: the parser trips first, yet the error reported
    // is the digest check's, which names the artifact and the manifest.
    const inLength = Buffer.from(pristine);
    const headerLength = 16 + inLength.readUInt32LE(12);
    inLength[headerLength + 3] ^= 0x80;
    artifacts.corrupt('rows.bin', inLength);
    const failure = vector.restore(artifacts.source(), t, {}, quiet);
    await expect(failure).rejects.toThrow(IntegrityError);
    await expect(failure).rejects.toThrow(/artifact rows\.bin has SHA-256 .* the manifest says/);
    expect(await vector.fingerprint(t)).toEqual(before);

    // Intact bytes that are not a rows stream (written by something else): the parser's own error.
    const foreign = fsArtifacts();
    const header = Buffer.from(pristine.subarray(0, 16));
    header.writeUInt32LE(11, 12);
    await foreign.sink.write('rows.bin', Readable.from([header, Buffer.from('not records')]));
    await foreign.sink.write('definition.json', Readable.from([readArtifact(artifacts, 'definition.json')]));
    const parse = vector.restore(foreign.source(), t, {}, quiet);
    await expect(parse).rejects.toThrow(IntegrityError);
    await expect(parse).rejects.toThrow(/artifact rows\.bin is not a valid vector rows stream: the header is not JSON \(at byte 16\)/);
    expect(await vector.fingerprint(t)).toEqual(before);

    // Into a new database: the failed restore leaves no database behind.
    const fresh = withVectorDatabase(t, `${db}_new`);
    await expect(vector.restore(artifacts.source(), fresh, {}, quiet)).rejects.toThrow(IntegrityError);
    expect(await databaseExists(`${db}_new`)).toBe(false);
  });

  test('a source whose embeddings disagree on the dimension fails the backup, naming the row', async () => {
    const db = await createDatabase('vecmixed');
    await sql(db, 'CREATE TABLE semantic_memory (id int PRIMARY KEY, embedding real[], metadata jsonb)');
    await sql(db, `INSERT INTO semantic_memory VALUES (1, '{1,2,3}', NULL), (2, '{1,2,3}', NULL), (3, '{1,2}', NULL), (4, '{1,2,3}', NULL)`);
    const t = await target(db);
    const artifacts = fsArtifacts();
    const failure = vector.backup(t, artifacts.sink, quiet);
    await expect(failure).rejects.toThrow(InvalidInputError);
    await expect(failure).rejects.toThrow('vector: the embeddings do not share one dimension: row id "3" has 2 elements, row id "1" has 3.');
    expect(artifacts.records.map((r) => r.name)).not.toContain('definition.json');

    await sql(db, `UPDATE semantic_memory SET embedding = '{1,NULL,3}' WHERE id = 3`);
    await expect(vector.backup(t, fsArtifacts().sink, quiet)).rejects.toThrow('the embedding of row id "3" cannot be backed up: it contains NULL elements.');
  });

  test('bad restore options are refused, naming the option', () => {
    const parse = parseVectorRestoreOptions;
    expect(parse({})).toEqual({});
    expect(parse({ targetTable: 'memory.semantic_copy', allowDimensionChange: true, allowModelChange: false })).toEqual({
      targetTable: 'memory.semantic_copy',
      allowDimensionChange: true,
      allowModelChange: false,
    });
    expect(() => parse({ targetTabel: 'x' })).toThrow('vector: options.targetTabel is not a vector restore option.');
    expect(() => parse({ allowDimensionChange: 'yes' })).toThrow('vector: options.allowDimensionChange must be true or false, not "yes".');
    expect(() => parse({ targetTable: 'a.b.c' })).toThrow(/options\.targetTable must be a table name/);
    expect(() => parse({ targetTable: 'bad"name' })).toThrow(InvalidInputError);
    expect(() => vectorEntry.retarget(sample, { targetTable: '' } as never)).toThrow(/options\.targetTable/);
  });

  test('a missing table, a missing connection and an unreachable server are clear errors without secrets', async () => {
    const missing = await target(sampleDb, 'memory.nothing_here');
    await expect(vector.backup(missing, fsArtifacts().sink, quiet)).rejects.toThrow(
      `vector: table memory.nothing_here does not exist in database "${sampleDb}".`,
    );
    await expect(vector.estimate(missing)).rejects.toThrow(InvalidInputError);
    await expect(vector.targetExists(missing)).resolves.toBe(false);
    await expect(connectVector({ database: 'neuroca_db', table: 'semantic_memory' }, {})).rejects.toThrow(/NCA_VECTOR_URL/);
    await expect(connectVector({ database: 'neuroca_db', table: 'a.b.c' }, env())).rejects.toThrow(/sources\.vector\.table/);
    const unreachable = await connectVector({ database: 'neuroca_db', table: 'semantic_memory' }, { NCA_POSTGRES_URL: 'postgres://backup:pw-never-shown@127.0.0.1:1/x' });
    const failure = vector.fingerprint(unreachable);
    await expect(failure).rejects.toThrow(TransientError);
    await expect(failure).rejects.toThrow(/^vector: cannot reach PostgreSQL at 127\.0\.0\.1:1\/neuroca_db/);
    await expect(failure).rejects.not.toThrow(/pw-never-shown/);
  });

  test('versions: the target server must run PostgreSQL 14 or newer', async () => {
    const described = await vector.describe(sample);
    expect(described).toMatchObject({ serverMajor: 15, database: sampleDb, table: 'public.semantic_memory' });
    await expect(vector.checkCompatibility(described, withVectorDatabase(sample, 'does_not_exist_yet'))).resolves.toMatchObject({ targetVersion: described.serverVersion });
  });
});
