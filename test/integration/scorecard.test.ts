/**
 * The scorecard as people see it: drill records and backups in an s3rver vault, the page built from them
 * and read back from the bucket, then opened in headless Chromium (Debian's `chromium`, which
 * scripts/setup.sh installs) and judged by the DOM it renders: what it shows, and that a hostile cause
 * stays text.
 */
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drillRecordKey } from '../../config/vault-layout';
import type { EngineContext } from '../../functions/core/context';
import type { DrillResult } from '../../functions/core/drill';
import { silentLogger } from '../../functions/core/logger';
import { buildScorecard } from '../../functions/core/scorecard';
import { plantManifest, sampleManifest, testAuthenticator } from '../support/manifests';
import { testRuntimeConfig } from '../support/runtime-config';
import { readObject, testVault, TEST_KMS_KEY } from '../support/s3';

jest.setTimeout(90_000);

const HOUR = 3_600_000;
const NOW = new Date('2026-11-30T12:00:00.000Z');
const HOSTILE_CAUSE = 'no row read back <script>alert(1)</script>';
const OLDER = '20261101T060000Z-a1a1a1';
const NEWER = '20261115T060000Z-b2b2b2';

let workDir: string;
beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'nca-scorecard-'));
});
afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

/** The DOM headless Chromium builds from the page, after parsing and layout, serialized. */
function renderedDom(htmlFile: string): Promise<string> {
  const args = ['--headless', '--disable-gpu', '--no-sandbox', `--user-data-dir=${join(workDir, 'profile')}`, '--dump-dom', `file://${htmlFile}`];
  return new Promise((resolve, reject) => {
    execFile('chromium', args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT') {
        reject(new Error('chromium is missing: this test renders the scorecard in headless Chromium. Install Debian\'s chromium (bash scripts/setup.sh does, or: apt-get install -y chromium).'));
      } else if (error) {
        reject(new Error(`chromium failed (${error.message}):\n${stderr}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

function record(component: string, drillId: string, changes: Partial<DrillResult>): DrillResult {
  const startedAt = `${drillId.slice(0, 4)}-${drillId.slice(4, 6)}-${drillId.slice(6, 8)}T06:00:00.000Z`;
  return { drillId, component, succeeded: true, backupId: '20261101T020000Z-7f3a', restoreSeconds: 42.5, sandboxState: { state: 'dropped' }, startedAt, finishedAt: startedAt, ...changes };
}

/** The section of one component in the serialized DOM. */
function section(dom: string, component: string): string {
  const match = new RegExp(`<section [^>]*data-component="${component}"[^>]*>[\\s\\S]*?</section>`).exec(dom);
  if (!match) throw new Error(`no section of ${component} in the rendered page:\n${dom}`);
  return match[0];
}

test('the scorecard read back from the vault shows in a browser each component, its success rate, a hostile cause as text, and the problems', async () => {
  const { vault, client, bucket, sent } = await testVault();
  const config = testRuntimeConfig({
    bucket,
    components: {
      postgres: { group: 'database', source: { database: 'neuroca_db' } },
      redis: { group: 'database', source: { db: 0, keyPatterns: ['*'] } },
    },
  });
  const ctx: EngineContext = { config, vault, env: process.env, log: silentLogger, runner: 'test', now: () => NOW, authenticator: testAuthenticator() };
  // postgres: backed up 3 hours ago (RPO 24 h); drilled twice, the newer drill failed. redis: backed up 30 hours ago (RPO 24 h), drilled once.
  const authenticator = testAuthenticator();
  await plantManifest(vault, sampleManifest('database', 'postgres', '20261130T090000Z-7f3a', { startedAt: new Date(NOW.getTime() - 3 * HOUR).toISOString() }), { authenticator });
  await plantManifest(vault, sampleManifest('database', 'redis', '20261129T060000Z-7f3a', { startedAt: new Date(NOW.getTime() - 30 * HOUR).toISOString() }), { authenticator });
  await vault.putJson(drillRecordKey(OLDER, 'postgres'), record('postgres', OLDER, {}));
  await vault.putJson(drillRecordKey(NEWER, 'postgres'), record('postgres', NEWER, { succeeded: false, restoreSeconds: undefined, cause: { error: 'VerificationError', message: HOSTILE_CAUSE } }));
  await vault.putJson(drillRecordKey(OLDER, 'redis'), record('redis', OLDER, { restoreSeconds: 3 }));
  // A damaged record of a third component: shown as unreadable, not a crash.
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: vault.key(drillRecordKey(NEWER, 'mongodb')), Body: '{"drillId": "20261115T06' }));

  const built = await buildScorecard(ctx, { postgres: { rpoHours: 24, rtoHours: 4 }, redis: { rpoHours: 24, rtoHours: 4 } });

  expect(built).toEqual({ keys: ['reports/scorecard.html', `reports/drills/${NEWER}/scorecard.html`], status: 'problems', problems: 3 });
  const html = (await readObject(client, bucket, vault.key('reports/scorecard.html'))).toString('utf8');
  expect((await readObject(client, bucket, vault.key(`reports/drills/${NEWER}/scorecard.html`))).toString('utf8')).toBe(html);
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: vault.key('reports/scorecard.html') }));
  expect(head.ContentType).toBe('text/html; charset=utf-8');
  expect(sent.filter((s) => s.key?.endsWith('scorecard.html'))).toEqual(
    built.keys.map((key) => ({ command: 'PutObjectCommand', key: vault.key(key), sse: 'aws:kms', kmsKeyId: TEST_KMS_KEY })),
  );

  const file = join(workDir, 'scorecard.html');
  writeFileSync(file, html);
  const dom = await renderedDom(file);

  expect(dom).toMatch(/<header id="overall" data-status="problems" data-problems="3">/);
  expect(dom).toContain('<p class="state">3 problem(s)</p>');
  // The cause arrived as text: no script element anywhere, its markup escaped in a text node.
  expect(dom).not.toMatch(/<script/i);
  const postgres = section(dom, 'postgres');
  expect(postgres).toContain('data-status="problems" data-last-drill="failed"');
  expect(postgres).toContain('<span data-cause="">VerificationError: no row read back &lt;script&gt;alert(1)&lt;/script&gt;</span>');
  expect(postgres).toContain('<span data-success-rate="all" data-percent="50">50% (1 of 2)</span>');
  expect(postgres).toMatch(/<tr data-drill-id="20261115T060000Z-b2b2b2" data-status="failed">[\s\S]*?<\/tr>\s*<tr data-drill-id="20261101T060000Z-a1a1a1" data-status="succeeded">/);
  expect(postgres).toContain('3 h old (20261130T090000Z-7f3a) against an RPO of 24 h <span class="within">within the RPO</span>');
  const redis = section(dom, 'redis');
  expect(redis).toContain('data-status="problems" data-last-drill="succeeded" data-rto-state="within" data-age-state="breached"');
  expect(redis).toContain('<span data-success-rate="all" data-percent="100">100% (1 of 1)</span>');
  expect(redis).toContain('30 h old (20261129T060000Z-7f3a) against an RPO of 24 h <span class="breached">over the RPO</span>');
  const mongodb = section(dom, 'mongodb');
  expect(mongodb).toContain('data-last-drill="unreadable"');
  expect(mongodb).toContain(`reports/drills/${NEWER}/mongodb.json: not valid JSON`);
});
