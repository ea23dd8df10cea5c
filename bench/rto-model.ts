/**
 * `npm run rto-model [-- --config backup.yaml] [--json] [--results DIR] [--streams component=N ...]`:
 * the RTO model of issue 16 (bench/rto.ts) for the runbook's appendix sizes, from the newest bench result
 * of each kind in bench/results and the runner settings of backup.yaml.
 *
 * Which figure each throughput is (MB/s of the component's data size, one stream):
 *  - postgres backup/restore: postgres-*.json, the largest database's `backup.oursMBps` / `restore.oursMBps`
 *    (database bytes over our backup step / our restore step);
 *  - redis backup/restore: redis-*.json, `data.usedMemoryBytes` over `backup.oursMs` / `restore.oursMs`;
 *  - models backup: models-*.json, the first run's `storedBytes` over its `ms`;
 *  - everything without a bench (mongodb, vector, models restore) and any bench not yet run: ASSUMED,
 *    the conservative figures below, marked as such in the output.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadBackupConfig } from '../config/load';
import { COMPONENT_GROUP, type ComponentName } from '../config/types';
import { rtoOf } from '../config/verification';
import { DEFAULT_RESTORE_ORDER } from '../functions/core/system-point';
import { SYSTEM_RTO_HOURS } from '../functions/core/system-restore';
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

/** Each measured figure a bench file gives, by component and direction (undefined: the file lacks it). */
export function measuredFigures(kind: 'postgres' | 'redis' | 'models', json: any): Partial<Record<Direction, number>> {
  if (kind === 'postgres') {
    const results: any[] = Array.isArray(json.results) ? json.results : [];
    const largest = results.reduce<any>((a, r) => (!a || r.databaseBytes > a.databaseBytes ? r : a), undefined);
    return { backup: largest?.backup?.oursMBps, restore: largest?.restore?.oursMBps };
  }
  if (kind === 'redis') {
    const bytes = Number(json.data?.usedMemoryBytes);
    return { backup: perSecond(bytes, Number(json.backup?.oursMs)), restore: perSecond(bytes, Number(json.restore?.oursMs)) };
  }
  const first = (Array.isArray(json.runs) ? json.runs : []).find((r: any) => r.step === 'first');
  return { backup: first ? perSecond(Number(first.storedBytes), Number(first.ms)) : undefined };
}

/** Each appendix component's throughput per direction: measured where the newest bench result has it, else assumed. */
export function throughputs(resultsDir: string): Record<string, Record<Direction, Throughput>> {
  const out: Record<string, Record<Direction, Throughput>> = {};
  for (const component of Object.keys(APPENDIX_SIZES_GB)) {
    const kind = component === 'postgres' || component === 'redis' || component === 'models' ? component : undefined;
    const bench = kind ? newestResult(resultsDir, kind) : undefined;
    const figures = kind && bench ? measuredFigures(kind, bench.json) : {};
    const pick = (d: Direction): Throughput => {
      const mbps = figures[d];
      if (bench && typeof mbps === 'number' && Number.isFinite(mbps) && mbps > 0) {
        return { mbps, source: 'measured', from: `bench/results/${bench.file}`, at: bench.at + (bench.json.cpus ? `, ${bench.json.cpus} cpus` : '') };
      }
      return { mbps: ASSUMED_MBPS[component][d].mbps, source: 'assumed', from: ASSUMED_MBPS[component][d].why };
    };
    out[component] = { backup: pick('backup'), restore: pick('restore') };
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
    streams: args.streams[component] ?? 1,
    throughput: measured[component],
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
