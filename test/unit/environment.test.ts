/**
 * One place reads the environment (functions/core/environment.ts): every variable nca-backup reads is in
 * its table, nothing else in functions/ reads one by name, and the operator documentation names each
 * NCA_ variable.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ENVIRONMENT, setting } from '../../functions/core/environment';

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

  test('is read in functions/core/environment.ts only', () => {
    const reads = sources(join(ROOT, 'functions')).flatMap((file) =>
      relative(ROOT, file) === 'functions/core/environment.ts'
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
