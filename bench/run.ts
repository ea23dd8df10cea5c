/**
 * `npm run bench`: nca-backup against raw PostgreSQL tools on the same database in the same run.
 *  - backup:  raw single-stream `pg_dump -Fc -f file`, raw `pg_dump -Fd -j<streams> -f dir` (local disk), and
 *             `nca-backup backup postgres` (from PARALLEL_DUMP_MIN_BYTES with more than one stream: one
 *             schema archive and table-data archives, `streams` pg_dump processes at once in one exported
 *             snapshot, each streamed through SHA-256 into its own multipart upload to s3rver; below it one
 *             pg_dump -Fc stream; plus the snapshot fingerprint and manifest);
 *  - restore: raw `createdb` + `pg_restore --single-transaction` from that file, raw `createdb` +
 *             `pg_restore -j<streams>` from that directory, raw `pg_restore` fed the single archive from the
 *             bench's S3 endpoint ("raw from vault"), and the restore step of `nca-backup restore` (S3
 *             streams, SHA-256 checked, pg_restore into a staging database, the database's settings and
 *             grants applied, the staging database fingerprinted against the backup, then renamed into
 *             place), twice: into a new database, and in place over the existing one (the previous
 *             database renamed aside and kept, as by default; the bench drops it after).
 * The database: the sample NCA database plus MIXED_TABLES tables of geometric sizes (at least 20 tables).
 * Peak RSS is the worker process's own (VmHWM, functions/core/peak-rss.ts; pg_dump/pg_restore are processes of their own).
 * Results: bench/results/postgres-<timestamp>.json. Targets (issue 16): ours at least 1.8x faster than raw
 * single-stream and within 1.1x of raw -Fd -j<streams>, for backup and restore; peak RSS <= 256 MiB.
 *
 * Options (env): NCA_BENCH_SIZES_MB="256,1100" target database sizes in MB; NCA_STREAMS (default: the
 * machine's cores, at most 8) the streams ours and raw -j use.
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
import { parallelStreams } from '../functions/core/streams';

const ROOT = join(__dirname, '..');
const run = promisify(execFile);
const say = (line: string) => process.stderr.write(`bench: ${line}\n`);
const TARGET_SPEEDUP_VS_SINGLE = 1.8;
const TARGET_RATIO_TO_DIRECTORY = 1.1;
const TARGET_RSS_MIB = 256;
/** Tables added beside the sample database's, sizes a geometric series: with its own, more than 20 tables of mixed sizes. */
const MIXED_TABLES = 16;
/** The share of the database those tables hold; the sample's memory items fill the rest. */
const MIXED_SHARE = 0.4;

async function query(url: string, text: string): Promise<any[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

/** MIXED_TABLES tables of `totalBytes` together, each 1.4 times the one before, with an index each. */
async function addMixedTables(url: string, totalBytes: number): Promise<void> {
  const weights = Array.from({ length: MIXED_TABLES }, (_, i) => 1.4 ** i);
  const sum = weights.reduce((a, b) => a + b, 0);
  const bytesPerRow = 190; // measured: a row below with its tuple header and index entry share
  for (let i = 0; i < MIXED_TABLES; i++) {
    const rows = Math.max(100, Math.round((totalBytes * weights[i]) / sum / bytesPerRow));
    const name = `mixed_${String(i + 1).padStart(2, '0')}`;
    await query(url, `CREATE TABLE ${name} (id bigint PRIMARY KEY, at timestamptz NOT NULL, label text NOT NULL, payload text NOT NULL, score numeric)`);
    for (let from = 1; from <= rows; from += 200_000) {
      const to = Math.min(rows, from + 199_999);
      await query(url, `INSERT INTO ${name} SELECT g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second', 'label ' || (g % 1000),
        md5(g::text) || md5(random()::text) || md5(random()::text), round((random() * 1000)::numeric, 3) FROM generate_series(${from}, ${to}) g`);
    }
    await query(url, `CREATE INDEX ${name}_at ON ${name} (at)`);
  }
}

const databaseSize = async (url: string) => Number((await query(url, 'SELECT pg_database_size(current_database()) AS b'))[0].b);

/** Loads the mixed tables, then sample rows until the database reaches the wanted size (the sample's size per row measured first). */
async function loadDatabase(pg: RunningPostgres, name: string, targetMB: number): Promise<number> {
  const probe = `${name}_probe`;
  await query(pg.url, `CREATE DATABASE "${probe}"`);
  const probeRows = 20000;
  const empty = await databaseSize(pg.urlFor(probe));
  await loadSampleNcaDatabase(pg.urlFor(probe), { rows: probeRows });
  const perRow = (await databaseSize(pg.urlFor(probe)) - empty) / probeRows;
  await query(pg.url, `DROP DATABASE "${probe}"`);
  await query(pg.url, `CREATE DATABASE "${name}"`);
  await addMixedTables(pg.urlFor(name), targetMB * 1e6 * MIXED_SHARE);
  const rows = Math.ceil(Math.max(0, targetMB * 1e6 - (await databaseSize(pg.urlFor(name)))) / perRow);
  await loadSampleNcaDatabase(pg.urlFor(name), { rows });
  await query(pg.urlFor(name), 'VACUUM ANALYZE');
  return databaseSize(pg.urlFor(name));
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

/** The manifest of a backup in the bench vault (the layout and codec it records under source.dump). */
async function manifestOf(s3: S3Client, bucket: string, backupId: string | undefined): Promise<any> {
  if (!backupId) return undefined;
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'backups/' }));
  const key = (listed.Contents ?? []).map((o) => o.Key ?? '').find((k) => k.endsWith(`/${backupId}/manifest.json`));
  if (!key) return undefined;
  const { Body } = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await (Body as any).transformToString());
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
  const streams = parallelStreams();
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
      const dir = join(work, `${db}.dir`);
      await settle();
      say(`raw pg_dump -Fd -j${streams} to a local directory`);
      const rawDirDump = await timed(() => run(pgDump, ['-Fd', `-j${streams}`, '-f', dir, '-d', pg.urlFor(db)]));
      const dirBytes = Number((await run('du', ['-sb', dir])).stdout.split('\t')[0]);
      await settle();
      say('nca-backup backup postgres');
      const ours = await timed(() => cli(['backup', 'postgres'], env));
      const layout = ours.value.source?.dump ?? (await manifestOf(s3Client, bucket, ours.value.backupId))?.source?.dump;

      await settle();
      say('raw createdb + pg_restore into a new database');
      // Both sides create the target database: nca-backup's restore step does it when the target is missing.
      const rawRestore = await timed(async () => {
        await query(pg.url, `CREATE DATABASE "${db}_raw"`);
        return run(pgRestore, ['--no-owner', '--no-privileges', '--single-transaction', '--exit-on-error', '-d', pg.urlFor(`${db}_raw`), file]);
      });
      // Raw pg_restore fed our single archive from the vault: only where our backup is one archive (the
      // per-table layout's <db>.dump holds no listed table's rows).
      let rawFromVault: { ms: number } | undefined;
      if (layout?.layout !== 'per-table') {
        await settle();
        say('raw createdb + pg_restore from the vault (the same archive, GetObject piped to stdin)');
        const archiveKey = await artifactKey(s3Client, bucket, `${db}.dump`);
        rawFromVault = await timed(async () => {
          await query(pg.url, `CREATE DATABASE "${db}_rawvault"`);
          await rawRestoreFromVault(s3Client, bucket, archiveKey, pgRestore, pg.urlFor(`${db}_rawvault`));
        });
        await query(pg.url, `DROP DATABASE "${db}_rawvault"`);
      }
      await settle();
      say(`raw createdb + pg_restore -j${streams} from the local directory`);
      const rawDirRestore = await timed(async () => {
        await query(pg.url, `CREATE DATABASE "${db}_rawdir"`);
        return run(pgRestore, ['--no-owner', '--no-privileges', '--exit-on-error', `-j${streams}`, '-d', pg.urlFor(`${db}_rawdir`), dir]);
      });
      await query(pg.url, `DROP DATABASE "${db}_rawdir"`);
      rmSync(dir, { recursive: true, force: true });
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

      const speedup = (raw: number, ours: number) => Math.round((raw / ours) * 1000) / 1000;
      const entry = {
        databaseBytes: dbBytes,
        tables: Number((await query(pg.urlFor(db), `SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')`))[0].n),
        streams,
        layout,
        dumpBytes,
        dirBytes,
        backup: {
          rawSingleMs: Math.round(rawDump.ms),
          rawDirectoryMs: Math.round(rawDirDump.ms),
          // The backup itself (dumps + fingerprint + uploads + manifest), as the manifest records it; the
          // CLI process start (Node, tsx, SDK load: a cold start's worth) is in the end-to-end figure.
          oursBackupStepMs: ours.value.durationMs,
          oursEndToEndMs: Math.round(ours.ms),
          rawSingleMBps: mbps(dbBytes, rawDump.ms),
          rawDirectoryMBps: mbps(dbBytes, rawDirDump.ms),
          oursMBps: mbps(dbBytes, ours.value.durationMs),
          speedupVsRawSingle: speedup(rawDump.ms, ours.value.durationMs),
          ratioToRawDirectory: ratio(ours.value.durationMs, rawDirDump.ms),
          endToEndSpeedupVsRawSingle: speedup(rawDump.ms, ours.ms),
          oursPeakRssMiB: ours.value.peakRssMiB,
        },
        restore: {
          rawSingleMs: Math.round(rawRestore.ms),
          rawDirectoryMs: Math.round(rawDirRestore.ms),
          rawFromVaultMs: rawFromVault && Math.round(rawFromVault.ms),
          oursRestoreStepMs: restored.value.restoreDurationMs,
          oursEndToEndMs: Math.round(restored.ms),
          verificationMs: restored.value.verification.durationMs,
          rawSingleMBps: mbps(dbBytes, rawRestore.ms),
          oursMBps: mbps(dbBytes, restored.value.restoreDurationMs),
          speedupVsRawSingle: speedup(rawRestore.ms, restored.value.restoreDurationMs),
          ratioToRawDirectory: ratio(restored.value.restoreDurationMs, rawDirRestore.ms),
          endToEndSpeedupVsRawSingle: speedup(rawRestore.ms, restored.ms),
          fingerprintMatch: restored.value.fingerprintMatch,
          oursPeakRssMiB: restored.value.peakRssMiB,
          // Inside the restore step: the schema archive fetched, pg_restore into the staging database, its fingerprint check, the rename.
          stepTimings: restored.value.details?.timings,
        },
        restoreInPlace: {
          oursRestoreStepMs: inPlace.value.restoreDurationMs,
          oursEndToEndMs: Math.round(inPlace.ms),
          verificationMs: inPlace.value.verification.durationMs,
          speedupVsRawSingle: speedup(rawRestore.ms, inPlace.value.restoreDurationMs),
          ratioToRawDirectory: ratio(inPlace.value.restoreDurationMs, rawDirRestore.ms),
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
    backupSpeedupVsRawSingle: results.every((r) => r.backup.speedupVsRawSingle >= TARGET_SPEEDUP_VS_SINGLE),
    backupWithinRawDirectory: results.every((r) => r.backup.ratioToRawDirectory <= TARGET_RATIO_TO_DIRECTORY),
    restoreSpeedupVsRawSingle: results.every((r) => r.restore.speedupVsRawSingle >= TARGET_SPEEDUP_VS_SINGLE && r.restoreInPlace.speedupVsRawSingle >= TARGET_SPEEDUP_VS_SINGLE),
    restoreWithinRawDirectory: results.every((r) => r.restore.ratioToRawDirectory <= TARGET_RATIO_TO_DIRECTORY && r.restoreInPlace.ratioToRawDirectory <= TARGET_RATIO_TO_DIRECTORY),
    peakRssUnderTarget: results.every((r) => r.backup.oursPeakRssMiB <= TARGET_RSS_MIB && r.restore.oursPeakRssMiB <= TARGET_RSS_MIB && r.restoreInPlace.oursPeakRssMiB <= TARGET_RSS_MIB),
  };
  const report = {
    benchmark: 'postgres',
    at: new Date().toISOString(),
    node: process.version,
    cpus: require('node:os').cpus().length,
    targets: { speedupVsRawSingle: TARGET_SPEEDUP_VS_SINGLE, ratioToRawDirectory: TARGET_RATIO_TO_DIRECTORY, peakRssMiB: TARGET_RSS_MIB },
    verdict,
    results,
  };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  const out = join(ROOT, 'bench', 'results', `postgres-${report.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, JSON.stringify(report, null, 2));
  process.stdout.write(`${JSON.stringify(report, null, 2)}\nwritten to ${out}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`bench failed: ${error.stack}\n`);
  process.exitCode = 1;
});
