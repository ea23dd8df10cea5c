/**
 * The logs component as deployed: its workers read exactly the configured log groups (named and by prefix)
 * and the metrics, write log groups only under the restore prefix and files only under the restore location,
 * no other worker gets a CloudWatch grant, the created VPC reaches CloudWatch Logs and CloudWatch, and the
 * logs group is scheduled.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { Aws } from 'aws-cdk-lib';
import { componentInterfaceEndpoints } from '../../infra/constructs/network';
import { logsGrants } from '../../functions/components/logs/grants';
import type { LogsSourceConfig } from '../../functions/components/logs/source';
import { asArray, configWith, logicalId, render, renderedStatements, runtimeConfigOf, statementBySid, synthTemplates } from './fixture-config';

const SOURCE: LogsSourceConfig = {
  logGroups: ['/neuroca/app', '/neuroca/audit'],
  logGroupPrefixes: ['/aws/lambda/neuroca-'],
  metrics: [{ id: 'CWAgent', namespace: 'CWAgent', periodSeconds: 60, statistics: ['Average', 'Maximum'] }],
  settleMinutes: 60,
  lateArrivalHours: 336,
  restoreLocation: { bucket: 'neuroca-log-restores', prefix: 'restores/' },
  restoreLogGroupPrefix: '/nca-backup/restored/',
};
const GROUP = 'arn:<Partition>:logs:us-west-2:<AccountId>:log-group:';
/** Each group in both forms IAM matches: the group, and `:*` for its streams' events. */
const forms = (name: string) => [`${GROUP}${name}`, `${GROUP}${name}:*`];
const SOURCE_GROUPS = [...forms('/neuroca/app'), ...forms('/neuroca/audit'), ...forms('/aws/lambda/neuroca-*')];
const RESTORED_GROUPS = forms('/nca-backup/restored/*');
const RESTORE_BUCKET = 'arn:<Partition>:s3:::neuroca-log-restores';
const VAULT_OBJECTS = 'arn:<Partition>:s3:::neuroca-backups/backups/logs/logs/*';
const ROLES = ['WorkerlogsFunctionRole', 'WorkerlogsTaskRole'];

/** A role's statements with resources and condition values rendered to text. */
const sorted = (value: unknown): string[] => [...asArray(value as string | string[])].sort();

/** Every resource a role may call `action` on, from every statement that allows it. */
const resourcesFor = (list: any[], action: string) => sorted(list.filter((s) => asArray(s.Action).includes(action)).flatMap((s) => asArray(s.Resource)));

/** The worker's own log group (Lambda writes its log there with the function's role), as rendered. */
const ownLogGroup = (template: Template, role: string) => `<GetAtt:${logicalId(template, 'AWS::Logs::LogGroup', `Worker${role}FunctionLogs`)}.Arn>`;

describe('logs component in the stacks', () => {
  const config = configWith((c) => {
    c.sources.logs = SOURCE;
    c.schedule.logs = { cron: '0 5 * * *', expression: 'cron(0 5 * * ? *)' };
    c.createdNetwork = { interfaceEndpoints: true };
  });
  const { primary } = synthTemplates(config);

  test('its workers read exactly the configured groups and prefix, list groups, and read metrics', () => {
    for (const role of ROLES) {
      const list = renderedStatements(primary, role);
      expect(statementBySid(list, 'LogsRead')).toMatchObject({ Action: 'logs:FilterLogEvents' });
      expect(sorted(statementBySid(list, 'LogsRead').Resource)).toEqual(sorted(SOURCE_GROUPS));
      // FilterLogEvents anywhere else: only on the groups a restore wrote, to verify them.
      expect(resourcesFor(list, 'logs:FilterLogEvents')).toEqual(sorted([...SOURCE_GROUPS, ...RESTORED_GROUPS]));
      // DescribeLogGroups is authorised on every group of the account and region only: names and retention, no events.
      expect(resourcesFor(list, 'logs:DescribeLogGroups')).toEqual([`${GROUP}*`]);
      expect(sorted(statementBySid(list, 'MetricsRead').Action)).toEqual(['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics']);
      // CloudWatch: reads only, and nothing else grants a cloudwatch action.
      const cloudwatch = list.flatMap((s) => asArray(s.Action)).filter((a: string) => a.startsWith('cloudwatch:'));
      expect(cloudwatch.sort()).toEqual(['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics']);
    }
  });

  test('a restore creates and writes log groups only under the restore prefix (besides the Lambda\'s own log)', () => {
    for (const role of ROLES) {
      const list = renderedStatements(primary, role);
      const own = role.endsWith('FunctionRole') ? [ownLogGroup(primary, 'logs')] : [];
      expect(resourcesFor(list, 'logs:CreateLogGroup')).toEqual(sorted(RESTORED_GROUPS));
      expect(resourcesFor(list, 'logs:CreateLogStream')).toEqual(sorted([...RESTORED_GROUPS, ...own]));
      expect(resourcesFor(list, 'logs:PutLogEvents')).toEqual(sorted([...RESTORED_GROUPS, ...own]));
      // No other logs action: nothing deleted, retained differently, tagged or re-keyed.
      const actions = new Set(list.flatMap((s) => asArray(s.Action)).filter((a: string) => a.startsWith('logs:')));
      expect([...actions].sort()).toEqual(['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:DescribeLogGroups', 'logs:FilterLogEvents', 'logs:PutLogEvents']);
    }
  });

  test('a restore to files writes only under restore_location, lists only there, and uses KMS only through S3 for it', () => {
    for (const role of ROLES) {
      const list = renderedStatements(primary, role);
      expect(resourcesFor(list, 's3:PutObject')).toEqual(sorted([VAULT_OBJECTS, `${RESTORE_BUCKET}/restores/*`]));
      expect(resourcesFor(list, 's3:DeleteObject').filter((r) => r.includes('neuroca-log-restores'))).toEqual([]);
      expect(statementBySid(list, 'LogsRestoreListing')).toMatchObject({ Action: 's3:ListBucket', Resource: RESTORE_BUCKET, Condition: { StringLike: { 's3:prefix': ['restores/*'] } } });
      const keys = statementBySid(list, 'LogsRestoreKeys');
      expect(keys.Resource).toBe('arn:<Partition>:kms:us-west-2:<AccountId>:key/*');
      expect(keys.Condition).toEqual({
        StringEquals: { 'kms:ViaService': 's3.us-west-2.amazonaws.com' },
        StringLike: { 'kms:EncryptionContext:aws:s3:arn': [RESTORE_BUCKET, `${RESTORE_BUCKET}/restores/*`] },
      });
    }
  });

  test('no other worker gets a CloudWatch read or write, or the restore location', () => {
    const list = renderedStatements(primary, 'WorkerpostgresFunctionRole');
    const logs = list.filter((s) => asArray(s.Action).some((a: string) => a.startsWith('logs:')));
    // Only the Lambda's own log stream writes (the function's log group).
    expect(logs.flatMap((s) => asArray(s.Resource))).toEqual([ownLogGroup(primary, 'postgres')]);
    expect(list.flatMap((s) => asArray(s.Action)).filter((a: string) => a.startsWith('cloudwatch:'))).toEqual([]);
    expect(JSON.stringify([...list, ...renderedStatements(primary, 'WorkerpostgresTaskRole')])).not.toMatch(/neuroca-log-restores|log-group:|"logs:(FilterLogEvents|DescribeLogGroups|CreateLogGroup)"/);
  });

  test('the created VPC\'s interface endpoints reach CloudWatch Logs and CloudWatch', () => {
    const services = (Object.values(primary.findResources('AWS::EC2::VPCEndpoint')) as any[]).map((e) => render(e.Properties.ServiceName).replace(/^com\.amazonaws\.(<Region>|us-west-2)\./, ''));
    expect(services).toEqual(expect.arrayContaining(['logs', 'monitoring']));
  });

  test('the logs group is scheduled, and its worker receives the source as configured', () => {
    const schedules = (Object.values(primary.findResources('AWS::Scheduler::Schedule')) as any[]).map((s) => s.Properties);
    const logs = schedules.filter((s) => JSON.parse(s.Target.Input).group === 'logs');
    expect(logs).toHaveLength(1);
    expect(logs[0].ScheduleExpression).toBe('cron(0 5 * * ? *)');
    const runtime = runtimeConfigOf(primary, logicalId(primary, 'AWS::Lambda::Function', 'WorkerlogsFunction'));
    expect(runtime.components.logs).toEqual({ group: 'logs', source: SOURCE });
  });
});

describe('logs component grants and endpoints, without a synth', () => {
  const scope = { partition: Aws.PARTITION, account: Aws.ACCOUNT_ID, region: 'us-west-2' };

  test('named groups alone, without metrics or restore location: every wildcard carries its reason, no metric or file grant', () => {
    const grants = logsGrants({ ...SOURCE, logGroupPrefixes: [], metrics: [], restoreLocation: undefined }, scope);
    expect(grants.map((g) => g.sid)).toEqual(['LogsRead', 'LogsDescribeGroups', 'LogsRestoreWrites']);
    for (const grant of grants.filter((g) => g.resources.some((r) => r.includes('*')))) expect(grant.wildcardReason).toEqual(expect.any(String));
  });

  test('CloudWatch (monitoring) is a component endpoint only when metric sets are configured', () => {
    const names = (sources: object) => componentInterfaceEndpoints(sources).map(([name]) => name);
    expect(names({ logs: SOURCE })).toEqual(['Monitoring']);
    expect(names({ logs: { ...SOURCE, metrics: [] } })).toEqual([]);
    expect(names({})).toEqual([]);
  });
});
