import { afterEach, describe, expect, it } from 'vitest';
import { AdapterError } from '../../src/domain/errors.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import type { SpokeJobRequest } from '../../src/spokes/types.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { FakeClock } from '../support/fake-clock.js';
import { dispatch, FlatProvider, region, schedule, submit, view } from '../support/flat-hub.js';
import { testHub, type TestHub } from '../support/hub.js';
import { metricValue } from '../support/metric-value.js';

/**
 * Running jobs in the schedule cycle: "stay, or move now", never a move that cannot finish by the deadline,
 * and the cores they hold never handed to other jobs, whether the plan holds them or not.
 */
/** A cluster whose admission refuses every CASPIAN Job (a webhook, a policy): for good, as a 4xx is. */
class RefusingSpoke extends SimulatedSpoke {
  refusals = 0;
  override async createJob(request: SpokeJobRequest): Promise<'created' | 'adopted'> {
    this.refusals++;
    throw new AdapterError(`admission webhook "policy.example.com" denied the request: Job ${request.jobName} is not allowed`, false);
  }
}

describe('running jobs in the schedule cycle', () => {
  let t: TestHub;
  afterEach(() => t.hub.stop());

  it('a running job is not moved to a pool where the rest of its run cannot finish before its deadline', async () => {
    // KR's ECO pool runs a job 1.5x as long, JP's 3x (older nodes): both are configurable per region.
    const clock = new FakeClock();
    const provider = new FlatProvider(clock, { KR: 400, JP: 450 });
    t = await testHub(
      {
        regions: [
          region('KR', [{ name: 'FAST', share: 0.5 }, { name: 'ECO', share: 0.5, speed_factor: 1.5, power_factor: 0.6 }]),
          region('JP', [{ name: 'FAST', share: 0.5 }, { name: 'ECO', share: 0.5, speed_factor: 3, power_factor: 0.5 }]),
        ],
        migration: { network_gco2_per_gb: {} },
      },
      { clock, carbonProvider: provider },
    );
    await t.hub.loops.carbon.runOnce();
    // 60 min of work, 100 min to do it: on KR's ECO pool it takes 90 min and ends at 01:30, before its 01:40 deadline.
    await submit(t, { job_id: 'eco', cpu: 8, mem_gb: 4, runtime_minutes: 60, deadline_minutes: 100 });
    const first = await schedule(t);
    expect(first.placed).toEqual([expect.objectContaining({ job_id: 'eco', cluster: 'carbon-kr', pool: 'ECO' })]);
    await dispatch(t);
    await dispatch(t);
    expect((await view(t, 'eco')).phase).toBe('Running');

    // Five minutes in, JP becomes far cleaner. Its ECO pool would need 55 x 3 = 165 more minutes: past the deadline.
    clock.advanceMinutes(5);
    provider.values.KR = 800;
    provider.values.JP = 50;
    await t.hub.loops.carbon.runOnce();
    await schedule(t);
    await dispatch(t);

    clock.advanceMinutes(100);
    await dispatch(t);
    // Left where it ran, it would have succeeded at 01:30. Moved, its new Job is killed at the deadline.
    expect(await view(t, 'eco')).toMatchObject({ phase: 'Succeeded' });
  });

  it('a running job the plan cannot hold keeps its cores: a new job is not planned onto them', async () => {
    // KR's FAST pool offers half its 8 cores while its grid is dirtier than 500 gCO2/kWh; JP has 8 free cores.
    const clock = new FakeClock();
    const provider = new FlatProvider(clock, { KR: 400, JP: 700 });
    t = await testHub(
      {
        regions: [{ ...region('KR', undefined, 8), fast_scale_down: { threshold_gco2_per_kwh: 500, capacity_factor: 0.5 } }, region('JP', undefined, 8)],
        migration: { network_gco2_per_gb: {} },
      },
      { clock, carbonProvider: provider },
    );
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'big', cpu: 8, runtime_minutes: 120, deadline_minutes: 600, affinity_regions: ['KR'] });
    await schedule(t);
    await dispatch(t);
    await dispatch(t);
    expect((await view(t, 'big')).phase).toBe('Running');

    // KR turns dirty: its FAST pool offers 4 cores, which 'big' (8 cores, running until 02:00) cannot fit in.
    clock.advanceMinutes(5);
    provider.values.KR = 600;
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'small', cpu: 4, runtime_minutes: 30, deadline_minutes: 60 });
    const summary = await schedule(t);
    // KR has no free core until 02:00: only JP can run 'small' before its deadline.
    expect(summary.placed.find((p: { job_id: string }) => p.job_id === 'small')).toMatchObject({ cluster: 'carbon-jp' });
    await dispatch(t);
    clock.advanceMinutes(60);
    await dispatch(t);
    expect(await view(t, 'small')).toMatchObject({ phase: 'Succeeded' });
  });

  it('a running job outside the plan (its pool is gone) keeps its cores: a new job is not planned onto them', async () => {
    const clock = new FakeClock();
    const provider = new FlatProvider(clock, { KR: 400, JP: 700 });
    t = await testHub({ regions: [region('KR', undefined, 8), region('JP', undefined, 8)], migration: { network_gco2_per_gb: {} } }, { clock, carbonProvider: provider });
    await t.hub.loops.carbon.runOnce();
    // A hub restarted without ECO pools, with a 6-core job still running on KR's ECO nodes.
    const running = appWrapper('eco').cpu(6).phase('Running').target('carbon-kr').placement({ cluster: 'carbon-kr', jobName: 'eco', generation: 1, pool: 'ECO' }).obj();
    await t.hub.lifecycle.store.insert({ ...running, targetPool: 'ECO', startedAt: clock.now(), deadlineAt: clock.now() + 600 * 60_000 });
    await submit(t, { job_id: 'small', cpu: 4, runtime_minutes: 30, deadline_minutes: 60, urgency: 'urgent' });
    const summary = await schedule(t);
    expect(summary.outside_plan).toEqual([{ job_id: 'eco', reason: 'pool ECO, which its cluster no longer offers' }]);
    // KR is cleaner, but 2 of its 8 cores are free while 'eco' runs: 'small' goes to JP.
    expect(summary.placed.find((p: { job_id: string }) => p.job_id === 'small')).toMatchObject({ cluster: 'carbon-jp' });
  });

  /** 'long' runs on KR; JP turns much cleaner, the plan moves the job there, and JP refuses the new Job. */
  async function refusedByJp() {
    const clock = new FakeClock();
    const provider = new FlatProvider(clock, { KR: 100, JP: 700 });
    const kr = new SimulatedSpoke('carbon-kr', { cpu: 16, memGb: 64, gpu: 0 }, clock);
    const jp = new RefusingSpoke('carbon-jp', { cpu: 16, memGb: 64, gpu: 0 }, clock);
    const spokes = [
      { info: { name: 'carbon-kr', region: 'KR', zone: 'KR' }, client: kr },
      { info: { name: 'carbon-jp', region: 'JP', zone: 'JP' }, client: jp },
    ];
    t = await testHub({ regions: [region('KR'), region('JP')], migration: { network_gco2_per_gb: {} } }, { clock, spokes, carbonProvider: provider });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'long', runtime_minutes: 600, deadline_minutes: 1440, urgency: 'urgent' });
    await schedule(t);
    await dispatch(t);
    await dispatch(t);
    expect(await view(t, 'long')).toMatchObject({ phase: 'Running', target_cluster: 'carbon-kr', job: { cluster: 'carbon-kr', name: 'long' } });

    provider.values.KR = 700;
    provider.values.JP = 100;
    await t.hub.loops.carbon.runOnce();
    expect((await schedule(t)).migrations).toEqual([expect.objectContaining({ job_id: 'long', to_cluster: 'carbon-jp' })]);
    await dispatch(t);
    expect(jp.refusals).toBe(1);
    return { clock, kr, jp };
  }

  it('a running job is not planned to move again to a cluster that refused its Job', async () => {
    const { clock, jp } = await refusedByJp();
    // It used to decide the same move every cycle, each refused, counted and logged again.
    for (let cycle = 0; cycle < 3; cycle++) {
      clock.advanceMinutes(5);
      await t.hub.loops.carbon.runOnce();
      expect((await schedule(t)).migrations).toEqual([]);
      await dispatch(t);
    }
    expect(jp.refusals).toBe(1);
    expect(await metricValue(t.hub.metrics, 'caspian_migrations_dropped_total', { from_cluster: 'carbon-kr', to_cluster: 'carbon-jp', reason: 'refused' })).toBe(1);
    expect(await view(t, 'long')).toMatchObject({ phase: 'Running', target_cluster: 'carbon-kr', job: { cluster: 'carbon-kr', name: 'long' }, refused_by: ['carbon-jp'] });
  });

  /** After `refusedByJp`, KR stops answering past spokes.lost_after_seconds: the job is requeued, Pending, JP still refused. */
  async function requeuedAfterRefusal() {
    const world = await refusedByJp();
    world.kr.setReachable(false);
    await dispatch(t);
    world.clock.advanceMinutes(16);
    await t.hub.loops.carbon.runOnce();
    await dispatch(t);
    expect(await view(t, 'long')).toMatchObject({ phase: 'Pending', refused_by: ['carbon-jp'] });
    return world;
  }

  it('a job requeued off a lost cluster is not planned onto the cluster that refused its Job (its gate would fail it), but where it may run', async () => {
    const { kr } = await requeuedAfterRefusal();
    // KR answers again. JP is still the cleaner, but JP refuses this job's Jobs.
    kr.setReachable(true);
    const summary = await schedule(t);
    expect(summary.placed.find((p: { job_id: string }) => p.job_id === 'long')).toMatchObject({ cluster: 'carbon-kr' });
    await dispatch(t);
    expect((await view(t, 'long')).phase).not.toBe('Failed');
  });

  it('a job requeued off a lost cluster is Unschedulable, naming the refusal, while only the cluster that refused it answers', async () => {
    await requeuedAfterRefusal();
    const summary = await schedule(t);
    expect(summary.placed).toEqual([]);
    expect(summary.unschedulable).toEqual([{ job_id: 'long', reason: 'every ready cluster among its regions refused a Job of it (refused_by: carbon-jp)' }]);
    expect((await view(t, 'long')).phase).toBe('Unschedulable');
  });

  it('a running job the plan moves shows the move\'s start, and its own start again when the move is given up', async () => {
    const clock = new FakeClock();
    const provider = new FlatProvider(clock, { KR: 100, JP: 700 });
    t = await testHub({ regions: [region('KR'), region('JP')], migration: { network_gco2_per_gb: {} } }, { clock, carbonProvider: provider });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'long', runtime_minutes: 600, deadline_minutes: 1440, urgency: 'urgent' });
    await schedule(t);
    await dispatch(t);
    await dispatch(t);
    const started = (await view(t, 'long')).planned_start;

    clock.advanceMinutes(5);
    provider.values.KR = 700;
    provider.values.JP = 100;
    await t.hub.loops.carbon.runOnce();
    const moved = await schedule(t);
    const placed = moved.placed.find((p: { job_id: string }) => p.job_id === 'long');
    expect(placed).toMatchObject({ cluster: 'carbon-jp' });
    // It used to keep its first start while the summary and the decision log gave the move's.
    expect(await view(t, 'long')).toMatchObject({ target_cluster: 'carbon-jp', migrating: true, planned_start: placed.planned_start });

    // Before the move is carried out, KR is the cleaner again: the move is given up, the Job in place keeps its start.
    provider.values.KR = 100;
    provider.values.JP = 700;
    await t.hub.loops.carbon.runOnce();
    await schedule(t);
    expect(await view(t, 'long')).toMatchObject({ target_cluster: 'carbon-kr', migrating: false, planned_start: started });
  });
});
