/**
 * The dashboard as deployed: per configured component its backup age against the RPO, its backups' size
 * and duration, its drills with the RTO drawn as a line, its integrity findings; replication latency and
 * backlog of the vault's rule, failed executions of each state machine, the dead-letter queue's depth. And
 * the finalize function that publishes the backup size and duration may do so, in the namespace only.
 */
import { App, Stack } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { BackupDashboard } from '../../infra/constructs/dashboard';
import { configWith, logicalId, render, renderedStatements, statementBySid, synthTemplates } from './fixture-config';

const CONFIG = configWith((c) => {
  c.sources.redis = { db: 0, keyPatterns: ['*'] };
  // redis: a configured RTO of 2 h; postgres: the runbook's database RTO of 4 h.
  c.verification = { ...c.verification, rtoHours: { redis: 2 } };
});

type Widget = { type: string; properties: { title?: string; metrics?: unknown[][]; annotations?: { horizontal?: { value: number; label?: string }[] } } };

describe('the dashboard', () => {
  const { primary } = synthTemplates(CONFIG);
  const [dashboard] = Object.values(primary.findResources('AWS::CloudWatch::Dashboard')) as any[];
  const body = JSON.parse(render(dashboard.Properties.DashboardBody)) as { widgets: Widget[] };
  const graphs = body.widgets.filter((w) => w.type === 'metric');
  /** The metric lines of every graph, each as "namespace/name dimension=value…". */
  const lines = graphs.flatMap((g) => (g.properties.metrics ?? []).map((m) => {
    const parts = m.filter((p): p is string => typeof p === 'string');
    const dims: string[] = [];
    for (let i = 2; i + 1 < parts.length; i += 2) dims.push(`${parts[i]}=${parts[i + 1]}`);
    return `${parts[0]}/${parts[1]} ${dims.join(' ')}`.trim();
  }));
  const graph = (title: string) => {
    const found = graphs.filter((g) => g.properties.title === title);
    if (found.length !== 1) throw new Error(`expected one graph titled "${title}", found ${found.length}`);
    return found[0];
  };

  test('is named after the installation', () => {
    expect(dashboard.Properties.DashboardName).toBe('nca-backup');
  });

  test('per configured component: backup age and RPO, backup size and duration, drill success, restore seconds and bytes, integrity findings', () => {
    for (const component of ['postgres', 'redis']) {
      for (const metric of ['BackupAgeHours', 'RpoHours', 'BackupBytes', 'BackupDurationSeconds', 'DrillSucceeded', 'DrillRestoreSeconds', 'DrillRestoredBytes', 'IntegrityFindings']) {
        expect(lines).toContain(`NcaBackup/${metric} Component=${component}`);
      }
    }
    expect(lines.filter((l) => l.includes('Component=') && !/Component=(postgres|redis)$/.test(l))).toEqual([]);
  });

  test('each component\'s drill graph draws its RTO as a horizontal line, in the restore seconds\' unit', () => {
    expect(graph('postgres: drills (restore seconds, succeeded 1/0)').properties.annotations?.horizontal).toEqual([expect.objectContaining({ value: 4 * 3600, label: 'RTO 4 h' })]);
    expect(graph('redis: drills (restore seconds, succeeded 1/0)').properties.annotations?.horizontal).toEqual([expect.objectContaining({ value: 2 * 3600, label: 'RTO 2 h' })]);
  });

  test('replication latency and pending operations of the vault\'s rule, failed executions of each state machine, the dead-letter queue\'s depth', () => {
    const rule = 'DestinationBucket=neuroca-dr-backups RuleId=replicate-all-to-recovery-region SourceBucket=neuroca-backups';
    const replication = lines.filter((l) => l.startsWith('AWS/S3/')).map((l) => l.split(' ').sort().join(' '));
    expect(replication.sort()).toEqual([`AWS/S3/OperationsPendingReplication ${rule}`, `AWS/S3/ReplicationLatency ${rule}`].map((l) => l.split(' ').sort().join(' ')).sort());
    const failed = lines.filter((l) => l.startsWith('AWS/States/ExecutionsFailed'));
    expect(failed.sort()).toEqual(
      ['Backup', 'Restore', 'Drills'].map((name) => `AWS/States/ExecutionsFailed StateMachineArn=<Ref:${logicalId(primary, 'AWS::StepFunctions::StateMachine', `Workflows${name}`)}>`).sort(),
    );
    expect(lines).toContain(`AWS/SQS/ApproximateNumberOfMessagesVisible QueueName=<GetAtt:${logicalId(primary, 'AWS::SQS::Queue', 'DeadLetterQueue')}.QueueName>`);
  });

  test('the finalize function publishes the backups\' size and duration: switched on, PutMetricData in the NcaBackup namespace only', () => {
    const finalize = primary.toJSON().Resources[logicalId(primary, 'AWS::Lambda::Function', 'ControlPlaneFinalize')].Properties;
    expect(finalize.Environment.Variables.NCA_BACKUP_METRICS).toBe('on');
    expect(statementBySid(renderedStatements(primary, 'ControlPlaneFinalizeRole'), 'PublishBackupMetrics')).toMatchObject({
      Action: 'cloudwatch:PutMetricData',
      Resource: '*',
      Condition: { StringEquals: { 'cloudwatch:namespace': 'NcaBackup' } },
    });
  });
});

test('a state machine wired after the dashboard (the drill workflow) joins the failed-executions graph', () => {
  const stack = new Stack(new App(), 'Dashboard', { env: { region: 'us-west-2', account: '123456789012' } });
  const machine = (name: string) => sfn.StateMachine.fromStateMachineArn(stack, name, `arn:aws:states:us-west-2:123456789012:stateMachine:${name}`);
  const dashboard = new BackupDashboard(stack, 'Dashboard', {
    config: CONFIG,
    stateMachines: { Backup: machine('backup') },
    replication: { sourceBucketName: 'a', destinationBucketName: 'b', ruleId: 'r' },
    deadLetterQueue: sqs.Queue.fromQueueArn(stack, 'Queue', 'arn:aws:sqs:us-west-2:123456789012:dlq'),
  });
  dashboard.addStateMachine('RestoreTest', machine('restore-test'));
  const body = JSON.parse(render(stack.resolve((dashboard.dashboard.node.defaultChild as cloudwatch.CfnDashboard).dashboardBody))) as { widgets: Widget[] };
  const failed = body.widgets.find((w) => w.properties.title === 'Failed executions')!;
  expect(failed.properties.metrics!.map((m) => m.filter((p) => typeof p === 'string').join(' '))).toEqual([
    'AWS/States ExecutionsFailed StateMachineArn arn:aws:states:us-west-2:123456789012:stateMachine:backup',
    'AWS/States ExecutionsFailed StateMachineArn arn:aws:states:us-west-2:123456789012:stateMachine:restore-test',
  ]);
});
