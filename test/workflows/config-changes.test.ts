/**
 * The configuration's "after changes" backup end to end: a deploy writes 200 parameters, EventBridge
 * invokes the change handler once per change, and the handler starts the backup state machine through the
 * Step Functions substitute, which runs the real ASL (scripts/local-workflows.ts) with the real handlers.
 * One execution per debounce window: it waits in WaitForChangesToSettle until its notBefore, then backs up
 * the configuration with a manifest that says trigger change and names the first change. The handler's
 * clock is set 20 minutes back, so every notBefore is already past and the Wait state reads its timestamp
 * without sleeping. No secret value reaches an execution's input or output, the manifest or a log line.
 */
import { CHANGE_WINDOW_SECONDS, changeWindow } from '../../functions/core/config-changes';
import { inspectBackup, usableManifest } from '../../functions/core/catalog';
import type { Logger } from '../../functions/components/types';
import type { RuntimeConfig } from '../../functions/core/runtime-config';
import { createHandler, type ChangeTriggerResult } from '../../functions/handlers/config-change';
import { localWorker, workflowHarness, type WorkflowHarness, type WorkflowResult } from '../../scripts/local-workflows';
import { SAMPLE_CONFIG, startConfigStores, type ConfigStores } from '../support/config-stores';
import { testAuthenticator } from '../support/manifests';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, testS3Client, vaultOf } from '../support/s3';
import { startStepFunctionsServer, type StepFunctionsServer } from '../support/step-functions-server';

const WINDOW_MS = CHANGE_WINDOW_SECONDS * 1000;
const SECRET_VALUES = [SAMPLE_CONFIG.dbPassword, SAMPLE_CONFIG.apiKey, 'deploy-secret-value-7Qx'];

let stores: ConfigStores;
let sfn: StepFunctionsServer;
let config: RuntimeConfig;
let harness: WorkflowHarness;
let bucket: string;
let stateMachineArn: string;
const logged: string[] = [];
const log: Logger = { info: (message, fields) => logged.push(JSON.stringify({ message, ...fields })), warn: (message, fields) => logged.push(JSON.stringify({ message, ...fields })) };

/** The handler as deployed, with its clock at `now`, logging into `logged`. */
const handlerAt = (now: () => Date) =>
  createHandler({ now, log, env: { NCA_BACKUP_STATE_MACHINE_ARN: stateMachineArn, NCA_STEP_FUNCTIONS_ENDPOINT: sfn.endpoint } });

const parameterChange = (name: string) => ({
  version: '0',
  id: `0b7c6a51-${name.length}`,
  'detail-type': 'Parameter Store Change',
  source: 'aws.ssm',
  account: '123456789012',
  time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  region: 'us-east-1',
  resources: [`arn:aws:ssm:us-east-1:123456789012:parameter${name}`],
  detail: { operation: 'Update', name, type: 'SecureString' },
});

/** The manifest of a backup, read back and proven authentic. */
async function manifestOf(backupId: string) {
  const inspected = await inspectBackup(vaultOf(bucket), testAuthenticator(), { group: 'configuration', component: 'config', backupId });
  return usableManifest(inspected, 'config');
}

beforeAll(async () => {
  stores = await startConfigStores();
  sfn = await startStepFunctionsServer();
  bucket = await createTestBucket(testS3Client());
  const env = { NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT!, ...stores.endpoints };
  config = testRuntimeConfig({
    bucket,
    components: {
      config: { group: 'configuration', source: { parameterPaths: ['/neuroca'], secrets: ['neuroca/'], files: [], envelopeKeyId: stores.envelopeKeyId }, worker: localWorker('config') },
    },
  });
  harness = workflowHarness(config, env);
  stateMachineArn = sfn.addStateMachine('nca-backup-backup', (input, name) => harness.run('backup', input, name));
});

afterAll(async () => {
  await sfn?.stop();
  await stores?.stop();
});

describe('configuration changes start a backup', () => {
  test('a burst of 200 changes in one window starts one execution, which waits, then backs up with trigger change and the first name; the next window starts another', async () => {
    // The window 20 minutes back, 7 s in: the burst's 200 changes are handled one second apart, all inside it.
    const windowStart = Math.floor((Date.now() - 20 * 60_000) / WINDOW_MS) * WINDOW_MS;
    const names = Array.from({ length: 200 }, (_, i) => `/neuroca/deploy/setting-${String(i).padStart(3, '0')}`);
    for (const name of names) stores.ssmServer.put(name, name.endsWith('-000') ? 'deploy-secret-value-7Qx' : `value of ${name}`, { type: 'SecureString' });

    let clock = new Date(windowStart + 7_000);
    const handler = handlerAt(() => clock);
    const handled: Promise<ChangeTriggerResult>[] = [];
    // As EventBridge invokes the function: concurrently. Each call reads its clock before its first await.
    for (const [i, name] of names.entries()) {
      clock = new Date(windowStart + 7_000 + i * 1000);
      handled.push(handler(parameterChange(name)));
    }
    const results = await Promise.all(handled);

    const window = changeWindow(new Date(windowStart));
    const started = results.filter((r) => r.started);
    expect(started).toEqual([{ started: true, executionName: window.executionName, executionArn: expect.any(String) }]);
    expect(results.filter((r) => !r.started)).toEqual(Array(199).fill({ started: false, executionName: window.executionName }));
    expect(sfn.calls.filter((c) => c.operation === 'StartExecution')).toHaveLength(200);
    expect(sfn.executions.map((e) => e.name)).toEqual([window.executionName]);
    expect(JSON.parse(sfn.executions[0].input)).toEqual({ group: 'configuration', trigger: 'change', changed: names[0], notBefore: window.notBefore });

    const first = (await sfn.executions[0].done) as WorkflowResult;
    expect({ status: first.status, error: first.error, cause: first.cause }).toEqual({ status: 'SUCCEEDED' });
    // The execution waited for its notBefore before it planned, and Plan got the input as it was started.
    expect(first.states.slice(0, 3)).toEqual(['StartWhen', 'WaitForChangesToSettle', 'Plan']);
    expect(harness.calls.find((c) => c.state === 'Plan')?.payload.input).toMatchObject({ notBefore: window.notBefore, trigger: 'change' });
    const backupId = (first.output as { backupId: string }).backupId;
    const manifest = await manifestOf(backupId);
    expect(manifest).toMatchObject({ trigger: 'change', changed: names[0], group: 'configuration', component: 'config' });

    // A change handled in the next window is not covered by the first execution's name: a second one starts.
    clock = new Date(windowStart + WINDOW_MS + 2_000);
    const next = await handler(parameterChange('/neuroca/db/host'));
    const nextWindow = changeWindow(clock);
    expect(next).toEqual({ started: true, executionName: nextWindow.executionName, executionArn: expect.any(String) });
    expect(nextWindow.executionName).not.toBe(window.executionName);
    const second = await sfn.executions[1].done;
    expect(second.status).toBe('SUCCEEDED');
    const secondManifest = await manifestOf((second.output as { backupId: string }).backupId);
    expect(secondManifest).toMatchObject({ trigger: 'change', changed: '/neuroca/db/host' });

    const printed = JSON.stringify([sfn.executions.map((e) => [e.input, e.outcome]), results, next, manifest, secondManifest, harness.events, logged]);
    for (const value of SECRET_VALUES) expect(printed).not.toContain(value);
    // The log names every change and its window, never more.
    expect(logged.filter((line) => line.includes('covered by the backup of its window'))).toHaveLength(199);
  });

  test('a backup without notBefore (scheduled, manual) does not wait', async () => {
    const result = await harness.run('backup', { group: 'configuration', trigger: 'scheduled' });
    expect(result.status).toBe('SUCCEEDED');
    expect(result.states.slice(0, 2)).toEqual(['StartWhen', 'Plan']);
    expect(await manifestOf(result.output.backupId)).not.toHaveProperty('changed');
  });

  test('a notBefore that is no timestamp skips the Wait state and is refused by Plan, naming the field', async () => {
    const result = await harness.run('backup', { group: 'configuration', trigger: 'change', changed: '/neuroca/db/host', notBefore: 'in five minutes' });
    expect(result).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
    expect(result.states.slice(0, 2)).toEqual(['StartWhen', 'Plan']);
    expect(JSON.parse(result.cause!).errorMessage).toBe('notBefore "in five minutes" is not a UTC time like 2026-11-30T15:31:00Z.');
  });
});
