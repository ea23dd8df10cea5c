/**
 * Restore drills (`nca-backup drill`) through the real bin script, against real PostgreSQL and Redis and
 * s3rver: a backup restored into a sandbox, verified and read, the sandbox gone afterwards (asked of the
 * server itself), the record in the vault; a damaged backup, a sandbox that is production, a kept sandbox.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type Redis from 'ioredis';
import { drillDatabases, withRedisDb as withRedisIndex } from '../support/drill-sandboxes';
import { loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { startRedis, type RunningRedis } from '../../scripts/local-servers';
import { cliEnv, postgresBackupYaml, runCli, writeBackupYaml, type CliRun, databaseBackupYaml } from '../support/cli';
import { createDatabase, sql, testPostgresUrl, urlFor } from '../support/postgres-db';
import { createTestBucket, readObject, testS3Client } from '../support/s3';

jest.setTimeout(120_000);

let redisServer: RunningRedis;
const pgEnv = () => ({ NCA_POSTGRES_URL: testPostgresUrl(), NCA_PG_BIN_DIR: process.env.NCA_TEST_PG_BIN_DIR });

beforeAll(async () => {
  redisServer = await startRedis();
});
afterAll(async () => {
  await redisServer?.stop();
});

/** Exit 0, or the output that says why not. */
function exitedWith0(run: CliRun): void {
  expect(run.code === 0 ? 0 : run).toBe(0);
}

/** Runs `use` on a database index of the run's Redis. */
const withRedisDb = <T>(db: number, use: (redis: Redis) => Promise<T>) => withRedisIndex(redisServer.port, db, use);

/** A postgres source with sample NCA data, its own vault bucket and backup.yaml (+ `extra` yaml). */
async function postgresSetup(extra = '') {
  const database = await createDatabase('drill');
  await loadSampleNcaDatabase(urlFor(database), { rows: 200 });
  const bucket = await createTestBucket(testS3Client(), 'drill');
  const configFile = writeBackupYaml(postgresBackupYaml(database) + extra);
  const env = cliEnv(bucket, pgEnv());
  return { database, bucket, configFile, cli: (...args: string[]) => runCli(env, [...args, '--config', configFile]) };
}

const redisYaml = (db: number, extra = '') => databaseBackupYaml(`    redis:
      db: ${db}
${extra}`);

async function redisSetup(db: number, extra = '') {
  await withRedisDb(db, async (redis) => {
    await redis.flushdb();
    for (let i = 0; i < 50; i++) await redis.set(`session:${i}`, `value ${i}`);
    await redis.hset('working:memory', { a: '1', b: '2' });
  });
  const bucket = await createTestBucket(testS3Client(), 'drill');
  const configFile = writeBackupYaml(redisYaml(db, extra));
  const env = cliEnv(bucket, { NCA_REDIS_URL: redisServer.url });
  return { bucket, cli: (...args: string[]) => runCli(env, [...args, '--config', configFile]) };
}

describe('nca-backup drill', () => {
  test('postgres: the latest backup restored into a scratch database, verified, read, timed, dropped; the record in the vault', async () => {
    const { bucket, cli } = await postgresSetup();
    const backup = await cli('backup', 'postgres');
    expect(backup.code).toBe(0);

    const drill = await cli('drill', 'postgres');
    exitedWith0(drill);
    const [result] = drill.json.drills;
    expect(drill.json.succeeded).toBe(true);
    expect(result).toMatchObject({
      component: 'postgres',
      succeeded: true,
      backupId: backup.json.backupId,
      recoveryPoint: 'latest',
      sandbox: `nca_drill_${drill.json.drillId.replace('-', '').toLowerCase()}`,
      sandboxState: { state: 'dropped' },
      sample: expect.stringMatching(/^a row of /),
      recordKey: `reports/drills/${drill.json.drillId}/postgres.json`,
    });
    expect(result.restoreSeconds).toBeGreaterThan(0);
    expect(result.cause).toBeUndefined();
    expect(await drillDatabases(drill.json.drillId)).toEqual([]);
    const record = JSON.parse((await readObject(testS3Client(), bucket, `backups/${result.recordKey}`)).toString());
    expect(record).toMatchObject({ drillId: drill.json.drillId, component: 'postgres', succeeded: true, backupId: backup.json.backupId, sandboxState: { state: 'dropped' } });
    // Where the scorecard is, and that it is there.
    expect(drill.json.scorecard).toMatchObject({ status: 'ok', urls: [`s3://${bucket}/backups/reports/scorecard.html`, `s3://${bucket}/backups/reports/drills/${drill.json.drillId}/scorecard.html`] });
    expect((await readObject(testS3Client(), bucket, 'backups/reports/scorecard.html')).toString()).toContain('data-component="postgres"');
  });

  test('postgres: a backup with damaged bytes fails the drill with IntegrityError in the record, exit 1, and the sandbox is gone', async () => {
    const { bucket, database, cli } = await postgresSetup();
    const backup = await cli('backup', 'postgres');
    await testS3Client().send(new PutObjectCommand({ Bucket: bucket, Key: `backups/database/postgres/${backup.json.backupId}/${database}.dump`, Body: 'overwritten' }));

    const drill = await cli('drill');
    expect(drill.code).toBe(1);
    expect(drill.json).toMatchObject({ error: 'DrillFailedError' });
    const [result] = drill.json.result.drills;
    expect(result).toMatchObject({ component: 'postgres', succeeded: false, backupId: backup.json.backupId, cause: { error: 'IntegrityError' }, sandboxState: { state: 'dropped' } });
    expect(result.restoreSeconds).toBeUndefined();
    expect(await drillDatabases(drill.json.result.drillId)).toEqual([]);
    const record = JSON.parse((await readObject(testS3Client(), bucket, `backups/${result.recordKey}`)).toString());
    expect(record).toMatchObject({ succeeded: false, cause: { error: 'IntegrityError' } });
  });

  test('postgres: keep_hours > 0 leaves the sandbox and records until when', async () => {
    const { cli } = await postgresSetup('  verification:\n    keep_hours: 3\n');
    expect((await cli('backup', 'postgres')).code).toBe(0);
    const drill = await cli('drill', 'postgres');
    exitedWith0(drill);
    const [result] = drill.json.drills;
    expect(result.sandboxState.state).toBe('kept');
    const until = Date.parse(result.sandboxState.keptUntil);
    expect(until).toBeGreaterThan(Date.now() + 2 * 3600_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 3 * 3600_000);
    expect(await drillDatabases(drill.json.drillId)).toEqual([result.sandbox]);
    expect((await sql(result.sandbox, `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`))[0].n).toBeGreaterThan(0);
    await sql('postgres', `DROP DATABASE "${result.sandbox}"`);
  });

  test('every configured component when none is named: one without a backup fails saying so, the others still run, exit 1', async () => {
    const { cli } = await postgresSetup('    config:\n      parameter_paths: ["/neuroca"]\n');
    expect((await cli('backup', 'postgres')).code).toBe(0);
    const drill = await cli('drill');
    expect(drill.code).toBe(1);
    expect(drill.json.error).toBe('DrillFailedError');
    expect(drill.json.result.drills).toEqual([
      expect.objectContaining({ component: 'postgres', succeeded: true }),
      expect.objectContaining({ component: 'config', succeeded: false, cause: { error: 'BackupNotFoundError', message: expect.stringContaining('no trusted backup to drill') } }),
    ]);
  });

  test('postgres: configured sample queries run against the sandbox; one that finds nothing fails the drill, and the sandbox is dropped', async () => {
    const samples = (sql: string) => `  verification:\n    samples:\n      postgres:\n        - sql: "${sql}"\n          min_rows: 5\n`;
    const good = await postgresSetup(samples("SELECT id FROM memory_items WHERE tier = 'episodic'"));
    expect((await good.cli('backup', 'postgres')).code).toBe(0);
    const passed = await good.cli('drill', 'postgres');
    exitedWith0(passed);
    expect(passed.json.drills[0].samples).toEqual([expect.objectContaining({ ok: true, found: 5 })]);

    const bad = await postgresSetup(samples("SELECT id FROM memory_items WHERE tier = 'episodic' AND importance > 2"));
    expect((await bad.cli('backup', 'postgres')).code).toBe(0);
    const failed = await bad.cli('drill', 'postgres');
    expect(failed.code).toBe(1);
    expect(failed.json.result.drills[0]).toMatchObject({ succeeded: false, cause: { error: 'VerificationError', message: expect.stringContaining('sample data retrieval failed') }, sandboxState: { state: 'dropped' } });
    expect(await drillDatabases(failed.json.result.drillId)).toEqual([]);
  });

  test('postgres: a kept sandbox is sanitized before it is reported kept; a rule naming a missing column drops it instead', async () => {
    const rules = (column: string) => `  verification:\n    keep_hours: 2\n    sanitize:\n      postgres:\n        - column: ${column}\n          action: hash\n        - column: public.users.username\n          action: mask\n`;
    const { cli, database } = await postgresSetup(rules('public.users.email'));
    expect((await cli('backup', 'postgres')).code).toBe(0);
    const drill = await cli('drill', 'postgres');
    exitedWith0(drill);
    const [result] = drill.json.drills;
    expect(result.sandboxState.state).toBe('kept');
    expect(result.sanitized).toEqual([expect.objectContaining({ target: 'public.users.email', action: 'hash' }), expect.objectContaining({ target: 'public.users.username', action: 'mask' })]);
    // Read from the servers, not through our code: every e-mail in the sandbox is the SHA-256 of production's, every name masked.
    const production = await sql(database, 'SELECT id, email, username FROM users ORDER BY id');
    const sandbox = await sql(result.sandbox, 'SELECT id, email, username FROM users ORDER BY id');
    expect(sandbox).toHaveLength(production.length);
    const sha256 = (text: string) => require('node:crypto').createHash('sha256').update(text).digest('hex');
    sandbox.forEach((row, i) => {
      expect(row.email).toBe(production[i].email === null ? null : sha256(production[i].email));
      expect(row.username).not.toBe(production[i].username);
      expect(row.username.slice(-4)).toBe(production[i].username.slice(-4));
    });
    await sql('postgres', `DROP DATABASE "${result.sandbox}"`);

    const broken = await postgresSetup(rules('public.users.phone'));
    expect((await broken.cli('backup', 'postgres')).code).toBe(0);
    const refused = await broken.cli('drill', 'postgres');
    expect(refused.code).toBe(1);
    expect(refused.json.result.drills[0]).toMatchObject({ succeeded: false, sandboxState: { state: 'dropped' }, cause: { error: 'InvalidInputError', message: expect.stringMatching(/sanitization .*dropped instead.*phone/) } });
    expect(await drillDatabases(refused.json.result.drillId)).toEqual([]);
  });

  test('redis: restored into index 15, read, flushed; the configured index is left as it was', async () => {
    const { cli } = await redisSetup(2);
    const backup = await cli('backup', 'redis');
    exitedWith0(backup);
    const drill = await cli('drill', 'redis');
    exitedWith0(drill);
    expect(drill.json.drills[0]).toMatchObject({ component: 'redis', succeeded: true, sandbox: '15', sandboxState: { state: 'dropped' }, sample: 'a key of db15' });
    expect(await withRedisDb(15, (r) => r.dbsize())).toBe(0);
    expect(await withRedisDb(2, (r) => r.dbsize())).toBe(51);
  });

  test('redis: a sandbox that is the production index, or an index holding keys, is refused before anything is written', async () => {
    const production = await redisSetup(15);
    expect((await production.cli('backup', 'redis')).code).toBe(0);
    const refused = await production.cli('drill', 'redis');
    expect(refused.code).toBe(1);
    expect(refused.json.result.drills[0]).toMatchObject({ succeeded: false, cause: { error: 'InvalidInputError', message: expect.stringContaining('is the production target') }, sandboxState: { state: 'not-created' } });
    expect(await withRedisDb(15, (r) => r.dbsize())).toBe(51);

    const busy = await redisSetup(3);
    expect((await busy.cli('backup', 'redis')).code).toBe(0);
    const held = await busy.cli('drill', 'redis');
    expect(held.json.result.drills[0]).toMatchObject({ succeeded: false, cause: { error: 'InvalidInputError', message: expect.stringContaining('already holds data') } });
    expect(await withRedisDb(15, (r) => r.dbsize())).toBe(51);
    await withRedisDb(15, (r) => r.flushdb());
  });
});
