/**
 * The scheduled integrity check as deployed: hourly per component, the primary share by the component's
 * worker and the recovery share by the integrity-replica function outside the VPC, each with a small input
 * (the vault part, the component, the cycle); findings counted from the log lines and alarmed per component;
 * failed runs not retried and sent to the dead-letter queue; the replica role read-only.
 */
import { asArray, configWith, logicalId, render, renderedStatements, statementBySid, synthTemplates } from './fixture-config';

const CONFIG = configWith((c) => {
  c.sources.redis = { db: 0, keyPatterns: ['*'] };
  c.verification = { ...c.verification, integrityCycleHours: 48 };
});
const PRIMARY = 'arn:<Partition>:s3:::neuroca-backups';
const RECOVERY = 'arn:<Partition>:s3:::neuroca-dr-backups';
const PREFIXES = ['backups/database/postgres/', 'backups/database/redis/'];

describe('the integrity check in the primary stack', () => {
  const { primary } = synthTemplates(CONFIG);
  const resources = primary.toJSON().Resources as Record<string, any>;
  const rules = (Object.values(primary.findResources('AWS::Events::Rule')) as any[]).filter((r) => String(r.Properties.Description ?? '').includes('integrity check'));
  const replicaFunction = logicalId(primary, 'AWS::Lambda::Function', 'IntegrityReplicaFunction');
  const inputOf = (rule: any) => render(rule.Properties.Targets[0].Input);

  test('hourly per component: the component\'s worker checks the primary vault, the replica function the recovery vault, each told the component and the cycle', () => {
    const seen: string[] = [];
    for (const rule of rules) {
      expect(rule.Properties.ScheduleExpression).toBe('rate(1 hour)');
      const [target] = rule.Properties.Targets;
      expect(target.RetryPolicy).toMatchObject({ MaximumRetryAttempts: 0 });
      const input = JSON.parse(inputOf(rule));
      expect(input.cycleHours).toBe(48);
      if (input.operation === 'integrity-check') {
        expect(target.Arn).toEqual({ 'Fn::GetAtt': [logicalId(primary, 'AWS::Lambda::Function', `Worker${input.component}Function`), 'Arn'] });
        seen.push(`primary ${input.component}`);
      } else {
        expect(target.Arn).toEqual({ 'Fn::GetAtt': [replicaFunction, 'Arn'] });
        expect(input.recovery).toEqual({ bucket: 'neuroca-dr-backups', region: 'eu-central-1' });
        seen.push(`recovery ${input.component}`);
      }
    }
    expect(seen.sort()).toEqual(['primary postgres', 'primary redis', 'recovery postgres', 'recovery redis']);
  });

  test('each input carries the vault part of the runtime config (groups, no sources) and stays far under EventBridge\'s 8 KB', () => {
    for (const rule of rules) {
      const input = inputOf(rule);
      expect(input.length).toBeLessThan(8192);
      const runtime = JSON.parse(JSON.parse(input).runtimeConfig);
      expect(runtime).toMatchObject({ bucket: 'neuroca-backups', prefix: 'backups/', components: { postgres: { group: 'database' }, redis: { group: 'database' } } });
      expect(Object.values(runtime.components).every((c: any) => Object.keys(c).join() === 'group')).toBe(true);
      expect(runtime.runner).toBeUndefined();
    }
  });

  test('the replica function runs outside the VPC; it and the workers send a failed scheduled run, not retried, to the dead-letter queue', () => {
    expect(resources[replicaFunction].Properties.VpcConfig).toBeUndefined();
    expect(resources[logicalId(primary, 'AWS::Lambda::Function', 'WorkerpostgresFunction')].Properties.VpcConfig).toBeDefined();
    const queue = logicalId(primary, 'AWS::SQS::Queue', 'DeadLetterQueue');
    // The audit function has an invoke config of its own (retried: test/infra/audit-access.test.ts).
    const configs = (Object.values(primary.findResources('AWS::Lambda::EventInvokeConfig')) as any[]).filter((c) => !c.Properties.FunctionName.Ref.startsWith('AuditFunction'));
    expect(configs.map((c) => c.Properties.FunctionName.Ref).sort()).toEqual(
      [replicaFunction, logicalId(primary, 'AWS::Lambda::Function', 'WorkerpostgresFunction'), logicalId(primary, 'AWS::Lambda::Function', 'WorkerredisFunction')].sort(),
    );
    for (const c of configs) {
      expect(c.Properties.MaximumRetryAttempts).toBe(0);
      expect(c.Properties.DestinationConfig.OnFailure.Destination).toEqual({ 'Fn::GetAtt': [queue, 'Arn'] });
    }
  });

  test('every "integrity finding" log line of the workers and the replica function counts in NcaBackup/IntegrityFindings by component; an alarm per component notifies on any', () => {
    const filters = Object.values(primary.findResources('AWS::Logs::MetricFilter')) as any[];
    const groups = filters.map((f) => f.Properties.LogGroupName.Ref).sort();
    expect(groups).toEqual(
      [logicalId(primary, 'AWS::Logs::LogGroup', 'IntegrityReplicaLogs'), logicalId(primary, 'AWS::Logs::LogGroup', 'WorkerpostgresFunctionLogs'), logicalId(primary, 'AWS::Logs::LogGroup', 'WorkerredisFunctionLogs')].sort(),
    );
    for (const f of filters) {
      expect(f.Properties.FilterPattern).toBe('{ $.message = "integrity finding" }');
      expect(f.Properties.MetricTransformations).toEqual([
        { MetricNamespace: 'NcaBackup', MetricName: 'IntegrityFindings', MetricValue: '1', Dimensions: [{ Key: 'Component', Value: '$.component' }], Unit: 'Count' },
      ]);
    }
    const topic = logicalId(primary, 'AWS::SNS::Topic', 'AlarmsTopic');
    const alarms = (Object.values(primary.findResources('AWS::CloudWatch::Alarm')) as any[]).filter((a) => a.Properties.MetricName === 'IntegrityFindings');
    expect(alarms.map((a) => a.Properties.Dimensions[0].Value).sort()).toEqual(['postgres', 'redis']);
    for (const a of alarms) {
      expect(a.Properties).toMatchObject({ Namespace: 'NcaBackup', Statistic: 'Sum', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching', AlarmActions: [{ Ref: topic }] });
    }
  });

  test('the replica role reads only: the primary\'s manifests and the recovery vault\'s copies of the components\' keys, decrypts, verifies MACs; no Put or Delete anywhere', () => {
    const list = renderedStatements(primary, 'IntegrityReplicaRole');
    const underPrefixes = { StringLike: { 's3:prefix': PREFIXES.map((p) => `${p}*`) } };
    expect(statementBySid(list, 'ListBackups')).toMatchObject({ Action: 's3:ListBucket', Resource: PRIMARY, Condition: underPrefixes });
    expect(statementBySid(list, 'ReadPrimaryManifests')).toMatchObject({ Action: 's3:GetObject', Resource: PREFIXES.map((p) => `${PRIMARY}/${p}*/manifest.json`) });
    expect(statementBySid(list, 'ListReplicas')).toMatchObject({ Action: 's3:ListBucket', Resource: RECOVERY, Condition: underPrefixes });
    expect(statementBySid(list, 'ReadReplicas')).toMatchObject({ Action: 's3:GetObject', Resource: PREFIXES.map((p) => `${RECOVERY}/${p}*`) });
    expect(statementBySid(list, 'ManifestMacVerify').Action).toBe('kms:VerifyMac');
    const actions = list.flatMap((s) => asArray(s.Action) as string[]);
    expect(actions.filter((a) => /^s3:/.test(a)).sort()).toEqual(['s3:GetObject', 's3:GetObject', 's3:ListBucket', 's3:ListBucket']);
    // What it may write besides its log: a failed run into the dead-letter queue, under the queue's own key.
    const writes = list.filter((s) => (asArray(s.Action) as string[]).some((a) => /Put|Delete|Write|Replicate|Encrypt|Generate|Send/.test(a) && !/^(logs|xray):/.test(a)));
    expect(writes.flatMap((s) => asArray(s.Resource) as string[]).filter((r) => !/DeadLetterQueue|OperationsKey/.test(r))).toEqual([]);
    expect(writes.length).toBeGreaterThan(0);
    const decrypts = list.filter((s) => asArray(s.Action).includes('kms:Decrypt') && !/OperationsKey/.test(String(s.Resource)));
    expect(decrypts.map((s) => s.Condition.StringEquals['kms:ViaService']).sort()).toEqual(['s3.eu-central-1.amazonaws.com', 's3.us-west-2.amazonaws.com']);
  });

  test('the replica function is deployed as every control-plane function: Node.js 22 on arm64, and up to 15 minutes for its share of a large vault', () => {
    expect(resources[replicaFunction].Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Timeout: 900 });
  });
});
