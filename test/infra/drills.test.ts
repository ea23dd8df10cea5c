/**
 * The restore drills as deployed: the RestoreTest state machine from restore-test.asl.json, its schedule, the
 * drill-plan and drill-report functions, and least privilege for everything a drill runs as: no role a drill
 * uses may delete a backup, the drill functions write only drill records and the scorecard, and a component
 * whose worker holds grants on its sources (models, config) is drilled by a drill worker without them, so a
 * drill cannot write where a restore of it would.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { toSchedulerCron } from '../../config/cron';
import { METRICS_NAMESPACE } from '../../config/drill-metrics';
import { asArray, configWith, logicalId, render, renderedStatements, statementBySid, statementsOfRole, synthTemplates } from './fixture-config';

const ASL = readFileSync(path.join(__dirname, '..', '..', 'state-machines', 'restore-test.asl.json'), 'utf8');
const VAULT = 'arn:<Partition>:s3:::neuroca-backups';
const RECORDS = `${VAULT}/backups/reports/drills/*`;
const DRILL_CRON = '30 5 1 */3 *';

/**
 * postgres (drilled on its worker), models from S3 and the configuration (whose workers may write their
 * production locations), a drill cadence of its own, a time zone.
 */
const CONFIG = configWith((c) => {
  (c.sources as any).models = { paths: [{ kind: 's3', bucket: 'neuroca-models', prefix: 'llm/' }], include: ['**'], exclude: [] };
  c.sources.config = { parameterPaths: ['/neuroca'], secrets: ['neuroca/'], files: [{ bucket: 'neuroca-config', prefix: 'config/' }] };
  c.timeZone = 'Europe/Berlin';
  c.verification = { ...c.verification, schedule: { cron: DRILL_CRON, expression: toSchedulerCron(DRILL_CRON) } };
});

/** Applies DefinitionSubstitutions the way CloudFormation does: every `${Name}` must have a value. */
function substitute(definition: string, substitutions: Record<string, unknown>): string {
  return definition.replace(/\$\{([A-Za-z0-9_]+)\}/g, (whole, name: string) => {
    if (!(name in substitutions)) throw new Error(`no substitution for ${whole}`);
    return render(substitutions[name]);
  });
}

const actionsOf = (statement: any): string[] => asArray(statement.Action);
const allowed = (list: any[], pattern: RegExp) => list.filter((s) => s.Effect === 'Allow' && actionsOf(s).some((a) => pattern.test(a)));

describe('restore drills in the primary stack', () => {
  const { primary } = synthTemplates(CONFIG);
  const resources = primary.toJSON().Resources;
  const machineId = logicalId(primary, 'AWS::StepFunctions::StateMachine', 'WorkflowsDrills');
  const machine = resources[machineId].Properties;
  const fnId = (fragment: string) => logicalId(primary, 'AWS::Lambda::Function', fragment);
  const fnArn = (fragment: string) => ({ 'Fn::GetAtt': [fnId(fragment), 'Arn'] });
  const cluster = logicalId(primary, 'AWS::ECS::Cluster', 'Cluster');
  const drillRoles = [
    'ControlPlaneDrillPlanRole',
    'ControlPlaneDrillReportRole',
    'DrillmodelsFunctionRole',
    'DrillmodelsTaskRole',
    'DrillconfigFunctionRole',
    'DrillconfigTaskRole',
    'WorkerpostgresFunctionRole',
    'WorkerpostgresTaskRole',
  ];

  test('RestoreTest is restore-test.asl.json with every placeholder substituted: the drill functions, the cluster, both runtime configs', () => {
    expect(machine.DefinitionSubstitutions).toEqual({
      DrillPlanFunctionArn: fnArn('ControlPlaneDrillPlan'),
      DrillReportFunctionArn: fnArn('ControlPlaneDrillReport'),
      ClusterArn: { 'Fn::GetAtt': [cluster, 'Arn'] },
      ControlPlaneRuntimeConfig: expect.anything(),
      WorkerRuntimeConfig: expect.anything(),
    });
    const deployed = substitute(ASL, machine.DefinitionSubstitutions);
    expect(deployed).not.toContain('${');
    expect(JSON.parse(deployed).StartAt).toBe('Plan');
    expect(machine.TracingConfiguration).toEqual({ Enabled: true });
    expect(machine.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: true });
    const backup = resources[logicalId(primary, 'AWS::StepFunctions::StateMachine', 'WorkflowsBackup')].Properties;
    expect(machine.DefinitionSubstitutions.WorkerRuntimeConfig).toEqual(backup.DefinitionSubstitutions.WorkerRuntimeConfig);
  });

  test('Plan hands out postgres\'s worker and the models and config drill workers; the backup and restore workflows keep their workers', () => {
    const runtime = (props: any) => JSON.parse(JSON.parse(`"${render(props.DefinitionSubstitutions.ControlPlaneRuntimeConfig)}"`));
    const drill = runtime(machine).components;
    expect(drill.postgres.worker.functionName).toBe(`<Ref:${fnId('WorkerpostgresFunction')}>`);
    const restore = runtime(resources[logicalId(primary, 'AWS::StepFunctions::StateMachine', 'WorkflowsRestore')].Properties).components;
    for (const component of ['models', 'config']) {
      expect(drill[component].worker).toMatchObject({
        functionName: `<Ref:${fnId(`Drill${component}Function`)}>`,
        taskDefinitionArn: `<Ref:${logicalId(primary, 'AWS::ECS::TaskDefinition', `Drill${component}Task`)}>`,
      });
      expect(restore[component].worker.functionName).toBe(`<Ref:${fnId(`Worker${component}Function`)}>`);
    }
  });

  test('its role invokes exactly the drill functions and the workers drills run on, runs only their tasks and passes only their roles', () => {
    const statements = statementsOfRole(primary, machine.RoleArn['Fn::GetAtt'][0]);
    const bySid = Object.fromEntries(statements.filter((s) => s.Sid).map((s) => [s.Sid, s]));
    const invoked = ['ControlPlaneDrillPlan', 'ControlPlaneDrillReport', 'WorkerpostgresFunction', 'DrillmodelsFunction', 'DrillconfigFunction'].map(fnArn);
    expect(asArray(bySid.InvokeFunctions.Resource)).toEqual(expect.arrayContaining(invoked));
    expect(asArray(bySid.InvokeFunctions.Resource)).toHaveLength(invoked.length);
    const tasks = ['WorkerpostgresTask', 'DrillmodelsTask', 'DrillconfigTask'].map((f) => ({ Ref: logicalId(primary, 'AWS::ECS::TaskDefinition', f) }));
    expect(bySid.RunWorkerTasks).toMatchObject({ Action: 'ecs:RunTask', Condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [cluster, 'Arn'] } } } });
    expect(asArray(bySid.RunWorkerTasks.Resource)).toEqual(expect.arrayContaining(tasks));
    expect(asArray(bySid.RunWorkerTasks.Resource)).toHaveLength(tasks.length);
    const passed = asArray(bySid.PassWorkerRoles.Resource).map((r: any) => r['Fn::GetAtt'][0]);
    expect(passed).toHaveLength(6);
    for (const role of passed) expect(role).toMatch(/^(Workerpostgres|Drillmodels|Drillconfig)(TaskRole|ExecutionRole)/);
    expect(render(bySid.EcsSyncRule.Resource)).toBe('arn:<Partition>:events:us-west-2:<AccountId>:rule/StepFunctionsGetEventsForECSTaskRule');
    // The definition sends no events and touches no bucket itself.
    expect(bySid.PublishEvents).toBeUndefined();
    expect(statements.flatMap(actionsOf).filter((a: string) => /^(s3|events:PutEvents)/.test(a))).toEqual([]);
  });

  test('the drill schedule starts RestoreTest with {} on backup.verification.schedule in the configured time zone, retried, then to the dead-letter queue', () => {
    const schedules = (Object.values(primary.findResources('AWS::Scheduler::Schedule')) as any[]).filter((s) => s.Properties.Target.Arn.Ref === machineId);
    expect(schedules).toHaveLength(1);
    const { Properties: schedule } = schedules[0];
    expect(schedule).toMatchObject({ ScheduleExpression: CONFIG.verification.schedule.expression, ScheduleExpressionTimezone: 'Europe/Berlin', State: 'ENABLED', FlexibleTimeWindow: { Mode: 'OFF' } });
    expect(schedule.Target.Input).toBe('{}');
    expect(schedule.Target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [logicalId(primary, 'AWS::SQS::Queue', 'DeadLetterQueue'), 'Arn'] } });
    expect(schedule.Target.RetryPolicy.MaximumRetryAttempts).toBeGreaterThan(0);
    const role = schedule.Target.RoleArn['Fn::GetAtt'][0];
    const starts = statementsOfRole(primary, role).filter((s) => actionsOf(s).includes('states:StartExecution'));
    expect(starts.flatMap((s) => asArray(s.Resource))).toContainEqual({ Ref: machineId });
  });

  test('drill-report publishes metrics only in its namespace, reads and writes drill records and the scorecard, and reads manifests only', () => {
    const list = renderedStatements(primary, 'ControlPlaneDrillReportRole');
    expect(statementBySid(list, 'PublishDrillMetrics')).toMatchObject({
      Action: 'cloudwatch:PutMetricData',
      Resource: '*',
      Condition: { StringEquals: { 'cloudwatch:namespace': METRICS_NAMESPACE } },
    });
    expect(allowed(list, /^cloudwatch:/)).toHaveLength(1);
    expect(statementBySid(list, 'DrillRecords')).toMatchObject({ Action: ['s3:GetObject', 's3:PutObject'], Resource: RECORDS });
    expect(statementBySid(list, 'Scorecard')).toMatchObject({ Action: 's3:PutObject', Resource: `${VAULT}/backups/reports/scorecard.html` });
    expect(allowed(list, /^s3:PutObject$/).flatMap((s) => asArray(s.Resource)).sort()).toEqual([RECORDS, `${VAULT}/backups/reports/scorecard.html`]);
    expect(statementBySid(list, 'ReadManifests').Resource.sort()).toEqual([`${VAULT}/backups/database/postgres/*/manifest.json`, `${VAULT}/backups/models/models/*/manifest.json`, `${VAULT}/backups/config/config/*/manifest.json`].sort());
    expect(allowed(list, /^kms:(GenerateMac|\*)$/)).toEqual([]);
  });

  test('drill-plan reads manifests and writes nothing', () => {
    const list = renderedStatements(primary, 'ControlPlaneDrillPlanRole');
    expect(allowed(list, /^s3:/).flatMap(actionsOf).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    expect(statementBySid(list, 'ReadManifests').Resource.every((r: string) => r.endsWith('/*/manifest.json'))).toBe(true);
    expect(allowed(list, /^(cloudwatch|kms:GenerateMac)/)).toEqual([]);
  });

  test('the workers drills run on may write drill records; the models and config workers, which a drill never runs on, may not', () => {
    for (const role of ['WorkerpostgresFunctionRole', 'WorkerpostgresTaskRole', 'DrillmodelsFunctionRole', 'DrillmodelsTaskRole', 'DrillconfigFunctionRole', 'DrillconfigTaskRole']) {
      expect({ role, records: statementBySid(renderedStatements(primary, role), 'DrillRecords') }).toEqual({ role, records: expect.objectContaining({ Action: 's3:PutObject', Resource: RECORDS }) });
    }
    for (const role of ['WorkermodelsFunctionRole', 'WorkermodelsTaskRole', 'WorkerconfigFunctionRole', 'WorkerconfigTaskRole']) {
      expect({ role, records: renderedStatements(primary, role).filter((s) => s.Sid === 'DrillRecords') }).toEqual({ role, records: [] });
    }
  });

  test('the models drill worker cannot touch the production model locations, writes no backup or blob, and signs no manifest', () => {
    for (const role of ['DrillmodelsFunctionRole', 'DrillmodelsTaskRole']) {
      const list = renderedStatements(primary, role);
      const writes = allowed(list, /^s3:(PutObject|\*)$/).flatMap((s) => asArray(s.Resource)).sort();
      expect({ role, writes }).toEqual({
        role,
        writes: [`${VAULT}/backups/models/models/_lock.json`, `${VAULT}/backups/models/models/_steps/*`, RECORDS].sort(),
      });
      expect({ role, source: list.filter((s) => JSON.stringify(s).includes('neuroca-models')) }).toEqual({ role, source: [] });
      expect({ role, generate: allowed(list, /^kms:(GenerateMac|\*)$/) }).toEqual({ role, generate: [] });
    }
    // The worker it stands in for does write there: that is what the drill worker is kept from.
    expect(JSON.stringify(statementBySid(renderedStatements(primary, 'WorkermodelsFunctionRole'), 'ModelsRestoreWrites'))).toContain('neuroca-models/llm/*');
  });

  test('the config drill worker reaches no parameter, secret or configuration file, and cannot seal or open exports', () => {
    for (const role of ['DrillconfigFunctionRole', 'DrillconfigTaskRole']) {
      const list = renderedStatements(primary, role);
      expect({ role, source: allowed(list, /^(ssm|secretsmanager):/) }).toEqual({ role, source: [] });
      expect({ role, files: list.filter((s) => JSON.stringify(s).includes('neuroca-config')) }).toEqual({ role, files: [] });
      expect({ role, envelope: list.filter((s) => s.Sid === 'ConfigEnvelope') }).toEqual({ role, envelope: [] });
    }
    expect(statementBySid(renderedStatements(primary, 'WorkerconfigTaskRole'), 'ConfigEnvelope')).toBeDefined();
  });

  test('no role a drill runs as may delete a backup: the drill functions delete nothing, the workers only their lock, step results and scratch copies', () => {
    for (const role of drillRoles) {
      const deletes = allowed(renderedStatements(primary, role), /^s3:(Delete|\*)/);
      const resources = deletes.flatMap((s) => asArray(s.Resource));
      if (role.startsWith('ControlPlane')) expect({ role, resources }).toEqual({ role, resources: [] });
      for (const resource of resources) expect({ role, resource }).toEqual({ role, resource: expect.stringMatching(/\/(_lock\.json|_steps\/\*|_staging\/\*)$/) });
    }
  });

  test('a failed drill execution pages like a failed backup or restore', () => {
    const alarms = (Object.values(primary.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'ExecutionsFailed' } })) as any[]).filter(
      (a) => JSON.stringify(a.Properties.Dimensions) === JSON.stringify([{ Name: 'StateMachineArn', Value: { Ref: machineId } }]),
    );
    expect(alarms).toHaveLength(1);
  });

  test('the stack outputs the RestoreTest state machine\'s ARN', () => {
    primary.hasOutput('RestoreTestStateMachineArn', { Value: { Ref: machineId } });
  });
});
