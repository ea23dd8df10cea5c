/** infra/app.ts as `cdk synth` runs it: configuration errors fail the synth with the field and problem. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildStacks, stackNames, synthFromEnvironment } from '../../infra/app';
import { configWith } from './fixture-config';
import { ConfigError, loadBackupConfig } from '../../config/load';

const ROOT = path.join(__dirname, '..', '..');

describe('stack names', () => {
  test('the default installation keeps NcaBackupPrimary and NcaBackupRecovery; another is prefixed with its name', () => {
    expect(stackNames('nca-backup')).toEqual({ primary: 'NcaBackupPrimary', recovery: 'NcaBackupRecovery' });
    const outdir = mkdtempSync(path.join(tmpdir(), 'nca-app-'));
    try {
      const { primary, recovery } = buildStacks(configWith((c) => (c.installation = 'archive-2')), { bundling: false, outdir });
      expect([primary.stackName, recovery.stackName]).toEqual(['archive-2-primary', 'archive-2-recovery']);
      // `cdk deploy NcaBackupPrimary` still selects it.
      expect([primary.node.id, recovery.node.id]).toEqual(['NcaBackupPrimary', 'NcaBackupRecovery']);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe('infra/app.ts', () => {
  test('a ConfigError fails the synth with its message, naming the file', () => {
    const printed: string[] = [];
    const load = (file: string) => {
      throw new ConfigError('backup.retention.database', `must be a whole number of days (in ${file})`);
    };
    const code = synthFromEnvironment({ NCA_BACKUP_CONFIG: 'conf/prod.yaml' }, load, (t) => printed.push(t));
    expect(code).toBe(1);
    expect(printed.join('')).toBe('conf/prod.yaml: backup.retention.database: must be a whole number of days (in conf/prod.yaml)\n');
  });

  test('other errors are not mistaken for configuration errors', () => {
    const load = () => {
      throw new TypeError('boom');
    };
    expect(() => synthFromEnvironment({}, load, () => undefined)).toThrow('boom');
  });

  test('run as `cdk synth` runs it, an invalid backup.yaml exits 1 with the ConfigError message', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nca-app-'));
    try {
      const file = path.join(dir, 'backup.yaml');
      writeFileSync(file, 'backup:\n  retention:\n    database: -3\n');
      let expected = '';
      try {
        loadBackupConfig(file);
      } catch (error) {
        expected = (error as Error).message;
      }
      expect(expected).not.toBe('');
      const run = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['infra/app.ts'], {
        cwd: ROOT,
        env: { ...process.env, NCA_BACKUP_CONFIG: file, CDK_OUTDIR: path.join(dir, 'out') },
        encoding: 'utf8',
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
