/**
 * The Lagrangian's plan, improved by exact sub-MIPs, then proven by HiGHS.
 *
 * 1. The Lagrangian (`lagrangianShare` of the limit) gives a plan placing as many jobs as it can and a
 *    bound at LP strength. A small model (`directExactOptions`) skips it: HiGHS solves those outright, from
 *    no start, faster than the Lagrangian can converge.
 * 2. When the whole model fits HiGHS (`maxExactOptions`), HiGHS solves it from that plan (`boundShare` of
 *    the limit): cuts and branching lift the bound above the LP, and the plan can only get better.
 * 3. The MIP neighbourhood search re-packs dozens of jobs at a time with HiGHS for the rest of the limit,
 *    or until the plan is within the gap tolerance of the bound.
 * Beyond `maxExactOptions` there is no step 2, and the Lagrangian gets its share too.
 * The best plan is returned with the best bound proven: each method's bound covers every plan placing at
 * least as many jobs as the plan it came with, and the best plan places at least as many as any other, so
 * every bound found holds for it.
 */
import { better, deadlineAfter, largerBound, Packing } from '../heuristics.js';
import type { Deadline } from '../heuristics.js';
import { cheapestOptionsBound, choiceCost, optionCount, placedCount } from '../model.js';
import type { PlacementModel, Solver, SolverResult, SolveOptions } from '../types.js';
import { seededRandom } from '../../domain/random.js';
import { solveMilp } from './highs.js';
import { createLagrangianSolver } from './lagrangian.js';
import type { LagrangianSettings } from './lagrangian.js';
import { DEFAULT_NEIGHBOURHOOD_SETTINGS, mipNeighbourhoodSearch } from './mip-neighbourhood.js';
import type { NeighbourhoodSettings } from './mip-neighbourhood.js';

export interface HybridSettings {
  /** Share of the limit the Lagrangian gets. */
  lagrangianShare: number;
  /** Share of the limit the exact solve of the whole model gets (when it fits `maxExactOptions`). */
  boundShare: number;
  /** Largest model (options) the exact solve of the whole model is tried on. */
  maxExactOptions: number;
  /** Largest model (options) HiGHS gets at once, without the Lagrangian first (it has that stage's share too). */
  directExactOptions: number;
  neighbourhood: NeighbourhoodSettings;
  lagrangian: Partial<LagrangianSettings>;
  /** Seed of the neighbourhood choices. */
  seed: number;
  /** Millisecond clock for the time limit. */
  now: () => number;
}

export const DEFAULT_HYBRID_SETTINGS: Readonly<HybridSettings> = Object.freeze({
  lagrangianShare: 0.15,
  boundShare: 0.5,
  maxExactOptions: 25_000,
  directExactOptions: 600,
  neighbourhood: DEFAULT_NEIGHBOURHOOD_SETTINGS,
  lagrangian: {},
  seed: 1,
  now: () => performance.now(),
});

/** A plan with the best bound known for the plans placing at least as many jobs. */
interface Bounded {
  choice: Int32Array;
  placed: number;
  cost: number;
  bound: number | null;
}

function bounded(model: PlacementModel, result: SolverResult): Bounded {
  return { choice: result.choice, placed: placedCount(result.choice), cost: choiceCost(model, result.choice), bound: result.lowerBoundGco2 };
}

/**
 * The better plan of the two, with the larger bound: the other plan places no more jobs, so its bound, valid
 * for every plan placing at least as many as it does, holds for the better plan too.
 */
export function combine(a: Bounded, b: Bounded): Bounded {
  const [best, other] = better(b, a) ? [b, a] : [a, b];
  return { ...best, bound: largerBound(best.bound, other.bound) };
}

function secondsLeft(deadline: Deadline): number {
  return Math.max(0, (deadline.at - deadline.now()) / 1000);
}

function gapOf(plan: Bounded): number {
  return plan.bound === null ? Infinity : Math.max(0, (plan.cost - plan.bound) / Math.max(plan.cost, 1e-9));
}

export function createHybridSolver(overrides: Partial<HybridSettings> = {}): Solver {
  const settings: HybridSettings = { ...DEFAULT_HYBRID_SETTINGS, ...overrides };
  const lagrangian = createLagrangianSolver({ ...settings.lagrangian, now: settings.now });
  return {
    name: 'hybrid',
    // `auto` takes it where its exact stage runs; beyond, the Lagrangian alone does better (measured at
    // 1500 x 96: the sub-MIPs of small cpu jobs prove nothing within seconds).
    maxOptions: settings.maxExactOptions,
    async solve(model: PlacementModel, options: SolveOptions): Promise<SolverResult> {
      const limit = options.timeLimitSeconds;
      const deadline = deadlineAfter(limit, settings.now);
      const n = model.jobs.length;
      const details: string[] = [];
      // `mostPlacedProven`: HiGHS proved that no plan places more jobs (its objective charges every job left
      // out), which the bounds alone prove only when every job is placed.
      const finish = (plan: Bounded, mostPlacedProven = false): SolverResult => {
        const bound = Math.max(plan.bound ?? -Infinity, cheapestOptionsBound(model, plan.placed));
        const optimal = (plan.placed === n || mostPlacedProven) && gapOf({ ...plan, bound }) <= options.gapTolerance;
        return { status: optimal ? 'optimal' : 'feasible', choice: plan.choice, lowerBoundGco2: bound, detail: `hybrid: ${details.join('; ')}` };
      };

      // 1. The Lagrangian's plan and bound. Without the exact stage it also gets that stage's share; a small
      // model goes to HiGHS at once.
      const size = optionCount(model);
      const exact = size <= settings.maxExactOptions;
      const direct = exact && size <= settings.directExactOptions;
      let best: Bounded | undefined;
      if (!direct) {
        const lagrangianShare = settings.lagrangianShare + (exact ? 0 : settings.boundShare);
        const first = await lagrangian.solve(model, { ...options, timeLimitSeconds: limit * lagrangianShare });
        if (first.status === 'error') return { ...first, detail: `hybrid: ${first.detail ?? 'the Lagrangian failed'}` };
        details.push(first.detail ?? first.status);
        best = bounded(model, first);
        if (best.placed === n && gapOf(best) <= options.gapTolerance) return finish(best);
      }

      // 2. HiGHS on the whole model from that plan, for its share of the limit: its cuts and branching lift
      // the bound above the LP, its own heuristics may find a better plan, and small models end here proven.
      if (exact) {
        const share = direct ? settings.lagrangianShare + settings.boundShare : settings.boundShare;
        const proof = await solveMilp(model, {
          timeLimitSeconds: Math.min(limit * share, secondsLeft(deadline)),
          gapTolerance: options.gapTolerance,
          start: best?.choice,
          // From the Lagrangian's plan HiGHS only proves; from nothing it has to find a plan too.
          boundOnly: best !== undefined,
        });
        details.push(proof.detail ?? proof.status);
        const found = proof.status !== 'error' && proof.choice.some((k) => k >= 0) ? bounded(model, proof) : undefined;
        if (found) best = best ? combine(best, found) : found;
        if (best && proof.status === 'optimal') return finish(best, true);
        if (best && best.placed === n && gapOf(best) <= options.gapTolerance) return finish(best);
      }
      // No plan only when HiGHS, given a small model outright, found none: the fallback takes over.
      if (!best) return { status: 'timedout', choice: new Int32Array(n).fill(-1), lowerBoundGco2: null, detail: `hybrid: ${details.join('; ')}` };

      // 3. Sub-MIPs for the rest of the limit. The bound stays valid: the plan only gets better, so it never
      // places fewer jobs.
      const packing = new Packing(model);
      best.choice.forEach((k, j) => {
        if (k >= 0) packing.place(j, k);
      });
      const report = await mipNeighbourhoodSearch(packing, deadline, seededRandom(settings.seed), {
        ...settings.neighbourhood,
        stopBelow: best.bound === null || best.placed < n ? -Infinity : best.bound + options.gapTolerance * best.cost,
      });
      details.push(`${report.moves} sub-MIPs, ${report.improvements} improving`);
      if (better(packing, best)) best = { ...best, choice: Int32Array.from(packing.choice), placed: packing.placed, cost: packing.cost };
      // A sub-MIP that freed every job solved the whole model: its proof is the plan's.
      if (report.wholeBound !== undefined) return finish({ ...best, bound: largerBound(best.bound, report.wholeBound) }, true);
      return finish(best);
    },
  };
}

export const hybridSolver: Solver = createHybridSolver();
