import { describe, expect, it } from 'vitest';
import type { AppWrapper, Phase } from '../../src/domain/app-wrapper.js';
import type { OptimizeJob } from '../../src/optimizer/index.js';
import { candidateStarts, withinOptionBudget, type Candidate } from '../../src/scheduler/option-budget.js';

/** A candidate with its phase, deadline (minutes from a fixed time) and candidate starts; submitted at `submittedAt`. */
function job(jobId: string, phase: Phase, deadlineMinutes: number, options: number, submittedAt = 0): Candidate {
  const aw: AppWrapper = {
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
  };
  return { aw, job: { job_id: jobId } as OptimizeJob, options };
}

const ids = (list: readonly Candidate[]) => list.map((c) => c.aw.jobId);

describe('withinOptionBudget: what one schedule cycle plans when its options are capped', () => {
  const cases: { name: string; jobs: Candidate[]; max: number; planned: string[]; deferred: string[]; options: number }[] = [
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
      const result = withinOptionBudget(c.jobs, c.max);
      expect(ids(result.planned)).toEqual(c.planned);
      expect(ids(result.deferred)).toEqual(c.deferred);
      expect(result.options).toBe(c.options);
    });
  }
});

describe('candidateStarts: the starts the optimizer gets for a job before it checks capacity', () => {
  const pools = { A: [{ name: 'FAST', speed_factor: 1, power_factor: 1 }, { name: 'ECO', speed_factor: 1.5, power_factor: 0.6 }], B: [{ name: 'FAST', speed_factor: 1, power_factor: 1 }] };
  const base: OptimizeJob = { job_id: 'j', cpu: 1, mem_gb: 1, gpu: 0, runtime_slots: 2, release_slot: 0, deadline_slot: 9, data_gb: 0, affinity_regions: [] };
  const cases: { name: string; job: Partial<OptimizeJob>; want: number }[] = [
    // A FAST: starts 0-8 (9); A ECO, 3 slots: 0-7 (8); B FAST: 9.
    { name: 'every pool of every region, a slower pool holding the job longer', job: {}, want: 26 },
    { name: 'only the regions it may run in', job: { affinity_regions: ['B'] }, want: 9 },
    { name: 'only the pools it may use (an urgent job: FAST)', job: { pools: ['FAST'] }, want: 18 },
    { name: 'from its release slot', job: { release_slot: 4, affinity_regions: ['B'] }, want: 5 },
    { name: 'one start when it fills its window', job: { runtime_slots: 10, affinity_regions: ['B'] }, want: 1 },
    { name: 'no start on a pool too slow for its window (ECO stretches 10 slots to 15)', job: { runtime_slots: 10, affinity_regions: ['A'] }, want: 1 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(candidateStarts({ ...base, ...c.job }, { regions: ['A', 'B'], region_pools: pools })).toBe(c.want);
    });
  }
});
