/**
 * A configuration restore's plan: what a dry run shows and what apply writes, item by item, within the
 * configured scope and the asked names, and never a value.
 */
import type { ConfigSourceConfig } from '../../functions/components/config/descriptor';
import type { ConfigItem } from '../../functions/components/config/item';
import { globPattern } from '../../config/globs';
import { inScope, planRestore, type RestorePlan } from '../../functions/components/config/plan';

const scope: ConfigSourceConfig = {
  parameterPaths: ['/neuroca'],
  secrets: ['neuroca/', 'arn:aws:secretsmanager:us-east-1:000000000000:secret:integrations/slack-AbC123'],
  files: [{ bucket: 'nca-config', prefix: 'config/' }],
};

const KEY = 'arn:aws:kms:us-east-1:000000000000:key/11111111-2222-3333-4444-555555555555';
const param = (name: string, value: string, extra: Partial<ConfigItem> = {}): ConfigItem => ({ kind: 'parameter', name, type: 'String', value, version: '1', ...extra });
const secret = (name: string, value: string, extra: Partial<ConfigItem> = {}): ConfigItem => ({ kind: 'secret', name, value, version: 'v-1', ...extra });
const file = (name: string, value: string, extra: Partial<ConfigItem> = {}): ConfigItem => ({ kind: 'file', name, value, version: 'e1', ...extra });

const actions = (plan: RestorePlan) => plan.entries.map((e) => [e.kind, e.name, e.action]);

describe('every item gets one action', () => {
  const backup = [
    param('/neuroca/db/host', 'db-a.internal', { tags: { team: 'core' } }),
    param('/neuroca/db/password', 'pw-backup-7Qx', { type: 'SecureString', kmsKeyId: KEY, version: '3' }),
    param('/neuroca/cache/ttl', '300'),
    secret('neuroca/api', '{"token":"tok-backup-91"}', { version: 'v-old' }),
    file('s3://nca-config/config/app.yaml', 'level: info\n'),
  ];
  const current = [
    param('/neuroca/db/host', 'db-a.internal', { tags: { team: 'core', extra: 'kept' }, version: '2' }),
    param('/neuroca/db/password', 'pw-current-Zk2', { type: 'SecureString', kmsKeyId: KEY, version: '5' }),
    secret('neuroca/api', '{"token":"tok-backup-91"}', { version: 'v-new' }),
    secret('neuroca/new-integration', 'shh-current-44'),
    file('s3://nca-config/config/app.yaml', 'level: debug\n', { version: 'e2' }),
  ];

  test('add, change, unchanged and keep, with both versions and what differs', () => {
    const plan = planRestore(backup, current, scope, { prune: false });
    expect(plan.entries).toEqual([
      { kind: 'parameter', name: '/neuroca/cache/ttl', action: 'add', backupVersion: '1' },
      { kind: 'parameter', name: '/neuroca/db/host', action: 'unchanged', backupVersion: '1', currentVersion: '2' },
      { kind: 'parameter', name: '/neuroca/db/password', action: 'change', backupVersion: '3', currentVersion: '5', differences: ['value'] },
      { kind: 'secret', name: 'neuroca/api', action: 'unchanged', backupVersion: 'v-old', currentVersion: 'v-new' },
      { kind: 'secret', name: 'neuroca/new-integration', action: 'keep', currentVersion: 'v-1' },
      { kind: 'file', name: 's3://nca-config/config/app.yaml', action: 'change', backupVersion: 'e1', currentVersion: 'e2', differences: ['value'] },
    ]);
    expect(plan.summary).toEqual({ add: 1, change: 2, unchanged: 2, prune: 0, keep: 1, outsideScope: 0, problems: 0 });
  });

  test('with prune, an item absent from the backup is pruned instead of kept', () => {
    const plan = planRestore(backup, current, scope, { prune: true });
    expect(plan.entries.find((e) => e.name === 'neuroca/new-integration')?.action).toBe('prune');
    expect(plan.summary).toMatchObject({ prune: 1, keep: 0 });
  });

  test('the plan holds no value, no length and no digest of one', () => {
    const json = JSON.stringify([planRestore(backup, current, scope, { prune: true }), planRestore(backup, current, scope, { prune: false })]);
    for (const value of [...backup, ...current].map((i) => i.value)) {
      for (const part of [value, ...value.split(/[^A-Za-z0-9-]+/).filter((p) => p.length >= 3)]) expect(json).not.toContain(part);
    }
    expect(json).not.toMatch(/"(value|length|size|hash|sha256|digest)":/i);
  });
});

describe('what differs', () => {
  const only = (b: ConfigItem, c: ConfigItem) => planRestore([b], [c], scope, { prune: false }).entries[0];

  test('type, key, description and the backup\'s tags are compared; tags added since are not a change', () => {
    const base = param('/neuroca/x', 'same', { type: 'SecureString', kmsKeyId: KEY, description: 'd', tags: { a: '1' } });
    expect(only(base, { ...base, tags: { a: '1', b: '2' } }).action).toBe('unchanged');
    expect(only(base, { ...base, tags: { a: '2' } }).differences).toEqual(['tags']);
    expect(only(base, { ...base, kmsKeyId: 'alias/aws/ssm' }).differences).toEqual(['kmsKeyId']);
    expect(only(base, { ...base, description: 'other' }).differences).toEqual(['description']);
  });

  test('a file is compared by its bytes, whatever encoding holds them', () => {
    const text = file('s3://nca-config/config/a.env', 'A=1\n');
    expect(only(text, { ...text, value: Buffer.from('A=1\n').toString('base64'), encoding: 'base64' }).action).toBe('unchanged');
    expect(only(text, { ...text, value: Buffer.from('A=2\n').toString('base64'), encoding: 'base64' }).action).toBe('change');
  });
});

describe('problems are planned, so apply refuses them before any write', () => {
  test('a parameter type Parameter Store cannot change', () => {
    const entry = planRestore([param('/neuroca/z', 'a,b', { type: 'StringList' })], [param('/neuroca/z', 'a,b')], scope, { prune: false }).entries[0];
    expect(entry).toMatchObject({ action: 'change', differences: ['type'] });
    expect(entry.problem).toMatch(/cannot change a parameter's type \(String now, StringList in the backup\)/);
  });

  test('a SecureString whose key the backup does not know', () => {
    const plan = planRestore([param('/neuroca/s', 'x', { type: 'SecureString' })], [], scope, { prune: false });
    expect(plan.entries[0].problem).toMatch(/SecureString without the KMS key id/);
    expect(plan.summary.problems).toBe(1);
  });

  test('an unchanged item is no problem even when its backup would be', () => {
    const item = param('/neuroca/s', 'x', { type: 'SecureString' });
    expect(planRestore([item], [item], scope, { prune: false }).entries[0]).not.toHaveProperty('problem');
  });
});

describe('scope', () => {
  test('parameters under the paths, secrets by prefix or ARN, files under bucket and prefix', () => {
    expect(inScope({ kind: 'parameter', name: '/neuroca/db/host' }, scope)).toBe(true);
    expect(inScope({ kind: 'parameter', name: '/neurocasino/x' }, scope)).toBe(false);
    expect(inScope({ kind: 'parameter', name: '/other/x' }, scope)).toBe(false);
    expect(inScope({ kind: 'secret', name: 'neuroca/api' }, scope)).toBe(true);
    expect(inScope({ kind: 'secret', name: 'integrations/slack' }, scope)).toBe(true);
    expect(inScope({ kind: 'secret', name: 'integrations/github' }, scope)).toBe(false);
    expect(inScope({ kind: 'file', name: 's3://nca-config/config/app.yaml' }, scope)).toBe(true);
    expect(inScope({ kind: 'file', name: 's3://nca-config/other/app.yaml' }, scope)).toBe(false);
    expect(inScope({ kind: 'file', name: 's3://nca-config-2/config/app.yaml' }, scope)).toBe(false);
  });

  test('backup items outside the scope are listed apart and never planned; current ones outside it are never pruned', () => {
    const plan = planRestore([param('/other/a', '1'), secret('legacy/key', 'k')], [param('/other/b', '2'), secret('legacy/old', 'o')], scope, { prune: true });
    expect(plan.entries).toEqual([]);
    expect(plan.outsideScope).toEqual(['parameter:/other/a', 'secret:legacy/key']);
    expect(plan.summary.outsideScope).toBe(2);
  });
});

describe('names', () => {
  test('* stays within a segment, ** crosses them, and globs apply to s3:// names too', () => {
    expect(globPattern('/neuroca/db/*').test('/neuroca/db/host')).toBe(true);
    expect(globPattern('/neuroca/*').test('/neuroca/db/host')).toBe(false);
    expect(globPattern('/neuroca/**').test('/neuroca/db/host')).toBe(true);
    // "**/" also matches no directory: a file right under runs/ is in runs/**/events.*
    expect(globPattern('runs/**/events.*').test('runs/events.out')).toBe(true);
    expect(globPattern('runs/**/events.*').test('runs/a/b/events.out')).toBe(true);
    expect(globPattern('runs/**/events.*').test('runsx/events.out')).toBe(false);
    expect(globPattern('neuroca/api-?').test('neuroca/api-1')).toBe(true);
    expect(globPattern('s3://nca-config/config/*.yaml').test('s3://nca-config/config/app.yaml')).toBe(true);
    expect(globPattern('s3://nca-config/config/*.yaml').test('s3://nca-config/config/appXyaml')).toBe(false);
  });

  test('only matching items are planned, on both sides', () => {
    const backup = [param('/neuroca/db/host', 'a'), param('/neuroca/cache/ttl', '1'), file('s3://nca-config/config/app.yaml', 'x')];
    const current = [param('/neuroca/db/host', 'b'), param('/neuroca/db/extra', 'e'), param('/neuroca/cache/size', '2')];
    const plan = planRestore(backup, current, scope, { prune: true, names: ['/neuroca/db/*', 's3://nca-config/**'] });
    expect(actions(plan)).toEqual([
      ['parameter', '/neuroca/db/extra', 'prune'],
      ['parameter', '/neuroca/db/host', 'change'],
      ['file', 's3://nca-config/config/app.yaml', 'add'],
    ]);
  });
});
