import { CAPACITY_EPS, withinCapacity } from '../domain/app-wrapper.js';
import { OptimizeInputError } from './errors.js';
import { ownEntry } from './own-entry.js';
import { DEFAULT_COSTS } from './types.js';
import type { CostWeights, ModelJob, OptimizeInput, OptimizeJob, PlacementModel, UnscheduledJob } from './types.js';

/**
 * Compiles a validated `OptimizeInput` into the `PlacementModel` every solver consumes: each job's candidate
 * (site, start) options with their gCO2 cost, and capacities as dense arrays indexed `site * horizonSlots + s`.
 * A site is a region, or one worker pool of a region when the input has `region_pools`.
 * Linear in the number of options: carbon sums come from per-region prefix sums and "fits alone" from a
 * backward run-length scan, because the largest inputs carry millions of options.
 */

// The optimizer's backends import it from here, with the rest of the model.
export { CAPACITY_EPS };

export interface CompiledModel {
  model: PlacementModel;
  /** Jobs that cannot be placed even alone, in input order. */
  unscheduled: UnscheduledJob[];
}

type Resource = 'cpu' | 'memGb' | 'gpu';
export const RESOURCES: readonly Resource[] = ['cpu', 'memGb', 'gpu'];
const RESOURCE_WORDS: Record<Resource, string> = { cpu: 'cpu', memGb: 'GB of memory', gpu: 'GPU' };

/** A capacity site: a region, or one of its pools. */
export interface Site {
  /** `REGION`, or `REGION/POOL`. */
  label: string;
  region: string;
  /** Index of the region in `input.regions`. */
  regionIndex: number;
  /** Undefined when the region has no pools. */
  pool: string | undefined;
  speedFactor: number;
  powerFactor: number;
}

/** The sites of an input, regions in input order and each region's pools in their order. */
export function sitesOf(input: Pick<OptimizeInput, 'regions' | 'region_pools'>): Site[] {
  return input.regions.flatMap((region, regionIndex): Site[] => {
    const pools = ownEntry(input.region_pools, region);
    if (!pools?.length) return [{ label: region, region, regionIndex, pool: undefined, speedFactor: 1, powerFactor: 1 }];
    return pools.map((p) => ({ label: `${region}/${p.name}`, region, regionIndex, pool: p.name, speedFactor: p.speed_factor, powerFactor: p.power_factor }));
  });
}

/** Slots a job of `runtimeSlots` (at full speed) holds on a site. */
export function runtimeOnSite(runtimeSlots: number, site: Pick<Site, 'speedFactor'>): number {
  // The epsilon keeps 2 x 1.5 at 3 slots, not 4, despite float noise.
  return Math.ceil(runtimeSlots * site.speedFactor - 1e-9);
}

/**
 * How much of its last held slot a job runs on a site: it holds whole slots, but draws power only while it
 * runs (1 slot of work at 1.5x runs 1.5 slots: all of the first, half of the second).
 */
export function lastSlotShare(runtimeSlots: number, site: Pick<Site, 'speedFactor'>): number {
  const work = runtimeSlots * site.speedFactor;
  return Math.min(1, Math.max(0, work - (runtimeOnSite(runtimeSlots, site) - 1)));
}

/** Slots option `k` of a job holds. */
export function optionRuntime(job: ModelJob, k: number): number {
  return job.siteRuntime[job.optionRegion[k]!]!;
}

/** The job's shortest run over the sites it has options on. */
export function shortestRuntime(job: ModelJob): number {
  let min = Infinity;
  for (let k = 0; k < job.optionRegion.length; k++) min = Math.min(min, optionRuntime(job, k));
  return min;
}

/** Site carbon and capacity in the dense layout shared by compile and the solvers. */
interface Grid {
  sites: Site[];
  siteIndex: Map<string, number>;
  horizonSlots: number;
  /** Prefix sums of carbon intensity per region: `ciPrefix[r * (H + 1) + s]` = sum of ci over slots < s. */
  ciPrefix: Float64Array;
  capacity: PlacementModel['capacity'];
}

const siteKey = (region: string, pool: string | undefined) => `${region}\u0000${pool ?? ''}`;

function buildGrid(input: OptimizeInput): Grid {
  const sites = sitesOf(input);
  const siteIndex = new Map(sites.map((site, i) => [siteKey(site.region, site.pool), i] as const));
  const regionIndex = new Map(input.regions.map((r, i) => [r, i] as const));
  const H = input.horizon_slots;
  const cells = sites.length * H;
  const capacity = { cpu: new Float64Array(cells), memGb: new Float64Array(cells), gpu: new Float64Array(cells) };
  for (const c of input.capacities) {
    const cell = (siteIndex.get(siteKey(c.region, c.pool)) ?? 0) * H + c.slot;
    capacity.cpu[cell] = c.cpu_cap;
    capacity.memGb[cell] = c.mem_gb_cap;
    capacity.gpu[cell] = c.gpu_cap;
  }
  const R = input.regions.length;
  const ci = new Float64Array(R * H);
  for (const p of input.carbons) ci[(regionIndex.get(p.region) ?? 0) * H + p.slot] = p.ci_gco2_per_kwh;
  const ciPrefix = new Float64Array(R * (H + 1));
  for (let r = 0; r < R; r++) {
    let sum = 0;
    for (let s = 0; s < H; s++) {
      sum += ci[r * H + s]!;
      ciPrefix[r * (H + 1) + s + 1] = sum;
    }
  }
  return { sites, siteIndex, horizonSlots: H, ciPrefix, capacity };
}

/** Watts a job of this size draws at full speed, by the cost weights (absent weights take `DEFAULT_COSTS`). */
export function powerWatts(costs: CostWeights, job: Pick<OptimizeJob, 'cpu' | 'gpu' | 'mem_gb'>): number {
  const w = { ...DEFAULT_COSTS, ...definedOnly(costs) };
  return job.cpu * w.watt_cpu + job.gpu * w.watt_gpu + job.mem_gb * w.watt_mem_gb;
}

/** Watts the job draws, by the input's cost weights. */
export function jobPowerWatts(input: OptimizeInput, job: OptimizeJob): number {
  return powerWatts(input.costs, job);
}

/** The region a job was planned in before this solve, if any. */
export function previousRegion(input: OptimizeInput, jobId: string): string | undefined {
  return ownEntry(input.prev_plan, jobId)?.region;
}

/** The charge for moving `job` to `region`, gCO2: 0 when it stays or had no previous plan. */
export function migrationChargeGco2(input: OptimizeInput, job: OptimizeJob, region: string): number {
  const prev = previousRegion(input, job.job_id);
  if (prev === undefined || prev === region) return 0;
  const lambda = input.costs.lambda_plan_dev ?? DEFAULT_COSTS.lambda_plan_dev;
  return lambda + (ownEntry(ownEntry(input.network_costs, prev), region) ?? 0) * job.data_gb;
}

/** `{a: undefined}` must not override a default when spread. */
/** `o` without its undefined entries, so that spreading it over defaults keeps the defaults. */
export function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The start slots a job of `runtime` slots may use, clipped to the horizon; empty when `first > last`. */
export function startRange(job: OptimizeJob, horizonSlots: number, runtime = job.runtime_slots): { first: number; last: number } {
  const first = job.release_slot;
  const last = Math.min(Math.min(job.deadline_slot, horizonSlots - 1) - runtime + 1, job.latest_start_slot ?? Infinity);
  return { first, last };
}

/** Whether a job may use a region: its affinity, narrowed to its previous region when it may not move. */
export function regionAllowed(input: OptimizeInput, job: OptimizeJob, region: string): boolean {
  if (job.affinity_regions.length && !job.affinity_regions.includes(region)) return false;
  const prev = previousRegion(input, job.job_id);
  return input.migration_allow || prev === undefined || prev === region;
}

/** Whether a job may use a site: its region is allowed and, when the job names pools, the site's pool is one. */
export function siteAllowed(input: OptimizeInput, job: OptimizeJob, site: Pick<Site, 'region' | 'pool'>): boolean {
  if (!regionAllowed(input, job, site.region)) return false;
  return !job.pools?.length || site.pool === undefined || job.pools.includes(site.pool);
}

/**
 * The options `compileModel` makes for a job before it checks capacity: every start in its window on every site it
 * may use (a slower pool's longer run leaves fewer). An upper bound on its share of the model, for a caller that
 * bounds a model's size before building it.
 */
export function candidateStarts(input: OptimizeInput, job: OptimizeJob, sites: readonly Site[] = sitesOf(input)): number {
  let starts = 0;
  for (const site of sites) {
    if (!siteAllowed(input, job, site)) continue;
    const { first, last } = startRange(job, input.horizon_slots, runtimeOnSite(job.runtime_slots, site));
    starts += Math.max(0, last - first + 1);
  }
  return starts;
}

/** Sites (as indices) a job may run on. */
function allowedSites(input: OptimizeInput, grid: Grid, job: OptimizeJob): number[] {
  return grid.sites.flatMap((site, i) => (siteAllowed(input, job, site) ? [i] : []));
}

/** Scratch buffers reused across jobs, grown on demand. */
class OptionBuffer {
  region = new Int32Array(1024);
  start = new Int32Array(1024);
  cost = new Float64Array(1024);
  length = 0;

  push(region: number, start: number, cost: number): void {
    if (this.length === this.region.length) {
      const grow = <A extends Int32Array | Float64Array>(a: A, make: (n: number) => A): A => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      this.region = grow(this.region, (n) => new Int32Array(n));
      this.start = grow(this.start, (n) => new Int32Array(n));
      this.cost = grow(this.cost, (n) => new Float64Array(n));
    }
    this.region[this.length] = region;
    this.start[this.length] = start;
    this.cost[this.length] = cost;
    this.length++;
  }
}

/**
 * For region r, the starts in first..last whose every slot fits the given demand alone, as found by a backward
 * scan of "consecutive slots that fit" (O(window) instead of O(window x runtime)).
 */
function forEachFittingStart(
  grid: Grid,
  r: number,
  first: number,
  last: number,
  runtime: number,
  demand: Record<Resource, number>,
  resources: readonly Resource[],
  run: Int32Array,
  visit: (t: number) => void,
): void {
  const H = grid.horizonSlots;
  const end = last + runtime - 1;
  let streak = 0;
  for (let s = end; s >= first; s--) {
    const cell = r * H + s;
    let fits = true;
    for (const res of resources) {
      if (demand[res] > grid.capacity[res][cell]! + CAPACITY_EPS) {
        fits = false;
        break;
      }
    }
    streak = fits ? streak + 1 : 0;
    run[s] = streak;
  }
  for (let t = first; t <= last; t++) if (run[t]! >= runtime) visit(t);
}

export function compileModel(input: OptimizeInput): CompiledModel {
  const grid = buildGrid(input);
  const H = grid.horizonSlots;
  const slotHours = input.slot_seconds / 3600;
  const jobs: ModelJob[] = [];
  const unscheduled: UnscheduledJob[] = [];
  const buffer = new OptionBuffer();
  const run = new Int32Array(H);

  for (const job of input.jobs) {
    const allowed = allowedSites(input, grid, job);
    const runtimes = allowed.map((i) => runtimeOnSite(job.runtime_slots, grid.sites[i]!));
    // The window is judged at the fastest allowed site: a slower one may still find its window empty.
    const fastest = fastestRun(grid, job, allowed, runtimes);
    const { first, last } = startRange(job, H, fastest.runtime);
    if (first > last) {
      unscheduled.push({ job_id: job.job_id, code: 'empty_window', reason: emptyWindowReason(job, H, fastest) });
      continue;
    }
    if (allowed.length === 0) {
      unscheduled.push({ job_id: job.job_id, code: 'no_region', reason: noRegionReason(input, job) });
      continue;
    }
    // gCO2 per unit of summed intensity: intensity (g/kWh) x power (W) x hours / 1000.
    const gramsPerCi = (jobPowerWatts(input, job) * slotHours) / 1000;
    const waitPerSlot = job.wait_gco2_per_slot ?? 0;
    const demand = { cpu: job.cpu, memGb: job.mem_gb, gpu: job.gpu };
    const siteRuntime = new Int32Array(grid.sites.length);
    buffer.length = 0;
    allowed.forEach((i, a) => {
      const site = grid.sites[i]!;
      const rt = runtimes[a]!;
      siteRuntime[i] = rt;
      const base = site.regionIndex * (H + 1);
      const move = migrationChargeGco2(input, job, site.region);
      const siteLast = startRange(job, H, rt).last;
      const lastShare = lastSlotShare(job.runtime_slots, site);
      forEachFittingStart(grid, i, first, siteLast, rt, demand, RESOURCES, run, (t) => {
        const lastCi = grid.ciPrefix[base + t + rt]! - grid.ciPrefix[base + t + rt - 1]!;
        const ciSum = grid.ciPrefix[base + t + rt - 1]! - grid.ciPrefix[base + t]! + lastShare * lastCi;
        buffer.push(i, t, ciSum * gramsPerCi * site.powerFactor + move + waitPerSlot * (t - job.release_slot));
      });
    });
    if (buffer.length === 0) {
      unscheduled.push({
        job_id: job.job_id,
        code: 'no_capacity',
        reason: noCapacityReason(grid, job, allowed, runtimes, fastest, first, run),
      });
      continue;
    }
    jobs.push({
      jobId: job.job_id,
      cpu: job.cpu,
      memGb: job.mem_gb,
      gpu: job.gpu,
      siteRuntime,
      optionRegion: buffer.region.slice(0, buffer.length),
      optionStart: buffer.start.slice(0, buffer.length),
      optionCost: buffer.cost.slice(0, buffer.length),
    });
  }
  const model: PlacementModel = { regions: grid.sites.map((site) => site.label), horizonSlots: H, jobs, capacity: grid.capacity };
  checkCostMagnitude(input, model);
  return { model, unscheduled };
}

/** Costs the solvers sum exactly: the "left out" penalty (every job's dearest option, plus 1) stays below it. */
const MAX_EXACT_COST_GCO2 = 2 ** 50;

/**
 * Refuses costs too large to add up exactly in a double (beyond 2^53 adding 1 changes nothing, and "left out"
 * would cost as much as a placement), naming the dearest job: finite inputs can still multiply into them.
 */
function checkCostMagnitude(input: OptimizeInput, model: PlacementModel): void {
  // Also refuses NaN, which compares as nothing.
  if (unplacedPenalty(model) < MAX_EXACT_COST_GCO2) return;
  let dearest = { job: model.jobs[0]!, cost: -Infinity };
  for (const job of model.jobs) for (const cost of job.optionCost) if (!(cost <= dearest.cost)) dearest = { job, cost };
  const index = input.jobs.findIndex((j) => j.job_id === dearest.job.jobId);
  throw new OptimizeInputError([
    {
      path: `jobs[${index}] (job "${dearest.job.jobId}")`,
      message: `a placement of it costs ${dearest.cost} gCO2: the costs of all jobs must stay below 2^50 g to add up exactly (check ci_gco2_per_kwh, the watt costs, data_gb and network_costs)`,
    },
  ]);
}

/** The shortest run a job has on the sites it may use, and the pool that stretches it, if one does. */
interface FastestRun {
  runtime: number;
  /** `REGION/POOL` of that site when its pool's speed makes the run longer than `runtime_slots`. */
  stretchedBy: string | undefined;
}

function fastestRun(grid: Grid, job: OptimizeJob, allowed: number[], runtimes: number[]): FastestRun {
  if (allowed.length === 0) return { runtime: job.runtime_slots, stretchedBy: undefined };
  const runtime = Math.min(...runtimes);
  const site = grid.sites[allowed[runtimes.indexOf(runtime)]!]!;
  return { runtime, stretchedBy: runtime > job.runtime_slots ? site.label : undefined };
}

/**
 * Names the pool whose speed stretched the run a reason quotes (" on KR/ECO, its fastest allowed pool (2 at
 * full speed),"), or nothing: the decision used the stretched run, so a reason quoting `runtime_slots` would
 * not add up when only slow pools are allowed.
 */
function stretchNote(job: OptimizeJob, fastest: FastestRun): string {
  if (fastest.stretchedBy === undefined) return '';
  return ` on ${fastest.stretchedBy}, its fastest allowed pool (${job.runtime_slots} at full speed),`;
}

function emptyWindowReason(job: OptimizeJob, horizonSlots: number, fastest: FastestRun): string {
  const id = `job "${job.job_id}"`;
  if (job.release_slot > horizonSlots - 1) {
    return `${id} is released at slot ${job.release_slot}, after the horizon ends at slot ${horizonSlots - 1}`;
  }
  if (job.latest_start_slot !== undefined && job.latest_start_slot < job.release_slot) {
    return `${id} must start by slot ${job.latest_start_slot} (its latest_start_slot), before its release at slot ${job.release_slot}`;
  }
  const end = Math.min(job.deadline_slot, horizonSlots - 1);
  const clipped = job.deadline_slot > horizonSlots - 1 ? ` (its deadline is clipped to the horizon end)` : '';
  return (
    `${id} needs ${fastest.runtime} slots${stretchNote(job, fastest)} but only slots ${job.release_slot}..${end} ` +
    `(${end - job.release_slot + 1}) lie between its release and its deadline${clipped}`
  );
}

function noRegionReason(input: OptimizeInput, job: OptimizeJob): string {
  const id = `job "${job.job_id}"`;
  if (input.regions.length === 0) return `${id} cannot run: no regions are configured`;
  if (job.pools?.length && input.regions.some((r) => regionAllowed(input, job, r))) {
    return `${id} may only run on ${job.pools.join(' or ')} workers, which none of its allowed regions has`;
  }
  const prev = previousRegion(input, job.job_id);
  return (
    `${id} must stay in its previous region ${prev} (migration_allow is false), ` +
    `but its affinity_regions allow only ${job.affinity_regions.join(', ')}`
  );
}

/** Names the resource(s) that rule out every start, checking each one alone first. */
function noCapacityReason(
  grid: Grid,
  job: OptimizeJob,
  allowed: number[],
  runtimes: number[],
  fastest: FastestRun,
  first: number,
  run: Int32Array,
): string {
  const demand = { cpu: job.cpu, memGb: job.mem_gb, gpu: job.gpu };
  const H = grid.horizonSlots;
  const blocking = RESOURCES.filter((res) => {
    let any = false;
    allowed.forEach((i, a) => {
      forEachFittingStart(grid, i, first, startRange(job, H, runtimes[a]).last, runtimes[a]!, demand, [res], run, () => {
        any = true;
      });
    });
    return !any;
  });
  const last = startRange(job, H, fastest.runtime).last;
  const parts = (blocking.length ? blocking : RESOURCES.filter((res) => demand[res] > 0)).map(
    (res) => `${demand[res]} ${RESOURCE_WORDS[res]}`,
  );
  const needs = parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : (parts[0] ?? 'nothing');
  const together = blocking.length ? '' : ' at the same time';
  const where = allowed.map((i) => grid.sites[i]!.label).join(', ');
  return (
    `job "${job.job_id}" needs ${needs}${together} for ${fastest.runtime} consecutive slots${stretchNote(job, fastest)} ` +
    `starting in slots ${first}..${last}, but no allowed region (${where}) has that much free capacity`
  );
}

/**
 * "Left out" costs more than the most expensive full plan, so the optimum places as many jobs as possible
 * and only then minimises carbon.
 */
/** Every job's dearest option, summed, plus 1; NaN when a cost is (finite inputs can multiply into Infinity x 0). */
export function unplacedPenalty(model: PlacementModel): number {
  let worst = 0;
  for (const job of model.jobs) {
    let max = 0;
    for (const c of job.optionCost) {
      if (c <= max) continue;
      max = c;
      if (Number.isNaN(c)) break;
    }
    worst += max;
  }
  return worst + 1;
}

/** Total number of options in a model (what `Solver.maxOptions` is compared with). */
export function optionCount(model: PlacementModel): number {
  let n = 0;
  for (const job of model.jobs) n += job.optionCost.length;
  return n;
}

/** Each job's cheapest option cost, gCO2. */
export function cheapestCosts(model: PlacementModel): Float64Array {
  const out = new Float64Array(model.jobs.length);
  model.jobs.forEach((job, j) => {
    let best = Infinity;
    for (const c of job.optionCost) if (c < best) best = c;
    out[j] = best;
  });
  return out;
}

/**
 * The least sum of `perJob` over any `count` or more of the jobs: the `count` smallest values, plus every
 * negative one beyond them (taking such a job lowers the sum). With a lower bound on each job's cost as
 * `perJob`, this bounds every plan placing at least `count` jobs, whichever they are: the objective places
 * as many jobs as it can first, so a plan is only ever compared with plans placing at least as many, and a
 * bound over the jobs a plan happened to place would miss a cheaper plan that keeps other ones.
 */
export function leastSumOverAtLeast(perJob: Float64Array, count: number): number {
  const sorted = Float64Array.from(perJob).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) {
    // Compiled option costs are never negative, but the bound must not rely on that.
    if (i < count || sorted[i]! < 0) sum += sorted[i]!;
  }
  return sum;
}

/**
 * A lower bound on every plan placing at least `placed` jobs: the cheapest options of the `placed` jobs
 * cheapest to place, capacity ignored. Every backend's bound can be raised to at least this.
 */
export function cheapestOptionsBound(model: PlacementModel, placed: number): number {
  return leastSumOverAtLeast(cheapestCosts(model), placed);
}

/** How many jobs `choice` places. */
export function placedCount(choice: Int32Array): number {
  let placed = 0;
  for (const k of choice) if (k >= 0) placed++;
  return placed;
}

/** Summed option cost of the placed jobs, gCO2. */
export function choiceCost(model: PlacementModel, choice: Int32Array): number {
  let cost = 0;
  model.jobs.forEach((job, j) => {
    const k = choice[j]!;
    if (k >= 0) cost += job.optionCost[k]!;
  });
  return cost;
}

/**
 * The capacity rows an exact formulation needs: (resource, region-slot) cells where the jobs that could run
 * there might together exceed the capacity. Cells no combination can overflow are left out, which is most of
 * them on uncontended inputs and keeps the MILPs small.
 */
export interface CapacityRows {
  count: number;
  /** Per resource, the row index of each cell `r * H + s`, or -1 when the cell needs no row. */
  rowOf: Record<Resource, Int32Array>;
  /** Per row: its resource and cell. */
  resource: Resource[];
  cell: Int32Array;
}

export function capacityRows(model: PlacementModel): CapacityRows {
  const H = model.horizonSlots;
  const cells = model.regions.length * H;
  const maxLoad = { cpu: new Float64Array(cells), memGb: new Float64Array(cells), gpu: new Float64Array(cells) };
  const stamp = new Int32Array(cells).fill(-1);
  model.jobs.forEach((job, j) => {
    for (let k = 0; k < job.optionStart.length; k++) {
      const base = job.optionRegion[k]! * H + job.optionStart[k]!;
      for (let d = 0; d < optionRuntime(job, k); d++) {
        const cell = base + d;
        if (stamp[cell] === j) continue;
        stamp[cell] = j;
        maxLoad.cpu[cell] = maxLoad.cpu[cell]! + job.cpu;
        maxLoad.memGb[cell] = maxLoad.memGb[cell]! + job.memGb;
        maxLoad.gpu[cell] = maxLoad.gpu[cell]! + job.gpu;
      }
    }
  });
  const rowOf = { cpu: new Int32Array(cells), memGb: new Int32Array(cells), gpu: new Int32Array(cells) };
  const resource: Resource[] = [];
  const cellList: number[] = [];
  for (const res of RESOURCES) {
    for (let cell = 0; cell < cells; cell++) {
      if (maxLoad[res][cell]! > model.capacity[res][cell]! + CAPACITY_EPS) {
        rowOf[res][cell] = resource.length;
        resource.push(res);
        cellList.push(cell);
      } else {
        rowOf[res][cell] = -1;
      }
    }
  }
  return { count: resource.length, rowOf, resource, cell: Int32Array.from(cellList) };
}

/** Describes the first capacity overflow of a choice, or returns null when it fits everywhere. */
export function findOverflow(model: PlacementModel, choice: Int32Array): string | null {
  const H = model.horizonSlots;
  const cells = model.regions.length * H;
  const used = { cpu: new Float64Array(cells), memGb: new Float64Array(cells), gpu: new Float64Array(cells) };
  for (let j = 0; j < model.jobs.length; j++) {
    const k = choice[j]!;
    if (k < 0) continue;
    const job = model.jobs[j]!;
    if (k >= job.optionStart.length) return `job "${job.jobId}" chose option ${k} of ${job.optionStart.length}`;
    const base = job.optionRegion[k]! * H + job.optionStart[k]!;
    for (let d = 0; d < optionRuntime(job, k); d++) {
      used.cpu[base + d] = used.cpu[base + d]! + job.cpu;
      used.memGb[base + d] = used.memGb[base + d]! + job.memGb;
      used.gpu[base + d] = used.gpu[base + d]! + job.gpu;
    }
  }
  for (const res of RESOURCES) {
    for (let cell = 0; cell < cells; cell++) {
      // What fits is what the plan validator, the packing and the clusters agree fits: HiGHS is held to it.
      const cap = model.capacity[res][cell]!;
      if (!withinCapacity(used[res][cell]!, cap)) {
        const region = model.regions[Math.floor(cell / H)];
        return `${RESOURCE_WORDS[res]} in ${region} slot ${cell % H}: ${used[res][cell]} used of ${cap}`;
      }
    }
  }
  return null;
}
