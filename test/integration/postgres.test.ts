/**
 * The postgres component against the run's real PostgreSQL 15 and its pg_dump/pg_restore: backup and
 * restore round trips, fingerprints, snapshot consistency, version checks and failures that must leave
 * the target untouched.
 */
import { Readable } from 'node:stream';
import { connectPostgres, postgres, withDatabase, type PostgresTarget } from '../../functions/components/postgres';
import { IntegrityError, InvalidInputError, ToolError, VersionMismatchError } from '../../functions/core/errors';
import { loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { backupToFs, fsArtifacts, readArtifact } from '../support/fs-artifacts';
import { createDatabase, databaseExists, sql, testPostgresUrl, urlFor } from '../support/postgres-db';
import { silentLogger as quiet } from '../../functions/core/logger';

const env = () => ({ NCA_POSTGRES_URL: testPostgresUrl(), NCA_PG_BIN_DIR: process.env.NCA_TEST_PG_BIN_DIR });
const target = (database: string) => connectPostgres({ database }, env());

let sampleDb: string;
let sample: PostgresTarget;

const backupOf = (t: PostgresTarget) => backupToFs(postgres, t, quiet);

beforeAll(async () => {
  sampleDb = await createDatabase('sample');
  await loadSampleNcaDatabase(urlFor(sampleDb), { rows: 3000 });
  sample = await target(sampleDb);
});

describe('postgres backup and restore', () => {
  test('a restore into a new database reproduces every table, row and column type', async () => {
    const { artifacts, result } = await backupOf(sample);
    expect(result.artifacts).toEqual([
      expect.objectContaining({ name: `${sampleDb}.dump`, contentType: 'application/vnd.postgresql.custom-archive' }),
      expect.objectContaining({ name: 'globals.json', contentType: 'application/json' }),
    ]);
    expect(readArtifact(artifacts, `${sampleDb}.dump`).subarray(0, 5).toString()).toBe('PGDMP');
    expect(result.source).toMatchObject({ serverMajor: 15, toolMajor: 15, database: sampleDb });
    expect(result.consistency.pointInTime).toBe(true);
    expect(result.fingerprint['table "public"."memory_items"'].count).toBe(3000);
    expect(result.fingerprint['table "cognition"."Session State"'].count).toBe(60);
    expect(result.fingerprint['table "public"."memory_items"#columns'].count).toBe(9);

    const copy = withDatabase(sample, `${sampleDb}_copy`);
    expect(await postgres.targetExists(copy)).toBe(false);
    const restored = await postgres.restore(artifacts.source(), copy, {}, quiet);
    expect(restored).toMatchObject({ target: `${sampleDb}_copy`, replacedExisting: false });
    expect(await postgres.fingerprint(copy)).toEqual(result.fingerprint);
  });

  test('the fingerprint ignores physical row order but sees a single changed value', async () => {
    const db = await createDatabase('order');
    await loadSampleNcaDatabase(urlFor(db), { rows: 500 });
    const t = await target(db);
    const before = await postgres.fingerprint(t);
    // CLUSTER rewrites the table in another physical order; content is unchanged.
    await sql(db, 'CLUSTER memory_items USING memory_items_created');
    await sql(db, 'VACUUM FULL audit_log');
    expect(await postgres.fingerprint(t)).toEqual(before);

    await sql(db, `UPDATE audit_log SET details = jsonb_set(details, '{latency_ms}', '1') WHERE id = 2`);
    const after = await postgres.fingerprint(t);
    expect(after['table "public"."audit_log_2026_01"'].count).toBe(before['table "public"."audit_log_2026_01"'].count);
    expect(after['table "public"."audit_log_2026_01"'].digest).not.toBe(before['table "public"."audit_log_2026_01"'].digest);
    expect(after['table "public"."memory_items"']).toEqual(before['table "public"."memory_items"']);

    // A table whose row type cannot be hashed (json, point) is digested through its text form.
    await sql(db, `CREATE TABLE raw_events (id int, payload json, at point)`);
    await sql(db, `INSERT INTO raw_events VALUES (1, '{"a": 1}', '(1,2)'), (2, '{"b": 2}', '(3,4)')`);
    const withJson = await postgres.fingerprint(t);
    await sql(db, `UPDATE raw_events SET payload = '{"b": 3}' WHERE id = 2`);
    expect((await postgres.fingerprint(t))['table "public"."raw_events"'].digest).not.toBe(withJson['table "public"."raw_events"'].digest);
    expect(withJson['table "public"."raw_events"'].count).toBe(2);

    await sql(db, 'ALTER TABLE users ALTER COLUMN email SET NOT NULL');
    expect((await postgres.fingerprint(t))['table "public"."users"#columns'].digest).not.toBe(before['table "public"."users"#columns'].digest);
  });

  test('writes during a backup land neither in the dump nor in its fingerprint', async () => {
    const db = await createDatabase('busy');
    await loadSampleNcaDatabase(urlFor(db), { rows: 2000 });
    const t = await target(db);
    let writing = true;
    const writer = (async () => {
      let n = 0;
      while (writing) await sql(db, `INSERT INTO audit_log (at, actor, action) VALUES (now(), 'writer', 'write ${n++}')`);
      return n;
    })();
    const { artifacts, result } = await backupOf(t);
    writing = false;
    const written = await writer;
    expect(written).toBeGreaterThan(0);

    const copy = withDatabase(t, `${db}_copy`);
    await postgres.restore(artifacts.source(), copy, {}, quiet);
    expect(await postgres.fingerprint(copy)).toEqual(result.fingerprint);
  });

  test('restoring over a damaged database replaces its contents', async () => {
    const db = await createDatabase('damaged');
    await loadSampleNcaDatabase(urlFor(db), { rows: 300 });
    const t = await target(db);
    const { artifacts, result } = await backupOf(t);
    await sql(db, 'DELETE FROM memory_items WHERE importance < 0.5');
    await sql(db, 'DROP TABLE model_artifacts');
    expect(await postgres.targetExists(t)).toBe(true);
    expect(await postgres.restore(artifacts.source(), t, {}, quiet)).toMatchObject({ target: db, replacedExisting: true });
    expect(await postgres.fingerprint(t)).toEqual(result.fingerprint);
  });
});

describe('postgres failures leave the target as it was', () => {
  test('a damaged artifact is refused by the digest check and nothing is committed', async () => {
    const db = await createDatabase('victim');
    await loadSampleNcaDatabase(urlFor(db), { rows: 200 });
    const t = await target(db);
    const { artifacts } = await backupOf(t);
    await sql(db, "UPDATE users SET email = 'changed@example.org'");
    const before = await postgres.fingerprint(t);

    // Flip one byte near the end: every block pg_restore needs is there except an intact last one.
    const name = `${db}.dump`;
    const bytes = readArtifact(artifacts, name);
    bytes[bytes.length - 10] ^= 0xff;
    artifacts.corrupt(name, bytes);
    await expect(postgres.restore(artifacts.source(), t, {}, quiet)).rejects.toThrow(IntegrityError);
    expect(await postgres.fingerprint(t)).toEqual(before);
  });

  test('an artifact that is not a dump fails with pg_restore\'s own message and changes nothing', async () => {
    const db = await createDatabase('garbage');
    await loadSampleNcaDatabase(urlFor(db), { rows: 100 });
    const t = await target(db);
    const before = await postgres.fingerprint(t);
    const artifacts = fsArtifacts();
    await artifacts.sink.write(`${db}.dump`, Readable.from([Buffer.from('this is not a pg_dump archive')]));
    const failure = postgres.restore(artifacts.source(), t, {}, quiet);
    await expect(failure).rejects.toThrow(ToolError);
    await expect(failure).rejects.toThrow(/pg_restore exited with code 1: .*input file/);
    expect(await postgres.fingerprint(t)).toEqual(before);
  });

  test('a pg_dump failure part-way fails the backup instead of storing a truncated dump', async () => {
    const db = await createDatabase('denied');
    await loadSampleNcaDatabase(urlFor(db), { rows: 100 });
    const role = `reader_${db}`;
    await sql(db, `CREATE ROLE ${role} LOGIN`);
    await sql(db, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    await sql(db, `REVOKE SELECT ON audit_log FROM ${role}`);
    const url = new URL(testPostgresUrl());
    url.username = role;
    const t = await connectPostgres({ database: db }, { ...env(), NCA_POSTGRES_URL: url.toString() });
    const artifacts = fsArtifacts();
    await expect(postgres.backup(t, artifacts.sink, quiet)).rejects.toThrow(/permission denied/);
    expect(artifacts.records).toEqual([]);
  });

  test('versions: an older target server or pg_restore is refused before the restore, naming both versions', async () => {
    const described = await postgres.describe(sample);
    // The server's version as it reports it (Debian's point release changes when packages are upgraded).
    const running = (await sql(sampleDb, 'SHOW server_version'))[0].server_version.split(' ')[0];
    await expect(postgres.checkCompatibility(described, sample)).resolves.toMatchObject({ targetVersion: described.serverVersion });
    await expect(postgres.checkCompatibility({ ...described, serverVersion: '17.2', serverMajor: 17 }, sample)).rejects.toThrow(
      new VersionMismatchError(`the backup comes from PostgreSQL 17.2; the target server runs ${running}, an older major version.`, {
        component: 'postgres',
        hint: 'Restore into a PostgreSQL 17 or newer server.',
      }).message,
    );
    await expect(postgres.checkCompatibility({ ...described, toolVersion: '16.1', toolMajor: 16 }, sample)).rejects.toThrow(
      /written by pg_dump 16\.1; pg_restore 15\.\d+ cannot read it/,
    );
  });

  test('estimate is the database size on disk', async () => {
    const bytes = await postgres.estimate(sample);
    const [{ size }] = await sql(sampleDb, 'SELECT pg_database_size(current_database())::bigint AS size');
    expect(bytes).toBe(Number(size));
    expect(bytes).toBeGreaterThan(1_000_000);
  });
});

describe('postgres connections', () => {
  test('a secret supplies host and credentials; the configured database wins; the server certificate is verified', async () => {
    const secret = JSON.stringify({ host: 'db.internal', port: 6543, username: 'backup', password: 's3cr3t-value', dbname: 'other' });
    const t = await connectPostgres({ database: 'neuroca_db', secretArn: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:nca-db-AbCdEf' }, {}, async () => secret);
    expect(t).toMatchObject({ host: 'db.internal', port: 6543, user: 'backup', database: 'neuroca_db', sslMode: 'verify-full' });
  });

  test('no connection configured, or a secret that is not JSON, is a clear error without secrets in it', async () => {
    await expect(connectPostgres({ database: 'neuroca_db' }, {})).rejects.toThrow(/backup\.sources\.postgres\.secret_arn .* NCA_POSTGRES_URL/);
    const failure = connectPostgres({ database: 'x', secretArn: 'arn:aws:secretsmanager:us-west-2:1:secret:s' }, {}, async () => 'password=hunter2');
    await expect(failure).rejects.toThrow(InvalidInputError);
    await expect(failure).rejects.not.toThrow(/hunter2/);
  });

  test('an unreachable server is a TransientError (retried by the workflow) that names host and port only', async () => {
    const t = await connectPostgres({ database: 'neuroca_db' }, { NCA_POSTGRES_URL: 'postgres://backup:pw-never-shown@127.0.0.1:1/x' });
    const failure = postgres.estimate(t);
    await expect(failure).rejects.toMatchObject({ name: 'TransientError', message: expect.stringContaining('127.0.0.1:1/neuroca_db') });
    await expect(failure).rejects.not.toThrow(/pw-never-shown/);
  });

  test('databaseExists helper agrees with targetExists', async () => {
    expect(await databaseExists(sampleDb)).toBe(await postgres.targetExists(sample));
  });
});
