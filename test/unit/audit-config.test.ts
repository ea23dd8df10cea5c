/** backup.audit: an existing trail instead of the stack's, the operator role's MFA age, how long audit records are kept. */
import { DEFAULT_AUDIT, auditOf } from '../../config/audit';
import { COMPONENTS } from '../../config/components';
import { ConfigError, parseBackupConfig } from '../../config/load';
import { thrown } from '../support/thrown';

const yaml = (section: string) => `backup:
  storage:
    primary: { type: s3, bucket: nca-test-primary, region: us-west-2, path: /backups }
    secondary: { type: s3, bucket: nca-test-secondary, region: eu-central-1, path: /backups }
${section}`;
const load = (section: string) => parseBackupConfig(yaml(section), { components: COMPONENTS });

describe('backup.audit', () => {
  test('absent: the stack\'s own trail, MFA at most an hour old, records kept 400 days', () => {
    expect(auditOf(load(''))).toEqual(DEFAULT_AUDIT);
    expect(DEFAULT_AUDIT).toEqual({ operatorMfaMaxAgeMinutes: 60, recordRetentionDays: 400 });
  });

  test('as written', () => {
    const config = load('  audit:\n    trail_arn: arn:aws:cloudtrail:us-east-1:123456789012:trail/org-trail\n    operator_mfa_max_age_minutes: 30\n    record_retention_days: 2555\n');
    expect(auditOf(config)).toEqual({ trailArn: 'arn:aws:cloudtrail:us-east-1:123456789012:trail/org-trail', operatorMfaMaxAgeMinutes: 30, recordRetentionDays: 2555 });
  });

  test('every wrong field is named with what is allowed', () => {
    const error = thrown(ConfigError, () => load('  audit:\n    trail_arn: org-trail\n    operator_mfa_max_age_minutes: 1\n    record_retention_days: 0\n    keep: forever\n'));
    expect(error.issues).toEqual([
      { path: 'backup.audit.keep', problem: expect.stringContaining('unknown key; allowed: trail_arn, operator_mfa_max_age_minutes, record_retention_days') },
      { path: 'backup.audit.trail_arn', problem: expect.stringContaining("'org-trail' is not a CloudTrail trail ARN") },
      { path: 'backup.audit.operator_mfa_max_age_minutes', problem: '1 is not a whole number from 5 to 720' },
      { path: 'backup.audit.record_retention_days', problem: '0 is not a whole number from 1 to 10950' },
    ]);
  });
});
