/**
 * Peak RSS as the benches and the CLI report it (functions/core/peak-rss.ts): a worker's own, even when
 * the process that spawned it holds far more memory than the worker ever uses.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { peakRssKiB, peakRssMiB } from '../../functions/core/peak-rss';

const linux = process.platform === 'linux';

(linux ? test : test.skip)('a child of a process holding 400 MiB reports its own peak, where getrusage maxRSS reports the parent\'s', () => {
  const held = Buffer.alloc(400 * 1024 * 1024, 1);
  const module = join(__dirname, '..', '..', 'functions', 'core', 'peak-rss.ts');
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', '-e', `const { peakRssKiB } = require(${JSON.stringify(module)}); process.stdout.write(JSON.stringify({ own: peakRssKiB(), maxRSS: process.resourceUsage().maxRSS }))`],
    { encoding: 'utf8' },
  );
  const { own, maxRSS } = JSON.parse(out) as { own: number; maxRSS: number };
  expect(held[held.length - 1]).toBe(1);
  // The kernel's inheritance this module works around, and the child's real figure (node + tsx: ~100 MiB).
  expect(maxRSS).toBeGreaterThan(400 * 1024);
  expect(own).toBeLessThan(250 * 1024);
  expect(own).toBeGreaterThan(10 * 1024);
});

test('this process\'s peak in KiB and MiB agree', () => {
  const kib = peakRssKiB();
  expect(kib).toBeGreaterThan(0);
  expect(Math.abs(peakRssMiB() - kib / 1024)).toBeLessThan(1);
});
