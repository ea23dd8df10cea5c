/**
 * Run only by test/unit/quiet-output.test.ts, in a jest of its own: one test that passes and one that
 * fails, both writing every way the code under test can (console, stdout, stderr, the JSON logger).
 */
import { createLogger } from '../../functions/core/logger';

beforeAll(() => console.log('HELD-beforeAll'));

test('passes', () => {
  console.log('LEAK console.log');
  console.error('LEAK console.error');
  process.stdout.write('LEAK stdout\n');
  process.stderr.write('LEAK stderr\n');
  createLogger({ component: 'fixture' }).info('LEAK logger');
});

test('fails', () => {
  console.warn('SHOWN console.warn');
  process.stderr.write('SHOWN stderr\n');
  createLogger({ component: 'fixture' }).warn('SHOWN logger');
  expect('the fixture').toBe('failing on purpose');
});
