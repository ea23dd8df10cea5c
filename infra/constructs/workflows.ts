/**
 * The backup, restore, restore-test (drill) and restore-all state machines, deployed from state-machines/*.asl.json as
 * they are (DefinitionBody.fromFile + definitionSubstitutions), with full logging to an encrypted log group, X-Ray,
 * and roles that hold exactly the calls the definitions make. The runtime configuration reaches every Lambda
 * task through the substitutions ControlPlaneRuntimeConfig and WorkerRuntimeConfig, in its payload's
 * `runtimeConfig`: nothing is read at cold start and no Lambda environment carries it.
 */
import * as path from 'node:path';
import { Aws, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { readFileSync } from 'node:fs';
import type { RuntimeConfig } from '../../config/runtime-config';
import { runtimeEscapedJson } from '../runtime-config';
import { REPO_ROOT, type ComponentWorker } from './workers';

export const STATE_MACHINE_DIR = path.join(REPO_ROOT, 'state-machines');
/** Days execution history logs are kept. */
export const WORKFLOW_LOG_RETENTION = logs.RetentionDays.ONE_YEAR;
/** Rule Step Functions manages to learn when a nested `startExecution.sync` execution stops. */
export const STATES_SYNC_RULE = 'StepFunctionsGetEventsForStepFunctionsExecutionRule';
/** Rule Step Functions manages to learn when a `runTask.sync` task stops. */
export const ECS_SYNC_RULE = 'StepFunctionsGetEventsForECSTaskRule';
/** Step Functions refuses a definition larger than this (after substitution). */
export const MAX_DEFINITION_BYTES = 1024 * 1024;
/**
 * What a token in a substitution is counted as when the definition's size is checked: more than any ARN or id
 * it can stand for (the longest, a task definition ARN, stays under 330 characters: a 255-character family).
 */
const TOKEN_ALLOWANCE_BYTES = 512;

export interface RestoreWorkflowsProps {
  readonly resolveRestore: lambda.IFunction;
  readonly releaseLock: lambda.IFunction;
  readonly drillPlan: lambda.IFunction;
  readonly drillReport: lambda.IFunction;
  /** The restore-all workflow's functions; without them there is no RestoreAll state machine. */
  readonly resolveSystem?: lambda.IFunction;
  readonly restoreAllReport?: lambda.IFunction;
  readonly workers: readonly ComponentWorker[];
  /**
   * The workers drills run on: each component's drill worker where it has one (workers.ts drillsOnOwnWorker),
   * else its worker.
   */
  readonly drillWorkers: readonly ComponentWorker[];
  readonly cluster: ecs.ICluster;
  readonly logKey: kms.IKey;
  /** The control plane's runtime config (with the worker references): plan, resolve-restore, release-lock. */
  readonly controlPlaneRuntimeConfig: RuntimeConfig;
  /** The control plane's runtime config for the drill workflow: its worker references are `drillWorkers`'. */
  readonly drillRuntimeConfig: RuntimeConfig;
  /** The workers' runtime config (without worker references): every worker task. */
  readonly workerRuntimeConfig: RuntimeConfig;
}

export interface WorkflowsProps extends RestoreWorkflowsProps {
  readonly plan: lambda.IFunction;
  readonly finalize: lambda.IFunction;
}

/**
 * The restore and restore-test (drill) state machines: all a vault's restore plane runs (the recovery stack
 * deploys these alone, on the recovery vault; Workflows adds the backup machine).
 */
export class RestoreWorkflows extends Construct {
  readonly restore: sfn.StateMachine;
  /** The restore drills (restore-test.asl.json), started by the drill schedule and `nca-backup drill`. */
  readonly restoreTest: sfn.StateMachine;
  /** The substitutions every definition gets: the control plane's and the workers' runtime config. */
  protected readonly runtime: Readonly<Record<'ControlPlaneRuntimeConfig' | 'WorkerRuntimeConfig', string>>;
  /** Every component of a system recovery point (restore-all.asl.json), each through the Restore state machine. */
  readonly restoreAll?: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: RestoreWorkflowsProps) {
    super(scope, id);
    const runtime = {
      ControlPlaneRuntimeConfig: runtimeEscapedJson(props.controlPlaneRuntimeConfig),
      WorkerRuntimeConfig: runtimeEscapedJson(props.workerRuntimeConfig),
    };
    this.runtime = runtime;
    this.restore = this.stateMachine('Restore', 'restore.asl.json', {
      ResolveRestoreFunctionArn: props.resolveRestore.functionArn,
      ReleaseLockFunctionArn: props.releaseLock.functionArn,
      ClusterArn: props.cluster.clusterArn,
      ...runtime,
    }, props);
    this.restoreTest = this.stateMachine('Drills', 'restore-test.asl.json', {
      DrillPlanFunctionArn: props.drillPlan.functionArn,
      DrillReportFunctionArn: props.drillReport.functionArn,
      ClusterArn: props.cluster.clusterArn,
      ControlPlaneRuntimeConfig: runtimeEscapedJson(props.drillRuntimeConfig),
      WorkerRuntimeConfig: runtime.WorkerRuntimeConfig,
    }, props);
    this.grantCalls(this.restore, [props.resolveRestore, props.releaseLock], props.workers, props);
    // Drills send no events: their outcome is the execution's status, their records and their metrics.
    this.grantCalls(this.restoreTest, [props.drillPlan, props.drillReport], props.drillWorkers, props, { publishesEvents: false });
    if (props.resolveSystem && props.restoreAllReport) {
      this.restoreAll = this.stateMachine('SystemRestore', 'restore-all.asl.json', {
        ResolveSystemFunctionArn: props.resolveSystem.functionArn,
        RestoreAllReportFunctionArn: props.restoreAllReport.functionArn,
        RestoreStateMachineArn: this.restore.stateMachineArn,
        ControlPlaneRuntimeConfig: runtime.ControlPlaneRuntimeConfig,
      }, props);
      // Its own steps run no worker and publish no event: the nested restores do both.
      this.grantCalls(this.restoreAll, [props.resolveSystem, props.restoreAllReport], [], props, { publishesEvents: false });
      this.grantNestedRestores(this.restoreAll);
    }
  }

  /**
   * startExecution.sync:2 on the Restore state machine: start it, follow and stop its executions, and the
   * managed rule through which Step Functions learns that one ended.
   */
  private grantNestedRestores(machine: sfn.StateMachine): void {
    const partition = Aws.PARTITION;
    const account = Aws.ACCOUNT_ID;
    const region = Stack.of(this).region;
    machine.addToRolePolicy(new iam.PolicyStatement({ sid: 'StartRestores', actions: ['states:StartExecution'], resources: [this.restore.stateMachineArn] }));
    machine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'FollowRestores',
        actions: ['states:DescribeExecution', 'states:StopExecution'],
        resources: [`arn:${partition}:states:${region}:${account}:execution:${this.restore.stateMachineName}:*`],
      }),
    );
    machine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'StatesSyncRule',
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [`arn:${partition}:events:${region}:${account}:rule/${STATES_SYNC_RULE}`],
      }),
    );
    Validations.of(machine).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:${region}:<AWS::AccountId>:execution:<${Stack.of(this).getLogicalId(this.restore.node.defaultChild as sfn.CfnStateMachine)}.Name>:*]`,
      reason: 'Execution names are chosen by Step Functions at run time; the statement is limited to executions of the Restore state machine (DescribeExecution/StopExecution for startExecution.sync).',
    });
  }

  protected stateMachine(id: string, file: string, substitutions: Record<string, string>, props: RestoreWorkflowsProps): sfn.StateMachine {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: WORKFLOW_LOG_RETENTION,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const definitionFile = path.join(STATE_MACHINE_DIR, file);
    const bytes = definitionBytes(readFileSync(definitionFile, 'utf8'), substitutions);
    if (bytes > MAX_DEFINITION_BYTES) {
      throw new Error(
        `${file} would be about ${Math.ceil(bytes / 1024)} KiB once its runtime configuration is substituted; Step Functions accepts at most ${MAX_DEFINITION_BYTES / 1024} KiB. Shorten the longest lists under backup.sources (key_patterns, collections).`,
      );
    }
    const machine = new sfn.StateMachine(this, id, {
      definitionBody: sfn.DefinitionBody.fromFile(definitionFile),
      definitionSubstitutions: substitutions,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    Validations.of(machine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only the CloudWatch Logs delivery actions (logs:CreateLogDelivery, …) and X-Ray PutTraceSegments/PutTelemetryRecords/GetSamplingRules/GetSamplingTargets, which support no resource-level permissions.',
    });
    return machine;
  }

  /**
   * lambda:InvokeFunction, ecs:RunTask(.sync), iam:PassRole and events:PutEvents: what the definitions call.
   * `workers`: those the machine runs steps on; `publishesEvents` @default true.
   */
  protected grantCalls(
    machine: sfn.StateMachine,
    control: lambda.IFunction[],
    workers: readonly ComponentWorker[],
    props: RestoreWorkflowsProps,
    { publishesEvents = true } = {},
  ): void {
    // Partition and account as tokens: the stacks are account-agnostic.
    const partition = Aws.PARTITION;
    const account = Aws.ACCOUNT_ID;
    const region = Stack.of(this).region;
    const functions = [...control, ...workers.map((w) => w.function)];
    machine.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'InvokeFunctions', actions: ['lambda:InvokeFunction'], resources: functions.map((f) => f.functionArn) }),
    );
    if (workers.length > 0) {
      machine.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'RunWorkerTasks',
          actions: ['ecs:RunTask'],
          resources: workers.map((w) => w.taskDefinition.taskDefinitionArn),
          conditions: { ArnEquals: { 'ecs:cluster': props.cluster.clusterArn } },
        }),
      );
      const tasks = `arn:${partition}:ecs:${region}:${account}:task/${props.cluster.clusterName}/*`;
      machine.addToRolePolicy(
        new iam.PolicyStatement({ sid: 'WatchWorkerTasks', actions: ['ecs:StopTask', 'ecs:DescribeTasks'], resources: [tasks] }),
      );
      machine.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'PassWorkerRoles',
          actions: ['iam:PassRole'],
          resources: workers.flatMap((w) => [w.taskDefinition.taskRole.roleArn, w.taskDefinition.obtainExecutionRole().roleArn]),
          conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
        }),
      );
      machine.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'EcsSyncRule',
          actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
          resources: [`arn:${partition}:events:${region}:${account}:rule/${ECS_SYNC_RULE}`],
        }),
      );
      Validations.of(machine).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:${region}:<AWS::AccountId>:task/<${Stack.of(this).getLogicalId(props.cluster.node.defaultChild as ecs.CfnCluster)}>/*]`,
        reason: 'Task ids are assigned by ECS at run time; the statement is limited to tasks of the workers\' own cluster (ecs:StopTask/DescribeTasks for runTask.sync).',
      });
    }
    if (!publishesEvents) return;
    machine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PublishEvents',
        actions: ['events:PutEvents'],
        resources: [`arn:${partition}:events:${region}:${account}:event-bus/default`],
      }),
    );
  }
}

/** The backup, restore and restore-test state machines of a primary deployment. */
export class Workflows extends RestoreWorkflows {
  readonly backup: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: WorkflowsProps) {
    super(scope, id, props);
    this.backup = this.stateMachine('Backup', 'backup.asl.json', {
      PlanFunctionArn: props.plan.functionArn,
      FinalizeFunctionArn: props.finalize.functionArn,
      ClusterArn: props.cluster.clusterArn,
      ...this.runtime,
    }, props);
    this.grantCalls(this.backup, [props.plan, props.finalize], props.workers, props);
  }
}

/**
 * The size of a definition once CloudFormation has substituted it, counting each token in a substitution as
 * TOKEN_ALLOWANCE_BYTES (its resolved length is unknown at synth; ARNs and ids are far shorter).
 */
export function definitionBytes(definition: string, substitutions: Record<string, string>): number {
  const length = (value: string) => {
    const tokens = (value.match(/\$\{Token\[[^\]]*\]\}/g) ?? []).length;
    const literal = value.replace(/\$\{Token\[[^\]]*\]\}/g, '');
    return Buffer.byteLength(literal, 'utf8') + tokens * TOKEN_ALLOWANCE_BYTES;
  };
  let bytes = Buffer.byteLength(definition, 'utf8');
  for (const [name, value] of Object.entries(substitutions)) {
    const uses = definition.split(`\${${name}}`).length - 1;
    bytes += uses * (length(value) - Buffer.byteLength(`\${${name}}`, 'utf8'));
  }
  return bytes;
}
