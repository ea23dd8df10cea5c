/**
 * The per-table layout (issue 16) against a real PostgreSQL 15: several pg_dump processes reading one
 * exported snapshot, each archive its own artifact, restored table archive by table archive into the
 * staging database. It must give what the single-stream path gives (the same fingerprint, and pg_dump's
 * own text of the restored database equal to the source's), fail as a whole when one stream fails (a
 * typed error, no manifest, no pg_dump left), and leave single-stream backups restorable.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runBackup } from '../../functions/core/backup-run';
import type { EngineContext } from '../../functions/core/context';
import { compareFingerprints } from '../../functions/core/fingerprint-diff';
import { silentLogger as quiet } from '../../functions/core/logger';
import { connectPostgres, postgres, withDatabase, type PostgresTarget } from '../../functions/components/postgres';
import { TABLE_DATA_CONTENT_TYPE, type DumpLayout } from '../../functions/components/postgres/dump-layout';
import type { ArtifactSource, ComponentBackupResult, Fingerprint } from '../../functions/components/types';
import { loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { throttledSource } from '../support/artifact-streams';
import { backupToFs, type FsArtifacts } from '../support/fs-artifacts';
import { createDatabase, sql, testPostgresUrl, urlFor } from '../support/postgres-db';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, listKeys, testS3Client, vaultOf } from '../support/s3';

jest.setTimeout(180_000);

const pgBin = () => process.env.NCA_TEST_PG_BIN_DIR;
const env = () => ({ NCA_POSTGRES_URL: testPostgresUrl(), NCA_PG_BIN_DIR: pgBin() });
const run = promisify(execFile);

// Three streams whatever this machine has: the per-table path needs more than one.
const savedStreams = process.env.NCA_STREAMS;
beforeAll(() => {
  process.env.NCA_STREAMS = '3';
});
afterAll(() => {
  if (savedStreams === undefined) delete process.env.NCA_STREAMS;
  else process.env.NCA_STREAMS = savedStreams;
});

/** The target as connectPostgres makes it, with the switch at `minBytes` (0: always per table). */
async function target(database: string, minBytes?: number): Promise<PostgresTarget> {
  const t = await connectPostgres({ database }, env());
  return minBytes === undefined ? t : { ...t, parallelDumpMinBytes: minBytes };
}

interface Backup {
  artifacts: FsArtifacts;
  result: ComponentBackupResult;
  source: ArtifactSource;
}

async function backupOf(t: PostgresTarget, backupId: string): Promise<Backup> {
  const { artifacts, result } = await backupToFs(postgres, t, quiet);
  return { artifacts, result, source: artifacts.source({ backupId, fingerprint: result.fingerprint, source: result.source }) };
}

const layoutOf = (result: ComponentBackupResult) => result.source.dump as DumpLayout;

/** pg_dump's plain text of a database: an account of what is in it that does not use our fingerprint. */
async function dumpText(database: string): Promise<string> {
  const bin = pgBin() ? join(pgBin()!, 'pg_dump') : 'pg_dump';
  const { stdout } = await run(bin, ['--no-comments', '--dbname', urlFor(database)], { maxBuffer: 256 * 1024 * 1024 });
  // \restrict lines carry a random key per run (pg_dump 15.14+): not content.
  return stdout.replace(/^\\(un)?restrict .*$/gm, '');
}

/** The restored database is named differently: the database-level entries say so, nothing else may differ. */
const withoutDatabase = (fingerprint: Fingerprint) => Object.fromEntries(Object.entries(fingerprint).filter(([key]) => !key.startsWith('database#')));

/** Partitions, enums, identity and serial sequences, a large object, a materialized view, circular foreign keys and names pg_dump's -t patterns could misread. */
const HOSTILE_SQL = `
  CREATE TYPE mood AS ENUM ('calm', 'tense');
  ALTER TYPE mood ADD VALUE 'wary' BEFORE 'tense';
  ---
  CREATE SCHEMA "a.b"; CREATE SCHEMA "a"; CREATE SCHEMA "we""ird"; CREATE SCHEMA "naïve";
  CREATE TABLE "a.b"."c" (id int PRIMARY KEY, m mood);
  CREATE TABLE "a"."b.c" (id int PRIMARY KEY, c_id int REFERENCES "a.b"."c");
  ALTER TABLE "a.b"."c" ADD COLUMN back int REFERENCES "a"."b.c" DEFERRABLE INITIALLY DEFERRED;
  CREATE TABLE "we""ird"."spa ce*?" (v text, n serial);
  CREATE TABLE "we""ird"."spa ceX" (v text);
  CREATE TABLE public."x$[1]|(y)+" (id bigint GENERATED ALWAYS AS IDENTITY, doubled int GENERATED ALWAYS AS (id * 2) STORED);
  CREATE TABLE "naïve"."日本" (v text);
  CREATE TABLE "MixedCase" (id int);
  CREATE TABLE payment (id int, paid date, amount numeric, PRIMARY KEY (id, paid)) PARTITION BY RANGE (paid);
  CREATE TABLE payment_2022_01 PARTITION OF payment FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');
  CREATE TABLE payment_rest PARTITION OF payment DEFAULT;
  CREATE TABLE big (id int PRIMARY KEY, payload text);
  CREATE INDEX big_payload ON big (payload);
  BEGIN;
  INSERT INTO "a.b"."c" SELECT i, (enum_range(NULL::mood))[1 + i % 3], NULL FROM generate_series(1, 300) i;
  INSERT INTO "a"."b.c" SELECT i, i FROM generate_series(1, 300) i;
  UPDATE "a.b"."c" SET back = id WHERE id % 2 = 0;
  COMMIT;
  INSERT INTO "we""ird"."spa ce*?" (v) SELECT 'star ' || i FROM generate_series(1, 50) i;
  INSERT INTO "we""ird"."spa ceX" SELECT 'x ' || i FROM generate_series(1, 7) i;
  INSERT INTO public."x$[1]|(y)+" DEFAULT VALUES; INSERT INTO public."x$[1]|(y)+" DEFAULT VALUES;
  INSERT INTO "naïve"."日本" VALUES ('語');
  INSERT INTO "MixedCase" VALUES (1), (2);
  INSERT INTO payment SELECT i, date '2022-01-01' + i % 90, i / 3.0 FROM generate_series(1, 2000) i;
  INSERT INTO big SELECT i, md5(i::text) || repeat('z', i % 50) FROM generate_series(1, 20000) i;
  CREATE SEQUENCE ticket; SELECT setval('ticket', 42, true);
  SELECT lo_from_bytea(0, convert_to(repeat('large object ', 1000), 'UTF8'));
  CREATE MATERIALIZED VIEW mood_counts AS SELECT m, count(*) AS n FROM "a.b"."c" GROUP BY m;
  COMMENT ON TABLE "we""ird"."spa ce*?" IS 'hostile';
`;

describe('the per-table layout gives what the single-stream path gives', () => {
  test('sample NCA database: both layouts record the same fingerprint; the per-table restore verifies and pg_dump prints it as the source', async () => {
    const db = await createDatabase('par_sample');
    await loadSampleNcaDatabase(urlFor(db), { rows: 3000 });
    const single = await backupOf(await target(db), 'b-single');
    const parallel = await backupOf(await target(db, 0), 'b-parallel');

    expect(layoutOf(single.result)).toEqual({ layout: 'single-stream', compression: 'gzip:1', compressedBy: 'pg_dump' });
    const layout = layoutOf(parallel.result);
    expect(layout).toMatchObject({ layout: 'per-table', compression: 'gzip:1', compressedBy: 'pg_dump', schemaArtifact: `${db}.dump`, streams: 3 });
    // Every table with rows is in exactly one table archive, and every table archive is an artifact.
    const dumped = layout.parts!.flatMap((p) => p.tables).sort();
    expect(dumped).toEqual(expect.arrayContaining(['public.memory_items', 'public.users', 'public.audit_log_2026_01', 'public.audit_log_later']));
    expect(new Set(dumped).size).toBe(dumped.length);
    expect(parallel.result.artifacts.filter((a) => a.contentType === TABLE_DATA_CONTENT_TYPE).map((a) => a.name).sort()).toEqual(layout.parts!.map((p) => p.artifact).sort());
    expect(compareFingerprints(single.result.fingerprint, parallel.result.fingerprint)).toEqual([]);

    const copy = withDatabase(await target(db), `${db}_par`);
    const restored = await postgres.restore(parallel.source, copy, {}, quiet);
    expect(restored.details).toMatchObject({ verifiedBeforeSwap: true });
    expect(Object.keys(restored.details!.timings as object)).toEqual(expect.arrayContaining(['schemaFetchMs', 'loadMs', 'postDataMs', 'rowsMs']));
    expect(restored.details!.tablesReadAsLoaded).toBeGreaterThan(0);
    expect((await postgres.verifyRestore!(single.result.fingerprint, single.source, copy, {}, quiet)).differences).toEqual([]);
    expect(await dumpText(copy.database)).toBe(await dumpText(db));
  });

  test('partitions, enums, sequences, a large object, circular foreign keys and hostile names: same fingerprint as the single-stream restore, same pg_dump text as the source', async () => {
    const db = await createDatabase('par_hostile');
    // A label added by ALTER TYPE can be used only once committed: two batches.
    for (const batch of HOSTILE_SQL.split('---')) await sql(db, batch);
    const t = await target(db, 0);
    const parallel = await backupOf(t, 'b-hostile-par');
    const single = await backupOf(await target(db), 'b-hostile-single');
    const tables = layoutOf(parallel.result).parts!.flatMap((p) => p.tables);
    expect(tables).toEqual(expect.arrayContaining(['we"ird.spa ce*?', 'we"ird.spa ceX', 'public.x$[1]|(y)+', 'naïve.日本', 'a.b.c', 'public.payment_rest']));
    expect(compareFingerprints(single.result.fingerprint, parallel.result.fingerprint)).toEqual([]);

    const viaParallel = withDatabase(t, `${db}_p`);
    const viaSingle = withDatabase(t, `${db}_s`);
    await postgres.restore(parallel.source, viaParallel, {}, quiet);
    await postgres.restore(single.source, viaSingle, {}, quiet);
    expect(compareFingerprints(withoutDatabase(await postgres.fingerprint(viaSingle)), withoutDatabase(await postgres.fingerprint(viaParallel)))).toEqual([]);
    expect(await dumpText(viaParallel.database)).toBe(await dumpText(db));
    expect((await sql(viaParallel.database, `SELECT last_value FROM "we""ird"."spa ce*?_n_seq"`))[0].last_value).toBe('50');
  });
});

describe('a failure in one stream fails the whole backup', () => {
  test('one pg_dump\'s backend ended (pg_terminate_backend) mid-table: a typed error, no manifest, no pg_dump left', async () => {
    const db = await createDatabase('par_fail');
    await sql(db, 'CREATE TABLE small (id int)');
    for (const name of ['bulk_a', 'bulk_b']) {
      await sql(db, `CREATE TABLE ${name} (id int PRIMARY KEY, payload text)`);
      await sql(db, `INSERT INTO ${name} SELECT g, md5(random()::text) || md5(random()::text) || md5(random()::text) FROM generate_series(1, 400000) g`);
    }
    const bucket = await createTestBucket(testS3Client(), 'par-fail');
    const ctx: EngineContext = {
      config: testRuntimeConfig({ bucket, components: { postgres: { group: 'database', source: { database: db } } } }),
      vault: vaultOf(bucket),
      env: { ...process.env, ...env(), NCA_PG_PARALLEL_MIN_BYTES: '0' },
      log: quiet,
      runner: 'test',
      now: () => new Date(),
    };
    const outcome = runBackup(ctx, { component: 'postgres', backupId: '20261201T000000Z-par001', trigger: 'manual' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    let pid: number | undefined;
    for (const deadline = Date.now() + 30_000; pid === undefined && Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      const rows = await sql('postgres', `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'nca-backup/pg_dump' AND query LIKE 'COPY public.bulk_b %'`, [db]);
      pid = rows[0]?.pid;
    }
    expect(pid).toBeDefined();
    await sql('postgres', 'SELECT pg_terminate_backend($1)', [pid]);
    const error = (await outcome) as Error;
    expect(error.name).toBe('ToolError');
    // Ended mid-COPY, pg_dump names the table; if the COPY had just finished, the next query is what fails.
    // How libpq words the lost connection after that (FATAL text, EOF, reset) depends on timing.
    expect(error.message).toMatch(/pg_dump exited with code 1.*(contents of table "bulk_b" failed|query failed)/s);
    expect((await listKeys(testS3Client(), bucket, 'backups/')).filter((key) => key.endsWith('manifest.json'))).toEqual([]);
    // The other streams were stopped with it: nothing keeps reading the source.
    let left: unknown[] = [];
    for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      left = await sql('postgres', `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'nca-backup%'`, [db]);
      if (left.length === 0) break;
    }
    expect(left).toEqual([]);
  });
});

describe('a failure in one restore stream fails the whole restore', () => {
  test('one table archive\'s pg_restore backend ended mid-COPY: ToolError, the other streams stopped, the staging database dropped, the target unchanged', async () => {
    const db = await createDatabase('par_rfail');
    // Two tables above SMALL_TABLE_BYTES: an archive each.
    for (const name of ['bulk_a', 'bulk_b']) {
      await sql(db, `CREATE TABLE ${name} (id int PRIMARY KEY, payload text)`);
      await sql(db, `INSERT INTO ${name} SELECT g, md5(random()::text) || md5(random()::text) FROM generate_series(1, 180000) g`);
    }
    const t = await target(db, 0);
    const backup = await backupOf(t, 'b-rfail');
    expect(layoutOf(backup.result).parts).toHaveLength(2);
    await sql(db, 'DELETE FROM bulk_a WHERE id <= 10');
    const before = await dumpText(db);

    let settled: { error: unknown } | undefined;
    const outcome = postgres.restore(throttledSource(backup.source, 1024 * 1024), t, {}, quiet).then(
      () => void (settled = { error: undefined }),
      (error: unknown) => ((settled = { error }), error),
    );
    let pid: number | undefined;
    // Generous: on a loaded CI machine the schema and pre-data steps can take a while before the first COPY.
    for (const deadline = Date.now() + 90_000; pid === undefined && !settled && Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      // This restore's staging database only, a table archive's COPY.
      const rows = await sql('postgres', `SELECT pid FROM pg_stat_activity WHERE datname LIKE $1 AND application_name = 'nca-backup/pg_restore' AND query LIKE 'COPY %'`, [`${db}\\_nca\\_staging\\_%`]);
      pid = rows[0]?.pid;
    }
    // A restore that ended before any COPY was seen says how here.
    expect({ pid, endedFirst: settled && String((settled.error as Error | undefined)?.message ?? 'succeeded') }).toEqual({ pid: expect.any(Number), endedFirst: undefined });
    await sql('postgres', 'SELECT pg_terminate_backend($1)', [pid]);
    const error = (await outcome) as Error;
    expect(error).toMatchObject({ name: 'ToolError' });
    expect(error.message).toMatch(/pg_restore exited with code 1: .*(terminating connection due to administrator command|server closed the connection)/s);
    expect(error.message).toContain(`The target database "${db}" is unchanged.`);
    expect(await dumpText(db)).toBe(before);
    expect((await sql('postgres', 'SELECT datname FROM pg_database WHERE datname LIKE $1', [`${db}\\_nca\\_%`])).map((r) => r.datname)).toEqual([]);
  });
});

describe('single-stream backups still restore', () => {
  test('a backup of the single-stream layout, with a manifest from before the layout was recorded, restores in place and verifies', async () => {
    const db = await createDatabase('par_old');
    await loadSampleNcaDatabase(urlFor(db), { rows: 500 });
    const t = await target(db);
    const { artifacts, result } = await backupToFs(postgres, t, quiet);
    expect(artifacts.records.map((r) => r.contentType)).not.toContain(TABLE_DATA_CONTENT_TYPE);
    const { dump: _layout, ...oldSource } = result.source;
    const source = artifacts.source({ backupId: 'b-old', fingerprint: result.fingerprint, source: { ...oldSource, database: db } });
    const before = await dumpText(db);
    await sql(db, 'DELETE FROM memory_links');
    const restored = await postgres.restore(source, t, { keepPreviousHours: 0 }, quiet);
    expect(restored).toMatchObject({ replacedExisting: true, details: { verifiedBeforeSwap: true } });
    expect(Object.keys(restored.details!.timings as object)).not.toContain('schemaFetchMs');
    expect(await dumpText(db)).toBe(before);
  });
});
