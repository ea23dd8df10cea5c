/** backup.verification: drill schedule and recovery point, sandbox lifetime, RPOs; and how long a schedule can leave a backup aging. */
import { COMPONENTS } from '../../config/components';
import { longestIntervalMs } from '../../config/cron';
import { ConfigError, parseBackupConfig } from '../../config/load';
import { DEFAULT_VERIFICATION, rpoOf } from '../../config/verification';
import { thrown } from '../support/thrown';

const yaml = (section: string) => `backup:
  storage:
    primary: { type: s3, bucket: nca-test-primary, region: us-west-2, path: /backups }
    secondary: { type: s3, bucket: nca-test-secondary, region: eu-central-1, path: /backups }
${section}`;
const load = (section: string) => parseBackupConfig(yaml(section), { components: COMPONENTS });
const issues = (section: string) => thrown(ConfigError, () => load(section)).issues;
const HOUR = 3_600_000;

describe('backup.verification', () => {
  test('absent: quarterly drills of the latest backup, sandboxes dropped, the runbook\'s RPOs', () => {
    expect(load('').verification).toEqual(DEFAULT_VERIFICATION);
    expect(DEFAULT_VERIFICATION.schedule).toEqual({ cron: '0 6 1 */3 *', expression: 'cron(0 6 1 1/3 ? *)' });
  });

  test('as written', () => {
    expect(load('  verification:\n    schedule: "0 3 * * 6"\n    recovery_point: random\n    window_days: 14\n    keep_hours: 24\n    rpo: { database: 12h, models: 2w, logs: 2d }\n').verification).toEqual({
      schedule: { cron: '0 3 * * 6', expression: 'cron(0 3 ? * SAT *)' },
      recoveryPoint: 'random',
      windowDays: 14,
      keepHours: 24,
      rpoHours: { database: 12, models: 336, logs: 48 },
      integrityCycleHours: 168,
      sandbox: {},
      samples: {},
      sanitize: {},
      rtoHours: {},
    });
  });

  test.each([
    ['    schedule: "0 6 31 2 *"', 'backup.verification.schedule', /never occurs/],
    ['    recovery_point: oldest', 'backup.verification.recovery_point', /latest, random/],
    ['    keep_hours: 1000', 'backup.verification.keep_hours', /from 0 to 336/],
    ['    rpo: { database: 24 }', 'backup.verification.rpo.database', /not a duration like 24h/],
    ['    rpo: { postgress: 24h }', 'backup.verification.rpo.postgress', /unknown key/],
    ['    sandbox: {}', 'backup.verification.sandbox', /unknown key/],
  ])('%s is refused at %s', (line, path, problem) => {
    expect(issues(`  verification:\n${line}\n`)).toEqual([expect.objectContaining({ path, problem: expect.stringMatching(problem) })]);
  });
});

describe('RPOs', () => {
  const schedule = (cron: string) => ({ cron, expression: '' });
  test('configured by component over group, then the runbook\'s, then the schedule\'s longest interval plus a tenth (at least 2 hours)', () => {
    const v = { ...DEFAULT_VERIFICATION, rpoHours: { database: 12, redis: 6 } };
    expect(rpoOf(v, 'redis', 'database')).toEqual({ hours: 6, from: 'configured' });
    expect(rpoOf(v, 'postgres', 'database')).toEqual({ hours: 12, from: 'configured' });
    expect(rpoOf(DEFAULT_VERIFICATION, 'memory', 'memory_tiers')).toEqual({ hours: 24, from: 'runbook' });
    expect(rpoOf(DEFAULT_VERIFICATION, 'config', 'configuration')).toEqual({ hours: 168, from: 'runbook' });
    expect(rpoOf(DEFAULT_VERIFICATION, 'models', 'model_weights', schedule('0 4 * * 0'))).toEqual({ hours: 185, from: 'schedule' });
    expect(rpoOf(DEFAULT_VERIFICATION, 'logs', 'logs', schedule('0 5 * * *'))).toEqual({ hours: 27, from: 'schedule' });
    expect(rpoOf(DEFAULT_VERIFICATION, 'logs', 'logs')).toEqual({ hours: 0, from: 'none' });
  });

  test.each([
    ['0 2 * * *', 24],
    ['0 1 * * 0', 168],
    ['0 4 * * 1-5', 72],
    ['*/15 * * * *', 0.25],
    ['0 6 1 */3 *', 92 * 24],
    ['@monthly', 31 * 24],
    ['0 0,12 * * *', 12],
  ])('the longest interval of %s is %d hours', (cron, hours) => {
    expect(longestIntervalMs(cron) / HOUR).toBe(hours);
  });
});
