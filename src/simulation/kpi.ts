import type { Config } from '../config/config.js';
import { poolOf, type ClusterInfo } from '../domain/cluster.js';
import { clusterInfo } from '../main.js';
import type { SimulationRun } from './simulator.js';
import type { WorkloadJob } from './workload.js';

/** One strategy's row of `results.json` (and `results.csv`), as the issue fixes it. */
export interface StrategyKpis {
  name: string;
  /** Carbon of what ran (energy x the trace's intensity while and where it ran) plus the network carbon of data moved by live migrations, kg. */
  co2_kg: number;
  energy_kwh: number;
  /** gCO2 per kWh of the energy used: co2 / energy. */
  avg_ci: number;
  /** (FCFS CO2 - this CO2) / FCFS CO2 x 100; null when FCFS did not run. */
  savings_vs_fcfs_pct: number | null;
  /** Submission to finish, over the jobs that succeeded, seconds. */
  turnaround_mean_s: number;
  turnaround_p95_s: number;
  /** Jobs that could have met their deadline (alone, on an empty cluster) and did not finish by it. */
  deadline_misses: number;
  /** Changes of a job's target cluster the schedule cycles decided (the hub's migration count). */
  migrations: number;
  /** Data carried by jobs that moved while running, GB. */
  data_moved_gb: number;
  scheduler_cpu_s: number;
}

/** Per-run figures beyond the fixed KPI row: for the table's notes, the charts and the tests. */
export interface RunDetail {
  kpis: StrategyKpis;
  succeeded: number;
  /** Jobs no strategy could have finished in time (deadline shorter than the next cycle plus the run, or larger than every cluster). */
  hopeless: number;
  /** Jobs that never ran or were stopped, by phase and reason. */
  failed: number;
  /** Cumulative CO2, kg, at the end of each slot from the run's start. */
  cumulativeCo2Kg: number[];
  /** Average cores in use per region over each slot. */
  regionLoad: Map<string, number[]>;
  slotMs: number;
}

/** Watts a job draws on FAST workers with the hub's energy model (a pool's `power_factor` scales it). */
export function powerW(job: Pick<WorkloadJob, 'cpu' | 'mem_gb' | 'gpu'>, config: Config): number {
  return job.cpu * config.energy.watt_cpu + job.gpu * config.energy.watt_gpu + job.mem_gb * config.energy.watt_mem_gb;
}

/** Each configured cluster as the hub's cluster catalogue holds it, for `poolOf`. */
function poolsByCluster(config: Config): Map<string, ClusterInfo> {
  return new Map(config.regions.map((r) => [r.cluster, clusterInfo(r)]));
}

/**
 * Whether a job could meet its deadline at all: it is first planned by the cycle at or after its arrival, so
 * it needs that cycle plus its run (in whole slots, as every strategy plans) before the deadline, and it must
 * fit an allowed cluster when that is empty.
 */
export function couldMeetDeadline(job: WorkloadJob, config: Config): boolean {
  const slotMs = config.slot_seconds * 1000;
  const runtimeMs = job.runtime_minutes * 60_000;
  const release = Math.ceil(job.arrival_ms / slotMs);
  const latestStart = Math.floor((job.arrival_ms + job.deadline_minutes * 60_000 - runtimeMs) / slotMs);
  if (latestStart < release) return false;
  return config.regions.some(
    (r) =>
      (job.affinity_regions.length === 0 || job.affinity_regions.includes(r.name)) &&
      job.cpu <= r.capacity.cpu &&
      job.mem_gb <= r.capacity.mem_gb &&
      job.gpu <= r.capacity.gpu,
  );
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * The KPIs of a run, from what happened: each job's runs (cluster, pool, start, end) as the store and the
 * spokes recorded them, the hub's energy model (a run draws the job's FAST power times its pool's power factor,
 * as the hub's carbon accounting counts it), the carbon trace at those times and places, and the network
 * carbon of data carried by live migrations. Savings against FCFS are filled in by `withSavings`.
 */
export function runDetail(run: SimulationRun): RunDetail {
  const { config, trace, startMs } = run.setup;
  const slotMs = config.slot_seconds * 1000;
  const slots = Math.max(1, Math.ceil((run.endMs - startMs) / slotMs));
  const co2PerSlot = new Float64Array(slots);
  const regionLoad = new Map(config.regions.map((r) => [r.name, new Array<number>(slots).fill(0)]));
  let co2G = 0;
  let energyKwh = 0;
  let dataMovedGb = 0;
  let misses = 0;
  let hopeless = 0;
  let failed = 0;
  const turnarounds: number[] = [];
  const pools = poolsByCluster(config);

  for (const o of run.outcomes) {
    const fastWatts = powerW(o.job, config);
    for (const seg of o.segments) {
      const watts = fastWatts * poolOf(pools.get(seg.cluster), seg.pool).powerFactor;
      energyKwh += (watts * ((seg.toMs - seg.fromMs) / 3_600_000)) / 1000;
      co2G += (watts / 1000) * trace.integral(seg.zone, seg.fromMs, seg.toMs);
      const load = regionLoad.get(seg.region);
      for (let s = Math.max(0, Math.floor((seg.fromMs - startMs) / slotMs)); s < slots; s++) {
        const from = Math.max(seg.fromMs, startMs + s * slotMs);
        const to = Math.min(seg.toMs, startMs + (s + 1) * slotMs);
        if (to <= from) break;
        co2PerSlot[s] = (co2PerSlot[s] as number) + (watts / 1000) * trace.integral(seg.zone, from, to);
        if (load) load[s] = (load[s] as number) + (o.job.cpu * (to - from)) / slotMs;
      }
    }
    for (let i = 1; i < o.segments.length; i++) {
      const from = o.segments[i - 1]?.region as string;
      const to = o.segments[i]?.region as string;
      if (from === to) continue;
      dataMovedGb += o.job.data_gb;
      const transferG = (config.migration.network_gco2_per_gb[from]?.[to] ?? 0) * o.job.data_gb;
      co2G += transferG;
      const s = Math.min(slots - 1, Math.max(0, Math.floor(((o.segments[i] as { fromMs: number }).fromMs - startMs) / slotMs)));
      co2PerSlot[s] = (co2PerSlot[s] as number) + transferG;
    }
    const succeeded = o.phase === 'Succeeded' && o.finishedAt !== undefined;
    if (succeeded) turnarounds.push(((o.finishedAt as number) - o.submittedAt) / 1000);
    else failed++;
    if (!couldMeetDeadline(o.job, config)) hopeless++;
    else if (!succeeded || (o.finishedAt as number) > o.deadlineAt) misses++;
  }

  const cumulative: number[] = [];
  let sum = 0;
  for (const g of co2PerSlot) cumulative.push(round((sum += g) / 1000, 4));
  const mean = turnarounds.length ? turnarounds.reduce((a, b) => a + b, 0) / turnarounds.length : 0;
  return {
    kpis: {
      name: run.strategy,
      co2_kg: round(co2G / 1000, 3),
      energy_kwh: round(energyKwh, 3),
      avg_ci: round(energyKwh > 0 ? co2G / energyKwh : 0, 2),
      savings_vs_fcfs_pct: null,
      turnaround_mean_s: round(mean, 1),
      turnaround_p95_s: round(percentile(turnarounds, 95), 1),
      deadline_misses: misses,
      migrations: run.migrations.length,
      data_moved_gb: round(dataMovedGb, 2),
      scheduler_cpu_s: round(run.schedulerCpuSeconds, 3),
    },
    succeeded: turnarounds.length,
    hopeless,
    failed,
    cumulativeCo2Kg: cumulative,
    regionLoad,
    slotMs,
  };
}

/** Fills `savings_vs_fcfs_pct` from the FCFS row, when there is one. */
export function withSavings(rows: readonly StrategyKpis[]): StrategyKpis[] {
  const fcfs = rows.find((r) => r.name === 'fcfs');
  return rows.map((r) => ({ ...r, savings_vs_fcfs_pct: fcfs && fcfs.co2_kg > 0 ? round(((fcfs.co2_kg - r.co2_kg) / fcfs.co2_kg) * 100, 2) : null }));
}
