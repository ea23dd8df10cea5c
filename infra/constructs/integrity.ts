/**
 * The scheduled integrity check (functions/core/integrity.ts), hourly per configured component, in two parts
 * run where each can:
 *
 * - the primary vault's share, by the component's worker (`{"operation": "integrity-check"}`): it has the
 *   component's parsers for the structure check. Its input is the vault part of the runtime config (no
 *   sources: an EventBridge input holds 8 KB), the component and the cycle;
 * - the recovery vault's share, by the integrity-replica function, outside the workers' VPC (whose S3
 *   gateway endpoint serves the primary region only): every replica against the trusted primary manifest.
 *   Its role reads the primary's manifests and the recovery vault, and writes nothing.
 *
 * Both log each finding as an `integrity finding` line; a metric filter on each log group counts them into
 * NcaBackup/IntegrityFindings per component, and an alarm per component notifies the alarm topic on any.
 * A run that fails (a finding, or the vault or KMS unreachable) is not retried and goes to the schedules'
 * dead-letter queue, whose alarm notifies too.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { COMPONENT_DIMENSION, INTEGRITY_FINDINGS_METRIC, INTEGRITY_FINDING_MESSAGE, METRICS_NAMESPACE } from '../../config/integrity-metrics';
import { RUNTIME_CONFIG_FIELD, type VaultRuntimeConfig } from '../../config/runtime-config';
import type { BackupConfig, ComponentName } from '../../config/types';
import { nagText } from '../vault-names';
import { configuredComponents } from '../runtime-config';
import { controlPlaneFunction } from './control-plane';
import type { KmsKeyRef, ManifestKey } from './keys';
import { bucketArn } from './replication';
import { componentKeyPrefix, type ComponentWorker } from './workers';

export const INTEGRITY_SCHEDULE = events.Schedule.rate(Duration.hours(1));

export interface IntegrityChecksProps {
  readonly config: BackupConfig;
  readonly workers: Partial<Record<ComponentName, ComponentWorker>>;
  /** The vault and the components' groups (infra/runtime-config.ts `vaultRuntimeConfig`), passed in every schedule's input. */
  readonly runtimeConfig: VaultRuntimeConfig;
  readonly dataKey: KmsKeyRef;
  /** The recovery vault's key: the replica check decrypts replicas (through S3 of the recovery region). */
  readonly replicaKey: KmsKeyRef;
  /** Primary manifests are verified before replicas are judged by them (VerifyMac only). */
  readonly manifestKey: ManifestKey;
  readonly logKey: kms.IKey;
  /** Where a failed run goes (alarmed). */
  readonly deadLetterQueue: sqs.IQueue;
  /** The alarm topic (BackupAlarms.topic) the findings alarms notify. */
  readonly topic: sns.ITopic;
}

export class IntegrityChecks extends Construct {
  readonly replicaRole: iam.Role;
  readonly replicaFunction: nodejs.NodejsFunction;
  /** The findings alarm of each configured component. */
  readonly alarms: Partial<Record<ComponentName, cloudwatch.Alarm>> = {};

  constructor(scope: Construct, id: string, props: IntegrityChecksProps) {
    super(scope, id);
    const { config } = props;
    const { primary, secondary } = config.storage;
    const components = configuredComponents(config);
    const cycleHours = config.verification.integrityCycleHours;
    const runtimeConfig = JSON.stringify(props.runtimeConfig);
    const onFailure = new destinations.SqsDestination(props.deadLetterQueue);

    // The replica check: read-only, primary manifests and the recovery vault's copies of the components' keys.
    const logGroup = new logs.LogGroup(this, 'ReplicaLogs', { retention: logs.RetentionDays.THREE_MONTHS, encryptionKey: props.logKey, removalPolicy: RemovalPolicy.RETAIN });
    this.replicaRole = new iam.Role(this, 'ReplicaRole', {
      description: 'nca-backup integrity check of the recovery vault: reads replicas and the primary manifests they are judged by',
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    const role = this.replicaRole;
    logGroup.grantWrite(role);
    const prefixes = components.map((c) => componentKeyPrefix(config, c));
    const source = bucketArn(primary.bucket);
    // Replicas keep the primary's keys (the recovery stack's lifecycle rules match the primary prefix too).
    const recovery = bucketArn(secondary.bucket);
    if (prefixes.length > 0) {
      const underPrefixes = { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } };
      role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ListBackups', actions: ['s3:ListBucket'], resources: [source], conditions: underPrefixes }));
      role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadPrimaryManifests', actions: ['s3:GetObject'], resources: prefixes.map((p) => `${source}/${p}*/manifest.json`) }));
      // Listing makes a missing replica read as missing (404) rather than as access denied.
      role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ListReplicas', actions: ['s3:ListBucket'], resources: [recovery], conditions: underPrefixes }));
      role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadReplicas', actions: ['s3:GetObject'], resources: prefixes.map((p) => `${recovery}/${p}*`) }));
      role.addToPrincipalPolicy(props.dataKey.s3Statement(['kms:Decrypt'], primary.region));
      role.addToPrincipalPolicy(props.replicaKey.s3Statement(['kms:Decrypt'], secondary.region));
      props.manifestKey.grantVerifyMac(role);
      props.dataKey.acknowledgeAliasGrant(role);
      props.replicaKey.acknowledgeAliasGrant(role);
      for (const p of prefixes) {
        Validations.of(role).acknowledge(
          {
            id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(primary.bucket)}/${p}*/manifest.json]`,
            reason: `Backups live at <backup id>/ under ${p} with ids generated per run; the replica check reads their manifest.json only in the primary vault.`,
          },
          {
            id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(secondary.bucket)}/${p}*]`,
            reason: `The replica check re-reads every replicated object of the component's backups under ${p} in the recovery vault; read-only.`,
          },
        );
      }
    }
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) support no resource-level permissions.',
    });
    this.replicaFunction = controlPlaneFunction(this, 'ReplicaFunction', {
      file: 'integrity-replica',
      description: 'integrity check of the recovery vault: each replica against its trusted primary manifest (hourly, a share of the backups)',
      timeout: Duration.minutes(15),
      role,
      logGroup,
    });
    this.failuresTo(this.replicaFunction, onFailure);
    this.countFindings('ReplicaFindings', logGroup);

    const action = new actions.SnsAction(props.topic);
    for (const component of components) {
      const worker = props.workers[component];
      if (worker) {
        this.failuresTo(worker.function, onFailure);
        this.countFindings(`PrimaryFindings-${component}`, worker.function.logGroup);
        new events.Rule(this, `Primary-${component}`, {
          description: `nca-backup: hourly integrity check of ${component} backups in the primary vault (the ${component} worker, with its structure check)`,
          schedule: INTEGRITY_SCHEDULE,
          targets: [
            new targets.LambdaFunction(worker.function, {
              retryAttempts: 0,
              event: events.RuleTargetInput.fromObject({ operation: 'integrity-check', component, cycleHours, [RUNTIME_CONFIG_FIELD]: runtimeConfig }),
            }),
          ],
        });
      }
      new events.Rule(this, `Replica-${component}`, {
        description: `nca-backup: hourly integrity check of ${component} backups in the recovery vault`,
        schedule: INTEGRITY_SCHEDULE,
        targets: [
          new targets.LambdaFunction(this.replicaFunction, {
            retryAttempts: 0,
            event: events.RuleTargetInput.fromObject({ component, cycleHours, recovery: { bucket: secondary.bucket, region: secondary.region }, [RUNTIME_CONFIG_FIELD]: runtimeConfig }),
          }),
        ],
      });
      const alarm = new cloudwatch.Alarm(this, `Findings-${component}`, {
        alarmDescription:
          `nca-backup: the integrity check found ${component} backups that are damaged, untrusted or differ between the vaults. ` +
          'The worker\'s (primary vault) or the integrity-replica function\'s (recovery vault) log lists each "integrity finding"; do not restore the backups named.',
        metric: new cloudwatch.Metric({
          namespace: METRICS_NAMESPACE,
          metricName: INTEGRITY_FINDINGS_METRIC,
          dimensionsMap: { [COMPONENT_DIMENSION]: component },
          statistic: cloudwatch.Stats.SUM,
          period: Duration.hours(1),
        }),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(action);
      this.alarms[component] = alarm;
    }
  }

  /** Asynchronous runs (the schedules' only) are not retried: a failed one goes to the dead-letter queue. */
  private failuresTo(fn: lambda.IFunction, onFailure: destinations.SqsDestination): void {
    fn.configureAsyncInvoke({ retryAttempts: 0, onFailure });
    // The destination's grant (queue.grantSendMessages) includes the queue key's data-key actions by wildcard.
    for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
      Validations.of(fn.role!).acknowledge({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason: `CDK's SQS destination grant for the encrypted dead-letter queue: ${action} on that queue's key only, used by Lambda to send a failed integrity run to the queue.`,
      });
    }
  }

  /** Each `integrity finding` log line counts 1 in NcaBackup/IntegrityFindings for its component. */
  private countFindings(id: string, logGroup: logs.ILogGroup): void {
    new logs.MetricFilter(this, id, {
      logGroup,
      filterPattern: logs.FilterPattern.stringValue('$.message', '=', INTEGRITY_FINDING_MESSAGE),
      metricNamespace: METRICS_NAMESPACE,
      metricName: INTEGRITY_FINDINGS_METRIC,
      metricValue: '1',
      dimensions: { [COMPONENT_DIMENSION]: '$.component' },
      unit: cloudwatch.Unit.COUNT,
    });
  }
}
