/**
 * The Step Functions substitute through @aws-sdk/client-sfn (JSON 1.0, signed requests): StartExecution's
 * name uniqueness as for a STANDARD workflow, its refusals, DescribeExecution; and the configuration change
 * handler's answers to it: an idempotent repeat, a missing state machine, throttling that outlasts the SDK's
 * retries, an unset state machine ARN, an event that is no configuration change.
 */
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { AccessDeniedError, NcaBackupError, TransientError } from '../../functions/core/errors';
import { createHandler } from '../../functions/handlers/config-change';
import { silentLogger } from '../../functions/core/logger';
import { startStepFunctionsServer, type ExecutionOutcome, type StepFunctionsServer } from '../support/step-functions-server';
import { rejection } from '../support/thrown';

let server: StepFunctionsServer;
let sfn: SFNClient;
/** Executions of the gated machine run until the test opens the gate. */
let openGate: (outcome: ExecutionOutcome) => void;
let gate: Promise<ExecutionOutcome>;
let gated: string;

beforeAll(async () => {
  server = await startStepFunctionsServer();
  sfn = new SFNClient({ region: 'us-east-1', endpoint: server.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' }, maxAttempts: 2 });
  gated = server.addStateMachine('gated', () => gate);
});
beforeEach(() => {
  gate = new Promise((resolve) => (openGate = resolve));
});
afterAll(async () => {
  sfn.destroy();
  await server.stop();
});

const start = (name: string, input: unknown, stateMachineArn = gated) => sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));

describe('StartExecution', () => {
  test('a name is unique per state machine: the same input while running answers the same execution; another input, or any once it closed, is ExecutionAlreadyExists', async () => {
    const first = await start('window-1', { changed: 'a' });
    expect(first.executionArn).toBe(`arn:aws:states:us-east-1:000000000000:execution:gated:window-1`);
    expect(await start('window-1', { changed: 'a' })).toMatchObject({ executionArn: first.executionArn });
    expect(await rejection(start('window-1', { changed: 'b' }))).toMatchObject({ name: 'ExecutionAlreadyExists', message: `Execution Already Exists: '${first.executionArn}'` });
    expect((await sfn.send(new DescribeExecutionCommand({ executionArn: first.executionArn! })))).toMatchObject({ status: 'RUNNING', input: '{"changed":"a"}' });

    openGate({ status: 'SUCCEEDED', output: { backupId: 'x' } });
    await server.executions.find((e) => e.name === 'window-1')!.done;
    expect(await sfn.send(new DescribeExecutionCommand({ executionArn: first.executionArn! }))).toMatchObject({ status: 'SUCCEEDED', output: '{"backupId":"x"}' });
    await expect(start('window-1', { changed: 'a' })).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
    expect(server.executions.filter((e) => e.name === 'window-1')).toHaveLength(1);
    expect(server.calls.every((c) => c.signed)).toBe(true);
  });

  test.each([
    ['a name with a slash', 'a/b', {}, 'InvalidName'],
    ['a name of 81 characters', 'x'.repeat(81), {}, 'InvalidName'],
    ['an input that is no JSON', 'bad-input', undefined, 'InvalidExecutionInput'],
  ])('%s is refused', async (_what, name, input, error) => {
    const request = new StartExecutionCommand({ stateMachineArn: gated, name, input: input === undefined ? '{"open": ' : JSON.stringify(input) });
    await expect(sfn.send(request)).rejects.toMatchObject({ name: error });
  });

  test('an unknown state machine, and a malformed ARN', async () => {
    await expect(start('x', {}, gated.replace('gated', 'missing'))).rejects.toMatchObject({ name: 'StateMachineDoesNotExist' });
    await expect(start('x', {}, 'arn:aws:lambda:us-east-1:000000000000:function:f')).rejects.toMatchObject({ name: 'InvalidArn' });
  });
});

const parameterChange = (name: string) => ({ source: 'aws.ssm', 'detail-type': 'Parameter Store Change', detail: { name, type: 'String', operation: 'Update' } });

describe('the configuration change handler', () => {
  const at = new Date('2026-11-30T15:27:12Z');
  const env = () => ({ NCA_BACKUP_STATE_MACHINE_ARN: gated, NCA_STEP_FUNCTIONS_ENDPOINT: server.endpoint });

  test('the same change again in its window, while the execution runs, is answered with that execution', async () => {
    const handler = createHandler({ now: () => at, env: env(), log: silentLogger });
    const first = await handler(parameterChange('/neuroca/db/host'));
    expect(first).toEqual({ started: true, executionName: 'configuration-change-20261130T1525Z', executionArn: expect.stringMatching(/:execution:gated:configuration-change-20261130T1525Z$/) });
    expect(await handler(parameterChange('/neuroca/db/host'))).toEqual(first);
    expect(await handler(parameterChange('/neuroca/db/port'))).toEqual({ started: false, executionName: 'configuration-change-20261130T1525Z' });
    openGate({ status: 'SUCCEEDED' });
  });

  test('an event that is no configuration change starts nothing', async () => {
    const before = server.calls.length;
    const handler = createHandler({ now: () => at, env: env(), log: silentLogger });
    expect(await handler({ source: 'aws.ec2', 'detail-type': 'EC2 Instance State-change Notification', detail: {} })).toEqual({ started: false, ignored: true });
    expect(server.calls.length).toBe(before);
  });

  test('a state machine that does not exist, Step Functions throttling past the retries, and no state machine ARN are typed errors', async () => {
    const missing = createHandler({ now: () => at, env: { ...env(), NCA_BACKUP_STATE_MACHINE_ARN: gated.replace('gated', 'missing') }, log: silentLogger });
    const error = await rejection(missing(parameterChange('/neuroca/a')));
    expect(error).toBeInstanceOf(NcaBackupError);
    expect(error.message).toMatch(/Step Functions failed while starting configuration-change-20261130T1525Z of .*:stateMachine:missing: StateMachineDoesNotExist/);

    server.failNext(10);
    const throttled = createHandler({ now: () => new Date('2026-11-30T16:00:00Z'), env: env(), log: silentLogger });
    await expect(throttled(parameterChange('/neuroca/a'))).rejects.toThrow(TransientError);
    server.failNext(0);

    server.failNext(1, 400, 'AccessDeniedException');
    const denied = createHandler({ now: () => new Date('2026-11-30T16:10:00Z'), env: env(), log: silentLogger });
    await expect(denied(parameterChange('/neuroca/a'))).rejects.toThrow(AccessDeniedError);

    const unset = createHandler({ now: () => at, env: {}, log: silentLogger });
    await expect(unset(parameterChange('/neuroca/a'))).rejects.toThrow(/NCA_BACKUP_STATE_MACHINE_ARN is not set/);
  });
});
