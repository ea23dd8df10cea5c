/** The logs component's backup.yaml section, restore options, flags and worker grants. */
import { COMPONENTS, restoreFlags, workerGrantsOfComponent } from '../../config/components';
import { ConfigError, parseBackupConfig } from '../../config/load';
import { InvalidInputError } from '../../functions/core/errors';
import { parseLogsRestoreOptions } from '../../functions/components/logs/options';
import { thrown } from '../support/thrown';

const yaml = (section: string) => `backup:
  storage:
    primary: { type: s3, bucket: nca-test-primary, region: us-west-2, path: /backups }
    secondary: { type: s3, bucket: nca-test-secondary, region: eu-central-1, path: /backups }
  sources:
    logs: ${section}
`;
const load = (section: string) => parseBackupConfig(yaml(section), { components: COMPONENTS }).sources as Record<string, any>;
const issues = (section: string) => thrown(ConfigError, () => parseBackupConfig(yaml(section), { components: COMPONENTS })).issues;
const refusal = (raw: Record<string, unknown>) => thrown(InvalidInputError, () => parseLogsRestoreOptions(raw));
const scope = { partition: 'aws', account: '111122223333', region: 'us-west-2' };

describe('backup.sources.logs', () => {
  test('groups, prefixes and metric sets with their defaults', () => {
    expect(load('{ log_groups: ["/neuroca/audit"], log_group_prefixes: ["/aws/lambda/neuroca-"], metrics: [{ namespace: "NCA/Memory", dimensions: { Tier: ~ } }] }').logs).toEqual({
      logGroups: ['/neuroca/audit'],
      logGroupPrefixes: ['/aws/lambda/neuroca-'],
      metrics: [{ id: 'NCA-Memory', namespace: 'NCA/Memory', dimensions: [{ name: 'Tier' }], periodSeconds: 60, statistics: ['Average', 'Minimum', 'Maximum', 'Sum', 'SampleCount'] }],
      settleMinutes: 60,
      lateArrivalHours: 336,
      restoreLogGroupPrefix: '/nca-backup/restored/',
    });
  });

  test.each([
    ['{}', 'backup.sources.logs', /names nothing to back up/],
    ['{ log_groups: ["bad:name"] }', 'backup.sources.logs.log_groups[0]', /is not a log group name/],
    ['{ log_groups: ["/a", "/a"] }', 'backup.sources.logs.log_groups', /listed twice/],
    ['{ metrics: [{ namespace: CWAgent }, { namespace: CWAgent }] }', 'backup.sources.logs.metrics', /two metric sets have the id 'CWAgent'/],
    ['{ metrics: [{ namespace: CWAgent, period: 90 }] }', 'backup.sources.logs.metrics[0].period', /multiple of 60/],
    ['{ metrics: [{ period: 60 }] }', 'backup.sources.logs.metrics[0].namespace', /is required/],
    ['{ log_groups: ["/a"], lookback_days: 30 }', 'backup.sources.logs.lookback_days', /from 0 to 14/],
    ['{ log_groups: ["/a"], late_arrival_hours: 400 }', 'backup.sources.logs.late_arrival_hours', /from 0 to 336/],
    ['{ log_groups: ["/a"], restore_location: "neuroca-restores" }', 'backup.sources.logs.restore_location', /not an S3 URL/],
    ['{ log_group_prefixes: ["/nca-backup/"] }', 'backup.sources.logs.restore_log_group_prefix', /overlaps the backed-up '\/nca-backup\/'/],
    ['{ log_groups: ["/a"], retention: 3 }', 'backup.sources.logs.retention', /unknown key/],
  ])('%s is refused at %s', (section, path, problem) => {
    const found = issues(section);
    expect(found).toEqual([expect.objectContaining({ path, problem: expect.stringMatching(problem) })]);
  });
});

describe('logs restore options', () => {
  test('a range as ISO times or ms, the targets, and the result parses to itself', () => {
    const parsed = parseLogsRestoreOptions({ from: '2026-11-24T00:00:00Z', to: 1795996800000, logGroups: '/neuroca/api,/neuroca/audit', targetLogGroup: '/nca-backup/restored/api', targetPrefix: 's3://neuroca-log-restores/r/' });
    expect(parsed).toEqual({ from: Date.UTC(2026, 10, 24), to: 1795996800000, logGroups: ['/neuroca/api', '/neuroca/audit'], targetLogGroup: '/nca-backup/restored/api', targetPrefix: { bucket: 'neuroca-log-restores', prefix: 'r/' } });
    expect(parseLogsRestoreOptions(parsed as unknown as Record<string, unknown>)).toEqual(parsed);
  });

  test.each([
    [{ from: '2026-11-24T00:00:00Z' }, /options.from and options.to go together/],
    [{ from: '2026-11-24', to: '2026-11-25' }, /options.from "2026-11-24" is not a time/],
    [{ from: '2026-11-25T00:00:00Z', to: '2026-11-24T00:00:00Z' }, /options.to .* is not after options.from/],
    [{ targetPrefix: 's3://neuroca-restores/x/', directory: '/tmp/a' }, /both file targets/],
    [{ directory: 'relative/dir' }, /absolute directory/],
    [{ targetLogGroup: 'has:colon' }, /not a log group name/],
    [{ targetDatabase: 'x', paths: ['a'] }, /options.targetDatabase is not a restore option|options.paths is not a restore option/],
  ])('%j is refused', (raw, message) => {
    expect(refusal(raw).message).toMatch(message);
  });

  test('the CLI flags set the same keys', () => {
    const flags = restoreFlags();
    expect(['from', 'to', 'log-groups', 'target-log-group', 'target-prefix', 'directory'].map((f) => [f, flags.get(f)?.key, flags.get(f)?.components])).toEqual([
      ['from', 'from', ['logs']],
      ['to', 'to', ['logs']],
      ['log-groups', 'logGroups', ['logs']],
      ['target-log-group', 'targetLogGroup', ['logs']],
      ['target-prefix', 'targetPrefix', ['logs']],
      ['directory', 'directory', ['logs']],
    ]);
  });
});

describe('the logs worker grants', () => {
  const grants = (section: string) => workerGrantsOfComponent(load(section), 'logs', scope);

  test('reads only the configured groups and prefixes, writes only under the restore prefix and location', () => {
    const g = grants('{ log_groups: ["/neuroca/audit"], log_group_prefixes: ["/aws/lambda/neuroca-"], restore_location: "s3://neuroca-log-restores/restores/" }');
    const bySid = Object.fromEntries(g.map((s) => [s.sid, s]));
    expect(bySid.LogsRead.actions).toEqual(['logs:FilterLogEvents']);
    expect(bySid.LogsRead.resources).toEqual([
      'arn:aws:logs:us-west-2:111122223333:log-group:/neuroca/audit',
      'arn:aws:logs:us-west-2:111122223333:log-group:/neuroca/audit:*',
      'arn:aws:logs:us-west-2:111122223333:log-group:/aws/lambda/neuroca-*',
      'arn:aws:logs:us-west-2:111122223333:log-group:/aws/lambda/neuroca-*:*',
    ]);
    expect(bySid.LogsRestoreWrites.resources).toEqual(['arn:aws:logs:us-west-2:111122223333:log-group:/nca-backup/restored/*', 'arn:aws:logs:us-west-2:111122223333:log-group:/nca-backup/restored/*:*']);
    expect(bySid.LogsRestoreFiles.resources).toEqual(['arn:aws:s3:::neuroca-log-restores/restores/*']);
    expect(bySid.LogsRestoreListing.conditions).toEqual({ StringLike: { 's3:prefix': ['restores/*'] } });
    // No metric set, no CloudWatch grant; every wildcard says why.
    expect(bySid.MetricsRead).toBeUndefined();
    for (const s of g) if (s.resources.some((r) => r.includes('*'))) expect(s.wildcardReason).toBeTruthy();
  });

  test('a metric set adds GetMetricData and ListMetrics; no restore location, no S3 write', () => {
    const g = grants('{ metrics: [{ namespace: CWAgent }] }');
    expect(g.find((s) => s.sid === 'MetricsRead')?.actions).toEqual(['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics']);
    expect(g.some((s) => s.actions.some((a) => a.startsWith('s3:')))).toBe(false);
    expect(g.find((s) => s.sid === 'LogsRead')).toBeUndefined();
  });
});
