/**
 * Runs the state machine files as they are (aws-local-stepfunctions), with each Task bound to the real
 * handler code: Lambda tasks call functions/handlers/* (or their deployed bundles) with the payload the ASL
 * builds, runtime config included (substituted as the stack does), Fargate tasks run the real CLI in a child
 * process with the command the ASL builds and the task definition's NCA_RUNTIME_CONFIG, and EventBridge tasks are recorded for
 * assertions. Logs are silent by default (NCA_LOG_LEVEL=silent): a failing run shows its error and cause,
 * and the Fargate tasks' stderr is kept in `fargateRuns`.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { StateMachine } from 'aws-local-stepfunctions';
import type { RuntimeConfig, WorkerRef } from '../functions/core/runtime-config';
import { runtimeEscapedJson } from '../infra/runtime-config';
import type { EventEntry } from '../functions/core/events';
import { handler as planHandler } from '../functions/handlers/plan';
import { handler as finalizeHandler } from '../functions/handlers/finalize';
import { handler as resolveHandler } from '../functions/handlers/resolve-restore';
import { handler as workerHandler } from '../functions/handlers/worker';
import { handler as releaseLockHandler } from '../functions/handlers/release-lock';
import { handler as drillPlanHandler } from '../functions/handlers/drill-plan';
import { handler as drillReportHandler } from '../functions/handlers/drill-report';
import { handler as resolveSystemHandler } from '../functions/handlers/resolve-system';
import { handler as restoreAllReportHandler } from '../functions/handlers/restore-all-report';

const ROOT = join(__dirname, '..');
const ACCOUNT = 'arn:aws:lambda:us-west-2:123456789012:function';
export const FUNCTIONS = {
  plan: `${ACCOUNT}:nca-plan`,
  finalize: `${ACCOUNT}:nca-finalize`,
  resolve: `${ACCOUNT}:nca-resolve-restore`,
  releaseLock: `${ACCOUNT}:nca-release-lock`,
  drillPlan: `${ACCOUNT}:nca-drill-plan`,
  drillReport: `${ACCOUNT}:nca-drill-report`,
  resolveSystem: `${ACCOUNT}:nca-resolve-system`,
  restoreAllReport: `${ACCOUNT}:nca-restore-all-report`,
  worker: (component: string) => `${ACCOUNT}:nca-worker-${component}`,
};
const STATE_MACHINE = 'arn:aws:states:us-west-2:123456789012:stateMachine';
/** The state machines a definition may start as nested executions, by the ARN the stack substitutes. */
export const STATE_MACHINES: Readonly<Record<string, WorkflowName>> = { [`${STATE_MACHINE}:nca-restore`]: 'restore' };

/** The worker reference a stack hands the control plane, for a component run locally. */
export function localWorker(component: string): WorkerRef {
  return {
    functionName: FUNCTIONS.worker(component),
    taskDefinitionArn: `arn:aws:ecs:us-west-2:123456789012:task-definition/nca-worker-${component}:1`,
    containerName: 'worker',
    subnets: ['subnet-0a1b2c3d'],
    securityGroups: ['sg-0a1b2c3d'],
  };
}

/** The workers' runtime config: the control plane's without the worker references, as the stack builds it. */
export function workerRuntimeConfig(config: RuntimeConfig): RuntimeConfig {
  const components = Object.fromEntries(Object.entries(config.components).map(([name, c]) => [name, { group: c!.group, source: c!.source }]));
  return { ...config, components: components as RuntimeConfig['components'] };
}

/** The substitutions the stack gives the definitions (infra/constructs/workflows.ts), for a local deployment of `config`. */
export function localSubstitutions(config: RuntimeConfig): Record<string, string> {
  return {
    PlanFunctionArn: FUNCTIONS.plan,
    FinalizeFunctionArn: FUNCTIONS.finalize,
    ResolveRestoreFunctionArn: FUNCTIONS.resolve,
    ReleaseLockFunctionArn: FUNCTIONS.releaseLock,
    DrillPlanFunctionArn: FUNCTIONS.drillPlan,
    DrillReportFunctionArn: FUNCTIONS.drillReport,
    ResolveSystemFunctionArn: FUNCTIONS.resolveSystem,
    RestoreAllReportFunctionArn: FUNCTIONS.restoreAllReport,
    RestoreStateMachineArn: `${STATE_MACHINE}:nca-restore`,
    ClusterArn: 'arn:aws:ecs:us-west-2:123456789012:cluster/nca-backup',
    ControlPlaneRuntimeConfig: runtimeEscapedJson(config),
    WorkerRuntimeConfig: runtimeEscapedJson(workerRuntimeConfig(config)),
  };
}

/** The definition as CDK deploys it: the file with its ${...} substitutions filled in. */
export type WorkflowName = 'backup' | 'restore' | 'restore-test' | 'restore-all';

export function loadDefinition(name: WorkflowName, substitutions: Record<string, string>): Record<string, unknown> {
  const text = readFileSync(join(ROOT, 'state-machines', `${name}.asl.json`), 'utf8');
  const filled = text.replace(/\$\{(\w+)\}/g, (whole, key: string) => substitutions[key] ?? whole);
  const leftover = filled.match(/\$\{\w+\}/);
  if (leftover) throw new Error(`${name}.asl.json uses substitution ${leftover[0]} that the stack does not provide`);
  return JSON.parse(filled) as Record<string, unknown>;
}

export interface WorkflowResult {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: any;
  readonly error?: string;
  readonly cause?: string;
  /** The states the execution entered, in order (a Map's or Parallel's inner states once per iteration). */
  readonly states: readonly string[];
}

export interface HarnessCall {
  readonly state: string;
  readonly payload: any;
}

/** A nested execution a definition started (states:startExecution.sync:2): its workflow, input and result. */
export interface NestedRun {
  readonly workflow: WorkflowName;
  readonly input: unknown;
  readonly result: WorkflowResult;
}

export interface WorkflowHarness {
  readonly events: EventEntry[];
  readonly nested: NestedRun[];
  readonly calls: HarnessCall[];
  readonly fargateRuns: any[];
  run(name: WorkflowName, input: unknown, executionName?: string): Promise<WorkflowResult>;
}

type Handler = (event: any, context?: any) => Promise<unknown>;

/** The code the Tasks run: the TypeScript sources by default, or the bundles deploy builds (test/support/bundle.ts). */
export interface HarnessCode {
  readonly plan: Handler;
  readonly finalize: Handler;
  readonly resolve: Handler;
  readonly releaseLock: Handler;
  /** The drill workflow's; the sources' when a bundle set leaves them out. */
  readonly drillPlan?: Handler;
  readonly drillReport?: Handler;
  /** The restore-all workflow's; the sources' when a bundle set leaves them out. */
  readonly resolveSystem?: Handler;
  readonly restoreAllReport?: Handler;
  readonly worker: Handler;
  /** The Fargate task's entry: node + these arguments, then the ASL's command (["run-step", json]). */
  readonly cliArgs: readonly string[];
}

export interface HarnessOptions {
  readonly code?: HarnessCode;
  /** NCA_LOG_LEVEL of the handlers and tasks: silent unless asked (the demo asks for warn). */
  readonly logLevel?: 'info' | 'warn' | 'silent';
  /** Replaces a Task's handler: fault injection around the real one, e.g. a task that fails to start. */
  readonly intercept?: Record<string, (params: any, real: (params: any) => Promise<any>) => Promise<any>>;
  /**
   * Gives each worker invocation a Lambda context whose getRemainingTimeInMillis counts down from this
   * (the function's timeout), as AWS does; without it the worker gets no context and has no deadline.
   */
  readonly lambdaTimeoutMs?: number;
}

const SOURCE_CODE: HarnessCode = {
  plan: planHandler,
  finalize: finalizeHandler,
  resolve: resolveHandler,
  releaseLock: releaseLockHandler,
  worker: workerHandler,
  cliArgs: [join(ROOT, 'bin', 'nca-backup.js')],
};

/** Lambda reports a thrown error as errorType + a JSON cause; reproduce that so the ASL sees what AWS gives it. */
function asLambda(fn: (event: any) => Promise<unknown>) {
  return async (event: any) => {
    try {
      return await fn(event);
    } catch (error) {
      const err = error as Error;
      const wrapped = new Error(JSON.stringify({ errorType: err.name, errorMessage: err.message, trace: [] }));
      wrapped.name = err.name;
      throw wrapped;
    }
  };
}

export function workflowHarness(config: RuntimeConfig, baseEnv: Record<string, string>, options: HarnessOptions = {}): WorkflowHarness {
  const code = options.code ?? SOURCE_CODE;
  const env = { NCA_LOG_LEVEL: options.logLevel ?? 'silent', ...baseEnv };
  const events: EventEntry[] = [];
  const calls: HarnessCall[] = [];
  const fargateRuns: any[] = [];
  const lambdas: Record<string, (event: any) => Promise<unknown>> = {
    [FUNCTIONS.plan]: asLambda(code.plan),
    [FUNCTIONS.finalize]: asLambda(code.finalize),
    [FUNCTIONS.resolve]: asLambda(code.resolve),
    [FUNCTIONS.releaseLock]: asLambda(code.releaseLock),
    [FUNCTIONS.drillPlan]: asLambda(code.drillPlan ?? drillPlanHandler),
    [FUNCTIONS.drillReport]: asLambda(code.drillReport ?? drillReportHandler),
    [FUNCTIONS.resolveSystem]: asLambda(code.resolveSystem ?? resolveSystemHandler),
    [FUNCTIONS.restoreAllReport]: asLambda(code.restoreAllReport ?? restoreAllReportHandler),
  };
  for (const [component, runtime] of Object.entries(config.components)) {
    lambdas[runtime!.worker!.functionName] = asLambda(async (event) => {
      // Each worker sees only its own component, as NCA_COMPONENT does in the deployed function.
      const previous = process.env.NCA_COMPONENT;
      process.env.NCA_COMPONENT = component;
      try {
        const deadline = Date.now() + (options.lambdaTimeoutMs ?? 0);
        const context = options.lambdaTimeoutMs === undefined ? undefined : { getRemainingTimeInMillis: () => deadline - Date.now() };
        return await code.worker(event, context);
      } finally {
        if (previous === undefined) delete process.env.NCA_COMPONENT;
        else process.env.NCA_COMPONENT = previous;
      }
    });
  }

  const invokeLambda = (state: string) => async (params: any) => {
    calls.push({ state, payload: params.Payload });
    const fn = lambdas[params.FunctionName];
    if (!fn) throw Object.assign(new Error(`no function ${params.FunctionName}`), { name: 'Lambda.ResourceNotFoundException' });
    return { Payload: await fn(params.Payload), StatusCode: 200 };
  };

  const runFargateTask = (state: string) => async (params: any) => {
    const command: string[] = params.Overrides.ContainerOverrides[0].Command;
    const run: any = { state, taskDefinition: params.TaskDefinition, command, subnets: params.NetworkConfiguration.AwsvpcConfiguration.Subnets };
    fargateRuns.push(run);
    try {
      const { stderr } = await promisify(execFile)(process.execPath, [...code.cliArgs, ...command], {
        cwd: ROOT,
        // The task definition's environment: the workers' runtime config and the component.
        env: { ...process.env, ...env, NCA_RUNTIME_CONFIG: JSON.stringify(workerRuntimeConfig(config)), NCA_COMPONENT: JSON.parse(command[1] ?? '{}').component ?? '' },
        maxBuffer: 16 * 1024 * 1024,
      });
      run.exitCode = 0;
      run.stderr = stderr;
    } catch (error) {
      const failed = error as { code?: number; stderr?: string };
      run.exitCode = failed.code;
      run.stderr = failed.stderr;
      // ECS .sync reports a container that exited non-zero as States.TaskFailed, the stopped task's description as the cause.
      const task = { StopCode: 'EssentialContainerExited', StoppedReason: 'Essential container in task exited', Containers: [{ Name: 'worker', ExitCode: failed.code ?? 1 }] };
      throw Object.assign(new Error(JSON.stringify(task)), { name: 'States.TaskFailed' });
    }
    return { StopCode: 'EssentialContainerExited', Containers: [{ ExitCode: 0 }] };
  };

  const recordEvents = async (params: any) => {
    events.push(...params.Entries);
    return { FailedEntryCount: 0, Entries: params.Entries.map(() => ({ EventId: 'local' })) };
  };

  const nested: NestedRun[] = [];
  /**
   * states:startExecution.sync:2 runs the named local workflow to its end and answers as Step Functions
   * does: the execution's description with Output as JSON; a failed execution fails the Task with
   * States.TaskFailed and that description (its Error and Cause) as the cause.
   */
  const startNestedExecution = async (params: any) => {
    const workflow = STATE_MACHINES[params.StateMachineArn];
    if (!workflow) throw Object.assign(new Error(`State Machine Does Not Exist: '${params.StateMachineArn}'`), { name: 'StepFunctions.StateMachineDoesNotExistException' });
    const name = params.Name ?? `nested-${Date.now()}-${Math.random().toString(16).slice(2, 8)}`;
    const startDate = Date.now();
    const result = await run(workflow, params.Input, name);
    nested.push({ workflow, input: params.Input, result });
    const description = {
      ExecutionArn: `arn:aws:states:us-west-2:123456789012:execution:${workflow}:${name}`,
      StateMachineArn: params.StateMachineArn,
      Name: name,
      Status: result.status,
      StartDate: startDate,
      StopDate: Date.now(),
      Input: JSON.stringify(params.Input),
    };
    if (result.status === 'SUCCEEDED') return { ...description, Output: result.output };
    throw Object.assign(new Error(JSON.stringify({ ...description, Error: result.error, Cause: result.cause })), { name: 'States.TaskFailed' });
  };

  const retryIntervals: Record<string, number> = {};
  const waitTimes: Record<string, number> = {};
  const handlersFor = (definition: any): Record<string, (input: any) => Promise<any>> => {
    const out: Record<string, (input: any) => Promise<any>> = {};
    const visit = (states: Record<string, any>) => {
      for (const [name, state] of Object.entries(states)) {
        // Retries keep their attempts but not their waits; Wait states do not wait.
        if (state.Retry) retryIntervals[name] = 0;
        if (state.Type === 'Wait') waitTimes[name] = 0;
        if (state.Type === 'Map') visit((state.ItemProcessor ?? state.Iterator).States);
        if (state.Type === 'Parallel') for (const branch of state.Branches) visit(branch.States);
        if (state.Type !== 'Task') continue;
        let real: (params: any) => Promise<any>;
        if (state.Resource === 'arn:aws:states:::lambda:invoke') real = invokeLambda(name);
        else if (state.Resource === 'arn:aws:states:::ecs:runTask.sync') real = runFargateTask(name);
        else if (state.Resource === 'arn:aws:states:::events:putEvents') real = recordEvents;
        else if (state.Resource === 'arn:aws:states:::states:startExecution.sync:2') real = startNestedExecution;
        else throw new Error(`the harness cannot run Task ${name} (${state.Resource})`);
        const intercept = options.intercept?.[name];
        out[name] = intercept ? (params) => intercept(params, real) : real;
      }
    };
    visit(definition.States);
    return out;
  };

  async function run(name: WorkflowName, input: unknown, executionName = `test-${Date.now()}-${Math.random().toString(16).slice(2, 8)}`): Promise<WorkflowResult> {
    // No NCA_RUNTIME_CONFIG here: as deployed, the Lambda handlers get their runtime config in the payload.
    Object.assign(process.env, env);
    const definition = loadDefinition(name, localSubstitutions(config));
    const machine = new StateMachine(definition as any);
    const execution = machine.run(input as any, {
      overrides: { taskResourceLocalHandlers: handlersFor(definition), retryIntervalOverrides: retryIntervals, waitTimeOverrides: waitTimes },
      context: { Execution: { Id: `arn:aws:states:us-west-2:123456789012:execution:${name}:${executionName}`, Name: executionName, StartTime: new Date().toISOString(), Input: input } } as any,
    });
    const states: string[] = [];
    // The event log ends with the execution, succeeded or failed.
    const logged = (async () => {
      for await (const event of execution.eventLogs) if (event.type === 'StateEntered') states.push(event.state.name);
    })();
    try {
      const output = await execution.result;
      await logged;
      return { status: 'SUCCEEDED', output, states };
    } catch (error) {
      await logged;
      const failure = (error as { cause?: { name?: string; message?: string } }).cause;
      return { status: 'FAILED', error: failure?.name, cause: failure?.message, states };
    }
  }

  return { events, calls, fargateRuns, nested, run };
}
