/**
 * A local stand-in for AWS Step Functions, speaking its JSON 1.0 protocol over HTTP (POST /, header
 * X-Amz-Target: AWSStepFunctions.<Operation>, errors as {"__type", "message"}), for `@aws-sdk/client-sfn`
 * pointed at it with `endpoint`. Shapes and error names follow the Step Functions API reference:
 *
 * - StartExecution: the state machine must be registered (StateMachineDoesNotExist; a malformed ARN is
 *   InvalidArn); `name` 1 to 80 characters without whitespace, brackets, wildcards, the special characters
 *   " # % \ ^ | ~ ` $ & , ; : / or control characters (InvalidName; default: a random UUID); `input` a JSON
 *   text of at most 256 KiB (InvalidExecutionInput; default "{}"). Names are unique per state machine, as
 *   for a STANDARD workflow: the same name and the same input as a RUNNING execution answer that execution's
 *   ARN and start date again (idempotent); a different input, or any input once the execution has closed,
 *   is ExecutionAlreadyExists. Answers { executionArn, startDate } (epoch seconds).
 * - DescribeExecution (ExecutionDoesNotExist): status RUNNING, SUCCEEDED or FAILED, input, output, error, cause.
 * - Each started execution runs the `run` function registered for its state machine (a test binds the
 *   real ASL through scripts/local-workflows.ts); `executions` records every execution with a `done`
 *   promise of its result.
 *
 * Limits of the substitute: signatures are not verified (`calls` records whether a request was SigV4-signed
 * for `states`), no IAM, no EXPRESS workflows, no execution history, tags, redrive, StopExecution, listings
 * or the 90-day expiry of names; executions live in memory and are lost when it stops; only the operations
 * listed exist. Faults: `failNext(n, status, type)` answers the next n calls with that error (default 400
 * ThrottlingException, which the SDK's standard retry retries).
 */
import { randomUUID } from 'node:crypto';
import { ACCOUNT, AwsJsonError, REGION, epochSeconds, requiredString, startJsonService, type JsonService } from './aws-json-service';

export interface ExecutionOutcome {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
}

/** What runs an execution: its parsed input and its name, as the state machine's context would give them. */
export type ExecutionRunner = (input: unknown, name: string) => Promise<ExecutionOutcome>;

export interface RecordedExecution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  /** The input exactly as StartExecution sent it. */
  readonly input: string;
  readonly startDate: number;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  outcome?: ExecutionOutcome;
  /** Settles when the execution closes (never rejects: a thrown runner is a FAILED execution). */
  readonly done: Promise<ExecutionOutcome>;
}

export interface StepFunctionsServer extends JsonService {
  readonly executions: RecordedExecution[];
  /** Registers a state machine; returns its ARN. */
  addStateMachine(name: string, run: ExecutionRunner): string;
}

const MAX_INPUT_BYTES = 256 * 1024;
const STATE_MACHINE_ARN = /^arn:aws:states:[a-z0-9-]+:\d{12}:stateMachine:([A-Za-z0-9_-]{1,80})$/;
// Step Functions' own list of what a name may not contain.
const FORBIDDEN_IN_NAME = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/u;

export async function startStepFunctionsServer(): Promise<StepFunctionsServer> {
  const machines = new Map<string, ExecutionRunner>();
  const executions: RecordedExecution[] = [];

  function start(input: Record<string, unknown>) {
    const stateMachineArn = requiredString(input, 'stateMachineArn', 'InvalidArn');
    const arn = STATE_MACHINE_ARN.exec(stateMachineArn);
    if (!arn) throw new AwsJsonError('InvalidArn', `Invalid Arn: 'Resource type not valid in this context: ${stateMachineArn}'`);
    const run = machines.get(stateMachineArn);
    if (!run) throw new AwsJsonError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
    const name = input.name === undefined ? randomUUID() : String(input.name);
    if (name.length < 1 || name.length > 80 || FORBIDDEN_IN_NAME.test(name)) throw new AwsJsonError('InvalidName', `Invalid Name: '${name}'`);
    const text = input.input === undefined ? '{}' : String(input.input);
    let parsed: unknown;
    try {
      if (Buffer.byteLength(text, 'utf8') > MAX_INPUT_BYTES) throw new Error('too large');
      parsed = JSON.parse(text);
    } catch {
      throw new AwsJsonError('InvalidExecutionInput', `Invalid State Machine Execution Input: 'not a JSON text of at most ${MAX_INPUT_BYTES} bytes'`);
    }
    const existing = executions.find((e) => e.stateMachineArn === stateMachineArn && e.name === name);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.input === text) return { executionArn: existing.executionArn, startDate: existing.startDate };
      throw new AwsJsonError('ExecutionAlreadyExists', `Execution Already Exists: '${existing.executionArn}'`);
    }
    const executionArn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:${arn[1]}:${name}`;
    const settle = async (): Promise<ExecutionOutcome> => {
      try {
        return await run(parsed, name);
      } catch (error) {
        return { status: 'FAILED', error: (error as Error).name, cause: (error as Error).message };
      }
    };
    const record: RecordedExecution = {
      executionArn,
      stateMachineArn,
      name,
      input: text,
      startDate: epochSeconds(),
      status: 'RUNNING',
      // Started after the answer is built: StartExecution returns before the execution runs.
      done: new Promise<ExecutionOutcome>((resolve) => setImmediate(() => resolve(settle()))).then((outcome) => {
        record.status = outcome.status;
        record.outcome = outcome;
        return outcome;
      }),
    };
    executions.push(record);
    return { executionArn, startDate: record.startDate };
  }

  function describe(input: Record<string, unknown>) {
    const executionArn = requiredString(input, 'executionArn', 'InvalidArn');
    const found = executions.find((e) => e.executionArn === executionArn);
    if (!found) throw new AwsJsonError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    const outcome = found.outcome;
    return {
      executionArn,
      stateMachineArn: found.stateMachineArn,
      name: found.name,
      status: found.status,
      startDate: found.startDate,
      input: found.input,
      ...(outcome?.output !== undefined ? { output: JSON.stringify(outcome.output) } : {}),
      ...(outcome?.error !== undefined ? { error: outcome.error, cause: outcome.cause } : {}),
    };
  }

  const service = await startJsonService({
    targetPrefix: 'AWSStepFunctions',
    signingName: 'states',
    jsonVersion: '1.0',
    messageMember: 'message',
    operations: { StartExecution: start, DescribeExecution: describe },
    nameOf: (input) => (typeof input.name === 'string' ? input.name : typeof input.executionArn === 'string' ? input.executionArn : undefined),
  });
  return {
    ...service,
    executions,
    addStateMachine(name, run) {
      const arn = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;
      machines.set(arn, run);
      return arn;
    },
  };
}
