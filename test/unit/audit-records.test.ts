/** The audit function's settings from its environment, where a record's key goes, and the CLI's record. */
import { auditRecordKey, cliAuditRecord, idsIn, parseAuditSettings } from '../../functions/core/audit';
import { InvalidInputError } from '../../functions/core/errors';
import { thrown } from '../support/thrown';

const SETTINGS = { bucket: 'neuroca-backups', prefix: 'backups/', kmsKeyId: 'arn:aws:kms:us-west-2:123456789012:alias/nca-backup', region: 'us-west-2', machines: { 'arn:aws:states:us-west-2:123456789012:stateMachine:R': 'restore' }, roles: {} };

describe('audit settings (NCA_AUDIT_SETTINGS)', () => {
  test('as the stack writes them', () => {
    expect(parseAuditSettings(JSON.stringify(SETTINGS))).toEqual(SETTINGS);
  });

  test.each([
    [undefined, 'NCA_AUDIT_SETTINGS is not set'],
    ['{', 'NCA_AUDIT_SETTINGS is not JSON'],
    [JSON.stringify({ ...SETTINGS, bucket: '' }), 'NCA_AUDIT_SETTINGS has no bucket'],
    [JSON.stringify({ ...SETTINGS, machines: { 'arn:x': 'wipe' } }), 'NCA_AUDIT_SETTINGS names arn:x with an unknown action wipe'],
  ])('%s is refused: %s', (value, message) => {
    expect(thrown(InvalidInputError, () => parseAuditSettings(value)).message).toContain(message);
  });
});

test('a record lives under audit/<date>/, named by its time and id, so a listing sorts by time', () => {
  expect(auditRecordKey({ time: '2026-12-01T03:19:58.000Z', id: '0123456789abcdef0123' })).toBe('audit/2026/12/01/20261201T031958Z-0123456789abcdef0123.json');
});

test('a CLI record names the local user and host, never an IAM identity it cannot know; a failure keeps its error', () => {
  const failed = cliAuditRecord({ action: 'restore', user: 'alice', host: 'ops-laptop', time: new Date('2026-12-01T03:00:00Z'), components: ['postgres'], backupIds: ['latest', '20261130T020000Z-7f3a'], error: Object.assign(new Error('fingerprint differs'), { name: 'VerificationError' }) });
  expect(failed).toMatchObject({ principal: 'cli alice@ops-laptop', trigger: 'cli', backupIds: ['20261130T020000Z-7f3a'], outcome: 'failed', error: { name: 'VerificationError', cause: 'fingerprint differs' } });
  const again = cliAuditRecord({ action: 'restore', user: 'alice', host: 'ops-laptop', time: new Date('2026-12-01T03:00:00Z'), components: ['postgres'], backupIds: [] });
  // Two runs in the same second are two records.
  expect(again.id).not.toBe(failed.id);
});

test('a restore-all names its system recovery point and the components its report lists; ids that are no backup ids are ignored', () => {
  const input = JSON.stringify({ systemId: '20261201T020000Z-7f3a9c', order: ['redis'] });
  const output = { report: { components: [{ component: 'postgres', backupId: '20261201T020000Z-7f3a9c' }, { component: 'redis', backupId: '../../etc' }] } };
  expect(idsIn(input, output)).toEqual({ backupIds: ['20261201T020000Z-7f3a9c'], components: ['postgres', 'redis'] });
});
