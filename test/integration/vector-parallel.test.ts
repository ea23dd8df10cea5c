/**
 * The vector component's parallel paths against the run's real PostgreSQL 15: rows read by several
 * connections sharing one exported snapshot, and the restore's binary COPY. Each is compared with the
 * single-cursor path and, independently of the component, with an md5 over the rows' text computed by
 * the server on source and restored table. Failures are injected for real: a reader's backend and the
 * restore's COPY backend are terminated with pg_terminate_backend.
 *
 * The pgvector cases run where the extension is installed (built as TESTING.md describes); elsewhere
 * they are skipped, and say so in their title.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { vector, connectVector, withTable, withVectorDatabase, vectorFormat, type VectorTarget } from '../../functions/components/vector';
import { withVectorClient } from '../../functions/components/vector/connection';
import { fingerprintLive } from '../../functions/components/vector/live-fingerprint';
import { backupVector } from '../../functions/components/vector/backup';
import { InvalidInputError, TransientError } from '../../functions/core/errors';
import type { ArtifactSink, ArtifactSource } from '../../functions/components/types';
import { fsArtifacts, readArtifact, type FsArtifacts } from '../support/fs-artifacts';
import { createDatabase, pgvectorInstalled, sql, testPostgresUrl } from '../support/postgres-db';
import { silentLogger as quiet } from '../../functions/core/logger';
import { runBackup } from '../../functions/core/backup-run';
import type { EngineContext } from '../../functions/core/context';
import type { BackupVault } from '../../functions/core/storage';
import { listKeys, testVault } from '../support/s3';
import { testRuntimeConfig } from '../support/runtime-config';

const env = () => ({ NCA_VECTOR_URL: testPostgresUrl() });
const target = (database: string, table = 'memory_items') => connectVector({ database, table }, env());

const PGVECTOR = pgvectorInstalled();
const describePgvector = PGVECTOR ? describe : describe.skip;

/** The NCA's memory table (Neuroca's SQL backend: memory_items), the embedding as real[] or vector(n). */
const memoryTable = (embedding: string) => `
  CREATE TABLE memory_items (
    id text PRIMARY KEY,
    content jsonb NOT NULL,
    summary text,
    embedding ${embedding},
    metadata jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_accessed timestamptz NOT NULL DEFAULT now(),
    access_count integer NOT NULL DEFAULT 0,
    decay_factor double precision DEFAULT 1.0,
    source text,
    associations jsonb
  );
  CREATE INDEX memory_items_tags ON memory_items USING gin ((metadata -> 'tags'));
  CREATE INDEX memory_items_created_at ON memory_items (created_at)`;

const DIMENSION = 32;

/** `rows` ordinary memories, then the hostile ones: extreme floats, NULLs, unicode, odd timestamps. */
async function loadMemories(database: string, rows: number, options: { pgvector?: boolean; nanAt?: number } = {}): Promise<void> {
  await sql(database, memoryTable(options.pgvector ? `vector(${DIMENSION})` : 'real[]'));
  const cast = options.pgvector ? `::vector(${DIMENSION})` : '';
  await sql(
    database,
    `INSERT INTO memory_items (id, content, summary, embedding, metadata, created_at, last_accessed, access_count, decay_factor, source, associations)
     SELECT 'mem-' || lpad(g.i::text, 6, '0'),
            jsonb_build_object('text', 'memory ' || g.i, 'role', 'user'),
            'summary ' || g.i,
            (SELECT array_agg(((random() - 0.5) * 2)::real) FROM generate_series(1, $1) WHERE g.i > 0)${options.pgvector ? '::real[]::vector' : ''},
            jsonb_build_object('embedding_model', 'all-MiniLM-L6-v2', 'tags', jsonb_build_array('t' || (g.i % 7)), 'importance', round(random()::numeric, 3)),
            timestamptz '2026-01-01 00:00:00+00' + g.i * interval '1 minute 0.000001 second',
            timestamptz '2026-02-01 00:00:00+00' + g.i * interval '1 second',
            g.i, 1.0 / g.i, CASE WHEN g.i % 3 = 0 THEN NULL ELSE 'chat' END,
            CASE WHEN g.i % 5 = 0 THEN jsonb_build_array('mem-' || lpad((g.i - 1)::text, 6, '0')) END
     FROM generate_series(1, $2) AS g(i)`,
    [DIMENSION, rows],
  );
  const floats = (values: string[]) => `{${Array.from({ length: DIMENSION }, (_, i) => values[i % values.length]).join(',')}}`;
  const hostile: [string, string | null, string, string, string | null][] = [
    // id, embedding, metadata, created_at, decay_factor
    ['é-naïve', floats(['1.4e-45', '-1.4e-45', '1e-40', '3.4028235e38', '-3.4028235e38', '-0', '0']), '{"text": "naïve 日本語 🧠 \\u202e rtl \\\\ \\" \\t", "embedding_model": "m"}', 'infinity', 'NaN'],
    ['日本', null, '{"nested": {"deep": [1e308, -1e-308, null, true]}, "embedding_model": null}', '-infinity', '-0'],
    ['🧠-emoji', floats(['1.17549435e-38', '0.1', '0.3333333', '16777217']), '{}', '0044-03-15 12:00:00+00 BC', 'Infinity'],
    ['', floats(['1']), '{"empty id": ""}', '294276-12-31 23:59:59.999999+00', '5e-324'],
    ['zz-last', floats(['-1e-30', '1e30']), 'null', '2000-01-01 00:00:00+00', '1.7976931348623157e308'],
  ];
  for (const [id, embedding, metadata, created, decay] of hostile) {
    await sql(
      database,
      `INSERT INTO memory_items (id, content, summary, embedding, metadata, created_at, access_count, decay_factor, associations)
       VALUES ($1, '{"text": "x"}', $2, $3::real[]${cast}, $4::jsonb, $5::timestamptz, -2147483648, $6::float8, '[[], {}]')`,
      [id, `summary with 'quotes', \\backslash, tab\tand\nnewline and unicode ∑`, embedding, metadata, created, decay],
    );
  }
  if (options.nanAt !== undefined) {
    await sql(database, `UPDATE memory_items SET embedding[3] = 'NaN' WHERE id = 'mem-' || lpad($1::text, 6, '0')`, [options.nanAt]);
  }
}

/** The server's own digest of every row's text, in id order: independent of the component's fingerprint. */
async function tableMd5(database: string, table = 'memory_items'): Promise<string> {
  const [row] = await sql(database, `SELECT md5(string_agg(t::text, ',' ORDER BY id)) AS md5, count(*)::int AS n FROM ${table} t`);
  return `${row.n}:${row.md5}`;
}

/** Every row's embedding bits (array_send): text output cannot show NaN payloads. */
async function embeddingBits(database: string, table = 'memory_items'): Promise<string> {
  const [row] = await sql(database, `SELECT md5(string_agg(id || ':' || coalesce(encode(array_send(embedding::real[]), 'hex'), 'null'), ',' ORDER BY id)) AS md5 FROM ${table}`);
  return row.md5;
}

async function backupWith(t: VectorTarget, streams: number, sink?: (artifacts: FsArtifacts) => ArtifactSink, artifacts = fsArtifacts()) {
  const result = await backupVector(t, sink ? sink(artifacts) : artifacts.sink, quiet, { streams, rowsPerRange: 7 });
  return { artifacts, result };
}

/** Terminates the backends `where` matches in `database`, waiting for one to appear (a connection being opened). */
async function terminate(database: string, where: string): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const rows = await sql(database, `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND ${where}`);
    if (rows.length > 0) return;
    await sleep(20);
  }
  throw new Error(`no backend where ${where}`);
}

/** Passes bytes through; once `after` bytes have passed, awaits `hook` before letting more through. */
function pauseAfter(after: number, hook: () => Promise<void>): Transform {
  let passed = 0;
  let fired = false;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      passed += chunk.length;
      if (fired || passed < after) return callback(null, chunk);
      fired = true;
      hook().then(() => callback(null, chunk), callback);
    },
  });
}

function pipedFailing(from: Readable, to: Transform): Transform {
  from.on('error', (error) => to.destroy(error));
  return from.pipe(to);
}

const readerBackends = async (database: string) =>
  (await sql(database, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'nca-backup vector reader%'`))[0].n;

describe('vector rows read in parallel', () => {
  let db: string;
  let source: VectorTarget;

  beforeAll(async () => {
    db = await createDatabase('vecpar');
    await loadMemories(db, 600, { nanAt: 300 });
    source = await target(db);
  });

  test('several readers on one snapshot write the same rows.bin and fingerprint as one cursor, and binary COPY restores the same table', async () => {
    const single = await backupWith(source, 1);
    const parallel = await backupWith(source, 3);
    expect(single.result.report).toMatchObject({ readers: 1, singleStreamReason: 'one stream is configured' });
    expect(parallel.result.report).toMatchObject({ readers: 3, idRanges: Math.ceil(605 / 7) });
    expect(parallel.result.consistency.method).toMatch(/3 connections sharing its exported snapshot/);
    expect(parallel.result.fingerprint).toEqual(single.result.fingerprint);
    expect(parallel.artifacts.records.map((r) => [r.name, r.sha256])).toEqual(single.artifacts.records.map((r) => [r.name, r.sha256]));
    expect(parallel.result.source).toMatchObject({ rows: 605, dimension: DIMENSION });

    const restoredDb = `${db}_restored`;
    const into = withVectorDatabase(source, restoredDb);
    const restored = await vector.restore(parallel.artifacts.source(), into, {}, quiet);
    expect(restored.details).toMatchObject({ rows: 605, load: 'copy-binary', createdDatabase: true, indexesCreated: ['memory_items_created_at', 'memory_items_tags'] });
    expect(await tableMd5(restoredDb)).toBe(await tableMd5(db));
    expect(await embeddingBits(restoredDb)).toBe(await embeddingBits(db));
    expect(await vector.fingerprint(into)).toEqual(parallel.result.fingerprint);
    expect(await vector.verifyRestore!(parallel.result.fingerprint, parallel.artifacts.source(), into, {}, quiet)).toMatchObject({ differences: [] });
  });

  test('the live fingerprint (vector.fingerprint, post-restore verification) reads by several connections and equals the one-cursor one and the backup\'s', async () => {
    const { result } = await backupWith(source, 1);
    const one = await withVectorClient(source, (client) => fingerprintLive(client, source, { streams: 1 }));
    const three = await withVectorClient(source, (client) => fingerprintLive(client, source, { streams: 3, rowsPerRange: 7 }));
    expect([one.readers, three.readers]).toEqual([1, 3]);
    expect(three.fingerprint).toEqual(one.fingerprint);
    expect(three.fingerprint).toEqual(result.fingerprint);
    expect(three.stats.rows).toBe(605);
    expect(await readerBackends(db)).toBe(0);
  });

  test('a reader the server refuses (the role\'s connection limit) fails the fingerprint and the backup with a typed error naming the reader; no reader is left', async () => {
    // A role allowed two connections: the coordinator and one reader; the other readers are refused (53300).
    const role = `vec_limited_${Math.random().toString(36).slice(2, 8)}`;
    await sql(db, `CREATE ROLE ${role} LOGIN CONNECTION LIMIT 2`);
    await sql(db, `GRANT SELECT ON memory_items TO ${role}`);
    const url = new URL(testPostgresUrl());
    url.username = role;
    const limited = await connectVector({ database: db, table: 'memory_items' }, { NCA_VECTOR_URL: url.toString() });
    const attempt = withVectorClient(limited, (client) => fingerprintLive(client, limited, { streams: 3, rowsPerRange: 7 }));
    await expect(attempt).rejects.toThrow(TransientError);
    await expect(attempt).rejects.toThrow(/fingerprint: reader \d of 3 \(starting\) of .* failed: cannot reach PostgreSQL at .* \(53300: too many connections for role "vec_limited_\w+"\)/);
    await expect(attempt).rejects.toThrow(/the fingerprint can be taken again/);
    expect(await readerBackends(db)).toBe(0);
    // The backup's readers are refused the same way: the backup fails (it used to wait for them for ever).
    const artifacts = fsArtifacts();
    const backup = backupWith(limited, 3, undefined, artifacts);
    await expect(backup).rejects.toThrow(TransientError);
    await expect(backup).rejects.toThrow(/backup: reader \d of 3 \(starting\) of .* failed: cannot reach PostgreSQL .*53300: too many connections for role/);
    expect(artifacts.records.map((r) => r.name)).not.toContain('definition.json');
    expect(await readerBackends(db)).toBe(0);
    // One cursor fits the limit and gives the same fingerprint.
    expect((await withVectorClient(limited, (client) => fingerprintLive(client, limited, { streams: 1 }))).fingerprint).toEqual((await backupWith(source, 1)).result.fingerprint);
  });

  test('a table without a one-column primary key keeps the single cursor and says why', async () => {
    const other = await createDatabase('vecnokey');
    await sql(other, `CREATE TABLE memory_items (tenant int, id text, embedding real[], PRIMARY KEY (tenant, id))`);
    await sql(other, `INSERT INTO memory_items SELECT g % 2, 'm' || g, ARRAY[g, -g]::real[] FROM generate_series(1, 40) g`);
    const { result } = await backupWith(await target(other), 3);
    expect(result.report).toMatchObject({ readers: 1, singleStreamReason: 'the primary key is (tenant, id), not the one column id' });
    expect(result.fingerprint.rows.count).toBe(40);
  });

  test('a reader whose backend is terminated fails the backup with TransientError; nothing after rows.bin is written, no reader is left', async () => {
    // Rows enough that reader 2 still has ranges to read when the paused writer's buffers are full.
    const bigDb = await createDatabase('vecreaderkill');
    await loadMemories(bigDb, 20000);
    const big = await target(bigDb);
    let killed = false;
    const sink = (artifacts: FsArtifacts): ArtifactSink => ({
      backupId: artifacts.sink.backupId,
      write(name, body, options) {
        if (name !== 'rows.bin') return artifacts.sink.write(name, body, options);
        const paused = pipedFailing(
          body,
          pauseAfter(1, async () => {
            await terminate(bigDb, `application_name = 'nca-backup vector reader 2 of 3'`);
            killed = true;
          }),
        );
        return artifacts.sink.write(name, paused, options);
      },
    });
    const artifacts = fsArtifacts();
    const attempt = backupWith(big, 3, sink, artifacts);
    await expect(attempt).rejects.toThrow(TransientError);
    await expect(attempt).rejects.toThrow(/reader 2 of 3 .*terminating connection due to administrator command \(57P01\)/);
    expect(killed).toBe(true);
    expect(await readerBackends(bigDb)).toBe(0);
    // No result, so the engine writes no manifest; and the definition, written after the rows, never was.
    expect(artifacts.records.map((r) => r.name)).not.toContain('definition.json');
  });

  test('through the engine: a reader terminated mid-backup fails runBackup with TransientError, and the vault holds no manifest and none of its objects', async () => {
    const engineDb = await createDatabase('vecengine');
    // Rows enough that reader 2 still has ranges to read when the paused writer's buffers are full.
    await loadMemories(engineDb, 20000);
    const { vault, client, bucket } = await testVault();
    const pausing: BackupVault = Object.create(vault);
    pausing.writeStream = (key, body, contentType) =>
      vault.writeStream(key, key.endsWith('/rows.bin') ? pipedFailing(body, pauseAfter(1, () => terminate(engineDb, `application_name = 'nca-backup vector reader 2 of 3'`))) : body, contentType);
    const ctx: EngineContext = {
      config: testRuntimeConfig({ bucket, components: { vector: { group: 'database', source: { database: engineDb, table: 'memory_items' } } } }),
      vault: pausing,
      env: { ...process.env, NCA_VECTOR_URL: testPostgresUrl() },
      log: quiet,
      runner: 'test',
      now: () => new Date(),
    };
    const saved = process.env.NCA_STREAMS;
    process.env.NCA_STREAMS = '3';
    try {
      const attempt = runBackup(ctx, { component: 'vector', backupId: '20261201T000000Z-vec0001', trigger: 'manual' });
      await expect(attempt).rejects.toThrow(TransientError);
      await expect(attempt).rejects.toThrow(/reader 2 of 3/);
    } finally {
      if (saved === undefined) delete process.env.NCA_STREAMS;
      else process.env.NCA_STREAMS = saved;
    }
    expect(await listKeys(client, bucket, '')).toEqual([]);
    expect(await readerBackends(engineDb)).toBe(0);
  });

  test('a restore whose COPY backend is terminated mid-stream fails with TransientError and leaves the table as it was', async () => {
    const { artifacts } = await backupWith(source, 3);
    const victimDb = await createDatabase('veccopykill');
    await loadMemories(victimDb, 50);
    const victim = await target(victimDb);
    const before = await tableMd5(victimDb);
    const rowsBytes = artifacts.records.find((r) => r.name === 'rows.bin')!.bytes;
    const inner = artifacts.source();
    const killing: ArtifactSource = {
      ...inner,
      open: (name) => (name === 'rows.bin' ? pipedFailing(inner.open(name), pauseAfter(rowsBytes / 2, () => terminate(victimDb, `query LIKE 'COPY %'`))) : inner.open(name)),
    };
    const attempt = vector.restore(killing, victim, {}, quiet);
    await expect(attempt).rejects.toThrow(TransientError);
    await expect(attempt).rejects.toThrow(/the target is as it was/);
    expect(await tableMd5(victimDb)).toBe(before);
    const indexes = await sql(victimDb, `SELECT indexname FROM pg_indexes WHERE tablename = 'memory_items' ORDER BY 1`);
    expect(indexes.map((r) => r.indexname)).toEqual(['memory_items_created_at', 'memory_items_pkey', 'memory_items_tags']);
  });

  test('a column type binary COPY is not written for, and a value its encoder cannot read, load with INSERTs', async () => {
    const other = await createDatabase('vecinsert');
    await sql(other, `CREATE TYPE mood AS (label text, score numeric); CREATE TABLE memory_items (id text PRIMARY KEY, embedding real[], metadata jsonb, feeling mood, seen timestamptz)`);
    await sql(other, `INSERT INTO memory_items SELECT 'm' || g, ARRAY[g, 1.0 / g]::real[], '{"embedding_model": "m"}', ROW('calm ' || g, g / 3.0)::mood, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 hour' FROM generate_series(1, 30) g`);
    const t = await target(other);
    const before = await tableMd5(other);
    const { artifacts, result } = await backupWith(t, 2);
    const restored = await vector.restore(artifacts.source(), withTable(t, { schema: 'public', table: 'copied' }), { targetTable: 'copied' }, quiet);
    expect(restored.details).toMatchObject({ load: 'insert', insertReason: 'column feeling has type mood, which binary COPY is not written for here' });
    expect(await tableMd5(other, 'copied')).toBe(before);

    // The same rows with one timestamp in a form the server reads but the binary encoder does not (not UTC).
    await sql(other, 'ALTER TABLE memory_items DROP COLUMN feeling');
    const plain = await backupWith(t, 2);
    const decoder = new vectorFormat.RowsDecoder();
    decoder.push(readArtifact(plain.artifacts, 'rows.bin'));
    const records: vectorFormat.VectorRecord[] = [];
    for (let r = decoder.next(); r !== undefined; r = decoder.next()) records.push(r);
    records[4] = { ...records[4], extras: ['2026-01-01 05:00:00+05'] };
    const crafted = fsArtifacts();
    const definition = JSON.parse(readArtifact(plain.artifacts, 'definition.json').toString());
    const body = [vectorFormat.encodeHeader(vectorFormat.rowsHeaderOf(definition)), ...records.map((r) => vectorFormat.frameBody(vectorFormat.encodeBody(r, 'float4'))), vectorFormat.encodeTrailer(records.length)];
    await crafted.sink.write('rows.bin', Readable.from([Buffer.concat(body)]));
    await crafted.sink.write('definition.json', Readable.from([readArtifact(plain.artifacts, 'definition.json')]));
    const fallback = await vector.restore(crafted.source(), withTable(t, { schema: 'public', table: 'fallback' }), { targetTable: 'fallback' }, quiet);
    expect(fallback.details).toMatchObject({ load: 'insert', insertReason: expect.stringMatching(/2026-01-01 05:00:00\+05" is not an ISO timestamp in UTC/) });
    const [moved] = await sql(other, `SELECT seen = timestamptz '2026-01-01 00:00:00+00' AS same, (SELECT count(*)::int FROM fallback) AS n FROM fallback WHERE id = $1`, [records[4].id]);
    expect(moved).toEqual({ same: true, n: 30 });
    expect(result.fingerprint.rows.count).toBe(30);
  });
});

describe('backups written before the parallel paths', () => {
  test('a rows.bin written by one cursor (test/fixtures/vector/v1) restores by binary COPY to the same rows and fingerprint', async () => {
    const dir = join(__dirname, '..', 'fixtures', 'vector', 'v1');
    const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
    const artifacts = fsArtifacts();
    for (const name of ['rows.bin', 'definition.json']) await artifacts.sink.write(name, createReadStream(join(dir, name)));
    const db = await createDatabase('vecv1');
    const into = await target(db);
    const restored = await vector.restore(artifacts.source(), into, {}, quiet);
    expect(restored.details).toMatchObject({ rows: expected.source.rows, load: 'copy-binary', createdDatabase: false });
    expect(await vector.fingerprint(into)).toEqual(expected.fingerprint);
    const [row] = await sql(
      db,
      `SELECT count(*) || ':' || md5(string_agg(row(id, content, summary, embedding, metadata, created_at AT TIME ZONE 'UTC', access_count, decay_factor, source, associations)::text, ',' ORDER BY id)) AS md5 FROM memory_items`,
    );
    expect(row.md5).toBe(expected.tableMd5);
    // And the parallel backup of what was restored writes that very rows.bin again.
    const again = await backupWith(into, 3);
    expect(readArtifact(again.artifacts, 'rows.bin').equals(readFileSync(join(dir, 'rows.bin')))).toBe(true);
  });
});

describePgvector(`vector rows in pgvector columns${PGVECTOR ? '' : ' (skipped: pgvector is not installed on this machine)'}`, () => {
  test('pgvector refuses NaN, so a vector(n) table holds none; parallel backup and binary COPY restore give the same table', async () => {
    const db = await createDatabase('vecpgv');
    await sql(db, 'CREATE EXTENSION vector');
    await expect(sql(db, `SELECT '[NaN, 1]'::vector`)).rejects.toThrow(/NaN not allowed in vector/);
    await loadMemories(db, 300, { pgvector: true });
    await sql(db, `CREATE INDEX memory_items_embedding ON memory_items USING hnsw (embedding vector_cosine_ops)`);
    const source = await target(db);
    const single = await backupWith(source, 1);
    const parallel = await backupWith(source, 3);
    expect(parallel.result.fingerprint).toEqual(single.result.fingerprint);
    expect(parallel.result.source).toMatchObject({ embeddingKind: 'pgvector', dimension: DIMENSION, rows: 305 });

    const restoredDb = await createDatabase('vecpgvrestored');
    await sql(restoredDb, 'CREATE EXTENSION vector');
    const into = withVectorDatabase(source, restoredDb);
    const restored = await vector.restore(parallel.artifacts.source(), into, {}, quiet);
    expect(restored.details).toMatchObject({ load: 'copy-binary', embeddingKind: 'pgvector', indexesCreated: ['memory_items_created_at', 'memory_items_embedding', 'memory_items_tags'] });
    expect(await tableMd5(restoredDb)).toBe(await tableMd5(db));
    expect(await vector.fingerprint(into)).toEqual(parallel.result.fingerprint);
  });

  test('a NaN reaching a vector column mid-COPY fails the restore and leaves the table it would replace as it was', async () => {
    const db = await createDatabase('vecnan');
    await loadMemories(db, 400, { nanAt: 200 });
    const { artifacts } = await backupWith(await target(db), 2);

    const victimDb = await createDatabase('vecnanvictim');
    await sql(victimDb, 'CREATE EXTENSION vector');
    await loadMemories(victimDb, 20, { pgvector: true });
    const before = await tableMd5(victimDb);
    const attempt = vector.restore(artifacts.source(), await target(victimDb), {}, quiet);
    await expect(attempt).rejects.toThrow(InvalidInputError);
    await expect(attempt).rejects.toThrow(/NaN not allowed in vector/);
    expect(await tableMd5(victimDb)).toBe(before);
    expect((await sql(victimDb, `SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'memory_items'::regclass AND attname = 'embedding'`))[0].type).toBe(`vector(${DIMENSION})`);
  });
});
