/**
 * The CloudWatch dashboard operators open first (README, "Dashboard"): per configured component its backup
 * age against its RPO, its backups' size and duration, its drills' results and restore time against its RTO,
 * and its integrity findings; then replication to the recovery vault, the state machines' failed executions
 * and the schedules' dead-letter queue. Graphs only: every figure that must page has its own alarm.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { BACKUP_AGE_METRIC, COMPONENT_DIMENSION, METRICS_NAMESPACE, RPO_METRIC } from '../../config/backup-age-metrics';
import { BACKUP_BYTES_METRIC, BACKUP_DURATION_METRIC } from '../../config/backup-metrics';
import { ENVIRONMENT } from '../../config/environment';
import { DRILL_BYTES_METRIC, DRILL_RESTORE_SECONDS_METRIC, DRILL_SUCCEEDED_METRIC } from '../../config/drill-metrics';
import { INTEGRITY_FINDINGS_METRIC } from '../../config/integrity-metrics';
import { COMPONENT_GROUP, type BackupConfig } from '../../config/types';
import { rtoOf } from '../../config/verification';
import { configuredComponents } from '../runtime-config';

export interface BackupDashboardProps {
  readonly config: BackupConfig;
  /** The state machines whose failed executions are graphed, by name (Backup, Restore, RestoreTest). More: `addStateMachine`. */
  readonly stateMachines: Readonly<Record<string, sfn.IStateMachine>>;
  /** The replication rule's dimensions (AWS/S3 replication metrics, on for the vault's rule). */
  readonly replication: { readonly sourceBucketName: string; readonly destinationBucketName: string; readonly ruleId: string };
  readonly deadLetterQueue: sqs.IQueue;
  /**
   * The dashboard's name.
   * @default - the installation's name (backup.installation)
   */
  readonly dashboardName?: string;
}

const WIDTH = 24;
const HEIGHT = 6;

export class BackupDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  private readonly failedExecutions: cloudwatch.GraphWidget;

  constructor(scope: Construct, id: string, props: BackupDashboardProps) {
    super(scope, id);
    const { config } = props;
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName ?? config.installation,
      defaultInterval: Duration.days(7),
    });
    const metric = (metricName: string, component: string, statistic: string, period: Duration, label: string) =>
      new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { [COMPONENT_DIMENSION]: component }, statistic, period, label });

    for (const component of configuredComponents(config)) {
      const rto = rtoOf(config.verification, component, COMPONENT_GROUP[component]);
      this.dashboard.addWidgets(
        new cloudwatch.TextWidget({ markdown: `## ${component}`, width: WIDTH, height: 1 }),
        new cloudwatch.GraphWidget({
          title: `${component}: backup age against RPO (hours)`,
          left: [metric(BACKUP_AGE_METRIC, component, cloudwatch.Stats.MAXIMUM, Duration.minutes(15), 'age'), metric(RPO_METRIC, component, cloudwatch.Stats.MAXIMUM, Duration.minutes(15), 'RPO')],
          width: 6,
          height: HEIGHT,
        }),
        new cloudwatch.GraphWidget({
          title: `${component}: backup size and duration`,
          left: [metric(BACKUP_BYTES_METRIC, component, cloudwatch.Stats.MAXIMUM, Duration.hours(1), 'bytes')],
          right: [metric(BACKUP_DURATION_METRIC, component, cloudwatch.Stats.MAXIMUM, Duration.hours(1), 'seconds')],
          width: 6,
          height: HEIGHT,
        }),
        new cloudwatch.GraphWidget({
          title: `${component}: drills (restore seconds, succeeded 1/0)`,
          left: [metric(DRILL_RESTORE_SECONDS_METRIC, component, cloudwatch.Stats.MAXIMUM, Duration.days(1), 'restore seconds')],
          right: [metric(DRILL_SUCCEEDED_METRIC, component, cloudwatch.Stats.MINIMUM, Duration.days(1), 'succeeded'), metric(DRILL_BYTES_METRIC, component, cloudwatch.Stats.MAXIMUM, Duration.days(1), 'restored bytes')],
          // The RTO the drills are held to: a restore line above it is a missed RTO.
          leftAnnotations: rto.hours > 0 ? [{ value: rto.hours * 3600, label: `RTO ${rto.hours} h`, color: cloudwatch.Color.RED }] : [],
          width: 6,
          height: HEIGHT,
        }),
        new cloudwatch.GraphWidget({
          title: `${component}: integrity findings`,
          left: [metric(INTEGRITY_FINDINGS_METRIC, component, cloudwatch.Stats.SUM, Duration.hours(1), 'findings')],
          width: 6,
          height: HEIGHT,
        }),
      );
    }

    const replication = (metricName: string, label: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/S3',
        metricName,
        dimensionsMap: { SourceBucket: props.replication.sourceBucketName, DestinationBucket: props.replication.destinationBucketName, RuleId: props.replication.ruleId },
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(5),
        label,
      });
    this.failedExecutions = new cloudwatch.GraphWidget({ title: 'Failed executions', left: [], width: 8, height: HEIGHT });
    for (const [name, machine] of Object.entries(props.stateMachines)) this.addStateMachine(name, machine);
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({ markdown: '## Replication, workflows, schedules', width: WIDTH, height: 1 }),
      new cloudwatch.GraphWidget({
        title: `Replication to ${props.replication.destinationBucketName}`,
        left: [replication('ReplicationLatency', 'latency (seconds)')],
        right: [replication('OperationsPendingReplication', 'operations pending')],
        width: 8,
        height: HEIGHT,
      }),
      this.failedExecutions,
      new cloudwatch.GraphWidget({
        title: 'Schedules\' dead-letter queue',
        left: [props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM, label: 'messages' })],
        width: 8,
        height: HEIGHT,
      }),
    );
  }

  /** Graphs a state machine's failed executions (e.g. the drill workflow's, wired after this dashboard). */
  addStateMachine(name: string, machine: sfn.IStateMachine): void {
    this.failedExecutions.addLeftMetric(machine.metricFailed({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM, label: name }));
  }
}

/**
 * The backup workflow's finalize function publishes each backed-up component's size and duration (the
 * dashboard's "backup size and duration"): switched on by its environment, allowed PutMetricData in the
 * NcaBackup namespace only (the action has no resource-level permissions; the role's `Resource::*`
 * acknowledgement already covers its X-Ray statement).
 */
export function publishBackupMetrics(finalize: lambda.Function): void {
  finalize.addEnvironment(ENVIRONMENT.backupMetrics, 'on');
  finalize.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'PublishBackupMetrics',
      actions: ['cloudwatch:PutMetricData'],
      resources: ['*'],
      conditions: { StringEquals: { 'cloudwatch:namespace': METRICS_NAMESPACE } },
    }),
  );
}
