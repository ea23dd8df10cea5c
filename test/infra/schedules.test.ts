/**
 * EventBridge Scheduler: one schedule per scheduled group that has a configured component, in the configured
 * time zone, with retry and DLQ. (The warning for a group without one: warnings.test.ts.)
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { SCHEDULE_MAX_EVENT_AGE_SECONDS, SCHEDULE_RETRY_ATTEMPTS } from '../../infra/constructs/backup-schedules';
import { configWith, logicalId, statementsOfRole, synthTemplates } from './fixture-config';

/** The runbook's schedules, with the memory component configured (its semantic tier only) beside postgres. */
const WITH_MEMORY = configWith((c) => {
  c.sources.vector = { database: 'neuroca_db', table: 'semantic_memory' };
  c.sources.memory = { tiers: ['semantic'], workingNamespace: 'generic', episodicCollection: 'ltm_memories' };
});

/** The backup schedules by group (the drill schedule, whose input names none, is drills.test.ts's). */
function schedulesByGroup(template: Template): Record<string, any> {
  const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule')) as any[];
  return Object.fromEntries(schedules.filter((s) => 'group' in JSON.parse(s.Properties.Target.Input)).map((s) => [JSON.parse(s.Properties.Target.Input).group, s.Properties]));
}

describe('backup schedules', () => {
  const { primary } = synthTemplates(WITH_MEMORY);
  const schedules = schedulesByGroup(primary);
  const backupMachine = logicalId(primary, 'AWS::StepFunctions::StateMachine', 'Backup');
  const queue = logicalId(primary, 'AWS::SQS::Queue', 'DeadLetterQueue');

  test('one schedule per group in backup.yaml that a configured component backs up, with its expression, the time zone and the group as input', () => {
    // configuration and model_weights are scheduled too, but no component backs them up yet: every run would fail.
    expect(Object.fromEntries(Object.entries(schedules).map(([g, s]) => [g, s.ScheduleExpression]))).toEqual({
      database: 'cron(0 2 * * ? *)',
      memory_tiers: 'cron(0 3 * * ? *)',
    });
    for (const [group, s] of Object.entries(schedules)) {
      expect(s.ScheduleExpressionTimezone).toBe('UTC');
      expect(s.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
      expect(s.State).toBe('ENABLED');
      expect(JSON.parse(s.Target.Input)).toEqual({ group, trigger: 'scheduled' });
      expect(s.Target.Arn).toEqual({ Ref: backupMachine });
    }
  });

  test('failed starts are retried, then sent to an encrypted, TLS-only dead-letter queue', () => {
    for (const s of Object.values(schedules)) {
      expect(s.Target.RetryPolicy).toEqual({ MaximumRetryAttempts: SCHEDULE_RETRY_ATTEMPTS, MaximumEventAgeInSeconds: SCHEDULE_MAX_EVENT_AGE_SECONDS });
      expect(s.Target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [queue, 'Arn'] } });
    }
    primary.hasResourceProperties('AWS::SQS::Queue', { KmsMasterKeyId: { 'Fn::GetAtt': [logicalId(primary, 'AWS::KMS::Key', 'OperationsKey'), 'Arn'] } });
    const queuePolicy = Object.values(primary.findResources('AWS::SQS::QueuePolicy'))[0] as any;
    expect(queuePolicy.Properties.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    primary.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1 });
  });

  test('the schedules\' role may only start the backup and drill state machines and write to the DLQ', () => {
    const roleId = (Object.values(schedules)[0].Target.RoleArn as any)['Fn::GetAtt'][0];
    for (const s of Object.values(schedules)) expect(s.Target.RoleArn).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
    const statements = statementsOfRole(primary, roleId);
    const drillMachine = logicalId(primary, 'AWS::StepFunctions::StateMachine', 'WorkflowsDrills');
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'states:StartExecution', Resource: [{ Ref: backupMachine }, { Ref: drillMachine }] }));
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions.sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey', 'sqs:SendMessage', 'states:StartExecution']);
    primary.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'scheduler.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } }],
      },
    });
  });

  test('time zone and schedules follow the config', () => {
    const changed = schedulesByGroup(
      synthTemplates(
        configWith((c) => {
          c.timeZone = 'Europe/Berlin';
          c.schedule.database = { cron: '30 5 * * *', expression: 'cron(30 5 * * ? *)' };
          c.schedule.logs = { cron: '0 6 * * *', expression: 'cron(0 6 * * ? *)' };
        }),
      ).primary,
    );
    // Only postgres is configured: the database group alone has a component.
    expect(Object.keys(changed)).toEqual(['database']);
    expect(changed.database.ScheduleExpression).toBe('cron(30 5 * * ? *)');
    for (const s of Object.values(changed)) expect(s.ScheduleExpressionTimezone).toBe('Europe/Berlin');
  });
});
