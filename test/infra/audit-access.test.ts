/**
 * Audit and access in the templates: only the operator role, which needs MFA no older than the configured
 * age, may start restores and drills (every IAM policy of the stack scanned); the schedules' role starts only
 * backups and drills; the trail logs both vaults' object writes and deletes in every region; the vault
 * policies deny every s3:DeleteObject* action to all but the janitor and the break-glass role; the audit
 * function writes only the audit prefix, and its rules listen to the audited state machines and the vault.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { GUARDED_DELETE_ACTIONS, GUARDED_VERSION_ACTIONS } from '../../infra/constructs/backup-vault';
import { asArray, configWith, logicalId, render, statementsOfRole, synthTemplates } from './fixture-config';

const config = configWith((c) => {
  c.sources.redis = { db: 0, keyPatterns: ['*'] };
});
const { primary, recovery } = synthTemplates(config);
const existingTrail = synthTemplates(
  configWith((c) => {
    c.audit = { trailArn: 'arn:aws:cloudtrail:us-west-2:123456789012:trail/org-trail', operatorMfaMaxAgeMinutes: 30, recordRetentionDays: 90 };
  }),
).primary;

const resources = (template: Template, type: string) => Object.entries(template.findResources(type)) as [string, any][];
const machineId = (template: Template, fragment: string) => logicalId(template, 'AWS::StepFunctions::StateMachine', fragment);

/** Whether an IAM action pattern (`states:Start*`, `*`) covers `action`. */
function covers(pattern: string, action: string): boolean {
  return new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i').test(action);
}

/** Every role of `template` whose policies allow `action` on the state machine `machine` (or on `*`). */
function rolesAllowed(template: Template, action: string, machine: string): string[] {
  return resources(template, 'AWS::IAM::Role')
    .map(([id]) => id)
    .filter((role) =>
      statementsOfRole(template, role).some(
        (s) =>
          s.Effect === 'Allow' &&
          asArray<string>(s.Action).some((a) => covers(a, action)) &&
          asArray<unknown>(s.Resource).some((r) => r === '*' || JSON.stringify(r) === JSON.stringify({ Ref: machine }) || /stateMachine:\*/.test(render(r))),
      ),
    )
    .sort();
}

describe('operator role', () => {
  const operator = logicalId(primary, 'AWS::IAM::Role', 'OperatorRole');

  test('assumable by this account only with MFA no older than an hour, sessions of an hour', () => {
    const role = primary.toJSON().Resources[operator].Properties;
    expect(role.RoleName).toBe('nca-backup-operator');
    expect(role.MaxSessionDuration).toBe(3600);
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { AWS: expect.anything() },
        Condition: { Bool: { 'aws:MultiFactorAuthPresent': 'true' }, NumericLessThan: { 'aws:MultiFactorAuthAge': '3600' } },
      },
    ]);
    expect(render(role.AssumeRolePolicyDocument.Statement[0].Principal.AWS)).toBe('arn:aws:iam::<AccountId>:root');
  });

  test('backup.audit.operator_mfa_max_age_minutes sets the age; the session stays at IAM\'s shortest maximum', () => {
    const role = existingTrail.toJSON().Resources[logicalId(existingTrail, 'AWS::IAM::Role', 'OperatorRole')].Properties;
    expect(role.AssumeRolePolicyDocument.Statement[0].Condition.NumericLessThan).toEqual({ 'aws:MultiFactorAuthAge': '1800' });
    expect(role.MaxSessionDuration).toBe(3600);
  });

  test('a principal without MFA gets no session: no other statement of the trust policy lets anyone assume it', () => {
    const statements = primary.toJSON().Resources[operator].Properties.AssumeRolePolicyDocument.Statement;
    expect(statements.every((s: any) => s.Condition?.Bool?.['aws:MultiFactorAuthPresent'] === 'true' && s.Condition?.NumericLessThan?.['aws:MultiFactorAuthAge'])).toBe(true);
  });

  test('only the operator role may start restores and drills; the schedules\' role starts backups and drills only', () => {
    const restore = machineId(primary, 'WorkflowsRestore');
    const drills = machineId(primary, 'WorkflowsDrills');
    const backup = machineId(primary, 'WorkflowsBackup');
    const schedules = logicalId(primary, 'AWS::IAM::Role', 'SchedulesRole');
    const restoreAll = machineId(primary, 'WorkflowsSystemRestore');
    // The restore-all machine runs each component through the restore machine: its role is the one other starter.
    expect(rolesAllowed(primary, 'states:StartExecution', restore)).toEqual([operator, logicalId(primary, 'AWS::IAM::Role', 'WorkflowsSystemRestoreRole')].sort());
    expect(rolesAllowed(primary, 'states:StartExecution', restoreAll)).toEqual([operator]);
    expect(rolesAllowed(primary, 'states:StartExecution', drills)).toEqual([operator, schedules].sort());
    expect(rolesAllowed(primary, 'states:StartExecution', backup)).not.toContain(operator);
    expect(rolesAllowed(primary, 'states:StartExecution', backup)).toContain(schedules);
  });

  test('it may follow and stop those executions and read the drill reports, nothing in the vault besides', () => {
    const statements = statementsOfRole(primary, operator);
    const actions = statements.flatMap((s) => asArray<string>(s.Action));
    expect(actions).toEqual(expect.arrayContaining(['states:DescribeExecution', 'states:StopExecution', 'states:GetExecutionHistory', 's3:GetObject']));
    expect(actions.filter((a) => a.startsWith('s3:')).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    const read = statements.find((s) => s.Sid === 'ReadDrillReports');
    expect(render(read.Resource)).toBe('arn:<Partition>:s3:::neuroca-backups/backups/reports/*');
  });
});

describe('vault delete deny', () => {
  const denied = (template: Template) =>
    (Object.values(template.findResources('AWS::S3::BucketPolicy')) as any[])
      .filter((p) => JSON.stringify(p).includes('DenyDeletesButJanitorAndBreakGlass') || JSON.stringify(p).includes('DenyVersionDeletesButBreakGlass'))
      .map((p) => p.Properties.PolicyDocument.Statement.filter((s: any) => s.Effect === 'Deny' && s.Principal?.AWS === '*').flatMap((s: any) => asArray<string>(s.Action)));

  test.each([
    ['primary', primary],
    ['recovery', recovery],
  ])('the %s vault denies every s3:DeleteObject* action to everyone but the janitor and the break-glass role', (_name, template) => {
    const every = ['s3:DeleteObject', 's3:DeleteObjectTagging', 's3:DeleteObjectVersion', 's3:DeleteObjectVersionTagging'];
    expect([...GUARDED_DELETE_ACTIONS, ...GUARDED_VERSION_ACTIONS].filter((a) => a.startsWith('s3:DeleteObject')).sort()).toEqual(every);
    const policies = denied(template);
    expect(policies).toHaveLength(1);
    expect(policies[0]).toEqual(expect.arrayContaining(every));
  });
});

describe('audit trail', () => {
  test('multi-region, validated, write management events and both vaults\' object writes and deletes', () => {
    const [[, trail]] = resources(primary, 'AWS::CloudTrail::Trail');
    expect(trail.Properties).toMatchObject({ TrailName: 'nca-backup-audit', IsMultiRegionTrail: true, IncludeGlobalServiceEvents: true, EnableLogFileValidation: true, IsLogging: true });
    const selectors = trail.Properties.EventSelectors as any[];
    const data = selectors.find((s) => s.DataResources);
    expect(data).toMatchObject({ ReadWriteType: 'WriteOnly', IncludeManagementEvents: true });
    expect(data.DataResources[0].Type).toBe('AWS::S3::Object');
    const vault = resources(primary, 'AWS::S3::Bucket').find(([, b]) => b.Properties.BucketName === 'neuroca-backups')![0];
    expect(data.DataResources[0].Values.map(render)).toEqual([`<GetAtt:${vault}.Arn>/`, expect.stringMatching(/^arn:(aws|<Partition>):s3:::neuroca-dr-backups\/$/)]);
    expect(selectors.every((s) => s.ReadWriteType === 'WriteOnly')).toBe(true);
  });

  test('its log bucket: encrypted, versioned, TLS only, access-logged, kept', () => {
    const bucketId = render(resources(primary, 'AWS::CloudTrail::Trail')[0][1].Properties.S3BucketName).replace(/^<Ref:|>$/g, '');
    const bucket = primary.toJSON().Resources[bucketId];
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: expect.objectContaining({ LogFilePrefix: 'cloudtrail/nca-backup-audit/' }),
    });
  });

  test('backup.audit.trail_arn: no trail of its own, the output names the existing one', () => {
    expect(resources(existingTrail, 'AWS::CloudTrail::Trail')).toEqual([]);
    expect(existingTrail.toJSON().Outputs.AuditTrailArn.Value).toBe('arn:aws:cloudtrail:us-west-2:123456789012:trail/org-trail');
  });
});

describe('audit function', () => {
  const role = logicalId(primary, 'AWS::IAM::Role', 'AuditRole');

  test('writes the audit prefix only (no read, no delete), encrypts through S3, puts events on the default bus', () => {
    const statements = statementsOfRole(primary, role);
    const s3 = statements.filter((s) => asArray<string>(s.Action).some((a) => a.startsWith('s3:')));
    expect(s3).toEqual([expect.objectContaining({ Sid: 'WriteAuditRecords', Action: 's3:PutObject' })]);
    expect(render(s3[0].Resource)).toBe('arn:<Partition>:s3:::neuroca-backups/backups/audit/*');
    const put = statements.find((s) => s.Sid === 'SendAuditRecords');
    expect(render(put.Resource)).toBe('arn:<Partition>:events:us-west-2:<AccountId>:event-bus/default');
  });

  test('fed by the audited state machines\' ends and starts, the vault\'s deletes and lifecycle expirations', () => {
    const patterns = resources(primary, 'AWS::Events::Rule')
      .filter(([id]) => id.startsWith('Audit'))
      .map(([, r]) => r.Properties.EventPattern);
    expect(patterns.map((p) => p['detail-type'][0]).sort()).toEqual(['AWS API Call via CloudTrail', 'AWS API Call via CloudTrail', 'Object Deleted', 'Step Functions Execution Status Change']);
    const ends = patterns.find((p) => p['detail-type'][0] === 'Step Functions Execution Status Change');
    expect(ends.detail.stateMachineArn).toEqual(['WorkflowsBackup', 'WorkflowsRestore', 'WorkflowsDrills', 'WorkflowsSystemRestore'].map((f) => ({ Ref: machineId(primary, f) })));
    expect(ends.detail.status).toEqual(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);
    const expirations = patterns.find((p) => p['detail-type'][0] === 'Object Deleted');
    expect(expirations.detail).toEqual({ bucket: { name: ['neuroca-backups'] }, reason: ['Lifecycle Expiration'], object: { key: [{ 'anything-but': { prefix: 'backups/audit/' } }] } });
  });

  test('the vault sends its events to EventBridge and expires audit records after backup.audit.record_retention_days', () => {
    const vault = resources(primary, 'AWS::S3::Bucket').find(([, b]) => b.Properties.BucketName === 'neuroca-backups')![1];
    expect(vault.Properties.NotificationConfiguration).toEqual({ EventBridgeConfiguration: { EventBridgeEnabled: true } });
    expect(vault.Properties.LifecycleConfiguration.Rules).toContainEqual(expect.objectContaining({ Id: 'audit-records', Prefix: 'backups/audit/', ExpirationInDays: 400, Status: 'Enabled' }));
  });
});
