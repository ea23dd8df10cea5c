/**
 * RPO monitoring against s3rver and the CloudWatch metrics substitute: a real PostgreSQL backup written by
 * the engine gives its age from the manifest's startedAt; a forged newer manifest does not count; a
 * component without a backup publishes no age (its alarm then sees missing data, which breaches).
 */
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { runBackup } from '../../functions/core/backup-run';
import { monitorBackupAges } from '../../functions/core/backup-age';
import { handler } from '../../functions/handlers/backup-age';
import type { EngineContext } from '../../functions/core/context';
import { silentLogger } from '../../functions/core/logger';
import { manifestKey } from '../../functions/core/catalog';
import { loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { startCloudWatchMetricsServer, type CloudWatchMetricsServer } from '../support/cloudwatch-metrics-server';
import { testAuthenticator } from '../support/manifests';
import { createDatabase, testPostgresUrl, urlFor } from '../support/postgres-db';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, testS3Client, vaultOf } from '../support/s3';

const HOUR = 3600_000;
// The measurement's "now", on a whole minute; the backup ran 30 hours before it.
const NOW = new Date(Math.floor(Date.now() / 60_000) * 60_000);
const BACKED_UP_AT = new Date(NOW.getTime() - 30 * HOUR);
const BACKUP_ID = '20261101T000000Z-aaaa';
const FORGED_ID = '20991231T235959Z-f0f0';

let metrics: CloudWatchMetricsServer;
let client: CloudWatchClient;

beforeAll(async () => {
  metrics = await startCloudWatchMetricsServer();
  client = new CloudWatchClient({ region: 'us-east-1', endpoint: metrics.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } });
});

afterAll(async () => {
  client.destroy();
  await metrics.stop();
});

/** Every datapoint of a metric around NOW, for one component. */
async function published(metricName: string, component: string): Promise<number[]> {
  const out = await client.send(
    new GetMetricDataCommand({
      StartTime: new Date(NOW.getTime() - HOUR),
      EndTime: new Date(NOW.getTime() + HOUR),
      MetricDataQueries: [{ Id: 'q', MetricStat: { Metric: { Namespace: 'NcaBackup', MetricName: metricName, Dimensions: [{ Name: 'Component', Value: component }] }, Period: 60, Stat: 'Maximum' } }],
    }),
  );
  return out.MetricDataResults?.[0]?.Values ?? [];
}

test('the newest trusted backup\'s age and the RPO per component; a forged newer manifest does not count; no backup, no age', async () => {
  const database = await createDatabase('rpo');
  await loadSampleNcaDatabase(urlFor(database), { rows: 20 });
  const bucket = await createTestBucket(testS3Client(), 'rpo');
  const vault = vaultOf(bucket);
  const config = testRuntimeConfig({
    bucket,
    components: {
      postgres: { group: 'database', source: { database } },
      redis: { group: 'database', source: { db: 0, keyPatterns: ['*'] } },
    },
  });
  const ctx: EngineContext = {
    config,
    vault,
    env: { ...process.env, NCA_POSTGRES_URL: testPostgresUrl() },
    log: silentLogger,
    runner: 'test',
    now: () => BACKED_UP_AT,
  };
  const manifest = await runBackup(ctx, { component: 'postgres', backupId: BACKUP_ID, trigger: 'scheduled' });
  expect(manifest.startedAt).toBe(BACKED_UP_AT.toISOString());
  // A forger who can write to the vault plants a newer manifest (the real one, started just now, without a valid MAC).
  const { authentication: _mac, ...content } = manifest;
  await vault.putJson(manifestKey('database', 'postgres', FORGED_ID), { ...content, backupId: FORGED_ID, startedAt: NOW.toISOString(), completedAt: NOW.toISOString() });

  const ages = await monitorBackupAges(config, { postgres: 24, redis: 6 }, { vault, authenticator: testAuthenticator(), metrics: client, log: silentLogger, now: NOW });

  expect(ages).toEqual([
    { component: 'postgres', group: 'database', rpoHours: 24, ageHours: 30, backupId: BACKUP_ID, startedAt: BACKED_UP_AT.toISOString(), breached: true },
    { component: 'redis', group: 'database', rpoHours: 6, breached: true },
  ]);
  expect(await published('BackupAgeHours', 'postgres')).toEqual([30]);
  expect(await published('RpoHours', 'postgres')).toEqual([24]);
  expect(await published('BackupAgeHours', 'redis')).toEqual([]);
  expect(await published('RpoHours', 'redis')).toEqual([6]);
});

test('a publish the metrics service keeps throttling fails the run with a typed error saying what the alarms will do', async () => {
  const bucket = await createTestBucket(testS3Client(), 'rpo-fail');
  const config = testRuntimeConfig({ bucket, components: { redis: { group: 'database', source: { db: 0, keyPatterns: ['*'] } } } });
  // Throttled on every attempt the SDK makes (3 by default).
  metrics.failNext(3);
  await expect(monitorBackupAges(config, { redis: 6 }, { vault: vaultOf(bucket), authenticator: testAuthenticator(), metrics: client, log: silentLogger, now: NOW })).rejects.toMatchObject({
    name: 'TransientError',
    message: expect.stringMatching(/could not publish NcaBackup metrics.*missing data/),
  });
});

test('the scheduled handler reads the vault and the RPOs from its input and publishes (an RPO, and no age for a component without a backup)', async () => {
  const bucket = await createTestBucket(testS3Client(), 'rpo-handler');
  const { components: _sources, runner: _runner, ...vaultPart } = testRuntimeConfig({ bucket, components: {} });
  const runtimeConfig = { ...vaultPart, components: { logs: { group: 'logs' } } };
  const saved = { s3: process.env.NCA_S3_ENDPOINT, metrics: process.env.NCA_METRICS_ENDPOINT };
  process.env.NCA_S3_ENDPOINT = process.env.NCA_TEST_S3_ENDPOINT;
  process.env.NCA_METRICS_ENDPOINT = metrics.endpoint;
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const ages = await handler({ runtimeConfig: JSON.stringify(runtimeConfig), rpoHours: { logs: 12 } });
    expect(ages).toEqual([{ component: 'logs', group: 'logs', rpoHours: 12, breached: true }]);
    expect(stderr.mock.calls.map(([line]) => String(line)).join('')).toMatch(/no trusted backup.*logs/);
  } finally {
    stderr.mockRestore();
    for (const [name, value] of [['NCA_S3_ENDPOINT', saved.s3], ['NCA_METRICS_ENDPOINT', saved.metrics]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  expect(await published('RpoHours', 'logs')).toEqual([12]);
  expect(await published('BackupAgeHours', 'logs')).toEqual([]);
});
