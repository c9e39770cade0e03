/**
 * The Lagrangian dual of the capacity rows: one multiplier u >= 0 per (resource, region, slot).
 *
 * With the multipliers fixed the problem splits into one subproblem per job: the option minimising its
 * reduced cost, cost + sum over the cells it spans of (job size x multiplier). Per-region prefix sums of
 * the multipliers make pricing an option O(1). The dual value
 *   L(u) = sum_j min_k reducedCost(j, k) - sum_cells u * cap
 * is a lower bound on every plan that places all jobs: for such a plan, adding u x (usage - cap) <= 0
 * to its cost gives a quantity at least L(u).
 */
import { optionRuntime } from '../model.js';
import type { PlacementModel } from '../types.js';

/** One relaxed resource: per-job demand, per-cell capacity and multiplier, and the multiplier prefix sums. */
export interface Resource {
  demand: Float64Array;
  cap: Float64Array;
  u: Float64Array;
  /** Per region, `horizonSlots + 1` running sums of `u`, so an option's price is one subtraction. */
  prefix: Float64Array;
  /** Typical capacity: scales this resource's rows to comparable size in the subgradient step. */
  scale: number;
}

export class LagrangianDual {
  readonly resources: Resource[];
  /** Subgradient per resource and cell (one spare cell for the difference-array pass). */
  private readonly gradient: Float64Array[];

  constructor(readonly model: PlacementModel) {
    this.resources = relaxedResources(model);
    this.gradient = this.resources.map((res) => new Float64Array(res.u.length + 1));
  }

  /** Recomputes the prefix sums after the multipliers changed. */
  refreshPrefixes(): void {
    const H = this.model.horizonSlots;
    for (const res of this.resources) {
      for (let r = 0; r < this.model.regions.length; r++) {
        let run = 0;
        const base = r * (H + 1);
        res.prefix[base] = 0;
        for (let s = 0; s < H; s++) {
          run += res.u[r * H + s]!;
          res.prefix[base + s + 1] = run;
        }
      }
    }
  }

  /** Reduced cost of option `k` of job `j` under the current prefixes. */
  reducedCost(j: number, k: number): number {
    const job = this.model.jobs[j]!;
    const first = job.optionRegion[k]! * (this.model.horizonSlots + 1) + job.optionStart[k]!;
    const last = first + optionRuntime(job, k);
    let value = job.optionCost[k]!;
    for (const res of this.resources) {
      const d = res.demand[j]!;
      if (d > 0) value += d * (res.prefix[last]! - res.prefix[first]!);
    }
    return value;
  }

  /**
   * Solves every job's subproblem under the current prefixes: each job's option with the lowest reduced
   * cost goes to `argmin`, that reduced cost to `minimum`. Returns the dual value L(u).
   */
  priceJobs(argmin: Int32Array, minimum: Float64Array): number {
    const model = this.model;
    const stride = model.horizonSlots + 1;
    // Unrolled over at most three resources: this loop runs over every option of every job.
    const [a, b, c] = this.resources;
    const pa = a ? a.prefix : null;
    const pb = b ? b.prefix : null;
    const pc = c ? c.prefix : null;
    let value = -this.capacityCharge();
    for (let j = 0; j < model.jobs.length; j++) {
      const job = model.jobs[j]!;
      const runtime = job.siteRuntime;
      const da = a ? a.demand[j]! : 0;
      const db = b ? b.demand[j]! : 0;
      const dc = c ? c.demand[j]! : 0;
      const region = job.optionRegion;
      const start = job.optionStart;
      const cost = job.optionCost;
      let best = Infinity;
      let bestK = -1;
      for (let k = 0; k < cost.length; k++) {
        const first = region[k]! * stride + start[k]!;
        const last = first + runtime[region[k]!]!;
        let v = cost[k]!;
        if (da > 0) v += da * (pa![last]! - pa![first]!);
        if (db > 0) v += db * (pb![last]! - pb![first]!);
        if (dc > 0) v += dc * (pc![last]! - pc![first]!);
        if (v < best) {
          best = v;
          bestK = k;
        }
      }
      argmin[j] = bestK;
      minimum[j] = best;
      value += best;
    }
    return value;
  }

  /** sum over cells of u x cap: what the dual charges for the capacity it relaxes. */
  capacityCharge(): number {
    let total = 0;
    for (const res of this.resources) for (let i = 0; i < res.u.length; i++) total += res.u[i]! * res.cap[i]!;
    return total;
  }

  /**
   * Computes the subgradient of L at the current multipliers for the relaxed `choice` (usage minus
   * capacity, zeroed where u = 0 and the row is slack, since the projection would undo that step) and
   * returns its squared norm in scaled units. 0 means `choice` is feasible and complementary.
   */
  subgradient(choice: Int32Array): number {
    const model = this.model;
    const H = model.horizonSlots;
    let norm = 0;
    this.resources.forEach((res, i) => {
      const g = this.gradient[i]!;
      g.fill(0);
      for (let j = 0; j < choice.length; j++) {
        const d = res.demand[j]!;
        if (d === 0) continue;
        const job = model.jobs[j]!;
        const k = choice[j]!;
        const first = job.optionRegion[k]! * H + job.optionStart[k]!;
        g[first]! += d;
        g[first + optionRuntime(job, k)]! -= d;
      }
      let run = 0;
      for (let c = 0; c < res.u.length; c++) {
        run += g[c]!;
        let v = run - res.cap[c]!;
        if (v < 0 && res.u[c] === 0) v = 0;
        g[c] = v;
        norm += (v / res.scale) ** 2;
      }
    });
    return norm;
  }

  /** Projected step along the last subgradient: u <- max(0, u + step x g / scale^2). */
  step(step: number): void {
    this.resources.forEach((res, i) => {
      const g = this.gradient[i]!;
      const factor = step / (res.scale * res.scale);
      for (let c = 0; c < res.u.length; c++) {
        const next = res.u[c]! + factor * g[c]!;
        res.u[c] = next > 0 ? next : 0;
      }
    });
  }

  snapshot(): Float64Array[] {
    return this.resources.map((res) => Float64Array.from(res.u));
  }

  restore(multipliers: Float64Array[]): void {
    this.resources.forEach((res, i) => res.u.set(multipliers[i]!));
    this.refreshPrefixes();
  }
}

function relaxedResources(model: PlacementModel): Resource[] {
  const cells = model.regions.length * model.horizonSlots;
  const prefixLength = model.regions.length * (model.horizonSlots + 1);
  const specs: Array<[Float64Array, (j: number) => number]> = [
    [model.capacity.cpu, (j) => model.jobs[j]!.cpu],
    [model.capacity.memGb, (j) => model.jobs[j]!.memGb],
    [model.capacity.gpu, (j) => model.jobs[j]!.gpu],
  ];
  const out: Resource[] = [];
  for (const [cap, size] of specs) {
    const demand = new Float64Array(model.jobs.length);
    let any = false;
    for (let j = 0; j < demand.length; j++) {
      demand[j] = size(j);
      any ||= demand[j]! > 0;
    }
    // A resource no job asks for can never bind: leaving it out keeps its multipliers at zero.
    if (!any) continue;
    // The scale is a typical capacity, each cut to what all jobs together could use: a capacity meant as
    // "unlimited" (1e300) would otherwise make every other cell's overflow vanish below double precision.
    let totalDemand = 0;
    for (const d of demand) totalDemand += d;
    let sum = 0;
    let count = 0;
    for (const c of cap) {
      if (c > 0) {
        sum += Math.min(c, totalDemand);
        count++;
      }
    }
    out.push({
      demand,
      cap,
      u: new Float64Array(cells),
      prefix: new Float64Array(prefixLength),
      scale: count > 0 ? sum / count : 1,
    });
  }
  return out;
}
