/**
 * One place reads the environment (config/environment.ts): every variable nca-backup reads is in its
 * table, nothing else in config/, functions/ or infra/ reads one by name, and the operator documentation
 * names each NCA_ variable.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ENVIRONMENT, setting } from '../../config/environment';

const ROOT = resolve(__dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** `env.NAME` or `env['NAME']` read (not assigned: a child process's environment is built that way). */
const DIRECT_READ = /\benv(?:\.([A-Z][A-Z0-9_]+)\b|\[['"]([A-Z][A-Z0-9_]+)['"]\])(?!\s*=(?!=))/g;

describe('the environment', () => {
  test('an empty value reads as unset', () => {
    expect(setting({ NCA_BUCKET: '' }, 'bucket')).toBeUndefined();
    expect(setting({ NCA_BUCKET: 'b' }, 'bucket')).toBe('b');
  });

  test('is read in config/environment.ts only', () => {
    const reads = ['config', 'functions', 'infra'].flatMap((dir) => sources(join(ROOT, dir))).flatMap((file) =>
      relative(ROOT, file) === 'config/environment.ts'
        ? []
        : [...readFileSync(file, 'utf8').matchAll(DIRECT_READ)].map((match) => `${relative(ROOT, file)}: ${match[0]}`),
    );
    expect(reads).toEqual([]);
  });

  test('every NCA_ variable is documented for operators in the README', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const undocumented = Object.values(ENVIRONMENT).filter((name) => name.startsWith('NCA_') && !readme.includes(`\`${name}\``));
    expect(undocumented).toEqual([]);
  });
});
