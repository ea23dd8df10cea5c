/**
 * `npm run bench`: nca-backup against raw PostgreSQL tools on the same database in the same run.
 *  - backup:  raw `pg_dump -Fc -f file` vs `nca-backup backup postgres` (pg_dump -Fc streamed through
 *             SHA-256 into a multipart upload to s3rver, plus the snapshot fingerprint and manifest);
 *  - restore: raw `createdb` + `pg_restore --no-owner --single-transaction -d db file` (and the same fed
 *             the archive from the bench's S3 endpoint, "raw from vault") vs the restore step
 *             of `nca-backup restore` (S3 stream, SHA-256 checked, pg_restore into a staging database,
 *             the database's settings and grants applied, the staging database fingerprinted against
 *             the backup, then renamed into place), twice: into a new database, and in place over the
 *             existing one (the previous database renamed aside and kept, as by default; the bench drops it after).
 * Peak RSS is the worker process's own (getrusage maxRSS), reported at two database sizes.
 * Results: bench/results/postgres-<timestamp>.json. Targets: ratio <= 1.15, peak RSS < 256 MiB.
 *
 * Options (env): NCA_BENCH_SIZES_MB="256,1100" target database sizes in MB.
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { createS3Client } from '../functions/core/storage';
import type { RuntimeConfig } from '../functions/core/runtime-config';
import { startPostgres, startS3, type RunningPostgres } from '../scripts/local-servers';
import { loadSampleNcaDatabase } from '../scripts/sample-nca-db';
import { timed } from './timed';

const ROOT = join(__dirname, '..');
const run = promisify(execFile);
const say = (line: string) => process.stderr.write(`bench: ${line}\n`);
const TARGET_RATIO = 1.15;
const TARGET_RSS_MIB = 256;

async function query(url: string, text: string): Promise<any[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

/** Loads rows until the database reaches the wanted size (the generator's size per row is measured first). */
async function loadDatabase(pg: RunningPostgres, name: string, targetMB: number): Promise<number> {
  await query(pg.url, `CREATE DATABASE "${name}"`);
  const probeRows = 20000;
  await loadSampleNcaDatabase(pg.urlFor(name), { rows: probeRows });
  const probeBytes = Number((await query(pg.urlFor(name), 'SELECT pg_database_size(current_database()) AS b'))[0].b);
  await query(pg.url, `DROP DATABASE "${name}"`);
  await query(pg.url, `CREATE DATABASE "${name}"`);
  const baseline = 8 * 1024 * 1024; // an empty database's catalog
  const rows = Math.ceil(probeRows * ((targetMB * 1e6 - baseline) / Math.max(1, probeBytes - baseline)));
  await loadSampleNcaDatabase(pg.urlFor(name), { rows });
  await query(pg.urlFor(name), 'VACUUM ANALYZE');
  return Number((await query(pg.urlFor(name), 'SELECT pg_database_size(current_database()) AS b'))[0].b);
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'nca-backup.js'), ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`nca-backup ${args[0]} exited ${code}: ${out}`))));
  });
}

/**
 * Raw pg_restore fed the very archive our restore reads, from the same S3 endpoint: GetObject's body piped
 * into its stdin, nothing else. On the bench machine the S3 substitute is a local process sharing the
 * cores; this baseline pays that cost too, so the ratio to it is the cost of what the restore adds
 * (checksum, staging, verification, swap). In AWS the bytes come from S3 and cost no local CPU.
 */
async function rawRestoreFromVault(s3: S3Client, bucket: string, key: string, pgRestore: string, url: string): Promise<void> {
  const { Body } = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const child = spawn(pgRestore, ['--no-owner', '--no-privileges', '--single-transaction', '--exit-on-error', '-d', url], { stdio: ['pipe', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg_restore exited ${code}`))));
  });
  await Promise.all([pipeline(Body as Readable, child.stdin), exited]);
}

async function artifactKey(s3: S3Client, bucket: string, name: string): Promise<string> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'backups/' }));
  const key = (listed.Contents ?? []).map((o) => o.Key ?? '').find((k) => k.endsWith(`/${name}`));
  if (!key) throw new Error(`no artifact ${name} in the bench vault`);
  return key;
}

const mbps = (bytes: number, ms: number) => Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10;
const ratio = (ours: number, raw: number) => Math.round((ours / raw) * 1000) / 1000;

async function main(): Promise<void> {
  const sizes = (process.env.NCA_BENCH_SIZES_MB ?? '256,1100').split(',').map(Number);
  const work = mkdtempSync(join(tmpdir(), 'nca-bench-'));
  const [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  const results: any[] = [];
  try {
    const bucket = 'nca-bench';
    const s3Client = createS3Client({ endpoint: s3.endpoint });
    await s3Client.send(new CreateBucketCommand({ Bucket: bucket }));
    const pgDump = join(pg.binDir, 'pg_dump');
    const pgRestore = join(pg.binDir, 'pg_restore');

    for (const sizeMB of sizes) {
      const db = `bench_${sizeMB}`;
      say(`loading ~${sizeMB} MB into ${db}`);
      const dbBytes = await loadDatabase(pg, db, sizeMB);
      say(`${db}: ${(dbBytes / 1e6).toFixed(0)} MB`);
      const config: RuntimeConfig = {
        bucket,
        prefix: 'backups/',
        kmsKeyId: 'arn:aws:kms:us-west-2:123456789012:key/bench',
        runner: { lambdaMaxBytes: 2 * 1024 ** 3, maxConcurrency: 1 },
        components: { postgres: { group: 'database', source: { database: db } } },
      };
      const env = { ...process.env, NCA_RUNTIME_CONFIG: JSON.stringify(config), NCA_S3_ENDPOINT: s3.endpoint, NCA_POSTGRES_URL: pg.url, NCA_PG_BIN_DIR: pg.binDir };

      const file = join(work, `${db}.dump`);
      // Every timed step starts from the same server state: dirty pages and WAL left by the step before
      // would otherwise be flushed by a checkpoint in the middle of whichever step comes next.
      const settle = () => query(pg.url, 'CHECKPOINT');
      await settle();
      say('raw pg_dump -Fc to a file');
      const rawDump = await timed(() => run(pgDump, ['-Fc', '-f', file, '-d', pg.urlFor(db)]));
      const dumpBytes = statSync(file).size;
      await settle();
      say('nca-backup backup postgres');
      const ours = await timed(() => cli(['backup', 'postgres'], env));

      await settle();
      say('raw createdb + pg_restore into a new database');
      // Both sides create the target database: nca-backup's restore step does it when the target is missing.
      const rawRestore = await timed(async () => {
        await query(pg.url, `CREATE DATABASE "${db}_raw"`);
        return run(pgRestore, ['--no-owner', '--no-privileges', '--single-transaction', '--exit-on-error', '-d', pg.urlFor(`${db}_raw`), file]);
      });
      await settle();
      say('raw createdb + pg_restore from the vault (the same archive, GetObject piped to stdin)');
      const archiveKey = await artifactKey(s3Client, bucket, `${db}.dump`);
      const rawFromVault = await timed(async () => {
        await query(pg.url, `CREATE DATABASE "${db}_rawvault"`);
        await rawRestoreFromVault(s3Client, bucket, archiveKey, pgRestore, pg.urlFor(`${db}_rawvault`));
      });
      await query(pg.url, `DROP DATABASE "${db}_rawvault"`);
      await settle();
      say('nca-backup restore postgres into a new database');
      const restored = await timed(() => cli(['restore', 'postgres', '--backup-id', 'latest', '--target-database', `${db}_ours`, '--skip-safety-backup'], env));
      await settle();
      say('nca-backup restore postgres in place (staging, verification, swap)');
      // With the default keepPreviousHours (24): the previous database is renamed aside, dropped here afterwards.
      const inPlace = await timed(() => cli(['restore', 'postgres', '--backup-id', 'latest', '--target-database', `${db}_ours`, '--skip-safety-backup'], env));
      await query(pg.url, `DROP DATABASE "${inPlace.value.details.previousKeptAs}"`);
      rmSync(file, { force: true });
      await query(pg.url, `DROP DATABASE "${db}_raw"`);
      await query(pg.url, `DROP DATABASE "${db}_ours"`);

      const entry = {
        databaseBytes: dbBytes,
        dumpBytes,
        backup: {
          rawMs: Math.round(rawDump.ms),
          // The backup itself (dump + fingerprint + upload + manifest), as the manifest records it; the
          // CLI process start (Node, tsx, SDK load: a cold start's worth) is in the end-to-end figure.
          oursBackupStepMs: ours.value.durationMs,
          oursEndToEndMs: Math.round(ours.ms),
          rawMBps: mbps(dbBytes, rawDump.ms),
          oursMBps: mbps(dbBytes, ours.value.durationMs),
          ratio: ratio(ours.value.durationMs, rawDump.ms),
          endToEndRatio: ratio(ours.ms, rawDump.ms),
          oursPeakRssMiB: ours.value.peakRssMiB,
        },
        restore: {
          rawMs: Math.round(rawRestore.ms),
          oursRestoreStepMs: restored.value.restoreDurationMs,
          oursEndToEndMs: Math.round(restored.ms),
          verificationMs: restored.value.verification.durationMs,
          rawMBps: mbps(dbBytes, rawRestore.ms),
          oursMBps: mbps(dbBytes, restored.value.restoreDurationMs),
          ratio: ratio(restored.value.restoreDurationMs, rawRestore.ms),
          rawFromVaultMs: Math.round(rawFromVault.ms),
          ratioToRawFromVault: ratio(restored.value.restoreDurationMs, rawFromVault.ms),
          endToEndRatio: ratio(restored.ms, rawRestore.ms),
          fingerprintMatch: restored.value.fingerprintMatch,
          oursPeakRssMiB: restored.value.peakRssMiB,
          // Inside the restore step: pg_restore into the staging database, its fingerprint check, the rename.
          stepTimings: restored.value.details?.timings,
        },
        restoreInPlace: {
          oursRestoreStepMs: inPlace.value.restoreDurationMs,
          oursEndToEndMs: Math.round(inPlace.ms),
          verificationMs: inPlace.value.verification.durationMs,
          ratio: ratio(inPlace.value.restoreDurationMs, rawRestore.ms),
          ratioToRawFromVault: ratio(inPlace.value.restoreDurationMs, rawFromVault.ms),
          replacedExisting: inPlace.value.replacedExisting,
          stepTimings: inPlace.value.details?.timings,
          fingerprintMatch: inPlace.value.fingerprintMatch,
          oursPeakRssMiB: inPlace.value.peakRssMiB,
        },
      };
      results.push(entry);
      say(JSON.stringify(entry));
      await query(pg.url, `DROP DATABASE "${db}"`);
    }
  } finally {
    await Promise.all([pg.stop(), s3.stop()]);
    rmSync(work, { recursive: true, force: true });
  }

  const verdict = {
    backupWithinRatio: results.every((r) => r.backup.ratio <= TARGET_RATIO),
    restoreWithinRatio: results.every((r) => r.restore.ratio <= TARGET_RATIO && r.restoreInPlace.ratio <= TARGET_RATIO),
    restoreWithinRatioToRawFromVault: results.every((r) => r.restore.ratioToRawFromVault <= TARGET_RATIO && r.restoreInPlace.ratioToRawFromVault <= TARGET_RATIO),
    peakRssUnderTarget: results.every((r) => r.backup.oursPeakRssMiB < TARGET_RSS_MIB && r.restore.oursPeakRssMiB < TARGET_RSS_MIB),
  };
  const report = { benchmark: 'postgres', at: new Date().toISOString(), node: process.version, cpus: require('node:os').cpus().length, targets: { ratio: TARGET_RATIO, peakRssMiB: TARGET_RSS_MIB }, verdict, results };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  const out = join(ROOT, 'bench', 'results', `postgres-${report.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, JSON.stringify(report, null, 2));
  process.stdout.write(`${JSON.stringify(report, null, 2)}\nwritten to ${out}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`bench failed: ${error.stack}\n`);
  process.exitCode = 1;
});
