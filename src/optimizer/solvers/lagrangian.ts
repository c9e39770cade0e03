/**
 * The scale path: Lagrangian relaxation of the capacity rows.
 *
 * With a multiplier u >= 0 on every (resource, region, slot) capacity row, the problem splits into one
 * tiny subproblem per job: the option minimising cost + sum of the multipliers over the slots it spans,
 * weighted by the job's size. The dual value
 *   L(u) = sum_j min_k (cost_jk + price_jk(u)) - sum_rows u * cap
 * is a lower bound on any plan that places every job. Multipliers follow projected subgradient steps
 * (Polyak step towards the best plan's cost, halved when the bound stalls); every few iterations the
 * relaxed choice is repaired into a feasible plan and polished by the local search in `heuristics.ts`.
 */
import {
  better,
  cheapestCosts,
  constructBest,
  deadlineAfter,
  expired,
  improve,
  Packing,
  sortOptionsByCost,
  sumPlaced,
} from '../heuristics.js';
import type { Deadline } from '../heuristics.js';
import type { PlacementModel, Solver, SolverResult, SolveOptions } from '../types.js';

export interface LagrangianSettings {
  /** Stop after this many dual iterations even with time left (tests use it instead of the clock). */
  maxIterations: number;
  /** Dual iterations between two primal repairs. */
  repairEvery: number;
  /** Initial Polyak step factor. */
  initialStepFactor: number;
  /** Iterations without a better bound before the step factor is halved. */
  patience: number;
  /** Options of an unplaced job tried with one ejection in the local search. */
  ejectionOptions: number;
  /** Millisecond clock for the time limit. */
  now: () => number;
}

export const DEFAULT_LAGRANGIAN_SETTINGS: Readonly<LagrangianSettings> = Object.freeze({
  maxIterations: Number.MAX_SAFE_INTEGER,
  repairEvery: 10,
  initialStepFactor: 1,
  patience: 20,
  ejectionOptions: 64,
  now: () => performance.now(),
});

/** One relaxed resource: per-job demand, per-cell capacity and multiplier, and the multiplier prefix sums. */
interface Resource {
  demand: Float64Array;
  cap: Float64Array;
  u: Float64Array;
  /** Per region, `horizonSlots + 1` running sums of `u`, so an option's price is one subtraction. */
  prefix: Float64Array;
  /** Typical capacity, to scale this resource's rows to comparable size in the step. */
  scale: number;
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
    let sum = 0;
    let count = 0;
    for (const c of cap) {
      if (c > 0) {
        sum += c;
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

function buildPrefixes(model: PlacementModel, resources: Resource[]): void {
  const H = model.horizonSlots;
  for (const res of resources) {
    for (let r = 0; r < model.regions.length; r++) {
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

/** Price of option `k` of job `j` under the current prefixes: cost + weighted multipliers over its span. */
function reducedCost(model: PlacementModel, resources: Resource[], j: number, k: number): number {
  const job = model.jobs[j]!;
  const first = job.optionRegion[k]! * (model.horizonSlots + 1) + job.optionStart[k]!;
  const last = first + job.runtimeSlots;
  let value = job.optionCost[k]!;
  for (const res of resources) {
    const d = res.demand[j]!;
    if (d > 0) value += d * (res.prefix[last]! - res.prefix[first]!);
  }
  return value;
}

/**
 * Solves every job's subproblem under the current prefixes: writes each job's cheapest option by reduced
 * cost into `argmin` and its reduced cost into `minimum`.
 */
function priceJobs(model: PlacementModel, resources: Resource[], argmin: Int32Array, minimum: Float64Array): void {
  const stride = model.horizonSlots + 1;
  const [a, b, c] = resources;
  const pa = a?.prefix;
  const pb = b?.prefix;
  const pc = c?.prefix;
  for (let j = 0; j < model.jobs.length; j++) {
    const job = model.jobs[j]!;
    const rt = job.runtimeSlots;
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
      const last = first + rt;
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
  }
}

function capacityCharge(resources: Resource[]): number {
  let total = 0;
  for (const res of resources) for (let i = 0; i < res.u.length; i++) total += res.u[i]! * res.cap[i]!;
  return total;
}

/**
 * Turns the relaxed choice into a feasible plan: jobs keep their relaxed option when it still fits (big
 * jobs first), the others take the option with the lowest reduced cost that fits, then the local search
 * polishes the true cost.
 */
function repair(
  model: PlacementModel,
  resources: Resource[],
  relaxed: Int32Array,
  order: Int32Array,
  byCost: Int32Array[],
  deadline: Deadline,
  ejectionOptions: number,
): Packing {
  const packing = new Packing(model);
  for (const j of order) {
    const k = relaxed[j]!;
    if (packing.fits(j, k)) packing.place(j, k);
  }
  for (const j of order) {
    if (packing.choice[j]! >= 0) continue;
    const options = model.jobs[j]!.optionCost.length;
    let best = Infinity;
    let bestK = -1;
    for (let k = 0; k < options; k++) {
      const v = reducedCost(model, resources, j, k);
      if (v < best && packing.fits(j, k)) {
        best = v;
        bestK = k;
      }
    }
    if (bestK >= 0) packing.place(j, bestK);
  }
  improve(packing, byCost, { deadline, maxPasses: 20, ejectionOptions });
  return packing;
}

/** Jobs by descending size relative to mean capacity: big jobs keep their relaxed option first. */
function bigFirst(model: PlacementModel, resources: Resource[]): Int32Array {
  const size = new Float64Array(model.jobs.length);
  for (let j = 0; j < size.length; j++) {
    let s = 0;
    for (const res of resources) s += res.demand[j]! / res.scale;
    size[j] = s * model.jobs[j]!.runtimeSlots;
  }
  const order = new Int32Array(size.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((x, y) => size[y]! - size[x]! || x - y);
}

function relativeGap(cost: number, bound: number): number {
  return Math.max(0, (cost - bound) / Math.max(cost, 1e-9));
}

function solveLagrangian(model: PlacementModel, options: SolveOptions, settings: LagrangianSettings): SolverResult {
  const deadline = deadlineAfter(options.timeLimitSeconds, settings.now);
  const n = model.jobs.length;
  const byCost = sortOptionsByCost(model);
  const cheapest = cheapestCosts(model);
  const best = constructBest(model, byCost, deadline, settings.ejectionOptions);
  const resources = relaxedResources(model);
  const order = bigFirst(model, resources);

  const relaxed = new Int32Array(n);
  const minimum = new Float64Array(n);
  const bestU = resources.map((res) => new Float64Array(res.u.length));
  const usage = resources.map((res) => new Float64Array(res.u.length + 1));
  let bound = -Infinity;
  let stepFactor = settings.initialStepFactor;
  let sinceImprovement = 0;
  let iterations = 0;
  let repairs = 0;
  let stopReason: 'gap' | 'time' | 'iterations' | 'converged' = 'iterations';

  const done = (): boolean => best.placed === n && relativeGap(best.cost, bound) <= options.gapTolerance;

  while (iterations < settings.maxIterations) {
    if (expired(deadline)) {
      stopReason = 'time';
      break;
    }
    iterations++;
    buildPrefixes(model, resources);
    priceJobs(model, resources, relaxed, minimum);
    let value = -capacityCharge(resources);
    for (let j = 0; j < n; j++) value += minimum[j]!;
    if (value > bound + 1e-9 * Math.max(1, Math.abs(bound))) {
      bound = value;
      resources.forEach((res, i) => bestU[i]!.set(res.u));
      sinceImprovement = 0;
    } else if (++sinceImprovement >= settings.patience) {
      stepFactor /= 2;
      sinceImprovement = 0;
    }

    // Subgradient: usage of the relaxed choice minus capacity, projected where u = 0 and the row is slack.
    const H = model.horizonSlots;
    let norm = 0;
    resources.forEach((res, i) => {
      const diff = usage[i]!;
      diff.fill(0);
      for (let j = 0; j < n; j++) {
        const d = res.demand[j]!;
        if (d === 0) continue;
        const job = model.jobs[j]!;
        const k = relaxed[j]!;
        const first = job.optionRegion[k]! * H + job.optionStart[k]!;
        diff[first]! += d;
        diff[first + job.runtimeSlots]! -= d;
      }
      let run = 0;
      for (let c = 0; c < res.u.length; c++) {
        run += diff[c]!;
        let g = run - res.cap[c]!;
        if (g < 0 && res.u[c] === 0) g = 0;
        diff[c] = g;
        norm += (g / res.scale) ** 2;
      }
    });

    if (norm === 0) {
      // The relaxed choice is feasible and complementary: it is optimal and the bound is tight.
      const exact = new Packing(model);
      for (let j = 0; j < n; j++) exact.place(j, relaxed[j]!);
      exact.exactCost();
      if (better(exact, best)) best.copyFrom(exact);
      bound = Math.max(bound, value);
      stopReason = 'converged';
      break;
    }

    if (iterations % settings.repairEvery === 1 || settings.repairEvery === 1) {
      const candidate = repair(model, resources, relaxed, order, byCost, deadline, settings.ejectionOptions);
      repairs++;
      if (better(candidate, best)) best.copyFrom(candidate);
    }
    if (done()) {
      stopReason = 'gap';
      break;
    }

    const target = best.placed === n ? best.cost : Math.abs(value) * 1.05 + 1;
    const step = (stepFactor * Math.max(target - value, 1e-9 * Math.max(1, Math.abs(value)))) / norm;
    resources.forEach((res, i) => {
      const g = usage[i]!;
      const factor = step / (res.scale * res.scale);
      for (let c = 0; c < res.u.length; c++) {
        const next = res.u[c]! + factor * g[c]!;
        res.u[c] = next > 0 ? next : 0;
      }
    });
    if (stepFactor < 1e-6) {
      stopReason = 'converged';
      break;
    }
  }

  // The bound: L(u) is valid for plans placing all jobs; for a plan that leaves some out, price only
  // the placed jobs with the best multipliers (and never report less than the cheapest-options bound).
  let finalBound = sumPlaced(best.choice, cheapest);
  if (best.placed === n) {
    finalBound = Math.max(finalBound, bound);
  } else if (iterations > 0) {
    resources.forEach((res, i) => res.u.set(bestU[i]!));
    buildPrefixes(model, resources);
    priceJobs(model, resources, relaxed, minimum);
    finalBound = Math.max(finalBound, sumPlaced(best.choice, minimum) - capacityCharge(resources));
  }
  best.exactCost();
  const gap = relativeGap(best.cost, finalBound);
  return {
    status: gap <= options.gapTolerance ? 'optimal' : stopReason === 'time' ? 'timedout' : 'feasible',
    choice: best.choice,
    lowerBoundGco2: Math.min(finalBound, best.cost),
    detail:
      `lagrangian: ${iterations} iterations, ${repairs} repairs, stopped on ${stopReason}, ` +
      `placed ${best.placed}/${n}, gap ${(gap * 100).toFixed(3)}%`,
  };
}

export function createLagrangianSolver(overrides: Partial<LagrangianSettings> = {}): Solver {
  const settings: LagrangianSettings = { ...DEFAULT_LAGRANGIAN_SETTINGS, ...overrides };
  return {
    name: 'lagrangian',
    maxOptions: Number.MAX_SAFE_INTEGER,
    async solve(model: PlacementModel, options: SolveOptions): Promise<SolverResult> {
      return solveLagrangian(model, options, settings);
    },
  };
}

export const lagrangianSolver: Solver = createLagrangianSolver();
