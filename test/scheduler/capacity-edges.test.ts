import { afterEach, describe, expect, it } from 'vitest';
import type { AppWrapper, Resources } from '../../src/domain/app-wrapper.js';
import type { ClusterStatus } from '../../src/domain/cluster.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { FakeClock } from '../support/fake-clock.js';
import { configuredSpokes, FlatProvider, region, schedule, submit } from '../support/flat-hub.js';
import { testHub, type TestHub } from '../support/hub.js';

type Placed = { job_id: string; cluster: string; pool: string; planned_start: string };

/** A job already running (its Job made) on `cluster`/`pool`, started now, with `restMinutes` of work left. */
function running(t: TestHub, id: string, cluster: string, pool: 'FAST' | 'ECO', spec: Partial<AppWrapper['spec']>, deadlineMinutes: number): AppWrapper {
  const base = appWrapper(id).phase('Running').target(cluster).placement({ cluster, jobName: id, generation: 1, pool }).obj();
  const now = t.clock.now();
  return { ...base, spec: { ...base.spec, ...spec }, targetPool: pool, submittedAt: now, updatedAt: now, startedAt: now, plannedStartAt: now, deadlineAt: now + deadlineMinutes * 60_000 };
}

/** A simulated cluster whose status also reports `foreign` resources held by workloads CASPIAN does not manage. */
class BusySpoke extends SimulatedSpoke {
  foreign: Resources = { cpu: 0, memGb: 0, gpu: 0 };
  override async status(): Promise<ClusterStatus> {
    return { ...(await super.status()), foreignUsage: { ...this.foreign } };
  }
}

describe('the schedule cycle\'s picture of the clusters', () => {
  let t: TestHub;
  afterEach(() => t.hub.stop());

  it('a running job is held on its cluster for its whole run, not cut short because another allowed region has a slower pool', async () => {
    // KR: 8 cores, one FAST pool. JP: 4 cores, its FAST nodes three times as slow. Horizon: one hour (12 slots).
    const clock = new FakeClock();
    t = await testHub(
      { horizon_hours: 1, regions: [region('KR', undefined, 8), region('JP', [{ name: 'FAST', share: 1, speed_factor: 3 }], 4)], migration: { network_gco2_per_gb: {} } },
      { clock, carbonProvider: new FlatProvider(clock, { KR: 300, JP: 600 }) },
    );
    await t.hub.loops.carbon.runOnce();
    // 'long' takes all 8 KR cores for the next 60 minutes (it cannot move: JP has only 4 cores).
    await t.hub.lifecycle.store.insert(running(t, 'long', 'carbon-kr', 'FAST', { cpu: 8, runtimeMinutes: 60 }, 600));
    // 'next' may only run on KR and must finish within the hour: KR has no free core in that hour.
    await submit(t, { job_id: 'next', cpu: 8, runtime_minutes: 30, deadline_minutes: 60, affinity_regions: ['KR'] });
    const summary = await schedule(t);
    expect(summary.placed.find((p: Placed) => p.job_id === 'long')).toMatchObject({ cluster: 'carbon-kr' });
    // It used to be: 'long' is held on KR for 4 slots only (the horizon over JP's speed 3), so 'next' is planned onto
    // KR at 00:20, onto cores 'long' still uses until 01:00.
    expect(summary.placed.find((p: Placed) => p.job_id === 'next')).toBeUndefined();
    expect(summary.unschedulable.map((u: { job_id: string }) => u.job_id)).toEqual(['next']);
  });

  it('a running job that overflows its pool\'s share takes that room from the other pool: the cluster is not planned past what is free', async () => {
    // KR: 16 cores, half FAST and half ECO. 8 of its cores are taken by workloads CASPIAN does not manage.
    const clock = new FakeClock();
    const regions = [region('KR', [{ name: 'FAST', share: 0.5 }, { name: 'ECO', share: 0.5, speed_factor: 1.5, power_factor: 0.6 }], 16)];
    const { spokes, clients } = configuredSpokes(regions, clock, BusySpoke);
    clients.get('carbon-kr')!.foreign = { cpu: 8, memGb: 0, gpu: 0 };
    t = await testHub({ horizon_hours: 1, regions }, { clock, spokes, carbonProvider: new FlatProvider(clock, { KR: 300 }) });
    await t.hub.loops.carbon.runOnce();
    // 'busy' holds the other 8 cores for the next hour: the cluster has none free.
    await t.hub.lifecycle.store.insert(running(t, 'busy', 'carbon-kr', 'FAST', { cpu: 8, runtimeMinutes: 60 }, 600));
    await submit(t, { job_id: 'more', cpu: 4, runtime_minutes: 20, deadline_minutes: 60, urgency: 'flexible' });
    const summary = await schedule(t);
    // 'busy' keeps its cores, in the plan or held outside it.
    expect([...summary.placed, ...summary.outside_plan].map((p: { job_id: string }) => p.job_id)).toContain('busy');
    // FAST used to be offered max(8 x 0.5, 8 held) = 8 cores and ECO another 8 x 0.5 = 4: 12 cores of a cluster
    // with 8 free, and 'more' was planned onto cores nobody has.
    expect(summary.placed.find((p: Placed) => p.job_id === 'more')).toBeUndefined();
  });

  it('a running job whose pool its own cluster no longer offers (another cluster still does) keeps its cores there', async () => {
    // A hub restarted with KR's ECO pool taken out of the configuration; JP still has one.
    const clock = new FakeClock();
    t = await testHub(
      { regions: [region('KR', undefined, 8), region('JP', [{ name: 'FAST', share: 0.5 }, { name: 'ECO', share: 0.5, speed_factor: 1.5, power_factor: 0.6 }], 8)], migration: { network_gco2_per_gb: {} } },
      { clock, carbonProvider: new FlatProvider(clock, { KR: 300, JP: 600 }) },
    );
    await t.hub.loops.carbon.runOnce();
    // A 6-core job still running on KR's ECO nodes; it cannot resume elsewhere, so it stays where it is.
    await t.hub.lifecycle.store.insert(running(t, 'eco', 'carbon-kr', 'ECO', { cpu: 6, runtimeMinutes: 120, checkpointing: false }, 600));
    await submit(t, { job_id: 'small', cpu: 4, runtime_minutes: 30, deadline_minutes: 60, urgency: 'urgent' });
    const summary = await schedule(t);
    // It used to be: the plan cannot hold 'eco' on KR (no KR/ECO site), the optimizer leaves it unscheduled ("it keeps
    // running where it is"), but its 6 cores are neither held in the plan nor outside it: KR is offered whole,
    // and 'small' is planned onto 4 of its 2 free cores.
    expect(summary.placed.find((p: Placed) => p.job_id === 'small')).toMatchObject({ cluster: 'carbon-jp' });
    expect(summary.outside_plan.map((o: { job_id: string }) => o.job_id)).toEqual(['eco']);
  });

  it('a move decided for a job whose cluster then stops answering keeps room for it where it is going', async () => {
    const clock = new FakeClock();
    const carbon = new FlatProvider(clock, { KR: 300, JP: 600 });
    const regions = [region('KR', undefined, 8), region('JP', undefined, 8)];
    const { spokes, clients } = configuredSpokes(regions, clock, BusySpoke);
    t = await testHub({ regions, migration: { network_gco2_per_gb: {} } }, { clock, spokes, carbonProvider: carbon });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'r', cpu: 8, runtime_minutes: 240, deadline_minutes: 900, urgency: 'urgent' });
    await schedule(t);
    await t.hub.loops.dispatch.runOnce();
    await t.hub.loops.dispatch.runOnce();
    expect(await t.hub.lifecycle.store.get('r')).toMatchObject({ phase: 'Running', placement: { cluster: 'carbon-kr' } });

    // KR turns dirty: the plan moves r to JP (its new Job is made at the next dispatch tick).
    clock.advanceMinutes(5);
    carbon.values.KR = 900;
    carbon.values.JP = 100;
    await t.hub.loops.carbon.runOnce();
    expect((await schedule(t)).migrations).toEqual([expect.objectContaining({ job_id: 'r', from_cluster: 'carbon-kr', to_cluster: 'carbon-jp' })]);

    // Before that tick, KR stops answering for a while; a cycle plans 'y' (8 cores, JP only) in the meantime.
    clients.get('carbon-kr')!.setReachable(false);
    await submit(t, { job_id: 'y', cpu: 8, runtime_minutes: 30, deadline_minutes: 60, urgency: 'urgent', affinity_regions: ['JP'] });
    const whileDown = await schedule(t);
    // JP's cores are r's as soon as KR answers: y has no room there.
    expect(whileDown.placed.find((p: Placed) => p.job_id === 'y')).toBeUndefined();

    // KR answers again: the dispatcher carries out r's move to JP and opens y's gate there, in one tick.
    clients.get('carbon-kr')!.setReachable(true);
    const tick = await t.hub.loops.dispatch.runOnce();
    // Both 8-core Jobs used to be made on JP's 8 cores: the cycle left r out of the plan (its cluster did not
    // answer) without holding the room its pending move takes on JP, and planned y onto it.
    const onJp = tick.created.filter((c: { cluster: string }) => c.cluster === 'carbon-jp').map((c: { job_id: string }) => c.job_id);
    expect(onJp.sort()).not.toEqual(['r', 'y']);
  });

});
