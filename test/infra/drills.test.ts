/**
 * The restore drills as deployed: the RestoreTest state machine from restore-test.asl.json, its schedule, the
 * drill-plan and drill-report functions, and least privilege for everything a drill runs as: no role a drill
 * uses may delete a backup, the drill functions write only drill records and the scorecard, and a component
 * whose worker holds grants on its sources (models, config, logs) is drilled by a drill worker without them,
 * which may write only its drills' `nca-drill` sandboxes, so a drill cannot write where a restore of it would.
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
 * postgres (drilled on its worker), models from S3, the configuration and the logs (whose workers may write
 * their production locations), a drill cadence of its own, a time zone.
 */
const CONFIG = configWith((c) => {
  (c.sources as any).models = { paths: [{ kind: 's3', bucket: 'neuroca-models', prefix: 'llm/' }], include: ['**'], exclude: [] };
  c.sources.config = { parameterPaths: ['/neuroca'], secrets: ['neuroca/'], files: [{ bucket: 'neuroca-config', prefix: 'config/' }] };
  c.sources.logs = {
    logGroups: ['/neuroca/app'],
    logGroupPrefixes: [],
    metrics: [],
    settleMinutes: 60,
    lateArrivalHours: 336,
    restoreLocation: { bucket: 'neuroca-log-restores', prefix: 'restores/' },
    restoreLogGroupPrefix: '/nca-backup/restored/',
  };
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

/** Whether an IAM resource pattern (`*` any run of characters, `?` one) covers the ARN `name`, as IAM matches it. */
const covers = (pattern: string, name: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(name);

/** The actions matching `actions` a role is allowed on the ARN `name`, by IAM's wildcard matching of its statements' resources. */
const mayOn = (list: any[], actions: RegExp, name: string) =>
  allowed(list, actions)
    .filter((s) => asArray(s.Resource).some((r: string) => covers(r, name)))
    .flatMap(actionsOf)
    .filter((a) => actions.test(a))
    .sort();

/** A drill's id as drill.ts puts it in its sandboxes' names (lower-case). */
const DRILL = '20261201t000000z-ab12';
const SSM = 'arn:<Partition>:ssm:us-west-2:<AccountId>:parameter';
const SECRETS = 'arn:<Partition>:secretsmanager:us-west-2:<AccountId>:secret:';
const LOG_GROUP = 'arn:<Partition>:logs:us-west-2:<AccountId>:log-group:';

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
    'DrilllogsFunctionRole',
    'DrilllogsTaskRole',
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

  test('Plan hands out postgres\'s worker and the models, config and logs drill workers; the backup and restore workflows keep their workers', () => {
    const runtime = (props: any) => JSON.parse(JSON.parse(`"${render(props.DefinitionSubstitutions.ControlPlaneRuntimeConfig)}"`));
    const drill = runtime(machine).components;
    expect(drill.postgres.worker.functionName).toBe(`<Ref:${fnId('WorkerpostgresFunction')}>`);
    const restore = runtime(resources[logicalId(primary, 'AWS::StepFunctions::StateMachine', 'WorkflowsRestore')].Properties).components;
    for (const component of ['models', 'config', 'logs']) {
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
    const invoked = ['ControlPlaneDrillPlan', 'ControlPlaneDrillReport', 'WorkerpostgresFunction', 'DrillmodelsFunction', 'DrillconfigFunction', 'DrilllogsFunction'].map(fnArn);
    expect(asArray(bySid.InvokeFunctions.Resource)).toEqual(expect.arrayContaining(invoked));
    expect(asArray(bySid.InvokeFunctions.Resource)).toHaveLength(invoked.length);
    const tasks = ['WorkerpostgresTask', 'DrillmodelsTask', 'DrillconfigTask', 'DrilllogsTask'].map((f) => ({ Ref: logicalId(primary, 'AWS::ECS::TaskDefinition', f) }));
    expect(bySid.RunWorkerTasks).toMatchObject({ Action: 'ecs:RunTask', Condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [cluster, 'Arn'] } } } });
    expect(asArray(bySid.RunWorkerTasks.Resource)).toEqual(expect.arrayContaining(tasks));
    expect(asArray(bySid.RunWorkerTasks.Resource)).toHaveLength(tasks.length);
    const passed = asArray(bySid.PassWorkerRoles.Resource).map((r: any) => r['Fn::GetAtt'][0]);
    expect(passed).toHaveLength(8);
    for (const role of passed) expect(role).toMatch(/^(Workerpostgres|Drillmodels|Drillconfig|Drilllogs)(TaskRole|ExecutionRole)/);
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
    expect(statementBySid(list, 'ReadManifests').Resource.sort()).toEqual([`${VAULT}/backups/database/postgres/*/manifest.json`, `${VAULT}/backups/models/models/*/manifest.json`, `${VAULT}/backups/config/config/*/manifest.json`, `${VAULT}/backups/logs/logs/*/manifest.json`].sort());
    expect(allowed(list, /^kms:(GenerateMac|\*)$/)).toEqual([]);
  });

  test('drill-plan reads manifests and writes nothing', () => {
    const list = renderedStatements(primary, 'ControlPlaneDrillPlanRole');
    expect(allowed(list, /^s3:/).flatMap(actionsOf).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    expect(statementBySid(list, 'ReadManifests').Resource.every((r: string) => r.endsWith('/*/manifest.json'))).toBe(true);
    expect(allowed(list, /^(cloudwatch|kms:GenerateMac)/)).toEqual([]);
  });

  test('the workers drills run on may write drill records; the models, config and logs workers, which a drill never runs on, may not', () => {
    for (const role of drillRoles.filter((r) => !r.startsWith('ControlPlane'))) {
      expect({ role, records: statementBySid(renderedStatements(primary, role), 'DrillRecords') }).toEqual({ role, records: expect.objectContaining({ Action: 's3:PutObject', Resource: RECORDS }) });
    }
    for (const role of ['WorkermodelsFunctionRole', 'WorkermodelsTaskRole', 'WorkerconfigFunctionRole', 'WorkerconfigTaskRole', 'WorkerlogsFunctionRole', 'WorkerlogsTaskRole']) {
      expect({ role, records: renderedStatements(primary, role).filter((s) => s.Sid === 'DrillRecords') }).toEqual({ role, records: [] });
    }
  });

  test('the models drill worker writes and deletes only its sandbox beside the first location, never the model locations, no backup or blob, and signs no manifest', () => {
    const sandbox = `arn:<Partition>:s3:::neuroca-models/nca-drill/${DRILL}/llm/model.safetensors`;
    const production = 'arn:<Partition>:s3:::neuroca-models/llm/model.safetensors';
    for (const role of ['DrillmodelsFunctionRole', 'DrillmodelsTaskRole']) {
      const list = renderedStatements(primary, role);
      const writes = allowed(list, /^s3:(PutObject|\*)$/).flatMap((s) => asArray(s.Resource)).sort();
      expect({ role, writes }).toEqual({
        role,
        writes: [`${VAULT}/backups/models/models/_lock.json`, `${VAULT}/backups/models/models/_steps/*`, RECORDS, 'arn:<Partition>:s3:::neuroca-models/nca-drill/*'].sort(),
      });
      expect({ role, sandbox: mayOn(list, /^s3:(PutObject|GetObject|DeleteObject|AbortMultipartUpload)$/, sandbox) }).toEqual({
        role,
        sandbox: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'],
      });
      expect({ role, production: mayOn(list, /^s3:/, production) }).toEqual({ role, production: [] });
      expect({ role, listing: statementBySid(list, 'ModelsDrillListing').Condition }).toEqual({ role, listing: { StringLike: { 's3:prefix': ['nca-drill/*'] } } });
      expect({ role, generate: allowed(list, /^kms:(GenerateMac|\*)$/) }).toEqual({ role, generate: [] });
    }
    // The worker it stands in for does write the location: that is what the drill worker is kept from.
    expect(mayOn(renderedStatements(primary, 'WorkermodelsFunctionRole'), /^s3:PutObject$/, production)).toEqual(['s3:PutObject']);
  });

  test('the config drill worker writes, reads back and deletes only its copy under nca-drill-<id>, never a configured item, and opens exports without sealing them', () => {
    const names = (root: string) => ({
      parameter: `${SSM}${root === '' ? '' : `/${root}`}/neuroca/db/host`,
      secret: `${SECRETS}${root === '' ? '' : `${root}/`}neuroca/api-AbC123`,
      file: `arn:<Partition>:s3:::neuroca-config/${root === '' ? '' : `${root}/`}config/app.yaml`,
    });
    const copy = names(`nca-drill-${DRILL}`);
    const production = names('');
    for (const role of ['DrillconfigFunctionRole', 'DrillconfigTaskRole']) {
      const list = renderedStatements(primary, role);
      expect({ role, parameter: mayOn(list, /^ssm:/, copy.parameter) }).toEqual({
        role,
        parameter: ['ssm:AddTagsToResource', 'ssm:DeleteParameter', 'ssm:DescribeParameters', 'ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath', 'ssm:ListTagsForResource', 'ssm:PutParameter'],
      });
      expect({ role, secret: mayOn(list, /^secretsmanager:(CreateSecret|PutSecretValue|GetSecretValue|DescribeSecret|DeleteSecret)$/, copy.secret) }).toEqual({
        role,
        secret: ['secretsmanager:CreateSecret', 'secretsmanager:DeleteSecret', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
      });
      expect({ role, file: mayOn(list, /^s3:/, copy.file) }).toEqual({ role, file: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'] });
      // The configured items: not even read (DescribeParameters and ListSecrets take no resource: names and metadata only).
      const reach = /^(ssm|secretsmanager|s3):(?!DescribeParameters$|ListSecrets$)/;
      for (const [kind, name] of Object.entries(production)) expect({ role, kind, may: mayOn(list, reach, name) }).toEqual({ role, kind, may: [] });
      // SecureStrings and secrets with their own keys: KMS only through the service, only for the copy.
      expect(statementBySid(list, 'DrillSecureStrings').Condition.StringLike['kms:EncryptionContext:PARAMETER_ARN']).toEqual([`${SSM}/nca-drill-*/neuroca`, `${SSM}/nca-drill-*/neuroca/*`]);
      expect(statementBySid(list, 'DrillSecretKeys').Condition.StringLike['kms:EncryptionContext:SecretARN']).toEqual([`${SECRETS}nca-drill-*/neuroca/*`]);
      // The envelope key: Decrypt under the component's context, to open the export it restores; it seals none.
      expect({ role, open: statementBySid(list, 'ConfigEnvelopeOpen') }).toEqual({
        role,
        open: expect.objectContaining({ Action: 'kms:Decrypt', Condition: expect.objectContaining({ StringEquals: { 'kms:EncryptionContext:component': 'config' } }) }),
      });
      expect({ role, seal: list.filter((s) => s.Sid === 'ConfigEnvelope') }).toEqual({ role, seal: [] });
    }
    expect(mayOn(renderedStatements(primary, 'WorkerconfigTaskRole'), /^ssm:PutParameter$/, production.parameter)).toEqual(['ssm:PutParameter']);
    expect(statementBySid(renderedStatements(primary, 'WorkerconfigTaskRole'), 'ConfigEnvelope')).toBeDefined();
  });

  test('the logs drill worker writes and deletes only its drill-<id> log groups and files under nca-drill/, and reads no source group', () => {
    const group = `${LOG_GROUP}/nca-backup/restored/drill-${DRILL}/neuroca/app`;
    const file = `arn:<Partition>:s3:::neuroca-log-restores/restores/nca-drill/${DRILL}/events.jsonl.gz`;
    for (const role of ['DrilllogsFunctionRole', 'DrilllogsTaskRole']) {
      const list = renderedStatements(primary, role);
      const writes = /^logs:(CreateLogGroup|CreateLogStream|PutLogEvents|FilterLogEvents|DeleteLogGroup)$/;
      expect({ role, group: mayOn(list, writes, group) }).toEqual({ role, group: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:DeleteLogGroup', 'logs:FilterLogEvents', 'logs:PutLogEvents'] });
      // Every log group it may write, but the Lambda function's own log (a reference, not a name).
      const groups = allowed(list, writes).flatMap((s) => asArray(s.Resource) as string[]).filter((r) => r.startsWith('arn:')).sort();
      expect({ role, groups }).toEqual({
        role,
        groups: [`${LOG_GROUP}/nca-backup/restored/drill-*`, `${LOG_GROUP}/nca-backup/restored/drill-*:*`],
      });
      // Production's restores, the source groups: nothing.
      expect({ role, restored: mayOn(list, writes, `${LOG_GROUP}/nca-backup/restored/neuroca/app`), source: mayOn(list, writes, `${LOG_GROUP}/neuroca/app:*`) }).toEqual({ role, restored: [], source: [] });
      expect({ role, file: mayOn(list, /^s3:/, file) }).toEqual({ role, file: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'] });
      expect({ role, restore: mayOn(list, /^s3:/, 'arn:<Partition>:s3:::neuroca-log-restores/restores/2026/events.jsonl.gz') }).toEqual({ role, restore: [] });
    }
    expect(mayOn(renderedStatements(primary, 'WorkerlogsTaskRole'), /^logs:FilterLogEvents$/, `${LOG_GROUP}/neuroca/app:*`)).toEqual(['logs:FilterLogEvents']);
  });

  test('no role a drill runs as may delete a backup: the drill functions delete nothing, the workers only their lock, step results, scratch copies and drill sandboxes', () => {
    for (const role of drillRoles) {
      const deletes = allowed(renderedStatements(primary, role), /^s3:(Delete|\*)/);
      const resources = deletes.flatMap((s) => asArray(s.Resource));
      if (role.startsWith('ControlPlane')) expect({ role, resources }).toEqual({ role, resources: [] });
      for (const resource of resources.filter((r: string) => r.startsWith(`${VAULT}/`))) expect({ role, resource }).toEqual({ role, resource: expect.stringMatching(/\/(_lock\.json|_steps\/\*|_staging\/\*)$/) });
      for (const resource of resources.filter((r: string) => !r.startsWith(`${VAULT}/`))) expect({ role, resource }).toEqual({ role, resource: expect.stringMatching(/\/(nca-drill\/\*|nca-drill-\*\/.*)$/) });
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
