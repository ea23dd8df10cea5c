/**
 * `npx tsx bench/redis.ts` (or runRedisBench() from another bench): the redis component against raw
 * Redis tools on the same data in the same run.
 *  - backup:  raw `redis-cli -p PORT --rdb FILE` (the server forks and streams an RDB snapshot: the
 *             fastest possible export, and the one ElastiCache/MemoryDB block) vs nca-backup's logical
 *             export (SCAN, then MULTI{PEXPIRETIME, DUMP} per batch over several connections, values
 *             decoded from the payloads for the fingerprint) into a filesystem sink that computes SHA-256
 *             like the vault (no S3 in the path: this measures the component);
 *  - restore: raw `redis-server` loading that RDB file at start-up (until INFO says loading:0) vs
 *             nca-backup's restore (validation pass + pipelined RESTORE ... ABSTTL over several
 *             connections) into an empty server.
 * Ours runs in a child process (node --import tsx) so its peak RSS (VmHWM: functions/core/peak-rss.ts) and its CPU time are
 * its own; the server's CPU time for ours comes from INFO cpu. CPU times and the load average are in the
 * results because this machine is shared: wall-clock rates fall when other jobs run, CPU per key much less.
 * After the restore the restored server's fingerprint is compared with the backup's.
 * Results: bench/results/redis-<timestamp>.json.
 *
 * Options (env): NCA_BENCH_REDIS_KEYS (default 1000000) keys loaded, mixed types (70% strings of 40-160
 * bytes, 10% hashes, 7% sets, 6% lists, 5% sorted sets, 2% streams; 10% of keys with a TTL).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { createLogger } from '../functions/core/logger';
import { connectRedis, redis } from '../functions/components/redis';
import type { ArtifactRecord, Fingerprint } from '../functions/components/types';
import { freePort, startRedis, type RunningRedis } from '../scripts/local-servers';
import { timed } from './timed';
import { peakRssKiB } from '../functions/core/peak-rss';
import { fileSink, fileSource, runBenchWorker } from './worker-process';

const ROOT = join(__dirname, '..');
const run = promisify(execFile);
const say = (line: string) => process.stderr.write(`bench redis: ${line}\n`);

/** Loads `count` keys of mixed types with pipelines; deterministic, so two runs load the same data. */
async function loadKeys(url: string, count: number): Promise<void> {
  const client = new Redis(url);
  try {
    const batch = 5000;
    const inFlight: Promise<unknown>[] = [];
    for (let start = 0; start < count; start += batch) {
      const p = client.pipeline();
      for (let i = start; i < Math.min(count, start + batch); i++) {
        const kind = i % 100;
        const id = i.toString(36).padStart(6, '0');
        if (kind < 70) p.set(`bench:string:${id}`, `memory ${i} `.padEnd(40 + (i % 120), String.fromCharCode(97 + (i % 26))));
        else if (kind < 80) p.hset(`bench:hash:${id}`, { id, created_at: '2026-01-01T00:00:00Z', content: `content of item ${i}`, summary: `s${i}`, importance: String((i % 100) / 100) });
        else if (kind < 87) p.sadd(`bench:set:${id}`, `tag${i % 7}`, `tag${i % 11}`, `tag${i % 13}`, `status${i % 4}`);
        else if (kind < 93) p.rpush(`bench:list:${id}`, `event-${i}-a`, `event-${i}-b`, `event-${i}-c`, `event-${i}-d`);
        else if (kind < 98) p.zadd(`bench:zset:${id}`, i % 10, `m${i}`, (i % 10) / 3, `n${i}`, 0.5, `o${i}`);
        else p.xadd(`bench:stream:${id}`, '*', 'n', String(i), 'payload', `x${i}`);
        if (i % 10 === 0) p.pexpire(`bench:${kind < 70 ? 'string' : kind < 80 ? 'hash' : kind < 87 ? 'set' : kind < 93 ? 'list' : kind < 98 ? 'zset' : 'stream'}:${id}`, 86_400_000 + i);
      }
      inFlight.push(p.exec());
      if (inFlight.length >= 4) await inFlight.shift();
    }
    await Promise.all(inFlight);
  } finally {
    client.disconnect();
  }
}

/** A redis-server that loads `rdbFile` at start; resolves when loading is over and every key is there. */
async function loadRdbAtStartup(rdbFile: string, keys: number): Promise<{ server: RunningRedis; ms: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'nca-bench-rdb-'));
  await run('cp', [rdbFile, join(dir, 'dump.rdb')]);
  const port = await freePort();
  const start = process.hrtime.bigint();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', 'dump.rdb'], { stdio: 'ignore' });
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 5, enableReadyCheck: false });
  client.on('error', () => undefined);
  for (;;) {
    try {
      if (client.status !== 'ready') await client.connect().catch(() => undefined);
      const text = await client.info('persistence');
      if (/loading:0/.test(text) && (await client.dbsize()) === keys) break;
    } catch {
      // still starting or loading
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  client.disconnect();
  const stop = () =>
    new Promise<void>((res) => {
      child.once('exit', () => {
        rmSync(dir, { recursive: true, force: true });
        res();
      });
      child.kill('SIGTERM');
    });
  return { server: { port, url: `redis://127.0.0.1:${port}`, stop }, ms };
}

// ---- the worker: one backup or restore in its own process, so its peak RSS is ours alone ----

interface WorkerInput {
  readonly mode: 'backup' | 'restore';
  readonly url: string;
  readonly dir: string;
  readonly record?: ArtifactRecord;
}

async function worker(input: WorkerInput): Promise<void> {
  const target = await connectRedis({ db: 0, keyPatterns: ['*'] }, { NCA_REDIS_URL: input.url });
  const log = createLogger({ bench: 'redis', worker: input.mode });
  const cpu = process.cpuUsage();
  const cpuMs = () => {
    const used = process.cpuUsage(cpu);
    return Math.round((used.user + used.system) / 1000);
  };
  if (input.mode === 'backup') {
    const { ms, value } = await timed(() => redis.backup(target, fileSink(input.dir), log));
    process.stdout.write(JSON.stringify({ ms, cpuMs: cpuMs(), artifact: value.artifacts[0], report: value.report, fingerprint: value.fingerprint, maxRssKiB: peakRssKiB() }));
  } else {
    const { ms, value } = await timed(() => redis.restore(fileSource(input.dir, [input.record!], 'redis'), target, {}, log));
    process.stdout.write(JSON.stringify({ ms, cpuMs: cpuMs(), details: value.details, maxRssKiB: peakRssKiB() }));
  }
}

function runWorker(input: WorkerInput): Promise<any> {
  return runBenchWorker(__filename, input);
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const perSecond = (n: number, ms: number) => Math.round(n / (ms / 1000));
const mbps = (bytes: number, ms: number) => round(bytes / 1e6 / (ms / 1000));

/** The server's own CPU seconds so far (INFO cpu, main process: a forked RDB child is not in it). */
async function serverCpuMs(url: string): Promise<number> {
  const client = new Redis(url);
  try {
    const text = await client.info('cpu');
    const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(text)?.[1] ?? 0);
    return Math.round((field('used_cpu_user') + field('used_cpu_sys')) * 1000);
  } finally {
    client.disconnect();
  }
}

const loadAverage = () => loadavg().map((n) => round(n, 2));

function sameFingerprint(a: Fingerprint, b: Fingerprint): boolean {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...names].every((name) => a[name]?.count === b[name]?.count && a[name]?.digest === b[name]?.digest);
}

export async function runRedisBench(options: { keys?: number } = {}): Promise<Record<string, unknown>> {
  const keys = options.keys ?? Number(process.env.NCA_BENCH_REDIS_KEYS ?? 1_000_000);
  const work = mkdtempSync(join(tmpdir(), 'nca-bench-redis-'));
  const source = await startRedis();
  const empty = await startRedis();
  let loaded: RunningRedis | undefined;
  const loadAtStart = loadAverage();
  try {
    say(`loading ${keys} keys of mixed types`);
    const load = await timed(() => loadKeys(source.url, keys));
    const probe = new Redis(source.url);
    const [dbsize, memory] = await Promise.all([probe.dbsize(), probe.info('memory')]);
    probe.disconnect();
    const usedMemory = Number(/used_memory:(\d+)/.exec(memory)?.[1] ?? 0);
    say(`loaded ${dbsize} keys (${round(usedMemory / 1e6)} MB in Redis) in ${round(load.ms / 1000)} s`);

    const rdbFile = join(work, 'raw.rdb');
    say('raw redis-cli --rdb');
    const rawBackup = await timed(() => run('redis-cli', ['-p', String(source.port), '--rdb', rdbFile]));
    const rdbBytes = statSync(rdbFile).size;

    say('nca-backup redis backup (child process, filesystem sink)');
    const dumpDir = join(work, 'ours');
    mkdirSync(dumpDir);
    const sourceCpu = await serverCpuMs(source.url);
    const ours = await runWorker({ mode: 'backup', url: source.url, dir: dumpDir });
    const backupServerCpuMs = (await serverCpuMs(source.url)) - sourceCpu;
    const oursBytes: number = ours.artifact.bytes;

    say('raw redis-server loading the RDB at start-up');
    const rawLoad = await loadRdbAtStartup(rdbFile, dbsize);
    loaded = rawLoad.server;

    say('nca-backup redis restore into an empty server (child process)');
    const targetCpu = await serverCpuMs(empty.url);
    const restored = await runWorker({ mode: 'restore', url: empty.url, dir: dumpDir, record: ours.artifact });
    const restoreServerCpuMs = (await serverCpuMs(empty.url)) - targetCpu;

    say('fingerprint of the restored server');
    const target = await connectRedis({ db: 0, keyPatterns: ['*'] }, { NCA_REDIS_URL: empty.url });
    const check = await timed(() => redis.fingerprint(target));

    const report = {
      benchmark: 'redis',
      at: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      loadAverage: { atStart: loadAtStart, atEnd: loadAverage() },
      redis: (await run('redis-server', ['--version'])).stdout.trim(),
      sink: 'filesystem (SHA-256 computed as the vault does; no S3 in the path)',
      data: { keys: dbsize, usedMemoryBytes: usedMemory, loadMs: Math.round(load.ms), rdbBytes, dumpBytes: oursBytes },
      backup: {
        rawMs: Math.round(rawBackup.ms),
        oursMs: Math.round(ours.ms),
        ratio: round(ours.ms / rawBackup.ms, 2),
        rawKeysPerSecond: perSecond(dbsize, rawBackup.ms),
        oursKeysPerSecond: perSecond(ours.report.keys, ours.ms),
        rawMBps: mbps(rdbBytes, rawBackup.ms),
        oursMBps: mbps(oursBytes, ours.ms),
        oursPeakRssMiB: round(ours.maxRssKiB / 1024),
        oursCpuMs: ours.cpuMs,
        oursServerCpuMs: backupServerCpuMs,
        oursCpuMicrosPerKey: round((ours.cpuMs * 1000) / ours.report.keys, 2),
        oursServerCpuMicrosPerKey: round((backupServerCpuMs * 1000) / ours.report.keys, 2),
        report: ours.report,
      },
      restore: {
        rawMs: Math.round(rawLoad.ms),
        oursMs: Math.round(restored.ms),
        ratio: round(restored.ms / rawLoad.ms, 2),
        rawKeysPerSecond: perSecond(dbsize, rawLoad.ms),
        oursKeysPerSecond: perSecond(restored.details.restored, restored.ms),
        rawMBps: mbps(rdbBytes, rawLoad.ms),
        oursMBps: mbps(oursBytes, restored.ms),
        oursPeakRssMiB: round(restored.maxRssKiB / 1024),
        oursCpuMs: restored.cpuMs,
        oursServerCpuMs: restoreServerCpuMs,
        oursCpuMicrosPerKey: round((restored.cpuMs * 1000) / restored.details.restored, 2),
        oursServerCpuMicrosPerKey: round((restoreServerCpuMs * 1000) / restored.details.restored, 2),
        details: restored.details,
      },
      fingerprintMatch: sameFingerprint(ours.fingerprint, check.value),
      fingerprintMs: Math.round(check.ms),
    };
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    const out = join(ROOT, 'bench', 'results', `redis-${report.at.replace(/[:.]/g, '-')}.json`);
    writeFileSync(out, JSON.stringify(report, null, 2));
    say(`written to ${out}`);
    return report;
  } finally {
    await Promise.all([source.stop(), empty.stop(), loaded?.stop()]);
    rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const job = process.argv.includes('--worker')
    ? worker(JSON.parse(process.env.NCA_BENCH_WORKER ?? '{}') as WorkerInput)
    : runRedisBench().then((report) => void process.stdout.write(`${JSON.stringify(report, null, 2)}\n`));
  job.catch((error: Error) => {
    process.stderr.write(`bench redis failed: ${error.stack}\n`);
    process.exitCode = 1;
  });
}
