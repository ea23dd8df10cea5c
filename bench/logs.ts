/**
 * `npx tsx bench/logs.ts`: the logs component on one log group of ten million events (about 2 GB of
 * messages) in the CloudWatch Logs substitute (test/support/cloudwatch-logs-server.ts), backed up by the
 * real CLI (`nca-backup backup logs`) into s3rver behind the test proxy.
 *  - the group: NCA_BENCH_LOG_EVENTS events of 150 to 250 bytes (log-like text) in 8 streams, ingested
 *    over the 2 days before now minus the settle delay; 1% arrive late (stamped 10 minutes to 6 hours
 *    before their ingestion);
 *  - first backup (late_arrival_hours at its default, 336): wall time, events/s, MB/s of uncompressed
 *    message bytes, events scanned vs kept, artifact bytes, the worker's peak RSS (the CLI's own VmHWM,
 *    functions/core/peak-rss.ts: the substitute runs in another process, so the worker's memory is measured alone);
 *  - 1% new events (1% of them late, by at most 90 minutes), then the second backup with the default
 *    late_arrival_hours: it rescans 14 days by event timestamp, here the whole group (windows.ts COST);
 *  - another 1%, then a third backup with `late_arrival_hours: 2`: its scan, and so its cost, follows the
 *    new events only;
 *  - baselines in the same run, in a child process too: raw paging of FilterLogEvents with the same SDK
 *    over the full range and over the narrow range of the third backup, nothing written.
 * Targets: peak RSS at most 256 MiB in every backup; every backup keeps exactly the events ingested in
 * its window. Results: bench/results/logs-<timestamp>.json.
 *
 * Options (env): NCA_BENCH_LOG_EVENTS (default 10000000) events in the group; NCA_BENCH_WORKER_NODE_OPTIONS
 * (default none) NODE_OPTIONS for the worker and the baseline, e.g. `--max-old-space-size=96` to tell a
 * heap that grows because it may from one that grows because it must.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { createS3Client } from '../functions/core/storage';
import { startS3 } from '../scripts/local-servers';
import { timed } from './timed';
import { seededRandom as random } from '../scripts/seeded-random';
import { peakRssMiB } from '../functions/core/peak-rss';

const ROOT = join(__dirname, '..');
const say = (line: string) => process.stderr.write(`bench logs: ${line}\n`);
const TARGET_RSS_MIB = 256;
const GROUP = '/neuroca/bench';
const STREAMS = 8;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const SETTLE = 60 * MINUTE; // settle_minutes' default
const SKEW = 15 * MINUTE; // windows.ts SKEW_MARGIN_MS
const EARLY = 2 * HOUR; // windows.ts EARLY_ARRIVAL_MS

/** What the substitute's process is asked to add: `count` events ingested evenly over [from, to). */
interface Generate {
  readonly count: number;
  readonly from: number;
  readonly to: number;
  /** Of every 100 events, this many arrive late, stamped `lateMs` (min, max) before their ingestion. */
  readonly latePercent: number;
  readonly lateMs: readonly [number, number];
  readonly seed: number;
}

/**
 * Log-like text (8 MiB) that messages are cut from: a message is a slice of it, which V8 keeps as a
 * reference into this one string, so ten million messages cost the substitute no 2 GB of string data.
 */
function corpus(): string {
  const next = random(7);
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)];
  const levels = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'];
  const paths = ['/v1/memory/recall', '/v1/memory/store', '/v1/episodes', '/v1/health', '/v1/agents/plan', '/v1/embeddings'];
  const words = ['consolidation', 'working-memory', 'episodic', 'semantic', 'retrieval', 'cache miss', 'timeout', 'retry', 'vector index', 'pg pool', 'redis', 'planner', 'token budget', 'ok'];
  const lines: string[] = [];
  let size = 0;
  while (size < 8 * 1024 * 1024) {
    const line = `level=${pick(levels)} svc=neuroca-api req=${Math.floor(next() * 2 ** 48).toString(16)} path=${pick(paths)} user=u${Math.floor(next() * 50_000)} latency_ms=${Math.floor(next() * 900)} msg="${pick(words)} ${pick(words)} ${pick(words)}" bytes=${Math.floor(next() * 1e6)}\n`;
    lines.push(line);
    size += line.length;
  }
  // Flattened once, so that slices of it are references, not copies.
  return Buffer.from(lines.join('')).toString('latin1');
}

/** The child process that holds the substitute (run with `--serve`). */
async function serve(): Promise<void> {
  const { startCloudWatchLogsServer } = await import('../test/support/cloudwatch-logs-server');
  const server = await startCloudWatchLogsServer();
  const text = corpus();
  process.on('message', (raw) => {
    const g = raw as Generate;
    const next = random(g.seed);
    let bytes = 0;
    const batches: { timestamp: number; message: string; ingestionTime: number }[][] = Array.from({ length: STREAMS }, () => []);
    const flush = (s: number) => {
      server.putEvents(GROUP, `stream-${s}`, batches[s]);
      batches[s] = [];
    };
    for (let i = 0; i < g.count; i++) {
      const ingestionTime = Math.floor(g.from + ((g.to - g.from) * i) / g.count);
      const late = next() * 100 < g.latePercent;
      const timestamp = ingestionTime - (late ? g.lateMs[0] + Math.floor(next() * (g.lateMs[1] - g.lateMs[0])) : Math.floor(next() * 2000));
      const length = 150 + Math.floor(next() * 101);
      const at = Math.floor(next() * (text.length - length));
      const message = text.slice(at, at + length);
      bytes += length;
      const s = i % STREAMS;
      batches[s].push({ timestamp, message, ingestionTime });
      if (batches[s].length === 10_000) flush(s);
    }
    for (let s = 0; s < STREAMS; s++) if (batches[s].length) flush(s);
    process.send!({ events: g.count, bytes, serverRssMiB: Math.round(process.memoryUsage().rss / 1048576) });
  });
  process.send!({ endpoint: server.endpoint });
}

/** The baseline (run with `--page-through <endpoint> <startTime> <endTime>`): FilterLogEvents paged, nothing kept. */
async function pageThrough(endpoint: string, startTime: number, endTime: number): Promise<void> {
  const client = new CloudWatchLogsClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } });
  let pages = 0;
  let events = 0;
  let messageBytes = 0;
  let nextToken: string | undefined;
  do {
    const page = await client.send(new FilterLogEventsCommand({ logGroupName: GROUP, startTime, endTime, limit: 10_000, nextToken }));
    pages++;
    for (const e of page.events ?? []) {
      events++;
      messageBytes += Buffer.byteLength(e.message ?? '');
    }
    nextToken = page.nextToken;
  } while (nextToken);
  client.destroy();
  process.stdout.write(JSON.stringify({ pages, events, messageBytes, peakRssMiB: peakRssMiB() }));
}

/** A child's stdout as JSON, and its stderr's JSON log lines. */
function child(args: string[], env: NodeJS.ProcessEnv): Promise<{ out: any; logs: any[] }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (chunk) => (out += chunk));
    proc.stderr.on('data', (chunk) => (err += chunk));
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${args.slice(0, 3).join(' ')} exited ${code}: ${out}${err.slice(-4000)}`));
      const logs = err
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l));
      resolve({ out: JSON.parse(out), logs });
    });
  });
}

function request(server: ChildProcess, g: Generate): Promise<{ events: number; bytes: number; serverRssMiB: number }> {
  return new Promise((resolve) => {
    server.once('message', (m) => resolve(m as { events: number; bytes: number; serverRssMiB: number }));
    server.send(g);
  });
}

async function sizeOf(s3: S3Client, bucket: string, prefix: string): Promise<number> {
  let bytes = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) bytes += o.Size ?? 0;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return bytes;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

async function main(): Promise<void> {
  const total = Number(process.env.NCA_BENCH_LOG_EVENTS ?? 10_000_000);
  const increment = Math.max(1, Math.round(total / 100));
  const s3srv = await startS3();
  // The substitute holds every event in its own memory: a heap to match, in a process of its own.
  const server = fork(__filename, ['--serve'], { execArgv: ['--import', 'tsx', '--max-old-space-size=12288'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const endpoint = await new Promise<string>((resolve, reject) => {
      server.once('message', (m) => resolve((m as { endpoint: string }).endpoint));
      server.once('exit', (code) => reject(new Error(`the substitute exited ${code}`)));
    });
    const logs = new CloudWatchLogsClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } });
    // The substitute orders what was added on the next read: done here, outside every measured run.
    const settle = () => logs.send(new FilterLogEventsCommand({ logGroupName: GROUP, limit: 1 }));
    const s3 = createS3Client({ endpoint: s3srv.endpoint });
    await s3.send(new CreateBucketCommand({ Bucket: 'bench-vault' }));

    const now0 = Date.now();
    say(`generating ${total} events over 2 days in ${STREAMS} streams`);
    const generation = await timed(() => request(server, { count: total, from: now0 - SETTLE - 2 * DAY, to: now0 - SETTLE - 5 * MINUTE, latePercent: 1, lateMs: [10 * MINUTE, 6 * HOUR], seed: 1 }));
    await settle();
    say(`generated ${generation.value.events} events, ${round(generation.value.bytes / 1e6)} MB of messages in ${round(generation.ms / 1000)} s`);

    const dir = mkdtempSync(join(tmpdir(), 'nca-bench-logs-'));
    const yaml = (lateArrivalHours?: number) => {
      const file = join(dir, `backup-${lateArrivalHours ?? 'default'}.yaml`);
      writeFileSync(file, `backup:
  storage:
    primary: { type: "s3", bucket: "bench-vault", region: "us-west-2", path: "/backups", exact_name: true }
    secondary: { type: "s3", bucket: "bench-dr", region: "eu-central-1", path: "/backups" }
  sources:
    logs:
      log_groups: ["${GROUP}"]${lateArrivalHours !== undefined ? `\n      late_arrival_hours: ${lateArrivalHours}` : ''}
`);
      return file;
    };
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NCA_S3_ENDPOINT: s3srv.endpoint,
      NCA_LOGS_ENDPOINT: endpoint,
      NCA_BUCKET: 'bench-vault',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-west-2',
      NCA_LOG_LEVEL: 'info',
      NCA_MANIFEST_KEY_FILE: join(dir, 'manifest.key'),
      ...(process.env.NCA_BENCH_WORKER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.NCA_BENCH_WORKER_NODE_OPTIONS } : {}),
    };

    const baseline = async (label: string, startTime: number, endTime: number) => {
      say(`baseline: FilterLogEvents paged over ${label}, nothing written`);
      const run = await timed(() => child(['--import', 'tsx', __filename, '--page-through', endpoint, String(startTime), String(endTime)], env));
      const { pages, events, messageBytes, peakRssMiB } = run.value.out;
      return { range: label, startTime: new Date(startTime).toISOString(), endTime: new Date(endTime).toISOString(), ms: Math.round(run.ms), pages, events, messageMB: round(messageBytes / 1e6), eventsPerSecond: Math.round(events / (run.ms / 1000)), MBps: round(messageBytes / 1e6 / (run.ms / 1000)), peakRssMiB };
    };
    const fullBaseline = await baseline('the whole group (the first backup\'s scan)', now0 - 15 * DAY, now0 + 3 * HOUR);

    let vaultBytes = 0;
    const backup = async (step: string, lateArrivalHours: number | undefined, expected: number, messageBytes: number) => {
      say(`backup: ${step}`);
      const run = await timed(() => child([join(ROOT, 'bin', 'nca-backup.js'), 'backup', 'logs', '--config', yaml(lateArrivalHours)], env));
      const exported = run.value.logs.find((l) => l.message === 'log group exported');
      const planned = run.value.logs.find((l) => l.message === 'logs windows planned');
      const stored = await sizeOf(s3, 'bench-vault', 'backups/');
      const added = stored - vaultBytes;
      vaultBytes = stored;
      const seconds = run.ms / 1000;
      return {
        step,
        lateArrivalHours: lateArrivalHours ?? 336,
        window: planned?.windows?.[0],
        ms: Math.round(run.ms),
        backupId: run.value.out.backupId,
        kept: exported?.events as number,
        expected,
        scanned: exported?.scanned as number,
        pages: exported?.pages as number,
        keptMessageMB: round(messageBytes / 1e6),
        eventsPerSecond: Math.round(exported?.events / seconds),
        scannedPerSecond: Math.round(exported?.scanned / seconds),
        MBps: round(messageBytes / 1e6 / seconds),
        artifactBytes: exported?.bytes as number,
        vaultBytesAdded: added,
        peakRssMiB: run.value.out.peakRssMiB as number,
        warnings: run.value.out.warnings,
      };
    };

    const runs = [];
    runs.push(await backup('first', undefined, total, generation.value.bytes));
    const add = async (seed: number, since: number) => {
      // Ingested after the previous window's end (at most its run's start - settle) and before the next one's.
      while (Date.now() - since < 2000) await sleep(200);
      const to = Date.now() - SETTLE - 1000;
      const added = await request(server, { count: increment, from: since - SETTLE, to, latePercent: 1, lateMs: [10 * MINUTE, 90 * MINUTE], seed });
      await settle();
      return added;
    };
    let since = Date.now();
    const second = await add(2, since);
    runs.push(await backup('1% new events, late_arrival_hours 336 (default)', undefined, increment, second.bytes));
    since = Date.now();
    const third = await add(3, since);
    const narrowStart = Date.now();
    runs.push(await backup('1% new events, late_arrival_hours 2', 2, increment, third.bytes));
    // The third backup's scan: [its window's start - 2 hours - skew, its end + 2 hours + skew].
    const w = runs[2].window as { start: string; end: string } | undefined;
    const narrowBaseline = await baseline('the third backup\'s scan (late_arrival_hours 2)', w ? Date.parse(w.start) - 2 * HOUR - SKEW : narrowStart - 3 * HOUR, w ? Date.parse(w.end) + EARLY + SKEW : narrowStart + 3 * HOUR);

    const [first, rescan, narrow] = runs;
    const report = {
      benchmark: 'logs',
      at: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      group: { events: total, messageMB: round(generation.value.bytes / 1e6), streams: STREAMS, ingestedOverDays: 2, latePercent: 1, generationMs: Math.round(generation.ms), substituteRssMiB: third.serverRssMiB },
      newEventsPerIncrement: increment,
      workerNodeOptions: process.env.NCA_BENCH_WORKER_NODE_OPTIONS ?? null,
      baselines: [fullBaseline, narrowBaseline],
      firstBackupVsBaseline: round(first.ms / fullBaseline.ms, 3),
      runs,
      verdict: {
        peakRssUnderTarget: runs.every((r) => r.peakRssMiB <= TARGET_RSS_MIB),
        everyBackupKeptExactlyItsWindow: runs.every((r) => r.kept === r.expected),
        defaultLateArrivalRescansTheGroup: rescan.scanned >= total,
        // The narrow scan reads the new events plus those stamped in the last late_arrival_hours + settle + skew.
        narrowScannedPerKept: round(narrow.scanned / narrow.kept, 2),
        rescanScannedPerKept: round(rescan.scanned / rescan.kept, 2),
        narrowVsFirstTime: round(narrow.ms / first.ms, 4),
        rescanVsFirstTime: round(rescan.ms / first.ms, 3),
      },
    };
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench', 'results', `logs-${report.at.replace(/[:.]/g, '-')}.json`), `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    logs.destroy();
  } finally {
    server.kill();
    await s3srv.stop();
  }
}

const [mode, ...rest] = process.argv.slice(2);
const role = mode === '--serve' ? serve() : mode === '--page-through' ? pageThrough(rest[0], Number(rest[1]), Number(rest[2])) : main();
role.catch((error: Error) => {
  process.stderr.write(`bench logs failed: ${error.message}\n`);
  process.exitCode = 1;
  if (mode === '--serve') process.exit(1);
});
