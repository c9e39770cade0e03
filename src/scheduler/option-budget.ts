import type { AppWrapper, Phase } from '../domain/app-wrapper.js';

/** Phases of jobs that hold no room yet (no plan the dispatcher would act on, no Job): they can wait a cycle. */
const WAITING: ReadonlySet<Phase> = new Set(['Pending', 'Unschedulable']);

export interface Budgeted {
  /** The jobs to plan this cycle, in the order given. */
  planned: AppWrapper[];
  /** Waiting jobs left for a later cycle, earliest deadline first. */
  deferred: AppWrapper[];
  /** Candidate starts (options) of the planned jobs, as `optionsOf` counts them. */
  options: number;
}

/**
 * Bounds one schedule cycle's model to `maxOptions` candidate starts (the optimizer's time and memory grow with
 * them: 12 million took 500 MB and a whole minute). Every job that holds room stays in the plan, whatever the
 * budget: a planned job the dispatcher will start, a running one, and the job a what-if asks about (`mustPlan`).
 * Waiting jobs (Pending, Unschedulable) follow by earliest deadline, then submission, while their options fit
 * what is left. The first that does not fit ends the list: a big job is not passed over by smaller ones behind
 * it, so it waits one cycle at most for each job ahead of it, not for ever.
 */
export function withinOptionBudget(
  candidates: readonly AppWrapper[],
  optionsOf: (aw: AppWrapper) => number,
  maxOptions: number,
  mustPlan: (aw: AppWrapper) => boolean = () => false,
): Budgeted {
  const waiting: AppWrapper[] = [];
  let options = 0;
  for (const aw of candidates) {
    if (WAITING.has(aw.phase) && !mustPlan(aw)) waiting.push(aw);
    else options += optionsOf(aw);
  }
  waiting.sort((a, b) => a.deadlineAt - b.deadlineAt || a.submittedAt - b.submittedAt || (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0));
  let taken = 0;
  for (; taken < waiting.length; taken++) {
    const more = optionsOf(waiting[taken]!);
    if (options + more > maxOptions) break;
    options += more;
  }
  const deferred = waiting.slice(taken);
  const left = new Set(deferred);
  // In the order given: under the budget the cycle sees exactly what it saw without one.
  return { planned: candidates.filter((aw) => !left.has(aw)), deferred, options };
}
