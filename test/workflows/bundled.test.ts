/**
 * The workflows run against the code as deploy bundles it (test/support/bundle.ts: the control plane with
 * infra's own esbuild options, the worker and the Fargate CLI with the Dockerfile's esbuild lines), on
 * both runners. The same fault must reach the execution with the same error name and cause whether the
 * step ran on Lambda or on Fargate, and a TransientError must be retried on both.
 */
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { connectPostgres, postgres } from '../../functions/components/postgres';
import type { RuntimeConfig } from '../../functions/core/runtime-config';
import { localWorker, workflowHarness, type HarnessCode, type HarnessOptions, type WorkflowResult } from '../../scripts/local-workflows';
import { loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { bundleAsDeployed } from '../support/bundle';
import { createDatabase, testPostgresUrl, urlFor } from '../support/postgres-db';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, testS3Client } from '../support/s3';
import { startS3Proxy, type S3Proxy } from '../support/s3-proxy';

type Runner = 'lambda' | 'fargate';
const RUNNERS: Runner[] = ['lambda', 'fargate'];

let code: HarnessCode;
let proxy: S3Proxy;
let database: string;
let bucket: string;
let backupId: string;

beforeAll(async () => {
  code = bundleAsDeployed();
  proxy = await startS3Proxy(process.env.NCA_TEST_S3_ENDPOINT!);
  database = await createDatabase('bundled');
  await loadSampleNcaDatabase(urlFor(database), { rows: 300 });
  bucket = await createTestBucket(testS3Client(), 'bundled');
  const backup = await harnessFor('lambda').run('backup', { group: 'database' });
  expect({ status: backup.status, error: backup.error, cause: backup.cause }).toEqual({ status: 'SUCCEEDED' });
  backupId = backup.output.backupId;
});

afterAll(async () => {
  await proxy?.stop();
});

function configFor(force: Runner): RuntimeConfig {
  return testRuntimeConfig({
    bucket,
    runner: { force },
    components: { postgres: { group: 'database', source: { database }, worker: localWorker('postgres') } },
  });
}

function harnessFor(force: Runner, intercept?: HarnessOptions['intercept']) {
  return workflowHarness(configFor(force), { NCA_S3_ENDPOINT: proxy.endpoint, NCA_POSTGRES_URL: testPostgresUrl() }, { code, intercept });
}

/** What an operator sees of a failure: the error name, and the Lambda error document's type and message. */
function seen(result: WorkflowResult) {
  const cause = JSON.parse(result.cause ?? '{}') as { errorType?: string; errorMessage?: string };
  return { status: result.status, error: result.error, errorType: cause.errorType, errorMessage: cause.errorMessage };
}

const manifestKey = () => `backups/database/postgres/${backupId}/manifest.json`;

/** The last Task of CheckCompatibility on each runner: on Fargate, reading back what the task stored. */
const CHECK_COMPATIBILITY_DONE: Record<Runner, string> = { lambda: 'CheckCompatibilityOnLambda', fargate: 'ReadCheckCompatibilityResult' };

/** Runs a restore into a fresh database, changing the vault right after CheckCompatibility (before the restore step). */
async function restoreWithFault(runner: Runner, fault: () => Promise<void>) {
  const original = await testS3Client().send(new GetObjectCommand({ Bucket: bucket, Key: manifestKey() }));
  const manifest = await original.Body!.transformToString();
  const harness = harnessFor(runner, {
    [CHECK_COMPATIBILITY_DONE[runner]]: async (params, real) => {
      const result = await real(params);
      await fault();
      return result;
    },
  });
  try {
    return await harness.run('restore', { component: 'postgres', backupId, targetDatabase: `${database}_${runner}_${Date.now()}`, skipSafetyBackup: true });
  } finally {
    await testS3Client().send(new PutObjectCommand({ Bucket: bucket, Key: manifestKey(), Body: manifest }));
  }
}

describe('errors reach the execution by name from the bundled code, on Lambda and on Fargate alike', () => {
  test('BackupNotFoundError: an unknown id at Resolve (minified control plane)', async () => {
    const result = await harnessFor('lambda').run('restore', { component: 'postgres', backupId: '20200101T000000Z-dead' });
    expect(seen(result)).toMatchObject({ status: 'FAILED', error: 'BackupNotFoundError', errorType: 'BackupNotFoundError' });
    expect(result.cause).toContain('does not exist or never completed');
  });

  test('BackupNotFoundError: the backup disappears before the restore step', async () => {
    const results = [];
    for (const runner of RUNNERS) {
      results.push(seen(await restoreWithFault(runner, async () => void (await testS3Client().send(new DeleteObjectCommand({ Bucket: bucket, Key: manifestKey() }))))));
    }
    expect(results[0]).toMatchObject({ status: 'FAILED', error: 'BackupNotFoundError', errorMessage: expect.stringContaining(`backup ${backupId} has no manifest`) });
    expect(results[1]).toEqual(results[0]);
  });

  test('IntegrityError: the manifest is damaged before the restore step', async () => {
    const results = [];
    for (const runner of RUNNERS) {
      results.push(seen(await restoreWithFault(runner, async () => void (await testS3Client().send(new PutObjectCommand({ Bucket: bucket, Key: manifestKey(), Body: '{"backupId": "trunc' }))))));
    }
    expect(results[0]).toMatchObject({ status: 'FAILED', error: 'IntegrityError', errorMessage: expect.stringContaining('manifest.json is damaged: it is not valid JSON') });
    expect(results[1]).toEqual(results[0]);
  });

  test('TransientError: S3 answering 503 SlowDown fails the restore step once, the workflow retries it and the restore completes', async () => {
    for (const [runner, state] of [['lambda', 'RestoreOnLambda'], ['fargate', 'RunRestoreTask']] as const) {
      let attempts = 0;
      const harness = harnessFor(runner, {
        [state]: async (params, real) => {
          // The SDK makes 3 attempts per request: 3 faults exhaust them on the step's first S3 request.
          if (attempts++ === 0) proxy.failNext(3, 503, 'SlowDown');
          return real(params);
        },
      });
      const target = `${database}_retry_${runner}`;
      const result = await harness.run('restore', { component: 'postgres', backupId, targetDatabase: target, skipSafetyBackup: true });
      expect({ runner, status: result.status, error: result.error, cause: result.cause }).toEqual({ runner, status: 'SUCCEEDED', error: undefined, cause: undefined });
      expect(attempts).toBe(2);
      expect(result.output).toMatchObject({ fingerprintMatch: true });
      if (runner === 'fargate') {
        expect(harness.fargateRuns.map((r) => [r.state, r.exitCode])).toEqual([
          ['RunVerifyArtifactsTask', 0],
          ['RunCheckCompatibilityTask', 0],
          ['RunRestoreTask', 1],
          ['RunRestoreTask', 0],
          ['RunPostVerifyTask', 0],
        ]);
        expect(harness.fargateRuns[2].stderr).toContain('TransientError');
      }
      const source = await postgres.fingerprint(await connectPostgres({ database }, { ...process.env, NCA_POSTGRES_URL: testPostgresUrl() }));
      const copy = await postgres.fingerprint(await connectPostgres({ database: target }, { ...process.env, NCA_POSTGRES_URL: testPostgresUrl() }));
      expect(copy).toEqual(source);
    }
  });

  test('a Fargate task that ECS could not start is retried as a TransientError', async () => {
    let attempts = 0;
    const harness = harnessFor('fargate', {
      RunRestoreTask: async (params, real) => {
        if (attempts++ === 0) {
          const task = { StopCode: 'TaskFailedToStart', StoppedReason: 'ResourceInitializationError: Timeout waiting for network interface provisioning to complete.' };
          throw Object.assign(new Error(JSON.stringify(task)), { name: 'States.TaskFailed' });
        }
        return real(params);
      },
    });
    const result = await harness.run('restore', { component: 'postgres', backupId, targetDatabase: `${database}_capacity`, skipSafetyBackup: true });
    expect({ status: result.status, error: result.error, cause: result.cause }).toEqual({ status: 'SUCCEEDED', error: undefined, cause: undefined });
    expect(attempts).toBe(2);
  });

  test('a Fargate task that stopped without a result fails as TaskStoppedError with the stop reason', async () => {
    const harness = harnessFor('fargate', {
      RunRestoreTask: async () => {
        const task = { StopCode: 'EssentialContainerExited', StoppedReason: 'Essential container in task exited', Containers: [{ ExitCode: 137, Reason: 'OutOfMemoryError: Container killed due to memory usage' }] };
        throw Object.assign(new Error(JSON.stringify(task)), { name: 'States.TaskFailed' });
      },
    });
    const result = await harness.run('restore', { component: 'postgres', backupId, targetDatabase: `${database}_oom`, skipSafetyBackup: true });
    expect(seen(result)).toMatchObject({ status: 'FAILED', error: 'TaskStoppedError', errorMessage: expect.stringContaining('exit code 137 OutOfMemoryError') });
  });
});
