/**
 * One system recovery point: a backup of group all through backup.asl.json takes PostgreSQL, Redis and
 * MongoDB (the wire-protocol test server) under one id, each manifest recording the point under its MAC,
 * and Finalize writes the system index last. restore-all.asl.json restores every component of a point in
 * priority order, each through the whole Restore state machine as a nested execution, and writes one report.
 * An incomplete point (a component whose source does not exist) is refused without force and restored
 * partly with it; an index that disagrees with the authenticated manifests is refused, naming the component.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { componentEntry } from '../../functions/components';
import type { Fingerprint } from '../../functions/components/types';
import type { ComponentName } from '../../config/types';
import { manifestKey, restoreAllReportKey, systemIndexKey } from '../../config/vault-layout';
import { runBackup } from '../../functions/core/backup-run';
import { silentLogger } from '../../functions/core/logger';
import type { Manifest } from '../../functions/core/manifest';
import type { RuntimeConfig } from '../../functions/core/runtime-config';
import type { SystemIndex } from '../../functions/core/system-point';
import type { RestoreAllReport } from '../../functions/core/system-restore';
import { localWorker, workflowHarness, type WorkflowHarness } from '../../scripts/local-workflows';
import { startRedis, type RunningServer } from '../../scripts/local-servers';
import { damageSampleDatabase, loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { damageSampleMemory, loadSampleMemory } from '../../scripts/sample-nca-memory';
import { startMongoWireServer } from '../support/mongo-wire-server';
import { createDatabase, testPostgresUrl, urlFor } from '../support/postgres-db';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, listKeys, readObject, testS3Client, vaultOf } from '../support/s3';
import { expectSucceeded } from '../support/workflow-results';

jest.setTimeout(60_000);

const COMPONENTS: ComponentName[] = ['mongodb', 'postgres', 'redis'];
const servers: { stop(): Promise<void> }[] = [];
const s3 = testS3Client();
let bucket: string;
let env: Record<string, string>;
let config: RuntimeConfig;
let harness: WorkflowHarness;
let stores: { redisUrl: string; mongoUrl: string; postgresUrl: string };
let original: Record<string, Fingerprint>;

/** A deployment of the three components; `postgres` names the database its source reads. */
function deployment(database: string): RuntimeConfig {
  return testRuntimeConfig({
    bucket,
    runner: { maxConcurrency: 1 },
    components: {
      postgres: { group: 'database', source: { database }, worker: localWorker('postgres') },
      redis: { group: 'database', source: { db: 0, keyPatterns: ['*'] }, worker: localWorker('redis') },
      mongodb: { group: 'database', source: { database: 'neuroca_episodic' }, worker: localWorker('mongodb') },
    },
  });
}

/** Each component's fingerprint, read from its server directly (not through a restore). */
async function fingerprints(): Promise<Record<string, Fingerprint>> {
  const read = async (component: ComponentName) => {
    const entry = componentEntry(component);
    const target = await entry.connect(config.components[component]!.source as never, { ...process.env, ...env });
    return [component, await entry.component.fingerprint(target)] as const;
  };
  return Object.fromEntries(await Promise.all(COMPONENTS.map(read)));
}

const vault = () => vaultOf(bucket);
const index = async (systemId: string) => (await vault().getJson<SystemIndex>(systemIndexKey(systemId)))!;
const writeIndex = (systemId: string, value: unknown) =>
  s3.send(new PutObjectCommand({ Bucket: bucket, Key: vault().key(systemIndexKey(systemId)), Body: JSON.stringify(value) }));
async function damageAll(): Promise<void> {
  await damageSampleDatabase(stores.postgresUrl);
  await damageSampleMemory({ redisUrl: stores.redisUrl, mongoUrl: stores.mongoUrl });
}

beforeAll(async () => {
  const [redis, mongo] = await Promise.all([startRedis(), startMongoWireServer()]);
  servers.push(redis as RunningServer, mongo);
  const database = await createDatabase('system');
  stores = { redisUrl: redis.url, mongoUrl: mongo.url, postgresUrl: urlFor(database) };
  await loadSampleNcaDatabase(stores.postgresUrl, { rows: 300 });
  await loadSampleMemory({ redisUrl: redis.url, mongoUrl: mongo.url }, { items: 60, dimension: 8 });
  bucket = await createTestBucket(s3, 'system');
  env = { NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT!, NCA_POSTGRES_URL: testPostgresUrl(), NCA_REDIS_URL: redis.url, NCA_MONGODB_URL: mongo.url };
  config = deployment(database);
  harness = workflowHarness(config, env);
  original = await fingerprints();
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

describe('one system recovery point through the state machines', () => {
  let systemId: string;
  let incompleteId: string;

  test('group all backs up every component under one id, each manifest records the point, and the index is written last', async () => {
    const backup = await harness.run('backup', { group: 'all', trigger: 'manual' });
    expectSucceeded(backup);
    systemId = backup.output.backupId;
    expect(backup.output.components.map((c: { component: string }) => c.component).sort()).toEqual(COMPONENTS);
    // One id for every component's backup step.
    expect(harness.calls.filter((c) => c.payload?.operation === 'backup').map((c) => c.payload.backupId)).toEqual([systemId, systemId, systemId]);

    for (const component of COMPONENTS) {
      const manifest = (await vault().getJson<Manifest>(manifestKey('database', component, systemId)))!;
      expect(manifest.system).toEqual({ systemId, components: COMPONENTS });
      expect(manifest.authentication).toBeDefined();
    }
    const written = await index(systemId);
    expect(written).toMatchObject({ systemId, outcome: 'complete' });
    expect(written.components).toEqual(COMPONENTS.map((component) => expect.objectContaining({ component, group: 'database', backupId: systemId, status: 'SUCCEEDED' })));
    expect(Date.parse(written.lastSnapshotAt!) - Date.parse(written.firstSnapshotAt!)).toBe(written.spanMs);
    expect(written.spanMs).toBeGreaterThanOrEqual(0);
    expect(backup.output.systemPoint).toEqual(written);

    const subset = await harness.run('backup', { group: 'all', components: ['redis'] });
    expect(subset).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
    expect(subset.cause).toMatch(/components cannot be given with group all/);
  });

  test('restore-all restores every component in priority order through the Restore state machine, and reports against the RTOs', async () => {
    await damageAll();
    expect(await fingerprints()).not.toEqual(original);

    const restored = await harness.run('restore-all', { systemId: 'latest' });
    expectSucceeded(restored);
    // The runbook's order: postgres, then mongodb, then redis; each the whole checklist, safety backup included.
    expect(harness.nested.map((n) => n.input)).toEqual(['postgres', 'mongodb', 'redis'].map((component) => ({ component, backupId: systemId, skipSafetyBackup: false })));
    for (const run of harness.nested) {
      expectSucceeded(run.result);
      expect(run.result.states).toEqual(expect.arrayContaining(['VerifyArtifactsOnLambda', 'CheckCompatibilityOnLambda', 'SafetyBackupOnLambda', 'RestoreOnLambda', 'PostVerifyOnLambda', 'ReleaseLock']));
      expect(run.result.output.fingerprintMatch).toBe(true);
    }
    expect(await fingerprints()).toEqual(original);

    const report = restored.output as RestoreAllReport & { reportKey: string };
    expect(report).toMatchObject({ systemId, status: 'SUCCEEDED', complete: true, forced: false, total: { rtoHours: 12, withinRto: true } });
    expect(report.components).toEqual(
      ['postgres', 'mongodb', 'redis'].map((component) =>
        expect.objectContaining({ component, backupId: systemId, status: 'RESTORED', rtoHours: 4, withinRto: true, fingerprintMatch: true, safetyBackup: expect.objectContaining({ skipped: false }) }),
      ),
    );
    expect(report.total.restoreMs).toBe(report.components.reduce((sum, c) => sum + c.durationMs!, 0));
    const stored = JSON.parse((await readObject(s3, bucket, vault().key(restoreAllReportKey(report.restoreId)))).toString('utf8'));
    expect(report.reportKey).toBe(`s3://${bucket}/${vault().key(restoreAllReportKey(report.restoreId))}`);
    expect(stored).toEqual(JSON.parse(JSON.stringify({ ...report, reportKey: undefined })));
  });

  test('a point with a failed component is incomplete: refused as a whole, passed over by latest, restored partly with force', async () => {
    // The same deployment with PostgreSQL pointing at a database that does not exist: a real failure.
    const broken = workflowHarness(deployment('no_such_database_for_system'), env);
    const backup = await broken.run('backup', { group: 'all' });
    expect(backup).toMatchObject({ status: 'FAILED' });
    incompleteId = broken.calls.find((c) => c.state === 'Finalize')!.payload.backupId;
    const written = await index(incompleteId);
    expect(written.outcome).toBe('incomplete');
    expect(written.components.find((c) => c.component === 'postgres')).toMatchObject({ status: 'FAILED', error: expect.any(String) });
    expect(written.components.filter((c) => c.status === 'SUCCEEDED').map((c) => c.component)).toEqual(['mongodb', 'redis']);

    const refused = await harness.run('restore-all', { systemId: incompleteId });
    expect(refused).toMatchObject({ status: 'FAILED', error: 'IncompleteRecoveryPointError' });
    expect(refused.cause).toMatch(new RegExp(`postgres ${incompleteId}: system recovery point ${incompleteId} is incomplete: postgres \\(its backup failed`));
    expect(refused.states).not.toContain('RestoreComponent');

    // latest is the newest complete point: the earlier one, the incomplete one passed over with why.
    const nestedBefore = harness.nested.length;
    const latest = await harness.run('restore-all', { systemId: 'latest', skipSafetyBackup: true, order: ['redis'] });
    expectSucceeded(latest);
    expect(latest.output.systemId).toBe(systemId);
    expect(latest.output.passedOver).toEqual([{ systemId: incompleteId, reason: expect.stringContaining('is incomplete') }]);
    expect(harness.nested.slice(nestedBefore).map((n) => (n.input as { component: string }).component)).toEqual(['redis', 'postgres', 'mongodb']);

    await damageAll();
    const forced = await harness.run('restore-all', { systemId: incompleteId, force: true, skipSafetyBackup: true });
    expectSucceeded(forced);
    expect(forced.output).toMatchObject({ systemId: incompleteId, complete: false, forced: true, status: 'SUCCEEDED' });
    expect(forced.output.components).toEqual([
      expect.objectContaining({ component: 'postgres', status: 'NOT_IN_POINT', cause: expect.stringContaining('its backup failed') }),
      expect.objectContaining({ component: 'mongodb', status: 'RESTORED', fingerprintMatch: true }),
      expect.objectContaining({ component: 'redis', status: 'RESTORED', fingerprintMatch: true }),
    ]);
    const now = await fingerprints();
    expect({ mongodb: now.mongodb, redis: now.redis }).toEqual({ mongodb: original.mongodb, redis: original.redis });
    expect(now.postgres).not.toEqual(original.postgres);

    // A backup of the failed component taken later on its own under the same id does not complete the point.
    const ctx = { config, vault: vault(), env: { ...process.env, ...env }, log: silentLogger, runner: 'cli', now: () => new Date() };
    await runBackup(ctx, { component: 'postgres', backupId: incompleteId, trigger: 'manual' });
    const still = await harness.run('restore-all', { systemId: incompleteId });
    expect(still).toMatchObject({ status: 'FAILED', error: 'IncompleteRecoveryPointError' });
    expect(still.cause).toMatch(/postgres \(its backup under \S+ does not record this recovery point/);
  });

  test('a failed component stops the restore-all unless continueOnFailure; the report lists what did not start', async () => {
    // A damaged MongoDB artifact of the incomplete point: its restore fails at VerifyArtifacts.
    const keys = await listKeys(s3, bucket, vault().key(`database/mongodb/${incompleteId}/`));
    const archive = keys.find((k) => !k.endsWith('manifest.json'))!;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: archive, Body: Buffer.alloc(64) }));

    const stopped = await harness.run('restore-all', { systemId: incompleteId, force: true, skipSafetyBackup: true });
    expect(stopped).toMatchObject({ status: 'FAILED', error: 'IntegrityError' });
    expect(stopped.cause).toMatch(/^mongodb: IntegrityError: /);
    const stoppedReport = await latestReport();
    expect(stoppedReport.components.map((c) => [c.component, c.status])).toEqual([['postgres', 'NOT_IN_POINT'], ['mongodb', 'FAILED'], ['redis', 'NOT_STARTED']]);

    const nestedBefore = harness.nested.length;
    const continued = await harness.run('restore-all', { systemId: incompleteId, force: true, skipSafetyBackup: true, continueOnFailure: true });
    expect(continued).toMatchObject({ status: 'FAILED', error: 'IntegrityError' });
    expect(harness.nested.slice(nestedBefore).map((n) => [(n.input as { component: string }).component, n.result.status])).toEqual([['mongodb', 'FAILED'], ['redis', 'SUCCEEDED']]);
    const continuedReport = await latestReport();
    expect(continuedReport.components.map((c) => [c.component, c.status])).toEqual([['postgres', 'NOT_IN_POINT'], ['mongodb', 'FAILED'], ['redis', 'RESTORED']]);
    expect(continuedReport.components[1]).toMatchObject({ error: 'IntegrityError', durationMs: expect.any(Number) });
  });

  test('an index that disagrees with the authenticated manifests is refused, naming the component; inputs are checked by name', async () => {
    const genuine = await index(systemId);
    const forged = { ...genuine, components: genuine.components.map((c) => (c.component === 'redis' ? { ...c, backupId: incompleteId } : c)) };
    await writeIndex(systemId, forged);
    const refused = await harness.run('restore-all', { systemId });
    expect(refused).toMatchObject({ status: 'FAILED', error: 'IntegrityError' });
    expect(refused.cause).toMatch(new RegExp(`redis ${systemId}: system index .* gives redis backup id ..${incompleteId}.., which the component manifests`));

    await writeIndex(systemId, { ...genuine, components: genuine.components.filter((c) => c.component !== 'postgres') });
    const dropped = await harness.run('restore-all', { systemId });
    expect(dropped).toMatchObject({ status: 'FAILED', error: 'IntegrityError' });
    expect(dropped.cause).toMatch(/postgres [^:]+: system index .* leaves out postgres/);
    expect(dropped.states).not.toContain('RestoreComponent');

    // An index that turns a backed-up component into a failed one (to have it left out with force) is refused too.
    const hidden = { ...genuine, outcome: 'incomplete', components: genuine.components.map((c) => (c.component === 'mongodb' ? { ...c, status: 'FAILED', startedAt: undefined } : c)) };
    await writeIndex(systemId, hidden);
    const lied = await harness.run('restore-all', { systemId, force: true });
    expect(lied).toMatchObject({ status: 'FAILED', error: 'IntegrityError' });
    expect(lied.cause).toMatch(/mongodb [^:]+: system index .* lists mongodb as failed/);

    // A whole index planted under an id no backup has: nothing authenticated backs it.
    const planted = '20261130T000000Z-beef';
    await writeIndex(planted, { ...genuine, systemId: planted, components: genuine.components.map((c) => ({ ...c, backupId: planted })) });
    const fake = await harness.run('restore-all', { systemId: planted });
    expect(fake).toMatchObject({ status: 'FAILED', error: 'IntegrityError' });
    expect(fake.cause).toMatch(/lists mongodb as backed up/);
    await writeIndex(systemId, genuine);

    const unknown = await harness.run('restore-all', { systemId: 'latest', parallel: true });
    expect(unknown).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
    expect(unknown.cause).toMatch(/unknown input field 'parallel'/);
  });
});

/** The newest restore-all report in the vault (two runs can start within one second, so by their completion time). */
async function latestReport(): Promise<RestoreAllReport> {
  const keys = await listKeys(s3, bucket, vault().key('reports/restore-all/'));
  const reports: RestoreAllReport[] = await Promise.all(keys.map(async (key) => JSON.parse((await readObject(s3, bucket, key)).toString('utf8'))));
  return reports.sort((a, b) => a.completedAt.localeCompare(b.completedAt))[reports.length - 1];
}
