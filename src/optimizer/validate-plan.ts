import { withinCapacity } from '../domain/app-wrapper.js';
import { ownEntry } from './own-entry.js';
import { DEFAULT_COSTS } from './types.js';
import type { OptimizeInput, OptimizeJob, OptimizeOutput } from './types.js';

/**
 * An independent check of an `OptimizeOutput` against the `OptimizeInput` it answers. It deliberately shares
 * no code with the model builder: windows, affinity, the migration rule, capacities and costs are recomputed
 * from the input by direct summation, so a bug in `compileModel` cannot hide itself.
 */

export interface PlanViolation {
  /** The job concerned, when there is one. */
  job_id?: string;
  /** A short machine-readable kind, e.g. `window`, `capacity`, `cost`. */
  kind: string;
  message: string;
}

export interface PlanValidation {
  violations: PlanViolation[];
  /** The plan's objective recomputed from the input, gCO2. */
  objectiveGco2: number;
}

/** Relative tolerance for comparing recomputed sums with reported ones. */
const REL_TOL = 1e-6;
const ABS_TOL = 1e-6;

function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= ABS_TOL + REL_TOL * Math.max(Math.abs(a), Math.abs(b));
}

export function validatePlan(input: OptimizeInput, output: OptimizeOutput): PlanValidation {
  const violations: PlanViolation[] = [];
  const add = (kind: string, message: string, jobId?: string) =>
    violations.push(jobId === undefined ? { kind, message } : { job_id: jobId, kind, message });
  const jobs = new Map(input.jobs.map((j) => [j.job_id, j] as const));
  const regions = new Set(input.regions);
  const key = (region: string, slot: number) => `${region}\u0000${slot}`;
  // Capacity is per region, or per region pool when the region has pools.
  const siteKey = (region: string, pool: string | undefined, slot: number) => `${region}\u0000${pool ?? ''}\u0000${slot}`;
  const capacity = new Map(input.capacities.map((c) => [siteKey(c.region, c.pool, c.slot), c] as const));
  const carbon = new Map(input.carbons.map((c) => [key(c.region, c.slot), c.ci_gco2_per_kwh] as const));
  const watt = {
    cpu: input.costs.watt_cpu ?? DEFAULT_COSTS.watt_cpu,
    gpu: input.costs.watt_gpu ?? DEFAULT_COSTS.watt_gpu,
    mem: input.costs.watt_mem_gb ?? DEFAULT_COSTS.watt_mem_gb,
    lambda: input.costs.lambda_plan_dev ?? DEFAULT_COSTS.lambda_plan_dev,
  };
  const used = new Map<string, { cpu: number; mem: number; gpu: number }>();
  const seen = new Set<string>();
  let objective = 0;
  let waitCharges = 0;
  let migrations = 0;

  for (const item of output.plans) {
    const id = item.job_id;
    const job = jobs.get(id);
    if (!job) {
      add('unknown_job', `plan for unknown job "${id}"`, id);
      continue;
    }
    if (seen.has(id)) add('duplicate', `job "${id}" is planned more than once`, id);
    seen.add(id);
    if (!regions.has(item.region)) add('region', `job "${id}" planned in unknown region "${item.region}"`, id);
    if (job.affinity_regions.length && !job.affinity_regions.includes(item.region)) {
      add('affinity', `job "${id}" planned in ${item.region}, outside its affinity ${job.affinity_regions.join(', ')}`, id);
    }
    const prev = ownEntry(input.prev_plan, id)?.region;
    if (prev !== undefined && prev !== item.region) {
      migrations++;
      if (!input.migration_allow) add('migration', `job "${id}" moved ${prev} -> ${item.region} with migration_allow false`, id);
    }
    const pools = ownEntry(input.region_pools, item.region);
    const pool = pools?.find((p) => p.name === item.pool);
    if (pools && !pool) add('pool', `job "${id}" planned in ${item.region} on pool "${item.pool}", not one of its pools`, id);
    if (!pools && item.pool !== undefined) add('pool', `job "${id}" planned on pool "${item.pool}" in ${item.region}, which has no pools`, id);
    if (item.pool !== undefined && job.pools?.length && !job.pools.includes(item.pool)) {
      add('pool', `job "${id}" planned on pool ${item.pool}, outside its pools ${job.pools.join(', ')}`, id);
    }
    const speed = pool?.speed_factor ?? 1;
    let runtime = job.runtime_slots;
    while (runtime < job.runtime_slots * speed - 1e-9) runtime++;
    const end = item.start_slot + runtime - 1;
    if (!Number.isInteger(item.start_slot) || item.start_slot < job.release_slot || end > job.deadline_slot) {
      add('window', `job "${id}" runs slots ${item.start_slot}..${end}, outside ${job.release_slot}..${job.deadline_slot}`, id);
    } else if (job.latest_start_slot !== undefined && item.start_slot > job.latest_start_slot) {
      add('window', `job "${id}" starts at slot ${item.start_slot}, after its latest_start_slot ${job.latest_start_slot}`, id);
    }
    if (item.start_slot < 0 || end > input.horizon_slots - 1) {
      add('horizon', `job "${id}" runs slots ${item.start_slot}..${end}, outside the horizon 0..${input.horizon_slots - 1}`, id);
    }

    const power = (job.cpu * watt.cpu + job.gpu * watt.gpu + job.mem_gb * watt.mem) * (pool?.power_factor ?? 1);
    let runCost = 0;
    // The job holds whole slots but runs only part of its last one on a slower pool (1 slot of work at 1.5x: 1.5 slots).
    const lastShare = Math.min(1, job.runtime_slots * speed - (runtime - 1));
    for (let s = item.start_slot; s <= end; s++) {
      const share = s === end ? lastShare : 1;
      runCost += (share * (carbon.get(key(item.region, s)) ?? 0) * power * (input.slot_seconds / 3600)) / 1000;
      const cell = siteKey(item.region, item.pool, s);
      const u = used.get(cell) ?? { cpu: 0, mem: 0, gpu: 0 };
      u.cpu += job.cpu;
      u.mem += job.mem_gb;
      u.gpu += job.gpu;
      used.set(cell, u);
    }
    const wait = (job.wait_gco2_per_slot ?? 0) * (item.start_slot - job.release_slot);
    if (!close(wait, item.wait_cost_gco2 ?? 0)) add('cost', `job "${id}" wait_cost_gco2 ${item.wait_cost_gco2}, recomputed ${wait}`, id);
    const move = prev !== undefined && prev !== item.region
      ? watt.lambda + (ownEntry(ownEntry(input.network_costs, prev), item.region) ?? 0) * job.data_gb
      : 0;
    if (!close(runCost, item.cost_gco2)) add('cost', `job "${id}" cost_gco2 ${item.cost_gco2}, recomputed ${runCost}`, id);
    if (!close(move, item.migration_cost_gco2)) {
      add('cost', `job "${id}" migration_cost_gco2 ${item.migration_cost_gco2}, recomputed ${move}`, id);
    }
    objective += runCost + move + wait;
    waitCharges += wait;
  }

  for (const [cell, u] of used) {
    const [region, pool, slot] = cell.split('\u0000');
    const cap = capacity.get(cell) ?? { cpu_cap: 0, mem_gb_cap: 0, gpu_cap: 0 };
    for (const [what, load, limit] of [
      ['cpu', u.cpu, cap.cpu_cap],
      ['mem_gb', u.mem, cap.mem_gb_cap],
      ['gpu', u.gpu, cap.gpu_cap],
    ] as const) {
      const where = pool ? `${region} pool ${pool}` : region;
      if (!withinCapacity(load, limit)) add('capacity', `${what} in ${where} slot ${slot}: ${load} used of ${limit}`);
    }
  }

  checkUnscheduled(input, output, seen, (region, pool, slot) => capacity.get(siteKey(region, pool, slot)), add);
  checkTotals(output, objective, waitCharges, migrations, add);
  return { violations, objectiveGco2: objective };
}

type Add = (kind: string, message: string, jobId?: string) => void;
type CapacityAt = (region: string, pool: string | undefined, slot: number) => OptimizeInput['capacities'][number] | undefined;

/** Every job is either planned or unscheduled, and the "cannot run even alone" claims hold. */
function checkUnscheduled(input: OptimizeInput, output: OptimizeOutput, planned: Set<string>, capacityAt: CapacityAt, add: Add): void {
  const listed = new Set<string>();
  const jobs = new Map(input.jobs.map((j) => [j.job_id, j] as const));
  for (const u of output.unscheduled) {
    const job = jobs.get(u.job_id);
    if (!job) {
      add('unknown_job', `unscheduled entry for unknown job "${u.job_id}"`, u.job_id);
      continue;
    }
    if (planned.has(u.job_id) || listed.has(u.job_id)) add('duplicate', `job "${u.job_id}" is both planned and unscheduled, or listed twice`, u.job_id);
    listed.add(u.job_id);
    if (!u.reason.includes(u.job_id)) add('reason', `unscheduled reason for "${u.job_id}" does not name the job`, u.job_id);
    const alone = aloneStarts(input, job, capacityAt);
    if (u.code === 'empty_window' && alone.windowStarts > 0) add('reason', `job "${u.job_id}" reported empty_window but has a window`, u.job_id);
    if (u.code === 'no_region' && alone.regions > 0) add('reason', `job "${u.job_id}" reported no_region but may run somewhere`, u.job_id);
    if (u.code === 'no_capacity' && alone.fitting > 0) add('reason', `job "${u.job_id}" reported no_capacity but fits alone`, u.job_id);
    if (u.code === 'capacity_contention' && alone.fitting === 0) {
      add('reason', `job "${u.job_id}" reported capacity_contention but cannot fit even alone`, u.job_id);
    }
  }
  for (const job of input.jobs) {
    if (!planned.has(job.job_id) && !listed.has(job.job_id)) add('missing', `job "${job.job_id}" is neither planned nor unscheduled`, job.job_id);
  }
}

/**
 * Brute force: how many starts the window has (at full speed), on how many regions or pools the job may
 * run, and how many (site, start) pairs fit alone.
 */
function aloneStarts(input: OptimizeInput, job: OptimizeJob, capacityAt: CapacityAt): { windowStarts: number; regions: number; fitting: number } {
  const lastStartFor = (runtime: number) => Math.min(Math.min(job.deadline_slot, input.horizon_slots - 1) - runtime + 1, job.latest_start_slot ?? Infinity);
  const prev = ownEntry(input.prev_plan, job.job_id)?.region;
  const allowed = input.regions.filter(
    (r) => (job.affinity_regions.length === 0 || job.affinity_regions.includes(r)) && (input.migration_allow || prev === undefined || prev === r),
  );
  const sites = allowed.flatMap((region) => {
    const pools = ownEntry(input.region_pools, region);
    if (!pools) return [{ region, pool: undefined as string | undefined, speed: 1 }];
    return pools.filter((p) => !job.pools?.length || job.pools.includes(p.name)).map((p) => ({ region, pool: p.name as string | undefined, speed: p.speed_factor }));
  });
  const fastest = sites.length ? Math.min(...sites.map((s) => s.speed)) : 1;
  let fastestRuntime = job.runtime_slots;
  while (fastestRuntime < job.runtime_slots * fastest - 1e-9) fastestRuntime++;
  const windowStarts = Math.max(0, lastStartFor(fastestRuntime) - job.release_slot + 1);
  let fitting = 0;
  for (const { region, pool, speed } of sites) {
    let runtime = job.runtime_slots;
    while (runtime < job.runtime_slots * speed - 1e-9) runtime++;
    for (let t = job.release_slot; t <= lastStartFor(runtime); t++) {
      let ok = true;
      for (let s = t; s < t + runtime && ok; s++) {
        const cap = capacityAt(region, pool, s);
        ok = cap !== undefined && withinCapacity(job.cpu, cap.cpu_cap) && withinCapacity(job.mem_gb, cap.mem_gb_cap) && withinCapacity(job.gpu, cap.gpu_cap);
      }
      if (ok) fitting++;
    }
  }
  return { windowStarts, regions: sites.length, fitting };
}

function checkTotals(output: OptimizeOutput, objective: number, waitCharges: number, migrations: number, add: Add): void {
  if (!close(objective, output.objective_gco2)) add('objective', `objective_gco2 ${output.objective_gco2}, recomputed ${objective}`);
  if (!close((objective - waitCharges) / 1000, output.co2_estimate_kg)) {
    add('objective', `co2_estimate_kg ${output.co2_estimate_kg} is not the emissions ${(objective - waitCharges) / 1000} (objective less waiting charges)`);
  }
  if (migrations !== output.migrations) add('migrations', `migrations ${output.migrations}, recomputed ${migrations}`);
  const lb = output.lower_bound_gco2;
  if (lb !== null) {
    if (lb > objective + ABS_TOL + REL_TOL * objective) add('bound', `lower_bound_gco2 ${lb} exceeds the objective ${objective}`);
    const gap = (output.objective_gco2 - lb) / Math.max(output.objective_gco2, 1e-9);
    if (output.gap === null || !close(gap, output.gap)) add('bound', `gap ${output.gap}, recomputed ${gap}`);
  } else if (output.gap !== null) {
    add('bound', `gap ${output.gap} reported without a lower bound`);
  }
}
