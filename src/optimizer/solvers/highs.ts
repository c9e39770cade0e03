import highsModule from 'highs';
import type { Highs, InitOptions } from 'highs';
import { CAPACITY_EPS, capacityRows, RESOURCES, cheapestOptionsBound, choiceCost, optionRuntime, placedCount, unplacedPenalty } from '../model.js';
import type { PlacementModel, Solver, SolverResult, SolveOptions } from '../types.js';

/**
 * HiGHS (WebAssembly) on the exact MILP, built straight from CSC arrays: one binary column per option, one
 * continuous "left out" column per job, a row per job (`sum x + u = 1`) and a row per capacity cell that can
 * overflow. Given a start plan that places every job, the "left out" columns are dropped (`sum x = 1`): the
 * bound then covers exactly the plans placing every job, which is what a plan placing every job needs. Its
 * Wasm heap is capped at 2 GiB and never shrinks, so `maxOptions` keeps it to models it can hold; larger
 * ones belong to the scale path.
 */

// The package's types are read as CommonJS (so the default import looks like the module object), but Node
// loads its ES build, whose default export is the loader itself.
const loadHighs = highsModule as unknown as (options?: InitOptions) => Promise<Highs>;

let runtime: Promise<Highs> | undefined;

/** The Wasm runtime is loaded once and reused; after a crash (abort) it is reloaded on the next solve. */
function highsRuntime(): Promise<Highs> {
  runtime ??= loadHighs();
  return runtime;
}

interface Formulation {
  numCols: number;
  numRows: number;
  colCost: Float64Array;
  colLower: Float64Array;
  colUpper: Float64Array;
  rowLower: Float64Array;
  rowUpper: Float64Array;
  starts: Int32Array;
  indices: Int32Array;
  values: Float64Array;
  integrality: Int32Array;
  /** First column of option k of job j is `optionColumn[j] + k`; the job's "left out" column (if any) follows. */
  optionColumn: Int32Array;
  /** Whether the model has "left out" columns; without them every job must be placed. */
  leaveOut: boolean;
  penalty: number;
  /**
   * Whether a demand is fractional: HiGHS's default feasibility tolerance (1e-6) could then fill a row past what
   * fits (CAPACITY_EPS), so it is tightened. With whole demands a row's sum is whole and its bound is rounded down
   * instead, which no tolerance can cross; the tighter tolerance is kept off there, as it changes HiGHS's path
   * (measured on the GPU family: 0.88% instead of 0.79% at 20 s).
   */
  fractionalDemands: boolean;
}

function formulate(model: PlacementModel, infinity: number, leaveOut: boolean): Formulation {
  const H = model.horizonSlots;
  const J = model.jobs.length;
  const rows = capacityRows(model);
  const penalty = unplacedPenalty(model);
  const numRows = J + rows.count;

  let numCols = 0;
  let nonzeros = 0;
  const optionColumn = new Int32Array(J);
  model.jobs.forEach((job, j) => {
    optionColumn[j] = numCols;
    numCols += job.optionCost.length + (leaveOut ? 1 : 0);
    for (let k = 0; k < job.optionCost.length; k++) nonzeros += 1 + 3 * optionRuntime(job, k);
    if (leaveOut) nonzeros++;
  });

  const colCost = new Float64Array(numCols);
  const colLower = new Float64Array(numCols);
  const colUpper = new Float64Array(numCols).fill(1);
  const integrality = new Int32Array(numCols);
  const starts = new Int32Array(numCols + 1);
  let indices = new Int32Array(nonzeros);
  let values = new Float64Array(nonzeros);
  let nz = 0;
  let col = 0;
  model.jobs.forEach((job, j) => {
    const demands = [
      [rows.rowOf.cpu, job.cpu],
      [rows.rowOf.memGb, job.memGb],
      [rows.rowOf.gpu, job.gpu],
    ] as const;
    for (let k = 0; k < job.optionCost.length; k++) {
      starts[col] = nz;
      colCost[col] = job.optionCost[k]!;
      integrality[col] = 1;
      indices[nz] = j;
      values[nz++] = 1;
      const base = job.optionRegion[k]! * H + job.optionStart[k]!;
      const runtime = optionRuntime(job, k);
      for (const [rowOf, demand] of demands) {
        if (demand <= 0) continue;
        for (let d = 0; d < runtime; d++) {
          const row = rowOf[base + d]!;
          if (row >= 0) {
            indices[nz] = J + row;
            values[nz++] = demand;
          }
        }
      }
      col++;
    }
    if (!leaveOut) return;
    starts[col] = nz;
    colCost[col] = penalty;
    indices[nz] = j;
    values[nz++] = 1;
    col++;
  });
  starts[numCols] = nz;
  indices = indices.slice(0, nz);
  values = values.slice(0, nz);

  const rowLower = new Float64Array(numRows);
  const rowUpper = new Float64Array(numRows);
  for (let j = 0; j < J; j++) {
    rowLower[j] = 1;
    rowUpper[j] = 1;
  }
  const whole = { cpu: true, memGb: true, gpu: true };
  for (const job of model.jobs) for (const res of RESOURCES) whole[res] &&= Number.isInteger(job[res]);
  for (let i = 0; i < rows.count; i++) {
    const res = rows.resource[i]!;
    const cap = model.capacity[res][rows.cell[i]!]!;
    rowLower[J + i] = -infinity;
    rowUpper[J + i] = whole[res] ? Math.floor(cap + CAPACITY_EPS) : cap;
  }
  return {
    fractionalDemands: !(whole.cpu && whole.memGb && whole.gpu),
    numCols,
    numRows,
    colCost,
    colLower,
    colUpper,
    rowLower,
    rowUpper,
    starts,
    indices,
    values,
    integrality,
    optionColumn,
    leaveOut,
    penalty,
  };
}

/** The column values of a plan: its chosen options, and the "left out" column of each job it leaves out. */
function startColumns(model: PlacementModel, f: Formulation, start: Int32Array): Float64Array {
  const x = new Float64Array(f.numCols);
  model.jobs.forEach((job, j) => {
    const k = start[j]!;
    if (k >= 0) x[f.optionColumn[j]! + k] = 1;
    else if (f.leaveOut) x[f.optionColumn[j]! + job.optionCost.length] = 1;
  });
  return x;
}

/** HiGHS's own heuristics, off when the caller searches for plans itself. */
/** HiGHS's allowed row violation: the system's capacity slack (CAPACITY_EPS). */
const FEASIBILITY_TOLERANCE = 1e-9;
const BOUND_ONLY_OPTIONS = {
  mip_heuristic_run_rins: false,
  mip_heuristic_run_rens: false,
  mip_heuristic_run_root_reduced_cost: false,
  mip_heuristic_run_feasibility_jump: false,
} as const;
const STALL_RISE = 1e-5;
const STALL_SECONDS = 1;
const STALL_SHARE = 0.25;

export interface MilpOptions extends SolveOptions {
  /**
   * A feasible plan to start from (per job an option index or -1): HiGHS keeps it as its first incumbent,
   * so the plan returned is never worse. When it places every job, the model requires every job placed.
   */
  start?: Int32Array;
  /**
   * For a caller with its own search for plans: skip HiGHS's heuristics and stop once the bound stalls
   * (no relative rise of `STALL_RISE` for `STALL_SHARE` of the time so far, and at least `STALL_SECONDS`).
   * The root node's cuts give most of the bound HiGHS can prove within seconds; branching then lifts it
   * by hundredths of a percent per minute at 200 x 48.
   */
  boundOnly?: boolean;
}

/**
 * Solves the model's MILP with HiGHS within the time limit; never throws. With a `start`, the result places
 * at least as many jobs at no higher cost.
 */
export async function solveMilp(model: PlacementModel, options: MilpOptions): Promise<SolverResult> {
  const choice = new Int32Array(model.jobs.length).fill(-1);
  const started = performance.now();
  let highs: Highs;
  try {
    highs = await highsRuntime();
  } catch (error) {
    runtime = undefined;
    return { status: 'error', choice, lowerBoundGco2: null, detail: `highs: cannot load: ${(error as Error).message}` };
  }
  const start = options.start;
  const f = formulate(model, highs.infinity, !(start !== undefined && start.every((k) => k >= 0)));
  const remaining = options.timeLimitSeconds - (performance.now() - started) / 1000;
  let instance: ReturnType<Highs['createModel']> | undefined;
  try {
    instance = highs.createModel({
      numCols: f.numCols,
      numRows: f.numRows,
      colCost: f.colCost,
      colLower: f.colLower,
      colUpper: f.colUpper,
      rowLower: f.rowLower,
      rowUpper: f.rowUpper,
      matrix: { format: 'csc', numRows: f.numRows, numCols: f.numCols, starts: f.starts, indices: f.indices, values: f.values },
      integrality: f.integrality,
    });
    instance.options.set({
      output_flag: false,
      time_limit: Math.max(0.01, remaining),
      mip_rel_gap: options.gapTolerance,
      // Its default (1e-6, absolute) would let three jobs of 0.3333334 cores "fit" one core (see `fractionalDemands`).
      ...(f.fractionalDemands && { primal_feasibility_tolerance: FEASIBILITY_TOLERANCE, mip_feasibility_tolerance: FEASIBILITY_TOLERANCE }),
    });
    if (start !== undefined) instance.setSolution({ colValue: startColumns(model, f, start) });
    if (options.boundOnly) {
      instance.options.set(BOUND_ONLY_OPTIONS);
      let best = -Infinity;
      let since = 0;
      instance.run({
        [highs.constants.callbackType.mipInterrupt]: (event) => {
          const bound = event.data.mip_dual_bound ?? -Infinity;
          const now = event.data.running_time ?? 0;
          if (!Number.isFinite(bound)) return undefined;
          if (!Number.isFinite(best) || bound > best + STALL_RISE * Math.abs(best)) {
            best = bound;
            since = now;
          } else if (now - since > Math.max(STALL_SECONDS, STALL_SHARE * now)) {
            event.interrupt();
          }
          return undefined;
        },
      });
    } else {
      instance.run();
    }
    const status = instance.getModelStatus();
    const codes = highs.constants.modelStatus;
    const hasPlan = Number(instance.info.get('primal_solution_status')) === 2;
    const dualBound = Number(instance.info.get('mip_dual_bound'));
    if (hasPlan) {
      const x = instance.getSolution().colValue;
      model.jobs.forEach((job, j) => {
        const first = f.optionColumn[j]!;
        for (let k = 0; k < job.optionCost.length; k++) {
          if (x[first + k]! > 0.5) {
            choice[j] = k;
            break;
          }
        }
      });
    }
    const detail = `highs: model status ${status}, mip_dual_bound ${dualBound}`;
    if (!hasPlan) {
      return { status: status === codes.timeLimit ? 'timedout' : 'error', choice, lowerBoundGco2: null, detail };
    }
    const bound = placedCountBound(model, choice, dualBound, f);
    // HiGHS measures its gap on the penalised objective; with jobs left out that is looser than the same
    // gap on carbon alone, so "optimal" is only passed on when the carbon gap is within tolerance too, and
    // when the bound proves that no plan places more jobs: within HiGHS's relative gap, a plan placing one
    // more job may be worth as little as 1 less (it saves the penalty and pays at most the penalty - 1).
    const cost = choiceCost(model, choice);
    const withinTolerance = cost - bound <= options.gapTolerance * Math.max(cost, 1e-9) + 1e-9;
    const leftOut = choice.length - placedCount(choice);
    const mostPlaced = leftOut === 0 || dualBound > f.penalty * leftOut - 1;
    return {
      status:
        status === codes.optimal ? (withinTolerance && mostPlaced ? 'optimal' : 'feasible') : status === codes.timeLimit ? 'timedout' : 'feasible',
      choice,
      lowerBoundGco2: bound,
      detail,
    };
  } catch (error) {
    // A Wasm abort (e.g. out of memory) leaves the runtime unusable: load a fresh one next time.
    runtime = undefined;
    return { status: 'error', choice, lowerBoundGco2: null, detail: `highs: ${(error as Error).message}` };
  } finally {
    try {
      instance?.dispose();
    } catch {
      // Disposing an instance of an aborted runtime can throw; the runtime is already dropped.
    }
  }
}

export const highsSolver: Solver = {
  name: 'highs',
  // Measured on the benchmark generator with a 20 s limit: 9.7k options within 0.35% and 22k within 0.22% of
  // its bound, but at 48k and 101k options no plan at all before the limit (and the issue saw 82k binaries
  // take 1.9 GB of the 2 GiB Wasm heap). Larger models go to the Lagrangian scale path.
  maxOptions: 25_000,
  solve: (model, options) => solveMilp(model, options),
};

/**
 * A bound on every plan placing at least as many jobs as `choice`. HiGHS bounds the MILP objective, which
 * charges `penalty` per job left out: a plan leaving out u jobs costs at least `dualBound - penalty * u`,
 * and one leaving out fewer at least that too (without "left out" columns u = 0 and the bound is for plans
 * placing every job). The cheapest-options bound for as many jobs holds as well, so the larger is returned.
 */
function placedCountBound(model: PlacementModel, choice: Int32Array, dualBound: number, f: Formulation): number {
  const placed = placedCount(choice);
  const relaxed = cheapestOptionsBound(model, placed);
  if (!Number.isFinite(dualBound)) return relaxed;
  return Math.max(relaxed, dualBound - f.penalty * (choice.length - placed));
}
