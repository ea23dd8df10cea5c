/**
 * The suite prints only for a failing test (test/support/quiet-environment.js): a jest of its own runs a
 * fixture with a passing and a failing test that both write to the console, stdout, stderr and the logger.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

function runFixture(): Promise<{ code: number; output: string }> {
  const config = {
    rootDir: ROOT,
    roots: ['<rootDir>/test/support'],
    testMatch: ['**/quiet-output.fixture.ts'],
    testEnvironment: '<rootDir>/test/support/quiet-environment.js',
    transform: { '^.+\\.ts$': '<rootDir>/test/support/esbuild-transform.js' },
  };
  const jest = require.resolve('jest/bin/jest', { paths: [ROOT] });
  return new Promise((resolve) => {
    execFile(process.execPath, [jest, '--config', JSON.stringify(config), '--ci', '--colors=false'], { cwd: ROOT, env: { ...process.env, NCA_LOG_LEVEL: 'info' } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
    });
  });
}

test('a passing test prints nothing; a failing one shows what it wrote under its name, and what the file wrote outside tests', async () => {
  const { code, output } = await runFixture();
  expect(code).toBe(1);
  expect(output).not.toContain('LEAK');
  expect(output).toMatch(/output of .*quiet-output\.fixture\.ts › fails ──\nconsole\.warn: SHOWN console\.warn\nSHOWN stderr\n\{"time":"[^"]+","level":"warn","message":"SHOWN logger","component":"fixture"\}\n── end of output ──/);
  expect(output).toMatch(/output of .*quiet-output\.fixture\.ts › outside the tests ──\nconsole\.log: HELD-beforeAll\n── end of output ──/);
}, 60_000);
