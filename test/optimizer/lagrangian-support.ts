/**
 * Test support for the greedy and Lagrangian solvers: seeded random `PlacementModel`s small enough to
 * solve by enumeration, an independent capacity check, the exact optimum per set of placed jobs and the
 * cheapest plan placing at least a given number of jobs.
 */
import { optionRuntime } from '../../src/optimizer/model.js';
import type { ModelJob, PlacementModel } from '../../src/optimizer/types.js';
import { seededRandom } from '../../src/domain/random.js';

export interface RandomModelShape {
  jobs: number;
  regions: number;
  slots: number;
  /** Largest cpu capacity of a cell; small values make the instance contended. */
  maxCpu: number;
  withGpu: boolean;
}

/** A random model whose every option fits its job alone, as `compileModel` guarantees. */
export function randomModel(seed: number, shape: Partial<RandomModelShape> = {}): PlacementModel {
  const { jobs: count = 5, regions = 2, slots = 6, maxCpu = 5, withGpu = false } = shape;
  const random = seededRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const cells = regions * slots;
  const cpu = new Float64Array(cells);
  const memGb = new Float64Array(cells);
  const gpu = new Float64Array(cells);
  for (let c = 0; c < cells; c++) {
    cpu[c] = int(2, maxCpu);
    memGb[c] = cpu[c]! * int(2, 4);
    gpu[c] = withGpu ? int(0, 2) : 0;
  }
  const jobs: ModelJob[] = [];
  while (jobs.length < count) {
    const job = {
      cpu: int(1, 3),
      memGb: int(1, 6),
      gpu: withGpu && random() < 0.4 ? 1 : 0,
      runtime: int(1, 3),
    };
    const region: number[] = [];
    const start: number[] = [];
    const cost: number[] = [];
    for (let r = 0; r < regions; r++) {
      for (let s = 0; s + job.runtime <= slots; s++) {
        if (random() < 0.3) continue;
        let fits = true;
        for (let t = s; t < s + job.runtime; t++) {
          const c = r * slots + t;
          fits &&= job.cpu <= cpu[c]! && job.memGb <= memGb[c]! && job.gpu <= gpu[c]!;
        }
        if (!fits) continue;
        region.push(r);
        start.push(s);
        cost.push(int(10, 100) + random());
      }
    }
    if (cost.length === 0) continue;
    jobs.push({
      jobId: `j${jobs.length}`,
      cpu: job.cpu,
      memGb: job.memGb,
      gpu: job.gpu,
      siteRuntime: new Int32Array(regions).fill(job.runtime),
      optionRegion: Int32Array.from(region),
      optionStart: Int32Array.from(start),
      optionCost: Float64Array.from(cost),
    });
  }
  return {
    regions: Array.from({ length: regions }, (_, r) => `R${r}`),
    horizonSlots: slots,
    jobs,
    capacity: { cpu, memGb, gpu },
  };
}

/** Capacity overflows of `choice`, recomputed cell by cell without the solvers' bookkeeping. */
export function overflows(model: PlacementModel, choice: Int32Array): string[] {
  const out: string[] = [];
  for (let r = 0; r < model.regions.length; r++) {
    for (let s = 0; s < model.horizonSlots; s++) {
      const used = { cpu: 0, memGb: 0, gpu: 0 };
      model.jobs.forEach((job, j) => {
        const k = choice[j]!;
        if (k < 0 || job.optionRegion[k] !== r) return;
        const start = job.optionStart[k]!;
        if (start <= s && s < start + optionRuntime(job, k)) {
          used.cpu += job.cpu;
          used.memGb += job.memGb;
          used.gpu += job.gpu;
        }
      });
      const c = r * model.horizonSlots + s;
      for (const key of ['cpu', 'memGb', 'gpu'] as const) {
        if (used[key] > model.capacity[key][c]! + 1e-9) out.push(`${key} in region ${r} slot ${s}: ${used[key]}`);
      }
    }
  }
  return out;
}

export function planCost(model: PlacementModel, choice: Int32Array): number {
  let total = 0;
  model.jobs.forEach((job, j) => {
    if (choice[j]! >= 0) total += job.optionCost[choice[j]!]!;
  });
  return total;
}

export function placedSet(choice: Int32Array): string {
  return Array.from(choice, (k) => (k >= 0 ? '1' : '0')).join('');
}

/** Every feasible plan, by enumeration: the most jobs any plan places and the cheapest cost per placed set. */
export function enumerate(model: PlacementModel): { maxPlaced: number; optimum: Map<string, number> } {
  const optimum = new Map<string, number>();
  const choice = new Int32Array(model.jobs.length).fill(-1);
  let maxPlaced = 0;
  const visit = (j: number, placed: number): void => {
    if (j === model.jobs.length) {
      if (overflows(model, choice).length > 0) return;
      const key = placedSet(choice);
      const cost = planCost(model, choice);
      if (cost < (optimum.get(key) ?? Infinity)) optimum.set(key, cost);
      maxPlaced = Math.max(maxPlaced, placed);
      return;
    }
    choice[j] = -1;
    visit(j + 1, placed);
    for (let k = 0; k < model.jobs[j]!.optionCost.length; k++) {
      choice[j] = k;
      visit(j + 1, placed + 1);
    }
    choice[j] = -1;
  };
  visit(0, 0);
  return { maxPlaced, optimum };
}

/**
 * The cheapest feasible plan placing at least `count` jobs, whichever they are (from `enumerate`'s optima): a
 * backend's bound for a plan placing `count` jobs covers every such plan, so it must not exceed this.
 */
export function optimumPlacingAtLeast(optimum: Map<string, number>, count: number): number {
  let best = Infinity;
  for (const [set, cost] of optimum) {
    if ([...set].filter((c) => c === '1').length >= count) best = Math.min(best, cost);
  }
  return best;
}

/**
 * One cpu slot of 4 cores and two jobs that want it: `big` (4 cores, 12 g) and `small` (1 core, 3 g). Only
 * one fits; a plan keeping `big` must still report a bound no higher than 3, the cost of keeping `small`.
 */
export function bigOrSmallModel(): PlacementModel {
  return oneSlotModel(4, [
    ['big', 4, 12],
    ['small', 1, 3],
  ]);
}

/** One region, one slot of `cpu` cores, and jobs given as [id, cores, cost] with that single option each. */
export function oneSlotModel(cpu: number, jobs: readonly [string, number, number][]): PlacementModel {
  return {
    regions: ['R0'],
    horizonSlots: 1,
    jobs: jobs.map(([jobId, cores, cost]) => ({
      jobId,
      cpu: cores,
      memGb: 0,
      gpu: 0,
      siteRuntime: Int32Array.of(1),
      optionRegion: Int32Array.of(0),
      optionStart: Int32Array.of(0),
      optionCost: Float64Array.of(cost),
    })),
    capacity: { cpu: Float64Array.of(cpu), memGb: Float64Array.of(0), gpu: Float64Array.of(0) },
  };
}
