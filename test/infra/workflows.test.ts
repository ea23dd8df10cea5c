/** The state machines deployed from the ASL files, their roles, logging/tracing, and the alarms on them. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Template } from 'aws-cdk-lib/assertions';
import { buildStacks } from '../../infra/app';
import { configWith, fixtureConfig, logicalId, render, runtimeConfigOf, statementsOfRole, synthTemplates } from './fixture-config';

const ASL_DIR = path.join(__dirname, '..', '..', 'state-machines');

function machine(template: Template, name: 'Backup' | 'Restore'): { id: string; props: any } {
  const id = logicalId(template, 'AWS::StepFunctions::StateMachine', `Workflows${name}`);
  return { id, props: template.toJSON().Resources[id].Properties };
}

/** Applies DefinitionSubstitutions the way CloudFormation does: every `${Name}` must have a value. */
function substitute(definition: string, substitutions: Record<string, unknown>): string {
  return definition.replace(/\$\{([A-Za-z0-9_]+)\}/g, (whole, name: string) => {
    if (!(name in substitutions)) throw new Error(`no substitution for ${whole}`);
    return render(substitutions[name]);
  });
}

describe('workflows', () => {
  const { primary } = synthTemplates(fixtureConfig());
  const backup = machine(primary, 'Backup');
  const restore = machine(primary, 'Restore');
  const fnArn = (fragment: string) => ({ 'Fn::GetAtt': [logicalId(primary, 'AWS::Lambda::Function', fragment), 'Arn'] });
  const cluster = logicalId(primary, 'AWS::ECS::Cluster', 'Cluster');

  test('the ASL files are deployed as they are (an S3 asset of the file), every placeholder substituted', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'nca-asl-'));
    try {
      const { app, primary: stack } = buildStacks(fixtureConfig(), { bundling: false, outdir });
      const assembly = app.synth();
      const assets = JSON.parse(readFileSync(path.join(assembly.directory, `${stack.artifactId}.assets.json`), 'utf8')).files;
      for (const [m, file] of [[backup, 'backup.asl.json'], [restore, 'restore.asl.json']] as const) {
        const asl = readFileSync(path.join(ASL_DIR, file), 'utf8');
        const hash = render(m.props.DefinitionS3Location.Key).replace(/\.json$/, '');
        expect(readFileSync(path.join(assembly.directory, assets[hash].source.path), 'utf8')).toBe(asl);
        const deployed = substitute(asl, m.props.DefinitionSubstitutions);
        expect(deployed).not.toContain('${');
        expect(() => JSON.parse(deployed)).not.toThrow();
      }
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
    const runtime = { ControlPlaneRuntimeConfig: expect.anything(), WorkerRuntimeConfig: expect.anything() };
    expect(backup.props.DefinitionSubstitutions).toEqual({
      PlanFunctionArn: fnArn('ControlPlanePlan'),
      FinalizeFunctionArn: fnArn('ControlPlaneFinalize'),
      ClusterArn: { 'Fn::GetAtt': [cluster, 'Arn'] },
      ...runtime,
    });
    expect(restore.props.DefinitionSubstitutions).toEqual({
      ResolveRestoreFunctionArn: fnArn('ControlPlaneResolveRestore'),
      ReleaseLockFunctionArn: fnArn('ControlPlaneReleaseLock'),
      ClusterArn: { 'Fn::GetAtt': [cluster, 'Arn'] },
      ...runtime,
    });
    for (const m of [backup, restore]) {
      expect(m.props.DefinitionSubstitutions.ControlPlaneRuntimeConfig).toEqual(restore.props.DefinitionSubstitutions.ControlPlaneRuntimeConfig);
      expect(m.props.DefinitionSubstitutions.WorkerRuntimeConfig).toEqual(restore.props.DefinitionSubstitutions.WorkerRuntimeConfig);
    }
  });

  test('every Lambda task gets the runtime config in its payload: the control plane\'s with the workers, the workers\' without', () => {
    const workerFn = logicalId(primary, 'AWS::Lambda::Function', 'Workerpostgres');
    const control = runtimeConfigOf(primary, logicalId(primary, 'AWS::Lambda::Function', 'ControlPlanePlan'));
    const worker = runtimeConfigOf(primary, workerFn);
    expect(control.components.postgres.worker.functionName).toBe(`<Ref:${workerFn}>`);
    expect(worker.components.postgres).toEqual({ group: 'database', source: { database: 'neuroca_db' } });
    const byState: Record<string, string> = {};
    const visit = (states: Record<string, any>) => {
      for (const [name, state] of Object.entries(states)) {
        if (state.Type === 'Map') visit(state.ItemProcessor.States);
        if (state.Type === 'Parallel') for (const b of state.Branches) visit(b.States);
        if (state.Resource === 'arn:aws:states:::lambda:invoke') byState[name] = state.Parameters.Payload.runtimeConfig ?? 'none';
        // A Fargate step's command carries the step alone: RunTask's overrides are limited to 8 KB.
        if (state.Resource === 'arn:aws:states:::ecs:runTask.sync') expect(JSON.stringify(state.Parameters)).not.toContain('RuntimeConfig');
      }
    };
    for (const file of ['backup.asl.json', 'restore.asl.json']) visit(JSON.parse(readFileSync(path.join(ASL_DIR, file), 'utf8')).States);
    const control_ = '${ControlPlaneRuntimeConfig}';
    const worker_ = '${WorkerRuntimeConfig}';
    expect(byState).toEqual({
      Plan: control_,
      Estimate: worker_,
      BackupOnLambda: worker_,
      ReadFargateBackupResult: worker_,
      // It writes the index of a system recovery point (group all) to the vault.
      Finalize: control_,
      Resolve: control_,
      VerifyArtifactsOnLambda: worker_,
      ReadVerifyArtifactsResult: worker_,
      CheckCompatibilityOnLambda: worker_,
      ReadCheckCompatibilityResult: worker_,
      SafetyBackupOnLambda: worker_,
      ReadSafetyBackupResult: worker_,
      RestoreOnLambda: worker_,
      ReadRestoreResult: worker_,
      PostVerifyOnLambda: worker_,
      ReadPostVerifyResult: worker_,
      ReleaseLock: control_,
      ReleaseLockAfterFailure: control_,
    });
  });

  test('the restore runs VerifyArtifacts, CheckCompatibility, the safety backup, the restore and PostVerify on the runner Resolve chose', () => {
    const states = JSON.parse(readFileSync(path.join(ASL_DIR, 'restore.asl.json'), 'utf8')).States;
    for (const step of ['VerifyArtifacts', 'CheckCompatibility', 'SafetyBackup', 'Restore', 'PostVerify']) {
      const choice = states[`Choose${step}Runner`];
      expect({ step, choice }).toEqual({
        step,
        choice: expect.objectContaining({ Type: 'Choice', Choices: [{ Variable: '$.runner', StringEquals: 'fargate', Next: `PrepareFargate${step}` }], Default: `${step}OnLambda` }),
      });
      expect(states[`PrepareFargate${step}`].Next).toBe(`${step}OnFargate`);
      const fargate = states[`${step}OnFargate`];
      expect(fargate.Branches[0].States[`Run${step}Task`].Resource).toBe('arn:aws:states:::ecs:runTask.sync');
      // Both runners leave the same result at the same path, and a failure on either releases the lock.
      expect(fargate.ResultPath).toBe(states[`${step}OnLambda`].ResultPath);
      expect(Object.keys(fargate.ResultSelector)).toEqual(Object.keys(states[`${step}OnLambda`].ResultSelector));
      expect(fargate.Next).toBe(states[`${step}OnLambda`].Next);
      for (const s of [fargate, states[`${step}OnLambda`]]) expect(s.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'ReleaseLockAfterFailure' }]);
    }
    // Only Resolve and the lock's release run outside the worker steps; nothing reaches the worker function but through a runner choice.
    const lambdaWorkerSteps = Object.entries(states).filter(([, s]: [string, any]) => s.Parameters?.['FunctionName.$'] === '$.worker.functionName').map(([name]) => name);
    expect(lambdaWorkerSteps.sort()).toEqual(['CheckCompatibilityOnLambda', 'PostVerifyOnLambda', 'RestoreOnLambda', 'SafetyBackupOnLambda', 'VerifyArtifactsOnLambda']);
  });

  test('full execution logging to an encrypted log group, and X-Ray tracing', () => {
    for (const m of [backup, restore]) {
      expect(m.props.TracingConfiguration).toEqual({ Enabled: true });
      expect(m.props.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: true });
      const logGroupId = m.props.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
      const logGroup = primary.toJSON().Resources[logGroupId].Properties;
      expect(logGroup.KmsKeyId).toEqual({ 'Fn::GetAtt': [logicalId(primary, 'AWS::KMS::Key', 'OperationsKey'), 'Arn'] });
      expect(logGroup.RetentionInDays).toBe(365);
    }
  });

  test('each role may invoke its control functions and the workers, run the worker task on the cluster, pass its roles, put events', () => {
    const worker = fnArn('Workerpostgres');
    const taskDef = { Ref: logicalId(primary, 'AWS::ECS::TaskDefinition', 'Workerpostgres') };
    const expectations = [
      [backup, [fnArn('ControlPlanePlan'), fnArn('ControlPlaneFinalize'), worker]],
      [restore, [fnArn('ControlPlaneResolveRestore'), fnArn('ControlPlaneReleaseLock'), worker]],
    ] as const;
    for (const [m, functions] of expectations) {
      const statements = statementsOfRole(primary, m.props.RoleArn['Fn::GetAtt'][0]);
      const bySid = Object.fromEntries(statements.filter((s) => s.Sid).map((s) => [s.Sid, s]));
      expect(bySid.InvokeFunctions.Action).toBe('lambda:InvokeFunction');
      expect([bySid.InvokeFunctions.Resource].flat()).toEqual(expect.arrayContaining([...functions]));
      expect([bySid.InvokeFunctions.Resource].flat()).toHaveLength(functions.length);
      expect(bySid.RunWorkerTasks).toMatchObject({
        Action: 'ecs:RunTask',
        Resource: taskDef,
        Condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [cluster, 'Arn'] } } },
      });
      expect(render(bySid.WatchWorkerTasks.Resource)).toBe(`arn:<Partition>:ecs:us-west-2:<AccountId>:task/<Ref:${cluster}>/*`);
      expect([bySid.PassWorkerRoles.Resource].flat()).toEqual(
        expect.arrayContaining([
          { 'Fn::GetAtt': [logicalId(primary, 'AWS::IAM::Role', 'WorkerpostgresTaskRole'), 'Arn'] },
          { 'Fn::GetAtt': [logicalId(primary, 'AWS::IAM::Role', 'WorkerpostgresExecutionRole'), 'Arn'] },
        ]),
      );
      expect(render(bySid.EcsSyncRule.Resource)).toBe('arn:<Partition>:events:us-west-2:<AccountId>:rule/StepFunctionsGetEventsForECSTaskRule');
      expect(render(bySid.PublishEvents.Resource)).toBe('arn:<Partition>:events:us-west-2:<AccountId>:event-bus/default');
      // No Lambda function outside the listed ones, no other ECS permission.
      const actions = statements.flatMap((s) => [s.Action].flat());
      expect(actions.filter((a: string) => a.startsWith('ecs:')).sort()).toEqual(['ecs:DescribeTasks', 'ecs:RunTask', 'ecs:StopTask']);
    }
  });

  test('an alarm on failed executions of each state machine notifies the encrypted alarm topic', () => {
    const topic = logicalId(primary, 'AWS::SNS::Topic', 'Alarms');
    for (const m of [backup, restore]) {
      const alarms = (Object.values(primary.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'ExecutionsFailed' } })) as any[]).filter(
        (a) => JSON.stringify(a.Properties.Dimensions) === JSON.stringify([{ Name: 'StateMachineArn', Value: { Ref: m.id } }]),
      );
      expect(alarms).toHaveLength(1);
      expect(alarms[0].Properties).toMatchObject({ Namespace: 'AWS/States', Threshold: 1, AlarmActions: [{ Ref: topic }] });
    }
    primary.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [logicalId(primary, 'AWS::KMS::Key', 'OperationsKey'), 'Arn'] } });
    const topicPolicy = (Object.values(primary.findResources('AWS::SNS::TopicPolicy'))[0] as any).Properties.PolicyDocument.Statement;
    expect(topicPolicy).toContainEqual(expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
    expect(topicPolicy).toContainEqual(expect.objectContaining({ Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish' }));
    primary.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  test('notification e-mails subscribe to the topic; a configured topic ARN is used instead of creating one', () => {
    const withEmails = synthTemplates(configWith((c) => (c.notifications = { emails: ['oncall@example.com', 'dba@example.com'] }))).primary;
    for (const email of ['oncall@example.com', 'dba@example.com']) {
      withEmails.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: email });
    }
    const topicArn = 'arn:aws:sns:us-west-2:123456789012:ops-alerts';
    const imported = synthTemplates(configWith((c) => (c.notifications = { emails: [], snsTopicArn: topicArn }))).primary;
    imported.resourceCountIs('AWS::SNS::Topic', 0);
    const alarms = Object.values(imported.findResources('AWS::CloudWatch::Alarm')) as any[];
    expect(alarms.length).toBeGreaterThanOrEqual(5);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([topicArn]);
  });
});
