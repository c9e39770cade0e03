import { preferEarlierStarts } from './earliest-ties.js';
import { OptimizeInputError } from './errors.js';
import type { InputIssue } from './errors.js';
import {
  cheapestOptionsBound,
  choiceCost,
  compileModel,
  definedOnly,
  findOverflow,
  migrationChargeGco2,
  optionCount,
  placedCount,
  previousRegion,
  sitesOf,
} from './model.js';
import { better, largerBound } from './heuristics.js';
import { parseOptimizeInput } from './schema.js';
import { autoSolver, DEFAULT_CATALOG, getSolver, solverNames } from './solvers/registry.js';
import type { SolverCatalog } from './solvers/registry.js';
import { DEFAULT_OPTIMIZE_OPTIONS } from './types.js';
import type {
  OptimizeInput,
  OptimizeOptions,
  OptimizeOutput,
  PlacementModel,
  PlanItem,
  Solver,
  SolverResult,
  UnscheduledJob,
} from './types.js';

/**
 * Fallback reserve for an exact backend that may end without a plan: the greedy fallback builds its plans in
 * well under a second up to 1500 x 96 and in a few seconds at 6000 x 288, so a fifth of the limit, capped at
 * `MAX_FALLBACK_RESERVE_SECONDS`, is all it needs; more would only be taken from the primary.
 */
const FALLBACK_RESERVE_SHARE = 0.2;
const MAX_FALLBACK_RESERVE_SECONDS = 5;

/**
 * Seconds of the limit kept back for the fallback. None when the primary is an anytime backend: it returns
 * its best feasible plan at its limit, which the fallback could only match or beat by repeating the same
 * construction, so a reserve would just be time taken from the search. If such a backend throws (a bug),
 * the fallback still runs on what is left: its first construction ignores the deadline, so the answer
 * comes late rather than empty.
 */
export function fallbackReserveSeconds(catalog: SolverCatalog, primary: Solver, limitSeconds: number): number {
  const fallback = catalog.fallback === undefined ? undefined : getSolver(catalog.fallback, catalog);
  if (fallback === undefined || fallback === primary) return 0;
  if (catalog.anytime?.includes(primary.name)) return 0;
  return Math.min(limitSeconds * FALLBACK_RESERVE_SHARE, MAX_FALLBACK_RESERVE_SECONDS);
}

/** A backend's answer after `optimize()` has checked it, plus who gave it. */
interface Attempt {
  solver: Solver;
  result: SolverResult;
  placed: number;
  /** gCO2 of the plan. */
  cost: number;
}

/**
 * Validates, compiles and solves one placement problem.
 *
 * 1. Validate the options and the input (throws `OptimizeInputError`, the only thing it throws).
 * 2. Compile the model; jobs that cannot run even alone are reported with their reason.
 * 3. Pick the backend (`auto`: by model size) and solve within the time limit.
 * 4. If it failed or ran out of time, give the fallback backend the rest of the limit (a reserve kept for it
 *    only when the primary is not an anytime backend); keep the better plan.
 * 5. Among equally cheap starts, take the earliest; map the choice back to plan items, bound and gap.
 */
export function optimize(raw: unknown, options: Partial<OptimizeOptions> = {}): Promise<OptimizeOutput> {
  return optimizeWith(DEFAULT_CATALOG, raw, options);
}

/** `optimize()` over a given set of backends (tests use it with fakes that fail in chosen ways). */
export async function optimizeWith(
  catalog: SolverCatalog,
  raw: unknown,
  options: Partial<OptimizeOptions> = {},
): Promise<OptimizeOutput> {
  const started = performance.now();
  const elapsedSeconds = () => (performance.now() - started) / 1000;
  // 1. Validate.
  const opts = resolveOptions(options, catalog);
  const input = parseOptimizeInput(raw);

  // 2. Compile.
  const { model, unscheduled } = compileModel(input);

  // 3. Solve.
  const primary = opts.solver === 'auto' ? autoSolver(optionCount(model), catalog) : getSolver(opts.solver, catalog)!;
  if (model.jobs.length === 0) {
    return toOutput(input, model, unscheduled, emptyAttempt(primary), 'optimal', elapsedSeconds());
  }
  const fallback = catalog.fallback === undefined ? undefined : getSolver(catalog.fallback, catalog);
  const canFallBack = fallback !== undefined && fallback !== primary;
  const primaryBudget = opts.timeLimitSeconds - elapsedSeconds() - fallbackReserveSeconds(catalog, primary, opts.timeLimitSeconds);
  const first = await attempt(primary, model, primaryBudget, opts.gapTolerance);
  let chosen = first;

  // 4. Fall back. The status stays the first backend's: it tells why a fallback plan is being returned.
  // It runs even when the first backend overran the whole limit (a synchronous one cannot be interrupted):
  // the fallback builds its first plan whatever its budget, and a late plan beats no plan.
  const failed = first.result.status === 'error' || first.result.status === 'timedout';
  if (failed && canFallBack) {
    const second = await attempt(fallback, model, opts.timeLimitSeconds - elapsedSeconds(), opts.gapTolerance);
    chosen = better(second, first) ? withLargerBound(second, first) : withLargerBound(first, second);
  }

  // 5. Prefer earlier starts among ties, and map.
  const shifted = preferEarlierStarts(model, chosen.result.choice);
  chosen = { ...chosen, result: { ...chosen.result, choice: shifted }, cost: choiceCost(model, shifted) };
  return toOutput(input, model, unscheduled, chosen, first.result.status, elapsedSeconds());
}

function resolveOptions(options: Partial<OptimizeOptions>, catalog: SolverCatalog): OptimizeOptions {
  const opts = { ...DEFAULT_OPTIMIZE_OPTIONS, ...definedOnly(options) };
  const issues: InputIssue[] = [];
  if (opts.solver !== 'auto' && getSolver(opts.solver, catalog) === undefined) {
    const known = ['auto', ...solverNames(catalog)].join(', ');
    issues.push({ path: 'options.solver', message: `unknown solver "${opts.solver}" (${known})` });
  }
  if (!Number.isFinite(opts.timeLimitSeconds) || opts.timeLimitSeconds <= 0) {
    issues.push({ path: 'options.timeLimitSeconds', message: `must be a number of seconds > 0, got ${opts.timeLimitSeconds}` });
  }
  if (!Number.isFinite(opts.gapTolerance) || opts.gapTolerance < 0) {
    issues.push({ path: 'options.gapTolerance', message: `must be a number >= 0, got ${opts.gapTolerance}` });
  }
  if (issues.length) throw new OptimizeInputError(issues);
  return opts;
}

/** Runs one backend and checks what it returns: a throw or an overflowing plan counts as an error. */
async function attempt(solver: Solver, model: PlacementModel, seconds: number, gapTolerance: number): Promise<Attempt> {
  const none = new Int32Array(model.jobs.length).fill(-1);
  const failure = (detail: string): Attempt => ({
    solver,
    result: { status: 'error', choice: none, lowerBoundGco2: null, detail },
    placed: 0,
    cost: 0,
  });
  let result: SolverResult;
  try {
    result = await solver.solve(model, { timeLimitSeconds: Math.max(seconds, 0.01), gapTolerance });
  } catch (error) {
    return failure(`${solver.name} threw: ${(error as Error).message}`);
  }
  if (result.choice.length !== model.jobs.length) {
    return failure(`${solver.name} returned ${result.choice.length} choices for ${model.jobs.length} jobs`);
  }
  const overflow = findOverflow(model, result.choice);
  if (overflow !== null) return failure(`${solver.name} returned a plan that overflows capacity: ${overflow}`);
  return { solver, result, placed: placedCount(result.choice), cost: choiceCost(model, result.choice) };
}

function emptyAttempt(solver: Solver): Attempt {
  return { solver, result: { status: 'optimal', choice: new Int32Array(0), lowerBoundGco2: 0 }, placed: 0, cost: 0 };
}

/**
 * `best` with the larger of the two bounds: `other` places no more jobs, so its bound, valid for every plan
 * placing at least as many jobs as `other` does, holds for `best` too.
 */
function withLargerBound(best: Attempt, other: Attempt): Attempt {
  return { ...best, result: { ...best.result, lowerBoundGco2: largerBound(best.result.lowerBoundGco2, other.result.lowerBoundGco2) } };
}

function toOutput(
  input: OptimizeInput,
  model: PlacementModel,
  compileUnscheduled: UnscheduledJob[],
  chosen: Attempt,
  status: OptimizeOutput['solver_status'],
  solveSeconds: number,
): OptimizeOutput {
  const jobsById = new Map(input.jobs.map((j) => [j.job_id, j] as const));
  const plans: PlanItem[] = [];
  const leftOut = new Map(compileUnscheduled.map((u) => [u.job_id, u] as const));
  const { choice } = chosen.result;
  const sites = sitesOf(input);
  let migrations = 0;
  let waitCharges = 0;
  model.jobs.forEach((job, j) => {
    const k = choice[j]!;
    if (k < 0) {
      leftOut.set(job.jobId, {
        job_id: job.jobId,
        code: 'capacity_contention',
        reason: contentionReason(model, j, chosen),
      });
      return;
    }
    const { region, pool } = sites[job.optionRegion[k]!]!;
    const spec = jobsById.get(job.jobId)!;
    const migration = migrationChargeGco2(input, spec, region);
    const prev = previousRegion(input, job.jobId);
    if (prev !== undefined && prev !== region) migrations++;
    const start = job.optionStart[k]!;
    const wait = (spec.wait_gco2_per_slot ?? 0) * (start - spec.release_slot);
    waitCharges += wait;
    plans.push({
      job_id: job.jobId,
      region,
      ...(pool !== undefined && { pool }),
      start_slot: start,
      // The option cost is run carbon + migration + waiting charges; the clamp absorbs float noise on zero-carbon runs.
      cost_gco2: Math.max(0, job.optionCost[k]! - migration - wait),
      migration_cost_gco2: migration,
      ...(wait > 0 && { wait_cost_gco2: wait }),
    });
  });
  const objective = chosen.cost;
  let lowerBound: number | null = null;
  if (chosen.result.lowerBoundGco2 !== null) {
    // Any valid bound is <= the plan's own cost; above it is solver float noise.
    const raised = Math.max(chosen.result.lowerBoundGco2, cheapestOptionsBound(model, chosen.placed));
    lowerBound = Math.min(raised, objective);
  }
  const unscheduled = input.jobs.map((j) => leftOut.get(j.job_id)).filter((u): u is UnscheduledJob => u !== undefined);
  return {
    plans,
    co2_estimate_kg: Math.max(0, objective - waitCharges) / 1000,
    solver_status: status,
    migrations,
    objective_gco2: objective,
    lower_bound_gco2: lowerBound,
    gap: lowerBound === null ? null : (objective - lowerBound) / Math.max(objective, 1e-9),
    unscheduled,
    solver: chosen.solver.name,
    solve_seconds: solveSeconds,
  };
}

function contentionReason(model: PlacementModel, j: number, chosen: Attempt): string {
  const job = model.jobs[j]!;
  const id = `job "${job.jobId}"`;
  if (chosen.placed === 0 && chosen.result.status !== 'optimal' && chosen.result.status !== 'feasible') {
    return `${id} was not placed: the ${chosen.solver.name} solver ended (${chosen.result.status}) without a plan`;
  }
  const regions = [...new Set(job.optionRegion)].map((r) => model.regions[r]).join(', ');
  return (
    `${id} fits alone (${job.optionCost.length} candidate starts in ${regions}), but the ${chosen.solver.name} ` +
    `solver found no start with room left beside the other placed jobs`
  );
}
