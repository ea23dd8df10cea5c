/**
 * The RTO model (issue 16), pure: from per-stream throughputs (measured by the benches, or assumed where no
 * bench exists) and the runner settings of backup.yaml, how long each component of the runbook's appendix
 * takes to back up and restore at its low and high size, on which runner, against its RTO; and the full
 * system's restore (restore-all: one component after another) against the runbook's 12 h.
 *
 * The model, stated so it can be argued with:
 *  - one stream's throughput is what the bench measured for one backup or restore (one process chain:
 *    pg_dump + node, etc.); a stream uses at most one vCPU, and on a runner with less than one vCPU it
 *    slows in proportion (Lambda below 1769 MB);
 *  - a component with `streams` parallel streams (functions/core/streams.ts: the runner's cores, at most 8)
 *    runs k = min(streams, vCPU) of them at once; each stream past the first adds `efficiency` of one
 *    stream's throughput, the efficiency measured by the bench (its parallel run against its single-stream
 *    run, same data, same run): k=4 at efficiency 0.8 gives 1 + 3 x 0.8 = 3.4 times one stream. Without a
 *    measured figure a parallel stream counts fully (efficiency 1) and says so. The source server's own
 *    capacity (an RDS instance's IOPS, a Redis shard's one thread) is not modelled: it is the operator's to size;
 *  - a size above lambdaMaxBytes runs on Fargate; so does a run that would outlast the Lambda timeout
 *    (the state machine cannot finish it on Lambda); `runner.force` overrides both;
 *  - no component stages its data on the runner's disk (backups stream to S3, restores stream from S3 into
 *    the target), so Fargate's ephemeral storage does not limit any size here.
 */

/** One Lambda vCPU per 1769 MB of memory (AWS Lambda: "at 1,769 MB a function has the equivalent of one vCPU"), 6 at most. */
export const LAMBDA_MB_PER_VCPU = 1769;
export const LAMBDA_MAX_VCPU = 6;

export type Direction = 'backup' | 'restore';
export type RunnerKind = 'lambda' | 'fargate';

/** One stream's throughput in one direction and where the figure comes from. */
export interface Throughput {
  /** Megabytes (10^6 bytes) of the component's data size per second, one stream. */
  readonly mbps: number;
  /** `measured`: from a bench result file; `assumed`: no bench result, a conservative figure documented in rto-model.ts. */
  readonly source: 'measured' | 'assumed';
  /** The bench file (measured) or the reason of the assumption (assumed). */
  readonly from: string;
  /** When the bench ran (measured). */
  readonly at?: string;
}

/** The runner settings the model reads (config/types.ts RunnerConfig, the fields that matter here). */
export interface RunnerSettings {
  readonly lambdaMaxBytes: number;
  readonly force?: RunnerKind;
  readonly lambda: { readonly memoryMiB: number; readonly timeoutMinutes: number };
  readonly fargate: { readonly cpu: number; readonly memoryMiB: number; readonly ephemeralStorageGiB: number };
}

export interface ComponentModel {
  readonly component: string;
  /** The runbook's appendix sizes, in GB (10^9 bytes). */
  readonly sizesGB: { readonly low: number; readonly high: number };
  readonly rtoHours: number;
  /** Parallel streams the component can use. @default 1 */
  readonly streams?: number;
  /** One stream's throughput per direction. */
  readonly throughput: Readonly<Record<Direction, Throughput>>;
  /** What each stream past the first adds, per direction, as a share of one stream (0-1). @default 1 */
  readonly efficiency?: Partial<Readonly<Record<Direction, number>>>;
}

export interface RunEstimate {
  readonly runner: RunnerKind;
  /** Why this runner: the size against lambdaMaxBytes, the Lambda timeout, or runner.force. */
  readonly why: 'size' | 'lambda-timeout' | 'forced';
  readonly vcpu: number;
  readonly seconds: number;
}

export interface SizeEstimate {
  readonly size: 'low' | 'high';
  readonly gb: number;
  readonly backup: RunEstimate;
  readonly restore: RunEstimate;
  /** 0: the component has no RTO (runbook or backup.verification.rto). */
  readonly rtoHours: number;
  /** The restore fits in the RTO; null without one. */
  readonly withinRto: boolean | null;
}

export interface ComponentEstimate {
  readonly component: string;
  readonly streams: number;
  readonly efficiency: Readonly<Record<Direction, number>>;
  readonly throughput: Readonly<Record<Direction, Throughput>>;
  readonly sizes: readonly SizeEstimate[];
}

export interface SystemEstimate {
  readonly size: 'low' | 'high';
  /** Components in restore order, each restore after the previous (restore-all). */
  readonly order: readonly string[];
  readonly seconds: number;
  readonly rtoHours: number;
  readonly withinRto: boolean;
}

export interface RtoModel {
  readonly runners: { readonly lambdaVcpu: number; readonly fargateVcpu: number; readonly stagingOnDisk: readonly string[] };
  readonly components: readonly ComponentEstimate[];
  readonly system: readonly SystemEstimate[];
}

/** A Lambda function's vCPU share: memory / 1769 MB, at most 6. */
export function lambdaVcpu(memoryMiB: number): number {
  return Math.min(LAMBDA_MAX_VCPU, memoryMiB / LAMBDA_MB_PER_VCPU);
}

/** A Fargate task's vCPU: cpu units / 1024. */
export function fargateVcpu(cpu: number): number {
  return cpu / 1024;
}

/**
 * Seconds to move `bytes` with `streams` streams of `mbps` each on `vcpu` vCPU: k = min(streams, vCPU) at
 * once (a stream uses one vCPU at most), each past the first adding `efficiency` of one stream.
 */
export function transferSeconds(bytes: number, mbps: number, streams: number, vcpu: number, efficiency = 1): number {
  const k = Math.min(Math.max(1, streams), vcpu);
  const scale = k <= 1 ? k : 1 + (k - 1) * Math.min(1, Math.max(0, efficiency));
  return bytes / 1e6 / (mbps * scale);
}

/** The runner a run of `bytes` lands on, and how long it takes there. */
export function chooseRunner(bytes: number, throughput: number, streams: number, runner: RunnerSettings, efficiency = 1): RunEstimate {
  const onLambda = { runner: 'lambda' as const, vcpu: lambdaVcpu(runner.lambda.memoryMiB) };
  const onFargate = { runner: 'fargate' as const, vcpu: fargateVcpu(runner.fargate.cpu) };
  const timed = (on: { runner: RunnerKind; vcpu: number }, why: RunEstimate['why']): RunEstimate => ({ ...on, why, seconds: transferSeconds(bytes, throughput, streams, on.vcpu, efficiency) });
  if (runner.force) return timed(runner.force === 'lambda' ? onLambda : onFargate, 'forced');
  if (bytes > runner.lambdaMaxBytes) return timed(onFargate, 'size');
  const lambda = timed(onLambda, 'size');
  return lambda.seconds > runner.lambda.timeoutMinutes * 60 ? timed(onFargate, 'lambda-timeout') : lambda;
}

/** Every component at its low and high size, and the system's sequential restore at each. */
export function rtoModel(components: readonly ComponentModel[], runner: RunnerSettings, system: { readonly order: readonly string[]; readonly rtoHours: number }): RtoModel {
  const estimates = components.map((c): ComponentEstimate => {
    const streams = c.streams ?? 1;
    const efficiency = { backup: c.efficiency?.backup ?? 1, restore: c.efficiency?.restore ?? 1 };
    const sizes = (['low', 'high'] as const).map((size): SizeEstimate => {
      const bytes = c.sizesGB[size] * 1e9;
      const backup = chooseRunner(bytes, c.throughput.backup.mbps, streams, runner, efficiency.backup);
      const restore = chooseRunner(bytes, c.throughput.restore.mbps, streams, runner, efficiency.restore);
      return { size, gb: c.sizesGB[size], backup, restore, rtoHours: c.rtoHours, withinRto: c.rtoHours > 0 ? restore.seconds <= c.rtoHours * 3600 : null };
    });
    return { component: c.component, streams, efficiency, throughput: c.throughput, sizes };
  });
  const rank = (name: string) => (system.order.includes(name) ? system.order.indexOf(name) : system.order.length);
  const ordered = [...estimates].sort((a, b) => rank(a.component) - rank(b.component));
  const systemEstimates = (['low', 'high'] as const).map((size): SystemEstimate => {
    const seconds = ordered.reduce((sum, c) => sum + c.sizes.find((s) => s.size === size)!.restore.seconds, 0);
    return { size, order: ordered.map((c) => c.component), seconds, rtoHours: system.rtoHours, withinRto: seconds <= system.rtoHours * 3600 };
  });
  return {
    runners: { lambdaVcpu: lambdaVcpu(runner.lambda.memoryMiB), fargateVcpu: fargateVcpu(runner.fargate.cpu), stagingOnDisk: [] },
    components: estimates,
    system: systemEstimates,
  };
}

/** 5400 s → "1 h 30 min"; under a minute → "< 1 min". */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return '< 1 min';
  const minutes = Math.round(seconds / 60);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h > 0 ? `${h} h ${String(m).padStart(2, '0')} min` : `${m} min`;
}

/** The model as the text table the README shows. */
export function formatModel(model: RtoModel, settings: RunnerSettings): string {
  const lines: string[] = [];
  const { lambda, fargate } = settings;
  lines.push(
    `Runners: Lambda ${lambda.memoryMiB} MB = ${model.runners.lambdaVcpu.toFixed(2)} vCPU, timeout ${lambda.timeoutMinutes} min, up to ${(settings.lambdaMaxBytes / 2 ** 30).toFixed(1)} GiB; ` +
      `Fargate cpu ${fargate.cpu} = ${model.runners.fargateVcpu} vCPU, ${fargate.memoryMiB} MiB, ${fargate.ephemeralStorageGiB} GiB ephemeral` +
      (settings.force ? `; forced onto ${settings.force}` : ''),
  );
  lines.push(`Ephemeral storage: ${model.runners.stagingOnDisk.length === 0 ? 'no component stages its data on disk (backups stream to S3, restores stream from S3; a per-table PostgreSQL restore keeps only its row-less schema archive), so it limits no size' : model.runners.stagingOnDisk.join(', ')}`);
  lines.push('');
  lines.push('Throughput of one stream (MB/s of data size), and what each further stream adds:');
  for (const c of model.components) {
    for (const d of ['backup', 'restore'] as const) {
      const t = c.throughput[d];
      const more = c.streams > 1 ? `+${c.efficiency[d].toFixed(2)}` : '  -  ';
      lines.push(`  ${c.component.padEnd(8)} ${d.padEnd(7)} ${t.mbps.toFixed(1).padStart(6)} ${more}  ${t.source === 'measured' ? `measured: ${t.from} (${t.at})` : `ASSUMED: ${t.from}`}`);
    }
  }
  lines.push('');
  const header = ['component', 'size', 'streams', 'backup', 'runner', 'restore', 'runner', 'RTO', ''];
  const rows = model.components.flatMap((c) =>
    c.sizes.map((s) => [c.component, `${s.gb} GB`, String(c.streams), formatDuration(s.backup.seconds), runnerLabel(s.backup), formatDuration(s.restore.seconds), runnerLabel(s.restore), s.rtoHours > 0 ? `${s.rtoHours} h` : 'none', s.withinRto === null ? '' : s.withinRto ? 'OK' : 'MISS']),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`;
  lines.push(line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line));
  lines.push('');
  for (const s of model.system) {
    lines.push(`Full system restore (${s.size} sizes, ${s.order.join(' → ')}, one after another): ${formatDuration(s.seconds)} vs RTO ${s.rtoHours} h: ${s.withinRto ? 'OK' : 'MISS'}`);
  }
  return lines.join('\n');
}

function runnerLabel(run: RunEstimate): string {
  return run.why === 'lambda-timeout' ? `${run.runner} (> Lambda timeout)` : run.why === 'forced' ? `${run.runner} (forced)` : run.runner;
}
