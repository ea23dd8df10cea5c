/**
 * `nca-backup backup-all` and `restore-all`: the real bin script in a child process, against the run's
 * PostgreSQL, a real Redis and s3rver. The same system index and report as the workflows
 * (test/workflows/system-recovery.test.ts); an incomplete point fails both commands with exit 1.
 */
import { startRedis, type RunningServer } from '../../scripts/local-servers';
import { damageSampleDatabase, loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { loadSampleMemory } from '../../scripts/sample-nca-memory';
import { cliEnv, databaseBackupYaml, runCli, writeBackupYaml } from '../support/cli';
import { createDatabase, sql, testPostgresUrl, urlFor } from '../support/postgres-db';
import { createTestBucket, listKeys, readObject, testS3Client } from '../support/s3';

const servers: { stop(): Promise<void> }[] = [];
let env: NodeJS.ProcessEnv;
let database: string;
let bucket: string;

const yaml = (db: string) => writeBackupYaml(databaseBackupYaml(`    postgres:\n      database: ${db}\n    redis: {}\n`));

beforeAll(async () => {
  const redis = await startRedis();
  servers.push(redis as RunningServer);
  database = await createDatabase('clisys');
  await loadSampleNcaDatabase(urlFor(database), { rows: 200 });
  await loadSampleMemory({ redisUrl: redis.url }, { items: 40, dimension: 8 });
  bucket = await createTestBucket(testS3Client(), 'clisys');
  env = cliEnv(bucket, { NCA_POSTGRES_URL: testPostgresUrl(), NCA_REDIS_URL: redis.url, AWS_REGION: 'us-west-2' });
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

describe('nca-backup backup-all and restore-all', () => {
  test('one recovery point of every component, restored in priority order with one report', async () => {
    const backup = await runCli(env, ['backup-all', '--config', yaml(database)]);
    expect({ code: backup.code, stderr: backup.code === 0 ? '' : backup.stderr }).toEqual({ code: 0, stderr: '' });
    const systemId = backup.json.systemId;
    expect(backup.json).toMatchObject({ outcome: 'complete', components: [{ component: 'postgres', backupId: systemId, status: 'SUCCEEDED' }, { component: 'redis', backupId: systemId, status: 'SUCCEEDED' }] });

    const before = await sql(database, 'SELECT count(*)::int AS n FROM memory_items');
    await damageSampleDatabase(urlFor(database));
    expect(await sql(database, 'SELECT count(*)::int AS n FROM memory_items')).not.toEqual(before);
    const restore = await runCli(env, ['restore-all', '--system-id', 'latest', '--order', 'redis', '--skip-safety-backup', '--config', yaml(database)]);
    expect({ code: restore.code, stderr: restore.code === 0 ? '' : restore.stderr }).toEqual({ code: 0, stderr: '' });
    expect(restore.json).toMatchObject({ systemId, status: 'SUCCEEDED', total: { rtoHours: 12, withinRto: true }, reportKey: expect.stringContaining('/reports/restore-all/') });
    expect(restore.json.components.map((c: { component: string; status: string; fingerprintMatch: boolean }) => [c.component, c.status, c.fingerprintMatch])).toEqual([
      ['redis', 'RESTORED', true],
      ['postgres', 'RESTORED', true],
    ]);
    expect(await sql(database, 'SELECT count(*)::int AS n FROM memory_items')).toEqual(before);

    // Each command left one audit record in the vault: the backup of the point and its restore-all.
    const client = testS3Client();
    const records = await Promise.all((await listKeys(client, bucket, 'backups/audit/')).map(async (k) => JSON.parse((await readObject(client, bucket, k)).toString('utf8'))));
    expect(records.map((r) => [r.action, r.backupIds, r.outcome]).sort()).toEqual([
      ['backup', [systemId], 'succeeded'],
      ['restore-all', [], 'succeeded'],
    ]);
  });

  test('a component that fails makes the point incomplete: backup-all and restore-all exit 1 with IncompleteRecoveryPointError', async () => {
    const broken = yaml('no_such_database_for_cli');
    const backup = await runCli(env, ['backup-all', '--config', broken]);
    expect(backup.code).toBe(1);
    expect(backup.json).toMatchObject({ error: 'IncompleteRecoveryPointError', component: 'postgres', result: { outcome: 'incomplete' } });
    const systemId = backup.json.result.systemId;

    const refused = await runCli(env, ['restore-all', '--system-id', systemId, '--config', broken]);
    expect(refused.code).toBe(1);
    expect(refused.json).toMatchObject({ error: 'IncompleteRecoveryPointError', component: 'postgres', message: expect.stringContaining(`system recovery point ${systemId} is incomplete`) });
    const unknown = await runCli(env, ['restore-all', '--system-id', 'latest', '--order', 'redis,oracle', '--config', broken]);
    expect(unknown).toMatchObject({ code: 1, json: { error: 'InvalidInputError', message: expect.stringContaining("'oracle'") } });
  });
});
