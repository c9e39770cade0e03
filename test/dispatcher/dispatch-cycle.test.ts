import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { AdapterError } from '../../src/domain/errors.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import type { SpokeJobRequest } from '../../src/spokes/types.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import type { FakeClock } from '../support/fake-clock.js';
import { spokeJob } from '../support/spoke-job-builder.js';
import { testHub, type TestHub } from '../support/hub.js';
import { twoRegions } from '../support/two-regions.js';
import { metricValue } from '../support/metric-value.js';

describe('dispatch cycle', () => {
  let t: TestHub;
  let clock: FakeClock;
  let spokes: Spoke[];
  const sim = (i: number) => spokes[i]?.client as SimulatedSpoke;

  beforeEach(async () => {
    const world = twoRegions(4, 16);
    ({ clock, spokes } = world);
    t = await testHub({ regions: world.regions, migration: { network_gco2_per_gb: {} } }, { clock, spokes });
  });
  afterEach(() => t.hub.stop());

  const store = () => t.hub.lifecycle.store;
  const dispatch = () => t.hub.loops.dispatch.runOnce();
  /** What the schedule cycle writes when it moves a live job from `from` to `to`. */
  const decidedMove = (to: string, from = 'carbon-kr') => ({ targetCluster: to, migrating: true, metadata: { migrated_from: from, migration_time: (clock.now() / 1000).toFixed(3) } });
  const dropped = (from: string, to: string, reason: string) => metricValue(t.hub.metrics, 'caspian_migrations_dropped_total', { from_cluster: from, to_cluster: to, reason });
  const planned = (id: string, startInMinutes: number, cluster = 'carbon-kr') => {
    const aw = appWrapper(id).cpu(2).phase('Planned').target(cluster).obj();
    return { ...aw, submittedAt: clock.now(), deadlineAt: clock.now() + 180 * 60_000, plannedStartAt: clock.now() + startInMinutes * 60_000, updatedAt: clock.now() };
  };

  /** The next create on spoke `i` makes its Job, but the hub hears a time-out (`tweak` may alter the request). */
  const loseTheAnswerOnce = (i: number, tweak: (request: SpokeJobRequest) => SpokeJobRequest = (r) => r) => {
    const spoke = sim(i);
    const create = spoke.createJob.bind(spoke);
    vi.spyOn(spoke, 'createJob').mockImplementationOnce(async (request) => {
      await create(tweak(request));
      throw new AdapterError(`create Job ${request.jobName} timed out`, true);
    });
  };

  /** While the next create on spoke `i` is in flight, `meanwhile` runs (a schedule cycle applying its plan, a slow API server). */
  const duringNextCreate = (i: number, meanwhile: () => Promise<unknown> | void) => {
    const spoke = sim(i);
    const create = spoke.createJob.bind(spoke);
    vi.spyOn(spoke, 'createJob').mockImplementationOnce(async (request) => {
      await meanwhile();
      return create(request);
    });
  };

  /** 'mover' runs on carbon-kr from the clock now, its Job read back as Running. */
  const runOnKr = async () => {
    await store().insert(planned('mover', 0));
    await dispatch();
    await dispatch();
    expect(await store().get('mover')).toMatchObject({ phase: 'Running', startedAt: clock.now() });
  };

  it('keeps the gate closed until the planned start, then creates the Job', async () => {
    await store().insert(planned('later', 10));
    expect((await dispatch()).created).toEqual([]);
    expect((await store().get('later'))?.phase).toBe('Planned');

    clock.advanceMinutes(10);
    const summary = await dispatch();
    expect(summary.created).toEqual([{ job_id: 'later', cluster: 'carbon-kr', job_name: 'later', adopted: false }]);
    expect(await store().get('later')).toMatchObject({ phase: 'Dispatched', gateOpen: true, placement: { cluster: 'carbon-kr', jobName: 'later', generation: 1 } });
  });

  it('follows the Job to Running and Succeeded on the spoke', async () => {
    await store().insert(planned('job', 0));
    await dispatch();
    expect((await dispatch()).synced).toEqual([{ job_id: 'job', phase: 'Running' }]);
    expect((await store().get('job'))?.startedAt).toBe(clock.now());

    clock.advanceMinutes(29);
    expect((await dispatch()).synced).toEqual([]);
    clock.advanceMinutes(1);
    expect((await dispatch()).synced).toEqual([{ job_id: 'job', phase: 'Succeeded' }]);
    expect(await store().get('job')).toMatchObject({ phase: 'Succeeded', finishedAt: clock.now() });
    expect(t.log.messages()).toEqual(expect.arrayContaining(['AppWrapper job: Planned -> Dispatched', 'AppWrapper job: Dispatched -> Running', 'AppWrapper job: Running -> Succeeded']));
  });

  it('retries a cluster that is down without ever creating a second Job', async () => {
    await store().insert(planned('job', 0));
    sim(0).setReachable(false);
    const down = await dispatch();
    expect(down.created).toEqual([]);
    expect((await store().get('job'))?.phase).toBe('Planned');
    const clusters = (await t.hub.app.inject({ method: 'GET', url: '/hub/clusters' })).json().clusters;
    expect(clusters[0]).toMatchObject({ name: 'carbon-kr', ready: false });

    sim(0).setReachable(true);
    expect((await dispatch()).created).toHaveLength(1);
    expect((await dispatch()).created).toEqual([]);
    expect((await sim(0).listJobs()).map((j) => j.jobName)).toEqual(['job']);
  });

  it('adopts a Job that already exists on the spoke instead of duplicating it', async () => {
    await sim(0).createJob(spokeJob('job').cpu(2).runtimeSeconds(1800).activeDeadlineSeconds(7200).obj());
    await store().insert(planned('job', 0));
    expect((await dispatch()).created).toEqual([{ job_id: 'job', cluster: 'carbon-kr', job_name: 'job', adopted: true }]);
    expect(await sim(0).listJobs()).toHaveLength(1);
  });

  it('marks a job Failed when its Job fails or disappears', async () => {
    // 'short' has time for its run, but KR is taken by someone else's work until past its deadline.
    await sim(0).createJob(spokeJob('blocker').cpu(4).runtimeSeconds(3600).activeDeadlineSeconds(7200).obj());
    const short = { ...planned('short', 0), deadlineAt: clock.now() + 40 * 60_000 };
    await store().insert(short);
    await store().insert(planned('vanishes', 0, 'carbon-jp'));
    await dispatch();
    await sim(1).deleteJob('vanishes', 'vanishes');
    clock.advanceMinutes(41);
    const summary = await dispatch();
    expect(summary.synced).toEqual(expect.arrayContaining([{ job_id: 'short', phase: 'Failed' }, { job_id: 'vanishes', phase: 'Failed' }]));
    expect((await store().get('short'))?.reason).toBe('DeadlineExceeded');
    expect((await store().get('vanishes'))?.reason).toBe('Job vanishes disappeared from cluster carbon-jp before its outcome was read');
  });

  it('cancels while the spoke is down and deletes the Job once it answers', async () => {
    await store().insert(planned('job', 0));
    await dispatch();
    sim(0).setReachable(false);
    const cancelled = await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/job' });
    expect(cancelled.json()).toMatchObject({ phase: 'Cancelled', job: null });
    expect((await store().get('job'))?.staleJobs).toEqual([{ cluster: 'carbon-kr', jobName: 'job' }]);

    sim(0).setReachable(true);
    const summary = await dispatch();
    expect(summary.deleted).toEqual([{ job_id: 'job', cluster: 'carbon-kr', job_name: 'job' }]);
    expect(await sim(0).listJobs()).toEqual([]);
    expect((await store().get('job'))?.staleJobs).toEqual([]);
  });

  describe('a cluster that stops answering', () => {
    const requeued = (cluster: string) => metricValue(t.hub.metrics, 'caspian_jobs_requeued_total', { cluster });
    /** 'job' runs 10 minutes on carbon-kr, then carbon-kr does not answer for the 15 minutes that make it lost. */
    const runThenLoseKr = async () => {
      await t.hub.loops.carbon.runOnce();
      await store().insert({ ...planned('job', 0), deadlineAt: clock.now() + 600 * 60_000 });
      await dispatch();
      clock.advanceMinutes(10);
      await dispatch();
      sim(0).setReachable(false);
      await dispatch();
      clock.advanceMinutes(15);
      await t.hub.loops.carbon.runOnce();
      expect((await dispatch()).requeued).toEqual([{ job_id: 'job', cluster: 'carbon-kr' }]);
    };

    it('keeps its jobs for spokes.lost_after_seconds, then requeues them to run again, from the start, where the next plan puts them', async () => {
      await t.hub.loops.carbon.runOnce();
      await store().insert(planned('job', 0));
      await dispatch();
      clock.advanceMinutes(10);
      await dispatch();
      expect((await store().get('job'))?.phase).toBe('Running');
      const startedAt = (await store().get('job'))!.startedAt!;

      sim(0).setReachable(false);
      await dispatch();
      const lostSince = clock.now();
      clock.advanceMinutes(14);
      expect((await dispatch()).requeued).toEqual([]);
      expect((await store().get('job'))?.phase).toBe('Running');

      // 15 minutes (the default) without an answer: carbon-kr is lost.
      clock.advanceMinutes(1);
      const summary = await dispatch();
      expect(summary.requeued).toEqual([{ job_id: 'job', cluster: 'carbon-kr' }]);
      expect(await store().get('job')).toMatchObject({
        phase: 'Pending',
        reason: `requeued: its cluster carbon-kr has not answered for 15 min (since ${new Date(lostSince).toISOString()})`,
        placement: undefined,
        staleJobs: [{ cluster: 'carbon-kr', jobName: 'job' }],
        pastRuns: [{ cluster: 'carbon-kr', pool: 'FAST', startedAt, endedAt: lostSince, lost: true }],
      });
      expect(await requeued('carbon-kr')).toBe(1);
      expect(t.log.messages()).toContain('AppWrapper job requeued: cluster carbon-kr has not answered for 15 min; it runs again, from the start, where the next plan puts it');

      // The next plan puts it on carbon-jp, which answers; its new Job runs the whole 30 minutes again.
      const plan = (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json();
      const placed = plan.placed.find((p: { job_id: string }) => p.job_id === 'job');
      expect(placed.cluster).toBe('carbon-jp');
      clock.advanceTo(Date.parse(placed.planned_start));
      expect((await dispatch()).created).toEqual([{ job_id: 'job', cluster: 'carbon-jp', job_name: 'job', adopted: false }]);

      // carbon-kr answers again: the Job it still has is deleted, not adopted.
      sim(0).setReachable(true);
      expect((await dispatch()).deleted).toEqual([{ job_id: 'job', cluster: 'carbon-kr', job_name: 'job' }]);
      expect(await store().get('job')).toMatchObject({ phase: 'Running', placement: { cluster: 'carbon-jp' }, staleJobs: [] });
      clock.advanceMinutes(30);
      await dispatch();
      const done = (await store().get('job'))!;
      expect(done.phase).toBe('Succeeded');
      expect((done.finishedAt! - done.startedAt!) / 60_000).toBe(30);
    });

    it('accounts the carbon of the lost run of a job cancelled before it runs again, where it ran', async () => {
      await runThenLoseKr();
      const cancelled = (await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/job' })).json();
      expect(cancelled).toMatchObject({ phase: 'Cancelled', past_runs: [expect.objectContaining({ cluster: 'carbon-kr', lost: true })] });
      expect(cancelled.carbon?.actual_g).toBeGreaterThan(0);
      expect(cancelled.carbon.legs).toEqual([expect.objectContaining({ cluster: 'carbon-kr', pool: 'FAST' })]);
      const report = (await t.hub.app.inject({ method: 'GET', url: '/hub/report' })).json();
      expect(report.by_cluster.map((c: { cluster: string }) => c.cluster)).toEqual(['carbon-kr']);
    });

    it('reports a requeued job planned anew elsewhere and cancelled there before it started where it ran', async () => {
      await runThenLoseKr();
      await t.hub.loops.schedule.runOnce();
      expect(await store().get('job')).toMatchObject({ phase: 'Planned', targetCluster: 'carbon-jp' });
      const cancelled = (await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/job' })).json();
      expect(cancelled.carbon.legs).toEqual([expect.objectContaining({ cluster: 'carbon-kr' })]);
      const report = (await t.hub.app.inject({ method: 'GET', url: '/hub/report' })).json();
      expect(report.by_cluster.map((c: { cluster: string }) => c.cluster)).toEqual(['carbon-kr']);
    });

    it('requeues nothing from a cluster that answered again in time: its lost clock starts over', async () => {
      await store().insert(planned('job', 0));
      await dispatch();
      sim(0).setReachable(false);
      await dispatch();
      clock.advanceMinutes(10);
      sim(0).setReachable(true);
      await dispatch();
      sim(0).setReachable(false);
      await dispatch();
      // Ten more minutes down: the clock of the lost timeout started again when it answered.
      clock.advanceMinutes(10);
      expect((await dispatch()).requeued).toEqual([]);
      expect(await requeued('carbon-kr')).toBe(0);
    });
  });

  it('migrates a live job: new Job in the target first, old one deleted after', async () => {
    await store().insert(planned('mover', 0));
    await dispatch();
    await dispatch();
    await store().update('mover', (cur) => ({ ...cur, targetCluster: 'carbon-jp', migrating: true, co2EstimateG: 7 }));

    sim(1).setReachable(false);
    const blocked = await dispatch();
    expect(blocked.created).toEqual([]);
    expect(blocked.deleted).toEqual([]);
    expect((await sim(0).listJobs()).map((j) => j.jobName)).toEqual(['mover']);

    sim(1).setReachable(true);
    const moved = await dispatch();
    expect(moved.created).toEqual([{ job_id: 'mover', cluster: 'carbon-jp', job_name: 'mover-g2', adopted: false }]);
    expect(moved.deleted).toEqual([{ job_id: 'mover', cluster: 'carbon-kr', job_name: 'mover' }]);
    expect(await sim(0).listJobs()).toEqual([]);
    // The new Job keeps the estimate of the move that made it, for a later move given up to restore.
    expect(await store().get('mover')).toMatchObject({ phase: 'Dispatched', migrating: false, placement: { cluster: 'carbon-jp', jobName: 'mover-g2', generation: 2, co2EstimateG: 7 } });
  });

  /** The hub started again with JP split into a FAST pool and an ECO pool four times slower. */
  const withJpPools = async () => {
    await t.hub.stop();
    const world = twoRegions(4, 16, clock);
    world.regions[1] = { ...world.regions[1], pools: [{ name: 'FAST', share: 0.5 }, { name: 'ECO', share: 0.5, speed_factor: 4 }] };
    const jpPools = [
      { name: 'FAST' as const, share: 0.5, speedFactor: 1, powerFactor: 1, nodeSelector: {} },
      { name: 'ECO' as const, share: 0.5, speedFactor: 4, powerFactor: 1, nodeSelector: {} },
    ];
    spokes = [world.spokes[0]!, { info: { ...world.spokes[1]!.info, pools: jpPools }, client: new SimulatedSpoke('carbon-jp', { cpu: 4, memGb: 16, gpu: 0 }, clock, jpPools) }];
    t = await testHub({ regions: world.regions, migration: { network_gco2_per_gb: {} } }, { clock, spokes });
  };

  it('deletes the new Job of a move whose pool a plan changed while its create was in flight, and makes it for the new pool next', async () => {
    await withJpPools();
    await runOnKr();
    await store().update('mover', (cur) => ({ ...cur, ...decidedMove('carbon-jp'), targetPool: 'FAST' }));
    // The schedule cycle applies a new plan meanwhile: the same move, to the ECO pool.
    duringNextCreate(1, () => t.hub.lifecycle.change('mover', (cur) => ({ ...cur, targetPool: 'ECO' })));
    const summary = await dispatch();
    expect(summary.created).toEqual([]);
    expect(summary.deleted).toEqual([{ job_id: 'mover', cluster: 'carbon-jp', job_name: 'mover-g2' }]);
    expect(await store().get('mover')).toMatchObject({ phase: 'Running', migrating: true, targetCluster: 'carbon-jp', targetPool: 'ECO', placement: { cluster: 'carbon-kr' } });
    expect((await dispatch()).created).toEqual([{ job_id: 'mover', cluster: 'carbon-jp', job_name: 'mover-g2', adopted: false }]);
    expect(await store().get('mover')).toMatchObject({ migrating: false, placement: { cluster: 'carbon-jp', jobName: 'mover-g2', pool: 'ECO' } });
    expect((await sim(1).listJobs()).map((j) => j.jobName)).toEqual(['mover-g2']);
  });

  it('judges a late move on the plan it was listed with: one a plan sent meanwhile to a pool where it fits is carried out, not given up', async () => {
    await withJpPools();
    // 'other' is listed before 'mover'; its gate opens in the cycle below.
    await store().insert(planned('other', 10));
    const job = planned('mover', 0);
    await store().insert({ ...job, spec: { ...job.spec, runtimeMinutes: 150 } });
    await dispatch();
    await dispatch();
    clock.advanceMinutes(10);
    // A move decided before the hub stopped: to JP's ECO pool, where the rest (140 minutes x 4) no longer fits.
    await store().update('mover', (cur) => ({ ...cur, ...decidedMove('carbon-jp'), targetPool: 'ECO' }));
    // While other's create is in flight, a plan sends the move to JP's FAST pool (140 minutes left, 170 until the deadline).
    duringNextCreate(0, () => t.hub.lifecycle.change('mover', (cur) => ({ ...cur, targetPool: 'FAST' })));
    await dispatch();
    await dispatch();
    expect(await dropped('carbon-kr', 'carbon-jp', 'too_late')).toBe(0);
    expect(await store().get('mover')).toMatchObject({ migrating: false, placement: { cluster: 'carbon-jp', pool: 'FAST' } });
  });

  describe('a move carried out late, after its target was unreachable', () => {
    // 150 minutes of work, deadline in 180; the move to JP is decided after 10 minutes, JP does not answer, and
    // the move is judged after 60 (it would be made once JP answers): 90 minutes of work are left and 120 until the deadline.
    const cases = [
      { pool: 'ECO' as const, moves: false, why: 'on ECO (4 times slower) they would take 360: given up, even before JP answers; it keeps running on KR' },
      { pool: 'FAST' as const, moves: true, why: 'on FAST they still fit: carried out' },
    ];
    for (const { pool, moves, why } of cases) {
      it(why, async () => {
        await withJpPools();
        const job = planned('mover', 0);
        await store().insert({ ...job, spec: { ...job.spec, runtimeMinutes: 150 } });
        await dispatch();
        await dispatch();
        clock.advanceMinutes(10);
        await store().update('mover', (cur) => ({ ...cur, ...decidedMove('carbon-jp'), targetPool: pool }));
        sim(1).setReachable(false);
        clock.advanceMinutes(50);
        const whileDown = await dispatch();
        expect(whileDown.created).toEqual([]);
        expect(await dropped('carbon-kr', 'carbon-jp', 'too_late')).toBe(moves ? 0 : 1);
        sim(1).setReachable(true);
        const late = await dispatch();
        if (moves) {
          expect(late.created).toEqual([{ job_id: 'mover', cluster: 'carbon-jp', job_name: 'mover-g2', adopted: false }]);
          expect(await store().get('mover')).toMatchObject({ migrating: false, placement: { cluster: 'carbon-jp', pool: 'FAST' } });
          expect(await dropped('carbon-kr', 'carbon-jp', 'too_late')).toBe(0);
          return;
        }
        expect(late.created).toEqual([]);
        expect(late.deleted).toEqual([]);
        expect(await store().get('mover')).toMatchObject({ phase: 'Running', migrating: false, targetCluster: 'carbon-kr', placement: { cluster: 'carbon-kr', jobName: 'mover' } });
        expect(await sim(1).listJobs()).toEqual([]);
        expect(t.log.messages()).toContain('not moving mover to carbon-jp: the rest of its run on carbon-jp (pool ECO) would end past its deadline; it stays on carbon-kr');
        expect(await dropped('carbon-kr', 'carbon-jp', 'too_late')).toBe(1);
      });
    }
  });

  it('forgets finished AppWrappers after the retention period, never before, and never with a Job still to delete', async () => {
    await store().insert(planned('done', 0));
    await store().insert(planned('cancelled', 0, 'carbon-jp'));
    await dispatch();
    await dispatch();
    // The JP spoke is down when 'cancelled' is cancelled: its Job stays to be deleted.
    sim(1).setReachable(false);
    expect((await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/cancelled' })).statusCode).toBe(200);
    clock.advanceMinutes(30);
    await dispatch();
    expect((await store().get('done'))?.phase).toBe('Succeeded');

    clock.advance(168 * 3_600_000 - 60_000);
    expect((await dispatch()).pruned).toBe(0);
    clock.advanceMinutes(2);
    const summary = await dispatch();
    expect(summary.pruned).toBe(1);
    expect(await store().get('done')).toBeUndefined();
    expect((await store().get('cancelled'))?.staleJobs).toEqual([{ cluster: 'carbon-jp', jobName: 'cancelled' }]);
    expect(t.log.messages()).toContain('forgot 1 finished AppWrappers past their retention');
    expect(await t.hub.metrics.registry.getSingleMetricAsString('caspian_appwrappers_pruned_total')).toContain('caspian_appwrappers_pruned_total 1');

    sim(1).setReachable(true);
    expect((await dispatch()).pruned).toBe(1);
    expect(await store().list()).toEqual([]);
  });

  it('keeps each leg of a job migrated twice, and its last Job runs only the work left after both', async () => {
    const T = clock.now();
    await store().insert(planned('mover', 0));
    await dispatch();
    await dispatch();
    clock.advanceMinutes(10);
    await store().update('mover', (cur) => ({ ...cur, targetCluster: 'carbon-jp', migrating: true }));
    await dispatch();
    await dispatch();
    expect(await store().get('mover')).toMatchObject({ phase: 'Running', startedAt: T + 10 * 60_000 });
    clock.advanceMinutes(5);
    await store().update('mover', (cur) => ({ ...cur, targetCluster: 'carbon-kr', migrating: true }));
    await dispatch();
    await dispatch();
    expect((await store().get('mover'))?.pastRuns).toEqual([
      { cluster: 'carbon-kr', pool: 'FAST', startedAt: T, endedAt: T + 10 * 60_000 },
      { cluster: 'carbon-jp', pool: 'FAST', startedAt: T + 10 * 60_000, endedAt: T + 15 * 60_000 },
    ]);
    // 30 minutes of work, 15 done: the third Job ends 15 minutes after it started, not 25.
    clock.advanceMinutes(15);
    expect((await dispatch()).synced).toEqual([{ job_id: 'mover', phase: 'Succeeded' }]);
  });

  it('drops a migration the target cluster refuses: the job keeps running where it is, and the drop is logged and counted', async () => {
    await store().insert(planned('mover', 0));
    await dispatch();
    await dispatch();
    // A request bigger than all of JP (4 cores): JP refuses the new Job for good.
    await store().update('mover', (cur) => ({ ...cur, spec: { ...cur.spec, cpu: 8 }, ...decidedMove('carbon-jp') }));
    const summary = await dispatch();
    expect(summary.created).toEqual([]);
    expect(summary.failed).toEqual([expect.objectContaining({ job_id: 'mover', cluster: 'carbon-jp' })]);
    expect(await store().get('mover')).toMatchObject({ phase: 'Running', migrating: false, targetCluster: 'carbon-kr', placement: { cluster: 'carbon-kr', jobName: 'mover' } });
    // The move's metadata goes with it: the Job in place was never migrated.
    expect((await store().get('mover'))?.metadata).toEqual({});
    expect((await sim(0).listJobs()).map((j) => j.jobName)).toEqual(['mover']);
    expect(t.log.messages()).toContain('not moving mover to carbon-jp: the cluster refused its Job; it keeps running on carbon-kr');
    expect((await t.hub.metrics.registry.getSingleMetricAsString('caspian_migrations_dropped_total')).split('\n')).toContain(
      'caspian_migrations_dropped_total{from_cluster="carbon-kr",to_cluster="carbon-jp",reason="refused"} 1',
    );
  });

  describe('a move decided and not carried out, ended otherwise', () => {
    /** 'mover' runs in KR (planned at 42 g) with a move to JP (7 g) decided; JP does not answer, so the move waits. */
    async function pendingMove(): Promise<void> {
      await t.hub.loops.carbon.runOnce();
      await store().insert({ ...planned('mover', 0), co2EstimateG: 42 });
      await dispatch();
      await dispatch();
      await store().update('mover', (cur) => ({ ...cur, ...decidedMove('carbon-jp'), co2EstimateG: 7 }));
      sim(1).setReachable(false);
      expect((await dispatch()).created).toEqual([]);
      expect(await store().get('mover')).toMatchObject({ phase: 'Running', migrating: true, targetCluster: 'carbon-jp' });
    }

    it('is dropped as finished when the job finishes first, back with the cluster, metadata and CO2 estimate of its Job', async () => {
      await pendingMove();
      clock.advanceMinutes(30);
      expect((await dispatch()).synced).toEqual([{ job_id: 'mover', phase: 'Succeeded' }]);
      // The account plans with the estimate of the run that happened, not of the move that did not.
      expect(await store().get('mover')).toMatchObject({ phase: 'Succeeded', migrating: false, targetCluster: 'carbon-kr', co2EstimateG: 42, carbonAccount: { plannedG: 42 } });
      expect((await store().get('mover'))?.metadata).toEqual({});
      expect(await dropped('carbon-kr', 'carbon-jp', 'finished')).toBe(1);
      expect(t.log.messages()).toContain('not moving mover to carbon-jp: it finished (Succeeded) on carbon-kr first');
    });

    it('is dropped as cancelled when the job is cancelled, and the report counts the job where it ran', async () => {
      await pendingMove();
      clock.advanceMinutes(10);
      const cancelled = await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/mover' });
      expect(cancelled.json()).toMatchObject({ phase: 'Cancelled', target_cluster: 'carbon-kr', migrating: false, co2_estimate_g: 42 });
      expect(cancelled.json().metadata).toEqual({});
      expect(await dropped('carbon-kr', 'carbon-jp', 'cancelled')).toBe(1);
      expect(t.log.messages()).toContain('not moving mover to carbon-jp: it was cancelled');
      const report = (await t.hub.app.inject({ method: 'GET', url: '/hub/report' })).json();
      expect(report.by_cluster.map((g: { cluster: string; jobs: number }) => [g.cluster, g.jobs])).toEqual([['carbon-kr', 1]]);
    });

    it('is dropped as cluster_removed when its target is no longer configured', async () => {
      await t.hub.loops.carbon.runOnce();
      await store().insert(planned('mover', 0));
      await dispatch();
      await dispatch();
      await store().update('mover', (cur) => ({ ...cur, ...decidedMove('carbon-cn') }));
      const summary = await dispatch();
      expect(summary.created).toEqual([]);
      expect(await store().get('mover')).toMatchObject({ phase: 'Running', migrating: false, targetCluster: 'carbon-kr', placement: { cluster: 'carbon-kr', jobName: 'mover' } });
      expect((await store().get('mover'))?.metadata).toEqual({});
      expect(await dropped('carbon-kr', 'carbon-cn', 'cluster_removed')).toBe(1);
      expect(t.log.messages()).toContain('not moving mover to carbon-cn: carbon-cn is no longer configured');
    });
  });

  it('waits with a move until the cluster of its Job answers, and then drops it if the job started and cannot resume', async () => {
    await store().insert({ ...planned('mover', 0), spec: { ...planned('mover', 0).spec, checkpointing: false } });
    await dispatch();
    // Planned away before its Job was seen running; then KR stops answering while the Job starts there.
    await store().update('mover', (cur) => ({ ...cur, targetCluster: 'carbon-jp', migrating: true }));
    sim(0).setReachable(false);
    const blind = await dispatch();
    expect(blind.created).toEqual([]);
    expect(await sim(1).listJobs()).toEqual([]);
    expect(await store().get('mover')).toMatchObject({ migrating: true, placement: { cluster: 'carbon-kr', jobName: 'mover' } });

    sim(0).setReachable(true);
    const back = await dispatch();
    expect(back.created).toEqual([]);
    expect(await store().get('mover')).toMatchObject({ phase: 'Running', migrating: false, targetCluster: 'carbon-kr', placement: { cluster: 'carbon-kr', jobName: 'mover' } });
    expect(t.log.messages()).toContain('not moving mover to carbon-jp: it started running on carbon-kr and cannot resume elsewhere (checkpointing false)');
  });

  it('does not try to delete Jobs on a cluster known to be down, and deletes them once it is back', async () => {
    for (const id of ['a', 'b', 'c']) {
      await store().insert({ ...appWrapper(id).phase('Cancelled').obj(), finishedAt: clock.now(), staleJobs: [{ cluster: 'carbon-kr', jobName: id }] });
      await sim(0).createJob(spokeJob(id).cpu(1).runtimeSeconds(1800).activeDeadlineSeconds(7200).obj());
    }
    const deletes = vi.spyOn(sim(0), 'deleteJob');
    sim(0).setReachable(false);
    const down = await dispatch();
    expect(deletes).not.toHaveBeenCalled();
    expect(down.deleted).toEqual([]);
    expect((await store().get('a'))?.staleJobs).toEqual([{ cluster: 'carbon-kr', jobName: 'a' }]);

    sim(0).setReachable(true);
    expect((await dispatch()).deleted.map((d) => d.job_name).sort()).toEqual(['a', 'b', 'c']);
    expect(await sim(0).listJobs()).toEqual([]);
  });

  describe('a create whose answer was lost (the Job exists, the hub heard a time-out)', () => {
    it('of a move: the new Job running on the target since is adopted by the move, not dropped as too_late and deleted', async () => {
      const T = clock.now();
      // KR is taken by someone else's work for an hour: 'mover' (30 minutes of work, deadline in 35) waits there, Pending.
      await sim(0).createJob(spokeJob('blocker').cpu(4).runtimeSeconds(3600).activeDeadlineSeconds(7200).obj());
      await store().insert({ ...planned('mover', 0), deadlineAt: T + 35 * 60_000 });
      await dispatch();
      await dispatch();
      expect(await store().get('mover')).toMatchObject({ phase: 'Dispatched', placement: { cluster: 'carbon-kr' } });
      expect((await store().get('mover'))?.startedAt).toBeUndefined();

      // The plan moves it to JP (free). The create makes mover-g2 there, which starts at once, but the hub hears a time-out.
      await store().update('mover', (cur) => ({ ...cur, ...decidedMove('carbon-jp') }));
      loseTheAnswerOnce(1);
      expect((await dispatch()).failed).toHaveLength(1);
      expect(await store().get('mover')).toMatchObject({ migrating: true, unconfirmedJobs: [{ cluster: 'carbon-jp', jobName: 'mover-g2' }] });

      // JP stays away a few minutes; mover-g2 runs on there. When JP answers again at T+7, mover-g2 has run 7 of its
      // 30 minutes and ends at T+30, before the deadline: judged as a Job made at T+7 it would not (T+37).
      sim(1).setReachable(false);
      clock.advanceMinutes(6);
      await dispatch();
      sim(1).setReachable(true);
      clock.advanceMinutes(1);
      expect((await sim(1).listJobs()).map((j) => [j.jobName, j.phase, j.startedAt])).toEqual([['mover-g2', 'Running', T]]);
      await dispatch();
      await dispatch();
      expect(await dropped('carbon-kr', 'carbon-jp', 'too_late')).toBe(0);
      expect((await sim(1).listJobs()).map((j) => j.jobName)).toEqual(['mover-g2']);
      clock.advanceTo(T + 30 * 60_000);
      await dispatch();
      expect((await store().get('mover'))?.phase).toBe('Succeeded');
    });

    it('adopts the Job on the next cycle instead of creating a second one', async () => {
      await store().insert(planned('job', 0));
      loseTheAnswerOnce(0);
      expect((await dispatch()).failed).toHaveLength(1);
      expect((await store().get('job'))?.phase).toBe('Planned');

      const next = await dispatch();
      expect(next.created).toEqual([{ job_id: 'job', cluster: 'carbon-kr', job_name: 'job', adopted: true }]);
      expect(await store().get('job')).toMatchObject({ phase: 'Running', placement: { cluster: 'carbon-kr', jobName: 'job', generation: 1 } });
      expect((await sim(0).listJobs()).map((j) => j.jobName)).toEqual(['job']);
      expect(t.log.messages()).toContain('Job job found on carbon-kr adopted: its create had not been answered');
    });

    it('deletes the Job when the job was planned elsewhere meanwhile', async () => {
      await store().insert(planned('job', 0));
      loseTheAnswerOnce(0);
      await dispatch();
      await store().update('job', (cur) => ({ ...cur, targetCluster: 'carbon-jp' }));

      const next = await dispatch();
      expect(next.created).toEqual([{ job_id: 'job', cluster: 'carbon-jp', job_name: 'job', adopted: false }]);
      expect(next.deleted).toEqual([{ job_id: 'job', cluster: 'carbon-kr', job_name: 'job' }]);
      expect(await sim(0).listJobs()).toEqual([]);
      expect(await store().get('job')).toMatchObject({ phase: 'Dispatched', placement: { cluster: 'carbon-jp' }, staleJobs: [] });
    });

    it('a migration that meets its failed lost-answer Job on the target reports no Job created in the cycle summary', async () => {
      await store().insert(planned('mover', 0));
      await dispatch();
      await dispatch();
      expect(await store().get('mover')).toMatchObject({ phase: 'Running', placement: { cluster: 'carbon-kr' } });
      // T+5: a move to JP; the create makes mover-g2 there but its answer is lost, and that Job fails there soon after.
      clock.advanceMinutes(5);
      await store().update('mover', (cur) => ({ ...cur, ...decidedMove('carbon-jp') }));
      loseTheAnswerOnce(1, (r) => ({ ...r, activeDeadlineSeconds: 10 }));
      expect((await dispatch()).failed).toHaveLength(1);
      clock.advanceMinutes(1);
      const summary = await dispatch();
      // The job keeps running on KR; the failed mover-g2 is given up and deleted.
      expect(await store().get('mover')).toMatchObject({ phase: 'Running', migrating: false, placement: { cluster: 'carbon-kr', jobName: 'mover' } });
      expect(summary.deleted).toEqual([{ job_id: 'mover', cluster: 'carbon-jp', job_name: 'mover-g2' }]);
      // DispatchSummary.created: "Jobs created (or adopted) that their AppWrapper now runs": not mover-g2.
      expect(summary.created).toEqual([]);
    });

    it('a gate whose create answer was lost is judged by the listing, not as a job starting now: its running Job is adopted and succeeds', async () => {
      const T = clock.now();
      // 30 minutes of work, planned now, deadline in 35 minutes.
      await store().insert({ ...planned('tight', 0), deadlineAt: T + 35 * 60_000 });
      // The gate opens: the Job is made on KR and starts, but the hub hears a time-out (and KR is marked unreachable).
      loseTheAnswerOnce(0);
      expect((await dispatch()).failed).toHaveLength(1);
      expect(await store().get('tight')).toMatchObject({ phase: 'Planned', unconfirmedJobs: [{ cluster: 'carbon-kr', jobName: 'tight' }] });
      // KR stays away for a few minutes (a network blip); its Job runs on.
      sim(0).setReachable(false);
      clock.advanceMinutes(6);
      await dispatch();
      // Neither cycle judges it as a job that would start now: the schedule cycle leaves it to the listing too.
      await t.hub.loops.schedule.runOnce();
      expect((await store().get('tight'))?.phase).toBe('Planned');
      // KR answers again at T+7: its Job has run 7 of its 30 minutes and finishes at T+30, before the T+35 deadline.
      sim(0).setReachable(true);
      clock.advanceMinutes(1);
      await dispatch();
      // Judged as a new Job from T+6 it could not finish by the deadline: the job would have been failed, and its
      // running Job deleted as stale once KR answered.
      expect((await sim(0).listJobs()).map((j) => [j.jobName, j.phase])).toEqual([['tight', 'Running']]);
      expect((await store().get('tight'))?.phase).not.toBe('Failed');
      clock.advanceTo(T + 30 * 60_000);
      await dispatch();
      expect(await store().get('tight')).toMatchObject({ phase: 'Succeeded', finishedAt: T + 30 * 60_000 });
    });

    it.each([
      { affinity: ['KR'], instead: 'made Unschedulable (no ready cluster among its regions)' },
      { affinity: [], instead: 'moved to JP' },
    ])('a gate whose create answer was lost stays planned on its cluster while that cluster is away, not $instead', async ({ affinity }) => {
      await store().insert({ ...planned('job', 0), spec: { ...planned('job', 0).spec, affinityRegions: affinity } });
      loseTheAnswerOnce(0);
      await dispatch();
      sim(0).setReachable(false);
      const cycle = await t.hub.loops.schedule.runOnce();
      // Its Job may be running on KR: planning the job now would have that Job deleted as not its own once KR answers.
      expect(cycle).toMatchObject({ unconfirmed: ['job'], unschedulable: [], placed: [] });
      expect(await store().get('job')).toMatchObject({ phase: 'Planned', targetCluster: 'carbon-kr' });

      sim(0).setReachable(true);
      expect((await dispatch()).created).toEqual([{ job_id: 'job', cluster: 'carbon-kr', job_name: 'job', adopted: true }]);
    });
  });

  it('fails a live job whose Job is on a cluster no longer configured', async () => {
    const running = appWrapper('orphan').cpu(1).phase('Running').target('carbon-cn').placement({ cluster: 'carbon-cn', jobName: 'orphan', generation: 1, pool: 'FAST' }).obj();
    await store().insert({ ...running, startedAt: clock.now(), updatedAt: clock.now() });
    expect((await dispatch()).synced).toEqual([{ job_id: 'orphan', phase: 'Failed' }]);
    expect(await store().get('orphan')).toMatchObject({ phase: 'Failed', reason: 'its Job orphan is on cluster carbon-cn, which is no longer configured' });
    expect(t.log.messages()).toContain('AppWrapper orphan failed: its Job orphan is on cluster carbon-cn, which is no longer configured');
  });

  it('drops the move of a job whose Job is on a cluster no longer configured as cluster_removed', async () => {
    const running = appWrapper('orphan').cpu(1).phase('Running').target('carbon-jp').migrating().placement({ cluster: 'carbon-cn', jobName: 'orphan', generation: 1, pool: 'FAST' }).obj();
    await store().insert({ ...running, startedAt: clock.now(), updatedAt: clock.now() });
    expect((await dispatch()).synced).toEqual([{ job_id: 'orphan', phase: 'Failed' }]);
    expect(await store().get('orphan')).toMatchObject({ phase: 'Failed', migrating: false, targetCluster: 'carbon-cn' });
    expect(await dropped('carbon-cn', 'carbon-jp', 'cluster_removed')).toBe(1);
    expect(t.log.messages()).toContain('not moving orphan to carbon-jp: carbon-cn is no longer configured');
  });

  it('fails a job whose gate would open too late to finish, instead of creating a Job that hits its deadline', async () => {
    // 30 minutes of work, planned to start now, deadline in 40 minutes; its cluster does not answer for 15.
    await store().insert({ ...planned('late', 0), deadlineAt: clock.now() + 40 * 60_000 });
    sim(0).setReachable(false);
    await dispatch();
    sim(0).setReachable(true);
    clock.advanceMinutes(15);
    const summary = await dispatch();
    expect(summary.created).toEqual([]);
    expect(summary.synced).toEqual([{ job_id: 'late', phase: 'Failed' }]);
    expect(await store().get('late')).toMatchObject({ phase: 'Failed', reason: 'DeadlineExceeded: it can no longer finish before its deadline' });
    expect(await sim(0).listJobs()).toEqual([]);
  });

  it('deletes a gate Job whose AppWrapper was re-planned to a later start while the create was in flight, and opens the gate then', async () => {
    await store().insert(planned('job', 0));
    const later = clock.now() + 120 * 60_000;
    // The schedule cycle applies a new plan meanwhile: same cluster and pool, two hours later.
    duringNextCreate(0, () => t.hub.lifecycle.change('job', (cur) => ({ ...cur, plannedStartAt: later })));
    const summary = await dispatch();
    // Not listed as created: the AppWrapper did not take the Job (an API client reads created as Dispatched).
    expect(summary.created).toEqual([]);
    expect(summary.deleted).toEqual([{ job_id: 'job', cluster: 'carbon-kr', job_name: 'job' }]);
    expect(await store().get('job')).toMatchObject({ phase: 'Planned', plannedStartAt: later, gateOpen: false, staleJobs: [] });
    expect(await sim(0).listJobs()).toEqual([]);
    clock.advanceTo(later);
    expect((await dispatch()).created).toEqual([{ job_id: 'job', cluster: 'carbon-kr', job_name: 'job', adopted: false }]);
  });

  it('keeps a gate Job whose AppWrapper a cycle started meanwhile re-planned to start now (later than the dispatch began, not later than now)', async () => {
    await store().insert(planned('job', 0));
    // A schedule cycle that began a second after this dispatch plans the job at its slot 0: "now", for it.
    duringNextCreate(0, () => {
      clock.advance(1_000);
      return t.hub.lifecycle.change('job', (cur) => ({ ...cur, plannedStartAt: clock.now() }));
    });
    const summary = await dispatch();
    expect(summary.created).toEqual([{ job_id: 'job', cluster: 'carbon-kr', job_name: 'job', adopted: false }]);
    expect(summary.deleted).toEqual([]);
    expect(await store().get('job')).toMatchObject({ phase: 'Dispatched', placement: { jobName: 'job' } });
  });

  it('adopts the Job of a gate opened a tick early whose create answer was lost, in a cycle before the planned start', async () => {
    // 30 minutes of work planned at its very last moment, 10 s after this tick: the gate opens now.
    const start = clock.now() + 10_000;
    await store().insert({ ...planned('last', 0), deadlineAt: start + 30 * 60_000, plannedStartAt: start });
    // The create makes the Job, but its answer is lost (a time-out).
    loseTheAnswerOnce(0);
    expect((await dispatch()).failed).toHaveLength(1);
    // An on-demand cycle 5 s later, still before the planned start, finds the Job: it is the gate's, not stale.
    clock.advance(5_000);
    const next = await dispatch();
    expect(next.created).toEqual([{ job_id: 'last', cluster: 'carbon-kr', job_name: 'last', adopted: true }]);
    expect(next.deleted).toEqual([]);
    clock.advance(25_000);
    await dispatch();
    const last = await store().get('last');
    expect([last?.phase, last?.reason]).toEqual(['Running', undefined]);
  });

  it('does not fail a job at its gate for lateness on a listing that a plan applied meanwhile made stale', async () => {
    // 'late' has 30 minutes of work and a deadline in 20: as listed, its gate opens too late.
    await store().insert(planned('first', 0));
    await store().insert({ ...planned('late', 0), deadlineAt: clock.now() + 20 * 60_000 });
    // While 'first' is being created, a plan moves 'late' to carbon-jp (the next cycle judges it there).
    duringNextCreate(0, () => t.hub.lifecycle.change('late', (cur) => ({ ...cur, targetCluster: 'carbon-jp' })));
    const summary = await dispatch();
    expect(summary.synced).toEqual([]);
    expect(await store().get('late')).toMatchObject({ phase: 'Planned', targetCluster: 'carbon-jp' });
  });

  it('does not take over the finished Job an earlier job with the same id left behind, and runs its own', async () => {
    // An earlier 'x' ran and finished; its AppWrapper was forgotten (retention), its Job stayed.
    await sim(0).createJob(spokeJob('x').cpu(1).runtimeSeconds(600).activeDeadlineSeconds(7200).obj());
    clock.advanceMinutes(120);
    expect((await sim(0).listJobs()).map((j) => j.phase)).toEqual(['Succeeded']);

    await store().insert(planned('x', 0));
    const first = await dispatch();
    expect(first.created).toEqual([]);
    expect(first.synced).toEqual([]);
    expect(first.deleted).toEqual([{ job_id: 'x', cluster: 'carbon-kr', job_name: 'x' }]);
    expect((await store().get('x'))?.phase).toBe('Planned');

    const second = await dispatch();
    expect(second.created).toEqual([{ job_id: 'x', cluster: 'carbon-kr', job_name: 'x', adopted: false }]);
    expect(await store().get('x')).toMatchObject({ phase: 'Dispatched', placement: { cluster: 'carbon-kr', jobName: 'x' } });
    expect((await sim(0).listJobs()).map((j) => [j.jobName, j.phase])).toEqual([['x', 'Running']]);
  });

  it('drops a migration planned away and back before it happened', async () => {
    await store().insert(planned('mover', 0));
    await dispatch();
    await store().update('mover', (cur) => ({ ...cur, migrating: true }));
    const summary = await dispatch();
    expect(summary.created).toEqual([]);
    expect(await store().get('mover')).toMatchObject({ migrating: false, placement: { cluster: 'carbon-kr', jobName: 'mover' } });
  });

  it('ends the old leg when an adopted migration Job was made (its create answer lost), so the next Job gets the work left', async () => {
    const T = clock.now();
    await runOnKr();
    // T+5: the plan moves the job to JP. The create makes mover-g2 there (it starts at once), but its answer is lost.
    clock.advanceMinutes(5);
    await store().update('mover', (cur) => ({ ...cur, ...decidedMove('carbon-jp') }));
    loseTheAnswerOnce(1);
    expect((await dispatch()).failed).toHaveLength(1);
    // T+10: the next cycle adopts mover-g2, which has run since T+5 from the state the job had at T+5.
    clock.advanceMinutes(5);
    expect((await dispatch()).created).toEqual([{ job_id: 'mover', cluster: 'carbon-jp', job_name: 'mover-g2', adopted: true }]);
    await dispatch();
    expect((await store().get('mover'))?.startedAt).toBe(T + 5 * 60_000);

    // T+15: moved back to KR. Work really done: 5 min on KR up to T+5, then 10 min of mover-g2: 15 of 30.
    clock.advanceMinutes(5);
    await store().update('mover', (cur) => ({ ...cur, ...decidedMove('carbon-kr', 'carbon-jp') }));
    const creates = vi.spyOn(sim(0), 'createJob');
    await dispatch();
    const third = creates.mock.calls[0]?.[0] as SpokeJobRequest;
    expect(third.jobName).toBe('mover-g3');
    // Not the KR leg up to T+10 (when the hub adopted) beside mover-g2's run from T+5: 20 minutes, which sent
    // the last Job 10 minutes and let the job "succeed" 5 minutes of work short.
    expect(third.runtimeSeconds).toBe(15 * 60);
  });

  it('counts a cluster lost when it answers its status but never lists its Jobs, and requeues its running job', async () => {
    await runOnKr();
    // KR's Job list fails from now on (a time-out on a big list, an RBAC rule lost), while its status answers.
    vi.spyOn(sim(0), 'listJobs').mockRejectedValue(new AdapterError('list Jobs on carbon-kr timed out', true));
    // One hour of dispatch ticks: the hub never reads KR's Jobs again (the job's Job finished 30 minutes in).
    for (let i = 0; i < 12; i++) {
      clock.advanceMinutes(5);
      await dispatch();
    }
    // README: once a cluster has not answered for spokes.lost_after_seconds (15 min), its Dispatched and Running
    // jobs go back to Pending. A status answer no longer resets unready_since while the Jobs cannot be listed.
    expect(await metricValue(t.hub.metrics, 'caspian_jobs_requeued_total', { cluster: 'carbon-kr' })).toBe(1);
    expect((await store().get('mover'))?.phase).toBe('Pending');
  });

  it('reads the outcome of a job that finished on its old cluster while its new Job was being made, and deletes the new Job', async () => {
    const T = clock.now();
    await runOnKr();
    // T+29: one minute of work left; the plan moves it to JP.
    clock.advanceMinutes(29);
    await store().update('mover', (cur) => ({ ...cur, ...decidedMove('carbon-jp') }));
    // The create takes two minutes (a slow API server): the job's Job in KR succeeds meanwhile, at T+30.
    duringNextCreate(1, () => clock.advanceMinutes(2));
    const krDeletes = vi.spyOn(sim(0), 'deleteJob');
    const summary = await dispatch();
    // README: "A move also ends uncarried when the job finishes ... first".
    expect(await store().get('mover')).toMatchObject({ phase: 'Succeeded', finishedAt: T + 30 * 60_000, placement: { cluster: 'carbon-kr', jobName: 'mover' } });
    expect(krDeletes).not.toHaveBeenCalledWith('mover');
    expect(summary.created).toEqual([]);
    expect(summary.deleted).toEqual([{ job_id: 'mover', cluster: 'carbon-jp', job_name: 'mover-g2' }]);
    expect(await dropped('carbon-kr', 'carbon-jp', 'finished')).toBe(1);
  });
});
