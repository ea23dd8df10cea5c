/**
 * The drill state machine (state-machines/restore-test.asl.json), run from its file with every Task bound to
 * the real handlers, against the run's real PostgreSQL and Redis, s3rver and the CloudWatch metrics
 * substitute: each component's backup restored into a sandbox, verified, read and dropped; what is left on
 * the servers is asked of the servers themselves.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type Redis from 'ioredis';
import { drillDatabases, withRedisDb as withRedisIndex } from '../support/drill-sandboxes';
import type { RuntimeConfig } from '../../functions/core/runtime-config';
import { loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { startRedis, type RunningRedis } from '../../scripts/local-servers';
import { localWorker, workflowHarness } from '../../scripts/local-workflows';
import { startCloudWatchMetricsServer, type CloudWatchMetricsServer } from '../support/cloudwatch-metrics-server';
import { createDatabase, sql, testPostgresUrl, urlFor } from '../support/postgres-db';
import { verificationOf } from '../../functions/core/drill-plan';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, listKeys, readObject, testS3Client, vaultOf } from '../support/s3';
import { expectSucceeded } from '../support/workflow-results';

jest.setTimeout(180_000);

let redisServer: RunningRedis;
let metrics: CloudWatchMetricsServer;

beforeAll(async () => {
  [redisServer, metrics] = await Promise.all([startRedis(), startCloudWatchMetricsServer()]);
});
afterAll(async () => {
  await Promise.all([redisServer?.stop(), metrics?.stop()]);
});

/** Runs `use` on a database index of the run's Redis. */
const withRedisDb = <T>(db: number, use: (redis: Redis) => Promise<T>) => withRedisIndex(redisServer.port, db, use);

/** postgres (sample NCA data) and redis (db `redisDb`, a few keys of the NCA's working-memory layout), each with its worker. */
async function setup(options: { redisDb?: number; force?: 'lambda' | 'fargate' } = {}) {
  const redisDb = options.redisDb ?? 3;
  const database = await createDatabase('drillwf');
  await loadSampleNcaDatabase(urlFor(database), { rows: 300 });
  await withRedisDb(redisDb, async (redis) => {
    await redis.flushdb();
    await redis.hset('memory:generic:working:0001', { content: 'user asked about tides', importance: '0.7', created_at: '2026-11-30T10:00:00Z' });
    await redis.zadd('memory:generic:index', 1, 'memory:generic:working:0001');
    await redis.set('session:ä "quoted"', 'ü\u0000binary');
  });
  const bucket = await createTestBucket(testS3Client(), 'drillwf');
  const config: RuntimeConfig = testRuntimeConfig({
    bucket,
    runner: { force: options.force },
    components: {
      postgres: { group: 'database', source: { database }, worker: localWorker('postgres') },
      redis: { group: 'database', source: { db: redisDb, keyPatterns: ['*'] }, worker: localWorker('redis') },
    },
  });
  const env = {
    NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT!,
    NCA_POSTGRES_URL: testPostgresUrl(),
    NCA_REDIS_URL: redisServer.url,
    NCA_METRICS_ENDPOINT: metrics.endpoint,
  };
  const harness = workflowHarness(config, env);
  return { database, bucket, config, harness, vault: vaultOf(bucket), redisDb };
}

/** The sum of a drill metric of a component over the last hour, as CloudWatch answers it. */
async function metricSum(name: string, component: string): Promise<number | undefined> {
  const client = new CloudWatchClient({ region: 'us-west-2', endpoint: metrics.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } });
  try {
    const now = Date.now();
    const { MetricDataResults } = await client.send(
      new GetMetricDataCommand({
        StartTime: new Date(now - 3_600_000),
        EndTime: new Date(now + 60_000),
        MetricDataQueries: [{ Id: 'm', MetricStat: { Metric: { Namespace: 'NcaBackup', MetricName: name, Dimensions: [{ Name: 'Component', Value: component }] }, Period: 3600, Stat: 'Sum' } }],
      }),
    );
    const values = MetricDataResults?.[0]?.Values ?? [];
    return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);
  } finally {
    client.destroy();
  }
}

describe('the drill state machine', () => {
  test('drills every configured component: restored into a sandbox, verified, read, timed, dropped; records and metrics', async () => {
    const { harness, vault, redisDb, bucket } = await setup();
    expectSucceeded(await harness.run('backup', { group: 'database' }));
    const productionKeys = await withRedisDb(redisDb, (r) => r.dbsize());

    const drill = await harness.run('restore-test', {});
    expectSucceeded(drill);
    const { drillId, drills } = drill.output;
    expect(drills.map((d: { component: string }) => d.component)).toEqual(['postgres', 'redis']);
    for (const d of drills) {
      expect(d).toMatchObject({ drillId, succeeded: true, sandboxState: { state: 'dropped' }, backupId: expect.any(String), sample: expect.any(String) });
      expect(d.restoreSeconds).toBeGreaterThan(0);
      // The record in the vault says what the output says.
      expect(await vault.getJson(`reports/drills/${drillId}/${d.component}.json`)).toMatchObject({ drillId, component: d.component, succeeded: true });
    }
    expect(drills[0].sandbox).toMatch(/^nca_drill_/);
    expect(drills[1].sandbox).toBe('15');
    // No sandbox left behind, production untouched, no safety backup of production taken.
    expect(await drillDatabases(drillId)).toEqual([]);
    expect(await withRedisDb(15, (r) => r.dbsize())).toBe(0);
    expect(await withRedisDb(redisDb, (r) => r.dbsize())).toBe(productionKeys);
    expect((await listKeys(testS3Client(), bucket, 'backups/')).filter((k) => k.includes('-safety/'))).toEqual([]);
    expect(harness.calls.filter((c) => c.payload?.operation === 'drill').map((c) => c.payload.component)).toEqual(['postgres', 'redis']);
    // Metrics per component, as CloudWatch stores them.
    expect(await metricSum('DrillSucceeded', 'postgres')).toBe(1);
    expect(await metricSum('DrillSucceeded', 'redis')).toBe(1);
    expect(await metricSum('DrillRestoreSeconds', 'postgres')).toBeGreaterThan(0);
    expect(await metricSum('DrillRestoredBytes', 'postgres')).toBeGreaterThan(10_000);
    // The scorecard, beside the records and at the vault's top.
    expect(drill.output.scorecard).toMatchObject({ status: 'ok', keys: ['reports/scorecard.html', `reports/drills/${drillId}/scorecard.html`] });
    expect(drill.output.scorecard.urls[0]).toBe(`s3://${bucket}/backups/reports/scorecard.html`);
    const html = (await readObject(testS3Client(), bucket, 'backups/reports/scorecard.html')).toString();
    expect(html).toContain('data-component="postgres"');
    expect(html).toContain('data-component="redis"');
  });

  test('on Fargate: the drill runs in the task, Report reads its record back', async () => {
    const { harness } = await setup({ force: 'fargate' });
    expectSucceeded(await harness.run('backup', { group: 'database', components: ['postgres'] }));
    const drill = await harness.run('restore-test', { components: ['postgres'] });
    expectSucceeded(drill);
    expect(harness.fargateRuns.filter((r) => r.state === 'DrillOnFargate')).toEqual([expect.objectContaining({ exitCode: 0 })]);
    expect(drill.output.drills).toEqual([expect.objectContaining({ component: 'postgres', succeeded: true, sandboxState: { state: 'dropped' } })]);
    expect(await drillDatabases(drill.output.drillId)).toEqual([]);
  });

  test('a corrupted backup fails its drill with the cause in the record and the execution, the other drill still runs, no sandbox is left', async () => {
    const { harness, vault, bucket, database } = await setup();
    const backup = await harness.run('backup', { group: 'database' });
    expectSucceeded(backup);
    const key = `backups/database/postgres/${backup.output.backupId}/${database}.dump`;
    await testS3Client().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from('not a dump at all') }));

    const drill = await harness.run('restore-test', {});
    expect(drill.status).toBe('FAILED');
    expect(drill.error).toBe('DrillFailedError');
    expect(drill.cause).toMatch(/failed for postgres \(IntegrityError: .*the stored copy is damaged/);
    expect(drill.cause).not.toMatch(/redis/);
    const drillId = harness.calls.find((c) => c.payload?.operation === 'drill')!.payload.drillId;
    expect(await vault.getJson(`reports/drills/${drillId}/postgres.json`)).toMatchObject({ succeeded: false, cause: { error: 'IntegrityError' } });
    expect(await vault.getJson(`reports/drills/${drillId}/redis.json`)).toMatchObject({ succeeded: true });
    expect(await drillDatabases(drillId)).toEqual([]);
    expect(await metricSum('DrillSucceeded', 'postgres')).toBeDefined();
    // The scorecard shows the failure with its cause.
    const html = (await readObject(testS3Client(), bucket, 'backups/reports/scorecard.html')).toString();
    expect(html).toMatch(/<section[^>]*data-component="postgres"[^>]*data-status="problems"/);
    expect(html).toContain('IntegrityError');
  });

  test('a sandbox that is the production target is refused and nothing is written to it', async () => {
    const { harness, redisDb } = await setup({ redisDb: 15 });
    expectSucceeded(await harness.run('backup', { group: 'database', components: ['redis'] }));
    const before = await withRedisDb(redisDb, (r) => r.dbsize());
    const drill = await harness.run('restore-test', { components: ['redis'] });
    expect(drill).toMatchObject({ status: 'FAILED', error: 'DrillFailedError' });
    expect(drill.cause).toMatch(/redis \(InvalidInputError: redis: the drill's sandbox 15 is the production target of redis/);
    expect(await withRedisDb(redisDb, (r) => r.dbsize())).toBe(before);
    await withRedisDb(redisDb, (r) => r.flushdb());
  });

  test('a worker that dies leaves a failed record written by Report; a component without a backup fails saying so', async () => {
    const { config, harness, vault } = await setup();
    expectSucceeded(await harness.run('backup', { group: 'database', components: ['postgres'] }));
    const dying = workflowHarness(config, { NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT!, NCA_POSTGRES_URL: testPostgresUrl(), NCA_REDIS_URL: redisServer.url, NCA_METRICS_ENDPOINT: metrics.endpoint }, {
      intercept: {
        DrillOnLambda: async (params, real) => {
          if (params.Payload.component === 'postgres') throw Object.assign(new Error('Task timed out after 960.00 seconds'), { name: 'States.Timeout' });
          return real(params);
        },
      },
    });
    const drill = await dying.run('restore-test', {});
    expect(drill.status).toBe('FAILED');
    expect(drill.cause).toMatch(/postgres \(States.Timeout: the drill's worker stopped before recording a result: Task timed out/);
    expect(drill.cause).toMatch(/redis \(BackupNotFoundError: redis: there is no trusted backup to drill/);
    const drillId = dying.calls.find((c) => c.payload?.operation === 'drill')!.payload.drillId;
    expect(await vault.getJson(`reports/drills/${drillId}/postgres.json`)).toMatchObject({ succeeded: false, cause: { error: 'States.Timeout' } });
  });

  test('a kept sandbox is sanitized before it is reported kept, and dropped by the execution when keep_hours are up', async () => {
    const { config, database, vault } = await setup();
    const env = { NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT!, NCA_POSTGRES_URL: testPostgresUrl(), NCA_REDIS_URL: redisServer.url, NCA_METRICS_ENDPOINT: metrics.endpoint };
    const seenBeforeDrop: unknown[] = [];
    const sanitizing = workflowHarness({ ...config, verification: { ...verificationOf(config), keepHours: 1, sanitize: { postgres: [{ target: 'public.users.email', action: 'fixed', value: 'drill@example.invalid' }] } } }, env, {
      intercept: {
        // While kept (the harness does not wait out WaitForKeptSandboxes): what people would see, read from the server.
        DropKeptSandbox: async (params, real) => {
          const sandbox = params.Payload.drill.sandbox;
          if (params.Payload.component === 'postgres') seenBeforeDrop.push(await sql(sandbox, 'SELECT DISTINCT email FROM users WHERE email IS NOT NULL'));
          return real(params);
        },
      },
    });
    expectSucceeded(await sanitizing.run('backup', { group: 'database' }));
    const drill = await sanitizing.run('restore-test', {});
    expectSucceeded(drill);
    const postgresDrill = drill.output.drills.find((d: { component: string }) => d.component === 'postgres');
    expect(postgresDrill).toMatchObject({ succeeded: true, sandboxState: { state: 'kept' }, sanitized: [expect.objectContaining({ target: 'public.users.email', action: 'fixed' })] });
    expect(seenBeforeDrop).toEqual([[{ email: 'drill@example.invalid' }]]);
    expect((await sql(database, `SELECT count(*)::int AS n FROM users WHERE email = 'drill@example.invalid'`))[0].n).toBe(0);
    expect(drill.states).toEqual(expect.arrayContaining(['WaitForKeptSandboxes', 'DropKeptSandbox']));
    // Both kept sandboxes gone, asked of the servers; the records say dropped, and when.
    expect(drill.output.keptSandboxes).toEqual([
      { component: 'postgres', sandboxState: expect.objectContaining({ state: 'dropped', droppedAt: expect.any(String) }) },
      { component: 'redis', sandboxState: expect.objectContaining({ state: 'dropped' }) },
    ]);
    expect(await drillDatabases(drill.output.drillId)).toEqual([]);
    expect(await withRedisDb(15, (r) => r.dbsize())).toBe(0);
    expect(await vault.getJson(`reports/drills/${drill.output.drillId}/postgres.json`)).toMatchObject({ sandboxState: { state: 'dropped', keptUntil: postgresDrill.sandboxState.keptUntil } });
  });

  test('a record read back from the vault that is not a drill record of this drill counts as a failed drill', async () => {
    const { config, bucket } = await setup();
    const env = { NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT!, NCA_POSTGRES_URL: testPostgresUrl(), NCA_REDIS_URL: redisServer.url, NCA_METRICS_ENDPOINT: metrics.endpoint };
    // As on Fargate, the branch hands Report only the component; the record it reads back was overwritten.
    const forged = workflowHarness(config, env, {
      intercept: {
        DrillOnLambda: async (params, real) => {
          const result = await real(params);
          await testS3Client().send(new PutObjectCommand({ Bucket: bucket, Key: `backups/${result.Payload.recordKey}`, Body: params.Payload.component === 'redis' ? 'not json' : JSON.stringify({ ...result.Payload, drillId: '20200101T000000Z-0000' }) }));
          return { Payload: { component: params.Payload.component }, StatusCode: 200 };
        },
      },
    });
    expectSucceeded(await forged.run('backup', { group: 'database' }));
    const drill = await forged.run('restore-test', {});
    expect(drill.status).toBe('FAILED');
    expect(drill.cause).toMatch(/postgres \(DrillCrashed: the drill's record at .* is not a drill record of this drill\)/);
    expect(drill.cause).toMatch(/redis \(DrillCrashed: the drill's record at .* is not a drill record of this drill\)/);
  });

  test('an unknown component is refused before any drill runs', async () => {
    const { harness } = await setup();
    const drill = await harness.run('restore-test', { components: ['oracle'] });
    expect(drill).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
    expect(drill.cause).toMatch(/component 'oracle' is not configured/);
    expect(harness.calls.filter((c) => c.payload?.operation === 'drill')).toEqual([]);
  });
});
