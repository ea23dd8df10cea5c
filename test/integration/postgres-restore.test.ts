/**
 * The postgres restore that never lies, against real PostgreSQL 15 servers: in place for any schema
 * (staging database, verification, swap), sessions on the target, owners and grants, database settings,
 * and failures injected for real (pg_restore's backend terminated mid-stream, the backup's snapshot
 * session ended by the server, the server stopped mid-backup) that must end in a typed error with the
 * target as it was and no artifact left behind.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { connectPostgres, postgres, withDatabase, type PostgresTarget } from '../../functions/components/postgres';
import { parsePostgresRestoreOptions } from '../../functions/components/postgres/options';
import { keptAsideName, stagingDatabaseName } from '../../functions/components/postgres/staging';
import type { ArtifactSink, ArtifactSource, ComponentBackupResult } from '../../functions/components/types';
import { startPostgres, type RunningPostgres } from '../../scripts/local-servers';
import { loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { throttledSink, throttledSource } from '../support/artifact-streams';
import { backupToFs, fsArtifacts, type FsArtifacts } from '../support/fs-artifacts';
import { createDatabase, databaseExists, sql, testPostgresUrl, urlFor } from '../support/postgres-db';
import { testVault } from '../support/s3';
import { silentLogger as quiet } from '../../functions/core/logger';

jest.setTimeout(120_000);

const pgBin = () => process.env.NCA_TEST_PG_BIN_DIR;
const env = (url = testPostgresUrl()) => ({ NCA_POSTGRES_URL: url, NCA_PG_BIN_DIR: pgBin() });
const target = (database: string, url?: string) => connectPostgres({ database }, env(url));
const run = promisify(execFile);


interface Backup {
  artifacts: FsArtifacts;
  result: ComponentBackupResult;
  /** The artifacts with the manifest's facts, as the engine hands them to a restore. */
  source: ArtifactSource;
}

async function backupOf(t: PostgresTarget, backupId = `b${Date.now()}`): Promise<Backup> {
  const { artifacts, result } = await backupToFs(postgres, t, quiet);
  return { artifacts, result, source: artifacts.source({ backupId, fingerprint: result.fingerprint, source: result.source }) };
}

async function databasesLike(pattern: string): Promise<string[]> {
  return (await sql('postgres', 'SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY 1', [pattern])).map((r) => r.datname);
}

/** pg_dump's own text of a database: an independent check that does not use our fingerprint. */
async function dumpText(database: string, section: '--schema-only' | '--data-only', url = testPostgresUrl()): Promise<string> {
  const u = new URL(url);
  u.pathname = `/${database}`;
  const bin = pgBin() ? join(pgBin()!, 'pg_dump') : 'pg_dump';
  const { stdout } = await run(bin, [section, '--no-comments', '-d', u.toString()], { maxBuffer: 256 * 1024 * 1024 });
  // \restrict lines carry a random key per run (pg_dump 15.14+): not content.
  return stdout.replace(/^\\(un)?restrict .*$/gm, '');
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A database of incompressible rows, large enough that pg_restore fails long before it has read it all. */
async function loadBulk(database: string, rows: number): Promise<void> {
  await sql(database, 'CREATE TABLE bulk (id int PRIMARY KEY, payload text)');
  await sql(database, `INSERT INTO bulk SELECT g, md5(random()::text) || md5(random()::text) || md5(random()::text) FROM generate_series(1, ${rows}) g`);
}

async function roleExists(name: string): Promise<boolean> {
  return (await sql('postgres', 'SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).length === 1;
}

describe('in place, for any schema: staging database, verification, swap', () => {
  test('a partitioned table with a primary key is restored in place; the previous database is kept aside with its data', async () => {
    const db = await createDatabase('parts');
    await sql(db, `CREATE TABLE payment (id int, paid date, amount numeric, PRIMARY KEY (id, paid)) PARTITION BY RANGE (paid)`);
    await sql(db, `CREATE TABLE payment_2022_01 PARTITION OF payment FOR VALUES FROM ('2022-01-01') TO ('2022-02-01')`);
    await sql(db, `CREATE TABLE payment_2022_02 PARTITION OF payment FOR VALUES FROM ('2022-02-01') TO ('2022-03-01')`);
    await sql(db, `INSERT INTO payment SELECT g, date '2022-01-01' + g % 59, g * 1.5 FROM generate_series(1, 1000) g`);
    const t = await target(db);
    const backup = await backupOf(t);
    await sql(db, 'DELETE FROM payment WHERE id > 500');

    const restored = await postgres.restore(backup.source, t, {}, quiet);
    expect(restored).toMatchObject({ target: db, replacedExisting: true, details: { verifiedBeforeSwap: true } });
    expect(await postgres.fingerprint(t)).toEqual(backup.result.fingerprint);
    expect((await sql(db, 'SELECT count(*)::int AS n FROM payment'))[0].n).toBe(1000);
    const kept = restored.details!.previousKeptAs as string;
    expect(kept).toMatch(new RegExp(`^${db}_nca_kept_until_\\d{8}T\\d{6}Z$`));
    expect((await sql(kept, 'SELECT count(*)::int AS n FROM payment'))[0].n).toBe(500);
    expect(await databasesLike(`${db}_nca_staging_%`)).toEqual([]);
  });

  test('objects added after the backup (a table and a view on a dumped enum) are gone after the swap, kept in the previous database', async () => {
    const db = await createDatabase('grown');
    await sql(db, `CREATE TYPE mood AS ENUM ('calm', 'tense')`);
    await sql(db, `CREATE TABLE feelings (id int PRIMARY KEY, m mood)`);
    await sql(db, `INSERT INTO feelings SELECT g, (ARRAY['calm','tense']::mood[])[1 + g % 2] FROM generate_series(1, 100) g`);
    const t = await target(db);
    const backup = await backupOf(t);
    // A later migration: a table and a view that depend on the dumped enum (pg_restore --clean cannot drop the type under them).
    await sql(db, `CREATE TABLE later (id int, m mood)`);
    await sql(db, `INSERT INTO later VALUES (1, 'tense')`);
    await sql(db, `CREATE VIEW calm_feelings AS SELECT * FROM feelings WHERE m = 'calm'::mood`);

    const restored = await postgres.restore(backup.source, t, { keepPreviousHours: 2 }, quiet);
    expect(await sql(db, `SELECT relname FROM pg_class WHERE relname IN ('later', 'calm_feelings')`)).toEqual([]);
    expect(await postgres.fingerprint(t)).toEqual(backup.result.fingerprint);
    const kept = restored.details!.previousKeptAs as string;
    expect(await sql(kept, 'SELECT id, m::text FROM later')).toEqual([{ id: 1, m: 'tense' }]);
    const until = new Date(restored.details!.previousKeptUntil as string).getTime();
    expect(until).toBeGreaterThan(Date.now() + 3600_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 2 * 3600_000);
  });

  test('a failure before the swap (the staged copy does not match the backup) drops the staging database and leaves the target as it was', async () => {
    const db = await createDatabase('unswapped');
    await loadSampleNcaDatabase(urlFor(db), { rows: 200 });
    const t = await target(db);
    const backup = await backupOf(t, 'b-mismatch');
    await sql(db, "UPDATE users SET email = 'after-backup@example.org'");
    const before = await dumpText(db, '--data-only');
    // The manifest claims other content than the artifact holds.
    const [first] = Object.keys(backup.result.fingerprint);
    const lying = { ...backup.result.fingerprint, [first]: { count: 1, digest: 'f'.repeat(64) } };
    const source = backup.artifacts.source({ backupId: 'b-mismatch', fingerprint: lying, source: backup.result.source });

    const failure = postgres.restore(source, t, {}, quiet);
    await expect(failure).rejects.toMatchObject({ name: 'VerificationError' });
    await expect(failure).rejects.toThrow(new RegExp(`staged restore does not match.*The target database "${db}" is unchanged\\. The staging database "${stagingDatabaseName(db, 'b-mismatch')}" was dropped`));
    expect(await dumpText(db, '--data-only')).toBe(before);
    expect(await databaseExists(stagingDatabaseName(db, 'b-mismatch'))).toBe(false);
    expect(await databasesLike(`${db}_nca_%`)).toEqual([]);
  });

  test('each table is read for the fingerprint as soon as its rows are committed; names pg_restore prints ambiguously or over two lines are read afterwards', async () => {
    const db = await createDatabase('asloaded');
    await sql(db, `CREATE SCHEMA "x.y"; CREATE SCHEMA x`);
    // "x.y".z and x."y.z" are both printed as x.y.z; the newline splits its table's line in two.
    const tables = ['public.a', 'public.b', '"x.y".z', 'x."y.z"', 'public."new\nline"', 'public.c'];
    for (const [i, table] of tables.entries()) {
      await sql(db, `CREATE TABLE ${table} (id int PRIMARY KEY, v text)`);
      await sql(db, `INSERT INTO ${table} SELECT g, repeat(md5(g::text), ${i + 1}) FROM generate_series(1, 500) g`);
    }
    const t = await target(db);
    const data = await dumpText(db, '--data-only');
    const backup = await backupOf(t);
    await sql(db, 'DELETE FROM public.a; DELETE FROM "x.y".z');

    const restored = await postgres.restore(backup.source, t, {}, quiet);
    // pg_restore loads them by name: a, b, c are told by the line after theirs; the newline's table never
    // matches, the two x.y.z are ambiguous; those three are read after the load.
    expect(restored.details).toMatchObject({ verifiedBeforeSwap: true, tablesReadAsLoaded: 3 });
    expect(await dumpText(db, '--data-only')).toBe(data);
    expect(await postgres.fingerprint(t)).toEqual(backup.result.fingerprint);
  });

  test('databases kept aside past their time are dropped by the next restore on the server', async () => {
    const db = await createDatabase('expiry');
    await sql(db, 'CREATE TABLE t (id int)');
    const expired = keptAsideName(`${db}_old`, new Date('2001-01-01T00:00:00Z'));
    const current = keptAsideName(`${db}_old`, new Date(Date.now() + 3600_000));
    await sql('postgres', `CREATE DATABASE "${expired}"`);
    await sql('postgres', `CREATE DATABASE "${current}"`);
    const t = await target(db);
    const backup = await backupOf(t);
    const restored = await postgres.restore(backup.source, t, { keepPreviousHours: 0 }, quiet);
    // Any restore on the server drops them, and other test files restore on this server at the same time:
    // this one reports the drop unless one of those got there first.
    const dropped: string[] = (restored.details as { droppedExpired?: string[] }).droppedExpired ?? [];
    expect(dropped.filter((name) => name === expired || name === current)).toEqual(dropped.includes(expired) ? [expired] : []);
    expect(await databaseExists(expired)).toBe(false);
    expect(await databaseExists(current)).toBe(true);
    // keepPreviousHours 0: the replaced database is dropped right after the swap.
    expect(await databasesLike(`${db}_nca_kept_until_%`)).toEqual([]);
    await sql('postgres', `DROP DATABASE "${current}"`);
  });
});

describe('sessions on the target', () => {
  test('open sessions refuse the restore, named, before anything is written; the target is unchanged', async () => {
    const db = await createDatabase('busy');
    await sql(db, 'CREATE TABLE t (id int)');
    const t = await target(db);
    const backup = await backupOf(t);
    await sql(db, 'INSERT INTO t VALUES (42)');
    const app = new Client({ connectionString: urlFor(db), application_name: 'nca-api-worker' });
    app.on('error', () => undefined);
    await app.connect();
    try {
      const pid = (await app.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      const failure = postgres.restore(backup.source, t, {}, quiet);
      await expect(failure).rejects.toMatchObject({ name: 'InvalidInputError' });
      await expect(failure).rejects.toThrow(new RegExp(`1 open session\\(s\\): pid ${pid} \\(user postgres, application "nca-api-worker".*The target database "${db}" is unchanged\\. Nothing was written.*options\\.terminateSessions`));
      expect(await sql(db, 'SELECT id FROM t')).toEqual([{ id: 42 }]);
      expect(await databasesLike(`${db}_nca_%`)).toEqual([]);
      expect((await app.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await app.end().catch(() => undefined);
    }
  });

  test('with terminateSessions the sessions are ended after the grace period and the restore succeeds', async () => {
    const db = await createDatabase('ended');
    await sql(db, 'CREATE TABLE t (id int)');
    const t = await target(db);
    const backup = await backupOf(t);
    await sql(db, 'INSERT INTO t VALUES (42)');
    const app = new Client({ connectionString: urlFor(db), application_name: 'nca-api-worker' });
    let appError: Error | undefined;
    app.on('error', (error) => (appError = error));
    await app.connect();
    const pid = (await app.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const restored = await postgres.restore(backup.source, t, parsePostgresRestoreOptions({ terminateSessions: true, sessionGraceSeconds: 1 }), quiet);
    expect(restored.details!.sessionsEnded).toEqual([expect.objectContaining({ pid, application: 'nca-api-worker' })]);
    expect(await sql(db, 'SELECT id FROM t')).toEqual([]);
    await waitFor('the ended session to notice', async () => appError ?? undefined, 5000);
    expect(appError!.message).toMatch(/terminat/);
    // New connections are allowed again, on the restored database and on the one kept aside.
    expect(await sql(restored.details!.previousKeptAs as string, 'SELECT id FROM t')).toEqual([{ id: 42 }]);
    await app.end().catch(() => undefined);
  });
});

describe('locks: the restore never waits without limit', () => {
  test('a transaction holding a lock on the target database times the swap out, named; the target is unchanged', async () => {
    const db = await createDatabase('locked');
    await sql(db, 'CREATE TABLE t (id int)');
    const t = await target(db);
    const backup = await backupOf(t);
    await sql(db, 'INSERT INTO t VALUES (42)');
    // An administrator's open transaction on the database object, from another database: no session on the target.
    const admin = new Client({ connectionString: urlFor('postgres'), application_name: 'nca-admin-console' });
    await admin.connect();
    await admin.query('BEGIN');
    await admin.query(`COMMENT ON DATABASE "${db}" IS 'being edited'`);
    try {
      const failure = postgres.restore(backup.source, t, { lockTimeoutSeconds: 1 }, quiet);
      await expect(failure).rejects.toMatchObject({ name: 'TransientError' });
      await expect(failure).rejects.toThrow(new RegExp(`renaming database "${db}" waited longer than 1s for a lock held by pid \\d+ \\(user postgres, application "nca-admin-console".*The target database "${db}" is unchanged`));
    } finally {
      await admin.query('ROLLBACK');
      await admin.end();
    }
    expect(await sql(db, 'SELECT id FROM t')).toEqual([{ id: 42 }]);
    expect(await databasesLike(`${db}_nca_%`)).toEqual([]);
  });
});

describe('owners, grants and database settings', () => {
  const suffix = Math.random().toString(16).slice(2, 8);
  const owner = `app_owner_${suffix}`;
  const reader = `app_reader_${suffix}`;

  beforeAll(async () => {
    await sql('postgres', `CREATE ROLE ${owner} NOLOGIN`);
    await sql('postgres', `CREATE ROLE ${reader} LOGIN`);
  });

  test('owners and grants survive an in-place restore: the application role can still read its tables', async () => {
    const db = await createDatabase('grants');
    await sql(db, `CREATE TABLE notes (id int, body text)`);
    await sql(db, `INSERT INTO notes VALUES (1, 'kept')`);
    await sql(db, `ALTER TABLE notes OWNER TO ${owner}`);
    await sql(db, `GRANT SELECT ON notes TO ${reader}`);
    const t = await target(db);
    const backup = await backupOf(t);
    expect(backup.result.source.roles).toEqual(expect.arrayContaining([owner, reader]));
    expect(backup.result.artifacts.map((a) => a.name)).toEqual([`${db}.dump`, 'globals.json']);

    await postgres.restore(backup.source, t, {}, quiet);
    expect(await sql(db, `SELECT tableowner FROM pg_tables WHERE tablename = 'notes'`)).toEqual([{ tableowner: owner }]);
    const asReader = new URL(urlFor(db));
    asReader.username = reader;
    const client = new Client({ connectionString: asReader.toString() });
    await client.connect();
    try {
      expect((await client.query('SELECT body FROM notes')).rows).toEqual([{ body: 'kept' }]);
    } finally {
      await client.end();
    }
  });

  test('a role missing on the target is refused by checkCompatibility, naming it; createRoles creates it without a password', async () => {
    const db = await createDatabase('roles');
    const gone = `gone_${suffix}`;
    await sql('postgres', `CREATE ROLE ${gone} LOGIN PASSWORD 'never-copied' IN ROLE ${owner}`);
    await sql(db, `CREATE TABLE owned (id int)`);
    await sql(db, `ALTER TABLE owned OWNER TO ${gone}`);
    const t = await target(db);
    const backup = await backupOf(t);
    expect(JSON.stringify(backup.result)).not.toMatch(/never-copied/);
    await sql(db, `REASSIGN OWNED BY ${gone} TO postgres`);
    await sql(db, `DROP OWNED BY ${gone}`);
    await sql('postgres', `DROP ROLE ${gone}`);

    const refused = postgres.checkCompatibility(backup.result.source, t, {});
    await expect(refused).rejects.toMatchObject({ name: 'InvalidInputError' });
    await expect(refused).rejects.toThrow(new RegExp(`role\\(s\\) missing on .*"${gone}"\\. Nothing was written.*options\\.createRoles`));
    await expect(postgres.checkCompatibility(backup.result.source, t, { noOwner: true })).resolves.toMatchObject({ targetVersion: expect.any(String) });
    await expect(postgres.checkCompatibility(backup.result.source, t, { createRoles: true })).resolves.toMatchObject({ targetVersion: expect.any(String) });

    const restored = await postgres.restore(backup.source, t, { createRoles: true }, quiet);
    expect(restored.details!.rolesCreated).toEqual([gone]);
    const [role] = await sql('postgres', `SELECT rolcanlogin, rolpassword IS NULL AS nopassword, rolsuper FROM pg_authid WHERE rolname = $1`, [gone]);
    expect(role).toEqual({ rolcanlogin: true, nopassword: true, rolsuper: false });
    expect(await sql('postgres', `SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = $1 AND u.rolname = $2`, [owner, gone])).toHaveLength(1);
    expect(await sql(db, `SELECT tableowner FROM pg_tables WHERE tablename = 'owned'`)).toEqual([{ tableowner: gone }]);
  });

  test('noOwner restores without owners and grants into a new database, and verifies', async () => {
    const db = await createDatabase('noowner');
    await sql(db, `CREATE TABLE notes (id int)`);
    await sql(db, `INSERT INTO notes VALUES (7)`);
    await sql(db, `ALTER TABLE notes OWNER TO ${owner}`);
    await sql(db, `GRANT SELECT ON notes TO ${reader}`);
    const t = await target(db);
    const backup = await backupOf(t);
    const copy = withDatabase(t, `${db}_elsewhere`);
    const restored = await postgres.restore(backup.source, copy, { noOwner: true }, quiet);
    expect(restored).toMatchObject({ replacedExisting: false, details: { verifiedBeforeSwap: true, owners: 'not restored (noOwner)' } });
    expect(await sql(`${db}_elsewhere`, `SELECT tableowner, has_table_privilege('${reader}', 'notes', 'SELECT') AS granted FROM pg_tables WHERE tablename = 'notes'`)).toEqual([
      { tableowner: 'postgres', granted: false },
    ]);
    const verification = await postgres.verifyRestore!(backup.result.fingerprint, backup.source, copy, { noOwner: true }, quiet);
    expect(verification.differences).toEqual([]);
  });

  test('database settings, comment, owner, grants and locale come along under a new name with spaces', async () => {
    const db = `settings_${suffix}`;
    await sql('postgres', `CREATE DATABASE "${db}" TEMPLATE template0 LC_COLLATE 'C.utf8' LC_CTYPE 'C.utf8'`);
    await sql(db, `CREATE SCHEMA app`);
    await sql(db, `CREATE TABLE app.items (id int)`);
    await sql('postgres', `ALTER DATABASE "${db}" SET search_path = app, "$user", public`);
    await sql('postgres', `ALTER DATABASE "${db}" SET work_mem = '8MB'`);
    await sql('postgres', `ALTER DATABASE "${db}" SET app.tenant = 'it''s "quoted"'`);
    await sql('postgres', `ALTER ROLE ${reader} IN DATABASE "${db}" SET statement_timeout = '5s'`);
    await sql('postgres', `COMMENT ON DATABASE "${db}" IS 'the NCA''s structured memory'`);
    await sql('postgres', `ALTER DATABASE "${db}" OWNER TO ${owner}`);
    await sql('postgres', `REVOKE ALL ON DATABASE "${db}" FROM PUBLIC`);
    await sql('postgres', `GRANT CONNECT ON DATABASE "${db}" TO ${reader}`);
    const t = await target(db);
    const backup = await backupOf(t);

    const name = `${db} restored copy ü`;
    await postgres.restore(backup.source, withDatabase(t, name), {}, quiet);
    const settings = async (database: string) =>
      sql(
        'postgres',
        `SELECT coalesce(r.rolname, '') AS role, s.setconfig AS config FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
         LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE d.datname = $1 ORDER BY 1`,
        [database],
      );
    expect(await settings(name)).toEqual(await settings(db));
    expect((await settings(name))[0].config).toEqual(['search_path=app, "$user", public', 'work_mem=8MB', 'app.tenant=it\'s "quoted"']);
    const facts = (database: string) =>
      sql('postgres', `SELECT shobj_description(oid, 'pg_database') AS comment, pg_get_userbyid(datdba) AS owner, datacl::text AS acl, datcollate, datctype FROM pg_database WHERE datname = $1`, [database]);
    const [original] = await facts(db);
    expect(await facts(name)).toEqual([original]);
    expect(original).toMatchObject({ comment: "the NCA's structured memory", owner, datcollate: 'C.utf8' });
    expect(original.acl).toContain(`${reader}=c/`);
  });
});

describe('failures surface as typed errors carrying the tool\'s own words', () => {
  test('pg_restore stopped mid-stream (its backend terminated): ToolError with its stderr, target untouched, staging dropped', async () => {
    const db = await createDatabase('epipe');
    await loadBulk(db, 60_000);
    const t = await target(db);
    const backup = await backupOf(t);
    await sql(db, 'DELETE FROM bulk WHERE id <= 10');
    const before = await dumpText(db, '--data-only');

    const restoring = postgres.restore(throttledSource(backup.source, 2 * 1024 * 1024), t, {}, quiet);
    const outcome = restoring.then(() => undefined, (error: unknown) => error);
    const pid = await waitFor('pg_restore to connect to the staging database', async () => {
      // This restore's staging database only: other test files may restore at the same time.
      const rows = await sql('postgres', `SELECT pid FROM pg_stat_activity WHERE datname LIKE $1 AND application_name = 'nca-backup/pg_restore'`, [`${db}\\_nca\\_staging\\_%`]);
      return rows[0]?.pid as number | undefined;
    });
    await sql('postgres', 'SELECT pg_terminate_backend($1)', [pid]);
    const error = (await outcome) as Error;
    expect(error).toMatchObject({ name: 'ToolError' });
    expect(error.message).toMatch(/pg_restore exited with code 1: .*(terminating connection due to administrator command|server closed the connection)/);
    expect(error.message).toContain(`The target database "${db}" is unchanged.`);
    expect(await dumpText(db, '--data-only')).toBe(before);
    expect(await databasesLike(`${db}_nca_staging_%`)).toEqual([]);
  });

  test('pg_restore failing early on a large archive (a role it needs is gone, the record of roles lost): ToolError naming it', async () => {
    const db = await createDatabase('early');
    const role = `early_${Math.random().toString(16).slice(2, 8)}`;
    await sql('postgres', `CREATE ROLE ${role} NOLOGIN`);
    await loadBulk(db, 150_000);
    await sql(db, `ALTER TABLE bulk OWNER TO ${role}`);
    const t = await target(db);
    const backup = await backupOf(t);
    await sql(db, `REASSIGN OWNED BY ${role} TO postgres`);
    await sql('postgres', `DROP ROLE ${role}`);
    // A backup written before roles were recorded: only pg_restore itself can find the missing role.
    const dumpOnly: ArtifactSource = { ...backup.source, artifacts: backup.source.artifacts.filter((a) => a.name.endsWith('.dump')) };
    expect(dumpOnly.artifacts[0].bytes).toBeGreaterThan(4 * 1024 * 1024);
    const failure = postgres.restore(dumpOnly, t, {}, quiet);
    await expect(failure).rejects.toMatchObject({ name: 'ToolError' });
    await expect(failure).rejects.toThrow(new RegExp(`pg_restore exited with code 1: .*role "${role}" does not exist.*The target database "${db}" is unchanged`));
    expect((await sql(db, 'SELECT count(*)::int AS n FROM bulk'))[0].n).toBe(150_000);
  });

  test('an index pg_restore cannot build (its function relies on search_path): ToolError from the post-data pass, target untouched, staging dropped', async () => {
    const db = await createDatabase('postdata');
    // A classic: an "immutable" function calling another without its schema; pg_restore runs with an
    // empty search_path, so the index build fails after every row is loaded.
    await sql(db, `CREATE FUNCTION inner_norm(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 % 1000';
                   CREATE FUNCTION norm(v int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS 'BEGIN RETURN inner_norm(v); END';
                   CREATE TABLE readings (id int PRIMARY KEY, v int NOT NULL);
                   INSERT INTO readings SELECT i, i * 7 FROM generate_series(1, 20000) i;
                   CREATE INDEX readings_norm ON readings (norm(v));`);
    const t = await target(db);
    const backup = await backupOf(t, 'b-postdata');
    await sql(db, 'DELETE FROM readings WHERE id <= 10');
    const before = await dumpText(db, '--data-only');

    const failure = postgres.restore(backup.source, t, {}, quiet);
    await expect(failure).rejects.toMatchObject({ name: 'ToolError', component: 'postgres' });
    await expect(failure).rejects.toThrow(new RegExp(`pg_restore exited with code 1: .*function inner_norm\\(integer\\) does not exist.*The target database "${db}" is unchanged`));
    expect(await dumpText(db, '--data-only')).toBe(before);
    expect(await databasesLike(`${db}_nca_%`)).toEqual([]);
  });

  test('rows read while the indexes are built are still held to the backup: a changed row digest fails before the swap', async () => {
    const db = await createDatabase('rowsapart');
    await loadSampleNcaDatabase(urlFor(db), { rows: 2000 });
    const t = await target(db);
    const backup = await backupOf(t, 'b-rowsapart');
    const key = 'table "public"."memory_items"';
    expect(backup.result.fingerprint[key].count).toBe(2000);
    const lying = { ...backup.result.fingerprint, [key]: { ...backup.result.fingerprint[key], digest: '0'.repeat(64) } };
    const source = backup.artifacts.source({ backupId: 'b-rowsapart', fingerprint: lying, source: backup.result.source });
    await expect(postgres.restore(source, t, {}, quiet)).rejects.toThrow(/staged restore does not match.*table "public"\."memory_items"/);

    // The faithful backup restores in two passes, the rows read while the post-data section ran.
    const restored = await postgres.restore(backup.source, t, {}, quiet);
    expect(Object.keys(restored.details?.timings as object)).toEqual(expect.arrayContaining(['loadMs', 'postDataMs', 'rowsMs', 'verifyMs']));
    expect((await postgres.verifyRestore!(backup.result.fingerprint, backup.source, t, {}, quiet)).differences).toEqual([]);
  });

  test('a backup session ended by the server mid-dump (pg_terminate_backend): TransientError, pg_dump stopped, no artifact', async () => {
    const db = await createDatabase('ended_backup');
    await loadBulk(db, 60_000);
    const t = await target(db);
    const artifacts = fsArtifacts();
    const backup = postgres.backup(t, throttledSink(artifacts.sink, 1024 * 1024), quiet);
    const outcome = backup.then(() => undefined, (error: unknown) => error);
    const pid = await waitFor('the snapshot session to be idle in its transaction', async () => {
      // Once pg_dump copies table data (its snapshot imported long before) and ours waits idle in its transaction.
      const rows = await sql(
        'postgres',
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'nca-backup' AND state = 'idle in transaction'
           AND EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'nca-backup/pg_dump' AND query LIKE 'COPY %')`,
        [db],
      );
      return rows[0]?.pid as number | undefined;
    });
    await sql('postgres', 'SELECT pg_terminate_backend($1)', [pid]);
    const error = (await outcome) as Error;
    expect(error).toMatchObject({ name: 'TransientError', message: expect.stringMatching(/terminating connection due to administrator command|Connection terminated/) });
    expect(artifacts.records).toEqual([]);
    await waitFor('pg_dump to be gone', async () => ((await sql('postgres', `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'nca-backup%'`, [db])).length === 0 ? true : undefined), 5000);
  });
});

describe('a server of its own: timeouts and a stop mid-backup', () => {
  let server: RunningPostgres | undefined;
  afterEach(async () => {
    await server?.stop().catch(() => undefined);
    server = undefined;
  });

  async function serverWithBulk(rows: number): Promise<{ server: RunningPostgres; t: PostgresTarget }> {
    server = await startPostgres();
    const admin = new Client({ connectionString: server.url });
    await admin.connect();
    await admin.query('CREATE DATABASE app');
    await admin.end();
    const app = new Client({ connectionString: server.urlFor('app') });
    await app.connect();
    await app.query('CREATE TABLE bulk (id int PRIMARY KEY, payload text)');
    await app.query(`INSERT INTO bulk SELECT g, md5(random()::text) || md5(random()::text) || md5(random()::text) FROM generate_series(1, ${rows}) g`);
    await app.end();
    return { server, t: await connectPostgres({ database: 'app' }, { NCA_POSTGRES_URL: server.url, NCA_PG_BIN_DIR: server.binDir }) };
  }

  test('idle_in_transaction_session_timeout=1s on the server: a dump that takes longer still succeeds and restores', async () => {
    const { server: pg, t } = await serverWithBulk(40_000);
    const admin = new Client({ connectionString: pg.url });
    await admin.connect();
    await admin.query(`ALTER SYSTEM SET idle_in_transaction_session_timeout = '1s'`);
    await admin.query('SELECT pg_reload_conf()');
    await admin.end();
    const artifacts = fsArtifacts();
    // A slow upload keeps pg_dump running for several seconds after the fingerprint is done.
    const result = await postgres.backup(t, throttledSink(artifacts.sink, 512 * 1024), quiet);
    expect(artifacts.records.find((r) => r.name === 'app.dump')!.bytes).toBeGreaterThan(1.5 * 1024 * 1024);
    const copy = withDatabase(t, 'app_copy');
    await postgres.restore(artifacts.source({ backupId: 'b1', fingerprint: result.fingerprint, source: result.source }), copy, {}, quiet);
    expect(await postgres.fingerprint(copy)).toEqual(result.fingerprint);
  });

  test('the server stopped mid-backup: TransientError, pg_dump stopped, the multipart upload aborted and nothing stored', async () => {
    const { server: pg, t } = await serverWithBulk(150_000);
    const { vault, client } = await testVault({ partSizeBytes: 5 * 1024 * 1024 });
    const multipart: string[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (['CreateMultipartUploadCommand', 'AbortMultipartUploadCommand', 'CompleteMultipartUploadCommand'].includes(String(context.commandName))) multipart.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'recordMultipart' },
    );
    const sink: ArtifactSink = {
      async write(name, body, options) {
        const stored = await vault.writeStream(`database/postgres/b1/${name}`, body, options?.contentType);
        return { name, bytes: stored.bytes, sha256: stored.sha256, contentType: options?.contentType ?? 'application/octet-stream' };
      },
    };
    const backup = postgres.backup(t, throttledSink(sink, 2 * 1024 * 1024), quiet);
    const outcome = backup.then(() => undefined, (error: unknown) => error);
    await waitFor('the upload to start', async () => (multipart.includes('CreateMultipartUploadCommand') ? true : undefined));
    await pg.stop();
    server = undefined;
    const error = (await outcome) as Error;
    expect(error).toMatchObject({ name: 'TransientError' });
    expect(error.message).toMatch(/^postgres: /);
    // writeStream has the upload abort itself; the AbortMultipartUpload request follows the failure.
    await waitFor('the multipart upload to be aborted', async () => (multipart.includes('AbortMultipartUploadCommand') ? true : undefined), 10_000);
    expect(multipart).not.toContain('CompleteMultipartUploadCommand');
    expect(await vault.listKeys('database/postgres/b1/')).toEqual([]);
  });

  test('a backup waits for a table lock no longer than its lock timeout, and names the session holding it', async () => {
    const { server: pg } = await serverWithBulk(100);
    const t = await connectPostgres({ database: 'app' }, { NCA_POSTGRES_URL: pg.url, NCA_PG_BIN_DIR: pg.binDir, NCA_PG_LOCK_TIMEOUT_SECONDS: '1' });
    const migration = new Client({ connectionString: pg.urlFor('app'), application_name: 'nca-migration' });
    await migration.connect();
    await migration.query('BEGIN');
    await migration.query('LOCK TABLE bulk IN ACCESS EXCLUSIVE MODE');
    try {
      const artifacts = fsArtifacts();
      const failure = postgres.backup(t, artifacts.sink, quiet);
      await expect(failure).rejects.toMatchObject({ name: 'TransientError' });
      await expect(failure).rejects.toThrow(/waited longer than 1s for a table lock held by pid \d+ \(user postgres, application "nca-migration"/);
      expect(artifacts.records).toEqual([]);
    } finally {
      await migration.end();
    }
  });
});

describe('foreign data: a pagila-style schema (partitions, domains, enums, triggers, views, full text)', () => {
  test('an in-place restore brings back exactly what pg_dump sees, schema and data', async () => {
    const db = await createDatabase('pagila');
    for (const role of ['pagila_owner', 'pagila_reader']) {
      if (!(await roleExists(role))) await sql('postgres', `CREATE ROLE ${role} NOLOGIN`);
    }
    await sql(db, readFileSync(join(__dirname, '../fixtures/postgres/partitions-domains.sql'), 'utf8'));
    const t = await target(db);
    const schema = await dumpText(db, '--schema-only');
    const data = await dumpText(db, '--data-only');
    const backup = await backupOf(t);
    // Life goes on after the backup: rows change, a migration adds a table on the enum and a partition.
    await sql(db, `UPDATE film SET title = 'CHANGED' WHERE film_id < 10`);
    await sql(db, `DELETE FROM payment WHERE payment_date < '2022-01-15'`);
    await sql(db, `CREATE TABLE film_rating_history (film_id int, rating mpaa_rating)`);
    await sql(db, `CREATE TABLE payment_p2022_04 PARTITION OF payment FOR VALUES FROM ('2022-04-01 00:00:00+00') TO ('2022-05-01 00:00:00+00')`);

    await postgres.restore(backup.source, t, {}, quiet);
    expect(await dumpText(db, '--schema-only')).toBe(schema);
    expect(await dumpText(db, '--data-only')).toBe(data);
    expect(await postgres.fingerprint(t)).toEqual(backup.result.fingerprint);
  });
});

describe("foreign data: the NCA's own schema, under a hostile database name", () => {
  test('an in-place restore of the NCA schema (enums, json, SERIALs) into a database named with quotes, dots and spaces matches pg_dump text', async () => {
    const db = `nca "db".v2 ü ${Math.random().toString(16).slice(2, 6)}`;
    await sql('postgres', `CREATE DATABASE "${db.replace(/"/g, '""')}"`);
    await sql(db, readFileSync(join(__dirname, '../fixtures/postgres/nca-schema.sql'), 'utf8'));
    const t = await target(db);
    const schema = await dumpText(db, '--schema-only');
    const data = await dumpText(db, '--data-only');
    const backup = await backupOf(t);
    // A later migration adds a table using one of the dumped enums; rows change.
    await sql(db, `CREATE TABLE later_migration (id serial PRIMARY KEY, kind memorytype)`);
    const tables = await sql(db, `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1 LIMIT 1`);
    await sql(db, `DELETE FROM ${tables[0].name}`);

    const restored = await postgres.restore(backup.source, t, {}, quiet);
    expect(restored).toMatchObject({ target: db, replacedExisting: true, details: { verifiedBeforeSwap: true } });
    expect(await dumpText(db, '--schema-only')).toBe(schema);
    expect(await dumpText(db, '--data-only')).toBe(data);
    const kept = restored.details!.previousKeptAs as string;
    expect(Buffer.byteLength(kept)).toBeLessThanOrEqual(63);
    expect(await sql(kept, `SELECT count(*)::int AS n FROM later_migration`)).toEqual([{ n: 0 }]);
    await sql('postgres', `DROP DATABASE "${kept.replace(/"/g, '""')}"`);
  });
});

describe('restore options', () => {
  test('the parser names the field and what is allowed', () => {
    expect(parsePostgresRestoreOptions({ terminateSessions: true, sessionGraceSeconds: 5, keepPreviousHours: 0.5, noOwner: true, lockTimeoutSeconds: 10 })).toEqual({
      terminateSessions: true,
      sessionGraceSeconds: 5,
      keepPreviousHours: 0.5,
      noOwner: true,
      lockTimeoutSeconds: 10,
    });
    expect(() => parsePostgresRestoreOptions({ terminateSessions: 'yes' })).toThrow(/postgres: options.terminateSessions must be true or false/);
    expect(() => parsePostgresRestoreOptions({ sessionGraceSeconds: -1 })).toThrow(/options.sessionGraceSeconds must be a whole number from 0 to 3600/);
    expect(() => parsePostgresRestoreOptions({ clean: true })).toThrow(/options.clean is not a PostgreSQL restore option/);
    expect(() => parsePostgresRestoreOptions({ createRoles: true, noOwner: true })).toThrow(/contradict/);
  });

  test('staging and kept-aside names fit 63 bytes for any target name and never collide', () => {
    const long = 'ü'.repeat(40);
    for (const name of [stagingDatabaseName(long, 'b1'), keptAsideName(long, new Date())]) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect(stagingDatabaseName('neuroca_db', 'b1')).not.toBe(stagingDatabaseName('neuroca_db', 'b2'));
    expect(stagingDatabaseName(`${long}a`, 'b1')).not.toBe(stagingDatabaseName(`${long}b`, 'b1'));
  });
});
