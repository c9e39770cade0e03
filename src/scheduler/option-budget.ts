import type { AppWrapper, Phase } from '../domain/app-wrapper.js';
import { runtimeOnSite } from '../optimizer/index.js';
import type { OptimizeInput, OptimizeJob } from '../optimizer/index.js';

/** Phases of jobs that hold no room yet (no plan the dispatcher would act on, no Job): they can wait a cycle. */
const WAITING: ReadonlySet<Phase> = new Set(['Pending', 'Unschedulable']);

/** A job of the optimizer's input, with the AppWrapper it stands for and its candidate starts. */
export interface Candidate {
  aw: AppWrapper;
  job: OptimizeJob;
  options: number;
}

export interface Budgeted {
  /** The jobs to plan this cycle, in the order given. */
  planned: Candidate[];
  /** Waiting jobs left for a later cycle, earliest deadline first. */
  deferred: Candidate[];
  /** Candidate starts of the planned jobs. */
  options: number;
}

/**
 * Candidate starts the optimizer gets for `job` before it checks capacity: every start from its release to the
 * latest that ends by its deadline slot, on each pool it may use in each of its regions (a slower pool holds it
 * for more slots, so it has fewer starts).
 */
export function candidateStarts(job: OptimizeJob, input: Pick<OptimizeInput, 'regions' | 'region_pools'>): number {
  let starts = 0;
  for (const region of job.affinity_regions.length ? job.affinity_regions : input.regions) {
    const pools = input.region_pools?.[region] ?? [{ name: 'FAST', speed_factor: 1 }];
    for (const pool of pools) {
      if (job.pools?.length && !job.pools.includes(pool.name)) continue;
      const run = runtimeOnSite(job.runtime_slots, { speedFactor: pool.speed_factor ?? 1 });
      starts += Math.max(0, job.deadline_slot - run + 2 - job.release_slot);
    }
  }
  return starts;
}

/**
 * Bounds one schedule cycle's model to `maxOptions` candidate starts (the optimizer's time and memory grow with
 * them: 12 million took 510 MB and a whole minute). Every job that holds room stays in the plan, whatever the
 * budget: a planned job the dispatcher will start, a running one. Waiting jobs (Pending, Unschedulable; a what-if's
 * job is one) follow by earliest deadline, then submission, while their starts fit what is left. The first that
 * does not fit ends the list: a big job is not passed over by smaller ones behind it. Jobs that never reach the
 * optimizer (past hope, too big for every node) are not candidates: the caller fails or refuses them as before.
 */
export function withinOptionBudget(candidates: readonly Candidate[], maxOptions: number): Budgeted {
  const waiting: Candidate[] = [];
  let options = 0;
  for (const c of candidates) {
    if (WAITING.has(c.aw.phase)) waiting.push(c);
    else options += c.options;
  }
  waiting.sort((a, b) => a.aw.deadlineAt - b.aw.deadlineAt || a.aw.submittedAt - b.aw.submittedAt || (a.aw.jobId < b.aw.jobId ? -1 : a.aw.jobId > b.aw.jobId ? 1 : 0));
  let taken = 0;
  for (; taken < waiting.length; taken++) {
    const more = waiting[taken]!.options;
    if (options + more > maxOptions) break;
    options += more;
  }
  const deferred = waiting.slice(taken);
  const left = new Set(deferred);
  // In the order given: under the budget the cycle sees exactly what it saw without one.
  return { planned: candidates.filter((c) => !left.has(c)), deferred, options };
}
