/**
 * `npm run rto-model [-- --config backup.yaml] [--json] [--results DIR] [--streams component=N ...]`:
 * the RTO model of issue 16 (bench/rto.ts) for the runbook's appendix sizes, from the newest bench result
 * of each kind in bench/results and the runner settings of backup.yaml.
 *
 * Which figure each throughput is (MB/s of the component's data size, one stream), and each efficiency
 * (what a stream past the first adds, bench/rto.ts), from the newest result of each kind:
 *  - postgres: postgres-*.json, the largest database: one stream is raw single-stream `pg_dump -Fc` /
 *    `pg_restore` (`rawSingleMBps`: our single-stream path is that tool plus streaming); ours with
 *    `streams` streams (`oursMBps`) gives the efficiency; where ours with N streams is slower than that one
 *    stream, ours is the figure and the efficiency 0. A result without `streams` (before issue 16) is one
 *    stream of ours;
 *  - vector: vector-*.json: backup one cursor (`singleStream`) vs parallel readers (`parallel`); restore is
 *    one binary COPY (`copyBinary`), so its efficiency is 0;
 *  - redis: redis-*.json, `data.usedMemoryBytes` over `oursMs`, with the bench's streams; efficiency 0:
 *    Redis executes commands on one thread, so more runner vCPU does not make the server faster;
 *  - models backup: models-*.json, the first run's `storedBytes` over its `ms`; models are one stream;
 *  - everything without a bench (mongodb: its bench runs against the wire-protocol substitute, relative
 *    figures only; models restore) and any bench not yet run: ASSUMED, the conservative figures below,
 *    marked as such in the output.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadBackupConfig } from '../config/load';
import { COMPONENT_GROUP, type ComponentName } from '../config/types';
import { rtoOf } from '../config/verification';
import { DEFAULT_RESTORE_ORDER } from '../functions/core/system-point';
import { SYSTEM_RTO_HOURS } from '../functions/core/system-restore';
import { MAX_STREAMS } from '../functions/core/streams';
import { formatModel, rtoModel, type ComponentModel, type Direction, type Throughput } from './rto';

const ROOT = join(__dirname, '..');

/** The runbook's appendix sizes (GB); models: one model. */
export const APPENDIX_SIZES_GB: Readonly<Record<string, { low: number; high: number }>> = {
  postgres: { low: 50, high: 100 },
  mongodb: { low: 200, high: 500 },
  redis: { low: 10, high: 20 },
  vector: { low: 100, high: 300 },
  models: { low: 10, high: 50 },
};

/**
 * Used only where no bench result exists. Conservative: below what one stream of the tool does on one vCPU
 * (the postgres bench measured ~22 MB/s backup and ~38 MB/s restore on a 2-core machine).
 */
export const ASSUMED_MBPS: Readonly<Record<string, Readonly<Record<Direction, { mbps: number; why: string }>>>> = {
  postgres: { backup: { mbps: 15, why: 'no postgres bench result (run npm run bench)' }, restore: { mbps: 15, why: 'no postgres bench result (run npm run bench)' } },
  mongodb: { backup: { mbps: 15, why: 'no MongoDB bench: one mongodump-like stream' }, restore: { mbps: 10, why: 'no MongoDB bench: one stream, indexes rebuilt after the load' } },
  redis: { backup: { mbps: 15, why: 'no redis bench result (run tsx bench/redis.ts)' }, restore: { mbps: 10, why: 'no redis bench result (run tsx bench/redis.ts)' } },
  vector: { backup: { mbps: 15, why: 'no vector bench: pg_dump-like stream' }, restore: { mbps: 5, why: 'no vector bench: vector indexes (HNSW/IVFFlat) rebuilt after the load' } },
  models: { backup: { mbps: 15, why: 'no models bench result (run tsx bench/models.ts)' }, restore: { mbps: 30, why: 'no models restore bench: one S3 download stream into files' } },
};

/** Components whose backup and restore use parallelStreams() (functions/core/streams.ts). */
export const PARALLEL_COMPONENTS: readonly string[] = ['postgres', 'mongodb', 'redis', 'vector'];

/** Used where a parallel component's bench does not give an efficiency: half a stream per stream past the first. */
export const ASSUMED_EFFICIENCY = { value: 0.5, why: 'no single-vs-parallel figure in the bench' };

interface BenchFile {
  readonly file: string;
  readonly at: string;
  readonly json: any;
}

/** The newest `<kind>-<timestamp>.json` in `dir` (the timestamp sorts as text), or undefined. */
export function newestResult(dir: string, kind: string): BenchFile | undefined {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(`${kind}-`) && n.endsWith('.json')).sort();
  } catch {
    return undefined;
  }
  const file = names.at(-1);
  if (!file) return undefined;
  const json = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  return { file, at: String(json.at ?? ''), json };
}

const perSecond = (bytes: number, ms: number) => (bytes > 0 && ms > 0 ? bytes / 1e6 / (ms / 1000) : undefined);

/** One direction's figures in a bench file: one stream, and optionally `streams` streams of the same run. */
export interface Figure {
  readonly single: number;
  readonly parallel?: number;
  readonly streams?: number;
  /** A fixed efficiency the bench's kind implies (Redis's one server thread, vector's one COPY). */
  readonly efficiency?: number;
}

const positive = (n: unknown): number | undefined => (typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined);
const figure = (single: unknown, more: Omit<Figure, 'single'> = {}): Figure | undefined => {
  const one = positive(single);
  if (one === undefined) return undefined;
  // Ours with several streams slower than the one-stream figure: ours is the figure, and more streams add nothing.
  if (more.parallel !== undefined && more.parallel < one) return { single: more.parallel, efficiency: 0 };
  return { single: one, ...more };
};

/** Each measured figure a bench file gives, by direction (undefined: the file lacks it). */
export function measuredFigures(kind: 'postgres' | 'redis' | 'models' | 'vector', json: any): Partial<Record<Direction, Figure>> {
  if (kind === 'postgres') {
    const results: any[] = Array.isArray(json.results) ? json.results : [];
    const largest = results.reduce<any>((a, r) => (!a || r.databaseBytes > a.databaseBytes ? r : a), undefined);
    const streams = positive(largest?.streams);
    const of = (d: any): Figure | undefined =>
      streams && streams > 1 && positive(d?.rawSingleMBps) ? figure(d.rawSingleMBps, { parallel: positive(d.oursMBps), streams }) : figure(d?.oursMBps);
    return { backup: of(largest?.backup), restore: of(largest?.restore) };
  }
  if (kind === 'redis') {
    const bytes = Number(json.data?.usedMemoryBytes);
    return { backup: figure(perSecond(bytes, Number(json.backup?.oursMs)), { efficiency: 0 }), restore: figure(perSecond(bytes, Number(json.restore?.oursMs)), { efficiency: 0 }) };
  }
  if (kind === 'vector') {
    const readers = positive(json.backup?.parallel?.readers);
    return {
      backup: figure(json.backup?.singleStream?.MBps, readers && readers > 1 ? { parallel: positive(json.backup?.parallel?.MBps), streams: readers } : {}),
      restore: figure(json.restore?.copyBinary?.MBps, { efficiency: 0 }),
    };
  }
  const first = (Array.isArray(json.runs) ? json.runs : []).find((r: any) => r.step === 'first');
  return { backup: first ? figure(perSecond(Number(first.storedBytes), Number(first.ms))) : undefined };
}

/** What a stream past the first adds, from one stream and `streams` streams of the same run (0 to 1). */
export function efficiencyOf(f: Figure): number | undefined {
  if (f.efficiency !== undefined) return f.efficiency;
  if (f.parallel === undefined || f.streams === undefined || f.streams <= 1) return undefined;
  return Math.min(1, Math.max(0, (f.parallel / f.single - 1) / (f.streams - 1)));
}

export interface ComponentThroughput {
  readonly throughput: Record<Direction, Throughput>;
  /** What a stream past the first adds (bench/rto.ts); 0 for a component that is one stream. */
  readonly efficiency: Record<Direction, number>;
  /** Where an efficiency was assumed, why. */
  readonly assumedEfficiency: Partial<Record<Direction, string>>;
}

/** Each appendix component's throughput and efficiency per direction: measured where the newest bench result has it, else assumed. */
export function throughputs(resultsDir: string): Record<string, ComponentThroughput> {
  const out: Record<string, ComponentThroughput> = {};
  for (const component of Object.keys(APPENDIX_SIZES_GB)) {
    const kind = component === 'postgres' || component === 'redis' || component === 'models' || component === 'vector' ? component : undefined;
    const bench = kind ? newestResult(resultsDir, kind) : undefined;
    const figures = kind && bench ? measuredFigures(kind, bench.json) : {};
    const parallel = PARALLEL_COMPONENTS.includes(component);
    const throughput = {} as Record<Direction, Throughput>;
    const efficiency = {} as Record<Direction, number>;
    const assumedEfficiency: Partial<Record<Direction, string>> = {};
    for (const d of ['backup', 'restore'] as const) {
      const f = figures[d];
      throughput[d] = bench && f
        ? { mbps: f.single, source: 'measured', from: `bench/results/${bench.file}`, at: bench.at + (bench.json.cpus ? `, ${bench.json.cpus} cpus` : '') }
        : { mbps: ASSUMED_MBPS[component][d].mbps, source: 'assumed', from: ASSUMED_MBPS[component][d].why };
      const measured = f ? efficiencyOf(f) : undefined;
      if (!parallel) efficiency[d] = 0;
      else if (measured !== undefined) efficiency[d] = measured;
      else {
        efficiency[d] = ASSUMED_EFFICIENCY.value;
        assumedEfficiency[d] = ASSUMED_EFFICIENCY.why;
      }
    }
    out[component] = { throughput, efficiency, assumedEfficiency };
  }
  return out;
}

function parseArgs(argv: readonly string[]): { config: string; json: boolean; results: string; streams: Record<string, number> } {
  const args = { config: join(ROOT, 'backup.yaml'), json: false, results: join(ROOT, 'bench', 'results'), streams: {} as Record<string, number> };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') args.json = true;
    else if (arg === '--config' && argv[i + 1]) args.config = argv[++i];
    else if (arg === '--results' && argv[i + 1]) args.results = argv[++i];
    else if (arg === '--streams' && argv[i + 1]) {
      const [name, n] = argv[++i].split('=');
      const count = Number(n);
      if (!(name in APPENDIX_SIZES_GB) || !Number.isInteger(count) || count < 1) throw new Error(`--streams ${argv[i]}: expected component=N, component one of ${Object.keys(APPENDIX_SIZES_GB).join(', ')}, N a whole number >= 1`);
      args.streams[name] = count;
    } else throw new Error(`unknown argument ${arg}; usage: rto-model [--config backup.yaml] [--json] [--results DIR] [--streams component=N]`);
  }
  return args;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const config = loadBackupConfig(args.config);
  const measured = throughputs(args.results);
  const components: ComponentModel[] = Object.entries(APPENDIX_SIZES_GB).map(([component, sizesGB]) => ({
    component,
    sizesGB,
    rtoHours: rtoOf(config.verification, component, COMPONENT_GROUP[component as ComponentName]).hours,
    // As parallelStreams() decides on the runner: its cores, at most MAX_STREAMS (the model caps by vCPU).
    streams: args.streams[component] ?? (PARALLEL_COMPONENTS.includes(component) ? MAX_STREAMS : 1),
    throughput: measured[component].throughput,
    efficiency: measured[component].efficiency,
  }));
  const model = rtoModel(components, config.runner, { order: DEFAULT_RESTORE_ORDER, rtoHours: SYSTEM_RTO_HOURS });
  process.stdout.write(args.json ? `${JSON.stringify({ config: args.config, runner: config.runner, ...model }, null, 2)}\n` : `${formatModel(model, config.runner)}\n`);
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`rto-model: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
