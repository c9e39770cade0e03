import { CAPACITY_EPS } from '../../domain/app-wrapper.js';
import { DEFAULT_COSTS, lastSlotShare, runtimeOnSite, type OptimizeInput, type OptimizeJob, type OptimizeOutput, type PlanItem, type UnscheduledJob } from '../../optimizer/index.js';

/** A start for a job: region and slot. */
export interface Choice {
  region: string;
  start: number;
}

/** A capacity site: a region, or one worker pool of it when the input gives the region pools. */
interface Site {
  region: string;
  pool: string | undefined;
  speed: number;
  power: number;
  free: { cpu: Float64Array; mem: Float64Array; gpu: Float64Array };
  total: { cpu: Float64Array; mem: Float64Array; gpu: Float64Array };
}

const siteKey = (region: string, pool: string | undefined) => `${region}\u0000${pool ?? ''}`;

/**
 * What the strategies that are not the optimizer share: the input's windows, affinity, pools and migration
 * rule, a capacity grid per site (region, or region pool) and slot that placements draw down, the run carbon
 * of a start (summed as `validatePlan` recomputes it) and the `OptimizeOutput` of the placements made, with
 * every job left out listed in `unscheduled` under the code `validatePlan` checks. Strategies choose regions
 * and starts; within a region the builder takes the first of the job's pools that has room (FAST first in
 * the hub's configuration).
 */
export class PlanBuilder {
  readonly horizon: number;
  readonly regions: readonly string[];
  private readonly sites = new Map<string, Site[]>();
  private readonly carbon = new Map<string, Float64Array>();
  private readonly watt: { cpu: number; gpu: number; mem: number; lambda: number };
  private readonly plans = new Map<string, PlanItem>();
  private readonly started = performance.now();

  constructor(readonly input: OptimizeInput) {
    this.horizon = input.horizon_slots;
    this.regions = input.regions;
    const H = this.horizon;
    const grid = () => ({ cpu: new Float64Array(H), mem: new Float64Array(H), gpu: new Float64Array(H) });
    const byKey = new Map<string, Site>();
    for (const region of input.regions) {
      const pools = input.region_pools?.[region];
      const list: Site[] = pools?.length
        ? pools.map((p) => ({ region, pool: p.name, speed: p.speed_factor, power: p.power_factor, free: grid(), total: grid() }))
        : [{ region, pool: undefined, speed: 1, power: 1, free: grid(), total: grid() }];
      this.sites.set(region, list);
      for (const site of list) byKey.set(siteKey(region, site.pool), site);
      this.carbon.set(region, new Float64Array(H));
    }
    for (const c of input.capacities) {
      const site = byKey.get(siteKey(c.region, c.pool));
      if (!site || c.slot < 0 || c.slot >= H) continue;
      site.total.cpu[c.slot] = c.cpu_cap;
      site.total.mem[c.slot] = c.mem_gb_cap;
      site.total.gpu[c.slot] = c.gpu_cap;
    }
    for (const site of byKey.values()) site.free = { cpu: site.total.cpu.slice(), mem: site.total.mem.slice(), gpu: site.total.gpu.slice() };
    for (const c of input.carbons) {
      const row = this.carbon.get(c.region);
      if (row && c.slot >= 0 && c.slot < H) row[c.slot] = c.ci_gco2_per_kwh;
    }
    this.watt = {
      cpu: input.costs.watt_cpu ?? DEFAULT_COSTS.watt_cpu,
      gpu: input.costs.watt_gpu ?? DEFAULT_COSTS.watt_gpu,
      mem: input.costs.watt_mem_gb ?? DEFAULT_COSTS.watt_mem_gb,
      lambda: input.costs.lambda_plan_dev ?? DEFAULT_COSTS.lambda_plan_dev,
    };
  }

  /** Watts the job draws at full speed. */
  power(job: OptimizeJob): number {
    return job.cpu * this.watt.cpu + job.gpu * this.watt.gpu + job.mem_gb * this.watt.mem;
  }

  intensity(region: string, slot: number): number {
    return this.carbon.get(region)?.[slot] ?? 0;
  }

  /** Slots the job holds on a site: slower pools hold it longer (as the optimizer counts them). */
  private runtimeOn(job: OptimizeJob, site: Site): number {
    return runtimeOnSite(job.runtime_slots, { speedFactor: site.speed });
  }

  /** The job's sites in a region: the region's pools the job may use. */
  private sitesOf(job: OptimizeJob, region: string): Site[] {
    return (this.sites.get(region) ?? []).filter((s) => s.pool === undefined || !job.pools?.length || job.pools.includes(s.pool));
  }

  private lastStart(job: OptimizeJob, site: Site): number {
    return Math.min(job.deadline_slot, this.horizon - 1) - this.runtimeOn(job, site) + 1;
  }

  private fitsOn(site: Site, job: OptimizeJob, start: number, capacity: 'free' | 'total'): boolean {
    const runtime = this.runtimeOn(job, site);
    if (start < job.release_slot || start > this.lastStart(job, site) || start < 0 || start + runtime > this.horizon) return false;
    const grid = site[capacity];
    for (let s = start; s < start + runtime; s++) {
      if (job.cpu > (grid.cpu[s] as number) + CAPACITY_EPS || job.mem_gb > (grid.mem[s] as number) + CAPACITY_EPS || job.gpu > (grid.gpu[s] as number) + CAPACITY_EPS) return false;
    }
    return true;
  }

  /** The site a start in a region would take: the first of the job's pools there with room. */
  private siteFor(job: OptimizeJob, region: string, start: number): Site | undefined {
    return this.sitesOf(job, region).find((site) => this.fitsOn(site, job, start, 'free'));
  }

  private runCostOn(job: OptimizeJob, site: Site, start: number): number {
    const power = this.power(job) * site.power;
    const end = start + this.runtimeOn(job, site) - 1;
    // Its last slot only for the share of it the job runs, as the optimizer charges it.
    const lastShare = lastSlotShare(job.runtime_slots, { speedFactor: site.speed });
    let cost = 0;
    for (let s = start; s <= end; s++) cost += ((s === end ? lastShare : 1) * this.intensity(site.region, s) * power * (this.input.slot_seconds / 3600)) / 1000;
    return cost;
  }

  /**
   * Carbon of the run started in `region` at `start`, gCO2: the job's energy per slot dotted with the slots'
   * intensities, on the pool the start would take (the first of its pools when none has room).
   */
  runCost(job: OptimizeJob, region: string, start: number): number {
    const site = this.siteFor(job, region, start) ?? this.sitesOf(job, region)[0];
    return site ? this.runCostOn(job, site, start) : Infinity;
  }

  /** Waiting charge of a start (the hub's urgency classes), gCO2; not emitted carbon. */
  waitCost(job: OptimizeJob, start: number): number {
    return (job.wait_gco2_per_slot ?? 0) * (start - job.release_slot);
  }

  /** The previous plan's region, if any. */
  previous(job: OptimizeJob): string | undefined {
    return this.input.prev_plan[job.job_id]?.region;
  }

  /** What leaving the previous region for `region` is charged, gCO2. */
  migrationCost(job: OptimizeJob, region: string): number {
    const prev = this.previous(job);
    if (prev === undefined || prev === region) return 0;
    return this.watt.lambda + (this.input.network_costs[prev]?.[region] ?? 0) * job.data_gb;
  }

  /** Start slots the job's window allows on its fastest site: `first..last` (empty when last < first). */
  window(job: OptimizeJob): { first: number; last: number } {
    let last = -Infinity;
    for (const region of this.allowed(job)) for (const site of this.sitesOf(job, region)) last = Math.max(last, this.lastStart(job, site));
    if (last === -Infinity) last = Math.min(job.deadline_slot, this.horizon - 1) - job.runtime_slots + 1;
    return { first: job.release_slot, last };
  }

  /** Regions the job may use, in input order: its affinity, and only its previous region when migration is off. */
  allowed(job: OptimizeJob): string[] {
    const prev = this.previous(job);
    return this.regions.filter(
      (r) => (job.affinity_regions.length === 0 || job.affinity_regions.includes(r)) && (this.input.migration_allow || prev === undefined || prev === r),
    );
  }

  /** A job already running: it has a previous region and no choice of start (the cycle pins it to "stay or move now"). */
  isPinned(job: OptimizeJob): boolean {
    const w = this.window(job);
    return this.previous(job) !== undefined && w.first === 0 && w.last === 0;
  }

  /** Whether the job fits in `region` from `start` beside what is placed already, inside its window. */
  fits(job: OptimizeJob, region: string, start: number): boolean {
    return this.siteFor(job, region, start) !== undefined;
  }

  /** Free cpu, memory and GPU of a region in a slot, over its pools. */
  freeAt(region: string, slot: number): { cpu: number; memGb: number; gpu: number } {
    let cpu = 0;
    let memGb = 0;
    let gpu = 0;
    for (const site of this.sites.get(region) ?? []) {
      cpu += site.free.cpu[slot] ?? 0;
      memGb += site.free.mem[slot] ?? 0;
      gpu += site.free.gpu[slot] ?? 0;
    }
    return { cpu, memGb, gpu };
  }

  isPlaced(jobId: string): boolean {
    return this.plans.has(jobId);
  }

  place(job: OptimizeJob, region: string, start: number): void {
    if (this.plans.has(job.job_id)) throw new Error(`job ${job.job_id} is placed twice`);
    const site = this.siteFor(job, region, start);
    if (!site) throw new Error(`job ${job.job_id} does not fit in ${region} at slot ${start}`);
    for (let s = start; s < start + this.runtimeOn(job, site); s++) {
      site.free.cpu[s] = (site.free.cpu[s] as number) - job.cpu;
      site.free.mem[s] = (site.free.mem[s] as number) - job.mem_gb;
      site.free.gpu[s] = (site.free.gpu[s] as number) - job.gpu;
    }
    const wait = this.waitCost(job, start);
    this.plans.set(job.job_id, {
      job_id: job.job_id,
      region,
      ...(site.pool !== undefined && { pool: site.pool }),
      start_slot: start,
      cost_gco2: this.runCostOn(job, site, start),
      migration_cost_gco2: this.migrationCost(job, region),
      ...(wait !== 0 && { wait_cost_gco2: wait }),
    });
  }

  /** The earliest start that fits, and among equally early ones the first of `regions`. */
  earliest(job: OptimizeJob, regions: readonly string[]): Choice | undefined {
    const w = this.window(job);
    for (let t = w.first; t <= w.last; t++) {
      for (const region of regions) if (this.fits(job, region, t)) return { region, start: t };
    }
    return undefined;
  }

  /** The latest start that fits, and among equally late ones the first of `regions`. */
  latest(job: OptimizeJob, regions: readonly string[]): Choice | undefined {
    const w = this.window(job);
    for (let t = w.last; t >= w.first; t--) {
      for (const region of regions) if (this.fits(job, region, t)) return { region, start: t };
    }
    return undefined;
  }

  /** Why a job that is not placed is not: the brute force `validatePlan` checks the claim with. */
  private unscheduledOf(job: OptimizeJob, strategy: string): UnscheduledJob {
    const id = job.job_id;
    const sites = this.allowed(job).flatMap((region) => this.sitesOf(job, region));
    if (!sites.length) return { job_id: id, code: 'no_region', reason: `job ${id} may run in no offered region` };
    const w = this.window(job);
    if (w.last < w.first) return { job_id: id, code: 'empty_window', reason: `job ${id} cannot finish by its deadline in the horizon` };
    for (const site of sites) {
      for (let t = w.first; t <= this.lastStart(job, site); t++) {
        if (this.fitsOn(site, job, t, 'total')) {
          return { job_id: id, code: 'capacity_contention', reason: `job ${id} fits alone but not beside the jobs ${strategy} placed first` };
        }
      }
    }
    return { job_id: id, code: 'no_capacity', reason: `job ${id} needs more than any allowed region has free in its window` };
  }

  /** The output for the placements made, as `optimize()` would report it (no bound: a heuristic proves nothing). */
  output(strategy: string): OptimizeOutput {
    const plans = [...this.plans.values()];
    const emissions = plans.reduce((sum, p) => sum + p.cost_gco2 + p.migration_cost_gco2, 0);
    const waits = plans.reduce((sum, p) => sum + (p.wait_cost_gco2 ?? 0), 0);
    const migrations = plans.filter((p) => {
      const prev = this.input.prev_plan[p.job_id]?.region;
      return prev !== undefined && prev !== p.region;
    }).length;
    return {
      plans,
      co2_estimate_kg: emissions / 1000,
      solver_status: 'feasible',
      migrations,
      objective_gco2: emissions + waits,
      lower_bound_gco2: null,
      gap: null,
      unscheduled: this.input.jobs.filter((j) => !this.plans.has(j.job_id)).map((j) => this.unscheduledOf(j, strategy)),
      solver: strategy,
      solve_seconds: (performance.now() - this.started) / 1000,
    };
  }
}
