/**
 * `npx tsx bench/mongodb.ts` (or runMongoBench() from another bench): the mongodb component's paths before
 * and after issue 16, on the same data in the same run, against the MongoDB wire-protocol substitute
 * (test/support/mongo-wire-server.ts; no MongoDB server installs here). The substitute is not MongoDB: its
 * figures are RELATIVE only (before vs after on the same substitute), never MongoDB throughput.
 *  - backup before: format 1 (format1.ts): every collection read twice (once to size its tar entry, once
 *    to stream it), one collection after another;
 *  - backup after:  format 2 (parts-writer.ts): every collection read once, parallelStreams() at a time;
 *  - restore before: the restore as it was (bench/mongodb-before.ts) of the format-1 archive: one batch of
 *    up to 1000 documents / 16 MiB in flight;
 *  - restore after: the restore of the format-2 archive, parallel batches.
 * Each backup writes into a filesystem sink that computes SHA-256 like the vault (no S3 in the path). Each
 * runs in a child process (node --import tsx) so its peak RSS (VmHWM: functions/core/peak-rss.ts) is its own; the source
 * substitute runs in this process, and each restore writes into a fresh substitute in a process of its own
 * (so the second restore does not pay for the first one's data in the substitute's heap). Each restored
 * database's fingerprint is compared with its backup's.
 * Results: bench/results/mongodb-<timestamp>.json.
 *
 * Options (env): NCA_BENCH_MONGODB_ROUNDS (default 3) rounds, alternating which path goes first, the median
 * reported with every sample; NCA_BENCH_MONGODB_MB (default 256) raw BSON loaded, as episodic memories of about 2.5 KB
 * (text, metadata, a 128-dimension embedding) over 8 collections of unequal sizes; NCA_STREAMS as for the
 * component (default: the cores, at most 8); NCA_BENCH_WORKER_NODE_OPTIONS, NODE_OPTIONS for the workers
 * (e.g. a heap cap, to show what the worker needs rather than what V8 lets grow on a large machine).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BSON, MongoClient, type Document } from 'mongodb';
import { createLogger } from '../functions/core/logger';
import { parallelStreams } from '../functions/core/streams';
import { connectMongo, mongodb } from '../functions/components/mongodb';
import { backupMongo } from '../functions/components/mongodb/backup';
import { FORMAT1_WRITER } from '../functions/components/mongodb/format1';
import type { ArtifactRecord, Fingerprint } from '../functions/components/types';
import { startMongoWireServer } from '../test/support/mongo-wire-server';
import { restoreMongoBefore } from './mongodb-before';
import { timed } from './timed';
import { peakRssKiB } from '../functions/core/peak-rss';
import { fileSink, fileSource, runBenchWorker } from './worker-process';

const ROOT = join(__dirname, '..');
const say = (line: string) => process.stderr.write(`bench mongodb: ${line}\n`);
const { Double, Int32, Long, ObjectId } = BSON;

/** Collections and their share of the data: the episodic store's main collection and smaller ones. */
const COLLECTIONS: readonly [string, number][] = [
  ['ltm_memories', 0.3],
  ['episodes', 0.2],
  ['consolidation_log', 0.15],
  ['conversations', 0.1],
  ['reflections', 0.1],
  ['summaries', 0.05],
  ['associations', 0.05],
  ['working_set', 0.05],
];

function memory(i: number, collection: string): Document {
  const created = new Date(Date.UTC(2026, 0, 1) + i * 60_000);
  return {
    _id: new ObjectId(),
    memory_id: `${collection}-${i}`,
    content: {
      text: `Conversation ${i} about the garden, the weather, the plans for the weekend and what was said last time. `.repeat(4),
      summary: `garden talk ${i}`,
      content_type: 'text/plain',
      language: i % 3 === 0 ? 'de' : 'en',
    },
    metadata: {
      status: ['active', 'archived', 'consolidated', 'forgotten', 'decaying'][i % 5],
      strength: new Double((i % 100) / 100),
      access_count: new Int32(i % 11),
      priority: Long.fromNumber(i * 1_000_003),
      tier: 'episodic',
      updated_at: created,
    },
    embedding: Array.from({ length: 128 }, (_, k) => new Double(Math.sin(i * 0.37 + k))),
    created_at: created,
    importance: new Double((i % 10) / 10),
    tags: ['episodic', `topic-${i % 4}`],
  };
}

async function load(url: string, database: string, megabytes: number): Promise<{ documents: number; bytes: number }> {
  const client = await new MongoClient(url).connect();
  try {
    const perDocument = BSON.calculateObjectSize(memory(0, 'x'));
    const total = Math.round((megabytes * 1e6) / perDocument);
    let documents = 0;
    for (const [name, share] of COLLECTIONS) {
      const count = Math.max(1, Math.round(total * share));
      const coll = client.db(database).collection(name);
      for (let start = 0; start < count; start += 1000) {
        await coll.insertMany(Array.from({ length: Math.min(1000, count - start) }, (_, k) => memory(start + k, name)));
      }
      await coll.createIndex({ memory_id: 1 }, { unique: true });
      await coll.createIndex({ created_at: -1 });
      documents += count;
    }
    const stats = await client.db(database).command({ dbStats: 1 });
    return { documents, bytes: Number(stats.dataSize) };
  } finally {
    await client.close();
  }
}

// ---- the worker: one backup or restore in its own process, so its peak RSS is ours alone ----

type Mode = 'backup-before' | 'backup' | 'restore-before' | 'restore';

interface WorkerInput {
  readonly mode: Mode;
  readonly url: string;
  readonly database: string;
  readonly dir: string;
  readonly record?: ArtifactRecord;
}

async function worker(input: WorkerInput): Promise<void> {
  const target = await connectMongo({ database: input.database }, { NCA_MONGODB_URL: input.url });
  const log = createLogger({ bench: 'mongodb', worker: input.mode });
  const streams = parallelStreams();
  if (input.mode === 'backup' || input.mode === 'backup-before') {
    const writer = input.mode === 'backup' ? undefined : FORMAT1_WRITER;
    const { ms, value } = await timed(() => backupMongo(target, fileSink(input.dir), log, writer));
    process.stdout.write(JSON.stringify({ ms, streams, cpuMs: cpuMs(), artifact: value.artifacts[0], report: value.report, fingerprint: value.fingerprint, maxRssKiB: peakRssKiB() }));
  } else {
    const restore = input.mode === 'restore' ? mongodb.restore : restoreMongoBefore;
    const { ms, value } = await timed(() => restore(fileSource(input.dir, [input.record!], 'mongodb'), target, {}, log));
    process.stdout.write(JSON.stringify({ ms, streams, cpuMs: cpuMs(), details: value.details, maxRssKiB: peakRssKiB() }));
  }
}

const cpuMs = (since?: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return Math.round((used.user + used.system) / 1000);
};

/** The worker's result, with the CPU this process (the substitute) spent meanwhile. */
async function runWorker(input: WorkerInput): Promise<any> {
  const since = process.cpuUsage();
  const result = await spawnWorker(input);
  return { ...result, serverCpuMs: cpuMs(since) };
}

function spawnWorker(input: WorkerInput): Promise<any> {
  return runBenchWorker(__filename, input, process.env.NCA_BENCH_WORKER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.NCA_BENCH_WORKER_NODE_OPTIONS } : {});
}

// ---- a restore's target: a fresh substitute in its own process, so neither restore pays for the other's data ----

interface ServerStats {
  readonly cpuMs: number;
  readonly maxRssKiB: number;
}

async function serveSubstitute(): Promise<void> {
  const server = await startMongoWireServer();
  const since = process.cpuUsage();
  process.stdout.write(`${server.url}\n`);
  process.once('SIGTERM', () => {
    process.stdout.write(`${JSON.stringify({ cpuMs: cpuMs(since), maxRssKiB: peakRssKiB() } satisfies ServerStats)}\n`);
    void server.stop().then(() => process.exit(0));
  });
}

async function startSubstituteProcess(): Promise<{ url: string; stop(): Promise<ServerStats> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', __filename, '--server'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the substitute exited ${code}`)));
    const poll = setInterval(() => {
      if (!out.includes('\n')) return;
      clearInterval(poll);
      resolve(out.split('\n')[0]);
    }, 20);
  });
  return {
    url,
    stop: () =>
      new Promise<ServerStats>((resolve) => {
        child.removeAllListeners('exit');
        child.once('exit', () => resolve(JSON.parse(out.split('\n')[1]) as ServerStats));
        child.kill('SIGTERM');
      }),
  };
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const mbps = (bytes: number, ms: number) => round(bytes / 1e6 / (ms / 1000));

function sameFingerprint(a: Fingerprint, b: Fingerprint): boolean {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...names].every((name) => a[name]?.count === b[name]?.count && a[name]?.digest === b[name]?.digest);
}

export async function runMongoBench(options: { megabytes?: number; rounds?: number } = {}): Promise<Record<string, unknown>> {
  const megabytes = options.megabytes ?? Number(process.env.NCA_BENCH_MONGODB_MB ?? 256);
  const rounds = options.rounds ?? Number(process.env.NCA_BENCH_MONGODB_ROUNDS ?? 3);
  const work = mkdtempSync(join(tmpdir(), 'nca-bench-mongodb-'));
  const server = await startMongoWireServer();
  const database = 'episodic_bench';
  try {
    say(`loading about ${megabytes} MB of episodic memories into the wire-protocol substitute`);
    const loaded = await timed(() => load(server.url, database, megabytes));
    const { documents, bytes } = loaded.value;
    say(`loaded ${documents} documents (${round(bytes / 1e6)} MB of BSON) in ${round(loaded.ms / 1000)} s`);

    const dirs = { before: join(work, 'before'), after: join(work, 'after') };
    Object.values(dirs).forEach((dir) => mkdirSync(dir));
    const restoreRun = async (mode: 'restore-before' | 'restore', dir: string, backup: any) => {
      const target = await startSubstituteProcess();
      let stats: ServerStats | undefined;
      try {
        const result = await spawnWorker({ mode, url: target.url, database, dir, record: backup.artifact });
        const fingerprint = await mongodb.fingerprint(await connectMongo({ database }, { NCA_MONGODB_URL: target.url }));
        stats = await target.stop();
        // The substitute's CPU includes the fingerprint read after the restore (the same for both).
        return { ...result, fingerprintMatch: sameFingerprint(backup.fingerprint, fingerprint), serverCpuMs: stats.cpuMs };
      } finally {
        if (!stats) await target.stop().catch(() => undefined);
      }
    };
    // Rounds alternate which path goes first, and the median round is reported: the machine's other load
    // moves single runs by more than the difference measured.
    const runs = { backupBefore: [] as any[], backupAfter: [] as any[], restoreBefore: [] as any[], restoreAfter: [] as any[] };
    for (let r = 0; r < rounds; r++) {
      const backups = [
        async () => void runs.backupBefore.push(await runWorker({ mode: 'backup-before', url: server.url, database, dir: dirs.before })),
        async () => void runs.backupAfter.push(await runWorker({ mode: 'backup', url: server.url, database, dir: dirs.after })),
      ];
      say(`round ${r + 1}/${rounds}: backups (format 1: two passes, in turn; format 2: one pass, in parallel)`);
      for (const run of r % 2 ? backups.reverse() : backups) await run();
      const restores = [
        async () => void runs.restoreBefore.push(await restoreRun('restore-before', dirs.before, runs.backupBefore[r])),
        async () => void runs.restoreAfter.push(await restoreRun('restore', dirs.after, runs.backupAfter[r])),
      ];
      say(`round ${r + 1}/${rounds}: restores (before: one batch in flight; after: parallel batches), each into a fresh substitute`);
      for (const run of r % 2 ? restores.reverse() : restores) await run();
    }
    const median = (samples: any[]) => [...samples].sort((a, b) => a.ms - b.ms)[Math.floor(samples.length / 2)];
    const backupBefore = median(runs.backupBefore);
    const backupAfter = median(runs.backupAfter);
    const restoreBefore = median(runs.restoreBefore);
    const restoreAfter = median(runs.restoreAfter);

    const side = (run: any, samples: any[], artifactBytes?: number) => ({
      ms: Math.round(run.ms),
      samplesMs: samples.map((r) => Math.round(r.ms)),
      peakRssMiBOfAllRounds: round(Math.max(...samples.map((r) => r.maxRssKiB)) / 1024),
      MBps: mbps(bytes, run.ms),
      documentsPerSecond: Math.round(documents / (run.ms / 1000)),
      peakRssMiB: round(run.maxRssKiB / 1024),
      streams: run.streams,
      // Where the time went: the worker's CPU and the substitute's (this process), against the wall time.
      workerCpuMs: run.cpuMs,
      serverCpuMs: run.serverCpuMs,
      ...(artifactBytes === undefined ? {} : { artifactBytes }),
      ...(run.fingerprintMatch === undefined ? {} : { fingerprintMatch: run.fingerprintMatch }),
    });
    const report = {
      benchmark: 'mongodb',
      at: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      server: 'test/support/mongo-wire-server.ts (a wire-protocol substitute: the source in the bench process, each restore into a fresh one in its own process; figures are relative only, not MongoDB throughput)',
      workerNodeOptions: process.env.NCA_BENCH_WORKER_NODE_OPTIONS ?? null,
      sink: 'filesystem (SHA-256 computed as the vault does; no S3 in the path)',
      data: { documents, bsonBytes: bytes, collections: COLLECTIONS.length, loadMs: Math.round(loaded.ms) },
      backup: {
        before: side(backupBefore, runs.backupBefore, backupBefore.artifact.bytes),
        after: side(backupAfter, runs.backupAfter, backupAfter.artifact.bytes),
        speedup: round(backupBefore.ms / backupAfter.ms, 2),
        sameFingerprint: sameFingerprint(backupBefore.fingerprint, backupAfter.fingerprint),
        // Of the median rounds; every round's restores are checked in fingerprintMatch below.
      },
      restore: {
        before: side(restoreBefore, runs.restoreBefore),
        after: side(restoreAfter, runs.restoreAfter),
        speedup: round(restoreBefore.ms / restoreAfter.ms, 2),
        everyFingerprintMatched: [...runs.restoreBefore, ...runs.restoreAfter].every((r) => r.fingerprintMatch),
      },
      rounds,
    };
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    const out = join(ROOT, 'bench', 'results', `mongodb-${report.at.replace(/[:.]/g, '-')}.json`);
    writeFileSync(out, JSON.stringify(report, null, 2));
    say(`written to ${out}`);
    return report;
  } finally {
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const job = process.argv.includes('--server')
    ? serveSubstitute()
    : process.argv.includes('--worker')
    ? worker(JSON.parse(process.env.NCA_BENCH_WORKER ?? '{}') as WorkerInput)
    : runMongoBench().then((report) => void process.stdout.write(`${JSON.stringify(report, null, 2)}\n`));
  job.catch((error: Error) => {
    process.stderr.write(`bench mongodb: failed: ${error.stack}\n`);
    process.exitCode = 1;
  });
}
