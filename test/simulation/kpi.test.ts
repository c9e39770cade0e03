import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { benchConfig } from '../../src/simulation/bench.js';
import { builtinWeek, CarbonTrace, DEFAULT_RUN_START_MS, flatTrace, WEEK_ZONES } from '../../src/simulation/carbon-trace.js';
import { couldMeetDeadline, runDetail, withSavings, type StrategyKpis } from '../../src/simulation/kpi.js';
import { simulate, type JobOutcome, type SimulationRun } from '../../src/simulation/simulator.js';
import { fcfs } from '../../src/simulation/strategies/heuristics.js';
import { syntheticWorkload, HOUR_MS, type WorkloadJob } from '../../src/simulation/workload.js';

const T0 = DEFAULT_RUN_START_MS;
const config = benchConfig();
/** KR 400 then 200 from the second hour; JP 300 flat. */
const trace = CarbonTrace.from('test', ['KR', 'JP-TK', 'CN'], T0, HOUR_MS, 24, (zone, at) => (zone === 'KR' ? (at - T0 >= HOUR_MS ? 200 : 400) : zone === 'JP-TK' ? 300 : 500));

const job = (over: Partial<WorkloadJob> = {}): WorkloadJob => ({
  job_id: 'a',
  arrival_ms: 0,
  cpu: 4,
  mem_gb: 10,
  gpu: 0,
  runtime_minutes: 90,
  deadline_minutes: 600,
  data_gb: 20,
  affinity_regions: [],
  origin: 'test',
  ...over,
});

function run(outcomes: JobOutcome[], extra: Partial<SimulationRun> = {}): SimulationRun {
  return {
    strategy: 'x',
    setup: { config, workload: { name: 'test', jobs: outcomes.map((o) => o.job), skipped: {} }, trace, startMs: T0 },
    outcomes,
    migrations: [],
    schedulerCpuSeconds: 1.23456,
    cycles: 10,
    endMs: T0 + 4 * HOUR_MS,
    decisions: [],
    wallSeconds: 1,
    ...extra,
  };
}

describe('KPIs', () => {
  it('price each run at the trace where and while it ran, and add the network carbon of a live move', () => {
    // 4 cores x 30 W + 10 GB x 0.392 W = 123.92 W. KR 00:30-01:30 (0.5 h at 400, 0.5 h at 200), then JP 01:30-02:00 at 300.
    const watts = 4 * 30 + 10 * 0.392;
    const migrated: JobOutcome = {
      job: job(),
      phase: 'Succeeded',
      submittedAt: T0,
      deadlineAt: T0 + 10 * HOUR_MS,
      finishedAt: T0 + 2 * HOUR_MS,
      segments: [
        { cluster: 'carbon-kr', pool: 'FAST', region: 'KR', zone: 'KR', fromMs: T0 + 0.5 * HOUR_MS, toMs: T0 + 1.5 * HOUR_MS },
        { cluster: 'carbon-jp', pool: 'FAST', region: 'JP', zone: 'JP-TK', fromMs: T0 + 1.5 * HOUR_MS, toMs: T0 + 2 * HOUR_MS },
      ],
    };
    const never: JobOutcome = { job: job({ job_id: 'b', deadline_minutes: 120 }), phase: 'Failed', reason: 'DeadlineExceeded', submittedAt: T0, deadlineAt: T0 + 2 * HOUR_MS, segments: [] };
    const detail = runDetail(run([migrated, never], { migrations: [{ job_id: 'a', from_cluster: 'carbon-kr', to_cluster: 'carbon-jp', data_gb: 20, cost_gco2: 200 }] }));
    const co2G = (watts / 1000) * (0.5 * 400 + 0.5 * 200 + 0.5 * 300) + 5 * 20;
    const kwh = (watts * 1.5) / 1000;
    expect(detail.kpis).toEqual({
      name: 'x',
      co2_kg: Math.round(co2G) / 1000,
      energy_kwh: Math.round(kwh * 1000) / 1000,
      avg_ci: Math.round((co2G / kwh) * 100) / 100,
      savings_vs_fcfs_pct: null,
      turnaround_mean_s: 7200,
      turnaround_p95_s: 7200,
      deadline_misses: 1,
      migrations: 1,
      data_moved_gb: 20,
      scheduler_cpu_s: 1.235,
    });
    expect(detail.succeeded).toBe(1);
    expect(detail.failed).toBe(1);
    // 15-minute slots over four hours; the whole CO2 is in by the end.
    expect(detail.cumulativeCo2Kg).toHaveLength(16);
    expect(detail.cumulativeCo2Kg.at(-1)).toBeCloseTo(co2G / 1000, 4);
    // One job of 4 cores in KR for the whole of slots 2-5 (00:30-01:30).
    expect(detail.regionLoad.get('KR')?.slice(0, 7)).toEqual([0, 0, 4, 4, 4, 4, 0]);
  });

  it("count a run on an ECO pool at the pool's power factor, as the hub's carbon accounting does", async () => {
    const pools = [{ name: 'FAST', share: 0.5 }, { name: 'ECO', share: 0.5, speed_factor: 1.5, power_factor: 0.6 }];
    const ecoConfig = benchConfig({ regions: [{ name: 'KR', cluster: 'carbon-kr', context: 'kind-carbon-kr', zone: 'KR', capacity: { cpu: 96, mem_gb: 384, gpu: 8 }, pools }] });
    // Two jobs of 40 cores: FAST (48 cores) takes one, the other runs on ECO, 1.5 times as long.
    const jobs = ['j-1', 'j-2'].map((id) => job({ job_id: id, cpu: 40, mem_gb: 0, runtime_minutes: 60, deadline_minutes: 600, data_gb: 0 }));
    const simulated = await simulate({ config: ecoConfig, workload: { name: 'eco', jobs, skipped: {} }, trace: flatTrace(['KR'], 500), startMs: T0 }, fcfs, { seed: 1 });
    expect(simulated.outcomes.map((o) => o.segments.map((seg) => [seg.pool, (seg.toMs - seg.fromMs) / 60_000]))).toEqual([[['FAST', 60]], [['ECO', 90]]]);
    // FAST: 40 x 30 W for 1 h = 1.2 kWh; ECO: 0.6 x 1200 W for 1.5 h = 1.08 kWh; at 500 g/kWh.
    const { kpis } = runDetail(simulated);
    expect(kpis.energy_kwh).toBeCloseTo(2.28, 9);
    expect(kpis.co2_kg).toBeCloseTo(1.14, 9);
    expect(kpis.avg_ci).toBeCloseTo(500, 9);
  });

  it('do not count as a miss a job no strategy could have finished in time', () => {
    const slot = config.slot_seconds * 1000;
    // Arrives just after a cycle: the next cycle is 14 minutes away, and a 60-minute run needs 74 of its 70.
    expect(couldMeetDeadline(job({ arrival_ms: 60_000, runtime_minutes: 60, deadline_minutes: 70 }), config)).toBe(false);
    expect(couldMeetDeadline(job({ arrival_ms: slot, runtime_minutes: 60, deadline_minutes: 60 }), config)).toBe(true);
    expect(couldMeetDeadline(job({ cpu: 1000 }), config)).toBe(false);
    expect(couldMeetDeadline(job({ gpu: 9, affinity_regions: ['KR'] }), config)).toBe(false);
  });

  it('measure savings against FCFS', () => {
    const row = (name: string, co2: number) => ({ name, co2_kg: co2 }) as StrategyKpis;
    expect(withSavings([row('fcfs', 200), row('caspian', 150)]).map((r) => r.savings_vs_fcfs_pct)).toEqual([0, 25]);
    expect(withSavings([row('caspian', 150)])[0]?.savings_vs_fcfs_pct).toBeNull();
  });
});

describe('workloads and carbon', () => {
  it('the synthetic generator is seeded and keeps to its promises', () => {
    const a = syntheticWorkload({ jobs: 300, days: 2, seed: 5, regions: ['KR', 'JP', 'CN'] });
    expect(syntheticWorkload({ jobs: 300, days: 2, seed: 5, regions: ['KR', 'JP', 'CN'] })).toEqual(a);
    expect(syntheticWorkload({ jobs: 300, days: 2, seed: 6, regions: ['KR', 'JP', 'CN'] })).not.toEqual(a);
    expect(a.jobs).toHaveLength(300);
    for (const [i, j] of a.jobs.entries()) {
      expect(j.arrival_ms).toBeGreaterThanOrEqual(i ? (a.jobs[i - 1] as WorkloadJob).arrival_ms : 0);
      expect(j.arrival_ms).toBeLessThan(2 * 24 * HOUR_MS);
      expect(j.runtime_minutes % 15).toBe(0);
      expect(j.deadline_minutes).toBeGreaterThanOrEqual(j.runtime_minutes + 15);
      expect(j.deadline_minutes).toBeLessThanOrEqual(24 * 60);
      expect(j.job_id).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(couldMeetDeadline(j, config)).toBe(true);
    }
    expect(a.jobs.filter((j) => j.gpu > 0).length).toBeGreaterThan(0);
    expect(a.jobs.filter((j) => j.affinity_regions.length > 0).length).toBeGreaterThan(50);
  });

  it('the hub reads through the trace-file provider what the KPIs price', async () => {
    const week = builtinWeek(1);
    expect(builtinWeek(1).values).toEqual(week.values);
    expect(week.zones).toEqual([...WEEK_ZONES]);
    const clock = new ManualClock(T0 + 6.5 * 24 * HOUR_MS);
    const provider = week.provider(clock);
    // Across the end of the week: the trace loops.
    const points = await provider.forecast('JP-TK', clock.now(), clock.now() + 24 * HOUR_MS);
    for (let h = 0; h < 24; h++) {
      const at = clock.now() + (h + 0.5) * HOUR_MS;
      const value = [...points].reverse().find((p) => p.at <= at)?.gco2PerKwh;
      expect(value, `hour ${h}`).toBe(week.at('JP-TK', at));
    }
    expect(week.at('KR', T0 + 7 * 24 * HOUR_MS + 1)).toBe(week.at('KR', T0 + 1));
    expect(week.integral('KR', T0, T0 + 2 * HOUR_MS)).toBeCloseTo(week.at('KR', T0) + week.at('KR', T0 + HOUR_MS), 9);
    const tokyo = (week.values.get('JP-TK') as number[]).slice(0, 24);
    // Tokyo's solar trough: noon JST (03:00 UTC) well under the evening (10:00 UTC).
    expect((tokyo[3] as number) + 60).toBeLessThan(tokyo[10] as number);
  });
});
