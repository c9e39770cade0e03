import type { CarbonPoint, CostWeights, OptimizeInput, OptimizeJob, SlotCapacity } from '../../src/optimizer/types.js';

/**
 * Fluent builders for optimizer inputs, in the kueue style: `job('a').cpu(2).window(0, 5).obj()`.
 * Defaults are small and explicit so that a test states only what it is about.
 */

export class JobBuilder {
  private readonly spec: OptimizeJob;

  constructor(jobId: string) {
    this.spec = {
      job_id: jobId,
      cpu: 1,
      mem_gb: 1,
      gpu: 0,
      runtime_slots: 1,
      release_slot: 0,
      deadline_slot: 23,
      data_gb: 0,
      affinity_regions: [],
    };
  }

  cpu(cores: number): this {
    this.spec.cpu = cores;
    return this;
  }

  mem(gb: number): this {
    this.spec.mem_gb = gb;
    return this;
  }

  gpu(count: number): this {
    this.spec.gpu = count;
    return this;
  }

  runtime(slots: number): this {
    this.spec.runtime_slots = slots;
    return this;
  }

  /** Release slot and deadline slot (the last slot it may still run in). */
  window(releaseSlot: number, deadlineSlot: number): this {
    this.spec.release_slot = releaseSlot;
    this.spec.deadline_slot = deadlineSlot;
    return this;
  }

  /** Last slot it may start in (a job already running: 0). */
  latestStart(slot: number): this {
    this.spec.latest_start_slot = slot;
    return this;
  }

  data(gb: number): this {
    this.spec.data_gb = gb;
    return this;
  }

  affinity(...regions: string[]): this {
    this.spec.affinity_regions = regions;
    return this;
  }

  /** Pools the job may run on. */
  pools(...names: string[]): this {
    this.spec.pools = names;
    return this;
  }

  /** Charge per slot of waiting past its release, gCO2. */
  wait(gco2PerSlot: number): this {
    this.spec.wait_gco2_per_slot = gco2PerSlot;
    return this;
  }

  obj(): OptimizeJob {
    return { ...this.spec, affinity_regions: [...this.spec.affinity_regions], ...(this.spec.pools && { pools: [...this.spec.pools] }) };
  }
}

export function job(jobId: string): JobBuilder {
  return new JobBuilder(jobId);
}

type Capacity = { cpu: number; mem?: number; gpu?: number };

/** A pool of a region, with its own capacity in every slot (default: the region's). */
export interface PoolBuilderSpec {
  name: string;
  speed: number;
  power: number;
  cap?: Capacity;
}

export class InputBuilder {
  private regionNames: string[] = ['KR', 'JP', 'CN'];
  private horizonSlots = 24;
  private slotSecondsValue = 3600;
  private readonly jobSpecs: OptimizeJob[] = [];
  private readonly regionCapacity = new Map<string, Capacity>();
  private readonly capacityByCell = new Map<string, { region: string; slot: number; cap: Capacity }>();
  private readonly regionCarbon = new Map<string, number | number[]>();
  private costWeights: CostWeights = {};
  private readonly network: Record<string, Record<string, number>> = {};
  private migrationAllowed = true;
  private readonly previous: Record<string, { region: string }> = {};
  private readonly regionPools = new Map<string, PoolBuilderSpec[]>();

  regions(...names: string[]): this {
    this.regionNames = names;
    return this;
  }

  horizon(slots: number): this {
    this.horizonSlots = slots;
    return this;
  }

  slotSeconds(seconds: number): this {
    this.slotSecondsValue = seconds;
    return this;
  }

  job(...jobs: (JobBuilder | OptimizeJob)[]): this {
    for (const j of jobs) this.jobSpecs.push(j instanceof JobBuilder ? j.obj() : j);
    return this;
  }

  /** The same capacity in every slot of the region (mem defaults to plenty, gpu to none). */
  capacity(region: string, cap: Capacity): this {
    this.regionCapacity.set(region, cap);
    return this;
  }

  /** Capacity of one (region, slot), overriding `capacity()` there. */
  capacityAt(region: string, slot: number, cap: Capacity): this {
    this.capacityByCell.set(`${region}/${slot}`, { region, slot, cap });
    return this;
  }

  /** Carbon intensity, gCO2/kWh: one number for every slot, or one per slot from slot 0. */
  carbon(region: string, ci: number | number[]): this {
    this.regionCarbon.set(region, ci);
    return this;
  }

  costs(weights: CostWeights): this {
    this.costWeights = { ...this.costWeights, ...weights };
    return this;
  }

  networkCost(from: string, to: string, gco2PerGb: number): this {
    this.network[from] = { ...this.network[from], [to]: gco2PerGb };
    return this;
  }

  prev(jobId: string, region: string): this {
    this.previous[jobId] = { region };
    return this;
  }

  /** Worker pools of a region; each gets its own capacity (`cap`, else the region's) in every slot. */
  pools(region: string, ...pools: PoolBuilderSpec[]): this {
    this.regionPools.set(region, pools);
    return this;
  }

  migrationAllow(allowed: boolean): this {
    this.migrationAllowed = allowed;
    return this;
  }

  obj(): OptimizeInput {
    const H = this.horizonSlots;
    const capacities: SlotCapacity[] = [];
    const carbons: CarbonPoint[] = [];
    for (const region of this.regionNames) {
      for (let slot = 0; slot < H; slot++) {
        const cap = this.capacityByCell.get(`${region}/${slot}`)?.cap ?? this.regionCapacity.get(region);
        const pools = this.regionPools.get(region);
        if (pools) {
          for (const pool of pools) {
            const c = pool.cap ?? cap;
            if (c) capacities.push({ region, pool: pool.name, slot, cpu_cap: c.cpu, mem_gb_cap: c.mem ?? 1000, gpu_cap: c.gpu ?? 0 });
          }
        } else if (cap) capacities.push({ region, slot, cpu_cap: cap.cpu, mem_gb_cap: cap.mem ?? 1000, gpu_cap: cap.gpu ?? 0 });
        const ci = this.regionCarbon.get(region);
        const value = typeof ci === 'number' ? ci : ci?.[slot];
        if (value !== undefined) carbons.push({ region, slot, ci_gco2_per_kwh: value });
      }
    }
    return {
      jobs: this.jobSpecs.map((j) => ({ ...j, affinity_regions: [...j.affinity_regions] })),
      capacities,
      carbons,
      regions: [...this.regionNames],
      slot_seconds: this.slotSecondsValue,
      horizon_slots: H,
      costs: { ...this.costWeights },
      network_costs: structuredClone(this.network),
      migration_allow: this.migrationAllowed,
      prev_plan: structuredClone(this.previous),
      ...(this.regionPools.size > 0 && {
        region_pools: Object.fromEntries([...this.regionPools].map(([region, pools]) => [region, pools.map((p) => ({ name: p.name, speed_factor: p.speed, power_factor: p.power }))])),
      }),
    };
  }
}

/** An input with regions KR, JP, CN, 24 one-hour slots and nothing else; add capacity, carbon and jobs. */
export function input(): InputBuilder {
  return new InputBuilder();
}

/**
 * The seed's mock scenario at T1: KR 400, JP 450, CN 550 gCO2/kWh, room for 8 cores (32 GB, 2 GPUs)
 * everywhere, 5-minute slots over one hour.
 */
export function seedScenario(): InputBuilder {
  return input()
    .regions('KR', 'JP', 'CN')
    .horizon(12)
    .slotSeconds(300)
    .capacity('KR', { cpu: 8, mem: 32, gpu: 2 })
    .capacity('JP', { cpu: 8, mem: 32, gpu: 2 })
    .capacity('CN', { cpu: 8, mem: 32, gpu: 2 })
    .carbon('KR', 400)
    .carbon('JP', 450)
    .carbon('CN', 550);
}

