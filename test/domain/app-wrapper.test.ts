import { describe, expect, it } from 'vitest';
import {
  addResources,
  boundToItsJob,
  canTransition,
  fits,
  isTerminal,
  jobNameFor,
  lastSite,
  LIVE_PHASES,
  NO_RESOURCES,
  PHASES,
  requeuedOffLostCluster,
  subtractResources,
  TERMINAL_PHASES,
  withoutPendingMove,
  workDoneMs,
  type AppWrapper,
  type Phase,
} from '../../src/domain/app-wrapper.js';
import { appWrapper } from '../support/app-wrapper-builder.js';

/** The whole lifecycle, written out: every move not listed here is refused. */
const ALLOWED: Record<Phase, Phase[]> = {
  Pending: ['Planned', 'Unschedulable', 'Failed', 'Cancelled'],
  Unschedulable: ['Planned', 'Unschedulable', 'Failed', 'Cancelled'],
  Planned: ['Planned', 'Dispatched', 'Unschedulable', 'Failed', 'Cancelled'],
  Dispatched: ['Pending', 'Dispatched', 'Running', 'Succeeded', 'Failed', 'Cancelled'],
  Running: ['Pending', 'Dispatched', 'Running', 'Succeeded', 'Failed', 'Cancelled'],
  Succeeded: [],
  Failed: [],
  Cancelled: [],
};

describe('phase transitions', () => {
  for (const from of PHASES) {
    for (const to of PHASES) {
      const allowed = ALLOWED[from].includes(to);
      it(`${allowed ? 'allows' : 'refuses'} ${from} -> ${to}`, () => {
        expect(canTransition(from, to)).toBe(allowed);
      });
    }
  }

  it('lets a running job migrate (Running -> Dispatched) or be requeued off a lost cluster, but never re-queues a plan (Planned -> Pending)', () => {
    expect(canTransition('Running', 'Dispatched')).toBe(true);
    expect(canTransition('Running', 'Pending')).toBe(true);
    expect(canTransition('Planned', 'Pending')).toBe(false);
  });

  it('lets every non-terminal phase be cancelled or fail', () => {
    for (const from of PHASES.filter((p) => !TERMINAL_PHASES.has(p))) {
      expect(canTransition(from, 'Cancelled'), from).toBe(true);
      expect(canTransition(from, 'Failed'), from).toBe(true);
    }
  });

  it('lets nothing leave a terminal phase', () => {
    for (const from of TERMINAL_PHASES) for (const to of PHASES) expect(canTransition(from, to), `${from} -> ${to}`).toBe(false);
  });
});

describe('phase sets', () => {
  it('terminal phases are Succeeded, Failed and Cancelled', () => {
    expect([...TERMINAL_PHASES].sort()).toEqual(['Cancelled', 'Failed', 'Succeeded']);
  });

  it('live phases (a Job may exist) are Dispatched and Running', () => {
    expect([...LIVE_PHASES].sort()).toEqual(['Dispatched', 'Running']);
  });

  it('isTerminal follows TERMINAL_PHASES', () => {
    for (const phase of PHASES) expect(isTerminal(appWrapper('a').phase(phase).obj()), phase).toBe(TERMINAL_PHASES.has(phase));
  });
});

describe('jobNameFor', () => {
  const cases = [
    { generation: 0, want: 'job-1' },
    { generation: 1, want: 'job-1' },
    { generation: 2, want: 'job-1-g2' },
    { generation: 10, want: 'job-1-g10' },
  ];
  for (const { generation, want } of cases) {
    it(`generation ${generation} -> ${want}`, () => {
      expect(jobNameFor('job-1', generation)).toBe(want);
    });
  }
});

describe('boundToItsJob', () => {
  it.each([
    [true, undefined, false],
    [true, 0, false],
    [false, undefined, false],
    [false, 0, true],
  ])('checkpointing %s, started at %s: %s', (checkpointing, startedAt, want) => {
    expect(boundToItsJob({ spec: { checkpointing }, startedAt })).toBe(want);
  });
});

describe('withoutPendingMove', () => {
  const moving = (metadata: AppWrapper['metadata'], placementMetadata?: AppWrapper['metadata']) => {
    const aw = appWrapper('j').phase('Running').target('carbon-jp').migrating().placement({ cluster: 'carbon-kr', jobName: 'j-g2', generation: 2, pool: 'ECO' }).obj();
    return { ...aw, targetPool: 'FAST' as const, metadata, placement: { ...aw.placement!, ...(placementMetadata && { metadata: placementMetadata }) } };
  };
  const move = { migrated_from: 'carbon-kr', migration_time: '2.000' };
  const earlier = { migrated_from: 'carbon-cn', migration_time: '1.000' };

  it('gives the job back the cluster, pool and metadata of the Job it runs', () => {
    expect(withoutPendingMove(moving(move, earlier))).toMatchObject({ migrating: false, targetCluster: 'carbon-kr', targetPool: 'ECO', metadata: earlier });
  });

  it.each([
    ["the move's origin, which is where its Job runs", move, {}],
    ['an earlier origin', earlier, earlier],
  ])('for a placement stored without its metadata, drops %s only', (_, metadata, want) => {
    expect(withoutPendingMove(moving(metadata)).metadata).toEqual(want);
  });

  it("gives the job back the CO2 estimate of the Job it runs, not the move's", () => {
    const aw = moving(move, earlier);
    const movingWithEstimates = { ...aw, co2EstimateG: 7, placement: { ...aw.placement!, co2EstimateG: 42 } };
    expect(withoutPendingMove(movingWithEstimates).co2EstimateG).toBe(42);
  });

  it('for a placement stored without its CO2 estimate, keeps the current one', () => {
    expect(withoutPendingMove({ ...moving(move, earlier), co2EstimateG: 7 }).co2EstimateG).toBe(7);
  });

  it('leaves a job without a pending move as it is', () => {
    const settled = { ...moving(move), migrating: false };
    expect(withoutPendingMove(settled)).toBe(settled);
  });
});

describe('workDoneMs', () => {
  const MIN = 60_000;
  // ECO runs 1.5x longer: a minute there is 2/3 of a minute of FAST work.
  const speedOf = (_cluster: string, pool: 'FAST' | 'ECO') => (pool === 'ECO' ? 1.5 : 1);
  const kr = { cluster: 'kr', jobName: 'j', generation: 2, pool: 'ECO' as const, createdAt: 0 };
  const cases = [
    { name: 'never ran', aw: {}, want: 0 },
    { name: 'running on FAST for 10 min', aw: { startedAt: 0, placement: { ...kr, pool: 'FAST' as const } }, want: 10 },
    { name: 'running on ECO for 9 min', aw: { startedAt: MIN, placement: kr }, want: 6 },
    { name: 'a past FAST leg, the next Job not started', aw: { pastRuns: [{ cluster: 'jp', pool: 'FAST' as const, startedAt: 0, endedAt: 4 * MIN }], placement: kr }, want: 4 },
    {
      name: 'a past ECO leg and a running FAST Job',
      aw: { pastRuns: [{ cluster: 'kr', pool: 'ECO' as const, startedAt: 0, endedAt: 3 * MIN }], startedAt: 5 * MIN, placement: { ...kr, pool: 'FAST' as const } },
      want: 2 + 5,
    },
    {
      name: 'a leg, then a lost leg (its checkpoint lost with it), then a FAST leg',
      aw: {
        pastRuns: [
          { cluster: 'jp', pool: 'FAST' as const, startedAt: 0, endedAt: 2 * MIN },
          { cluster: 'kr', pool: 'FAST' as const, startedAt: 2 * MIN, endedAt: 5 * MIN, lost: true as const },
          { cluster: 'jp', pool: 'FAST' as const, startedAt: 6 * MIN, endedAt: 7 * MIN },
        ],
        placement: kr,
      },
      want: 1,
    },
  ];
  const resumes = { checkpointing: true };
  for (const { name, aw, want } of cases) {
    it(`${name}: ${want} FAST minutes at minute 10, in place or in a new Job`, () => {
      expect(workDoneMs({ ...aw, spec: resumes }, 10 * MIN, speedOf) / MIN).toBeCloseTo(want, 12);
      expect(workDoneMs({ ...aw, spec: resumes }, 10 * MIN, speedOf, 'new-job') / MIN).toBeCloseTo(want, 12);
    });
  }

  // A job that cannot resume keeps only the run of the Job that goes on; a new Job starts over.
  const startsOver = { checkpointing: false };
  const inPlace = [0, 10, 6, 0, 5, 0];
  cases.forEach(({ name, aw }, i) => {
    it(`${name}, without checkpoints: ${inPlace[i]} FAST minutes in place, none in a new Job`, () => {
      expect(workDoneMs({ ...aw, spec: startsOver }, 10 * MIN, speedOf) / MIN).toBeCloseTo(inPlace[i]!, 12);
      expect(workDoneMs({ ...aw, spec: startsOver }, 10 * MIN, speedOf, 'new-job')).toBe(0);
    });
  });
});

describe('requeuedOffLostCluster', () => {
  const MIN = 60_000;
  const job = { cluster: 'carbon-kr', jobName: 'j-g2', generation: 2, pool: 'ECO' as const, createdAt: 0 };
  const running = (): AppWrapper => ({
    ...appWrapper('j').phase('Running').target('carbon-jp').migrating().obj(),
    placement: job,
    startedAt: 10 * MIN,
    pastRuns: [{ cluster: 'carbon-jp', pool: 'FAST', startedAt: 0, endedAt: 5 * MIN }],
    staleJobs: [{ cluster: 'carbon-cn', jobName: 'j' }],
    plannedStartAt: 10 * MIN,
    gateOpen: true,
  });

  it('makes a running job Pending, its Job stale, its run there a lost leg ended when the cluster was last seen', () => {
    const requeued = requeuedOffLostCluster(running(), 30 * MIN, 'lost');
    // No Job, no plan, no move, no run under way: the next plan starts from nothing.
    const { targetCluster, targetPool, plannedStartAt, placement, startedAt, gateOpen, migrating } = requeued;
    expect({ targetCluster, targetPool, plannedStartAt, placement, startedAt }).toEqual({});
    expect([gateOpen, migrating]).toEqual([false, false]);
    expect(requeued).toMatchObject({
      phase: 'Pending',
      reason: 'lost',
      pastRuns: [
        { cluster: 'carbon-jp', pool: 'FAST', startedAt: 0, endedAt: 5 * MIN },
        { cluster: 'carbon-kr', pool: 'ECO', startedAt: 10 * MIN, endedAt: 30 * MIN, lost: true },
      ],
      staleJobs: [
        { cluster: 'carbon-cn', jobName: 'j' },
        { cluster: 'carbon-kr', jobName: 'j-g2' },
      ],
    });
  });

  it('marks the checkpoint a job carried there as lost even if it had not started; a job with no legs gets none', () => {
    const notStarted = { ...running(), phase: 'Dispatched' as const, startedAt: undefined };
    expect(requeuedOffLostCluster(notStarted, 30 * MIN, 'lost').pastRuns?.at(-1)).toEqual({ cluster: 'carbon-kr', pool: 'ECO', startedAt: 30 * MIN, endedAt: 30 * MIN, lost: true });
    expect(requeuedOffLostCluster({ ...notStarted, pastRuns: undefined }, 30 * MIN, 'lost').pastRuns).toBeUndefined();
  });

  it('leaves an AppWrapper without a Job as it is', () => {
    const pending = appWrapper('p').obj();
    expect(requeuedOffLostCluster(pending, 30 * MIN, 'lost')).toBe(pending);
  });
});

describe('lastSite', () => {
  const job = { cluster: 'carbon-jp', jobName: 'j-g2', generation: 2, pool: 'FAST' as const, createdAt: 0 };
  const leg = { cluster: 'carbon-kr', pool: 'ECO' as const, startedAt: 0, endedAt: 1 };
  it.each([
    ['its Job, running', { placement: job, startedAt: 5, pastRuns: [leg] }, { cluster: 'carbon-jp', pool: 'FAST' }],
    ['its last leg, moved and the new Job not started', { placement: job, pastRuns: [leg] }, { cluster: 'carbon-kr', pool: 'ECO' }],
    ['its last leg, requeued and planned anew', { targetCluster: 'carbon-cn', pastRuns: [{ ...leg, lost: true as const }] }, { cluster: 'carbon-kr', pool: 'ECO' }],
    ['its Job, never started', { placement: job }, { cluster: 'carbon-jp', pool: 'FAST' }],
    ['its plan, cancelled while running (the cancel clears the Job)', { targetCluster: 'carbon-cn', targetPool: 'ECO' as const, startedAt: 5 }, { cluster: 'carbon-cn', pool: 'ECO' }],
    ['nothing', {}, undefined],
  ])('%s', (_name, aw, want) => {
    expect(lastSite(aw)).toEqual(want);
  });
});

describe('resources', () => {
  const a = { cpu: 4, memGb: 16, gpu: 1 };
  const b = { cpu: 1.5, memGb: 2, gpu: 1 };

  it('adds and subtracts component-wise without touching the operands', () => {
    expect(addResources(a, b)).toEqual({ cpu: 5.5, memGb: 18, gpu: 2 });
    expect(subtractResources(a, b)).toEqual({ cpu: 2.5, memGb: 14, gpu: 0 });
    expect(a).toEqual({ cpu: 4, memGb: 16, gpu: 1 });
    expect(b).toEqual({ cpu: 1.5, memGb: 2, gpu: 1 });
  });

  it('NO_RESOURCES is the frozen zero', () => {
    expect(NO_RESOURCES).toEqual({ cpu: 0, memGb: 0, gpu: 0 });
    expect(Object.isFrozen(NO_RESOURCES)).toBe(true);
    expect(addResources(NO_RESOURCES, a)).toEqual(a);
  });

  const free = { cpu: 4, memGb: 16, gpu: 1 };
  const fitCases = [
    { name: 'exactly the free room', request: { cpu: 4, memGb: 16, gpu: 1 }, want: true },
    { name: 'nothing', request: NO_RESOURCES, want: true },
    { name: 'too much cpu', request: { cpu: 4.5, memGb: 1, gpu: 0 }, want: false },
    { name: 'too much memory', request: { cpu: 1, memGb: 17, gpu: 0 }, want: false },
    { name: 'too many gpus', request: { cpu: 1, memGb: 1, gpu: 2 }, want: false },
  ];
  for (const { name, request, want } of fitCases) {
    it(`fits(${name}) is ${want}`, () => {
      expect(fits(request, free)).toBe(want);
    });
  }

  it('nothing fits in negative room', () => {
    expect(fits({ cpu: 0, memGb: 0, gpu: 0 }, subtractResources(NO_RESOURCES, { cpu: 1, memGb: 0, gpu: 0 }))).toBe(false);
  });
});
