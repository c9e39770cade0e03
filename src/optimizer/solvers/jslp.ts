import jsLpModule from 'javascript-lp-solver';
import type { Model as JsLpModel, SolverAPI, SolveResult } from 'javascript-lp-solver';
import { capacityRows, choiceCost, cheapestOptionsBound, optionCount, optionRuntime, placedCount, unplacedPenalty } from '../model.js';
import type { PlacementModel, Solver, SolverResult, SolveOptions } from '../types.js';

/**
 * javascript-lp-solver (the design card's backend): the exact MILP, one binary per option. Its simplex keeps a
 * dense tableau (rows x columns), so it is meant for small models only; its time limit covers branch-and-cut
 * but not the root LP, which is why `maxOptions` is kept low.
 */

// Typed as CommonJS (the default import looks like the module object); Node loads the ES build, whose default
// export is the solver itself.
const jsLp = jsLpModule as unknown as SolverAPI;

function buildJsLpModel(model: PlacementModel, timeoutMs: number): JsLpModel {
  const H = model.horizonSlots;
  const rows = capacityRows(model);
  const constraints: JsLpModel['constraints'] = {};
  const variables: JsLpModel['variables'] = {};
  const binaries: Record<string, 1> = {};
  const penalty = unplacedPenalty(model);
  for (let i = 0; i < rows.count; i++) {
    const res = rows.resource[i]!;
    constraints[`c${i}`] = { max: model.capacity[res][rows.cell[i]!]! };
  }
  model.jobs.forEach((job, j) => {
    constraints[`j${j}`] = { equal: 1 };
    variables[`u${j}`] = { cost: penalty, [`j${j}`]: 1 };
    for (let k = 0; k < job.optionCost.length; k++) {
      const coefficients: Record<string, number> = { cost: job.optionCost[k]!, [`j${j}`]: 1 };
      const base = job.optionRegion[k]! * H + job.optionStart[k]!;
      for (let d = 0; d < optionRuntime(job, k); d++) {
        const cell = base + d;
        for (const [res, demand] of [['cpu', job.cpu], ['memGb', job.memGb], ['gpu', job.gpu]] as const) {
          const row = rows.rowOf[res][cell]!;
          if (row >= 0 && demand > 0) coefficients[`c${row}`] = demand;
        }
      }
      const name = `x${j}_${k}`;
      variables[name] = coefficients;
      binaries[name] = 1;
    }
  });
  return { optimize: 'cost', opType: 'min', constraints, variables, binaries, timeout: timeoutMs };
}

/**
 * Largest model jslp is started on, whatever the time limit: its time limit covers branch-and-cut only, and the
 * root LP before it (a dense tableau, solved in one synchronous call) cannot be cut short. Measured with a 1 s
 * limit on the benchmark generator (bench/RESULTS.md, session 19): about 1 s at 2,700 options, 1.5-4.5 s at
 * 3,500-4,100, 18-25 s at 4,000-6,200 (time rising steeply and unevenly with size). A larger model is declined at
 * once, and the fallback plans it within the limit; `auto` takes jslp only up to `maxOptions` anyway.
 */
export const JSLP_MAX_STARTED_OPTIONS = 2500;

export const jslpSolver: Solver = {
  name: 'jslp',
  // Measured on the benchmark generator (24 one-hour slots): up to ~750 options optimal within 1.5 s, but 1023
  // options (60 jobs) still unproven after 16 s; HiGHS solves those in 2 s.
  maxOptions: 600,
  async solve(model: PlacementModel, options: SolveOptions): Promise<SolverResult> {
    const choice = new Int32Array(model.jobs.length).fill(-1);
    const size = optionCount(model);
    if (size > JSLP_MAX_STARTED_OPTIONS) {
      return { status: 'error', choice, lowerBoundGco2: null, detail: `jslp: ${size} options is more than it is started on (${JSLP_MAX_STARTED_OPTIONS}): its root LP could not be stopped at the time limit` };
    }
    const timeoutMs = Math.max(1, Math.floor(options.timeLimitSeconds * 1000));
    // The library times its branch-and-cut with Date.now(): the same clock tells whether it ran out of time
    // (a wall clock stepped forward mid-solve stops it early, and must not read as an exhausted tree).
    const started = Date.now();
    let result: SolveResult;
    try {
      result = jsLp.Solve(buildJsLpModel(model, timeoutMs)) as SolveResult;
    } catch (error) {
      return { status: 'error', choice, lowerBoundGco2: null, detail: `jslp: ${(error as Error).message}` };
    }
    const elapsedMs = Date.now() - started;
    if (!result.feasible || result.isIntegral !== true) {
      // With the unplaced slacks the MILP is always feasible: no integral answer means the clock ran out first.
      const timedOut = elapsedMs >= timeoutMs;
      return {
        status: timedOut ? 'timedout' : 'error',
        choice,
        lowerBoundGco2: null,
        detail: timedOut ? 'jslp: no integral plan before the time limit' : 'jslp: no integral solution',
      };
    }
    model.jobs.forEach((job, j) => {
      for (let k = 0; k < job.optionCost.length; k++) {
        const value = result[`x${j}_${k}`];
        if (typeof value === 'number' && value > 0.5) {
          choice[j] = k;
          break;
        }
      }
    });
    // Branch-and-cut stops only by exhausting the tree (proven optimal) or by the clock.
    if (elapsedMs < timeoutMs) {
      return { status: 'optimal', choice, lowerBoundGco2: choiceCost(model, choice), detail: 'jslp: optimal' };
    }
    return {
      status: 'timedout',
      choice,
      lowerBoundGco2: cheapestOptionsBound(model, placedCount(choice)),
      detail: 'jslp: time limit reached in branch-and-cut',
    };
  },
};
