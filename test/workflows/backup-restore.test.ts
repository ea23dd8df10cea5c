/**
 * The backup and restore state machines, executed from their ASL files with every Task bound to the real
 * handlers, against the run's real PostgreSQL and s3rver.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { connectPostgres, postgres } from '../../functions/components/postgres';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, testS3Client, vaultOf } from '../support/s3';
import { createDatabase, databaseExists, sql, testPostgresUrl } from '../support/postgres-db';
import { damageSampleDatabase, loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { localWorker, workflowHarness, type HarnessOptions } from '../../scripts/local-workflows';
import { acquireLock, lockKey, type LockRecord } from '../../functions/core/operation-lock';
import { urlFor } from '../support/postgres-db';
import { expectSucceeded } from '../support/workflow-results';

/** On failure, the assertion shows the execution's error and cause. */
async function setup(options: { force?: 'lambda' | 'fargate'; rows?: number; intercept?: HarnessOptions['intercept'] } = {}) {
  const database = await createDatabase('nca');
  await loadSampleNcaDatabase(urlFor(database), { rows: options.rows ?? 2000 });
  const client = testS3Client();
  const bucket = await createTestBucket(client);
  const config = testRuntimeConfig({
    bucket,
    runner: { force: options.force, maxConcurrency: 2 },
    components: { postgres: { group: 'database', source: { database }, worker: localWorker('postgres') } },
  });
  const env = { NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT!, NCA_POSTGRES_URL: testPostgresUrl() };
  const harness = workflowHarness(config, env, { intercept: options.intercept });
  const vault = vaultOf(bucket);
  const lock = () => vault.getJson<LockRecord>(lockKey('database', 'postgres'));
  const fingerprint = async (db = database) => {
    const target = await connectPostgres({ database: db }, { ...process.env, ...env });
    return postgres.fingerprint(target);
  };
  return { database, bucket, client, config, harness, fingerprint, vault, lock };
}

describe('backup then restore through the state machines', () => {
  test('a damaged database comes back with the identical fingerprint, with a safety backup and events', async () => {
    const { database, harness, fingerprint, lock } = await setup();
    const original = await fingerprint();

    const backup = await harness.run('backup', { group: 'database', trigger: 'scheduled' });
    expect(await lock()).toBeUndefined();
    expectSucceeded(backup);
    expect(backup.output.components).toEqual([expect.objectContaining({ component: 'postgres', runner: 'lambda' })]);
    expect(backup.output.components[0].bytes).toBeGreaterThan(10_000);
    const backupId: string = backup.output.backupId;
    const backupEvent = harness.events.find((e) => e.DetailType === 'Backup Succeeded')!;
    expect(JSON.parse(backupEvent.Detail)).toMatchObject({ component: 'postgres', backupId, bytes: backup.output.components[0].bytes });

    await damageSampleDatabase(urlFor(database));
    const damaged = await fingerprint();
    expect(damaged).not.toEqual(original);

    const restore = await harness.run('restore', { component: 'postgres', backupId: 'latest', targetDatabase: database });
    expectSucceeded(restore);
    expect(restore.output).toMatchObject({ component: 'postgres', backupId, targetDatabase: database, fingerprintMatch: true, replacedExisting: true });
    expect(restore.output.restoreDurationMs).toBeGreaterThan(0);
    expect(restore.output.safetyBackup).toMatchObject({ skipped: false, trigger: 'safety', backupId: expect.stringMatching(/-safety$/) });
    expect(await fingerprint()).toEqual(original);
    expect(await lock()).toBeUndefined();
    const restoredEvent = harness.events.find((e) => e.DetailType === 'Restore Succeeded')!;
    expect(JSON.parse(restoredEvent.Detail)).toMatchObject({ component: 'postgres', backupId, fingerprintMatch: true });

    // The safety backup holds the damaged state and can itself be restored by id; latest still means the scheduled backup.
    const safetyId = restore.output.safetyBackup.backupId;
    const undo = await harness.run('restore', { component: 'postgres', backupId: safetyId, targetDatabase: `${database}_undo`, skipSafetyBackup: true });
    expectSucceeded(undo);
    expect(await fingerprint(`${database}_undo`)).toEqual(damaged);
    const again = await harness.run('restore', { component: 'postgres', backupId: 'latest', targetDatabase: `${database}_again` });
    expect(again.output.backupId).toBe(backupId);
    expect(again.output.safetyBackup).toMatchObject({ skipped: true });
  });

  test('a corrupted artifact fails at VerifyArtifacts and leaves the target untouched', async () => {
    const { database, bucket, client, harness, fingerprint, lock } = await setup();
    const backup = await harness.run('backup', { group: 'database' });
    expectSucceeded(backup);
    const key = `backups/database/postgres/${backup.output.backupId}/${database}.dump`;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from('not a dump at all') }));
    await damageSampleDatabase(urlFor(database));
    const before = await fingerprint();

    const restore = await harness.run('restore', { component: 'postgres', backupId: backup.output.backupId });
    expect(restore.status).toBe('FAILED');
    expect(restore.error).toBe('IntegrityError');
    expect(restore.cause).toMatch(/has 17 bytes, the manifest says \d+: the stored copy is damaged/);
    expect(harness.calls.map((c) => c.payload?.operation).filter(Boolean)).not.toContain('restore');
    expect(harness.calls.map((c) => c.payload?.operation)).not.toContain('safety-backup');
    expect(await fingerprint()).toEqual(before);
    expect(harness.events.map((e) => e.DetailType)).toContain('Restore Failed');
    expect(await lock()).toBeUndefined();
  });

  test('an unknown backup id or component fails at Resolve with a clear error, before any worker runs', async () => {
    const { harness } = await setup();
    const noBackups = await harness.run('restore', { component: 'postgres', backupId: 'latest' });
    expect(noBackups).toMatchObject({ status: 'FAILED', error: 'BackupNotFoundError' });
    expect(noBackups.cause).toMatch(/no completed backup yet/);

    const backup = await harness.run('backup', { group: 'database' });
    const unknownId = await harness.run('restore', { component: 'postgres', backupId: '20200101T000000Z-dead' });
    expect(unknownId).toMatchObject({ status: 'FAILED', error: 'BackupNotFoundError' });
    expect(unknownId.cause).toContain(`does not exist or never completed`);
    expect(unknownId.cause).toContain(backup.output.backupId);

    const unknownComponent = await harness.run('restore', { component: 'oracle', backupId: 'latest' });
    expect(unknownComponent).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
    expect(unknownComponent.cause).toMatch(/component 'oracle' is not a configured component; configured: postgres/);
    const workerCalls = harness.calls.filter((c) => c.payload?.operation && ['verify-artifacts', 'check-compatibility', 'restore'].includes(c.payload.operation));
    expect(workerCalls).toEqual([]);
  });

  test('a restore into a new database name creates it and verifies it', async () => {
    const { harness, fingerprint } = await setup();
    const original = await fingerprint();
    await harness.run('backup', { group: 'database' });
    const target = `restored_${Date.now()}`;
    expect(await databaseExists(target)).toBe(false);
    const restore = await harness.run('restore', { component: 'postgres', backupId: 'latest', targetDatabase: target });
    expectSucceeded(restore);
    expect(restore.output).toMatchObject({ fingerprintMatch: true, replacedExisting: false, safetyBackup: { skipped: true } });
    // The pre-restore room check reaches the execution's output: PostgreSQL tells no free disk space over SQL.
    expect(restore.output.compatibility.room).toMatchObject({ verdict: 'unknown', neededBytes: expect.any(Number), reason: expect.stringMatching(/no free disk space/) });
    expect(await fingerprint(target)).toEqual(original);
  });

  test('a failing component fails the backup execution with its error after Finalize, and publishes Backup Failed', async () => {
    const { database, harness } = await setup();
    await sql('postgres', `DROP DATABASE "${database}" WITH (FORCE)`);
    const backup = await harness.run('backup', { group: 'database' });
    expect(backup.status).toBe('FAILED');
    expect(backup.cause).toMatch(new RegExp(`^postgres: \\w+: .*${database}`));
    const failed = harness.events.find((e) => e.DetailType === 'Backup Failed');
    expect(JSON.parse(failed!.Detail)).toMatchObject({ component: 'postgres', group: 'database' });
    expect(harness.calls.some((c) => c.state === 'Finalize')).toBe(true);
  });

  test('the Fargate runner runs the same steps through the CLI, the restore\'s verification included, and reads their results back', async () => {
    const { database, harness, fingerprint } = await setup({ force: 'fargate' });
    const original = await fingerprint();
    const backup = await harness.run('backup', { group: 'database' });
    expectSucceeded(backup);
    expect(backup.output.components[0]).toMatchObject({ runner: 'fargate' });
    expect(harness.fargateRuns[0]).toMatchObject({ state: 'RunBackupTask', subnets: ['subnet-0a1b2c3d'], command: ['run-step', expect.stringContaining('"operation":"backup"')] });

    await damageSampleDatabase(urlFor(database));
    const restore = await harness.run('restore', { component: 'postgres', backupId: 'latest' });
    expect(restore.output).toMatchObject({ fingerprintMatch: true, runner: 'fargate' });
    expect(restore.output.compatibility.room).toMatchObject({ verdict: 'unknown', neededBytes: expect.any(Number) });
    expect(harness.fargateRuns.map((r) => r.state)).toEqual(['RunBackupTask', 'RunVerifyArtifactsTask', 'RunCheckCompatibilityTask', 'RunSafetyBackupTask', 'RunRestoreTask', 'RunPostVerifyTask']);
    expect(harness.fargateRuns.slice(1).map((r) => JSON.parse(r.command[1]).operation)).toEqual(['verify-artifacts', 'check-compatibility', 'safety-backup', 'restore', 'post-verify']);
    // On Lambda only what reads the task's stored result (and Resolve, ReleaseLock): no restore step runs there.
    const lambdaOperations = harness.calls.filter((c) => c.payload?.operation && !c.state.startsWith('Estimate')).map((c) => c.payload.operation);
    expect(new Set(lambdaOperations)).toEqual(new Set(['read-step-result']));
    // The step the task gets on its command line carries no runtime config: RunTask's overrides are limited to 8 KB.
    for (const run of harness.fargateRuns) expect(JSON.parse(run.command[1])).not.toHaveProperty('runtimeConfig');
    expect(restore.output.verifiedObjects).toBeGreaterThan(0);
    expect(await fingerprint()).toEqual(original);
  });

  test('a restore on Lambda runs its verification on Lambda and starts no task', async () => {
    const { harness } = await setup({ force: 'lambda' });
    expectSucceeded(await harness.run('backup', { group: 'database' }));
    const restore = await harness.run('restore', { component: 'postgres', backupId: 'latest', skipSafetyBackup: true });
    expectSucceeded(restore);
    expect(restore.output).toMatchObject({ runner: 'lambda', fingerprintMatch: true });
    expect(harness.fargateRuns).toEqual([]);
    const restoreStates = harness.calls.filter((c) => c.payload?.operation && c.state !== 'Estimate' && c.state !== 'BackupOnLambda').map((c) => c.state);
    expect(restoreStates).toEqual(['VerifyArtifactsOnLambda', 'CheckCompatibilityOnLambda', 'RestoreOnLambda', 'PostVerifyOnLambda']);
  });

  test('on Fargate, a damaged artifact fails at VerifyArtifacts with IntegrityError, before the target is touched, and the lock is released', async () => {
    const { database, bucket, client, harness, fingerprint, lock } = await setup({ force: 'fargate' });
    const backup = await harness.run('backup', { group: 'database' });
    expectSucceeded(backup);
    const key = `backups/database/postgres/${backup.output.backupId}/${database}.dump`;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from('not a dump at all') }));
    await damageSampleDatabase(urlFor(database));
    const before = await fingerprint();

    const restore = await harness.run('restore', { component: 'postgres', backupId: backup.output.backupId });
    expect(restore).toMatchObject({ status: 'FAILED', error: 'IntegrityError' });
    expect(restore.cause).toMatch(/has 17 bytes, the manifest says \d+: the stored copy is damaged/);
    expect(harness.fargateRuns.map((r) => [r.state, r.exitCode])).toEqual([['RunBackupTask', 0], ['RunVerifyArtifactsTask', 1]]);
    expect(await fingerprint()).toEqual(before);
    expect(await lock()).toBeUndefined();
    expect(harness.events.map((e) => e.DetailType)).toContain('Restore Failed');
  });

  test('a restore or backup while another operation holds the component lock fails at once, naming it, and leaves its lock alone', async () => {
    const { database, harness, vault, lock, fingerprint } = await setup();
    const backup = await harness.run('backup', { group: 'database' });
    expectSucceeded(backup);
    const before = await fingerprint();
    await acquireLock(vault, { group: 'database', component: 'postgres', owner: 'backup-20261123T020000Z-7f3a', operation: 'backup' });

    const restore = await harness.run('restore', { component: 'postgres', backupId: 'latest' });
    expect(restore).toMatchObject({ status: 'FAILED', error: 'OperationInProgressError' });
    expect(restore.cause).toContain('another operation holds this component\'s lock: backup backup-20261123T020000Z-7f3a (since');
    expect(harness.calls.filter((c) => c.payload?.operation && c.payload.operation !== 'estimate' && c.payload.operation !== 'backup')).toEqual([]);
    expect((await lock())!.owner).toBe('backup-20261123T020000Z-7f3a');
    expect(await fingerprint()).toEqual(before);

    const second = await harness.run('backup', { group: 'database' });
    expect(second.status).toBe('FAILED');
    expect(JSON.parse(harness.events.filter((e) => e.DetailType === 'Backup Failed').pop()!.Detail)).toMatchObject({ component: 'postgres', error: 'OperationInProgressError' });
    expect(database).toBeDefined();
  });

  test('a restore that fails verification says what happened and what is safe, names the safety backup, and releases the lock', async () => {
    let target = '';
    const { database, harness, lock } = await setup({
      intercept: {
        // A writer that was not stopped changes the target between the restore and its verification.
        PostVerifyOnLambda: async (params, real) => {
          await sql(target, 'CREATE TABLE written_during_restore (id int); INSERT INTO written_during_restore VALUES (1)');
          return real(params);
        },
      },
    });
    target = database;
    expectSucceeded(await harness.run('backup', { group: 'database' }));
    const restore = await harness.run('restore', { component: 'postgres', backupId: 'latest' });
    expect(restore).toMatchObject({ status: 'FAILED', error: 'VerificationError' });
    const message: string = JSON.parse(restore.cause!).errorMessage;
    const safetyId = /safety backup (\S+-safety)/.exec(message)?.[1];
    expect(safetyId).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]+-safety$/);
    expect(message).toContain('The target may now hold a partial or altered restore');
    expect(message).toContain('not over this target');
    expect(message).not.toMatch(/restore the safety backup or repeat/);
    expect(await lock()).toBeUndefined();
    expect(harness.events.map((e) => e.DetailType)).toContain('Restore Failed');
  });

  test('on Fargate, a restore that fails verification fails with VerificationError from the task and releases the lock', async () => {
    let target = '';
    const { database, harness, lock } = await setup({
      force: 'fargate',
      intercept: {
        RunPostVerifyTask: async (params, real) => {
          await sql(target, 'CREATE TABLE written_during_restore (id int); INSERT INTO written_during_restore VALUES (1)');
          return real(params);
        },
      },
    });
    target = database;
    expectSucceeded(await harness.run('backup', { group: 'database' }));
    const restore = await harness.run('restore', { component: 'postgres', backupId: 'latest', skipSafetyBackup: true });
    expect(restore).toMatchObject({ status: 'FAILED', error: 'VerificationError' });
    expect(JSON.parse(restore.cause!).errorMessage).toContain('The target may now hold a partial or altered restore');
    expect(harness.fargateRuns.map((r) => [r.state, r.exitCode]).at(-1)).toEqual(['RunPostVerifyTask', 1]);
    expect(await lock()).toBeUndefined();
    expect(harness.events.map((e) => e.DetailType)).toContain('Restore Failed');
  });
});

describe('the runtime configuration comes in each Lambda task\'s payload', () => {
  test('a control-plane task without it fails with InvalidInputError naming runtimeConfig', async () => {
    const { harness, lock } = await setup({
      intercept: { Resolve: (params, real) => real({ ...params, Payload: { ...params.Payload, runtimeConfig: undefined } }) },
    });
    const restore = await harness.run('restore', { component: 'postgres', backupId: 'latest' });
    expect(restore).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
    expect(JSON.parse(restore.cause!).errorMessage).toMatch(/^the event's runtimeConfig is missing\. Start this function through the state machines/);
    expect(await lock()).toBeUndefined();
  });

  test('a worker task given one without its bucket fails with InvalidInputError naming the field, and the lock is released', async () => {
    const { harness, lock } = await setup({
      intercept: {
        VerifyArtifactsOnLambda: (params, real) => {
          const { bucket: _bucket, ...rest } = JSON.parse(params.Payload.runtimeConfig);
          return real({ ...params, Payload: { ...params.Payload, runtimeConfig: JSON.stringify(rest) } });
        },
      },
    });
    expectSucceeded(await harness.run('backup', { group: 'database' }));
    const restore = await harness.run('restore', { component: 'postgres', backupId: 'latest' });
    expect(restore).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
    expect(JSON.parse(restore.cause!).errorMessage).toContain("the event's runtimeConfig.bucket is not a non-empty string");
    expect(await lock()).toBeUndefined();
  });

  test('every Lambda task of both workflows gets it (the workers without worker references) and no environment holds it', async () => {
    const { harness, config } = await setup();
    expect(process.env.NCA_RUNTIME_CONFIG).toBeUndefined();
    expectSucceeded(await harness.run('backup', { group: 'database' }));
    expectSucceeded(await harness.run('restore', { component: 'postgres', backupId: 'latest', skipSafetyBackup: true }));
    const lambdaCalls = harness.calls.filter((c) => c.state !== 'Finalize');
    expect(lambdaCalls.length).toBeGreaterThanOrEqual(8);
    for (const call of lambdaCalls) {
      const runtime = JSON.parse(call.payload.runtimeConfig);
      expect({ state: call.state, bucket: runtime.bucket }).toEqual({ state: call.state, bucket: config.bucket });
      const isWorker = call.payload.operation !== undefined;
      expect({ state: call.state, worker: runtime.components.postgres.worker !== undefined }).toEqual({ state: call.state, worker: !isWorker });
    }
  });
});
