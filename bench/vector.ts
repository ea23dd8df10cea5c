/**
 * `npx tsx bench/vector.ts` (or runVectorBench() from another bench): the vector component against raw
 * PostgreSQL tools on the same table in the same run.
 *  - data:    the NCA's memory table (memory_items) of 384-dimension embeddings — pgvector's vector(384)
 *             where the extension is installed, else real[] — to NCA_BENCH_VECTOR_MB (default 220) MB;
 *             a btree and a GIN index, no HNSW index (its build, after the load, costs the same whoever
 *             loads the rows, and would hide the difference measured here);
 *  - raw:     `pg_dump -Fc -t memory_items` to a file, `pg_restore --single-transaction` into an empty
 *             database (with the extension); and the same with `-Z0`, since random embeddings do not
 *             compress and rows.bin is not compressed either;
 *  - ours:    the backup with one cursor (NCA_STREAMS=1) and with parallel readers on one exported
 *             snapshot (NCA_BENCH_VECTOR_STREAMS, default parallelStreams()); the restore with batched
 *             INSERTs (the single-stream path before issue 16) and with binary COPY. Each into a
 *             filesystem sink/source computing SHA-256 as the vault does (no S3 in the path).
 * Ours runs in a child process (node --import tsx) so its peak RSS (VmHWM: functions/core/peak-rss.ts) is its own. Every
 * restore's fingerprint is compared with the backup's. MB/s is the table's size (heap, TOAST, indexes)
 * over the wall time. Results: bench/results/vector-<timestamp>.json.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { createLogger } from '../functions/core/logger';
import { parallelStreams } from '../functions/core/streams';
import { connectVector, vector } from '../functions/components/vector';
import { backupVector } from '../functions/components/vector/backup';
import { ROWS_PER_RANGE } from '../functions/components/vector/parallel-scan';
import { restoreVector } from '../functions/components/vector/restore';
import type { ArtifactRecord, Fingerprint } from '../functions/components/types';
import { startPostgres, type RunningPostgres } from '../scripts/local-servers';
import { timed } from './timed';
import { peakRssKiB } from '../functions/core/peak-rss';
import { fileSink, fileSource, runBenchWorker } from './worker-process';

const ROOT = join(__dirname, '..');
const run = promisify(execFile);
const say = (line: string) => process.stderr.write(`bench vector: ${line}\n`);
const DIMENSION = 384;
const TABLE = 'memory_items';

async function query(url: string, text: string, values: unknown[] = []): Promise<any[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}

async function pgvectorAvailable(url: string): Promise<boolean> {
  return (await query(url, "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).length === 1;
}

async function createDatabase(pg: RunningPostgres, name: string, pgvector: boolean): Promise<string> {
  await query(pg.url, `CREATE DATABASE "${name}"`);
  if (pgvector) await query(pg.urlFor(name), 'CREATE EXTENSION vector');
  return pg.urlFor(name);
}

/** Loads memories in batches until the table reaches `targetMB`; deterministic apart from random() embeddings. */
async function loadTable(url: string, targetMB: number, pgvector: boolean): Promise<{ rows: number; bytes: number }> {
  await query(
    url,
    `CREATE TABLE ${TABLE} (
       id text PRIMARY KEY, content jsonb NOT NULL, summary text, embedding ${pgvector ? `vector(${DIMENSION})` : 'real[]'}, metadata jsonb,
       created_at timestamptz NOT NULL, last_accessed timestamptz NOT NULL, access_count integer NOT NULL DEFAULT 0,
       decay_factor double precision DEFAULT 1.0, source text, associations jsonb)`,
  );
  const batch = 20000;
  let rows = 0;
  const size = async () => Number((await query(url, `SELECT pg_total_relation_size('${TABLE}') AS b`))[0].b);
  while ((await size()) < targetMB * 1e6) {
    await query(
      url,
      `INSERT INTO ${TABLE}
       SELECT 'mem-' || lpad(g::text, 9, '0'), jsonb_build_object('text', 'memory ' || g, 'role', 'user'), 'summary of memory ' || g,
              (SELECT array_agg(((random() - 0.5) * 2)::real) FROM generate_series(1, ${DIMENSION}) WHERE g > 0)${pgvector ? '::vector' : ''},
              jsonb_build_object('embedding_model', 'all-MiniLM-L6-v2', 'tags', jsonb_build_array('t' || (g % 7)), 'importance', round(random()::numeric, 3)),
              timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second', timestamptz '2026-02-01 00:00:00+00' + g * interval '1 second',
              g % 100, 1.0 / g, 'chat', CASE WHEN g % 5 = 0 THEN jsonb_build_array('mem-' || (g - 1)) END
       FROM generate_series($1::int + 1, $1::int + $2::int) g`,
      [rows, batch],
    );
    rows += batch;
  }
  await query(url, `CREATE INDEX ${TABLE}_created_at ON ${TABLE} (created_at)`);
  await query(url, `CREATE INDEX ${TABLE}_tags ON ${TABLE} USING gin ((metadata -> 'tags'))`);
  await query(url, `VACUUM ANALYZE ${TABLE}`);
  return { rows, bytes: await size() };
}

// ---- the worker: one backup or restore in its own process, so its peak RSS is ours alone ----

interface WorkerInput {
  readonly mode: 'backup' | 'restore';
  readonly url: string;
  readonly database: string;
  readonly dir: string;
  readonly streams?: number;
  readonly load?: 'copy-binary' | 'insert';
  readonly records?: ArtifactRecord[];
}

async function worker(input: WorkerInput): Promise<void> {
  const target = await connectVector({ database: input.database, table: TABLE }, { NCA_VECTOR_URL: input.url });
  const log = createLogger({ bench: 'vector', worker: input.mode });
  if (input.mode === 'backup') {
    const { ms, value } = await timed(() => backupVector(target, fileSink(input.dir), log, { streams: input.streams!, rowsPerRange: ROWS_PER_RANGE }));
    process.stdout.write(JSON.stringify({ ms, artifacts: value.artifacts, report: value.report, fingerprint: value.fingerprint, maxRssKiB: peakRssKiB() }));
  } else {
    const { ms, value } = await timed(() => restoreVector(fileSource(input.dir, input.records!, 'vector'), target, {}, log, { load: input.load }));
    process.stdout.write(JSON.stringify({ ms, details: value.details, maxRssKiB: peakRssKiB() }));
  }
}

function runWorker(input: WorkerInput): Promise<any> {
  return runBenchWorker(__filename, input, { NCA_LOG_LEVEL: 'warn' });
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const mbps = (bytes: number, ms: number) => round(bytes / 1e6 / (ms / 1000));

function sameFingerprint(a: Fingerprint, b: Fingerprint): boolean {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...names].every((name) => a[name]?.count === b[name]?.count && a[name]?.digest === b[name]?.digest);
}

export async function runVectorBench(options: { targetMB?: number; streams?: number } = {}): Promise<Record<string, unknown>> {
  const targetMB = options.targetMB ?? Number(process.env.NCA_BENCH_VECTOR_MB ?? 220);
  const streams = options.streams ?? Number(process.env.NCA_BENCH_VECTOR_STREAMS ?? parallelStreams());
  const work = mkdtempSync(join(tmpdir(), 'nca-bench-vector-'));
  const pg = await startPostgres();
  try {
    const pgvector = await pgvectorAvailable(pg.url);
    const sourceUrl = await createDatabase(pg, 'vecbench', pgvector);
    say(`loading ${TABLE} to ${targetMB} MB (${pgvector ? `vector(${DIMENSION})` : `real[] of ${DIMENSION}: pgvector is not installed`})`);
    const load = await timed(() => loadTable(sourceUrl, targetMB, pgvector));
    const { rows, bytes } = load.value;
    say(`loaded ${rows} rows, ${round(bytes / 1e6)} MB in ${round(load.ms / 1000)} s`);
    const bin = (tool: string) => join(pg.binDir, tool);
    const dumpFile = join(work, 'raw.dump');

    say('raw pg_dump -Fc -t');
    const rawBackup = await timed(() => run(bin('pg_dump'), ['-Fc', '-t', TABLE, '-f', dumpFile, '-d', sourceUrl]));
    say('raw pg_restore --single-transaction');
    const rawUrl = await createDatabase(pg, 'vecraw', pgvector);
    const rawRestore = await timed(() => run(bin('pg_restore'), ['--no-owner', '--single-transaction', '-d', rawUrl, dumpFile]));
    const plainFile = join(work, 'raw-z0.dump');
    say('raw pg_dump -Fc -Z0 -t, pg_restore --single-transaction');
    const rawPlainBackup = await timed(() => run(bin('pg_dump'), ['-Fc', '-Z0', '-t', TABLE, '-f', plainFile, '-d', sourceUrl]));
    const rawPlainUrl = await createDatabase(pg, 'vecrawz0', pgvector);
    const rawPlainRestore = await timed(() => run(bin('pg_restore'), ['--no-owner', '--single-transaction', '-d', rawPlainUrl, plainFile]));

    const backups: Record<string, any> = {};
    for (const [name, n] of [['singleStream', 1], ['parallel', streams]] as const) {
      say(`nca-backup vector backup, ${n} stream(s) (child process, filesystem sink)`);
      const dir = join(work, name);
      mkdirSync(dir);
      backups[name] = { ...(await runWorker({ mode: 'backup', url: pg.url, database: 'vecbench', dir, streams: n })), dir };
    }
    const sameArtifacts = JSON.stringify(backups.singleStream.artifacts) === JSON.stringify(backups.parallel.artifacts);

    const restores: Record<string, any> = {};
    for (const [name, load] of [['insert', 'insert'], ['copyBinary', 'copy-binary']] as const) {
      say(`nca-backup vector restore with ${load} (child process)`);
      const database = `vec_${name.toLowerCase()}`;
      await createDatabase(pg, database, pgvector);
      const restored = await runWorker({ mode: 'restore', url: pg.url, database, dir: backups.parallel.dir, load, records: backups.parallel.artifacts });
      const check = await vector.fingerprint(await connectVector({ database, table: TABLE }, { NCA_VECTOR_URL: pg.url }));
      restores[name] = { ...restored, fingerprintMatch: sameFingerprint(check, backups.parallel.fingerprint) };
    }

    const backupFigures = (b: any) => ({ ms: Math.round(b.ms), MBps: mbps(bytes, b.ms), ratioToRaw: round(b.ms / rawBackup.ms, 2), ratioToRawUncompressed: round(b.ms / rawPlainBackup.ms, 2), peakRssMiB: round(b.maxRssKiB / 1024), readers: b.report.readers, idRanges: b.report.idRanges });
    const restoreFigures = (r: any) => ({ ms: Math.round(r.ms), MBps: mbps(bytes, r.ms), ratioToRaw: round(r.ms / rawRestore.ms, 2), ratioToRawUncompressed: round(r.ms / rawPlainRestore.ms, 2), peakRssMiB: round(r.maxRssKiB / 1024), load: r.details.load, fingerprintMatch: r.fingerprintMatch });
    const report = {
      benchmark: 'vector',
      at: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      postgres: (await query(pg.url, 'SHOW server_version'))[0].server_version,
      sink: 'filesystem (SHA-256 computed as the vault does; no S3 in the path)',
      data: {
        table: TABLE,
        embedding: pgvector ? `vector(${DIMENSION})` : `real[${DIMENSION}]`,
        rows,
        tableBytes: bytes,
        loadMs: Math.round(load.ms),
        rawDumpBytes: statSync(dumpFile).size,
        rowsBinBytes: backups.parallel.artifacts.find((a: ArtifactRecord) => a.name === 'rows.bin').bytes,
      },
      backup: {
        raw: { tool: 'pg_dump -Fc -t', ms: Math.round(rawBackup.ms), MBps: mbps(bytes, rawBackup.ms) },
        rawUncompressed: { tool: 'pg_dump -Fc -Z0 -t', ms: Math.round(rawPlainBackup.ms), MBps: mbps(bytes, rawPlainBackup.ms) },
        singleStream: backupFigures(backups.singleStream),
        parallel: backupFigures(backups.parallel),
        parallelSpeedup: round(backups.singleStream.ms / backups.parallel.ms, 2),
        sameArtifacts,
        sameFingerprint: sameFingerprint(backups.singleStream.fingerprint, backups.parallel.fingerprint),
      },
      restore: {
        raw: { tool: 'pg_restore --single-transaction', ms: Math.round(rawRestore.ms), MBps: mbps(bytes, rawRestore.ms) },
        rawUncompressed: { tool: 'pg_restore --single-transaction (of the -Z0 dump)', ms: Math.round(rawPlainRestore.ms), MBps: mbps(bytes, rawPlainRestore.ms) },
        insert: restoreFigures(restores.insert),
        copyBinary: restoreFigures(restores.copyBinary),
        copySpeedup: round(restores.insert.ms / restores.copyBinary.ms, 2),
      },
    };
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    const out = join(ROOT, 'bench', 'results', `vector-${report.at.replace(/[:.]/g, '-')}.json`);
    writeFileSync(out, JSON.stringify(report, null, 2));
    say(`written to ${out}`);
    return report;
  } finally {
    await pg.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const job = process.argv.includes('--worker')
    ? worker(JSON.parse(process.env.NCA_BENCH_WORKER ?? '{}') as WorkerInput)
    : runVectorBench().then((report) => void process.stdout.write(`${JSON.stringify(report, null, 2)}\n`));
  job.catch((error: Error) => {
    process.stderr.write(`bench vector failed: ${error.stack}\n`);
    process.exitCode = 1;
  });
}
