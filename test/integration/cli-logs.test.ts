/**
 * The logs component from the command line: the real bin script in child processes takes three consecutive
 * logs backups of two log groups of the CloudWatch Logs substitute into s3rver, with events arriving in
 * between; restores their range to a directory (and is refused a target group outside the restore prefix);
 * and `verify logs` verifies the chain of their windows: whole; with a tampered manifest (untrusted, its windows
 * unknown); with an overwritten artifact (found only when the artifacts are re-read); and with the middle
 * backup's manifest deleted from the vault (a gap naming its span and the backups around it).
 */
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { newBackupId } from '../../functions/core/backup-id';
import { startCloudWatchLogsServer, type CloudWatchLogsServer } from '../support/cloudwatch-logs-server';
import { cliEnv, runCli, writeBackupYaml, type CliRun } from '../support/cli';
import { createTestBucket, testS3Client } from '../support/s3';

const APP = '/nca/app';
const AUDIT = '/nca/audit';
const HOUR = 60 * 60 * 1000;

let server: CloudWatchLogsServer;
let s3: S3Client;
let bucket: string;
let env: NodeJS.ProcessEnv;
let configFile: string;
/** The three backups, oldest first, with their manifests as written. */
const backups: { backupId: string; manifest: any }[] = [];

function cli(...args: string[]): Promise<CliRun> {
  return runCli(env, [...args, '--config', configFile]);
}

const manifestKey = (backupId: string) => `backups/logs/logs/${backupId}/manifest.json`;

async function objectBytes(key: string): Promise<Uint8Array> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return object.Body!.transformToByteArray();
}

const objectText = async (key: string) => Buffer.from(await objectBytes(key)).toString('utf8');

/** Puts the object at `key` back as it was when `run` is done, whatever `run` did to it. */
async function restoringObject(key: string, run: () => Promise<void>): Promise<void> {
  const original = await objectBytes(key);
  try {
    await run();
  } finally {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: original }));
  }
}

/** A window of a backup's manifest, for `source`. */
function windowOf(index: number, source: string): { start: number; end: number; count: number; artifact: string } {
  return backups[index].manifest.source.windows.find((w: { source: string }) => w.source === source);
}

const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  server = await startCloudWatchLogsServer();
  s3 = testS3Client();
  bucket = await createTestBucket(s3, 'clilogs');
  configFile = writeBackupYaml(
    `backup:
  storage:
    primary: { type: "s3", bucket: "neuroca-backups", region: "us-west-2", path: "/backups" }
    secondary: { type: "s3", bucket: "neuroca-dr-backups", region: "eu-central-1", path: "/backups" }
  sources:
    logs:
      log_groups: ["${APP}", "${AUDIT}"]
      settle_minutes: 0
`,
  );
  env = cliEnv(bucket, { NCA_LOGS_ENDPOINT: server.endpoint, AWS_REGION: 'us-west-2' });

  // Events ingested an hour before the first backup, then between each backup and the next (the windows
  // end at each backup's start: settle_minutes is 0). The audit group has nothing between the last two.
  const arrivals = [
    { [APP]: 5, [AUDIT]: 2 },
    { [APP]: 3, [AUDIT]: 1 },
    { [APP]: 2, [AUDIT]: 0 },
  ];
  for (const [i, counts] of arrivals.entries()) {
    const at = i === 0 ? Date.now() - HOUR : Date.now();
    for (const [group, count] of Object.entries(counts)) {
      server.putEvents(group, 'main', Array.from({ length: count }, (_, n) => ({ timestamp: at - 1000, message: `backup ${i + 1} event ${n}`, ingestionTime: at })));
    }
    // Suffixes in order: two backups taken in the same second still sort as taken.
    const backup = await cli('backup', 'logs', '--backup-id', newBackupId(new Date(), `b00${i + 1}`));
    expect(backup.code).toBe(0);
    backups.push({ backupId: backup.json.backupId, manifest: JSON.parse(await objectText(manifestKey(backup.json.backupId))) });
  }
});

afterAll(async () => {
  await server.stop();
});

describe('nca-backup verify logs', () => {
  test('three consecutive backups: no gap, no overlap, each source summed from its first start to its last end; exit 0', async () => {
    // The backups themselves meet: each window starts where the previous one ended.
    expect(windowOf(1, APP).start).toBe(windowOf(0, APP).end);
    expect(windowOf(2, APP).start).toBe(windowOf(1, APP).end);

    const verify = await cli('verify', 'logs');

    expect(verify.code).toBe(0);
    expect(verify.json).toEqual({
      component: 'logs',
      whole: true,
      backups: backups.map(({ backupId }, i) => ({ backupId, status: 'trusted', sources: 2, events: [7, 4, 2][i] })),
      sources: [
        { source: APP, kind: 'log-group', firstStart: iso(windowOf(0, APP).start), lastEnd: iso(windowOf(2, APP).end), windows: 3, events: 10, bytes: expect.any(Number), gaps: [], overlaps: [] },
        { source: AUDIT, kind: 'log-group', firstStart: iso(windowOf(0, AUDIT).start), lastEnd: iso(windowOf(2, AUDIT).end), windows: 3, events: 3, bytes: expect.any(Number), gaps: [], overlaps: [] },
      ],
      breaks: { gaps: 0, overlaps: 0, unusableManifests: 0, damagedArtifacts: 0 },
    });

    // With an id, verify logs still re-reads that one backup's artifacts.
    const one = await cli('verify', 'logs', '--backup-id', 'latest');
    expect(one.json).toMatchObject({ component: 'logs', backupId: backups[2].backupId, intact: true, artifacts: 2 });
  });

  test('restore logs --from --to --directory writes every event of the range as Athena-partitioned files; a target group outside the restore prefix exits 1 with nothing written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nca-cli-logs-'));
    try {
      const from = iso(windowOf(0, APP).start);
      const to = iso(windowOf(2, APP).end);
      const restore = await cli('restore', 'logs', '--backup-id', 'latest', '--from', from, '--to', to, '--directory', dir);
      expect(restore.code).toBe(0);
      expect(restore.json.fingerprintMatch).toBe(true);
      for (const group of [APP, AUDIT]) {
        const partition = join(dir, 'logs', `log_group=${encodeURIComponent(group)}`);
        const lines = readdirSync(partition, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .flatMap((e) => gunzipSync(readFileSync(join(e.parentPath, e.name))).toString('utf8').split('\n').filter(Boolean))
          .map((l) => JSON.parse(l).message)
          .sort();
        expect(lines).toEqual(server.eventsOf(group).map((e) => e.message).sort());
      }

      const refused = await cli('restore', 'logs', '--backup-id', 'latest', '--log-groups', APP, '--target-log-group', '/nca/app-copy');
      expect(refused.code).toBe(1);
      expect(refused.json).toMatchObject({ error: 'InvalidInputError', message: expect.stringContaining('restore_log_group_prefix') });
      expect(server.eventsOf('/nca/app-copy')).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a tampered manifest is reported untrusted, its windows unknown: exit 1 with an IntegrityError and the report', async () => {
    const first = backups[0].backupId;
    await restoringObject(manifestKey(first), async () => {
      const altered = { ...backups[0].manifest, source: { ...backups[0].manifest.source, windows: backups[0].manifest.source.windows.map((w: object) => ({ ...w, count: 0 })) } };
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: manifestKey(first), Body: JSON.stringify(altered) }));

      const verify = await cli('verify', 'logs');

      expect(verify.code).toBe(1);
      expect(verify.json).toMatchObject({ error: 'IntegrityError', component: 'logs', message: expect.stringContaining(`backup ${first}'s manifest is untrusted`) });
      const report = verify.json.result;
      expect(report.whole).toBe(false);
      expect(report.backups[0]).toEqual({ backupId: first, status: 'untrusted', problem: expect.any(String), key: expect.stringContaining(manifestKey(first)) });
      expect(report.breaks).toEqual({ gaps: 0, overlaps: 0, unusableManifests: 1, damagedArtifacts: 0 });
      // The chain walked is that of the two trusted backups: it starts where the first one's windows ended.
      expect(report.sources.find((s: { source: string }) => s.source === APP)).toMatchObject({ firstStart: iso(windowOf(1, APP).start), windows: 2, events: 5 });
    });
  });

  test('an overwritten artifact is found when the artifacts are re-read (--artifacts), not by the manifests alone', async () => {
    const last = backups[2];
    const artifactKey = `backups/logs/logs/${last.backupId}/${windowOf(2, APP).artifact}`;
    await restoringObject(artifactKey, async () => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: artifactKey, Body: 'overwritten' }));

      expect((await cli('verify', 'logs')).code).toBe(0);
      const verify = await cli('verify', 'logs', '--artifacts');

      expect(verify.code).toBe(1);
      expect(verify.json).toMatchObject({ error: 'IntegrityError', message: expect.stringContaining(`backup ${last.backupId}'s artifacts do not match its manifest`) });
      expect(verify.json.message).toContain(windowOf(2, APP).artifact);
      expect(verify.json.result.backups.map((b: { artifacts?: { intact: boolean } }) => b.artifacts?.intact)).toEqual([true, true, false]);
      expect(verify.json.result.breaks).toEqual({ gaps: 0, overlaps: 0, unusableManifests: 0, damagedArtifacts: 1 });
    });
    expect((await cli('verify', 'logs', '--artifacts')).code).toBe(0);
  });

  test('the middle backup\'s manifest deleted from the vault: a gap in each source over its windows, between the backups around it; exit 1', async () => {
    const [before, middle, after] = backups.map((b) => b.backupId);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: manifestKey(middle) }));

    const verify = await cli('verify', 'logs');

    expect(verify.code).toBe(1);
    const gap = (source: string) => ({ from: iso(windowOf(1, source).start), to: iso(windowOf(1, source).end), after: before, before: after });
    expect(verify.json).toMatchObject({
      error: 'IntegrityError',
      component: 'logs',
      message: expect.stringContaining(`a gap in "${APP}" from ${gap(APP).from} to ${gap(APP).to} between backups ${before} and ${after}`),
    });
    const report = verify.json.result;
    expect(report.backups.map((b: { backupId: string }) => b.backupId)).toEqual([before, after]);
    expect(report.sources.map((s: { source: string; gaps: unknown[]; overlaps: unknown[] }) => [s.source, s.gaps, s.overlaps])).toEqual([
      [APP, [gap(APP)], []],
      [AUDIT, [gap(AUDIT)], []],
    ]);
    expect(report.breaks).toEqual({ gaps: 2, overlaps: 0, unusableManifests: 0, damagedArtifacts: 0 });
  });
});
