import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseRunner, formatModel, lambdaVcpu, rtoModel, type ComponentModel, type RunnerSettings } from '../../bench/rto';
import { efficiencyOf, measuredFigures, throughputs } from '../../bench/rto-model';

const GB = 1e9;
const runner: RunnerSettings = {
  lambdaMaxBytes: 2 * 2 ** 30,
  lambda: { memoryMiB: 2048, timeoutMinutes: 15 },
  fargate: { cpu: 1024, memoryMiB: 4096, ephemeralStorageGiB: 21 },
};
const measured = (mbps: number) => ({ mbps, source: 'measured' as const, from: 'bench/results/x.json', at: '2026-11-30' });
const component = (name: string, low: number, high: number, rtoHours: number, backup: number, restore: number, streams?: number): ComponentModel => ({
  component: name,
  sizesGB: { low, high },
  rtoHours,
  ...(streams ? { streams } : {}),
  throughput: { backup: measured(backup), restore: measured(restore) },
});

describe('the RTO model', () => {
  it('gives Lambda one vCPU per 1769 MB, six at most', () => {
    expect(lambdaVcpu(1769)).toBe(1);
    expect(lambdaVcpu(1024)).toBeCloseTo(0.579, 3);
    expect(lambdaVcpu(10240)).toBeCloseTo(5.79, 2);
    expect(lambdaVcpu(12000)).toBe(6);
  });

  it('slows one stream on a Lambda under one vCPU, and never speeds one stream past one vCPU', () => {
    const small = chooseRunner(1 * GB, 10, 1, { ...runner, lambda: { memoryMiB: 1769 / 2, timeoutMinutes: 15 } });
    expect(small).toMatchObject({ runner: 'lambda', why: 'size' });
    expect(small.seconds).toBeCloseTo(200, 6); // 1000 MB at 10 MB/s x 0.5 vCPU
    const big = chooseRunner(1 * GB, 10, 1, { ...runner, lambda: { memoryMiB: 10240, timeoutMinutes: 15 } });
    expect(big.seconds).toBeCloseTo(100, 6);
  });

  it('puts a size above lambdaMaxBytes on Fargate, and a small one on Lambda unless it would outlast the timeout', () => {
    expect(chooseRunner(3 * GB, 100, 1, runner)).toMatchObject({ runner: 'fargate', why: 'size' });
    expect(chooseRunner(1 * GB, 100, 1, runner)).toMatchObject({ runner: 'lambda', why: 'size' });
    // 2 GB at 1 MB/s x 1.16 vCPU on Lambda: ~29 min > 15 min, so Fargate
    expect(chooseRunner(2 * GB, 1, 1, runner)).toMatchObject({ runner: 'fargate', why: 'lambda-timeout', vcpu: 1 });
    expect(chooseRunner(1 * GB, 100, 1, { ...runner, force: 'lambda' })).toMatchObject({ runner: 'lambda', why: 'forced' });
  });

  it('gives parallel streams as many times the throughput as the runner has vCPU for', () => {
    const fargate4 = { ...runner, fargate: { ...runner.fargate, cpu: 4096 } };
    expect(chooseRunner(100 * GB, 10, 1, fargate4).seconds).toBeCloseTo(10_000, 6);
    expect(chooseRunner(100 * GB, 10, 8, fargate4).seconds).toBeCloseTo(2_500, 6);
  });

  it('adds only the measured share of a stream for each stream past the first', () => {
    const fargate4 = { ...runner, fargate: { ...runner.fargate, cpu: 4096 } };
    // 4 streams at efficiency 0.5: 1 + 3 x 0.5 = 2.5 times one stream
    expect(chooseRunner(100 * GB, 10, 4, fargate4, 0.5).seconds).toBeCloseTo(4_000, 6);
    // no more streams than vCPU, whatever the efficiency
    expect(chooseRunner(100 * GB, 10, 8, fargate4, 1).seconds).toBeCloseTo(2_500, 6);
    const model = rtoModel([{ ...component('vector', 100, 300, 4, 10, 10, 8), efficiency: { restore: 0.5 } }], fargate4, { order: ['vector'], rtoHours: 12 });
    expect(model.components[0].efficiency).toEqual({ backup: 1, restore: 0.5 });
    expect(model.components[0].sizes[0].restore.seconds).toBeCloseTo(4_000, 6);
    expect(formatModel(model, fargate4)).toMatch(/vector +restore +10\.0 \+0\.50/);
  });

  it('flags a restore over the RTO at the high size only, and none for a component without an RTO', () => {
    // 10 MB/s: 100 GB restores in 10 000 s = 2.8 h; 200 GB in 5.6 h; RTO 4 h
    const model = rtoModel([component('postgres', 100, 200, 4, 10, 10), component('models', 10, 50, 0, 10, 10)], runner, { order: ['postgres', 'models'], rtoHours: 12 });
    const [postgres, models] = model.components;
    expect(postgres.sizes.map((s) => [s.size, s.withinRto])).toEqual([['low', true], ['high', false]]);
    expect(models.sizes.map((s) => s.withinRto)).toEqual([null, null]);
    const table = formatModel(model, runner);
    expect(table).toMatch(/\| postgres +\| 200 GB .*\| 4 h +\| MISS \|/);
    expect(table).toMatch(/\| postgres +\| 100 GB .*\| 4 h +\| OK +\|/);
  });

  it('adds the restores one after another in restore order for the full system', () => {
    // restores: a 100 GB at 10 MB/s = 10 000 s; b 50 GB at 5 MB/s = 10 000 s; c 30 GB at 10 MB/s = 3 000 s
    const model = rtoModel([component('c', 30, 30, 4, 10, 10), component('a', 100, 100, 4, 10, 10), component('b', 50, 50, 4, 10, 5)], runner, { order: ['a', 'b'], rtoHours: 6 });
    const high = model.system.find((s) => s.size === 'high')!;
    expect(high.order).toEqual(['a', 'b', 'c']);
    expect(high.seconds).toBeCloseTo(23_000, 6);
    expect(high.withinRto).toBe(false); // 6.4 h > 6 h
  });
});

describe('the RTO model throughputs', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nca-rto-'));
    const postgres = (at: string, backup: number) => ({ at, cpus: 2, results: [{ databaseBytes: 1e8, backup: { oursMBps: 1 }, restore: { oursMBps: 1 } }, { databaseBytes: 2e8, backup: { oursMBps: backup }, restore: { oursMBps: 30 } }] });
    writeFileSync(join(dir, 'postgres-2026-11-30T09-00-00-000Z.json'), JSON.stringify(postgres('2026-11-30T09:00:00.000Z', 11)));
    writeFileSync(join(dir, 'postgres-2026-11-30T12-00-00-000Z.json'), JSON.stringify(postgres('2026-11-30T12:00:00.000Z', 22)));
    writeFileSync(join(dir, 'redis-2026-11-30T12-00-00-000Z.json'), JSON.stringify({ at: '2026-11-30T12:00:00.000Z', data: { usedMemoryBytes: 100e6 }, backup: { oursMs: 4000 }, restore: { oursMs: 5000 } }));
    writeFileSync(
      join(dir, 'vector-2026-11-30T12-00-00-000Z.json'),
      JSON.stringify({ at: '2026-11-30T12:00:00.000Z', backup: { singleStream: { MBps: 20 }, parallel: { MBps: 35, readers: 2 } }, restore: { copyBinary: { MBps: 25 } } }),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the newest result of each kind, its largest size, and names the file', () => {
    const t = throughputs(dir);
    expect(t.postgres.throughput.backup).toEqual({ mbps: 22, source: 'measured', from: 'bench/results/postgres-2026-11-30T12-00-00-000Z.json', at: '2026-11-30T12:00:00.000Z, 2 cpus' });
    expect(t.postgres.throughput.restore.mbps).toBe(30);
    expect(t.redis.throughput.backup.mbps).toBeCloseTo(25, 6);
    expect(t.redis.throughput.restore.mbps).toBeCloseTo(20, 6);
  });

  it('derives the efficiency from one stream and the parallel run of the same bench', () => {
    const t = throughputs(dir);
    // vector backup: 20 MB/s alone, 35 with 2 readers: the second adds 0.75 of one; its restore is one COPY
    expect(t.vector.throughput.backup.mbps).toBe(20);
    expect(t.vector.efficiency).toEqual({ backup: 0.75, restore: 0 });
    // Redis runs on one server thread; models are one stream
    expect(t.redis.efficiency).toEqual({ backup: 0, restore: 0 });
    expect(t.models.efficiency).toEqual({ backup: 0, restore: 0 });
    // a postgres result without streams (before the parallel layout) says nothing of the efficiency
    expect(t.postgres.assumedEfficiency.backup).toMatch(/no single-vs-parallel/);
  });

  it('takes raw single-stream pg_dump as one postgres stream when the bench ran ours with several', () => {
    expect(measuredFigures('postgres', { results: [{ databaseBytes: 1e9, streams: 2, backup: { rawSingleMBps: 10, oursMBps: 18 }, restore: { rawSingleMBps: 20, oursMBps: 19 } }] })).toEqual({
      backup: { single: 10, parallel: 18, streams: 2 },
      restore: { single: 19, efficiency: 0 },
    });
    expect(efficiencyOf({ single: 10, parallel: 18, streams: 2 })).toBeCloseTo(0.8, 6);
    // ours with 2 streams slower than raw single-stream pg_restore: ours is the figure, more streams add nothing
    expect(measuredFigures('postgres', { results: [{ databaseBytes: 1e9, streams: 2, backup: {}, restore: { rawSingleMBps: 43.5, oursMBps: 36.7 } }] }).restore).toEqual({ single: 36.7, efficiency: 0 });
  });

  it('falls back to an assumed figure, marked as such, where no result exists', () => {
    const t = throughputs(dir);
    expect(t.models.throughput.backup.source).toBe('assumed');
    expect(t.mongodb.throughput.restore).toMatchObject({ source: 'assumed', from: expect.stringMatching(/no MongoDB bench/) });
    expect(t.mongodb.efficiency.restore).toBe(0.5);
    const empty = throughputs(join(dir, 'missing'));
    expect(empty.postgres.throughput.backup).toMatchObject({ source: 'assumed', from: expect.stringMatching(/no postgres bench result/) });
  });
});
