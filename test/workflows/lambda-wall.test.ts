/**
 * The 15-minute Lambda wall, through the backup state machine's ASL: a component sent to Lambda whose backup
 * outlasts the invocation stops at its deadline (remaining time minus the safety margin), cleans up, and is
 * rerun on Fargate under the same backup id; the output records both attempts.
 *
 * The slow source is a real one: a session holding an ACCESS EXCLUSIVE lock on a table (a migration in a long
 * transaction), which pg_dump waits for. The lock is taken when the Lambda attempt starts and released after
 * its deadline, so the Fargate attempt finds the table free.
 */
import { Client } from 'pg';
import { connectPostgres, postgres } from '../../functions/components/postgres';
import { LAMBDA_SAFETY_MARGIN_MS } from '../../functions/core/lambda-deadline';
import { manifestKey } from '../../config/vault-layout';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, testS3Client, vaultOf } from '../support/s3';
import { createDatabase, testPostgresUrl, urlFor } from '../support/postgres-db';
import { loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { localWorker, workflowHarness } from '../../scripts/local-workflows';
import { expectSucceeded } from '../support/workflow-results';
import type { Manifest } from '../../functions/core/manifest';
import { runBackup } from '../../functions/core/backup-run';
import { LambdaTimeLimitError } from '../../functions/core/errors';
import { silentLogger } from '../../functions/core/logger';
import type { Logger } from '../../functions/components/types';

/** What the Lambda attempt has before its deadline; the table stays locked a while past it. */
const BUDGET_MS = 1_000;
const LOCKED_MS = BUDGET_MS + 2_000;

test('a Lambda backup that reaches its deadline is rerun on Fargate: one manifest, no leftovers, both attempts recorded', async () => {
  const database = await createDatabase('wall');
  await loadSampleNcaDatabase(urlFor(database), { rows: 500 });
  const client = testS3Client();
  const bucket = await createTestBucket(client);
  const config = testRuntimeConfig({
    bucket,
    runner: { force: 'lambda', maxConcurrency: 1 },
    components: { postgres: { group: 'database', source: { database }, worker: localWorker('postgres') } },
  });
  const env = { NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT!, NCA_POSTGRES_URL: testPostgresUrl() };
  const fingerprint = async (db: string) => postgres.fingerprint(await connectPostgres({ database: db }, { ...process.env, ...env }));
  const original = await fingerprint(database);

  const migration = new Client({ connectionString: urlFor(database) });
  await migration.connect();
  const harness = workflowHarness(config, env, {
    lambdaTimeoutMs: LAMBDA_SAFETY_MARGIN_MS + BUDGET_MS,
    intercept: {
      BackupOnLambda: async (params, real) => {
        await migration.query('BEGIN');
        await migration.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
        const release = new Promise((resolve) => setTimeout(resolve, LOCKED_MS)).then(() => migration.query('ROLLBACK'));
        try {
          return await real(params);
        } finally {
          await release;
        }
      },
    },
  });
  try {
    const backup = await harness.run('backup', { group: 'database', trigger: 'manual' });
    expectSucceeded(backup);
    const backupId: string = backup.output.backupId;
    expect(backup.states).toEqual(expect.arrayContaining(['BackupOnLambda', 'PrepareFargateBackup', 'BackupOnFargate', 'ComponentSucceededAfterRerun']));
    expect(backup.output.components).toEqual([
      expect.objectContaining({
        component: 'postgres',
        runner: 'fargate',
        rerunFrom: 'lambda',
        lambdaAttempt: { error: 'LambdaTimeLimitError', cause: expect.stringContaining('stopped on Lambda after') },
      }),
    ]);
    // The Fargate task ran the same backup id the Lambda attempt had.
    expect(harness.fargateRuns).toHaveLength(1);
    expect(JSON.parse(harness.fargateRuns[0].command[1])).toMatchObject({ operation: 'backup', component: 'postgres', backupId });

    // One backup, written by the Fargate attempt; nothing of the Lambda attempt is left beside it.
    const vault = vaultOf(bucket);
    const manifest = await vault.getJson<Manifest>(manifestKey('database', 'postgres', backupId));
    // The task's CLI wrote it: "fargate" in ECS, "cli" here where the task has no ECS metadata endpoint.
    expect(manifest?.producer.runner).toBe('cli');
    const prefix = manifestKey('database', 'postgres', backupId).replace(/manifest\.json$/, '');
    const stored = await vault.listKeys(prefix);
    expect(stored.sort()).toEqual([...manifest!.artifacts.map((a) => prefix + a.name), prefix + 'manifest.json'].sort());

    const restore = await harness.run('restore', { component: 'postgres', backupId, targetDatabase: `${database}_back` });
    expectSucceeded(restore);
    expect(await fingerprint(`${database}_back`)).toEqual(original);
  } finally {
    await migration.end();
  }
}, 60_000);

test('a backup stopped after its first artifact is stored deletes that artifact and writes no manifest', async () => {
  const database = await createDatabase('wallcut');
  await loadSampleNcaDatabase(urlFor(database), { rows: 50 });
  const bucket = await createTestBucket(testS3Client());
  const vault = vaultOf(bucket);
  const config = testRuntimeConfig({ bucket, components: { postgres: { group: 'database', source: { database } } } });
  // The deadline falls right after the dump reached the vault, before the roles artifact and the manifest.
  const deadline = new AbortController();
  const stored: string[] = [];
  const log: Logger = {
    ...silentLogger,
    info: (message, fields) => {
      if (message !== 'artifact stored') return;
      stored.push(String(fields?.artifact));
      deadline.abort(new LambdaTimeLimitError('stopped at the deadline.'));
    },
  };
  const backupId = '20261201T000000Z-cafe';
  const ctx = { config, vault, env: { ...process.env, NCA_POSTGRES_URL: testPostgresUrl() }, log, runner: 'lambda', now: () => new Date() };

  await expect(runBackup(ctx, { component: 'postgres', backupId, trigger: 'manual', signal: deadline.signal })).rejects.toBeInstanceOf(LambdaTimeLimitError);
  expect(stored).toEqual([expect.stringMatching(/\.dump$/)]);
  expect(await vault.listKeys(manifestKey('database', 'postgres', backupId).replace(/manifest\.json$/, ''))).toEqual([]);
});
