/**
 * What an operator is told about: failed backup or restore executions, replication falling behind or failing,
 * schedules that could not start a backup, and integrity runs that failed (all in the dead-letter queue). All
 * alarms notify one SNS topic, created (KMS-encrypted, TLS only, e-mail subscriptions from
 * `notifications.emails`) or imported from `notifications.sns_topic_arn`.
 * With neither an address nor a topic, nobody would read it: the synth warns.
 */
import { Annotations, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { NotificationsConfig } from '../../config/types';

/** Replication is "behind" with Replication Time Control when an object waits longer than its 15-minute promise … */
export const REPLICATION_LATENCY_THRESHOLD_SECONDS = 900;
/**
 * … and without it (the default) after 6 hours: S3 then replicates most objects within minutes but promises
 * nothing, and "a couple of hours" happens; 6 hours still leaves most of the 24-hour RPO to act …
 */
export const REPLICATION_LATENCY_THRESHOLD_WITHOUT_RTC_SECONDS = 6 * 3600;
/** … for this many consecutive 5-minute periods (15 minutes). */
export const REPLICATION_LATENCY_PERIODS = 3;
/** Id of the synth warning for alarms nobody receives. */
export const SILENT_ALARMS_WARNING = 'nca-backup:alarms-without-subscriber';

export interface BackupAlarmsProps {
  readonly notifications: NotificationsConfig;
  readonly topicKey: kms.IKey;
  readonly stateMachines: Readonly<Record<string, sfn.IStateMachine>>;
  readonly replication: {
    readonly sourceBucketName: string;
    readonly destinationBucketName: string;
    readonly ruleId: string;
    /**
     * Whether the rule has Replication Time Control, whose 15-minute promise the latency alarm then holds it to.
     * @default false
     */
    readonly timeControl?: boolean;
  };
  readonly deadLetterQueue: sqs.IQueue;
  /**
   * The janitor function: an alarm when a sweep fails.
   * @default - no janitor alarm
   */
  readonly janitor?: lambda.IFunction;
}

export class BackupAlarms extends Construct {
  readonly topic: sns.ITopic;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: BackupAlarmsProps) {
    super(scope, id);
    this.topic = props.notifications.snsTopicArn
      ? sns.Topic.fromTopicArn(this, 'Topic', props.notifications.snsTopicArn)
      : this.createTopic(props);
    if (!props.notifications.snsTopicArn && props.notifications.emails.length === 0 && !props.notifications.subscribeLater) {
      Annotations.of(this).addWarningV2(
        SILENT_ALARMS_WARNING,
        'backup.notifications: no email and no sns_topic_arn, so every alarm goes to a topic nobody reads. Add backup.notifications.email ' +
          '(each address confirms the subscription e-mail) or sns_topic_arn (an existing topic in the primary region), or subscribe to the ' +
          'stack output AlarmTopicArn yourself after the deploy and say so with subscribe_later: true (README, "Alarms and notifications").',
      );
    }
    const action = new actions.SnsAction(this.topic);
    const add = (alarm: cloudwatch.Alarm) => {
      alarm.addAlarmAction(action);
      this.alarms.push(alarm);
    };

    for (const [name, machine] of Object.entries(props.stateMachines)) {
      add(
        new cloudwatch.Alarm(this, `${name}ExecutionsFailed`, {
          alarmDescription: `nca-backup: a ${name.toLowerCase()} execution failed. Open the execution in the Step Functions console; the error names the component and what to do.`,
          metric: machine.metricFailed({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    const dimensionsMap = {
      SourceBucket: props.replication.sourceBucketName,
      DestinationBucket: props.replication.destinationBucketName,
      RuleId: props.replication.ruleId,
    };
    const latencySeconds = props.replication.timeControl ? REPLICATION_LATENCY_THRESHOLD_SECONDS : REPLICATION_LATENCY_THRESHOLD_WITHOUT_RTC_SECONDS;
    const behind = latencySeconds < 3600 ? `${latencySeconds / 60} minutes` : `${latencySeconds / 3600} hours`;
    add(
      new cloudwatch.Alarm(this, 'ReplicationLatency', {
        alarmDescription: `nca-backup: replication to ${props.replication.destinationBucketName} is more than ${behind} behind.`,
        metric: new cloudwatch.Metric({
          namespace: 'AWS/S3',
          metricName: 'ReplicationLatency',
          dimensionsMap,
          statistic: cloudwatch.Stats.MAXIMUM,
          period: Duration.minutes(5),
        }),
        threshold: latencySeconds,
        evaluationPeriods: REPLICATION_LATENCY_PERIODS,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    add(
      new cloudwatch.Alarm(this, 'ReplicationFailed', {
        alarmDescription: `nca-backup: objects failed to replicate to ${props.replication.destinationBucketName}.`,
        metric: new cloudwatch.Metric({
          namespace: 'AWS/S3',
          metricName: 'OperationsFailedReplication',
          dimensionsMap,
          statistic: cloudwatch.Stats.SUM,
          period: Duration.minutes(5),
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    add(
      new cloudwatch.Alarm(this, 'ScheduleDeadLetters', {
        alarmDescription: 'nca-backup: a schedule could not start the backup state machine, or an hourly integrity check run failed (a finding, or the vault unreachable); the event, and for an integrity run its error, is in the dead-letter queue.',
        metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    if (props.janitor) {
      add(
        new cloudwatch.Alarm(this, 'JanitorFailed', {
          alarmDescription:
            'nca-backup: the janitor could not remove backup attempts that never got a manifest. Its log names the component and the S3 error; an AccessDenied means its role or the vault policy changed. Nothing is lost meanwhile: the next hourly sweep tries again.',
          metric: props.janitor.metricErrors({ period: Duration.hours(1), statistic: cloudwatch.Stats.SUM }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
  }

  private createTopic(props: BackupAlarmsProps): sns.Topic {
    const topic = new sns.Topic(this, 'Topic', {
      displayName: 'nca-backup alerts',
      masterKey: props.topicKey,
      enforceSSL: true,
    });
    const { partition, region, account } = Stack.of(this);
    // The topic policy replaces SNS's default one: allow CloudWatch alarms of this account to publish.
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarms',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` },
          StringEquals: { 'aws:SourceAccount': account },
        },
      }),
    );
    for (const email of props.notifications.emails) topic.addSubscription(new subscriptions.EmailSubscription(email));
    return topic;
  }
}
