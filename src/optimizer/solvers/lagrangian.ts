/**
 * The scale path: Lagrangian relaxation of the capacity rows (see `lagrangian-dual.ts`).
 *
 * 1. A greedy plan (no ejections: fast at any size) gives a first incumbent.
 * 2. Dual phase: projected subgradient steps on the multipliers, Polyak step towards the incumbent's
 *    cost, step factor halved when the bound stalls. Every few iterations the relaxed choice is repaired
 *    into a feasible plan (keep relaxed options that fit, jobs missed by earlier repairs first, re-place
 *    the rest by reduced cost, plain moves on the true cost). Repairs stay cheap so that the multipliers
 *    converge within seconds at 1500 x 96 and in about 30 s at 6000 x 288; besides the incumbent (most
 *    jobs placed) the phase keeps the cheapest repaired plans missing at most a few jobs (lean plans).
 * 3. Polishing phase: the local search inserts the missing jobs of the cheapest few repaired plans (the
 *    lean plans; cheaper, as measured, than the detours of the plans that placed everyone) with plain
 *    moves and ejections; the exchange moves then run from each of the cheapest plans placing every job,
 *    and a large-neighbourhood search priced with the best multipliers lifts the jobs around one region
 *    and time window of the best plan and re-places them.
 * The dual phase stops at `dualShare` of the time limit or when the step has shrunk to nothing; the
 * whole solve stops at the gap tolerance or the time limit.
 */
import { better, constructBest, deadlineAfter, expired, improve, Packing, placeGreedily, sortOptionsByCost } from '../heuristics.js';
import type { Deadline } from '../heuristics.js';
import { cheapestOptionsBound, findOverflow, leastSumOverAtLeast, optionRuntime, shortestRuntime, unplacedPenalty } from '../model.js';
import type { PlacementModel, Solver, SolverResult, SolveOptions } from '../types.js';
import { LagrangianDual } from './lagrangian-dual.js';
import { seededRandom } from '../../domain/random.js';

export interface LagrangianSettings {
  /** Stop after this many dual iterations plus neighbourhood moves, even with time left (tests use it instead of the clock). */
  maxIterations: number;
  /** Dual iterations between two primal repairs. */
  repairEvery: number;
  /** Initial Polyak step factor. */
  initialStepFactor: number;
  /** Iterations without a better bound before the step factor is halved. */
  patience: number;
  /** The dual phase ends once the step factor falls below this. */
  minStepFactor: number;
  /** Options of an unplaced job tried with one ejection in the local search. */
  ejectionOptions: number;
  /** Cheaper options of a placed job tried with one ejection in the local search. */
  exchangeOptions: number;
  /** Share of the time limit the dual phase may use. */
  dualShare: number;
  /** Most jobs one neighbourhood move lifts. */
  neighbourhoodSize: number;
  /** Seed of the neighbourhood choices (the solver is deterministic for a given model and settings). */
  seed: number;
  /** Millisecond clock for the time limit. */
  now: () => number;
}

export const DEFAULT_LAGRANGIAN_SETTINGS: Readonly<LagrangianSettings> = Object.freeze({
  maxIterations: Number.MAX_SAFE_INTEGER,
  repairEvery: 10,
  initialStepFactor: 1,
  patience: 20,
  minStepFactor: 1e-6,
  ejectionOptions: 64,
  exchangeOptions: 16,
  dualShare: 0.5,
  neighbourhoodSize: 40,
  seed: 1,
  now: () => performance.now(),
});

/**
 * Share of the limit left unused: the last move and the caller's mapping of the plan (tie shifts, plan
 * items) run after the deadline check, and the caller's limit covers them too.
 */
const FINISH_MARGIN = 0.01;

/** How many jobs a lean plan (one of the cheapest repaired plans) may miss. */
const LEAN_MISSING = 5;
/** How many lean plans, and how many plans placing every job, the dual phase keeps. */
const KEPT_PLANS = 3;

/** Keeps the `KEPT_PLANS` cheapest plans offered (by cost alone, distinct costs), cheapest first. */
function keepCheapest(kept: Packing[], candidate: Packing): void {
  if (kept.some((p) => Math.abs(p.cost - candidate.cost) <= 1e-9 * Math.max(1, candidate.cost))) return;
  if (kept.length === KEPT_PLANS && candidate.cost >= kept[kept.length - 1]!.cost) return;
  const copy = kept.length === KEPT_PLANS ? kept.pop()! : new Packing(candidate.model);
  copy.copyFrom(candidate);
  kept.push(copy);
  kept.sort((a, b) => a.cost - b.cost);
}

function relativeGap(cost: number, bound: number): number {
  return Math.max(0, (cost - bound) / Math.max(cost, 1e-9));
}

/** Jobs by descending size relative to typical capacity, times runtime: big jobs are placed first. */
function bigFirst(model: PlacementModel, dual: LagrangianDual): Int32Array {
  const size = new Float64Array(model.jobs.length);
  for (let j = 0; j < size.length; j++) {
    let s = 0;
    for (const res of dual.resources) s += res.demand[j]! / res.scale;
    size[j] = s * shortestRuntime(model.jobs[j]!);
  }
  const order = new Int32Array(size.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((x, y) => size[y]! - size[x]! || x - y);
}

/**
 * `order` with the jobs earlier repairs left out moved to the front, most often missed first: a job
 * squeezed out once is likely to be squeezed out again unless it takes its room before the others.
 */
function missedFirst(order: Int32Array, misses: Int32Array): Int32Array {
  const missed: number[] = [];
  for (const j of order) if (misses[j]! > 0) missed.push(j);
  if (missed.length === 0) return order;
  missed.sort((x, y) => misses[y]! - misses[x]!);
  const out = new Int32Array(order.length);
  out.set(missed);
  let i = missed.length;
  for (const j of order) if (misses[j] === 0) out[i++] = j;
  return out;
}

/** Places job `j` at the option with the lowest reduced cost that fits; false when none fits. */
function placeByReducedCost(packing: Packing, dual: LagrangianDual, j: number): boolean {
  const options = packing.model.jobs[j]!.optionCost.length;
  let best = Infinity;
  let bestK = -1;
  for (let k = 0; k < options; k++) {
    const v = dual.reducedCost(j, k);
    if (v < best && packing.fits(j, k)) {
      best = v;
      bestK = k;
    }
  }
  if (bestK >= 0) packing.place(j, bestK);
  return bestK >= 0;
}

/**
 * Turns the relaxed choice into a feasible plan: jobs keep their relaxed option when it still fits (big
 * jobs first), the others take the fitting option with the lowest reduced cost, then plain moves on the
 * true cost.
 */
function repair(
  dual: LagrangianDual,
  relaxed: Int32Array,
  order: Int32Array,
  byCost: Int32Array[],
  deadline: Deadline,
  ejectionOptions: number,
): Packing {
  const packing = new Packing(dual.model);
  for (const j of order) {
    const k = relaxed[j]!;
    if (packing.fits(j, k)) packing.place(j, k);
  }
  for (const j of order) if (packing.choice[j]! < 0) placeByReducedCost(packing, dual, j);
  improve(packing, byCost, { deadline, maxPasses: 20, ejectionOptions, exchangeOptions: 0 });
  return packing;
}

/**
 * Lifts up to `size` jobs running in the region and around the time of a random placed job; returns them
 * biggest first.
 */
function destroy(packing: Packing, random: () => number, size: number, order: Int32Array): Int32Array {
  const model = packing.model;
  const n = model.jobs.length;
  let seedJob = -1;
  for (let tries = 0; tries < 32 && seedJob < 0; tries++) {
    const j = Math.floor(random() * n);
    if (packing.choice[j]! >= 0) seedJob = j;
  }
  if (seedJob < 0) return new Int32Array(0);
  const job = model.jobs[seedJob]!;
  const k = packing.choice[seedJob]!;
  const runtime = optionRuntime(job, k);
  const width = Math.max(runtime, Math.ceil(model.horizonSlots / 16));
  const start = Math.max(0, job.optionStart[k]! - width);
  const end = Math.min(model.horizonSlots, job.optionStart[k]! + runtime + width);
  // Half the moves stay in the seed job's region; the others span all regions, so that jobs can trade
  // regions as well as hours.
  const around: number[] = [];
  const wide = random() < 0.5;
  for (let r = 0; r < model.regions.length; r++) {
    if (wide || r === job.optionRegion[k]) around.push(...packing.overlapping(r, start, end));
  }
  for (let i = around.length - 1; i > 0; i--) {
    const r = Math.floor(random() * (i + 1));
    [around[i], around[r]] = [around[r]!, around[i]!];
  }
  const lifted = new Set(around.slice(0, size));
  for (const j of lifted) packing.unplace(j);
  return Int32Array.from(order.filter((j) => lifted.has(j)));
}

function solveLagrangian(model: PlacementModel, options: SolveOptions, settings: LagrangianSettings): SolverResult {
  const now = settings.now;
  const deadline = deadlineAfter(options.timeLimitSeconds * (1 - FINISH_MARGIN), now);
  const dualDeadline = deadlineAfter(options.timeLimitSeconds * settings.dualShare, now);
  const n = model.jobs.length;
  const byCost = sortOptionsByCost(model);
  const search = { ejectionOptions: settings.ejectionOptions, exchangeOptions: settings.exchangeOptions };
  const best = constructBest(model, byCost, dualDeadline, { ejectionOptions: 0, exchangeOptions: 0 });
  const dual = new LagrangianDual(model);
  const order = bigFirst(model, dual);
  // The cheapest repaired plan of the dual phase, even when it misses a few jobs: inserting those later
  // usually costs less than the detour a plan placing everyone took.
  const lean: Packing[] = [];
  // The cheapest repaired plans that place every job: starts for the exchange moves.
  const complete: Packing[] = [];

  const relaxed = new Int32Array(n);
  const misses = new Int32Array(n);
  const minimum = new Float64Array(n);
  let bestU = dual.snapshot();
  let bound = -Infinity;
  let stepFactor = settings.initialStepFactor;
  let sinceImprovement = 0;
  let iterations = 0;
  let repairs = 0;
  let moves = 0;
  let stopReason: 'gap' | 'time' | 'iterations' | 'converged' | 'no full plan' = 'converged';
  // Every plan placing all jobs costs at most this; a dual value above it proves there is none, and the
  // multipliers would then grow without end (to Infinity, then NaN prices).
  const fullPlanCeiling = unplacedPenalty(model);

  const done = (): boolean => best.placed === n && relativeGap(best.cost, bound) <= options.gapTolerance;
  const budgetLeft = (): boolean => iterations + moves < settings.maxIterations;

  // 2. Dual phase: cheap repairs only (no ejections), so that the multipliers converge first.
  while (budgetLeft() && !expired(dualDeadline) && stepFactor >= settings.minStepFactor) {
    iterations++;
    dual.refreshPrefixes();
    const value = dual.priceJobs(relaxed, minimum);
    if (value > fullPlanCeiling) {
      stopReason = 'no full plan';
      break;
    }
    if (!(value <= bound + 1e-9 * Math.max(1, Math.abs(value)))) {
      bound = value;
      bestU = dual.snapshot();
      sinceImprovement = 0;
    } else if (++sinceImprovement >= settings.patience) {
      stepFactor /= 2;
      sinceImprovement = 0;
    }

    const norm = dual.subgradient(relaxed);
    // A zero subgradient, checked against the capacities themselves (the norm is a sum of scaled squares).
    if (norm === 0 && findOverflow(model, relaxed) === null) {
      // The relaxed choice is feasible and complementary: it is optimal and the bound is tight.
      const exact = new Packing(model);
      for (let j = 0; j < n; j++) exact.place(j, relaxed[j]!);
      exact.exactCost();
      if (better(exact, best)) best.copyFrom(exact);
      break;
    }

    if (iterations % settings.repairEvery === 1 || settings.repairEvery === 1) {
      const candidate = repair(dual, relaxed, missedFirst(order, misses), byCost, dualDeadline, 0);
      repairs++;
      for (let j = 0; j < n; j++) if (candidate.choice[j]! < 0) misses[j]!++;
      if (better(candidate, best)) best.copyFrom(candidate);
      if (candidate.placed >= n - LEAN_MISSING) keepCheapest(lean, candidate);
      if (candidate.placed === n) keepCheapest(complete, candidate);
    }
    if (done()) break;

    const target = best.placed === n ? best.cost : Math.abs(value) * 1.05 + 1;
    dual.step((stepFactor * Math.max(target - value, 1e-9 * Math.max(1, Math.abs(value)))) / norm);
  }

  // 3. Polishing phase: insertions into the lean plans, exchanges from the complete ones, then a
  // large-neighbourhood search priced with the best multipliers.
  if (!done() && !expired(deadline) && budgetLeft()) {
    dual.restore(bestU);
    for (const plan of lean) {
      if (plan.placed === n || plan.cost >= best.cost) continue;
      improve(plan, byCost, { deadline, maxPasses: 50, ejectionOptions: settings.ejectionOptions, exchangeOptions: 0 });
      if (plan.placed === n) keepCheapest(complete, plan);
      if (better(plan, best)) best.copyFrom(plan);
    }
    // Which start the exchange moves take furthest varies a lot from instance to instance (measured
    // 0.27-0.60% at 1500 x 96 from a single start): run them from each kept plan, cheapest first, while
    // time allows (at 6000 x 288 the first start alone takes the rest of the limit).
    const starts = complete.length > 0 && best.placed === n ? complete : [best];
    for (const plan of starts) {
      if (expired(deadline)) break;
      improve(plan, byCost, { deadline, maxPasses: Number.MAX_SAFE_INTEGER, ...search });
      if (better(plan, best)) best.copyFrom(plan);
    }
    const random = seededRandom(settings.seed);
    const candidate = new Packing(model);
    while (!done() && !expired(deadline) && budgetLeft()) {
      moves++;
      candidate.copyFrom(best);
      const lifted = destroy(candidate, random, settings.neighbourhoodSize, order);
      if (moves % 2 === 0) for (const j of lifted) placeByReducedCost(candidate, dual, j);
      else placeGreedily(candidate, lifted, byCost);
      improve(candidate, byCost, { deadline, maxPasses: 5, ...search, jobs: lifted });
      if (better(candidate, best)) best.copyFrom(candidate);
    }
  }
  if (done()) stopReason = 'gap';
  else if (!budgetLeft()) stopReason = 'iterations';
  else if (expired(deadline)) stopReason = 'time';

  // The bound covers every plan placing at least as many jobs as this one; when that is every job, L(u)
  // is such a bound. Otherwise, with the best multipliers u >= 0: job j on option k costs
  // (c + u.a) - u.a >= minimum[j] - u.a, and a feasible plan's demands sum to at most the capacity, so the
  // plan costs at least the sum of its jobs' minima minus u.cap, hence at least the least such sum over any
  // as many jobs minus u.cap. Never less than the cheapest-options bound.
  let finalBound = cheapestOptionsBound(model, best.placed);
  if (best.placed === n) {
    finalBound = Math.max(finalBound, bound);
  } else if (iterations > 0) {
    dual.restore(bestU);
    dual.priceJobs(relaxed, minimum);
    finalBound = Math.max(finalBound, leastSumOverAtLeast(minimum, best.placed) - dual.capacityCharge());
  }
  best.exactCost();
  const gap = relativeGap(best.cost, finalBound);
  return {
    // Running out of time is how this anytime method normally ends: the plan still comes with its bound.
    // The bound does not prove that no plan places more jobs: leaving any out is never proven optimal.
    status: best.placed === n && gap <= options.gapTolerance ? 'optimal' : 'feasible',
    choice: best.choice,
    lowerBoundGco2: Math.min(finalBound, best.cost),
    detail:
      `lagrangian: ${iterations} dual iterations, ${repairs} repairs, ${moves} neighbourhood moves, ` +
      `stopped on ${stopReason}, placed ${best.placed}/${n}, gap ${(gap * 100).toFixed(3)}%`,
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
