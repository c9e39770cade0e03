import { describe, expect, it } from 'vitest';
import type { AppWrapper, Phase } from '../../src/domain/app-wrapper.js';
import { withinOptionBudget } from '../../src/scheduler/option-budget.js';

/** A job with its phase, deadline (minutes from a fixed time) and candidate starts; submitted in the order given. */
function job(jobId: string, phase: Phase, deadlineMinutes: number, options: number, submittedAt = 0): AppWrapper & { options: number } {
  return {
    jobId,
    spec: { cpu: 1, memGb: 1, gpu: 0, runtimeMinutes: 30, deadlineMinutes, dataGb: 0, affinityRegions: [], urgency: 'normal', checkpointing: true },
    submittedAt,
    deadlineAt: deadlineMinutes * 60_000,
    phase,
    gateOpen: false,
    migrating: false,
    staleJobs: [],
    metadata: {},
    updatedAt: 0,
    options,
  };
}

const optionsOf = (aw: AppWrapper) => (aw as AppWrapper & { options: number }).options;
const ids = (list: readonly AppWrapper[]) => list.map((aw) => aw.jobId);

describe('withinOptionBudget: what one schedule cycle plans when its options are capped', () => {
  const cases: { name: string; jobs: (AppWrapper & { options: number })[]; max: number; mustPlan?: string; planned: string[]; deferred: string[]; options: number }[] = [
    {
      name: 'everything, in the order given, when it fits',
      jobs: [job('late', 'Pending', 600, 40), job('soon', 'Pending', 60, 40), job('planned', 'Planned', 300, 40)],
      max: 120,
      planned: ['late', 'soon', 'planned'],
      deferred: [],
      options: 120,
    },
    {
      name: 'waiting jobs by earliest deadline, the rest deferred',
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
      name: 'jobs that hold room (planned, dispatched, running) whatever the budget',
      jobs: [job('planned', 'Planned', 600, 80), job('running', 'Running', 600, 3), job('dispatched', 'Dispatched', 600, 3), job('waiting', 'Pending', 30, 10)],
      max: 50,
      planned: ['planned', 'running', 'dispatched'],
      deferred: ['waiting'],
      options: 86,
    },
    {
      name: 'the job a what-if asks about, whatever the budget',
      jobs: [job('asked', 'Pending', 600, 80), job('other', 'Pending', 30, 10)],
      max: 50,
      mustPlan: 'asked',
      planned: ['asked'],
      deferred: ['other'],
      options: 80,
    },
    {
      name: 'equal deadlines by submission, then by id',
      jobs: [job('b', 'Pending', 60, 10, 2), job('a', 'Pending', 60, 10, 2), job('first', 'Pending', 60, 10, 1)],
      max: 20,
      planned: ['a', 'first'],
      deferred: ['b'],
      options: 20,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = withinOptionBudget(c.jobs, optionsOf, c.max, (aw) => aw.jobId === c.mustPlan);
      expect(ids(result.planned)).toEqual(c.planned);
      expect(ids(result.deferred)).toEqual(c.deferred);
      expect(result.options).toBe(c.options);
    });
  }
});
