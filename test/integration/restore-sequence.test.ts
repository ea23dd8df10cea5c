/**
 * One restore, one sequence: the CLI's `restore` runs the steps restore.asl.json names, in the order the
 * file gives them, in one process, reading the backup's manifest once and connecting its target once.
 * Measured from outside the code: manifest reads in the S3 proxy's request log, connects on the
 * component's registry entry. Before this sequence existed, one CLI restore read the manifest twice and
 * connected four times (five with a safety backup), i.e. four or five Secrets Manager reads in AWS.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { componentEntry } from '../../functions/components';
import { main } from '../../functions/cli';
import { loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { cliEnv, postgresBackupYaml, writeBackupYaml } from '../support/cli';
import { createDatabase, testPostgresUrl, urlFor } from '../support/postgres-db';
import { createTestBucket, testS3Client } from '../support/s3';
import { startS3Proxy, type S3Proxy } from '../support/s3-proxy';

interface AslState {
  readonly Type: string;
  readonly Resource?: string;
  readonly Parameters?: { readonly FunctionName?: string; readonly Payload?: { readonly operation?: string } };
  readonly Choices?: readonly { readonly Variable: string; readonly BooleanEquals?: boolean; readonly StringEquals?: string; readonly Next: string }[];
  readonly Default?: string;
  readonly Next?: string;
  readonly Catch?: readonly { readonly ErrorEquals: readonly string[]; readonly Next: string }[];
}

/** The control-plane Tasks by the function they invoke; the worker's Tasks carry their operation name. */
const CONTROL_PLANE_STEPS: Record<string, string> = { '${ResolveRestoreFunctionArn}': 'resolve', '${ReleaseLockFunctionArn}': 'release-lock' };

/**
 * The engine steps a restore execution runs, in order, read from the ASL file for one execution state: the
 * Lambda Tasks (the worker's operation, or the control-plane function), Choices decided on `state`. A
 * Fargate step is its Pass state's operation (the Parallel around the task only reads the result back).
 * Events (PutEvents) are not engine steps: the CLI publishes none. `failAt`: the step that fails, whose
 * Catch the walk follows.
 */
function aslRestoreSteps(state: { request: { skipSafetyBackup: boolean }; runner: 'lambda' | 'fargate' }, failAt?: string): string[] {
  const asl = JSON.parse(readFileSync(join(__dirname, '..', '..', 'state-machines', 'restore.asl.json'), 'utf8')) as { StartAt: string; States: Record<string, AslState> };
  const valueOf = (path: string): unknown => path.replace(/^\$\./, '').split('.').reduce<any>((value, key) => value?.[key], state);
  const steps: string[] = [];
  for (let name: string | undefined = asl.StartAt, seen = 0; name !== undefined; seen++) {
    if (seen > 50) throw new Error('the restore path loops');
    const s: AslState = asl.States[name]!;
    if (s.Type === 'Task' && s.Resource === 'arn:aws:states:::lambda:invoke') {
      const step = s.Parameters?.Payload?.operation ?? CONTROL_PLANE_STEPS[s.Parameters?.FunctionName ?? ''];
      if (!step) throw new Error(`Task ${name} invokes neither a worker operation nor a known control-plane function`);
      steps.push(step);
      if (step === failAt) {
        name = s.Catch!.find((c) => c.ErrorEquals.includes('States.ALL'))!.Next;
        continue;
      }
    }
    if (s.Type === 'Pass' && s.Parameters?.Payload === undefined && typeof (s.Parameters as { operation?: unknown } | undefined)?.operation === 'string') {
      steps.push((s.Parameters as { operation: string }).operation);
    }
    if (s.Type === 'Choice') {
      const chosen = s.Choices!.find((rule): boolean => {
        const value = valueOf(rule.Variable);
        if (rule.BooleanEquals !== undefined) return value === rule.BooleanEquals;
        if (rule.StringEquals !== undefined) return value === rule.StringEquals;
        throw new Error(`Choice ${name}: a rule this walk does not know`);
      });
      name = chosen ? chosen.Next : s.Default;
    } else {
      name = s.Next;
    }
  }
  return steps;
}

let proxy: S3Proxy;
let env: NodeJS.ProcessEnv;
let configFile: string;
let database: string;
let bucket: string;

beforeAll(async () => {
  database = await createDatabase('seq');
  await loadSampleNcaDatabase(urlFor(database), { rows: 200 });
  bucket = await createTestBucket(testS3Client(), 'seq');
  proxy = await startS3Proxy(process.env.NCA_TEST_S3_ENDPOINT!);
  configFile = writeBackupYaml(postgresBackupYaml(database));
  env = cliEnv(bucket, {
    NCA_S3_ENDPOINT: proxy.endpoint,
    NCA_POSTGRES_URL: testPostgresUrl(),
    NCA_PG_BIN_DIR: process.env.NCA_TEST_PG_BIN_DIR,
    NCA_MANIFEST_KEY_FILE: process.env.NCA_MANIFEST_KEY_FILE,
  });
});

afterAll(() => proxy.stop());

/**
 * Runs one command in this process (the spy on `connect` sees it), with its progress captured: the steps it
 * announced, the manifest reads of `backupId` and the connects it made.
 */
async function cli(args: string[], backupId?: string) {
  const connect = jest.spyOn(componentEntry('postgres'), 'connect');
  connect.mockClear();
  const from = proxy.requests.length;
  let stdout = '';
  let stderr = '';
  try {
    const code = await main([...args, '--config', configFile], { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env });
    const log = stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { message: string; step?: string });
    return {
      code,
      json: JSON.parse(stdout),
      steps: log.filter((line) => line.message === 'restore step').map((line) => line.step),
      manifestReads: proxy.requests.slice(from).filter((r) => r.method === 'GET' && backupId !== undefined && r.path.endsWith(`/${backupId}/manifest.json`)).length,
      connects: connect.mock.calls.length,
    };
  } finally {
    connect.mockRestore();
  }
}

let backupId: string;

test('the ASL walk finds the restore steps (guards the walk itself)', () => {
  expect(aslRestoreSteps({ request: { skipSafetyBackup: false }, runner: 'lambda' })).toEqual([
    'resolve',
    'verify-artifacts',
    'check-compatibility',
    'safety-backup',
    'restore',
    'post-verify',
    'release-lock',
  ]);
  expect(aslRestoreSteps({ request: { skipSafetyBackup: false }, runner: 'fargate' })).toEqual(aslRestoreSteps({ request: { skipSafetyBackup: false }, runner: 'lambda' }));
});

test('restore over an existing database: the ASL\'s steps in its order, one manifest read, one connect', async () => {
  const backup = await cli(['backup', 'postgres']);
  expect({ code: backup.code, error: backup.json.error }).toEqual({ code: 0, error: undefined });
  backupId = backup.json.backupId;

  // The first restore creates the target; the second replaces it, so its safety backup is taken.
  const first = await cli(['restore', 'postgres', '--backup-id', backupId, '--target-database', `${database}_copy`], backupId);
  expect(first.json).toMatchObject({ fingerprintMatch: true, safetyBackup: { skipped: true } });
  const run = await cli(['restore', 'postgres', '--backup-id', backupId, '--target-database', `${database}_copy`], backupId);
  expect({ code: run.code, error: run.json.error, message: run.json.message }).toEqual({ code: 0, error: undefined, message: undefined });
  expect(run.json).toMatchObject({ fingerprintMatch: true, replacedExisting: true, safetyBackup: { skipped: false, trigger: 'safety' } });

  expect(run.steps).toEqual(aslRestoreSteps({ request: { skipSafetyBackup: false }, runner: 'lambda' }));
  expect({ manifestReads: run.manifestReads, connects: run.connects }).toEqual({ manifestReads: 1, connects: 1 });
  expect({ manifestReads: first.manifestReads, connects: first.connects }).toEqual({ manifestReads: 1, connects: 1 });
});

test('restore latest with --skip-safety-backup: the ASL\'s path without the safety backup; one manifest read, one connect', async () => {
  const run = await cli(['restore', 'postgres', '--backup-id', 'latest', '--target-database', `${database}_skip`, '--skip-safety-backup'], backupId);
  expect(run.json).toMatchObject({ backupId, fingerprintMatch: true, safetyBackup: { skipped: true, reason: '--skip-safety-backup' } });
  expect(run.steps).toEqual(aslRestoreSteps({ request: { skipSafetyBackup: true }, runner: 'lambda' }));
  expect({ manifestReads: run.manifestReads, connects: run.connects }).toEqual({ manifestReads: 1, connects: 1 });
});

test('a failed step ends the sequence, and the lock is released, as the ASL\'s Catch to ReleaseLockAfterFailure does', async () => {
  const damaged = await cli(['backup', 'postgres', '--backup-id', '20260101T000000Z-dead']);
  expect(damaged.code).toBe(0);
  await testS3Client().send(new PutObjectCommand({ Bucket: bucket, Key: `backups/database/postgres/20260101T000000Z-dead/${database}.dump`, Body: 'overwritten' }));
  const run = await cli(['restore', 'postgres', '--backup-id', '20260101T000000Z-dead', '--target-database', `${database}_damaged`], '20260101T000000Z-dead');
  expect({ code: run.code, error: run.json.error }).toEqual({ code: 1, error: 'IntegrityError' });
  expect(run.steps).toEqual(aslRestoreSteps({ request: { skipSafetyBackup: false }, runner: 'lambda' }, 'verify-artifacts'));
  expect(run.steps).toEqual(['resolve', 'verify-artifacts', 'release-lock']);
  expect(run.connects).toBe(0);
  // Released: the next restore of the component is not refused.
  const after = await cli(['restore', 'postgres', '--backup-id', backupId, '--target-database', `${database}_after`, '--skip-safety-backup']);
  expect(after.json).toMatchObject({ fingerprintMatch: true });
});

test('each worker step (run-step, one step in one process) reads the manifest at most once and connects at most once', async () => {
  const figures: Record<string, { manifestReads: number; connects: number }> = {};
  for (const operation of ['verify-artifacts', 'check-compatibility', 'safety-backup', 'restore', 'post-verify']) {
    const step = { operation, component: 'postgres', backupId, targetDatabase: `${database}_copy`, stepId: `seq-${operation}`, safetyBackupId: `${backupId.slice(0, 16)}-5eq${operation.length}-safety` };
    const run = await cli(['run-step', JSON.stringify(step)], backupId);
    expect({ operation, code: run.code, error: run.json.error, message: run.json.message }).toEqual({ operation, code: 0, error: undefined, message: undefined });
    figures[operation] = { manifestReads: run.manifestReads, connects: run.connects };
  }
  expect(figures).toEqual({
    'verify-artifacts': { manifestReads: 1, connects: 0 },
    'check-compatibility': { manifestReads: 1, connects: 1 },
    // The safety backup needs no manifest of the backup being restored; before, it connected twice.
    'safety-backup': { manifestReads: 0, connects: 1 },
    restore: { manifestReads: 1, connects: 1 },
    'post-verify': { manifestReads: 1, connects: 1 },
  });
});

test('verify reads the manifest once and connects to nothing', async () => {
  const run = await cli(['verify', 'postgres', '--backup-id', backupId], backupId);
  expect(run.json).toMatchObject({ backupId, intact: true });
  expect({ manifestReads: run.manifestReads, connects: run.connects }).toEqual({ manifestReads: 1, connects: 0 });
});
