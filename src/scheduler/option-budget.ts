import type { AppWrapper, Phase } from '../domain/app-wrapper.js';
import type { OptimizeJob } from '../optimizer/index.js';

/** Phases of jobs that hold no room yet (no plan the dispatcher would act on, no Job): they can wait a cycle. */
const WAITING: ReadonlySet<Phase> = new Set(['Pending', 'Unschedulable']);

/** A job of the optimizer's input, with the AppWrapper it stands for and its candidate starts (`candidateStarts`). */
export interface Candidate {
  aw: AppWrapper;
  job: OptimizeJob;
  options: number;
}

export interface Budgeted {
  /** The jobs to plan this cycle, in the order given. */
  planned: Candidate[];
  /** Waiting jobs left for a later cycle, the most pressing first. */
  deferred: Candidate[];
  /** Candidate starts of the planned jobs. */
  options: number;
}

/** The latest moment a job can start and still finish by its deadline at full speed. */
function latestStart(aw: AppWrapper): number {
  return aw.deadlineAt - aw.spec.runtimeMinutes * 60_000;
}

/**
 * Bounds one schedule cycle's model to `maxOptions` candidate starts (the optimizer's time and memory grow with
 * them: 12 million took 510 MB and a whole minute). What is always planned, whatever the budget: every job that
 * holds room (a planned job the dispatcher will start, a running one), and every waiting job that must start
 * before `nextCycleAt`, the latest a later cycle surely runs (waiting for it would make the job miss its deadline;
 * its window is short, so it costs few starts). The other waiting jobs (Pending, Unschedulable; a what-if's job is one) follow by latest start (the
 * deadline less the run), then submission, while their starts fit what is left; the first of them always, so that
 * every cycle plans at least one (a job larger than the budget, or a budget the jobs holding room fill, would
 * otherwise stall them all). The first that does not fit ends the list: a big job is not passed over by smaller
 * ones behind it.
 */
export function withinOptionBudget(candidates: readonly Candidate[], maxOptions: number, nextCycleAt: number): Budgeted {
  const waiting: Candidate[] = [];
  let options = 0;
  for (const c of candidates) {
    if (WAITING.has(c.aw.phase) && latestStart(c.aw) >= nextCycleAt) waiting.push(c);
    else options += c.options;
  }
  waiting.sort((a, b) => latestStart(a.aw) - latestStart(b.aw) || a.aw.submittedAt - b.aw.submittedAt || (a.aw.jobId < b.aw.jobId ? -1 : a.aw.jobId > b.aw.jobId ? 1 : 0));
  let taken = 0;
  for (; taken < waiting.length; taken++) {
    const more = waiting[taken]!.options;
    // The first always goes: a job larger than the budget, or a budget the held jobs fill, must not stall the queue.
    if (options + more > maxOptions && taken > 0) break;
    options += more;
  }
  const deferred = waiting.slice(taken);
  const left = new Set(deferred);
  // In the order given: under the budget the cycle sees exactly what it saw without one.
  return { planned: candidates.filter((c) => !left.has(c)), deferred, options };
}
