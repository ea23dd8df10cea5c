/**
 * Disaster recovery: a backup taken in the primary region, its objects replicated into the recovery vault,
 * the primary bucket gone; then the restore state machine (its ASL file, every Task bound to the real handlers)
 * runs with the runtime config the recovery stack builds (infra/runtime-config.ts recoveryRuntimeConfig) from
 * a backup.yaml with backup.recovery, against the run's real PostgreSQL and Redis, s3rver and the KMS substitute (whose
 * keys, like multi-Region keys, answer to the same key id in any region's ARN).
 */
import { DeleteBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { connectPostgres, postgres } from '../../functions/components/postgres';
import type { RuntimeConfig } from '../../functions/core/runtime-config';
import { parseBackupConfig } from '../../config/load';
import { deployedRuntimeConfig, recoveryRuntimeConfig } from '../../infra/runtime-config';
import { loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { localWorker, workerRuntimeConfig, workflowHarness } from '../../scripts/local-workflows';
import { startCloudWatchMetricsServer, type CloudWatchMetricsServer } from '../support/cloudwatch-metrics-server';
import { drillDatabases, withRedisDb } from '../support/drill-sandboxes';
import { startRedis, type RunningRedis } from '../../scripts/local-servers';
import { createHmacKey } from '../support/kms-server';
import { createDatabase, databaseExists, sql, testPostgresUrl, urlFor } from '../support/postgres-db';
import { createTestBucket, listKeys, readObject, testS3Client } from '../support/s3';
import { expectSucceeded } from '../support/workflow-results';

jest.setTimeout(180_000);

const PRIMARY_REGION = 'us-west-2';
const RECOVERY_REGION = 'eu-central-1';
const SECRET = (region: string, name = 'db') => `arn:aws:secretsmanager:${region}:210987654321:secret:neuroca/${name}-AbCdEf`;
const REDIS_DB = 4;
const DATA_KEY = `arn:aws:kms:${PRIMARY_REGION}:210987654321:key/0f0f0f0f-1111-2222-3333-444444444444`;
const REPLICA_KEY = `arn:aws:kms:${RECOVERY_REGION}:210987654321:key/5a5a5a5a-1111-2222-3333-444444444444`;

function backupYaml(database: string, primaryBucket: string, recoveryBucket: string): string {
  return `
backup:
  storage:
    primary: { type: s3, bucket: ${primaryBucket}, region: ${PRIMARY_REGION}, path: /backups, exact_name: true }
    secondary: { type: s3, bucket: ${recoveryBucket}, region: ${RECOVERY_REGION}, path: /backups, exact_name: true }
  sources:
    postgres: { database: ${database}, secret_arn: "${SECRET(PRIMARY_REGION)}" }
    redis: { db: ${REDIS_DB}, key_patterns: ["memory:*"], secret_arn: "${SECRET(PRIMARY_REGION, 'redis')}" }
  recovery:
    sources:
      postgres: { secret_arn: "${SECRET(RECOVERY_REGION)}" }
      redis: { secret_arn: "${SECRET(RECOVERY_REGION, 'redis')}" }
`;
}

/** What S3 replication does: every object of `from` copied, under the same key, into `to`. */
async function replicate(client: S3Client, from: string, to: string): Promise<number> {
  const keys = await listKeys(client, from, '');
  for (const key of keys) await client.send(new PutObjectCommand({ Bucket: to, Key: key, Body: await readObject(client, from, key) }));
  return keys.length;
}

/** The primary region is down: its bucket no longer exists. */
async function losePrimaryBucket(client: S3Client, bucket: string): Promise<void> {
  for (const key of await listKeys(client, bucket, '')) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  await expect(client.send(new HeadBucketCommand({ Bucket: bucket }))).rejects.toMatchObject({ name: 'NotFound' });
}

/** Every table's row count, read with plain SQL: an independent look at the restored data. */
async function rowCounts(database: string): Promise<Record<string, number>> {
  const tables = await sql(database, "SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1");
  const counts: Record<string, number> = {};
  for (const { name } of tables) counts[name] = Number((await sql(database, `SELECT count(*) AS n FROM ${name}`))[0].n);
  return counts;
}

const client = testS3Client();
let metrics: CloudWatchMetricsServer;
let redis: RunningRedis;
const env = { NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT!, NCA_POSTGRES_URL: testPostgresUrl(), NCA_KMS_ENDPOINT: process.env.NCA_TEST_KMS_ENDPOINT!, NCA_METRICS_ENDPOINT: '', NCA_REDIS_URL: '' };
/** The working-memory keys the Redis backup holds, read with plain commands. */
const redisMemory = (db: number) =>
  withRedisDb(redis.port, db, async (r) => Object.fromEntries(await Promise.all((await r.keys('memory:*')).sort().map(async (k) => [k, await r.hgetall(k)]))));
const fingerprint = async (database: string) => postgres.fingerprint(await connectPostgres({ database }, { ...process.env, ...env }));

let source: string;
let primaryBucket: string;
let recoveryBucket: string;
let backupId: string;
let systemId: string;
let recovery: RuntimeConfig;
let recoveryPostgresOnly: RuntimeConfig;
let original: Awaited<ReturnType<typeof fingerprint>>;

afterAll(async () => {
  await Promise.all([metrics?.stop(), redis?.stop()]);
});

beforeAll(async () => {
  [metrics, redis] = await Promise.all([startCloudWatchMetricsServer(), startRedis()]);
  env.NCA_METRICS_ENDPOINT = metrics.endpoint;
  env.NCA_REDIS_URL = redis.url;
  await withRedisDb(redis.port, REDIS_DB, async (r) => {
    await r.hset('memory:generic:working:0001', { content: 'user asked about tides', importance: '0.7' });
    await r.hset('memory:generic:working:0002', { content: 'prefers metric units', importance: '0.4' });
  });
  source = await createDatabase('drsrc');
  await loadSampleNcaDatabase(urlFor(source), { rows: 300 });
  original = await fingerprint(source);
  [primaryBucket, recoveryBucket] = await Promise.all([createTestBucket(client, 'drprimary'), createTestBucket(client, 'drrecovery')]);
  const config = parseBackupConfig(backupYaml(source, primaryBucket, recoveryBucket));
  // One multi-Region manifest key: the same key id in both regions' ARNs.
  const keyId = (await createHmacKey(env.NCA_KMS_ENDPOINT)).split('/').pop()!;
  const macKey = (region: string) => `arn:aws:kms:${region}:210987654321:key/${keyId}`;
  const workers = { postgres: localWorker('postgres'), redis: localWorker('redis') };

  const primary = deployedRuntimeConfig(config, { kmsKeyId: DATA_KEY, manifestKeyId: macKey(PRIMARY_REGION), workers });
  const backup = await workflowHarness(primary, env).run('backup', { group: 'database', trigger: 'scheduled' });
  expectSucceeded(backup);
  backupId = backup.output.backupId;
  // A system recovery point of both components, replicated with the rest.
  const system = await workflowHarness(primary, env).run('backup', { group: 'all', trigger: 'scheduled' });
  expectSucceeded(system);
  systemId = system.output.backupId;

  expect(await replicate(client, primaryBucket, recoveryBucket)).toBeGreaterThan(1);
  await losePrimaryBucket(client, primaryBucket);
  recovery = recoveryRuntimeConfig(config, { kmsKeyId: REPLICA_KEY, manifestKeyId: macKey(RECOVERY_REGION), workers });
  // The same deployment with only postgres restorable in the recovery region (redis has no backup.recovery entry).
  const postgresOnly = parseBackupConfig(backupYaml(source, primaryBucket, recoveryBucket).replace(/\n      redis: \{ secret_arn: [^\n]*/, ''));
  recoveryPostgresOnly = recoveryRuntimeConfig(postgresOnly, { kmsKeyId: REPLICA_KEY, manifestKeyId: macKey(RECOVERY_REGION), workers: { postgres: workers.postgres } });
});

describe('restore from the recovery region with the primary region gone', () => {
  test('the recovery stack\'s runtime config names the recovery vault, region, keys and secret, nothing of the primary', () => {
    const workers = JSON.stringify(workerRuntimeConfig(recovery));
    expect(recovery).toMatchObject({ bucket: recoveryBucket, prefix: 'backups/', region: RECOVERY_REGION, kmsKeyId: REPLICA_KEY });
    expect(recovery.components.postgres!.source).toEqual({ database: source, secretArn: SECRET(RECOVERY_REGION) });
    expect(recovery.components.redis!.source).toEqual({ db: REDIS_DB, keyPatterns: ['memory:*'], secretArn: SECRET(RECOVERY_REGION, 'redis') });
    expect(workers).not.toContain(PRIMARY_REGION);
    expect(workers).not.toContain(primaryBucket);
  });

  test('the latest backup is restored from the recovery vault into a fresh target, fingerprint verified, past an expired replicated lock', async () => {
    // The lock of the backup, as replication left it: its release was a delete, which does not replicate.
    const lock = { component: 'postgres', owner: 'backup-primary', operation: 'backup', startedAt: '2026-01-01T02:00:00.000Z', renewedAt: '2026-01-01T02:00:00.000Z', expiresAt: '2026-01-01T02:30:00.000Z' };
    await client.send(new PutObjectCommand({ Bucket: recoveryBucket, Key: 'backups/database/postgres/_lock.json', Body: JSON.stringify(lock) }));
    const target = `${source}_dr`;
    const harness = workflowHarness(recovery, env);
    const restore = await harness.run('restore', { component: 'postgres', backupId: 'latest', targetDatabase: target });
    expectSucceeded(restore);
    // latest: the system recovery point's backup, taken after the group's.
    expect(restore.output).toMatchObject({ component: 'postgres', backupId: systemId, targetDatabase: target, fingerprintMatch: true, replacedExisting: false, safetyBackup: { skipped: true } });
    expect(await fingerprint(target)).toEqual(original);
    expect(await rowCounts(target)).toEqual(await rowCounts(source));
    // Every Lambda step was handed the recovery vault.
    const vaults = new Set(harness.calls.map((c) => JSON.parse(c.payload.runtimeConfig ?? '{}').bucket).filter(Boolean));
    expect([...vaults]).toEqual([recoveryBucket]);
    expect(await listKeys(client, recoveryBucket, 'backups/database/postgres/_lock')).toEqual([]);
  });

  test('redis is restored from the recovery vault into another database index, verified', async () => {
    const restore = await workflowHarness(recovery, env).run('restore', { component: 'redis', backupId: 'latest', targetDatabase: '5' });
    expectSucceeded(restore);
    expect(restore.output).toMatchObject({ component: 'redis', backupId: systemId, fingerprintMatch: true });
    expect(await redisMemory(5)).toEqual(await redisMemory(REDIS_DB));
    expect(Object.keys(await redisMemory(5))).toHaveLength(2);
  });

  test('a restore over an existing target takes its safety backup into the recovery vault', async () => {
    const target = `${source}_dr`;
    await sql(target, 'DELETE FROM memory_links');
    const damaged = await fingerprint(target);
    const restore = await workflowHarness(recovery, env).run('restore', { component: 'postgres', backupId, targetDatabase: target });
    expectSucceeded(restore);
    expect(restore.output).toMatchObject({ fingerprintMatch: true, replacedExisting: true, safetyBackup: { skipped: false, trigger: 'safety' } });
    expect(await fingerprint(target)).toEqual(original);
    const safetyId: string = restore.output.safetyBackup.backupId;
    expect(await listKeys(client, recoveryBucket, `backups/database/postgres/${safetyId}/`)).toContain(`backups/database/postgres/${safetyId}/manifest.json`);
    // The safety backup is a backup of the recovery vault like any other: it restores what the target held.
    const undo = await workflowHarness(recovery, env).run('restore', { component: 'postgres', backupId: safetyId, targetDatabase: `${source}_undo`, skipSafetyBackup: true });
    expectSucceeded(undo);
    expect(await fingerprint(`${source}_undo`)).toEqual(damaged);
  });

  test('a drill from the recovery vault restores into a sandbox, verifies it and records it in the recovery vault', async () => {
    const drill = await workflowHarness(recovery, env).run('restore-test', { components: ['postgres'] });
    expectSucceeded(drill);
    const { drillId, drills } = drill.output;
    expect(drills).toEqual([expect.objectContaining({ component: 'postgres', succeeded: true, sandboxState: { state: 'dropped' } })]);
    expect(await listKeys(client, recoveryBucket, `backups/reports/drills/${drillId}/`)).toContain(`backups/reports/drills/${drillId}/postgres.json`);
    expect(await drillDatabases(drillId)).toEqual([]);
  });

  test('restore-all of the latest system recovery point from the recovery vault: every component through the restore machine, verified, one report there', async () => {
    await sql(source, 'DELETE FROM memory_links');
    await withRedisDb(redis.port, REDIS_DB, (r) => r.del('memory:generic:working:0002'));
    const harness = workflowHarness(recovery, env);
    const run = await harness.run('restore-all', { systemId: 'latest' });
    expectSucceeded(run);
    expect(run.output).toMatchObject({ systemId, status: 'SUCCEEDED', complete: true });
    expect(run.output.components).toEqual([
      expect.objectContaining({ component: 'postgres', status: 'RESTORED', fingerprintMatch: true }),
      expect.objectContaining({ component: 'redis', status: 'RESTORED', fingerprintMatch: true }),
    ]);
    expect(await fingerprint(source)).toEqual(original);
    expect(Object.keys(await redisMemory(REDIS_DB))).toHaveLength(2);
    expect(run.output.reportKey).toMatch(new RegExp(`^s3://${recoveryBucket}/backups/reports/restore-all/`));
    expect(await listKeys(client, recoveryBucket, 'backups/reports/restore-all/')).toContain(run.output.reportKey.replace(`s3://${recoveryBucket}/`, ''));
  });

  test('where a component of the point is not restorable in the recovery region, restore-all refuses the point as incomplete there, and with force restores the rest', async () => {
    const harness = workflowHarness(recoveryPostgresOnly, env);
    const refused = await harness.run('restore-all', { systemId });
    expect(refused).toMatchObject({ status: 'FAILED', error: 'IncompleteRecoveryPointError' });
    expect(refused.cause).toContain('redis (not configured in this deployment');
    const forced = await harness.run('restore-all', { systemId, force: true, skipSafetyBackup: true });
    expectSucceeded(forced);
    expect(forced.output.components).toEqual([
      expect.objectContaining({ component: 'postgres', status: 'RESTORED', fingerprintMatch: true }),
      expect.objectContaining({ component: 'redis', status: 'NOT_IN_POINT' }),
    ]);
  });

  test('a manifest altered in the recovery vault fails the restore as untrusted, before the target is created', async () => {
    const key = `backups/database/postgres/${backupId}/manifest.json`;
    const manifest = JSON.parse((await readObject(client, recoveryBucket, key)).toString('utf8'));
    // Signed in the primary region; the restores above verified it with the replica's ARN.
    expect(manifest.authentication).toMatchObject({ algorithm: 'HMAC_SHA_256', keyId: expect.stringContaining(`:kms:${PRIMARY_REGION}:`) });
    await client.send(new PutObjectCommand({ Bucket: recoveryBucket, Key: key, Body: JSON.stringify({ ...manifest, createdAt: '2020-01-01T00:00:00.000Z' }) }));
    const target = `${source}_never`;
    const harness = workflowHarness(recovery, env);
    const restore = await harness.run('restore', { component: 'postgres', backupId, targetDatabase: target });
    expect(restore).toMatchObject({ status: 'FAILED', error: 'IntegrityError' });
    expect(restore.cause).toContain(`manifest s3://${recoveryBucket}/${key} is not trusted: its MAC does not verify with the manifest key`);
    expect(harness.calls.map((c) => c.payload?.operation)).not.toContain('restore');
    expect(await databaseExists(target)).toBe(false);
    await expect(client.send(new GetObjectCommand({ Bucket: recoveryBucket, Key: 'backups/database/postgres/_lock.json' }))).rejects.toMatchObject({ name: 'NoSuchKey' });
  });
});
