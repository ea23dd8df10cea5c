/**
 * One EventBridge Scheduler schedule per group in backup.yaml `schedule`, each starting the backup state
 * machine with {"group": "<group>", "trigger": "scheduled"} in the configured time zone, and the restore
 * drills' (`backup.verification.schedule`) starting the drill state machine with {} (every configured
 * component). Failed starts are retried, then land in an encrypted dead-letter queue (which has its own
 * alarm). A scheduled group with no configured component gets no schedule and a synth warning instead: its
 * every run would fail in Plan and fire the failure alarm for nothing.
 */
import { Annotations, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { COMPONENT_GROUP, GROUPS, type ComponentName, type GroupName, type ScheduleConfig } from '../../config/types';

/** Attempts after the first failed StartExecution before the event goes to the dead-letter queue. */
export const SCHEDULE_RETRY_ATTEMPTS = 4;
/** A scheduled start older than this is not retried any more (the next schedule is closer). */
export const SCHEDULE_MAX_EVENT_AGE_SECONDS = 3600;
/** Id of the synth warning for a scheduled group without components (acknowledgeable with `cdk acknowledge`). */
export const EMPTY_GROUP_WARNING = 'nca-backup:schedule-without-components';

/** Why `group` gets no schedule, and what to do; undefined when one of `configured` backs it up. */
export function emptyGroupProblem(group: GroupName, configured: readonly ComponentName[]): string | undefined {
  if (configured.some((c) => COMPONENT_GROUP[c] === group)) return undefined;
  const known = (Object.keys(COMPONENT_GROUP) as ComponentName[]).filter((c) => COMPONENT_GROUP[c] === group);
  const skipped = `so it gets no schedule (every run would fail and fire the failure alarm)`;
  return known.length === 0
    ? `backup.schedule.${group}: no component backs up the ${group} group yet, ${skipped}. Remove the schedule from backup.yaml, or configure a component of that group once one exists.`
    : `backup.schedule.${group}: no component of the ${group} group is configured, ${skipped}. Remove the schedule from backup.yaml, or configure ${known.map((c) => `backup.sources.${c}`).join(' or ')}.`;
}

export interface BackupSchedulesProps {
  readonly schedule: Partial<Record<GroupName, ScheduleConfig>>;
  readonly timeZone: string;
  /** The components configured under backup.sources: a scheduled group with none of them gets no schedule. */
  readonly components: readonly ComponentName[];
  readonly stateMachine: sfn.IStateMachine;
  readonly queueKey: kms.IKey;
  /**
   * The restore drills' schedule (backup.verification.schedule) and the drill state machine it starts.
   * @default no drill schedule
   */
  readonly drills?: { readonly schedule: ScheduleConfig; readonly stateMachine: sfn.IStateMachine };
}

export class BackupSchedules extends Construct {
  readonly deadLetterQueue: sqs.Queue;
  readonly schedules: Partial<Record<GroupName, scheduler.CfnSchedule>> = {};
  /** The restore drills' schedule; absent without `drills` or without a configured component. */
  readonly drillSchedule?: scheduler.CfnSchedule;

  constructor(scope: Construct, id: string, props: BackupSchedulesProps) {
    super(scope, id);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.queueKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the backup schedules; an alarm fires on its first message.',
    });

    const role = new iam.Role(this, 'Role', {
      description: `nca-backup: EventBridge Scheduler starts the backup${props.drills ? ' and drill' : ''} state machine${props.drills ? 's' : ''}`,
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    });
    props.stateMachine.grantStartExecution(role);
    props.drills?.stateMachine.grantStartExecution(role);
    // Written out instead of grantSendMessages, which would also grant kms:ReEncrypt* and kms:GenerateDataKey*.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'DeadLetter', actions: ['sqs:SendMessage'], resources: [this.deadLetterQueue.queueArn] }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'DeadLetterEncryption', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [props.queueKey.keyArn] }),
    );

    for (const group of GROUPS) {
      const entry = props.schedule[group];
      if (!entry) continue;
      const problem = emptyGroupProblem(group, props.components);
      if (problem) {
        Annotations.of(this).addWarningV2(EMPTY_GROUP_WARNING, problem);
        continue;
      }
      this.schedules[group] = this.schedule(`Backup-${group}`, `${group} backup (backup.yaml: "${entry.cron}")`, entry, props.stateMachine, { group, trigger: 'scheduled' }, role, props.timeZone);
    }
    // Without a configured component there is nothing to drill: every run would fail in Plan.
    if (props.drills && props.components.length > 0) {
      const { schedule, stateMachine } = props.drills;
      // {}: every configured component, read from the runtime config the state machine carries, so the input stays tiny.
      this.drillSchedule = this.schedule('RestoreDrills', `restore drills (backup.yaml verification.schedule: "${schedule.cron}")`, schedule, stateMachine, {}, role, props.timeZone);
    }
  }

  private schedule(id: string, what: string, entry: ScheduleConfig, stateMachine: sfn.IStateMachine, input: object, role: iam.IRole, timeZone: string): scheduler.CfnSchedule {
    return new scheduler.CfnSchedule(this, id, {
      description: `nca-backup: ${what}`,
      scheduleExpression: entry.expression,
      scheduleExpressionTimezone: timeZone,
      flexibleTimeWindow: { mode: 'OFF' },
      state: 'ENABLED',
      target: {
        arn: stateMachine.stateMachineArn,
        roleArn: role.roleArn,
        input: JSON.stringify(input),
        retryPolicy: { maximumRetryAttempts: SCHEDULE_RETRY_ATTEMPTS, maximumEventAgeInSeconds: SCHEDULE_MAX_EVENT_AGE_SECONDS },
        deadLetterConfig: { arn: this.deadLetterQueue.queueArn },
      },
    });
  }
}
