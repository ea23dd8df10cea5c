/**
 * RPO monitoring (functions/handlers/backup-age.ts), run every 15 minutes: publishes each configured
 * component's newest trusted backup's age (NcaBackup/BackupAgeHours) and its RPO (NcaBackup/RpoHours), and
 * an alarm per component with an RPO pages when the age exceeds it or when no age is published (no backup,
 * or the function failing): missing data is breaching.
 *
 * The RPOs are computed here (config/verification.ts `rpoOf`) and passed in the schedule's input next to
 * the vault part of the runtime config: the alarm thresholds come from the same figures, so what the
 * function judges and what pages cannot disagree, and the function needs no schedule or cron logic.
 *
 * Its role reads manifests only: it lists the components' prefixes and gets `manifest.json` objects,
 * verifies their MAC (VerifyMac) and decrypts through S3; it writes nothing but metrics in its namespace.
 */
import { Annotations, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { COMPONENT_GROUP, type BackupConfig, type ComponentName } from '../../config/types';
import type { VaultRuntimeConfig } from '../../config/runtime-config';
import { rpoOf, type Rpo } from '../../config/verification';
import { BACKUP_AGE_METRIC, COMPONENT_DIMENSION, METRICS_NAMESPACE, RPO_HOURS_FIELD } from '../../config/backup-age-metrics';
import { RUNTIME_CONFIG_FIELD } from '../../config/runtime-config';
import { configuredComponents } from '../runtime-config';
import { nagText } from '../vault-names';
import { controlPlaneFunction } from './control-plane';
import type { KmsKeyRef, ManifestKey } from './keys';
import { bucketArn } from './replication';
import { componentKeyPrefix } from './workers';

/**
 * Every 15 minutes: an RPO counts in hours, so a quarter of an hour is fine enough to page within the
 * hour of a breach, and about 3,000 short invocations a month (a listing and one manifest read per
 * component) cost next to nothing.
 */
export const BACKUP_AGE_PERIOD = Duration.minutes(15);
/**
 * An alarm needs this many consecutive 15-minute periods over the RPO (or without data): an hour. A daily
 * backup under a 24-hour RPO makes the newest complete backup slightly older than 24 hours while the next
 * one runs; one that completes within the hour never pages, and one missed publish does not page either.
 */
export const BACKUP_AGE_EVALUATION_PERIODS = 4;
/** Id of the synth warning for a component with neither a schedule nor a configured RPO. */
export const NO_RPO_WARNING = 'nca-backup:component-without-rpo';

export interface BackupAgeMonitorProps {
  readonly config: BackupConfig;
  /** The vault and the components' groups (infra/runtime-config.ts `vaultRuntimeConfig`), passed in the schedule's input. */
  readonly runtimeConfig: VaultRuntimeConfig;
  readonly dataKey: KmsKeyRef;
  readonly logKey: kms.IKey;
  /** Manifests are verified before their age counts (VerifyMac only). */
  readonly manifestKey: ManifestKey;
  /** The alarm topic (BackupAlarms.topic) the RPO alarms notify. */
  readonly topic: sns.ITopic;
}

export class BackupAgeMonitor extends Construct {
  readonly role: iam.Role;
  readonly function: nodejs.NodejsFunction;
  /** The RPO alarm of each component that has an RPO. */
  readonly alarms: Partial<Record<ComponentName, cloudwatch.Alarm>> = {};
  /** Each configured component's RPO, as passed to the function. */
  readonly rpos: Partial<Record<ComponentName, Rpo>> = {};

  constructor(scope: Construct, id: string, props: BackupAgeMonitorProps) {
    super(scope, id);
    const { config } = props;
    const components = configuredComponents(config);
    const rpoHours: Record<string, number> = {};
    for (const component of components) {
      const group = COMPONENT_GROUP[component];
      const rpo = rpoOf(config.verification, component, group, config.schedule[group]);
      this.rpos[component] = rpo;
      if (rpo.from === 'none') {
        Annotations.of(this).addWarningV2(
          NO_RPO_WARNING,
          `${component}: the ${group} group has no schedule and backup.verification.rpo sets none for it, so its backup age is published ` +
            `but nothing alarms on it. Set backup.verification.rpo.${component} (e.g. "7d") or a schedule for ${group} (README, "RPO monitoring").`,
        );
      } else {
        rpoHours[component] = rpo.hours;
      }
    }

    const bucket = bucketArn(config.storage.primary.bucket);
    const prefixes = components.map((c) => componentKeyPrefix(config, c));
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      description: 'nca-backup RPO monitoring: reads the newest trusted manifest of each component and publishes its age',
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    logGroup.grantWrite(this.role);
    if (prefixes.length > 0) {
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ sid: 'ListBackups', actions: ['s3:ListBucket'], resources: [bucket], conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } } }),
      );
      this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadManifests', actions: ['s3:GetObject'], resources: prefixes.map((p) => `${bucket}/${p}*/manifest.json`) }));
      props.manifestKey.grantVerifyMac(this.role);
      this.role.addToPrincipalPolicy(props.dataKey.s3Statement(['kms:Decrypt'], config.storage.primary.region));
      props.dataKey.acknowledgeAliasGrant(this.role);
      for (const p of prefixes) {
        Validations.of(this.role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(config.storage.primary.bucket)}/${p}*/manifest.json]`,
          reason: `Backups live at <backup id>/ under ${p} with ids generated per run; the function reads their manifest.json only.`,
        });
      }
    }
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishBackupAges',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRICS_NAMESPACE } },
      }),
    );
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        `cloudwatch:PutMetricData supports no resource-level permissions (it is narrowed to the ${METRICS_NAMESPACE} namespace by condition); ` +
        'X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) support none either.',
    });

    this.function = controlPlaneFunction(this, 'Function', {
      file: 'backup-age',
      description: 'publishes each component\'s backup age against its RPO (every 15 minutes)',
      timeout: Duration.minutes(2),
      role: this.role,
      logGroup,
    });
    new events.Rule(this, 'Schedule', {
      description: 'nca-backup: backup ages against RPOs, every 15 minutes',
      schedule: events.Schedule.rate(BACKUP_AGE_PERIOD),
      targets: [
        new targets.LambdaFunction(this.function, {
          retryAttempts: 0,
          event: events.RuleTargetInput.fromObject({ [RUNTIME_CONFIG_FIELD]: JSON.stringify(props.runtimeConfig), [RPO_HOURS_FIELD]: rpoHours }),
        }),
      ],
    });

    const action = new actions.SnsAction(props.topic);
    for (const [component, hours] of Object.entries(rpoHours) as [ComponentName, number][]) {
      const rpo = this.rpos[component]!;
      const alarm = new cloudwatch.Alarm(this, `Rpo-${component}`, {
        alarmDescription:
          `nca-backup: ${component} has no trusted backup younger than its RPO of ${hours} hours (${rpo.from === 'configured' ? 'backup.verification.rpo' : rpo.from === 'runbook' ? 'the runbook\'s' : 'its schedule\'s period plus a margin'}), ` +
          `or none at all, or its age was not published for an hour (see the backup-age function's log). Check the backup state machine's recent executions for ${component}.`,
        metric: new cloudwatch.Metric({
          namespace: METRICS_NAMESPACE,
          metricName: BACKUP_AGE_METRIC,
          dimensionsMap: { [COMPONENT_DIMENSION]: component },
          statistic: cloudwatch.Stats.MAXIMUM,
          period: BACKUP_AGE_PERIOD,
        }),
        threshold: hours,
        evaluationPeriods: BACKUP_AGE_EVALUATION_PERIODS,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      alarm.addAlarmAction(action);
      this.alarms[component] = alarm;
    }
  }
}
