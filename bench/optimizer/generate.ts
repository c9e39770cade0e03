/**
 * Seeded generator of `OptimizeInput` benchmark instances: three grid regions (KR, JP, CN) with diurnal
 * carbon curves of different levels and phases plus noise, batch jobs with windows, sizes, a GPU share,
 * affinities and previous plans, and capacity contended enough that the cleanest slots cannot take
 * every job.
 */
import type { CarbonPoint, OptimizeInput, OptimizeJob, SlotCapacity } from '../../src/optimizer/types.js';
import { seededRandom } from '../../src/domain/random.js';

export interface Family {
  name: string;
  jobs: number;
  slots: number;
  slotSeconds: number;
  /** Share of jobs that ask for GPUs. */
  gpuShare: number;
  seed: number;
}

export const FAMILIES: readonly Family[] = [
  { name: 'tiny-8x12', jobs: 8, slots: 12, slotSeconds: 3600, gpuShare: 0.1, seed: 11 },
  { name: 'small-60x24', jobs: 60, slots: 24, slotSeconds: 3600, gpuShare: 0.05, seed: 12 },
  { name: 'medium-300x48', jobs: 300, slots: 48, slotSeconds: 1800, gpuShare: 0.05, seed: 13 },
  { name: 'gpu-200x48', jobs: 200, slots: 48, slotSeconds: 1800, gpuShare: 0.25, seed: 14 },
  { name: 'large-1500x96', jobs: 1500, slots: 96, slotSeconds: 900, gpuShare: 0.05, seed: 15 },
  { name: 'huge-6000x288', jobs: 6000, slots: 288, slotSeconds: 300, gpuShare: 0.05, seed: 16 },
  // The hub's default optimizer.max_options (3 million options; measure it with --time-limit 30, the hub's limit).
  { name: 'cap-15000x288', jobs: 15000, slots: 288, slotSeconds: 300, gpuShare: 0.05, seed: 3 },
  // Ten times the largest target: no gap target, but the time limit must hold (12 million options).
  { name: 'xl-60000x288', jobs: 60000, slots: 288, slotSeconds: 300, gpuShare: 0.05, seed: 17 },
];

function pick<T>(random: () => number, items: readonly T[], weights: readonly number[]): T {
  let x = random() * weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < items.length; i++) {
    x -= weights[i]!;
    if (x < 0) return items[i]!;
  }
  return items[items.length - 1]!;
}

function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

interface Grid {
  region: string;
  /** Mean intensity, gCO2/kWh. */
  base: number;
  /** Relative midday dip from solar. */
  solar: number;
  /** Relative evening peak. */
  evening: number;
  /** Local time offset from the benchmark clock, hours. */
  offsetHours: number;
  /** Relative share of the cluster fleet's cores. */
  size: number;
}

const GRIDS: readonly Grid[] = [
  { region: 'KR', base: 430, solar: 0.16, evening: 0.08, offsetHours: 0, size: 1.0 },
  { region: 'JP', base: 470, solar: 0.26, evening: 0.1, offsetHours: 0, size: 1.2 },
  { region: 'CN', base: 560, solar: 0.14, evening: 0.06, offsetHours: -1, size: 0.9 },
];

/** Intensity at local hour `h`: a solar dip around 12:30 and an evening peak around 19:00. */
function diurnal(grid: Grid, h: number): number {
  const solar = Math.exp(-(((h - 12.5) / 3) ** 2));
  const evening = Math.exp(-(((h - 19) / 2) ** 2));
  return grid.base * (1 - grid.solar * solar + grid.evening * evening);
}

export function generate(family: Family): OptimizeInput {
  const random = seededRandom(family.seed);
  const H = family.slots;
  const slotHours = family.slotSeconds / 3600;
  const startHour = 4 + Math.floor(random() * 4);
  const regions = GRIDS.map((g) => g.region);

  const carbons: CarbonPoint[] = [];
  for (const grid of GRIDS) {
    // AR(1) noise: weather and dispatch wander for hours, they do not flicker slot to slot.
    let noise = 0;
    const persistence = Math.exp(-slotHours / 3);
    for (let s = 0; s < H; s++) {
      noise = persistence * noise + Math.sqrt(1 - persistence * persistence) * 0.04 * gaussian(random);
      const hour = (startHour + (s + 0.5) * slotHours + grid.offsetHours + 24) % 24;
      const ci = diurnal(grid, hour) * (1 + noise);
      carbons.push({ region: grid.region, slot: s, ci_gco2_per_kwh: Math.round(ci * 10) / 10 });
    }
  }

  const jobs: OptimizeJob[] = [];
  const prevPlan: Record<string, { region: string }> = {};
  let cpuLoad = 0;
  let gpuLoad = 0;
  const maxRuntime = Math.max(1, Math.floor(H / 3));
  for (let i = 0; i < family.jobs; i++) {
    const isGpu = random() < family.gpuShare;
    const hours = pick(random, [0.5, 1, 1.5, 2, 3, 4, 6], [3, 4, 3, 3, 2, 1.5, 1]);
    const runtime = Math.min(maxRuntime, Math.max(1, Math.round(hours / slotHours)));
    const release = Math.floor(random() * Math.max(1, Math.floor(H * 0.5)));
    const room = Math.max(0, H - release - runtime);
    // A fifth of the jobs are urgent (little slack); the rest may wait for clean hours.
    const slack = random() < 0.2 ? Math.floor(random() * Math.min(room, Math.max(1, runtime))) : Math.floor(random() * (room + 1));
    const deadline = Math.min(H - 1, release + runtime - 1 + slack);
    const cpu = isGpu ? 8 : pick(random, [1, 2, 4, 8, 16], [25, 30, 25, 15, 5]);
    const memGb = isGpu ? 64 : cpu * pick(random, [2, 4, 8], [3, 4, 2]);
    const gpu = isGpu ? pick(random, [1, 2, 4], [5, 3, 2]) : 0;
    const affinityDraw = random();
    const shuffled = [...regions].sort(() => random() - 0.5);
    const affinity = affinityDraw < 0.65 ? [] : affinityDraw < 0.85 ? shuffled.slice(0, 2) : shuffled.slice(0, 1);
    const job: OptimizeJob = {
      job_id: `job-${String(i).padStart(5, '0')}`,
      cpu,
      mem_gb: memGb,
      gpu,
      runtime_slots: runtime,
      release_slot: release,
      deadline_slot: deadline,
      data_gb: Math.round(random() * 1000) / 10,
      affinity_regions: affinity,
    };
    jobs.push(job);
    cpuLoad += cpu * runtime;
    gpuLoad += gpu * runtime;
    if (random() < 0.3) {
      const allowed = affinity.length > 0 ? affinity : regions;
      prevPlan[job.job_id] = { region: allowed[Math.floor(random() * allowed.length)]! };
    }
  }

  // Jobs crowd the first half of the horizon and the cleanest hours: about twice the total demand,
  // spread evenly, leaves those slots contended while every job still has somewhere to go.
  const totalSize = GRIDS.reduce((a, g) => a + g.size, 0);
  const capacities: SlotCapacity[] = [];
  for (const grid of GRIDS) {
    const cpuCap = Math.max(16, Math.ceil(((2 * cpuLoad) / H) * (grid.size / totalSize)));
    const gpuCap = Math.max(4, Math.ceil(((2 * gpuLoad) / H) * (grid.size / totalSize)));
    for (let s = 0; s < H; s++) {
      // A maintenance dip now and then takes a quarter of a cluster away.
      const dip = random() < 0.05 ? 0.75 : 1;
      const cpu = Math.max(16, Math.floor(cpuCap * dip));
      capacities.push({ region: grid.region, slot: s, cpu_cap: cpu, mem_gb_cap: Math.max(128, cpu * 4.5), gpu_cap: gpuCap });
    }
  }

  return {
    jobs,
    capacities,
    carbons,
    regions,
    slot_seconds: family.slotSeconds,
    horizon_slots: H,
    costs: { watt_cpu: 30, watt_gpu: 250, watt_mem_gb: 0.375, lambda_plan_dev: 100 },
    network_costs: {
      KR: { JP: 1.5, CN: 2.5 },
      JP: { KR: 1.5, CN: 3 },
      CN: { KR: 2.5, JP: 3 },
    },
    migration_allow: true,
    prev_plan: prevPlan,
  };
}
