import { pendingMove, type AppWrapper } from '../domain/app-wrapper.js';
import { csvTable } from '../domain/csv.js';
import { runtimeOnSite, type OptimizeInput, type PlanItem } from '../optimizer/index.js';

/**
 * The schedule decision log's contract: what one decision is, what the schedule cycle hands over after
 * applying a plan, and how the decisions are worked out from it. Pure: the log that stores and writes them
 * lives in `hub/decision-log.ts`.
 */

/** One schedule decision: a job placed for the first time, or its cluster or planned start changed. */
export interface Decision {
  /** When the cycle decided, ISO 8601. */
  time: string;
  job_id: string;
  cluster: string;
  region: string;
  /** ISO 8601. */
  planned_start: string;
  /** The solver (or, in the strategy benchmark, the strategy) that produced the plan. */
  strategy: string;
  /** Average grid intensity over the planned run, gCO2/kWh, from the carbon the plan was made on. */
  ci_score_gco2_per_kwh: number;
  /** Planned emissions of the run, gCO2. */
  co2_estimate_g: number;
  /** Cluster the job moved away from when the decision is a migration, else empty. */
  migration_from: string;
  /** Cluster the job moved to when the decision is a migration, else empty. */
  migration_to: string;
}

/** Column order of the CSV file and of `GET /hub/decisions?format=csv`. */
export const DECISION_COLUMNS = [
  'time',
  'job_id',
  'cluster',
  'region',
  'planned_start',
  'strategy',
  'ci_score_gco2_per_kwh',
  'co2_estimate_g',
  'migration_from',
  'migration_to',
] as const satisfies readonly (keyof Decision)[];

/** What a schedule cycle hands the decision log once its plan is applied. */
export interface CycleDecisions {
  /** The cycle's "now" (slot 0 starts here), epoch ms. */
  at: number;
  /** Solver (or strategy) name from the optimizer's output. */
  strategy: string;
  input: OptimizeInput;
  plans: readonly PlanItem[];
  /** The plans that were applied (a plan whose AppWrapper changed meanwhile is not). */
  placed: readonly { job_id: string; cluster: string; region: string; planned_start: string; co2_gco2: number }[];
  migrations: readonly { job_id: string; from_cluster: string; to_cluster: string }[];
  /** The AppWrappers as the cycle saw them before applying: a plan equal to the previous one is no decision. */
  previous: ReadonlyMap<string, AppWrapper>;
}

/** Where a schedule cycle reports its decisions. Never throws: a log that cannot write says so itself. */
export interface DecisionLog {
  record(cycle: CycleDecisions): void;
}

/** Read side, for the API. */
export interface DecisionSource {
  /** The last `limit` decisions, oldest first. */
  recent(limit: number): Decision[];
}

/** Decisions as CSV text, header first: the layout of the log file. */
export function decisionsCsvText(decisions: readonly Decision[]): string {
  return csvTable(DECISION_COLUMNS, decisions);
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * The decisions of a cycle: every applied plan that is new or moved the job in space or time. Re-planning a
 * job to where and when it already was is a confirmation, not a decision, so a job planned once and left
 * alone appears once however many cycles see it.
 */
export function decisionsOf(cycle: CycleDecisions): Decision[] {
  const plans = new Map(cycle.plans.map((p) => [p.job_id, p]));
  const jobs = new Map(cycle.input.jobs.map((j) => [j.job_id, j]));
  const carbon = new Map<string, number[]>();
  for (const c of cycle.input.carbons) {
    let row = carbon.get(c.region);
    if (!row) carbon.set(c.region, (row = []));
    row[c.slot] = c.ci_gco2_per_kwh;
  }
  const migrations = new Map(cycle.migrations.map((m) => [m.job_id, m]));
  const time = new Date(cycle.at).toISOString();
  const out: Decision[] = [];
  for (const placed of cycle.placed) {
    const before = cycle.previous.get(placed.job_id);
    const migration = migrations.get(placed.job_id);
    const plan = plans.get(placed.job_id);
    // Slot 0 starts when a cycle reads the clock, a little after its tick: a start that moved by less than half a
    // slot is the same slot of the plan seen from a later cycle.
    const sameStart = before?.plannedStartAt !== undefined && Math.abs(before.plannedStartAt - Date.parse(placed.planned_start)) < (cycle.input.slot_seconds * 1000) / 2;
    const samePool = (before?.targetPool ?? 'FAST') === (plan?.pool ?? 'FAST');
    const same = before?.targetCluster === placed.cluster && sameStart && samePool;
    // A move decided earlier that waits to be carried out (its target's quota full, say) is planned again each
    // cycle, its new Job starting at that cycle's slot 0: the same decision, though its start follows the clock.
    const stillMoving = before !== undefined && pendingMove(before)?.to === placed.cluster && samePool;
    if (!migration && (same || stillMoving)) continue;
    const job = jobs.get(placed.job_id);
    let ci = 0;
    if (plan && job) {
      const row = carbon.get(plan.region) ?? [];
      // A slower pool holds the job longer: its score covers the whole run.
      const pool = cycle.input.region_pools?.[plan.region]?.find((p) => p.name === plan.pool);
      const runtime = runtimeOnSite(job.runtime_slots, { speedFactor: pool?.speed_factor ?? 1 });
      let sum = 0;
      for (let s = plan.start_slot; s < plan.start_slot + runtime; s++) sum += row[s] ?? 0;
      ci = sum / Math.max(1, runtime);
    }
    out.push({
      time,
      job_id: placed.job_id,
      cluster: placed.cluster,
      region: placed.region,
      planned_start: placed.planned_start,
      strategy: cycle.strategy,
      ci_score_gco2_per_kwh: round(ci, 2),
      co2_estimate_g: round(placed.co2_gco2, 3),
      migration_from: migration?.from_cluster ?? '',
      migration_to: migration?.to_cluster ?? '',
    });
  }
  return out;
}
