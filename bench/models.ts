/**
 * `npx tsx bench/models.ts`: the models component on a generated model in S3 (s3rver behind the test
 * proxy, which computes the checksums S3 would): a few large shards and many small files.
 *  - first backup, second with nothing changed, third with one small file changed: time, bytes stored in the
 *    vault's blobs after each, and the worker's peak RSS (the CLI's own VmHWM, functions/core/peak-rss.ts);
 *  - baseline in the same run: a plain `aws s3 sync`-style loop (list, then one CopyObject per file, 8 at once,
 *    multipart UploadPartCopy above the single-copy limit) from the source to another bucket.
 * Targets: the second backup stores under 1% of the first's bytes and takes under 10% of its time; peak RSS
 * at most 256 MiB. Results: bench/results/models-<timestamp>.json.
 *
 * Options (env): NCA_BENCH_MODELS_MB (default 5120) total size; NCA_BENCH_MODELS_SMALL (default 200) small
 * files (16 KiB to 1 MiB) besides four equal shards.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createS3Client } from '../functions/core/storage';
import { forEachLimit } from '../functions/core/parallel';
import { serverSideCopy, COPY_OBJECT_LIMIT_BYTES, COPY_PART_BYTES } from '../functions/components/models/copy';
import { startS3 } from '../scripts/local-servers';
import { timed } from './timed';

const ROOT = join(__dirname, '..');
const MiB = 1024 * 1024;
const say = (line: string) => process.stderr.write(`bench models: ${line}\n`);
const TARGET_RSS_MIB = 256;

/** `bytes` of data unique to `seed`, generated as it streams (no file of that size in memory). */
function generated(bytes: number, seed: string): Readable {
  const block = randomBytes(MiB);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytes) return void this.push(null);
      const n = Math.min(MiB, bytes - sent);
      const chunk = Buffer.from(block.subarray(0, n));
      chunk.write(`${seed}:${sent}`, 0);
      sent += n;
      this.push(chunk);
    },
  });
}

async function sizeOf(s3: S3Client, bucket: string, prefix: string): Promise<{ objects: number; bytes: number }> {
  let objects = 0;
  let bytes = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      objects++;
      bytes += o.Size ?? 0;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return { objects, bytes };
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'nca-backup.js'), ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err = (err + chunk).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`nca-backup ${args[0]} exited ${code}: ${out}${err}`))));
  });
}

async function main(): Promise<void> {
  const totalMB = Number(process.env.NCA_BENCH_MODELS_MB ?? 5120);
  const smallCount = Number(process.env.NCA_BENCH_MODELS_SMALL ?? 200);
  const s3srv = await startS3();
  try {
    const s3 = createS3Client({ endpoint: s3srv.endpoint });
    for (const Bucket of ['bench-models', 'bench-vault', 'bench-sync']) await s3.send(new CreateBucketCommand({ Bucket }));
    const small: number[] = Array.from({ length: smallCount }, (_, i) => 16 * 1024 + ((i * 7919) % 1008) * 1024);
    const smallBytes = small.reduce((a, b) => a + b, 0);
    const shard = Math.floor((totalMB * MiB - smallBytes) / 4);
    say(`generating a ${totalMB} MB model: 4 shards of ${(shard / MiB).toFixed(0)} MiB and ${smallCount} small files`);
    for (let i = 0; i < 4; i++) {
      await new Upload({ client: s3, params: { Bucket: 'bench-models', Key: `llm/model-0000${i + 1}-of-00004.safetensors`, Body: generated(shard, `shard${i}`) }, partSize: 64 * MiB, queueSize: 2 }).done();
    }
    await forEachLimit(small, 8, async (size, i) => {
      await s3.send(new PutObjectCommand({ Bucket: 'bench-models', Key: `llm/files/part-${String(i).padStart(4, '0')}.json`, Body: randomBytes(size) }));
    });

    const dir = mkdtempSync(join(tmpdir(), 'nca-bench-models-'));
    mkdirSync(dir, { recursive: true });
    const yaml = join(dir, 'backup.yaml');
    writeFileSync(yaml, `backup:
  storage:
    primary: { type: "s3", bucket: "bench-vault", region: "us-west-2", path: "/backups", exact_name: true }
    secondary: { type: "s3", bucket: "bench-dr", region: "eu-central-1", path: "/backups" }
  sources:
    models:
      paths: ["s3://bench-models/llm/"]
`);
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NCA_S3_ENDPOINT: s3srv.endpoint,
      NCA_BUCKET: 'bench-vault',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-west-2',
      NCA_LOG_LEVEL: 'silent',
      NCA_MANIFEST_KEY_FILE: join(dir, 'manifest.key'),
    };

    say('baseline: list + one server-side copy per file, 8 at once');
    const baseline = await timed(async () => {
      const listed: { key: string; size: number }[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: 'bench-models', Prefix: 'llm/', ContinuationToken: token }));
        listed.push(...(page.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size ?? 0 })));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      await forEachLimit(listed, 8, async (o) => {
        await serverSideCopy(s3, { from: { bucket: 'bench-models', key: o.key }, to: { bucket: 'bench-sync', key: o.key }, size: o.size }, { copyLimitBytes: COPY_OBJECT_LIMIT_BYTES, partBytes: COPY_PART_BYTES });
      });
    });

    const runs: { step: string; ms: number; peakRssMiB: number; storedBlobs: number; storedBytes: number }[] = [];
    for (const step of ['first', 'unchanged', 'one small file changed'] as const) {
      if (step === 'one small file changed') await s3.send(new PutObjectCommand({ Bucket: 'bench-models', Key: 'llm/files/part-0000.json', Body: randomBytes(small[0]) }));
      say(`backup: ${step}`);
      const run = await timed(() => cli(['backup', 'models', '--config', yaml], env));
      const stored = await sizeOf(s3, 'bench-vault', 'backups/blobs/models/');
      runs.push({ step, ms: Math.round(run.ms), peakRssMiB: run.value.peakRssMiB, storedBlobs: stored.objects, storedBytes: stored.bytes });
    }
    const [first, second] = runs;
    const verdict = {
      secondStoresUnder1Percent: second.storedBytes - first.storedBytes < 0.01 * first.storedBytes,
      secondUnder10PercentTime: second.ms < 0.1 * first.ms,
      peakRssUnderTarget: runs.every((r) => r.peakRssMiB <= TARGET_RSS_MIB),
    };
    const report = {
      benchmark: 'models',
      at: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      model: { totalMB, shards: 4, shardMiB: Math.round(shard / MiB), smallFiles: smallCount },
      baselineCopyLoopMs: Math.round(baseline.ms),
      firstBackupVsBaseline: +(first.ms / baseline.ms).toFixed(3),
      runs,
      newBytesPerRun: runs.map((r, i) => r.storedBytes - (i === 0 ? 0 : runs[i - 1].storedBytes)),
      verdict,
    };
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench', 'results', `models-${report.at.replace(/[:.]/g, '-')}.json`), `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await s3srv.stop();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bench models failed: ${error.message}\n`);
  process.exitCode = 1;
});
