/**
 * The optimizer's whole public contract.
 *
 * Two layers:
 * - the seed's JSON shapes (`OptimizeInput` / `OptimizeOutput`, snake_case), which the hub, the
 *   `caspian optimize` command and the benchmark speak;
 * - the compiled `PlacementModel` that every `Solver` backend consumes: each job reduced to its list of
 *   candidate placements (region, start slot, cost), and capacities as dense arrays.
 *
 * Units: slots are `slot_seconds` long and numbered from 0 (the slot that contains "now"); carbon
 * intensity is gCO2/kWh; costs are grams of CO2; power is watts; memory and data are GB.
 */

/** One job as the optimizer sees it (seed `JobSpec`). */
export interface OptimizeJob {
  job_id: string;
  /** CPU cores requested. */
  cpu: number;
  /** Memory requested, GB. */
  mem_gb: number;
  /** GPUs requested (default 0). */
  gpu: number;
  /** Run length in slots (>= 1). */
  runtime_slots: number;
  /** First slot the job may start in. */
  release_slot: number;
  /** Last slot the job may still run in: a start `t` is allowed when `t + runtime_slots - 1 <= deadline_slot`. */
  deadline_slot: number;
  /**
   * Last slot the job may start in, whatever its deadline leaves (default: no such limit). A job already running
   * (the hub's re-plan: stay, or move now) has 0: where its run is shorter than its window, a later start would
   * free the cores it holds now.
   */
  latest_start_slot?: number;
  /** Data that moves with the job when it migrates, GB (default 0). */
  data_gb: number;
  /** Regions the job may run in; empty = all regions. */
  affinity_regions: string[];
  /** Worker pools the job may run on (names from `region_pools`); absent or empty = any. */
  pools?: string[];
  /**
   * What each slot of waiting past `release_slot` costs, gCO2 (default 0). The hub's urgency classes: a
   * charge above any carbon the wait could save makes a job start as early as capacity allows; a small one
   * makes it wait only for a clearly cleaner slot; none lets it wait for the cleanest.
   */
  wait_gco2_per_slot?: number;
}

/** A worker pool of a region: a job on it runs `speed_factor` times as long at `power_factor` of the power. */
export interface PoolSpec {
  name: string;
  /** >= 1. */
  speed_factor: number;
  /** In (0, 1]. */
  power_factor: number;
}

/** Free capacity of one region in one slot (seed `ClusterCapacity`). A (region, slot) not listed has none. */
export interface SlotCapacity {
  region: string;
  /** The pool of the region this capacity is for; required exactly when the region has `region_pools`. */
  pool?: string;
  slot: number;
  cpu_cap: number;
  mem_gb_cap: number;
  gpu_cap: number;
}

/** Grid carbon intensity of one region in one slot (seed `CarbonPoint`). A (region, slot) not listed is 0. */
export interface CarbonPoint {
  region: string;
  slot: number;
  ci_gco2_per_kwh: number;
}

/** Energy model and migration weights. Absent keys take the defaults in `DEFAULT_COSTS`. */
export interface CostWeights {
  /** Watts drawn per CPU core (default 30). */
  watt_cpu?: number;
  /** Watts drawn per GPU (default 0, so seed inputs score as the seed does). */
  watt_gpu?: number;
  /** Watts drawn per GB of memory (default 0). */
  watt_mem_gb?: number;
  /** Fixed gCO2 charged when a job leaves its previous region (default 100). */
  lambda_plan_dev?: number;
}

export const DEFAULT_COSTS: Readonly<Required<CostWeights>> = Object.freeze({
  watt_cpu: 30,
  watt_gpu: 0,
  watt_mem_gb: 0,
  lambda_plan_dev: 100,
});

/**
 * The seed's `OptimizeInput`. The keys of `network_costs`, `prev_plan` and `region_pools` are job and region
 * names, and any string is one (`constructor` and `__proto__` too): only a record's own keys count.
 */
export interface OptimizeInput {
  jobs: OptimizeJob[];
  capacities: SlotCapacity[];
  carbons: CarbonPoint[];
  regions: string[];
  slot_seconds: number;
  horizon_slots: number;
  costs: CostWeights;
  /** gCO2 per GB moved from region `from` to region `to`; missing pairs cost 0. */
  network_costs: Record<string, Record<string, number>>;
  /** When false, a job with a previous region may only stay there. */
  migration_allow: boolean;
  /** Where each job was planned before this solve. */
  prev_plan: Record<string, { region: string }>;
  /**
   * Worker pools per region. A region listed here has one capacity site per pool (capacities name the
   * pool) and the optimizer chooses the pool with the region and start. Absent: one site per region, as in
   * the seed. Moving between pools of one region is not a migration.
   */
  region_pools?: Record<string, PoolSpec[]>;
}

/** One placed job. */
export interface PlanItem {
  job_id: string;
  region: string;
  /** The pool chosen, when the region has pools. */
  pool?: string;
  start_slot: number;
  /** Carbon of the run itself, gCO2 (energy x intensity over the slots it runs). */
  cost_gco2: number;
  /** Migration charge included in the objective for this job, gCO2 (0 when it stays or had no previous plan). */
  migration_cost_gco2: number;
  /** Waiting charge included in the objective (`wait_gco2_per_slot` x slots waited); not emitted carbon. */
  wait_cost_gco2?: number;
}

/** Why a job could not be placed. */
export type UnscheduledCode =
  /** Its window `release_slot .. deadline_slot - runtime_slots + 1` is empty or outside the horizon. */
  | 'empty_window'
  /** No region is allowed (affinity, or `migration_allow: false` pinning it to a region it cannot use). */
  | 'no_region'
  /** Some region/slot exists but none has room for it (even alone). */
  | 'no_capacity'
  /** It would fit alone, but not together with the jobs placed ahead of it. */
  | 'capacity_contention';

export interface UnscheduledJob {
  job_id: string;
  code: UnscheduledCode;
  /** A sentence for an operator, naming the job's limit that could not be met. */
  reason: string;
}

/** How a solve ended. Returned, never thrown. */
export type SolverStatus =
  /**
   * Proven optimal for the whole problem (gap within the solver's tolerance): no plan places more jobs, and
   * none placing as many costs less. The lower bound covers only plans placing at least as many jobs, so it
   * proves that only when every job is placed; a backend that has not also proven that no plan places more
   * jobs reports `feasible`.
   */
  | 'optimal'
  /** A feasible plan with a lower bound; `gap` says how far from proven. */
  | 'feasible'
  /** The time limit ran out; the best plan found is returned. */
  | 'timedout'
  /** The backend failed; the plan (if any) came from a fallback. */
  | 'error';

/** Every status, for those who count solves by status. */
export const SOLVER_STATUSES = ['optimal', 'feasible', 'timedout', 'error'] as const satisfies readonly SolverStatus[];

/** The seed's `OptimizeOutput`, extended with the bound, the gap and the jobs left out. */
export interface OptimizeOutput {
  plans: PlanItem[];
  /** Emissions of the plan, kg: run carbon + migration charges (the objective without waiting charges). */
  co2_estimate_kg: number;
  solver_status: SolverStatus;
  /** Number of placed jobs whose region differs from their `prev_plan` region. */
  migrations: number;
  /** Objective of the returned plan over the placed jobs, gCO2 (run carbon + migration + waiting charges). */
  objective_gco2: number;
  /**
   * A proven lower bound, gCO2, on every plan that places at least as many jobs as this one (whichever jobs
   * they are); null when unknown. When every job is placed, that is every plan placing every job.
   */
  lower_bound_gco2: number | null;
  /** `(objective - lower_bound) / max(objective, 1e-9)`; null when the bound is unknown. */
  gap: number | null;
  unscheduled: UnscheduledJob[];
  /** Name of the backend that produced the plan (after any fallback). */
  solver: string;
  solve_seconds: number;
}

/** Options for `optimize()`. */
export interface OptimizeOptions {
  /** `auto` (pick by size) or a registered solver name. Default `auto`. */
  solver: string;
  /** Wall-clock budget for the whole solve, seconds. Default 30. */
  timeLimitSeconds: number;
  /** Relative gap at which a solver may stop early. Default 1e-4. */
  gapTolerance: number;
}

export const DEFAULT_OPTIMIZE_OPTIONS: Readonly<OptimizeOptions> = Object.freeze({
  solver: 'auto',
  timeLimitSeconds: 30,
  gapTolerance: 1e-4,
});

// ---------------------------------------------------------------------------------------------
// The compiled model every solver backend consumes.
// ---------------------------------------------------------------------------------------------

/**
 * One job with its candidate placements, as parallel arrays (option k: start on site
 * `optionRegion[k]` (index into `PlacementModel.regions`) at slot `optionStart[k]`, costing
 * `optionCost[k]` gCO2 = run carbon + migration charge + waiting charge). Typed arrays because the largest
 * models carry millions of options.
 */
export interface ModelJob {
  jobId: string;
  cpu: number;
  memGb: number;
  gpu: number;
  /** Slots the job holds on each site (index into `PlacementModel.regions`): slower pools hold it longer. */
  siteRuntime: Int32Array;
  /** Non-empty; every option fits the job alone (individually unplaceable jobs never reach a solver). */
  optionRegion: Int32Array;
  optionStart: Int32Array;
  optionCost: Float64Array;
}

/**
 * The placement problem: choose at most one option per job so that, for every site r and slot s, the
 * jobs running there (start <= s < start + siteRuntime[r]) fit `cpu|memGb|gpu[r * horizonSlots + s]`;
 * maximise the number of jobs placed first, then minimise the summed option cost.
 */
export interface PlacementModel {
  /**
   * Capacity sites: the input's regions, or with `region_pools` one per (region, pool), labelled
   * `REGION/POOL`.
   */
  regions: string[];
  horizonSlots: number;
  jobs: ModelJob[];
  capacity: {
    cpu: Float64Array;
    memGb: Float64Array;
    gpu: Float64Array;
  };
}

/** What a backend returns. Never thrown: a backend that fails returns `status: 'error'`. */
export interface SolverResult {
  status: SolverStatus;
  /** Per job (same order as `PlacementModel.jobs`): the chosen option index, or -1 when left out. */
  choice: Int32Array;
  /**
   * Proven lower bound, gCO2, on every plan that places at least as many jobs as `choice` does (whichever
   * jobs they are); null when unknown.
   */
  lowerBoundGco2: number | null;
  /** Free text for logs (e.g. the backend's own status or error message). */
  detail?: string;
}

export interface SolveOptions {
  /** Seconds this backend may use. */
  timeLimitSeconds: number;
  gapTolerance: number;
}

/** A solver backend. Every backend passes the conformance suite in test/optimizer. */
export interface Solver {
  /** Used in the registry, in logs and as a metric label. */
  readonly name: string;
  /** Largest model (in options summed over jobs) this backend is meant for; `auto` uses it. */
  readonly maxOptions: number;
  solve(model: PlacementModel, options: SolveOptions): Promise<SolverResult>;
}
