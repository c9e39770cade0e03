/**
 * Fast feasible plans for a `PlacementModel`: a greedy construction plus a local search, shared by the
 * `greedy` solver and by the Lagrangian solver's primal repair.
 *
 * All state lives in typed arrays: the largest models carry millions of options.
 */
import { CAPACITY_EPS, cheapestOptionsBound, optionRuntime, shortestRuntime } from './model.js';
import type { PlacementModel, Solver, SolverResult, SolveOptions } from './types.js';

/** A deadline in `performance.now()` milliseconds plus the clock that reads it (tests inject a fake one). */
export interface Deadline {
  readonly at: number;
  readonly now: () => number;
}

export function deadlineAfter(seconds: number, now: () => number = () => performance.now()): Deadline {
  return { at: now() + Math.max(0, seconds) * 1000, now };
}

export function expired(deadline: Deadline): boolean {
  return deadline.now() >= deadline.at;
}

/**
 * Residual-capacity bookkeeping: which option each job holds and how much cpu/mem/gpu every
 * (region, slot) has in use. Kept feasible at all times: `place` is only called after `fits`.
 */
export class Packing {
  readonly choice: Int32Array;
  readonly usedCpu: Float64Array;
  readonly usedMem: Float64Array;
  readonly usedGpu: Float64Array;
  /** Placed jobs by (region, start slot) cell, to find the jobs in the way of an option. */
  readonly startingAt: number[][];
  /** Longest runtime of any job, slots: how far back a job overlapping a slot may have started. */
  readonly maxRuntime: number;
  placed = 0;
  cost = 0;

  constructor(readonly model: PlacementModel) {
    const cells = model.regions.length * model.horizonSlots;
    this.choice = new Int32Array(model.jobs.length).fill(-1);
    this.usedCpu = new Float64Array(cells);
    this.usedMem = new Float64Array(cells);
    this.usedGpu = new Float64Array(cells);
    this.startingAt = Array.from({ length: cells }, () => []);
    this.maxRuntime = model.jobs.reduce((m, job) => Math.max(m, ...job.siteRuntime), 0);
  }

  /** Whether option `k` of job `j` fits the capacity left by the other placed jobs (job `j` must not be placed). */
  fits(j: number, k: number): boolean {
    const job = this.model.jobs[j]!;
    const first = job.optionRegion[k]! * this.model.horizonSlots + job.optionStart[k]!;
    const end = first + optionRuntime(job, k);
    const { cpu, memGb, gpu } = job;
    const cap = this.model.capacity;
    if (cpu > 0) {
      const used = this.usedCpu;
      const capCpu = cap.cpu;
      for (let i = first; i < end; i++) if (used[i]! + cpu > capCpu[i]! + CAPACITY_EPS) return false;
    }
    if (memGb > 0) {
      const used = this.usedMem;
      const capMem = cap.memGb;
      for (let i = first; i < end; i++) if (used[i]! + memGb > capMem[i]! + CAPACITY_EPS) return false;
    }
    if (gpu > 0) {
      const used = this.usedGpu;
      const capGpu = cap.gpu;
      for (let i = first; i < end; i++) if (used[i]! + gpu > capGpu[i]! + CAPACITY_EPS) return false;
    }
    return true;
  }

  place(j: number, k: number): void {
    this.occupy(j, k, 1);
    this.choice[j] = k;
    this.placed++;
    this.cost += this.model.jobs[j]!.optionCost[k]!;
    this.startingAt[this.cellOf(j, k)]!.push(j);
  }

  unplace(j: number): void {
    const k = this.choice[j]!;
    this.occupy(j, k, -1);
    this.choice[j] = -1;
    this.placed--;
    this.cost -= this.model.jobs[j]!.optionCost[k]!;
    const list = this.startingAt[this.cellOf(j, k)]!;
    const at = list.indexOf(j);
    list[at] = list[list.length - 1]!;
    list.pop();
  }

  /** Placed jobs running in region `region` during any of the slots `start .. end - 1`. */
  overlapping(region: number, start: number, end: number): number[] {
    const H = this.model.horizonSlots;
    const out: number[] = [];
    for (let t = Math.max(0, start - this.maxRuntime + 1); t < end; t++) {
      for (const b of this.startingAt[region * H + t]!) {
        if (t + optionRuntime(this.model.jobs[b]!, this.choice[b]!) > start) out.push(b);
      }
    }
    return out;
  }

  private cellOf(j: number, k: number): number {
    const job = this.model.jobs[j]!;
    return job.optionRegion[k]! * this.model.horizonSlots + job.optionStart[k]!;
  }

  /** Re-sums the cost from scratch: the running total drifts after millions of moves. */
  exactCost(): number {
    let total = 0;
    for (let j = 0; j < this.choice.length; j++) {
      const k = this.choice[j]!;
      if (k >= 0) total += this.model.jobs[j]!.optionCost[k]!;
    }
    this.cost = total;
    return total;
  }

  copyFrom(other: Packing): void {
    this.choice.set(other.choice);
    this.usedCpu.set(other.usedCpu);
    this.usedMem.set(other.usedMem);
    this.usedGpu.set(other.usedGpu);
    other.startingAt.forEach((list, cell) => {
      this.startingAt[cell] = [...list];
    });
    this.placed = other.placed;
    this.cost = other.cost;
  }

  private occupy(j: number, k: number, sign: 1 | -1): void {
    const job = this.model.jobs[j]!;
    const first = job.optionRegion[k]! * this.model.horizonSlots + job.optionStart[k]!;
    const end = first + optionRuntime(job, k);
    const cpu = sign * job.cpu;
    const mem = sign * job.memGb;
    const gpu = sign * job.gpu;
    for (let i = first; i < end; i++) {
      this.usedCpu[i]! += cpu;
      this.usedMem[i]! += mem;
      this.usedGpu[i]! += gpu;
    }
  }
}

/**
 * True when plan `a` is better than plan `b`: more jobs placed first, then lower cost by more than a
 * billionth (float noise between two ways of summing the same plan is not an improvement).
 */
export function better(a: { placed: number; cost: number }, b: { placed: number; cost: number }): boolean {
  return a.placed > b.placed || (a.placed === b.placed && a.cost < b.cost - 1e-9 * Math.max(1, Math.abs(b.cost)));
}

/**
 * The larger of two lower bounds (null: none proven). Each solver's bound holds for every plan placing at
 * least as many jobs as its own plan, so the better of two plans (which places at least as many as the
 * other) may take the larger.
 */
export function largerBound(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  return b === null ? a : Math.max(a, b);
}

/** Per job, its option indices sorted by ascending cost. */
export function sortOptionsByCost(model: PlacementModel): Int32Array[] {
  return model.jobs.map((job) => {
    const n = job.optionCost.length;
    const order = new Int32Array(n);
    for (let k = 0; k < n; k++) order[k] = k;
    const cost = job.optionCost;
    return order.sort((a, b) => cost[a]! - cost[b]!);
  });
}

/**
 * How much of the model's capacity a job eats over its run, summed over resources relative to each
 * resource's mean capacity: big jobs go first so that they are not squeezed out by small ones.
 */
function footprints(model: PlacementModel): Float64Array {
  const mean = (a: Float64Array): number => {
    let s = 0;
    for (const v of a) s += v;
    return a.length > 0 && s > 0 ? s / a.length : 1;
  };
  const cpu = mean(model.capacity.cpu);
  const mem = mean(model.capacity.memGb);
  const gpu = mean(model.capacity.gpu);
  const out = new Float64Array(model.jobs.length);
  model.jobs.forEach((job, j) => {
    out[j] = (job.cpu / cpu + job.memGb / mem + job.gpu / gpu) * shortestRuntime(job);
  });
  return out;
}

/**
 * Regret of each job: what it loses when its cheapest placement is taken, i.e. the cheapest option that
 * does not overlap the cheapest one (other region, or a disjoint interval) minus the cheapest.
 */
function regrets(model: PlacementModel, byCost: Int32Array[]): Float64Array {
  const out = new Float64Array(model.jobs.length);
  model.jobs.forEach((job, j) => {
    const order = byCost[j]!;
    const best = order[0]!;
    const r0 = job.optionRegion[best]!;
    const s0 = job.optionStart[best]!;
    let alternative = Infinity;
    for (let i = 1; i < order.length; i++) {
      const k = order[i]!;
      // Disjoint from the cheapest run: another site, or an interval that does not overlap it.
      const s = job.optionStart[k]!;
      if (job.optionRegion[k] !== r0 || s >= s0 + optionRuntime(job, best) || s + optionRuntime(job, k) <= s0) {
        alternative = job.optionCost[k]!;
        break;
      }
    }
    // A job with a single usable place has the highest priority.
    out[j] = Number.isFinite(alternative) ? alternative - job.optionCost[best]! : Number.MAX_VALUE;
  });
  return out;
}

function identity(n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

function orderBy(keys: Float64Array): Int32Array {
  const order = new Int32Array(keys.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((a, b) => keys[b]! - keys[a]! || a - b);
}

/** Places each job of `order` (not yet placed) at its cheapest option that still fits. */
export function placeGreedily(packing: Packing, order: Int32Array, byCost: Int32Array[]): void {
  for (const j of order) {
    if (packing.choice[j]! >= 0) continue;
    for (const k of byCost[j]!) {
      if (packing.fits(j, k)) {
        packing.place(j, k);
        break;
      }
    }
  }
}

/**
 * Tries to place an unplaced job `j` by lifting one placed job out of its way: for each option of `j` in
 * cost order, every placed job overlapping it is lifted in turn; the exchange is kept when `j` fits and
 * either the lifted job fits somewhere else or other unplaced jobs fill the room it left, so that more
 * jobs end up placed. Bounded by `maxOptions` options of `j`.
 */
function insertWithEjection(packing: Packing, j: number, byCost: Int32Array[], maxOptions: number, deadline: Deadline): boolean {
  const job = packing.model.jobs[j]!;
  const order = byCost[j]!;
  const tries = Math.min(order.length, maxOptions);
  // The other unplaced jobs, listed once: scanning every job per ejection made this quadratic.
  const unplaced: number[] = [];
  for (let o = 0; o < packing.choice.length; o++) if (o !== j && packing.choice[o]! < 0) unplaced.push(o);
  for (let i = 0; i < tries; i++) {
    // Checked per option: with thousands of jobs in the way of each (measured at 60,000 jobs), one call took seconds.
    if (expired(deadline)) return false;
    const k = order[i]!;
    const start = job.optionStart[k]!;
    for (const b of packing.overlapping(job.optionRegion[k]!, start, start + optionRuntime(job, k))) {
      const kb = packing.choice[b]!;
      packing.unplace(b);
      if (packing.fits(j, k)) {
        packing.place(j, k);
        if (placeCheapest(packing, b, byCost)) return true;
        const others: number[] = [];
        for (const o of unplaced) if (packing.choice[o]! < 0 && placeCheapest(packing, o, byCost)) others.push(o);
        if (others.length > 0) return true;
        packing.unplace(j);
      }
      packing.place(b, kb);
    }
  }
  // Relocating a whole block is costly: only around the cheapest few options.
  const relocations = Math.min(tries, RELOCATION_OPTIONS);
  for (let i = 0; i < relocations && !expired(deadline); i++) if (insertByRelocation(packing, j, order[i]!, byCost)) return true;
  return false;
}

const RELOCATION_OPTIONS = 8;

/**
 * Places unplaced job `j` at option `k` by lifting every job in its way and re-placing them, biggest
 * first, at their cheapest options that still fit; undone unless all of them find a place again.
 */
function insertByRelocation(packing: Packing, j: number, k: number, byCost: Int32Array[]): boolean {
  const model = packing.model;
  const job = model.jobs[j]!;
  const start = job.optionStart[k]!;
  const lifted = packing.overlapping(job.optionRegion[k]!, start, start + optionRuntime(job, k));
  const was = lifted.map((b) => packing.choice[b]!);
  for (const b of lifted) packing.unplace(b);
  if (packing.fits(j, k)) {
    packing.place(j, k);
    // Sized by the run each lifted job had (it is unplaced now).
    const size = (i: number) => {
      const other = model.jobs[lifted[i]!]!;
      return (other.cpu + other.memGb / 4 + 8 * other.gpu) * optionRuntime(other, was[i]!);
    };
    const byBig = lifted.map((_, i) => i).sort((x, y) => size(y) - size(x));
    let all = true;
    for (const i of byBig) all = placeCheapest(packing, lifted[i]!, byCost) && all;
    if (all) return true;
    for (const b of lifted) if (packing.choice[b]! >= 0) packing.unplace(b);
    packing.unplace(j);
  }
  lifted.forEach((b, i) => packing.place(b, was[i]!));
  return false;
}

/** Places job `j` at its cheapest option that fits; false when none does. */
function placeCheapest(packing: Packing, j: number, byCost: Int32Array[]): boolean {
  for (const k of byCost[j]!) {
    if (packing.fits(j, k)) {
      packing.place(j, k);
      return true;
    }
  }
  return false;
}

/**
 * Moves placed job `j` to a cheaper option `k` that only fits once one job `b` in the way moves to its
 * cheapest option that still fits, when the pair together gets cheaper. Tries the `maxOptions` cheapest
 * options of `j`. Returns whether it moved.
 */
function moveWithEjection(packing: Packing, j: number, byCost: Int32Array[], maxOptions: number, deadline: Deadline): boolean {
  const job = packing.model.jobs[j]!;
  const current = packing.choice[j]!;
  const currentCost = job.optionCost[current]!;
  const order = byCost[j]!;
  const tries = Math.min(order.length, maxOptions);
  packing.unplace(j);
  for (let i = 0; i < tries; i++) {
    const k = order[i]!;
    const costK = job.optionCost[k]!;
    if (costK >= currentCost || expired(deadline)) break;
    const start = job.optionStart[k]!;
    for (const b of packing.overlapping(job.optionRegion[k]!, start, start + optionRuntime(job, k))) {
      const other = packing.model.jobs[b]!;
      const kb = packing.choice[b]!;
      const budget = currentCost + other.optionCost[kb]! - costK;
      packing.unplace(b);
      if (packing.fits(j, k)) {
        packing.place(j, k);
        for (const kb2 of byCost[b]!) {
          if (other.optionCost[kb2]! >= budget - 1e-9) break;
          if (kb2 !== kb && packing.fits(b, kb2)) {
            packing.place(b, kb2);
            return true;
          }
        }
        packing.unplace(j);
      }
      packing.place(b, kb);
    }
  }
  packing.place(j, current);
  return false;
}

export interface ImproveOptions {
  deadline: Deadline;
  /** Upper bound on full passes over the jobs. */
  maxPasses: number;
  /** Options of an unplaced job tried with one ejection (0 disables ejection). */
  ejectionOptions: number;
  /** Cheaper options of a placed job tried with one ejection once plain moves are exhausted (0 disables). */
  exchangeOptions: number;
  /** Placed jobs the moves consider (default all); unplaced jobs are always tried. */
  jobs?: ArrayLike<number>;
}

/**
 * Local search on the true cost: first place any job that now fits (directly or by moving one other
 * job), then move each job to the cheapest option that fits once it is lifted, until a pass changes
 * nothing, `maxPasses` is reached or the deadline passes. Never loses a placed job.
 */
export function improve(packing: Packing, byCost: Int32Array[], options: ImproveOptions): number {
  const model = packing.model;
  const n = model.jobs.length;
  const scope = options.jobs ?? identity(n);
  let passes = 0;
  while (passes < options.maxPasses && !expired(options.deadline)) {
    passes++;
    let changed = false;
    for (let j = 0; j < n; j++) {
      if (packing.choice[j]! >= 0) continue;
      if (expired(options.deadline)) break;
      let done = false;
      for (const k of byCost[j]!) {
        if (packing.fits(j, k)) {
          packing.place(j, k);
          done = true;
          break;
        }
      }
      if (!done && options.ejectionOptions > 0) done = insertWithEjection(packing, j, byCost, options.ejectionOptions, options.deadline);
      changed ||= done;
    }
    for (let i = 0; i < scope.length; i++) {
      if ((i & 255) === 0 && expired(options.deadline)) break;
      const j = scope[i]!;
      const current = packing.choice[j]!;
      if (current < 0) continue;
      const job = model.jobs[j]!;
      const currentCost = job.optionCost[current]!;
      const order = byCost[j]!;
      if (job.optionCost[order[0]!]! >= currentCost) continue;
      packing.unplace(j);
      let moved = current;
      for (const k of order) {
        if (job.optionCost[k]! >= currentCost) break;
        if (packing.fits(j, k)) {
          moved = k;
          break;
        }
      }
      packing.place(j, moved);
      changed ||= moved !== current;
    }
    if (!changed && options.exchangeOptions > 0) {
      for (let i = 0; i < scope.length; i++) {
        if ((i & 15) === 0 && expired(options.deadline)) break;
        const j = scope[i]!;
        if (packing.choice[j]! >= 0) changed = moveWithEjection(packing, j, byCost, options.exchangeOptions, options.deadline) || changed;
      }
    }
    if (!changed) break;
  }
  packing.exactCost();
  return passes;
}

/**
 * Builds a plan with each of the given job orders, improves each and returns the best.
 */
export function constructBest(
  model: PlacementModel,
  byCost: Int32Array[],
  deadline: Deadline,
  search: Pick<ImproveOptions, 'ejectionOptions' | 'exchangeOptions'>,
): Packing {
  const orders = [orderBy(regrets(model, byCost)), orderBy(footprints(model))];
  let best: Packing | null = null;
  for (const order of orders) {
    if (best && expired(deadline)) break;
    const packing = new Packing(model);
    placeGreedily(packing, order, byCost);
    improve(packing, byCost, { deadline, maxPasses: 50, ...search });
    if (!best || better(packing, best)) best = packing;
  }
  return best!;
}

/** How hard the greedy solver's local search looks for ejections. */
const GREEDY_SEARCH = { ejectionOptions: 64, exchangeOptions: 16 };

export const greedySolver: Solver = {
  name: 'greedy',
  maxOptions: Number.MAX_SAFE_INTEGER,
  async solve(model: PlacementModel, options: SolveOptions): Promise<SolverResult> {
    const deadline = deadlineAfter(options.timeLimitSeconds);
    const byCost = sortOptionsByCost(model);
    const packing = constructBest(model, byCost, deadline, GREEDY_SEARCH);
    const bound = cheapestOptionsBound(model, packing.placed);
    const gap = (packing.cost - bound) / Math.max(packing.cost, 1e-9);
    return {
      // The bound does not prove that no plan places more jobs: leaving any out is never proven optimal.
      status: packing.placed === model.jobs.length && gap <= options.gapTolerance ? 'optimal' : 'feasible',
      choice: packing.choice,
      lowerBoundGco2: bound,
      detail: `greedy: placed ${packing.placed}/${model.jobs.length}`,
    };
  },
};
