/**
 * The PostgreSQL fingerprint against the run's real PostgreSQL 15 and pg_dump/pg_restore: equal after a
 * restore although OIDs change (enums, enum arrays, domains, composites, reg* values), unambiguous keys
 * for hostile names, and every facet (sequences, large objects, materialized views, functions, comments,
 * grants, database settings) seeing a change. Equality is cross-checked with pg_dump's own text, which
 * does not use our code.
 */
import { execFile } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectPostgres, postgres, withDatabase, type PostgresTarget } from '../../functions/components/postgres';
import { fingerprintDatabase, fingerprintInTransaction, isPrivilegesKey } from '../../functions/components/postgres/fingerprint';
import { dumpedSequences, parseDumpedSequences, readTableOfContents } from '../../functions/components/postgres/archive';
import type { Fingerprint } from '../../functions/components/types';
import { compareFingerprints } from '../../functions/core/fingerprint-diff';
import { backupToFs, type FsArtifacts } from '../support/fs-artifacts';
import { createDatabase, sql, testPostgresUrl, urlFor } from '../support/postgres-db';
import { Client } from 'pg';
import { silentLogger as quiet } from '../../functions/core/logger';

const run = promisify(execFile);
const env = () => ({ NCA_POSTGRES_URL: testPostgresUrl(), NCA_PG_BIN_DIR: process.env.NCA_TEST_PG_BIN_DIR });
const target = (database: string) => connectPostgres({ database }, env());
const tool = (name: string) => (process.env.NCA_TEST_PG_BIN_DIR ? join(process.env.NCA_TEST_PG_BIN_DIR, name) : name);


/** Roles are cluster-wide: unique names keep reruns apart. */
const suffix = Math.random().toString(16).slice(2, 8);
const READER = `fp_reader_${suffix}`;
const OWNER = `fp_owner_${suffix}`;

beforeAll(async () => {
  await sql('postgres', `CREATE ROLE ${READER}`);
  await sql('postgres', `CREATE ROLE ${OWNER}`);
});

const backupOf = (t: PostgresTarget) => backupToFs(postgres, t, quiet);

/** The product's restore path, into a database that does not exist yet. */
async function restoreAsNew(artifacts: FsArtifacts, source: PostgresTarget): Promise<PostgresTarget> {
  const copy = withDatabase(source, `${source.database}_copy`);
  await postgres.restore(artifacts.source(), copy, {}, quiet);
  return copy;
}

/** The component's restore drops owners and grants and cannot carry database-level facts under a new name (yet). */
const withoutOwnershipAndDatabase = (fingerprint: Fingerprint) =>
  Object.fromEntries(Object.entries(fingerprint).filter(([key]) => !isPrivilegesKey(key) && !key.startsWith('database#')));

const changedKeys = (before: Fingerprint, after: Fingerprint) => compareFingerprints(before, after).map((d) => d.object);

/** pg_dump's plain text of a database: an independent account of what is in it. */
async function dumpText(database: string, ...options: string[]): Promise<string> {
  const { stdout } = await run(tool('pg_dump'), [...options, '--dbname', urlFor(database)], { maxBuffer: 256 * 1024 * 1024 });
  // \restrict and \unrestrict carry a random key per run (pg_dump 15.14 and later).
  return stdout.replace(/^\\(un)?restrict .*$/gm, '');
}

/** Objects whose hash depends on OIDs, partitions, inheritance, a materialized view, sequences, large objects, functions, comments, grants. */
const FEATURES_SQL = `
  CREATE SCHEMA app;
  CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
  -- a label added later sorts between others (a fractional sort order) and can only be used once committed
  ALTER TYPE app.mood ADD VALUE 'calm' BEFORE 'ok';
  ---
  CREATE DOMAIN app.strong_mood AS app.mood CHECK (VALUE <> 'sad');
  CREATE TYPE app.reading AS (m app.mood, at timestamptz, note text);
  CREATE TYPE app.span AS RANGE (subtype = float8);
  CREATE FUNCTION app.touch(n integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT n + 1';
  CREATE PROCEDURE app.noop() LANGUAGE plpgsql AS $$BEGIN NULL; END$$;
  CREATE AGGREGATE app.concat_all(text) (sfunc = textcat, stype = text, initcond = '');

  CREATE TABLE app.events (id bigint GENERATED ALWAYS AS IDENTITY, at date NOT NULL, kind app.mood, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
  CREATE TABLE app.events_2025 PARTITION OF app.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
  CREATE TABLE app.events_2026 PARTITION OF app.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
  INSERT INTO app.events (at, kind) SELECT date '2025-06-01' + i, (enum_range(NULL::app.mood))[1 + i % 4] FROM generate_series(0, 399) AS i;

  CREATE TABLE app.diary (
    id int PRIMARY KEY, m app.mood NOT NULL, ms app.mood[], s app.strong_mood, r app.reading, rs app.reading[],
    rel regclass, typ regtype, fn regprocedure, sp app.span, doc json, pt point, tags text[], n numeric, b bytea);
  INSERT INTO app.diary
  SELECT i, (enum_range(NULL::app.mood))[1 + i % 4],
         ARRAY[(enum_range(NULL::app.mood))[1 + i % 4], 'happy']::app.mood[],
         CASE WHEN i % 3 = 0 THEN NULL ELSE (ARRAY['ok', 'happy', 'calm'])[1 + i % 3]::app.strong_mood END,
         ROW((enum_range(NULL::app.mood))[1 + (i + 1) % 4], timestamptz '2026-01-01 00:00:00+00' + i * interval '1 hour', 'note ' || i)::app.reading,
         ARRAY[ROW('sad', NULL, NULL)::app.reading],
         (ARRAY['app.diary', 'pg_catalog.pg_class', 'app.events'])[1 + i % 3]::regclass,
         (ARRAY['app.mood', 'integer', 'app.reading'])[1 + i % 3]::regtype,
         'app.touch(integer)'::regprocedure,
         app.span(i, i + 1.5), json_build_object('i', i), point(i, -i), ARRAY['t' || i, 'x'], i / 7.0, decode(md5(i::text), 'hex')
  FROM generate_series(1, 500) AS i;

  CREATE TABLE app.base (id int, m app.mood);
  CREATE TABLE app.child (extra text) INHERITS (app.base);
  INSERT INTO app.base VALUES (1, 'ok'), (2, 'sad');
  INSERT INTO app.child VALUES (3, 'happy', 'x');

  CREATE INDEX diary_m ON app.diary (m);
  ALTER TABLE app.diary ADD CONSTRAINT diary_id_positive CHECK (id > 0);
  CREATE FUNCTION app.stamp() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
  CREATE TRIGGER diary_stamp BEFORE UPDATE ON app.diary FOR EACH ROW EXECUTE FUNCTION app.stamp();
  ALTER TABLE app.diary ENABLE ROW LEVEL SECURITY;
  CREATE POLICY cheerful ON app.diary FOR SELECT TO ${READER} USING (m <> 'sad');

  CREATE MATERIALIZED VIEW app.mood_counts AS SELECT m, count(*) AS n FROM app.diary GROUP BY m;
  CREATE MATERIALIZED VIEW app.later AS SELECT 1 AS one WITH NO DATA;
  CREATE VIEW app.happy AS SELECT id, m FROM app.diary WHERE m = 'happy';

  CREATE SEQUENCE app.ticket;
  SELECT setval('app.ticket', 42, true);
  CREATE SEQUENCE app.pending;
  SELECT setval('app.pending', 7, false);

  SELECT lo_from_bytea(424242, '\\x00ff10'::bytea);
  SELECT lo_from_bytea(424243, convert_to(repeat('large object ', 200000), 'UTF8'));

  CREATE EXTENSION postgres_fdw;
  CREATE SERVER elsewhere FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '1', dbname 'nowhere');
  CREATE FOREIGN TABLE app.remote (id int, m app.mood) SERVER elsewhere;

  COMMENT ON SCHEMA app IS 'the application';
  COMMENT ON TABLE app.diary IS 'one row per day';
  COMMENT ON COLUMN app.diary.m IS 'how it felt';
  COMMENT ON TYPE app.mood IS 'feelings';
  COMMENT ON FUNCTION app.touch(integer) IS 'adds one';
  COMMENT ON LARGE OBJECT 424242 IS 'three bytes';
  COMMENT ON MATERIALIZED VIEW app.mood_counts IS 'per mood';

  ALTER TABLE app.base OWNER TO ${OWNER};
  GRANT USAGE ON SCHEMA app TO ${READER};
  GRANT SELECT ON app.diary TO ${READER};
  GRANT SELECT (id, at) ON app.events TO ${READER};
  GRANT USAGE ON SEQUENCE app.ticket TO ${READER};
  REVOKE EXECUTE ON FUNCTION app.touch(integer) FROM PUBLIC;
  GRANT EXECUTE ON FUNCTION app.touch(integer) TO ${READER};
  GRANT SELECT ON LARGE OBJECT 424242 TO ${READER};
  ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO ${READER};
`;

async function featuresDatabase(label: string): Promise<string> {
  const db = await createDatabase(label);
  for (const part of FEATURES_SQL.split('---')) await sql(db, part);
  await sql(db, `ALTER DATABASE "${db}" SET work_mem = '8MB'`);
  await sql(db, `COMMENT ON DATABASE "${db}" IS 'features'`);
  await sql(db, `GRANT CONNECT ON DATABASE "${db}" TO ${READER}`);
  return db;
}

describe('the postgres fingerprint holds across a restore', () => {
  test('enums, enum arrays, domains and composites over enums, reg* values: backup, restore into a new database, equal fingerprints and equal pg_dump text', async () => {
    const db = await featuresDatabase('features');
    const source = await target(db);
    const { artifacts, result } = await backupOf(source);

    const expected = result.fingerprint;
    expect(expected['table "app"."diary"'].count).toBe(500);
    expect(expected['table "app"."events_2025"'].count + expected['table "app"."events_2026"'].count).toBe(400);
    // A partitioned parent holds no rows of its own; an inheritance parent counts only its own.
    expect(expected['table "app"."events"']).toBeUndefined();
    expect(expected['table "app"."events"#columns'].count).toBe(3);
    expect(expected['table "app"."base"'].count).toBe(2);
    // A materialized view counts as populated (1) or not (0): its rows are the REFRESH's, not the dump's.
    expect(expected['materialized view "app"."mood_counts"'].count).toBe(1);
    expect(expected['materialized view "app"."later"'].count).toBe(0);
    expect(expected['view "app"."happy"'].count).toBe(2);
    expect(expected['foreign table "app"."remote"#columns'].count).toBe(2);
    expect(expected['foreign table "app"."remote"']).toBeUndefined();
    expect(expected['large objects'].count).toBe(2);
    for (const key of [
      'sequence "app"."ticket"', 'sequence "app"."pending"', 'sequence "app"."events_id_seq"', 'sequence "app"."ticket"#definition',
      'function "app"."touch"(integer)', 'procedure "app"."noop"()', 'aggregate "app"."concat_all"(pg_catalog.text)',
      'type "app"."mood"', 'type "app"."strong_mood"', 'type "app"."reading"', 'type "app"."span"', 'schema "app"',
      'schema "app"#comment', 'table "app"."diary"#comment', 'table column "app"."diary"."m"#comment', 'type "app"."mood"#comment',
      'function "app"."touch"(integer)#comment', 'large object "424242"#comment', 'materialized view "app"."mood_counts"#comment',
      'table "app"."diary"#privileges', 'table "app"."events"#privileges', 'schema "app"#privileges', 'sequence "app"."ticket"#privileges',
      'function "app"."touch"(integer)#privileges', 'large objects#privileges', 'default privileges#privileges',
      'database#settings', 'database#comment', 'database#privileges',
      'table "app"."diary"#constraints', 'table "app"."events"#constraints', 'table "app"."events_2025"#constraints',
    ]) expect(Object.keys(expected)).toContain(key);
    expect(expected['database#settings'].count).toBe(1);
    // Extension members (postgres_fdw's functions) are the extension's, not the database's; the extension itself is.
    expect(Object.keys(expected).filter((key) => key.includes('postgres_fdw')).sort()).toEqual(['extension "postgres_fdw"', 'extension "postgres_fdw"#comment']);
    // The database's name is in no key (a restore may choose another).
    expect(Object.keys(expected).filter((key) => key.includes(db))).toEqual([]);

    const copy = await restoreAsNew(artifacts, source);
    const actual = await postgres.fingerprint(copy);
    expect(compareFingerprints(withoutOwnershipAndDatabase(expected), withoutOwnershipAndDatabase(actual))).toEqual([]);

    // Independent of our code: pg_dump prints both databases alike, data and definitions.
    const options = ['--no-owner', '--no-privileges'];
    expect(await dumpText(copy.database, ...options)).toBe(await dumpText(db, ...options));
  });

  test('owners and grants: a restore that keeps them gives equal #privileges entries; the database name changes nothing', async () => {
    const db = await featuresDatabase('owned');
    const source = await target(db);
    const { artifacts, result } = await backupOf(source);

    // pg_restore keeping owners and grants, into a database prepared as a restore with database facts would.
    const copy = `${db}_owned`;
    await sql('postgres', `CREATE DATABASE "${copy}" TEMPLATE template0`);
    await sql(copy, `ALTER DATABASE "${copy}" SET work_mem = '8MB'`);
    await sql(copy, `COMMENT ON DATABASE "${copy}" IS 'features'`);
    await sql(copy, `GRANT CONNECT ON DATABASE "${copy}" TO ${READER}`);
    await run(tool('pg_restore'), ['--exit-on-error', '--single-transaction', '--dbname', urlFor(copy), join(artifacts.dir, artifacts.records[0].name)]);

    const actual = await postgres.fingerprint(withDatabase(source, copy));
    expect(compareFingerprints(result.fingerprint, actual)).toEqual([]);
    expect(await dumpText(copy)).toBe(await dumpText(db));
  });

  test('hostile names: dots, quotes, spaces and unicode never share a key', async () => {
    const db = await createDatabase('hostile');
    await sql(db, `
      CREATE SCHEMA "a.b"; CREATE SCHEMA "a";
      CREATE TABLE "a.b"."c" (id int); INSERT INTO "a.b"."c" VALUES (1);
      CREATE TABLE "a"."b.c" (id int); INSERT INTO "a"."b.c" VALUES (1), (2);
      CREATE SCHEMA "we""ird"; CREATE TABLE "we""ird"."spa ce" (v text); INSERT INTO "we""ird"."spa ce" VALUES ('x');
      CREATE SCHEMA "naïve"; CREATE TABLE "naïve"."日本" (v text); INSERT INTO "naïve"."日本" VALUES ('語');
      CREATE TABLE public."x#columns" (id int); CREATE TABLE public.x (id int);`);
    const t = await target(db);
    const fingerprint = await postgres.fingerprint(t);

    // Under the old scheme both of these were "a.b.c".
    expect(fingerprint['table "a.b"."c"'].count).toBe(1);
    expect(fingerprint['table "a"."b.c"'].count).toBe(2);
    expect(fingerprint['table "we""ird"."spa ce"'].count).toBe(1);
    expect(fingerprint['table "naïve"."日本"'].count).toBe(1);
    expect(fingerprint['table "public"."x#columns"']).toBeDefined();
    expect(fingerprint['table "public"."x"#columns']).toBeDefined();
    expect(fingerprint['schema "we""ird"']).toBeDefined();

    const { artifacts, result } = await backupOf(t);
    const copy = await restoreAsNew(artifacts, t);
    expect(compareFingerprints(withoutOwnershipAndDatabase(result.fingerprint), withoutOwnershipAndDatabase(await postgres.fingerprint(copy)))).toEqual([]);
  });
});

describe('each facet of the postgres fingerprint sees a change', () => {
  let db: string;
  let t: PostgresTarget;
  let before: Fingerprint;

  beforeAll(async () => {
    db = await featuresDatabase('facets');
    t = await target(db);
  });
  beforeEach(async () => {
    before = await postgres.fingerprint(t);
  });
  const after = () => postgres.fingerprint(t);

  test.each([
    ['setval', `SELECT setval('app.ticket', 43, true)`, ['sequence "app"."ticket"']],
    ['is_called alone', `SELECT setval('app.pending', 7, true)`, ['sequence "app"."pending"']],
    ['a large object write', `SELECT lo_put(424242, 1, '\\x01'::bytea)`, ['large objects']],
    ['a comment', `COMMENT ON COLUMN app.diary.m IS 'how it really felt'`, ['table column "app"."diary"."m"#comment']],
    ['a function body', `CREATE OR REPLACE FUNCTION app.touch(n integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT n + 2'`, ['function "app"."touch"(integer)']],
    ['a GRANT', `GRANT INSERT ON app.diary TO ${READER}`, ['table "app"."diary"#privileges']],
    ['a REVOKE', `REVOKE USAGE ON SCHEMA app FROM ${READER}`, ['schema "app"#privileges']],
    ['a column GRANT', `GRANT SELECT (kind) ON app.events TO ${READER}`, ['table "app"."events"#privileges']],
    ['a new owner', `ALTER FUNCTION app.touch(integer) OWNER TO ${OWNER}`, ['function "app"."touch"(integer)#privileges']],
    ['an enum value inside an array', `UPDATE app.diary SET ms = ARRAY['calm']::app.mood[] WHERE id = 2`, ['table "app"."diary"']],
    ['an enum inside a composite', `UPDATE app.diary SET r.m = 'calm' WHERE id = 5 AND (r).m <> 'calm'`, ['table "app"."diary"']],
    ['a regclass value', `UPDATE app.diary SET rel = 'app.base' WHERE id = 3`, ['table "app"."diary"']],
    ['an enum label added', `ALTER TYPE app.mood ADD VALUE 'elated'`, ['type "app"."mood"']],
    ['a dropped index', 'DROP INDEX app.diary_m', ['table "app"."diary"#constraints']],
    ['a changed policy', `ALTER POLICY cheerful ON app.diary USING (m <> 'calm')`, ['table "app"."diary"#constraints']],
    ['a partition\'s index', 'CREATE INDEX ON app.events_2026 (kind)', ['table "app"."events_2026"#constraints']],
  ])('%s', async (_what, change, keys) => {
    await sql(db, change);
    expect(changedKeys(before, await after())).toEqual(keys);
  });

  test('ALTER DATABASE SET, the database comment and its grants', async () => {
    await sql(db, `ALTER DATABASE "${db}" SET work_mem = '16MB'`);
    await sql(db, `COMMENT ON DATABASE "${db}" IS 'changed'`);
    await sql(db, `REVOKE CONNECT ON DATABASE "${db}" FROM ${READER}`);
    expect(changedKeys(before, await after())).toEqual(['database#comment', 'database#privileges', 'database#settings']);
  });

  test('a materialized view: its rows are not fingerprinted (a restore refreshes them), its query and whether it is populated are', async () => {
    await sql(db, `UPDATE app.diary SET m = 'happy' WHERE id IN (1, 2, 3)`);
    await sql(db, 'REFRESH MATERIALIZED VIEW app.mood_counts');
    expect(changedKeys(before, await after())).toEqual(['table "app"."diary"']);
    await sql(db, 'REFRESH MATERIALIZED VIEW app.later');
    expect(changedKeys(before, await after())).toEqual(['materialized view "app"."later"', 'table "app"."diary"']);
    await sql(db, 'REFRESH MATERIALIZED VIEW app.later WITH NO DATA');
    await sql(db, 'DROP MATERIALIZED VIEW app.mood_counts; CREATE MATERIALIZED VIEW app.mood_counts AS SELECT m, count(*) + 1 AS n FROM app.diary GROUP BY m');
    // As it was: the schema's default privileges granted SELECT to the new one.
    await sql(db, `COMMENT ON MATERIALIZED VIEW app.mood_counts IS 'per mood'; REVOKE SELECT ON app.mood_counts FROM ${READER}`);
    expect(changedKeys(before, await after())).toEqual(['materialized view "app"."mood_counts"#columns', 'table "app"."diary"']);
  });

  test('the fingerprint reads inside the caller\'s transaction: a change committed after its snapshot is not seen', async () => {
    const client = new Client({ connectionString: urlFor(db) });
    await client.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await client.query('SELECT 1');
      await sql(db, 'DELETE FROM app.events WHERE id = 1');
      expect(changedKeys(before, await fingerprintInTransaction(client))).toEqual([]);
      await client.query('COMMIT');
      expect(changedKeys(before, await fingerprintDatabase(client))).toEqual(['table "app"."events_2025"']);
    } finally {
      await client.end();
    }
  });
});

describe('the postgres fingerprint never digests a subset', () => {
  test('a row-level security policy that would hide rows from the backup role fails the fingerprint instead of shrinking it', async () => {
    const db = await createDatabase('rls');
    const role = `fp_login_${suffix}`;
    await sql('postgres', `CREATE ROLE ${role} LOGIN`);
    await sql(db, `CREATE TABLE notes (id int, secret bool);
                   INSERT INTO notes VALUES (1, false), (2, true);
                   ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
                   CREATE POLICY public_only ON notes FOR SELECT USING (NOT secret);
                   GRANT SELECT ON notes TO ${role}`);
    const url = new URL(testPostgresUrl());
    url.username = role;
    const asRole = await connectPostgres({ database: db }, { ...env(), NCA_POSTGRES_URL: url.toString() });
    // Under the role's default row_security the table would read as 1 row of 2.
    await expect(postgres.fingerprint(asRole)).rejects.toThrow(/row-level security/);
    await expect(postgres.fingerprint(asRole)).rejects.toMatchObject({ name: 'InvalidInputError', component: 'postgres', message: expect.stringContaining('table "public"."notes"') });
    expect((await postgres.fingerprint(await target(db)))['table "public"."notes"'].count).toBe(2);
  });
});

describe('sequence values come from the dump, which reads them outside the snapshot', () => {
  test('the archive\'s table of contents gives each SEQUENCE SET value, hostile names included; other streams give nothing', async () => {
    const db = await createDatabase('seqtoc');
    await sql(db, `CREATE SCHEMA "a.b"; CREATE SEQUENCE "a.b"."s q"; SELECT setval('"a.b"."s q"', 77, false);
                   CREATE TABLE t (id bigserial, v text); INSERT INTO t (v) SELECT 'x' FROM generate_series(1, 5)`);
    const { artifacts } = await backupOf(await target(db));
    const path = join(artifacts.dir, artifacts.records[0].name);
    const expected = [
      { schema: 'a.b', name: 's q', lastValue: '77', isCalled: false },
      { schema: 'public', name: 't_id_seq', lastValue: '5', isCalled: true },
    ];
    expect(parseDumpedSequences(readFileSync(path))).toEqual(expect.arrayContaining(expected));
    // Streamed in small pieces, as pg_dump writes it.
    expect(await dumpedSequences(createReadStream(path, { highWaterMark: 97 }))).toEqual(expect.arrayContaining(expected));
    expect(await dumpedSequences(Readable.from([Buffer.from('-- a plain SQL dump\n')]))).toBeUndefined();
    expect(await dumpedSequences(Readable.from([readFileSync(path).subarray(0, 200)]))).toBeUndefined();
  });

  test('reading the table of contents gives back the whole archive unchanged, with the table of contents as its first bytes', async () => {
    const db = await createDatabase('tocread');
    await sql(db, `CREATE TABLE t (id bigserial, v text); INSERT INTO t (v) SELECT md5(i::text) || md5((-i)::text) FROM generate_series(1, 20000) i`);
    const { artifacts } = await backupOf(await target(db));
    const whole = readFileSync(join(artifacts.dir, artifacts.records[0].name));
    const collect = async (stream: Readable) => Buffer.concat(await stream.toArray());

    const read = await readTableOfContents(createReadStream(join(artifacts.dir, artifacts.records[0].name), { highWaterMark: 97 }));
    expect(read.toc).toBeDefined();
    expect(read.toc!.bytes.length).toBeLessThan(whole.length);
    expect(whole.subarray(0, read.toc!.bytes.length).equals(read.toc!.bytes)).toBe(true);
    expect((await collect(read.archive)).equals(whole)).toBe(true);

    // Not an archive this reader knows: no table of contents, the stream still whole.
    const plain = await readTableOfContents(Readable.from([Buffer.from('-- a plain SQL dump\n')]));
    expect(plain.toc).toBeUndefined();
    expect((await collect(plain.archive)).toString()).toBe('-- a plain SQL dump\n');

    // The source's failure (a digest mismatch at its end) reaches the reader.
    const failing = (failAt: number) => {
      let reads = 0;
      return new Readable({
        read() {
          if (reads++ === 0) this.push(whole.subarray(0, failAt));
          else this.destroy(Object.assign(new Error('digest mismatch'), { name: 'IntegrityError' }));
        },
      });
    };
    const tocLength = read.toc!.bytes.length;
    // After the table of contents the returned stream fails; within it, reading it fails.
    expect(whole.length).toBeGreaterThan(200_000);
    const afterToc = await readTableOfContents(failing(100_000));
    expect(afterToc.toc).toBeDefined();
    await expect(collect(afterToc.archive)).rejects.toMatchObject({ name: 'IntegrityError' });
    await expect(readTableOfContents(failing(Math.floor(tocLength / 2)))).rejects.toMatchObject({ name: 'IntegrityError' });
  });

  test('a sequence moved by nextval() while pg_dump runs: the backup records the value its dump restores', async () => {
    const db = await createDatabase('seqbusy');
    await sql(db, `CREATE TABLE log (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());
                   INSERT INTO log (at) SELECT now() FROM generate_series(1, 20000)`);
    const t = await target(db);
    let writing = true;
    const writer = (async () => {
      let n = 0;
      // nextval() outside any transaction the snapshot sees: the rolled-back insert still moves the sequence.
      while (writing) await sql(db, 'SELECT nextval(\'log_id_seq\')').then(() => n++);
      return n;
    })();
    const { artifacts, result } = await backupOf(t);
    writing = false;
    expect(await writer).toBeGreaterThan(0);
    const copy = await restoreAsNew(artifacts, t);
    expect(compareFingerprints(withoutOwnershipAndDatabase(result.fingerprint), withoutOwnershipAndDatabase(await postgres.fingerprint(copy)))).toEqual([]);
  });
});

describe("the NCA's own schema", () => {
  test('its SQLAlchemy models with data: backup, restore into a new database, equal fingerprints and equal pg_dump text', async () => {
    const db = await createDatabase('nca');
    await sql(db, readFileSync(join(__dirname, '../fixtures/postgres/nca-schema.sql'), 'utf8'));
    const source = await target(db);
    const { artifacts, result } = await backupOf(source);
    expect(result.fingerprint['table "public"."ltm_entries"'].count).toBe(300);
    expect(result.fingerprint['table "public"."stm_items"'].count).toBe(200);
    expect(result.fingerprint['table "memory"."memory_items"'].count).toBe(150);
    expect(result.fingerprint['type "public"."memorytype"']).toBeDefined();
    expect(result.fingerprint['table column "public"."stm_items"."importance"#comment']).toBeDefined();

    const copy = await restoreAsNew(artifacts, source);
    expect(compareFingerprints(withoutOwnershipAndDatabase(result.fingerprint), withoutOwnershipAndDatabase(await postgres.fingerprint(copy)))).toEqual([]);
    expect(await dumpText(copy.database, '--no-owner', '--no-privileges')).toBe(await dumpText(db, '--no-owner', '--no-privileges'));
  });
});

/** Every user table's rows as sorted jsonb texts, read without our code. */
async function rowsAsJson(database: string): Promise<Record<string, string[]>> {
  const client = new Client({ connectionString: urlFor(database) });
  await client.connect();
  try {
    const tables = (await client.query<{ name: string }>(`SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`)).rows;
    const out: Record<string, string[]> = {};
    for (const { name } of tables) out[name] = (await client.query<{ j: string }>(`SELECT to_jsonb(x)::text AS j FROM ONLY ${name} x ORDER BY 1`)).rows.map((r) => r.j);
    return out;
  } finally {
    await client.end();
  }
}

/** Backup, restore into a new database through the product's path, and the differences it reports. */
async function roundTrip(label: string, setup: string) {
  const db = await createDatabase(label);
  await sql(db, setup);
  const source = await target(db);
  const { artifacts, result } = await backupOf(source);
  const copy = await restoreAsNew(artifacts, source);
  return { db, copy, differences: compareFingerprints(withoutOwnershipAndDatabase(result.fingerprint), withoutOwnershipAndDatabase(await postgres.fingerprint(copy))) };
}

/** The keys whose entries change when `change` runs on a database made by `setup`. */
async function mutation(label: string, setup: string, change: string) {
  const db = await createDatabase(label);
  await sql(db, setup);
  const t = await target(db);
  const before = await postgres.fingerprint(t);
  await sql(db, change);
  return changedKeys(before, await postgres.fingerprint(t));
}

describe('a faithful restore verifies, whatever pg_dump recreates differently', () => {
  test.each([
    ['a stale materialized view (its table changed after the last refresh)',
      'CREATE TABLE t (i int); INSERT INTO t VALUES (1); CREATE MATERIALIZED VIEW mv AS SELECT * FROM t; CREATE INDEX ON mv (i); INSERT INTO t VALUES (2);'],
    ['a materialized view over a volatile function', 'CREATE MATERIALIZED VIEW mv AS SELECT now() AS at, random() AS r;'],
    ['an inheritance child whose parent gained a column (pg_dump recreates it as (a, z, b))',
      'CREATE TABLE p (a int); CREATE TABLE c (b int, n numeric) INHERITS (p); ALTER TABLE p ADD COLUMN z int; INSERT INTO c VALUES (1, 2, 1.0, 3); INSERT INTO p VALUES (4, 5);'],
    ['a range type over a custom subtype operator class',
      `CREATE FUNCTION revcmp(int4, int4) RETURNS int4 LANGUAGE sql IMMUTABLE AS 'SELECT btint4cmp($2, $1)';
       CREATE OPERATOR CLASS int4_rev FOR TYPE int4 USING btree AS OPERATOR 1 >, OPERATOR 2 >=, OPERATOR 3 =, OPERATOR 4 <=, OPERATOR 5 <, FUNCTION 1 revcmp(int4, int4);
       CREATE TYPE r AS RANGE (subtype = int4, subtype_opclass = int4_rev); CREATE TABLE t (x r); INSERT INTO t VALUES ('[5,1)');`],
  ])('%s', async (_what, setup) => {
    const { db, copy, differences } = await roundTrip('faithful', setup);
    expect(differences).toEqual([]);
    // Independent of our code: every table's rows as jsonb (keys sorted, so column order aside) are the same.
    expect(await rowsAsJson(copy.database)).toEqual(await rowsAsJson(db));
  });

  test('an inheritance child still shows a changed value, a changed column and its parent\'s rows apart', async () => {
    const setup = 'CREATE TABLE p (a int); CREATE TABLE c (b int) INHERITS (p); ALTER TABLE p ADD COLUMN z int; INSERT INTO c VALUES (1, 2, 3);';
    expect(await mutation('inhvalue', setup, 'UPDATE c SET b = 4')).toEqual(['table "public"."c"']);
    expect(await mutation('inhcolumn', setup, 'ALTER TABLE c ALTER COLUMN b TYPE bigint')).toEqual(['table "public"."c"#columns']);
    expect(await mutation('inhparent', setup, 'INSERT INTO p VALUES (9, 9)')).toEqual(['table "public"."p"']);
  });

  test('a range type\'s subtype operator class is named: another one is a difference', async () => {
    const setup = `CREATE FUNCTION revcmp(int4, int4) RETURNS int4 LANGUAGE sql IMMUTABLE AS 'SELECT btint4cmp($2, $1)';
      CREATE OPERATOR CLASS int4_rev FOR TYPE int4 USING btree AS OPERATOR 1 >, OPERATOR 2 >=, OPERATOR 3 =, OPERATOR 4 <=, OPERATOR 5 <, FUNCTION 1 revcmp(int4, int4);
      CREATE TYPE r AS RANGE (subtype = int4, subtype_opclass = int4_rev);`;
    const fingerprint = await postgres.fingerprint(await target(await createDatabase('rangeopc').then(async (db) => (await sql(db, setup), db))));
    expect(fingerprint['type "public"."r"']).toBeDefined();
    expect(await mutation('rangeopc', setup, 'DROP TYPE r; CREATE TYPE r AS RANGE (subtype = int4)')).toEqual(['type "public"."r"']);
  });
});

describe('row digests tell apart values that compare equal but are different data', () => {
  test.each([
    ['numeric scale', 'n numeric', `'1.0'`, `'1.00'`],
    ['float8 negative zero', 'f float8', `'0'`, `'-0'`],
    ['float4 negative zero', 'f float4', `'0'`, `'-0'`],
    ['interval days and hours', 'i interval', `'1 day'`, `'24 hours'`],
    ['interval months and days', 'i interval', `'1 mon'`, `'30 days'`],
    ['an array\'s lower bound', 'a int[]', `'{1,2}'`, `'[0:1]={1,2}'`],
    ['a number inside jsonb', 'j jsonb', `'{"a":1.0}'`, `'{"a":1.00}'`],
    ['numeric inside an array', 'a numeric[]', `'{1.0}'`, `'{1.000}'`],
    ['a numrange bound\'s scale', 'r numrange', `'[1.0,2)'`, `'[1.00,2)'`],
    ['a domain over numeric', 'd money_amount', `'1.0'`, `'1.00'`],
    ['numeric inside a composite', 'c pair', `'(1.0,x)'`, `'(1.00,x)'`],
    ['text under a nondeterministic collation', 's text COLLATE ci', `'Hello'`, `'HELLO'`],
    ['citext (an extension type)', 's citext', `'Hello'`, `'HELLO'`],
    ['unbounded bpchar trailing spaces', 'c bpchar', `'a'`, `'a  '`],
    ['tsvector weights', 'v tsvector', `'a:1A'`, `'a:1B'`],
  ])('%s', async (_what, column, from, to) => {
    const setup = `CREATE EXTENSION IF NOT EXISTS citext;
      CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
      CREATE DOMAIN money_amount AS numeric; CREATE TYPE pair AS (n numeric, s text);
      CREATE TABLE t (id int, ${column}); INSERT INTO t VALUES (1, ${from}), (2, NULL);`;
    const name = column.split(' ')[0];
    expect(await mutation('equalbutdifferent', setup, `UPDATE t SET ${name} = ${to} WHERE id = 1`)).toEqual(['table "public"."t"']);
  });

  test('the same values after a restore, through text and binary hashes alike', async () => {
    const { db, copy, differences } = await roundTrip('equalroundtrip', `
      CREATE EXTENSION IF NOT EXISTS citext;
      CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
      CREATE TABLE t (id bigint, n numeric, f float8, r real, i interval, a int[], j jsonb, nr numrange, s text COLLATE ci, c citext,
                      b bool, ts timestamptz, d date, u uuid, by bytea, ch char(3), v varchar(5));
      INSERT INTO t VALUES (1, 1.00, '-0', '-0', '1 mon 24 hours', '[0:1]={1,2}', '{"a":1.00}', '[1.0,2.00)', 'HELLO', 'Abc',
                            true, '2026-01-01 10:00+02', '2026-01-01', gen_random_uuid(), '\\x00ff', 'a', 'xy'),
                           (2, 'NaN', 'Infinity', 1.5, '-1 day', NULL, 'null', 'empty', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);`);
    expect(differences).toEqual([]);
    expect(await dumpText(copy.database, '--data-only')).toBe(await dumpText(db, '--data-only'));
  });
});

describe('a failing fingerprint is a typed error naming the component and the table', () => {
  test('an index whose SQL function resolves only through the search_path: named, with why pg_restore would fail too and the fix', async () => {
    const db = await createDatabase('searchpath');
    await sql(db, `CREATE FUNCTION inner_norm(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 % 10';
                   CREATE FUNCTION norm(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT inner_norm($1)';
                   CREATE TABLE readings (v int); INSERT INTO readings VALUES (1), (2);
                   CREATE INDEX readings_norm ON readings (norm(v));`);
    const failure = (await postgres.fingerprint(await target(db)).catch((error: unknown) => error)) as Error;
    expect(failure).toMatchObject({ name: 'InvalidInputError', component: 'postgres' });
    expect(failure.message).toContain('table "public"."readings"');
    expect(failure.message).toMatch(/function inner_norm\(integer\) does not exist.*pg_restore rebuilds indexes with an empty search_path.*ALTER FUNCTION/);
    // With the call qualified the same database is read.
    await sql(db, `CREATE OR REPLACE FUNCTION norm(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT public.inner_norm($1)'`);
    expect((await postgres.fingerprint(await target(db)))['table "public"."readings"'].count).toBe(2);
  });

  const asRole = (database: string, role: string) => {
    const url = new URL(urlFor(database));
    url.username = role;
    return new Client({ connectionString: url.toString() });
  };

  test('a role that cannot read a table: InvalidInputError naming the table and what the role lacks; nothing changed', async () => {
    const db = await createDatabase('noread');
    const role = `fp_noread_${suffix}`;
    await sql('postgres', `CREATE ROLE ${role} LOGIN`);
    await sql(db, `CREATE SCHEMA "we.ird"; CREATE TABLE "we.ird"."se""cret" (i int); INSERT INTO "we.ird"."se""cret" VALUES (1);
                   GRANT USAGE ON SCHEMA "we.ird" TO ${role}`);
    const client = asRole(db, role);
    await client.connect();
    try {
      const failure = await fingerprintDatabase(client).catch((error: unknown) => error);
      expect(failure).toMatchObject({ name: 'InvalidInputError', component: 'postgres' });
      expect((failure as Error).message).toContain('table "we.ird"."se""cret"');
      expect((failure as Error).message).toContain('permission denied');
      expect((failure as Error).message).toContain('Nothing was changed');
      // The client's transaction was rolled back: it is usable again.
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await client.end();
    }
    expect((await postgres.fingerprint(await target(db)))['table "we.ird"."se""cret"'].count).toBe(1);
  });

  test('the session ended by the server while the fingerprint waits on a table: TransientError naming the table', async () => {
    const db = await createDatabase('terminated');
    await sql(db, 'CREATE TABLE busy (i int); INSERT INTO busy VALUES (1)');
    const holder = new Client({ connectionString: urlFor(db) });
    const client = new Client({ connectionString: urlFor(db) });
    await holder.connect();
    await client.connect();
    client.on('error', () => undefined);
    try {
      await holder.query('BEGIN; LOCK TABLE busy IN ACCESS EXCLUSIVE MODE');
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      const fingerprint = fingerprintDatabase(client).catch((error: unknown) => error);
      // Wait until the fingerprint is blocked on the table's lock, then end its session as an administrator would.
      for (;;) {
        const { rows } = await holder.query(`SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1`, [pid]);
        if (rows[0]?.wait_event_type === 'Lock') break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await holder.query('SELECT pg_terminate_backend($1)', [pid]);
      const failure = await fingerprint;
      expect(failure).toMatchObject({ name: 'TransientError', component: 'postgres' });
      expect((failure as Error).message).toContain('table "public"."busy"');
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
      await client.end().catch(() => undefined);
    }
  });
});

describe('the fingerprint sees storage settings, sequence ownership, extensions and catalog objects', () => {
  test.each([
    ['SET LOGGED', 'CREATE UNLOGGED TABLE t (i int);', 'ALTER TABLE t SET LOGGED', ['table "public"."t"#columns']],
    ['storage parameters', 'CREATE TABLE t (i int);', 'ALTER TABLE t SET (fillfactor = 50, autovacuum_enabled = false)', ['table "public"."t"#columns']],
    ['a TOAST storage parameter', 'CREATE TABLE t (s text);', 'ALTER TABLE t SET (toast.autovacuum_enabled = false)', ['table "public"."t"#columns']],
    ['a column\'s storage', 'CREATE TABLE t (s text);', 'ALTER TABLE t ALTER COLUMN s SET STORAGE EXTERNAL', ['table "public"."t"#columns']],
    ['a sequence\'s owner column', 'CREATE TABLE t (i int); CREATE SEQUENCE s OWNED BY t.i;', 'ALTER SEQUENCE s OWNED BY NONE', ['sequence "public"."s"#definition']],
    ['an extension dropped', 'CREATE EXTENSION hstore;', 'DROP EXTENSION hstore', ['extension "hstore"', 'extension "hstore"#comment']],
    ['an operator', `CREATE FUNCTION f(int, int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'select $1 = $2'; CREATE OPERATOR === (leftarg = int, rightarg = int, function = f);`,
      'DROP OPERATOR === (int, int)', ['operator "public"."==="(integer, integer)']],
    ['a cast', `CREATE TYPE e AS ENUM ('a'); CREATE FUNCTION f(e) RETURNS int LANGUAGE sql IMMUTABLE AS 'select 1'; CREATE CAST (e AS int) WITH FUNCTION f(e);`,
      'DROP CAST (e AS int); CREATE CAST (e AS int) WITH INOUT AS IMPLICIT', ['cast "public.e"(integer)']],
    ['a collation', `CREATE COLLATION mycoll (provider = icu, locale = 'de');`, `DROP COLLATION mycoll; CREATE COLLATION mycoll (provider = icu, locale = 'fr')`, ['collation "public"."mycoll"']],
    ['a text search configuration', 'CREATE TEXT SEARCH CONFIGURATION myts (COPY = english);', 'ALTER TEXT SEARCH CONFIGURATION myts DROP MAPPING FOR email', ['text search configuration "public"."myts"']],
    ['an event trigger', `CREATE FUNCTION et() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN END$$; CREATE EVENT TRIGGER etr ON ddl_command_start EXECUTE FUNCTION et();`,
      'ALTER EVENT TRIGGER etr DISABLE', ['event trigger "etr"']],
    ['a publication', 'CREATE TABLE t (i int); CREATE TABLE u (i int); CREATE PUBLICATION pub FOR TABLE t;', 'ALTER PUBLICATION pub ADD TABLE u', ['publication "pub"']],
    ['extended statistics', 'CREATE TABLE t (a int, b int); CREATE STATISTICS st ON a, b FROM t;', 'DROP STATISTICS st', ['statistics object "public"."st"']],
  ])('%s', async (_what, setup, change, keys) => {
    expect(await mutation('catalog', setup, change)).toEqual(keys);
  });

  test('all of them come back from a restore unchanged', async () => {
    const { differences } = await roundTrip('catalogrt', `
      CREATE EXTENSION hstore;
      CREATE UNLOGGED TABLE t (i int, s text) WITH (fillfactor = 70, toast.autovacuum_enabled = false); ALTER TABLE t ALTER COLUMN s SET STORAGE EXTERNAL;
      CREATE SEQUENCE sq OWNED BY t.i; CREATE TABLE idt (id int GENERATED ALWAYS AS IDENTITY);
      CREATE FUNCTION f(int, int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'select $1 = $2'; CREATE OPERATOR === (leftarg = int, rightarg = int, function = f);
      CREATE TYPE e AS ENUM ('a'); CREATE FUNCTION fe(e) RETURNS int LANGUAGE sql IMMUTABLE AS 'select 1'; CREATE CAST (e AS int) WITH FUNCTION fe(e);
      CREATE COLLATION mycoll (provider = icu, locale = 'de'); CREATE TEXT SEARCH CONFIGURATION myts (COPY = english);
      CREATE FUNCTION et() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN END$$; CREATE EVENT TRIGGER etr ON ddl_command_start EXECUTE FUNCTION et();
      CREATE TABLE logged (i int); CREATE PUBLICATION pub FOR TABLE logged; CREATE STATISTICS st ON i, s FROM t;`);
    expect(differences).toEqual([]);
  });
});

test('an extension at another version than the server\'s default restores and verifies: pg_dump does not carry the version', async () => {
  // pg_dump writes CREATE EXTENSION without VERSION, so the restore installs the server's default version.
  // Comparing versions would make such a backup unrestorable; the data itself must still match.
  const { differences } = await roundTrip('extversion', 'CREATE EXTENSION hstore VERSION "1.7"; CREATE TABLE t (h hstore); INSERT INTO t VALUES (\'a=>1\');');
  expect(differences).toEqual([]);
});
