import { describe, expect, it } from 'vitest';
import type { AppWrapper, Phase } from '../../src/domain/app-wrapper.js';
import type { OptimizeJob } from '../../src/optimizer/index.js';
import { withinOptionBudget, type Candidate } from '../../src/scheduler/option-budget.js';

/**
 * A candidate with its phase, deadline (minutes from a fixed time), candidate starts, submission time and run
 * (minutes; its latest start is the deadline less the run).
 */
function job(jobId: string, phase: Phase, deadlineMinutes: number, options: number, submittedAt = 0, runtimeMinutes = 30): Candidate {
  const aw: AppWrapper = {
    jobId,
    spec: { cpu: 1, memGb: 1, gpu: 0, runtimeMinutes, deadlineMinutes, dataGb: 0, affinityRegions: [], urgency: 'normal', checkpointing: true },
    submittedAt,
    deadlineAt: deadlineMinutes * 60_000,
    phase,
    gateOpen: false,
    migrating: false,
    staleJobs: [],
    metadata: {},
    updatedAt: 0,
  };
  return { aw, job: { job_id: jobId } as OptimizeJob, options };
}

const ids = (list: readonly Candidate[]) => list.map((c) => c.aw.jobId);

describe('withinOptionBudget: what one schedule cycle plans when its options are capped', () => {
  const cases: { name: string; jobs: Candidate[]; max: number; nextCycleMinutes?: number; planned: string[]; deferred: string[]; options: number }[] = [
    {
      name: 'everything, in the order given, when it fits',
      jobs: [job('late', 'Pending', 600, 40), job('soon', 'Pending', 60, 40), job('planned', 'Planned', 300, 40)],
      max: 120,
      planned: ['late', 'soon', 'planned'],
      deferred: [],
      options: 120,
    },
    {
      name: 'waiting jobs by latest start (here, by deadline: the same runs), the rest deferred',
      jobs: [job('late', 'Pending', 600, 40), job('soon', 'Pending', 60, 40), job('middle', 'Unschedulable', 300, 40)],
      max: 100,
      planned: ['soon', 'middle'],
      deferred: ['late'],
      options: 80,
    },
    {
      name: 'no smaller job behind a big one that does not fit: the big one is next, not passed over',
      jobs: [job('big', 'Pending', 60, 90), job('small', 'Pending', 120, 5), job('first', 'Pending', 30, 20)],
      max: 100,
      planned: ['first'],
      deferred: ['big', 'small'],
      options: 20,
    },
    {
      name: 'jobs that hold room (planned, dispatched, running) whatever the budget, and the first waiting job',
      jobs: [job('planned', 'Planned', 600, 80), job('running', 'Running', 600, 3), job('dispatched', 'Dispatched', 600, 3), job('waiting', 'Pending', 30, 10), job('later', 'Pending', 60, 10)],
      max: 50,
      planned: ['planned', 'running', 'dispatched', 'waiting'],
      deferred: ['later'],
      options: 96,
    },
    {
      name: 'the first waiting job even when it alone is larger than the budget: the queue never stalls',
      jobs: [job('huge', 'Pending', 60, 500), job('next', 'Pending', 120, 1)],
      max: 100,
      planned: ['huge'],
      deferred: ['next'],
      options: 500,
    },
    {
      name: 'by latest start, not by deadline: a long run due a little later has to start first',
      jobs: [job('short', 'Pending', 300, 60), job('long', 'Pending', 600, 60, 0, 570)],
      max: 100,
      planned: ['long'],
      deferred: ['short'],
      options: 60,
    },
    {
      name: 'every waiting job that must start before the next cycle, whatever the budget (waiting would make it miss its deadline)',
      jobs: [job('planned', 'Planned', 600, 100), job('due', 'Pending', 40, 3), job('due-too', 'Pending', 44, 3), job('roomy', 'Pending', 300, 3), job('roomier', 'Pending', 400, 3)],
      max: 100,
      nextCycleMinutes: 15,
      planned: ['planned', 'due', 'due-too', 'roomy'],
      deferred: ['roomier'],
      options: 109,
    },
    {
      name: 'equal latest starts by submission, then by id',
      jobs: [job('b', 'Pending', 60, 10, 2), job('a', 'Pending', 60, 10, 2), job('first', 'Pending', 60, 10, 1)],
      max: 20,
      planned: ['a', 'first'],
      deferred: ['b'],
      options: 20,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = withinOptionBudget(c.jobs, c.max, (c.nextCycleMinutes ?? 0) * 60_000);
      expect(ids(result.planned)).toEqual(c.planned);
      expect(ids(result.deferred)).toEqual(c.deferred);
      expect(result.options).toBe(c.options);
    });
  }
});
