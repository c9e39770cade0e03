import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { benchConfig, runBench } from '../../src/simulation/bench.js';
import { CarbonTrace, DEFAULT_RUN_START_MS, flatTrace } from '../../src/simulation/carbon-trace.js';
import { runDetail } from '../../src/simulation/kpi.js';
import { RefusedJobError, simulate } from '../../src/simulation/simulator.js';
import { fcfs, waitBelowThreshold } from '../../src/simulation/strategies/heuristics.js';
import { strategyNames } from '../../src/simulation/strategies/registry.js';
import { DAY_MS, HOUR_MS, syntheticWorkload } from '../../src/simulation/workload.js';
import { DECISION_COLUMNS } from '../../src/scheduler/decisions.js';

const region = (name: string, zone: string, cpu: number) => ({ name, cluster: `carbon-${name.toLowerCase()}`, context: `kind-carbon-${name.toLowerCase()}`, zone, capacity: { cpu, mem_gb: 4 * cpu, gpu: 2 } });
/** Small clusters, so that a few dozen jobs contend for room. */
const smallConfig = benchConfig({
  regions: [region('KR', 'KR', 12), region('JP', 'JP-TK', 12), region('CN', 'CN', 12)],
  // The benchmark's Lagrangian, on a short leash: small cycles rarely need it.
  optimizer: { solver: 'lagrangian', time_limit_seconds: 0.5, gap_tolerance: 0.005 },
});
const dir = mkdtempSync(join(tmpdir(), 'caspian-sanity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('strategy benchmark sanity', () => {
  it('no online strategy beats the oracle', async () => {
    const bench = await runBench({ workload: { kind: 'synthetic' }, jobs: 24, days: 0.25, seed: 3, strategies: strategyNames() }, smallConfig);
    const rows = bench.results.strategies;
    expect(rows.map((r) => r.name)).toEqual(strategyNames());
    const oracle = rows.find((r) => r.name === 'oracle')!;
    expect(bench.runs.find((r) => r.strategy === 'oracle')?.offline?.solver_status).toBe('optimal');
    for (const row of rows) {
      // Only by leaving work undone can a strategy emit less: the runs that did all of it never beat the oracle.
      if (row.energy_kwh < oracle.energy_kwh - 1e-6) expect(row.deadline_misses, row.name).toBeGreaterThan(0);
      else expect(row.co2_kg, row.name).toBeGreaterThanOrEqual(oracle.co2_kg - 1e-9);
    }
    // Contention makes the carbon-blind baselines differ from it, and carbon-awareness pays.
    expect(oracle.co2_kg).toBeLessThan(rows.find((r) => r.name === 'fcfs')!.co2_kg);
    expect(oracle.deadline_misses).toBe(0);
    expect(oracle.savings_vs_fcfs_pct).toBeGreaterThan(0);
  }, 60_000);

  it('with the same flat intensity everywhere, every strategy emits the same CO2', async () => {
    const bench = await runBench(
      { workload: { kind: 'synthetic' }, jobs: 30, days: 0.5, seed: 4, strategies: strategyNames() },
      // Room for everyone, so that every strategy runs every job.
      benchConfig(),
      flatTrace(['KR', 'JP-TK', 'CN'], 400),
    );
    const rows = bench.results.strategies;
    const fcfsRow = rows[0]!;
    for (const row of rows) {
      expect(row.co2_kg, row.name).toBeCloseTo(fcfsRow.co2_kg, 6);
      expect(row.avg_ci, row.name).toBeCloseTo(400, 6);
      expect(row.savings_vs_fcfs_pct, row.name).toBeCloseTo(0, 6);
      expect(row.deadline_misses, row.name).toBe(0);
    }
  }, 60_000);

  it('in one region with a deep midday dip, wait-below-threshold beats FCFS', async () => {
    // 500 gCO2/kWh except 100 from 10:00 to 16:00 UTC, every day.
    const dip = CarbonTrace.from('dip', ['KR'], DEFAULT_RUN_START_MS, HOUR_MS, 24, (_zone, at) => {
      const hour = new Date(at).getUTCHours();
      return hour >= 10 && hour < 16 ? 100 : 500;
    });
    const config = benchConfig({ regions: [region('KR', 'KR', 48)] });
    const workload = syntheticWorkload({ jobs: 30, days: 0.4, seed: 9, regions: ['KR'], slack: { tight: 0, normal: 0 } });
    const setup = { config, workload, trace: dip, startMs: DEFAULT_RUN_START_MS };
    const [first, waiting] = await Promise.all([simulate(setup, fcfs, { seed: 9 }), simulate(setup, waitBelowThreshold(), { seed: 9 })]);
    const [f, w] = [runDetail(first), runDetail(waiting)];
    expect(w.kpis.deadline_misses).toBe(0);
    expect(w.kpis.co2_kg).toBeLessThan(0.5 * f.kpis.co2_kg);
    expect(w.kpis.avg_ci).toBeLessThan(150);
    expect(f.kpis.avg_ci).toBeGreaterThan(400);
  }, 60_000);

  it('is deterministic for a seed, and each hub writes its decision log', async () => {
    const options = { workload: { kind: 'synthetic' as const }, jobs: 20, days: 0.25, seed: 8, strategies: ['fcfs', 'random', 'ecsched'] };
    const a = await runBench({ ...options, decisionsDir: dir }, smallConfig);
    const b = await runBench(options, smallConfig);
    const strip = (rows: typeof a.results.strategies) => rows.map(({ scheduler_cpu_s: _, ...rest }) => rest);
    expect(strip(a.results.strategies)).toEqual(strip(b.results.strategies));
    expect(a.results.workload).toBe('synthetic');
    const csv = readFileSync(join(dir, 'decisions-random.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe(DECISION_COLUMNS.join(','));
    // Every job is decided at least once, by the strategy that ran.
    const decided = new Set(csv.slice(1).map((line) => line.split(',')[1]));
    expect(decided.size).toBe(20);
    expect(csv.slice(1).every((line) => line.split(',')[5] === 'random')).toBe(true);
    expect(a.runs[0]!.endMs - a.setup.startMs).toBeLessThan(2 * DAY_MS);
  }, 60_000);

  it("a run into the directory of an earlier one leaves each decision log with that run's decisions only", async () => {
    const out = join(dir, 'rerun');
    const options = { workload: { kind: 'synthetic' as const }, jobs: 4, days: 0.05, strategies: ['fcfs'], decisionsDir: out };
    await runBench({ ...options, seed: 1 }, smallConfig);
    const second = await runBench({ ...options, seed: 2 }, smallConfig);
    const csv = readFileSync(join(out, 'decisions-fcfs.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe(DECISION_COLUMNS.join(','));
    expect(second.runs[0]!.decisions.length).toBeGreaterThan(0);
    expect(csv.slice(1).map((line) => line.split(',')[1])).toEqual(second.runs[0]!.decisions.map((d) => d.job_id));
  }, 60_000);

  it('a job the hub refuses stops the run with an error naming the job and the reason', async () => {
    const workload = syntheticWorkload({ jobs: 2, days: 0.05, seed: 1, regions: ['KR'] });
    const refused = { ...workload.jobs[1]!, cpu: 0, origin: 'trace/row-2' };
    const setup = { config: smallConfig, workload: { ...workload, jobs: [workload.jobs[0]!, refused] }, trace: flatTrace(['KR', 'JP-TK', 'CN'], 400), startMs: DEFAULT_RUN_START_MS };
    const failed = await simulate(setup, fcfs, { seed: 1 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(RefusedJobError);
    expect(failed).toMatchObject({ jobId: refused.job_id, reason: 'invalid AppWrapper: cpu: Too small: expected number to be >0' });
    expect((failed as Error).message).toBe(`the hub refused job ${refused.job_id} (trace/row-2): invalid AppWrapper: cpu: Too small: expected number to be >0`);
  });
});
