import { afterEach, describe, expect, it } from 'vitest';
import { diurnalIntensity } from '../../src/carbon/mock-provider.js';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { optimize } from '../../src/optimizer/index.js';
import type { OptimizeFn } from '../../src/scheduler/schedule-cycle.js';
import type { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';
import { twoRegions } from '../support/two-regions.js';
import { metricValue } from '../support/metric-value.js';

const submit = (t: TestHub, body: Record<string, unknown>) =>
  t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240, ...body } });
const schedule = async (t: TestHub) => (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json();

describe('schedule cycle', () => {
  let t: TestHub;
  afterEach(() => t.hub.stop());

  it('waits for the daily dip when the deadline allows, and starts now when it does not', async () => {
    // One region whose diurnal curve has its trough 12 h after its peak (JP-TK peaks at 10:00 UTC).
    const clock = new FakeClock(Date.UTC(2026, 0, 5, 10, 0, 0));
    t = await testHub({ regions: [{ name: 'JP', cluster: 'carbon-jp', context: 'kind-carbon-jp', zone: 'JP-TK', capacity: { cpu: 16, mem_gb: 64 } }] }, { clock });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'flexible', deadline_minutes: 24 * 60 });
    await submit(t, { job_id: 'tight', deadline_minutes: 30 });
    const summary = await schedule(t);
    const start = (id: string) => Date.parse(summary.placed.find((p: { job_id: string }) => p.job_id === id).planned_start);
    expect(start('tight')).toBe(clock.now());
    const flexibleStart = start('flexible');
    expect(flexibleStart).toBeGreaterThan(clock.now() + 6 * 3600_000);
    expect(diurnalIntensity('JP-TK', flexibleStart)).toBeLessThan(diurnalIntensity('JP-TK', clock.now()) - 100);
  });

  it('opens the gate of a job planned at its latest moment at the tick before, when the next tick would be too late', async () => {
    // Submitted 20 s after a tick: JP-TK gets cleaner all afternoon, so a flexible job waits as long as it may.
    const clock = new FakeClock(Date.UTC(2026, 0, 5, 10, 0, 20));
    t = await testHub({ regions: [{ name: 'JP', cluster: 'carbon-jp', context: 'kind-carbon-jp', zone: 'JP-TK', capacity: { cpu: 16, mem_gb: 64 } }] }, { clock });
    await submit(t, { job_id: 'late-start', urgency: 'flexible', runtime_minutes: 30, deadline_minutes: 360 });
    await submit(t, { job_id: 'roomy', urgency: 'flexible', runtime_minutes: 30, deadline_minutes: 24 * 60 });
    const deadline = (await t.hub.lifecycle.store.get('late-start'))!.deadlineAt;
    // The schedule loop ticks at 10:05:00 and its cycle reads the clock a few ms later, so the latest slot
    // start (15:30:00.05) leaves 19.95 s before the deadline: less than the 30 s between dispatch ticks.
    clock.advanceTo(Date.UTC(2026, 0, 5, 10, 5, 0) + 50);
    await t.hub.loops.carbon.runOnce();
    const start = Date.parse((await schedule(t)).placed.find((p: { job_id: string }) => p.job_id === 'late-start').planned_start);
    expect(deadline - (start + 30 * 60_000)).toBeLessThan(30_000);
    // The dispatch tick just before that start opens its gate: waiting for the next one would miss the deadline.
    clock.advanceTo(Math.floor(start / 30_000) * 30_000 - 30_000);
    await t.hub.loops.dispatch.runOnce();
    expect((await t.hub.lifecycle.store.get('late-start'))?.phase).toBe('Planned');
    clock.advanceTo(Math.floor(start / 30_000) * 30_000);
    await t.hub.loops.dispatch.runOnce();
    expect(await t.hub.lifecycle.store.get('late-start')).toMatchObject({ phase: 'Dispatched', placement: { cluster: 'carbon-jp' } });
    expect(t.log.messages()).toContain('opening the gate of late-start a dispatch tick early: waiting for the next tick would miss its deadline');
    // A job with room to spare still waits for its own start.
    expect((await t.hub.lifecycle.store.get('roomy'))?.phase).toBe('Planned');
  });

  it('counts running jobs against capacity', async () => {
    t = await testHub({ regions: [
      { name: 'KR', cluster: 'carbon-kr', context: 'kind-carbon-kr', zone: 'KR', capacity: { cpu: 4, mem_gb: 64 } },
      { name: 'CN', cluster: 'carbon-cn', context: 'kind-carbon-cn', zone: 'CN', capacity: { cpu: 4, mem_gb: 64 } },
    ], carbon: { mock: { scenario: 'seed-migration' } }, migration: { network_gco2_per_gb: {} } });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'first', cpu: 4, deadline_minutes: 30 });
    await schedule(t);
    await t.hub.loops.dispatch.runOnce();
    await t.hub.loops.dispatch.runOnce();
    expect((await t.hub.lifecycle.store.get('first'))?.phase).toBe('Running');

    // KR (400) is cleaner than CN (550) but full until `first` ends; a job that must start now goes to CN.
    await submit(t, { job_id: 'second', cpu: 4, deadline_minutes: 30 });
    const summary = await schedule(t);
    expect(summary.placed.find((p: { job_id: string }) => p.job_id === 'second').cluster).toBe('carbon-cn');
    expect(summary.placed.find((p: { job_id: string }) => p.job_id === 'first').cluster).toBe('carbon-kr');
  });

  it('fails a job that can no longer finish before its deadline, and leaves the others alone', async () => {
    t = await testHub();
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'late', runtime_minutes: 60, deadline_minutes: 60 });
    await submit(t, { job_id: 'fine' });
    t.clock.advanceMinutes(1);
    const summary = await schedule(t);
    expect(summary.failed).toEqual([{ job_id: 'late', reason: 'DeadlineExceeded: it can no longer finish before its deadline' }]);
    expect(summary.placed.map((p: { job_id: string }) => p.job_id)).toEqual(['fine']);
    expect(await t.hub.lifecycle.store.get('late')).toMatchObject({ phase: 'Failed', reason: expect.stringContaining('DeadlineExceeded') });
  });

  it('plans a stored job whose runtime is under a second (from before the API refused such runs) as one slot, with the others', async () => {
    t = await testHub();
    await t.hub.loops.carbon.runOnce();
    const tiny = appWrapper('tiny').obj();
    const now = t.clock.now();
    await t.hub.lifecycle.store.insert({ ...tiny, spec: { ...tiny.spec, runtimeMinutes: 5e-324, deadlineMinutes: 5e-324 }, submittedAt: now, updatedAt: now, deadlineAt: now + 60 * 60_000 });
    await submit(t, { job_id: 'fine' });
    const summary = await schedule(t);
    expect(summary.placed.map((p: { job_id: string }) => p.job_id).sort()).toEqual(['fine', 'tiny']);
  });

  it('says why a job longer than the horizon waits: only a start now is planned, with room over the whole horizon', async () => {
    t = await testHub({ horizon_hours: 1, regions: [{ name: 'KR', cluster: 'carbon-kr', context: 'kind-carbon-kr', zone: 'KR', capacity: { cpu: 8, mem_gb: 64 } }] });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'busy', cpu: 8, runtime_minutes: 20, deadline_minutes: 600, urgency: 'urgent' });
    await schedule(t);
    await t.hub.loops.dispatch.runOnce();
    await t.hub.loops.dispatch.runOnce();
    await submit(t, { job_id: 'long', cpu: 4, runtime_minutes: 90, deadline_minutes: 600 });
    const summary = await schedule(t);
    expect(summary.unschedulable).toEqual([
      { job_id: 'long', reason: expect.stringContaining('; it runs longer than the planning horizon (1 h), so only a start now is planned, with room for it over the whole horizon') },
    ]);
  });

  it('shows no pool capacity for a cluster the cycle cannot use, not the last it offered', async () => {
    const { clock, spokes, regions } = twoRegions(8, 32);
    t = await testHub({ regions }, { clock, spokes });
    await t.hub.loops.carbon.runOnce();
    const fastCpu = (cluster: string) => metricValue(t.hub.metrics, 'caspian_pool_capacity', { cluster, pool: 'FAST', resource: 'cpu' });
    await schedule(t);
    expect([await fastCpu('carbon-kr'), await fastCpu('carbon-jp')]).toEqual([8, 8]);
    (spokes[0]?.client as SimulatedSpoke).setReachable(false);
    await schedule(t);
    expect([await fastCpu('carbon-kr'), await fastCpu('carbon-jp')]).toEqual([0, 8]);
  });

  it('marks a job Unschedulable when every region it may use is down, and plans it when one returns', async () => {
    const { clock, spokes, regions } = twoRegions(8, 32);
    t = await testHub({ regions }, { clock, spokes });
    await t.hub.loops.carbon.runOnce();
    (spokes[0]?.client as SimulatedSpoke).setReachable(false);
    await submit(t, { job_id: 'kr-only', affinity_regions: ['KR'] });
    const down = await schedule(t);
    expect(down.unschedulable).toEqual([{ job_id: 'kr-only', reason: 'no ready cluster with carbon data among its regions (KR)' }]);
    expect((await t.hub.lifecycle.store.get('kr-only'))?.phase).toBe('Unschedulable');

    (spokes[0]?.client as SimulatedSpoke).setReachable(true);
    const up = await schedule(t);
    expect(up.placed).toEqual([expect.objectContaining({ job_id: 'kr-only', cluster: 'carbon-kr' })]);
    expect(t.log.messages()).toEqual(expect.arrayContaining(['AppWrapper kr-only: Pending -> Unschedulable', 'AppWrapper kr-only: Unschedulable -> Planned']));
  });

  it('moves a planned job off a cluster that stopped answering, as a migration', async () => {
    const { clock, spokes, regions } = twoRegions(8, 32);
    t = await testHub({ regions, carbon: { mock: { scenario: 'seed-migration' } } }, { clock, spokes });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'planned', deadline_minutes: 600 });
    expect((await schedule(t)).placed).toEqual([expect.objectContaining({ cluster: 'carbon-kr' })]);
    (spokes[0]?.client as SimulatedSpoke).setReachable(false);
    const summary = await schedule(t);
    expect(summary.placed).toEqual([expect.objectContaining({ job_id: 'planned', cluster: 'carbon-jp' })]);
    expect(summary.migrations).toEqual([{ job_id: 'planned', from_cluster: 'carbon-kr', to_cluster: 'carbon-jp', data_gb: 0, cost_gco2: 0 }]);
  });

  it('does not overwrite a cancel that lands while the optimizer runs', async () => {
    t = await testHub({}, {
      optimize: async (input, options) => {
        await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/racer' });
        return optimize(input, options);
      },
    });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'racer' });
    const summary = await schedule(t);
    expect(summary.placed).toEqual([]);
    expect((await t.hub.lifecycle.store.get('racer'))?.phase).toBe('Cancelled');
  });

  it('reports neither unschedulable nor failed a job cancelled while the optimizer runs (answer and gauge)', async () => {
    t = await testHub({}, {
      optimize: async (input, options) => {
        for (const id of ['huge', 'late']) await t.hub.app.inject({ method: 'DELETE', url: `/hub/appwrappers/${id}` });
        return optimize(input, options);
      },
    });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'huge', cpu: 1000 });
    await submit(t, { job_id: 'late', runtime_minutes: 60, deadline_minutes: 60 });
    t.clock.advanceMinutes(1);
    const summary = await schedule(t);
    expect(summary.unschedulable).toEqual([]);
    expect(summary.failed).toEqual([]);
    expect(await metricValue(t.hub.metrics, 'caspian_unschedulable_jobs')).toBe(0);
    expect((await t.hub.lifecycle.store.get('huge'))?.phase).toBe('Cancelled');
    expect((await t.hub.lifecycle.store.get('late'))?.phase).toBe('Cancelled');
  });

  it('plans again, within the same time limit, with the cores of a running job the optimizer left out held where it runs', async () => {
    const calls: { jobs: string[]; limit: number | undefined }[] = [];
    t = await testHub({ optimizer: { time_limit_seconds: 20 } }, {
      optimize: async (input, options) => {
        calls.push({ jobs: input.jobs.map((j) => j.job_id), limit: options?.timeLimitSeconds });
        const output = await optimize(input, options);
        // The first plan gives the running job's room away (an optimizer may: placing either is one job placed).
        if (calls.length > 1) return output;
        return { ...output, plans: output.plans.filter((p) => p.job_id !== 'busy'), unscheduled: [...output.unscheduled, { job_id: 'busy', code: 'no_capacity' as const, reason: 'no room' }] };
      },
    });
    await t.hub.loops.carbon.runOnce();
    const busy = appWrapper('busy').cpu(4).phase('Running').target('carbon-kr').placement({ cluster: 'carbon-kr', jobName: 'busy', generation: 1, pool: 'FAST' }).obj();
    const now = t.clock.now();
    await t.hub.lifecycle.store.insert({ ...busy, submittedAt: now, updatedAt: now, startedAt: now, plannedStartAt: now, deadlineAt: now + 600 * 60_000 });
    await submit(t, { job_id: 'new' });
    const summary = await schedule(t);
    expect(calls.map((c) => c.jobs.sort())).toEqual([['busy', 'new'], ['new']]);
    // With a running job in the plan the first plan leaves a fifth of the limit; the second takes half of what is
    // left (a third may follow).
    expect(calls[0]?.limit).toBe(16);
    expect(calls[1]?.limit).toBeGreaterThan(0);
    expect(calls[1]?.limit).toBeLessThanOrEqual(10);
    expect(summary.outside_plan).toEqual([{ job_id: 'busy', reason: 'pool FAST, which the plan could not keep beside the other jobs' }]);
    expect(t.log.messages()).toContain('the plan left running jobs out (busy); planning again with their cores held where they run');
  });

  it('plans again while the plan leaves running jobs out, each round holding those it left out, a few rounds at most', async () => {
    const calls: string[][] = [];
    const leaveOut = ['one', 'two', 'three', 'four'];
    t = await testHub({}, {
      optimize: async (input, options) => {
        calls.push(input.jobs.map((j) => j.job_id).sort());
        const output = await optimize(input, options);
        // Every round gives the room of the first running job still in the input away.
        const out = leaveOut.find((id) => input.jobs.some((j) => j.job_id === id));
        if (!out) return output;
        return { ...output, plans: output.plans.filter((p) => p.job_id !== out), unscheduled: [...output.unscheduled, { job_id: out, code: 'no_capacity' as const, reason: 'no room' }] };
      },
    });
    await t.hub.loops.carbon.runOnce();
    const now = t.clock.now();
    for (const id of leaveOut) {
      const running = appWrapper(id).cpu(1).phase('Running').target('carbon-kr').placement({ cluster: 'carbon-kr', jobName: id, generation: 1, pool: 'FAST' }).obj();
      await t.hub.lifecycle.store.insert({ ...running, submittedAt: now, updatedAt: now, startedAt: now, plannedStartAt: now, deadlineAt: now + 600 * 60_000 });
    }
    const summary = await schedule(t);
    // Three plans: the second holds 'one', the third 'one' and 'two'; 'three', left out by the last, runs on unheld.
    expect(calls).toEqual([['four', 'one', 'three', 'two'], ['four', 'three', 'two'], ['four', 'three']]);
    expect(summary.outside_plan.map((o: { job_id: string }) => o.job_id)).toEqual(['one', 'two']);
  });

  it('plans with the fallback solver in the same cycle when the optimizer fails', async () => {
    t = await testHub({}, {
      optimize: async () => {
        throw new Error('worker crashed');
      },
    });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'a' });
    const summary = await schedule(t);
    expect(summary).toMatchObject({ solver: 'greedy', placed: [expect.objectContaining({ job_id: 'a' })] });
    expect(t.log.messages()).toContain('optimizer failed; planning with the fallback solver');
    expect(await t.hub.metrics.registry.getSingleMetricAsString('caspian_optimizer_failures_total')).toContain('caspian_optimizer_failures_total 1');
    expect(await t.hub.metrics.registry.getSingleMetricAsString('caspian_schedule_cycles_total')).toContain('{outcome="ok"} 1');
  });

  it('records a cycle that fails even with the fallback, and the next cycle runs', async () => {
    let calls = 0;
    const failOnce: OptimizeFn = async (input, options) => {
      if (++calls <= 2) throw new Error('solver exploded');
      return optimize(input, options);
    };
    t = await testHub({}, { optimize: failOnce, fallbackOptimize: failOnce });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'a' });
    const failed = await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    expect(failed.statusCode).toBe(500);
    expect(failed.json()).toEqual({ error: 'Internal Server Error', message: 'internal error; see the hub log', details: [] });
    expect(t.log.messages()).toContain('schedule cycle failed');
    const ok = await schedule(t);
    expect(ok.placed).toHaveLength(1);
    const cycles = await t.hub.metrics.registry.getSingleMetricAsString('caspian_schedule_cycles_total');
    expect(cycles).toContain('caspian_schedule_cycles_total{outcome="error"} 1');
    expect(cycles).toContain('caspian_schedule_cycles_total{outcome="ok"} 1');
  });

  it('keeps ticking after a cycle throws, and skips a tick while a cycle runs', async () => {
    let release: () => void = () => undefined;
    let calls = 0;
    const flaky: OptimizeFn = async (input, options) => {
      calls++;
      if (calls <= 2) throw new Error('boom');
      await new Promise<void>((resolve) => (release = resolve));
      return optimize(input, options);
    };
    t = await testHub({}, { optimize: flaky, fallbackOptimize: flaky });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'a' });
    t.hub.loops.schedule.start();
    t.tickers.tick('schedule');
    await expect.poll(() => t.log.messages().includes('schedule cycle failed')).toBe(true);
    t.tickers.tick('schedule');
    await expect.poll(() => calls).toBe(3);
    t.tickers.tick('schedule');
    expect(await t.hub.metrics.registry.getSingleMetricAsString('caspian_loop_skipped_ticks_total')).toContain('{loop="schedule",reason="busy"} 1');
    release();
    await expect.poll(async () => (await t.hub.lifecycle.store.get('a'))?.phase).toBe('Planned');
  });

  it('leaves the waiting jobs past optimizer.max_options for a later cycle, earliest deadline first, counted and logged', async () => {
    // Three regions of one pool, 5-min slots, a 30-min job: a 300-min deadline is 55 starts x 3 = 165 options, 600 min
    // 345, a day 849 (283 starts).
    t = await testHub({ optimizer: { max_options: 1000 } });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'day', deadline_minutes: 24 * 60 });
    await submit(t, { job_id: 'five-hours', deadline_minutes: 300 });
    await submit(t, { job_id: 'ten-hours', deadline_minutes: 600 });
    const summary = await schedule(t);
    expect(summary.placed.map((p: { job_id: string }) => p.job_id).sort()).toEqual(['five-hours', 'ten-hours']);
    expect(summary).toMatchObject({ jobs_considered: 2, jobs_deferred: 1 });
    expect((await t.hub.lifecycle.store.get('day'))?.phase).toBe('Pending');
    expect(await metricValue(t.hub.metrics, 'caspian_jobs_deferred')).toBe(1);
    expect(t.log.lines.find((l) => l.deferred === 1 && l.level === 40)).toMatchObject({
      firstDeferred: 'day',
      options: 510,
      maxOptions: 1000,
      msg: '1 waiting jobs left for a later cycle: planning them too would exceed optimizer.max_options (1000 candidate starts)',
    });

    // Without the cap's pressure everything is planned, and the gauge says so.
    await t.hub.stop();
    t = await testHub();
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'day', deadline_minutes: 24 * 60 });
    expect(await schedule(t)).toMatchObject({ jobs_considered: 1, jobs_deferred: 0 });
    expect(await metricValue(t.hub.metrics, 'caspian_jobs_deferred')).toBe(0);
  });

  it('counts a move once, from where the Job runs, and a move re-planned before it happened as dropped', async () => {
    // The optimizer says where each job goes; the test decides.
    let region = 'JP';
    const steer: OptimizeFn = async (input) => ({
      plans: input.jobs.map((j) => ({ job_id: j.job_id, region, pool: 'FAST', start_slot: 0, cost_gco2: 1, migration_cost_gco2: 150 })),
      co2_estimate_kg: 0, solver_status: 'optimal', migrations: 0, objective_gco2: 0, lower_bound_gco2: null, gap: null, unscheduled: [], solver: 'steered', solve_seconds: 0,
    });
    const { clock, spokes, regions } = twoRegions(4, 16);
    t = await testHub({ regions, migration: { network_gco2_per_gb: {} } }, { clock, spokes, optimize: steer });
    await t.hub.loops.carbon.runOnce();
    region = 'KR';
    await submit(t, { job_id: 'mover', data_gb: 10 });
    await schedule(t);
    await t.hub.loops.dispatch.runOnce();
    await t.hub.loops.dispatch.runOnce();
    expect(await t.hub.lifecycle.store.get('mover')).toMatchObject({ phase: 'Running', placement: { cluster: 'carbon-kr' } });

    // Planned to JP twice, JP not answering the dispatcher in between: one move, not two.
    const jp = spokes[1]!.client as SimulatedSpoke;
    region = 'JP';
    expect((await schedule(t)).migrations).toHaveLength(1);
    jp.setReachable(false);
    await t.hub.loops.dispatch.runOnce();
    jp.setReachable(true);
    expect((await schedule(t)).migrations).toEqual([]);
    expect(await t.hub.lifecycle.store.get('mover')).toMatchObject({ phase: 'Running', migrating: true, targetCluster: 'carbon-jp', placement: { cluster: 'carbon-kr' } });
    expect(await metricValue(t.hub.metrics, 'migrations_total', { from_cluster: 'carbon-kr', to_cluster: 'carbon-jp' })).toBe(1);

    // Then back where it runs: no move at all, and the one decided is dropped.
    region = 'KR';
    const back = await schedule(t);
    expect(back.migrations).toEqual([]);
    expect(await t.hub.lifecycle.store.get('mover')).toMatchObject({ migrating: false, targetCluster: 'carbon-kr', placement: { cluster: 'carbon-kr' } });
    expect(await metricValue(t.hub.metrics, 'migrations_total', { from_cluster: 'carbon-jp', to_cluster: 'carbon-kr' })).toBe(0);
    expect(await metricValue(t.hub.metrics, 'caspian_migrations_dropped_total', { from_cluster: 'carbon-kr', to_cluster: 'carbon-jp', reason: 'replanned' })).toBe(1);
    expect(t.log.messages()).toContain('not moving mover to carbon-jp: re-planned to carbon-kr before the move was carried out');
    // The metadata of the move given up goes with it: the Job in place never migrated.
    expect((await t.hub.lifecycle.store.get('mover'))?.metadata).toEqual({});
  });

  describe('a move given up by a later plan', () => {
    /** The optimizer sends every job to `target.region`; the test decides. */
    const target = { region: 'KR', costGco2: 1 };
    const steer: OptimizeFn = async (input) => ({
      plans: input.jobs.map((j) => ({ job_id: j.job_id, region: target.region, pool: 'FAST', start_slot: 0, cost_gco2: target.costGco2, migration_cost_gco2: 150 })),
      co2_estimate_kg: 0, solver_status: 'optimal', migrations: 0, objective_gco2: 0, lower_bound_gco2: null, gap: null, unscheduled: [], solver: 'steered', solve_seconds: 0,
    });

    /** A hub on two regions planned by `steer`, its carbon data in, every job sent to KR at `costGco2` until the test says otherwise. */
    async function steeredHub(costGco2 = 1): Promise<{ clock: FakeClock; spokes: Spoke[] }> {
      const { clock, spokes, regions } = twoRegions(4, 16);
      t = await testHub({ regions, migration: { network_gco2_per_gb: {} } }, { clock, spokes, optimize: steer });
      await t.hub.loops.carbon.runOnce();
      target.region = 'KR';
      target.costGco2 = costGco2;
      return { clock, spokes };
    }

    it('gives the job back the metadata of the move that brought its Job where it runs', async () => {
      const { clock, spokes } = await steeredHub();
      await submit(t, { job_id: 'mover', data_gb: 10 });
      await schedule(t);
      await t.hub.loops.dispatch.runOnce();
      await t.hub.loops.dispatch.runOnce();

      // A real move KR -> JP, carried out.
      clock.advanceMinutes(5);
      target.region = 'JP';
      await schedule(t);
      await t.hub.loops.dispatch.runOnce();
      const moved = await t.hub.lifecycle.store.get('mover');
      expect(moved).toMatchObject({ migrating: false, placement: { cluster: 'carbon-jp', generation: 2 } });
      const metadata = { migrated_from: 'carbon-kr', migration_time: (clock.now() / 1000).toFixed(3) };
      expect(moved?.metadata).toEqual(metadata);

      // A move back to KR decided while KR does not answer the dispatcher, then given up for JP.
      clock.advanceMinutes(5);
      target.region = 'KR';
      await schedule(t);
      (spokes[0]!.client as SimulatedSpoke).setReachable(false);
      await t.hub.loops.dispatch.runOnce();
      (spokes[0]!.client as SimulatedSpoke).setReachable(true);
      expect(await t.hub.lifecycle.store.get('mover')).toMatchObject({ migrating: true, targetCluster: 'carbon-kr', metadata: { migrated_from: 'carbon-jp' } });
      target.region = 'JP';
      await schedule(t);
      const back = await t.hub.lifecycle.store.get('mover');
      expect(back).toMatchObject({ migrating: false, targetCluster: 'carbon-jp', placement: { cluster: 'carbon-jp', generation: 2 } });
      expect(back?.metadata).toEqual(metadata);
    });

    it('keeps the estimate of a Job re-planned where it runs with that Job, which a move given up restores', async () => {
      const { clock } = await steeredHub(1);
      await submit(t, { job_id: 'stayer' });
      await schedule(t);
      await t.hub.loops.dispatch.runOnce();
      expect(await t.hub.lifecycle.store.get('stayer')).toMatchObject({ co2EstimateG: 1, placement: { cluster: 'carbon-kr', co2EstimateG: 1 } });

      clock.advanceMinutes(5);
      target.costGco2 = 5;
      await schedule(t);
      expect(await t.hub.lifecycle.store.get('stayer')).toMatchObject({ co2EstimateG: 5, placement: { cluster: 'carbon-kr', co2EstimateG: 5 } });

      // A move decided, then given up by a cancel before it happened: the estimate is the Job's in place again.
      clock.advanceMinutes(5);
      target.region = 'JP';
      target.costGco2 = 9;
      await schedule(t);
      expect(await t.hub.lifecycle.store.get('stayer')).toMatchObject({ migrating: true, co2EstimateG: 9, placement: { cluster: 'carbon-kr', co2EstimateG: 5 } });
      const cancelled = await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/stayer' });
      expect(cancelled.json()).toMatchObject({ phase: 'Cancelled', migrating: false, co2_estimate_g: 5 });
    });

    it('estimates a job re-planned while it runs for its whole run: the done share of the old estimate plus the plan for the rest', async () => {
      const { clock } = await steeredHub(8);
      await submit(t, { job_id: 'runner', runtime_minutes: 60, deadline_minutes: 600 });
      await schedule(t);
      await t.hub.loops.dispatch.runOnce();
      await t.hub.loops.dispatch.runOnce();
      expect(await t.hub.lifecycle.store.get('runner')).toMatchObject({ phase: 'Running', co2EstimateG: 8 });

      // Half of the work done; the optimizer prices the other half at 3.
      clock.advanceMinutes(30);
      await t.hub.loops.dispatch.runOnce();
      target.costGco2 = 3;
      await schedule(t);
      expect(await t.hub.lifecycle.store.get('runner')).toMatchObject({ co2EstimateG: 8 * 0.5 + 3, placement: { co2EstimateG: 8 * 0.5 + 3 } });
    });

    it('counts a move to a cluster no longer configured as cluster_removed', async () => {
      await steeredHub();
      await submit(t, { job_id: 'mover' });
      await schedule(t);
      await t.hub.loops.dispatch.runOnce();
      await t.hub.loops.dispatch.runOnce();
      // Decided by a hub whose configuration still had CN.
      await t.hub.lifecycle.store.update('mover', (cur) => ({ ...cur, targetCluster: 'carbon-cn', migrating: true, metadata: { migrated_from: 'carbon-kr', migration_time: '1' } }));
      await schedule(t);
      expect(await t.hub.lifecycle.store.get('mover')).toMatchObject({ migrating: false, targetCluster: 'carbon-kr' });
      expect((await t.hub.lifecycle.store.get('mover'))?.metadata).toEqual({});
      expect(await metricValue(t.hub.metrics, 'caspian_migrations_dropped_total', { from_cluster: 'carbon-kr', to_cluster: 'carbon-cn', reason: 'cluster_removed' })).toBe(1);
      expect(await metricValue(t.hub.metrics, 'caspian_migrations_dropped_total', { from_cluster: 'carbon-kr', to_cluster: 'carbon-cn', reason: 'replanned' })).toBeUndefined();
      expect(t.log.messages()).toContain('not moving mover to carbon-cn: carbon-cn is no longer configured');
    });
  });
});
