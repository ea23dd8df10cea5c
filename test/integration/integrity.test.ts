/**
 * The scheduled integrity check against real backups: a PostgreSQL backup of a sample NCA database and two
 * logs backups (CloudWatch Logs substitute), copied object by object into a second bucket standing for the
 * recovery vault. Every backup is read once per cycle of runs; a flipped byte in the primary vault, an
 * artifact and a manifest missing in the recovery vault, and an artifact whose bytes match its SHA-256 but
 * not its structure are each found and named, and none stops the run.
 */
import { CopyObjectCommand, DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { runBackup } from '../../functions/core/backup-run';
import { manifestKey } from '../../functions/core/catalog';
import type { EngineContext } from '../../functions/core/context';
import { componentEntry } from '../../functions/components';
import { checkPrimary, checkReplicas, slotOf, type IntegrityReport } from '../../functions/core/integrity';
import { handler as replicaHandler } from '../../functions/handlers/integrity-replica';
import { handler as workerHandler } from '../../functions/handlers/worker';
import { silentLogger } from '../../functions/core/logger';
import { runOperation } from '../../functions/core/operations';
import type { BackupVault } from '../../functions/core/storage';
import { loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { startCloudWatchLogsServer, type CloudWatchLogsServer } from '../support/cloudwatch-logs-server';
import { testAuthenticator, plantManifest } from '../support/manifests';
import { createDatabase, testPostgresUrl, urlFor } from '../support/postgres-db';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, listKeys, readObject, testS3Client, vaultOf } from '../support/s3';

let s3: S3Client;
let primary: BackupVault;
let recovery: BackupVault;
const recoveryVault = () => recovery;
let logs: CloudWatchLogsServer;
let database: string;
const COMPONENTS = [
  { name: 'postgres', group: 'database' },
  { name: 'logs', group: 'logs' },
] as const;
const ids: Record<string, string[]> = { postgres: [], logs: [] };

const context = (): EngineContext => ({
  config: testRuntimeConfig({
    bucket: primary.bucket,
    components: {
      postgres: { group: 'database', source: { database } },
      logs: { group: 'logs', source: { logGroups: ['/nca/app'], logGroupPrefixes: [], metrics: [], settleMinutes: 0, lateArrivalHours: 336, restoreLogGroupPrefix: '/nca-backup/restored/' } },
    },
  }),
  vault: primary,
  env: { ...process.env, NCA_POSTGRES_URL: testPostgresUrl(), NCA_LOGS_ENDPOINT: logs.endpoint, NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT },
  log: silentLogger,
  runner: 'test',
  now: () => new Date(),
});

/** Replication, as S3 would do it: every object of the primary vault copied to the recovery one. */
async function replicate(): Promise<void> {
  for (const key of await listKeys(s3, primary.bucket, 'backups/')) {
    await s3.send(new CopyObjectCommand({ Bucket: recovery.bucket, Key: key, CopySource: `${primary.bucket}/${key}` }));
  }
}

/** Both parts of a run, as the worker and the integrity-replica function run them, in one report. */
async function check(run: number, slots: number): Promise<IntegrityReport> {
  const mine = await checkPrimary(primary, testAuthenticator(), COMPONENTS, { run, slots }, (name) => componentEntry(name).component.inspect, silentLogger);
  const replicas = await checkReplicas({ primary, recovery }, testAuthenticator(), COMPONENTS, { run, slots }, silentLogger);
  return {
    ...mine,
    checked: { primary: mine.checked.primary, recovery: replicas.checked.recovery },
    artifactsRead: mine.artifactsRead + replicas.artifactsRead,
    bytesRead: mine.bytesRead + replicas.bytesRead,
    findings: [...mine.findings, ...replicas.findings],
  };
}

/** The vault part of the test deployment's runtime config: what the hourly schedules pass (no sources). */
const vaultPart = () => {
  const { runner: _runner, components, verification: _verification, protectedTargets: _targets, ...vault } = context().config;
  return { ...vault, components: Object.fromEntries(Object.entries(components).map(([name, c]) => [name, { group: c!.group }])) };
};

/** Runs a deployed handler against s3rver, its log lines (stderr) captured. */
async function deployed<T>(run: () => Promise<T>): Promise<{ result?: T; error?: unknown; log: string }> {
  const saved = process.env.NCA_S3_ENDPOINT;
  process.env.NCA_S3_ENDPOINT = process.env.NCA_TEST_S3_ENDPOINT;
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { result: await run(), log: stderr.mock.calls.map(([line]) => String(line)).join('') };
  } catch (error) {
    return { error, log: stderr.mock.calls.map(([line]) => String(line)).join('') };
  } finally {
    stderr.mockRestore();
    if (saved === undefined) delete process.env.NCA_S3_ENDPOINT;
    else process.env.NCA_S3_ENDPOINT = saved;
  }
}
const manifestOf = async (component: 'postgres' | 'logs', id: string) => JSON.parse((await readObject(s3, primary.bucket, `backups/${manifestKey(component === 'postgres' ? 'database' : 'logs', component, id)}`)).toString());

beforeAll(async () => {
  s3 = testS3Client();
  primary = vaultOf(await createTestBucket(s3, 'integ-primary'));
  recovery = vaultOf(await createTestBucket(s3, 'integ-recovery'));
  logs = await startCloudWatchLogsServer();
  database = await createDatabase('integrity');
  await loadSampleNcaDatabase(urlFor(database), { rows: 500 });
  logs.putEvents('/nca/app', 'api', Array.from({ length: 40 }, (_, i) => ({ timestamp: Date.now() - 60_000 + i, message: `event ${i}`, ingestionTime: Date.now() - 30_000 })));
  for (const [component, id] of [['postgres', '20261101T000000Z-aaaa01'], ['logs', '20261101T000000Z-bbbb01']] as const) {
    await runBackup(context(), { component, backupId: id, trigger: 'manual' });
    ids[component].push(id);
  }
  logs.putEvents('/nca/app', 'api', [{ timestamp: Date.now(), message: 'later', ingestionTime: Date.now() }]);
  await runBackup(context(), { component: 'logs', backupId: '20261102T000000Z-bbbb02', trigger: 'manual' });
  ids.logs.push('20261102T000000Z-bbbb02');
  await replicate();
});

afterAll(async () => {
  await logs.stop();
});

describe('the integrity check', () => {
  test('intact vaults: over a cycle every backup is read once in each vault, structure checked, nothing found', async () => {
    const slots = 3;
    const reports = await Promise.all([0, 1, 2].map((run) => check(run, slots)));
    expect(reports.flatMap((r) => r.findings)).toEqual([]);
    expect(reports.reduce((n, r) => n + r.checked.primary, 0)).toBe(3);
    expect(reports.reduce((n, r) => n + r.checked.recovery, 0)).toBe(3);
    expect(reports.reduce((n, r) => n + r.structureChecked, 0)).toBe(3);
    // A backup's run is fixed by its identity alone.
    for (const [component, list] of Object.entries(ids)) {
      for (const id of list) {
        const group = component === 'postgres' ? 'database' : 'logs';
        expect(reports[slotOf(group, component, id, slots)].checked.primary).toBeGreaterThan(0);
      }
    }
  });

  test('a flipped byte in the primary, an artifact and a manifest missing in the recovery vault: each found and named, none stopping the run', async () => {
    const pg = await manifestOf('postgres', ids.postgres[0]);
    const dumpKey = `backups/database/postgres/${ids.postgres[0]}/${pg.artifacts[0].name}`;
    const dump = await readObject(s3, primary.bucket, dumpKey);
    const flipped = Buffer.from(dump);
    flipped[flipped.length - 10] ^= 0x01;
    await s3.send(new PutObjectCommand({ Bucket: primary.bucket, Key: dumpKey, Body: flipped }));
    const first = await manifestOf('logs', ids.logs[0]);
    await s3.send(new DeleteObjectCommand({ Bucket: recovery.bucket, Key: `backups/logs/logs/${ids.logs[0]}/${first.artifacts[0].name}` }));
    await s3.send(new DeleteObjectCommand({ Bucket: recovery.bucket, Key: `backups/${manifestKey('logs', 'logs', ids.logs[1])}` }));

    const report = await check(0, 1);
    const found = report.findings.map((f) => [f.component, f.backupId, f.vault, f.kind]);
    // Components in configuration order, each one's backups newest first.
    expect(found).toEqual([
      ['postgres', ids.postgres[0], 'primary', 'artifact'],
      ['logs', ids.logs[1], 'recovery', 'manifest'],
      ['logs', ids.logs[0], 'recovery', 'artifact'],
    ]);
    expect(report.findings[0].problem).toContain('SHA-256');
    expect(report.findings[1].problem).toContain('is missing');
    expect(report.findings[2].problem).toContain('is missing');
    // The damaged dump is not structure-checked (its bytes are already wrong); the intact ones are.
    expect(report.structureChecked).toBe(2);
    await s3.send(new PutObjectCommand({ Bucket: primary.bucket, Key: dumpKey, Body: dump }));
    await replicate();
  });

  test('an artifact whose bytes match a re-signed manifest but not its format fails the structure check', async () => {
    // An attacker with the manifest key is out of scope; this stands for a writer defect: a logs artifact that is valid gzip, recorded with its true SHA-256, holding a line that is not an event.
    const id = '20261103T000000Z-bbbb03';
    const original = await manifestOf('logs', ids.logs[1]);
    const bogus = gzipSync(Buffer.from('{"not": "an event"}\n'));
    const window = original.source.windows[0];
    await s3.send(new PutObjectCommand({ Bucket: primary.bucket, Key: `backups/logs/logs/${id}/${window.artifact}`, Body: bogus }));
    const artifact = { ...original.artifacts[0], bytes: bogus.length, sha256: createHash('sha256').update(bogus).digest('hex') };
    await plantManifest(primary, { ...original, backupId: id, artifacts: [artifact], source: { ...original.source, windows: [{ ...window, start: window.end, end: window.end + 1, count: 1 }] } }, { authenticator: testAuthenticator() });
    await replicate();

    const report = await check(0, 1);
    expect(report.findings.map((f) => [f.backupId, f.vault, f.kind])).toEqual([[id, 'primary', 'structure']]);
    expect(report.findings[0].problem).toMatch(/line 1/);
  });

  test('as the worker step: a run with a finding fails with IntegrityError naming it; the whole cycle of a clean component passes', async () => {
    await expect(runOperation(context(), { operation: 'integrity-check', component: 'logs', cycleHours: 1 })).rejects.toMatchObject({ name: 'IntegrityError', component: 'logs', backupId: '20261103T000000Z-bbbb03' });
    const report = (await runOperation(context(), { operation: 'integrity-check', component: 'postgres', cycleHours: 1 })) as IntegrityReport;
    expect(report).toMatchObject({ checked: { primary: 1, recovery: 0 }, structureChecked: 1, findings: [] });
    await expect(runOperation(context(), { operation: 'integrity-check', component: 'postgres', cycleHours: 0 })).rejects.toMatchObject({ name: 'InvalidInputError' });
  });

  test('the deployed worker takes its schedule\'s input, the vault part without sources: structure checked, a finding fails the run and is logged as one line', async () => {
    const runtimeConfig = JSON.stringify(vaultPart());
    expect(runtimeConfig).not.toContain('/nca/app');
    const clean = await deployed(() => workerHandler({ operation: 'integrity-check', component: 'postgres', cycleHours: 1, runtimeConfig } as never));
    expect(clean.result).toMatchObject({ checked: { primary: 1 }, structureChecked: 1, findings: [] });
    const found = await deployed(() => workerHandler({ operation: 'integrity-check', component: 'logs', cycleHours: 1, runtimeConfig } as never));
    expect(found.error).toMatchObject({ name: 'IntegrityError', component: 'logs', backupId: '20261103T000000Z-bbbb03' });
    const lines = found.log.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.message === 'integrity finding')).toEqual([expect.objectContaining({ component: 'logs', backupId: '20261103T000000Z-bbbb03', vault: 'primary', kind: 'structure' })]);
    // Any other operation still needs the whole runtime config.
    const backup = await deployed(() => workerHandler({ operation: 'describe-backup', component: 'postgres', backupId: ids.postgres[0], runtimeConfig } as never));
    expect(backup.error).toMatchObject({ name: 'InvalidInputError', message: expect.stringContaining('source is not an object') });
  });

  test('the integrity-replica function: intact replicas pass; a corrupted and a missing replica are each found, logged and fail the run', async () => {
    const input = (component: string) => ({ runtimeConfig: JSON.stringify(vaultPart()), component, cycleHours: 1, recovery: { bucket: recoveryVault().bucket, region: 'us-west-2' } });
    const intact = await deployed(() => replicaHandler(input('postgres')));
    expect(intact.result).toMatchObject({ checked: { primary: 0, recovery: 1 }, findings: [] });

    const pg = await manifestOf('postgres', ids.postgres[0]);
    const dumpKey = `backups/database/postgres/${ids.postgres[0]}/${pg.artifacts[0].name}`;
    const flipped = Buffer.from(await readObject(s3, recovery.bucket, dumpKey));
    flipped[5] ^= 0x01;
    await s3.send(new PutObjectCommand({ Bucket: recovery.bucket, Key: dumpKey, Body: flipped }));
    await s3.send(new DeleteObjectCommand({ Bucket: recovery.bucket, Key: `backups/${manifestKey('logs', 'logs', ids.logs[0])}` }));

    const corrupted = await deployed(() => replicaHandler(input('postgres')));
    expect(corrupted.error).toMatchObject({ name: 'IntegrityError', component: 'postgres', backupId: ids.postgres[0], message: expect.stringMatching(/recovery vault \(artifact\).*SHA-256/) });
    const missing = await deployed(() => replicaHandler(input('logs')));
    expect(missing.error).toMatchObject({ name: 'IntegrityError', component: 'logs', backupId: ids.logs[0], message: expect.stringMatching(/recovery vault \(manifest\).*missing/) });
    const findings = missing.log.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.message === 'integrity finding');
    expect(findings).toEqual([expect.objectContaining({ component: 'logs', backupId: ids.logs[0], vault: 'recovery', kind: 'manifest' })]);
    // bbbb03's replica is byte for byte its primary: its structure finding is the worker's to report, not this check's.
    expect(missing.log).not.toContain('20261103T000000Z-bbbb03');
  });
});
