/**
 * RPO monitoring as deployed: a 15-minute schedule hands the function the vault and each component's RPO, an
 * alarm per component with an RPO pages the alarm topic when its age exceeds the RPO or is missing, a
 * component without an RPO gets no alarm and a synth warning, and the role reads manifests and publishes
 * metrics in its namespace only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { buildStacks } from '../../infra/app';
import { BACKUP_AGE_EVALUATION_PERIODS, NO_RPO_WARNING } from '../../infra/constructs/backup-age';
import { asArray, configWith, logicalId, render, renderedStatements, statementBySid } from './fixture-config';

const VAULT = 'arn:<Partition>:s3:::neuroca-backups';

describe('RPO monitoring in the primary stack', () => {
  // postgres: the runbook's 24 h; redis: configured 6 h; logs: no schedule and no RPO.
  const config = configWith((c) => {
    (c.sources as any).redis = { db: 0, keyPatterns: ['*'] };
    (c.sources as any).logs = { logGroups: ['/neuroca/app'], logGroupPrefixes: [], metrics: [], settleMinutes: 60, lateArrivalHours: 336, restoreLocation: { bucket: 'neuroca-log-restores', prefix: 'restores/' }, restoreLogGroupPrefix: '/nca-backup/restored/' };
    (c.verification as any).rpoHours = { redis: 6 };
  });
  const outdir = mkdtempSync(path.join(tmpdir(), 'nca-backup-age-'));
  let template: Template;
  let warnings: string[];
  beforeAll(() => {
    const { primary } = buildStacks(config, { bundling: false, outdir });
    template = Template.fromStack(primary);
    warnings = Annotations.fromStack(primary).findWarning('*', Match.anyValue()).map((w) => String(w.entry.data));
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  const functionId = () => logicalId(template, 'AWS::Lambda::Function', 'BackupAgeFunction');

  test('a schedule every 15 minutes passes the vault and the RPO of each component that has one', () => {
    const rules = Object.values(template.findResources('AWS::Events::Rule')) as any[];
    const rule = rules.find((r) => JSON.stringify(r.Properties.Targets).includes(`"${functionId()}"`));
    expect(rule.Properties.ScheduleExpression).toBe('rate(15 minutes)');
    const input = JSON.parse(render(rule.Properties.Targets[0].Input));
    expect(input.rpoHours).toEqual({ postgres: 24, redis: 6 });
    const runtime = JSON.parse(input.runtimeConfig);
    expect(runtime).toMatchObject({ bucket: 'neuroca-backups', prefix: 'backups/', components: { postgres: { group: 'database' }, redis: { group: 'database' }, logs: { group: 'logs' } } });
    expect(JSON.stringify(runtime)).not.toMatch(/neuroca\/app|keyPatterns/);
  });

  test('an alarm per component with an RPO: age over the RPO for an hour, or missing, notifies the alarm topic', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((a: any) => a.Properties.MetricName === 'BackupAgeHours') as any[];
    const byComponent = Object.fromEntries(alarms.map((a) => [a.Properties.Dimensions[0].Value, a.Properties]));
    expect(Object.keys(byComponent).sort()).toEqual(['postgres', 'redis']);
    const topic = logicalId(template, 'AWS::SNS::Topic', 'AlarmsTopic');
    for (const [component, threshold] of [['postgres', 24], ['redis', 6]] as const) {
      expect(byComponent[component]).toMatchObject({
        Namespace: 'NcaBackup',
        Dimensions: [{ Name: 'Component', Value: component }],
        Statistic: 'Maximum',
        Period: 900,
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: BACKUP_AGE_EVALUATION_PERIODS,
        TreatMissingData: 'breaching',
        AlarmActions: [{ Ref: topic }],
      });
    }
  });

  test('a component without a schedule or a configured RPO: its age is published, nothing alarms, and the synth says so', () => {
    expect(warnings.filter((w) => w.includes(NO_RPO_WARNING) || w.includes('backup.verification.rpo.logs'))).toHaveLength(1);
    expect(warnings.filter((w) => /postgres|redis/.test(w) && w.includes('verification.rpo'))).toEqual([]);
  });

  test('the role lists the components\' prefixes, reads manifest.json only, verifies MACs and publishes in its namespace only', () => {
    const list = renderedStatements(template, 'BackupAgeRole');
    const prefixes = ['backups/database/postgres/', 'backups/database/redis/', 'backups/logs/logs/'];
    expect(statementBySid(list, 'ListBackups')).toMatchObject({ Action: 's3:ListBucket', Resource: VAULT, Condition: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } } });
    expect(statementBySid(list, 'ReadManifests')).toMatchObject({ Action: 's3:GetObject', Resource: prefixes.map((p) => `${VAULT}/${p}*/manifest.json`) });
    expect(statementBySid(list, 'ManifestMacVerify').Action).toBe('kms:VerifyMac');
    expect(statementBySid(list, 'PublishBackupAges')).toEqual({
      Sid: 'PublishBackupAges',
      Effect: 'Allow',
      Action: 'cloudwatch:PutMetricData',
      Resource: '*',
      Condition: { StringEquals: { 'cloudwatch:namespace': 'NcaBackup' } },
    });
    const actions = list.flatMap((s) => asArray(s.Action));
    expect(actions.filter((a) => /^s3:/.test(a)).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    expect(actions.filter((a) => /^kms:/.test(a)).sort()).toEqual(['kms:Decrypt', 'kms:VerifyMac']);
    expect(actions.filter((a) => /Delete|Put(?!MetricData|LogEvents|TraceSegments|TelemetryRecords)/.test(a))).toEqual([]);
  });
});
