import { afterEach, describe, expect, it } from 'vitest';
import { diurnalIntensity } from '../../src/carbon/mock-provider.js';
import { optimize } from '../../src/optimizer/index.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { deferred } from '../support/deferred.js';
import { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';
import { metricValue } from '../support/metric-value.js';

/**
 * Urgency classes and worker pools through the whole hub: the schedule cycle turns them into the
 * optimizer's waiting charges, pool limits and pool capacities, and the dispatcher sends the Job to the pool.
 */

const MIN = 60_000;
const JP = { name: 'JP', cluster: 'carbon-jp', context: 'kind-carbon-jp', zone: 'JP-TK', capacity: { cpu: 16, mem_gb: 64 } };
const KR = { name: 'KR', cluster: 'carbon-kr', context: 'kind-carbon-kr', zone: 'KR', capacity: { cpu: 16, mem_gb: 64 } };
/** Half the cluster each; ECO runs 1.5x as long at 0.6x the power (0.9x the energy). */
const FAST_AND_ECO = [
  { name: 'FAST', share: 0.5 },
  { name: 'ECO', share: 0.5, speed_factor: 1.5, power_factor: 0.6, node_selector: { 'node.kubernetes.io/pool': 'eco' } },
];
/** KR at a flat 400 gCO2/kWh for the first five minutes of the seed's scenario (long steps keep it flat). */
const FLAT_KR = { carbon: { mock: { scenario: 'seed-migration', step_seconds: 86_400 } }, migration: { network_gco2_per_gb: {} } };

type Placed = { job_id: string; cluster: string; pool: string; planned_start: string };

const submit = (t: TestHub, body: Record<string, unknown>) =>
  t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240, ...body } });
const schedule = async (t: TestHub, query = '') => (await t.hub.app.inject({ method: 'POST', url: `/hub/schedule${query}` })).json();
const placedOf = (summary: { placed: Placed[] }, id: string) => summary.placed.find((p) => p.job_id === id) as Placed;

describe('urgency classes', () => {
  let t: TestHub;
  afterEach(() => t.hub.stop());

  it('an urgent job starts in the first slot even when a later one is far cleaner; a flexible one waits for the dip', async () => {
    // JP-TK's diurnal curve peaks at 10:00 UTC and bottoms out twelve hours later.
    const clock = new FakeClock(Date.UTC(2026, 0, 5, 10, 0, 0));
    t = await testHub({ regions: [JP] }, { clock });
    await t.hub.loops.carbon.runOnce();
    expect((await submit(t, { job_id: 'urgent', urgency: 'urgent', deadline_minutes: 24 * 60 })).statusCode).toBe(201);
    expect((await submit(t, { job_id: 'flexible', urgency: 'flexible', deadline_minutes: 24 * 60 })).statusCode).toBe(201);
    const summary = await schedule(t);
    expect(Date.parse(placedOf(summary, 'urgent').planned_start)).toBe(clock.now());
    expect(placedOf(summary, 'urgent').pool).toBe('FAST');
    const flexibleStart = Date.parse(placedOf(summary, 'flexible').planned_start);
    expect(flexibleStart).toBeGreaterThan(clock.now() + 6 * 3600_000);
    expect(diurnalIntensity('JP-TK', flexibleStart)).toBeLessThan(diurnalIntensity('JP-TK', clock.now()) - 100);
    const stored = (await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/urgent' })).json();
    expect(stored).toMatchObject({ urgency: 'urgent', pool: 'FAST' });
  });

  it('a normal job waits only when the cleaner slot is worth its waiting charge; a flexible one always does', async () => {
    // A waiting charge of 1000 gCO2/kWh per hour outweighs any dip: normal then behaves like "start now".
    const clock = new FakeClock(Date.UTC(2026, 0, 5, 10, 0, 0));
    t = await testHub({ regions: [JP], urgency: { normal_wait_gco2_per_kwh_per_hour: 1000 } }, { clock });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'normal', deadline_minutes: 24 * 60 });
    await submit(t, { job_id: 'flexible', urgency: 'flexible', deadline_minutes: 24 * 60 });
    const summary = await schedule(t);
    expect(Date.parse(placedOf(summary, 'normal').planned_start)).toBe(clock.now());
    expect(Date.parse(placedOf(summary, 'flexible').planned_start)).toBeGreaterThan(clock.now() + 6 * 3600_000);
  });

  it('urgent jobs go first when capacity is short, whatever the order they came in', async () => {
    t = await testHub({ regions: [{ ...KR, capacity: { cpu: 4, mem_gb: 64 } }], ...FLAT_KR });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'normal', cpu: 4 });
    await submit(t, { job_id: 'urgent', cpu: 4, urgency: 'urgent' });
    const summary = await schedule(t);
    expect(Date.parse(placedOf(summary, 'urgent').planned_start)).toBe(t.clock.now());
    expect(Date.parse(placedOf(summary, 'normal').planned_start)).toBeGreaterThanOrEqual(t.clock.now() + 30 * MIN);
  });

  it('rejects an unknown urgency, naming the field', async () => {
    t = await testHub();
    const response = await submit(t, { job_id: 'x', urgency: 'asap' });
    expect(response.statusCode).toBe(400);
    expect(response.json().details).toEqual([expect.objectContaining({ field: 'urgency' })]);
  });
});

describe('FAST and ECO worker pools', () => {
  let t: TestHub;
  afterEach(() => t.hub.stop());

  it('chooses ECO when its lower power outweighs the longer run and the deadline allows, FAST when it does not', async () => {
    t = await testHub({ regions: [{ ...KR, pools: FAST_AND_ECO }], ...FLAT_KR });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'roomy', runtime_minutes: 30, deadline_minutes: 240 });
    // 40 minutes leave no room for ECO's 45.
    await submit(t, { job_id: 'tight', runtime_minutes: 30, deadline_minutes: 40 });
    await submit(t, { job_id: 'urgent', runtime_minutes: 30, deadline_minutes: 240, urgency: 'urgent' });
    const summary = await schedule(t);
    expect(placedOf(summary, 'roomy').pool).toBe('ECO');
    expect(placedOf(summary, 'tight').pool).toBe('FAST');
    expect(placedOf(summary, 'urgent').pool).toBe('FAST');
    // 2 cores x 30 W + 4 GB x 0.392 W = 61.568 W; FAST for 30 min at 400 g/kWh: 12.3136 g; ECO 0.9x that.
    expect(summary.placed.find((p: Placed) => p.job_id === 'roomy').co2_gco2).toBeCloseTo(0.9 * 12.3136, 6);
  });

  it('dispatches to the chosen pool: the Job runs there, the slower pool taking its longer run', async () => {
    t = await testHub({ regions: [{ ...KR, pools: FAST_AND_ECO }], ...FLAT_KR });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'eco', runtime_minutes: 30 });
    await schedule(t);
    await t.hub.loops.dispatch.runOnce();
    expect(await t.hub.lifecycle.store.get('eco')).toMatchObject({ phase: 'Dispatched', targetPool: 'ECO', placement: { cluster: 'carbon-kr', pool: 'ECO' } });
    t.clock.advanceMinutes(31);
    await t.hub.loops.dispatch.runOnce();
    expect((await t.hub.lifecycle.store.get('eco'))?.phase).toBe('Running');
    // Re-planned while it runs: it stays in its pool, with the rest of its (slower) run.
    const replanned = await schedule(t);
    expect(placedOf(replanned, 'eco')).toMatchObject({ cluster: 'carbon-kr', pool: 'ECO' });
    expect(replanned.unschedulable).toEqual([]);
    t.clock.advanceMinutes(15);
    await t.hub.loops.dispatch.runOnce();
    const done = await t.hub.lifecycle.store.get('eco');
    expect(done?.phase).toBe('Succeeded');
    expect((done!.finishedAt! - done!.startedAt!) / MIN).toBe(45);
  });

  it('re-plans a job running on ECO with the rest of its run stretched as the optimizer stretches it, holding its cores', async () => {
    t = await testHub({ regions: [{ ...KR, pools: FAST_AND_ECO }], ...FLAT_KR });
    await t.hub.loops.carbon.runOnce();
    // ECO has 8 of KR's 16 cores: 'eco' takes 6 of them.
    await submit(t, { job_id: 'eco', cpu: 6, runtime_minutes: 30 });
    expect(placedOf(await schedule(t), 'eco').pool).toBe('ECO');
    await t.hub.loops.dispatch.runOnce();
    await t.hub.loops.dispatch.runOnce();
    expect(await t.hub.lifecycle.store.get('eco')).toMatchObject({ phase: 'Running', placement: { pool: 'ECO' } });
    // 7 minutes on ECO are 4.67 FAST minutes done, 25.33 left: 6 FAST slots, which ECO stretches to 9 (not 8).
    t.clock.advanceMinutes(7);
    await submit(t, { job_id: 'second', cpu: 4, runtime_minutes: 30 });
    const summary = await schedule(t);
    expect(placedOf(summary, 'eco')).toMatchObject({ cluster: 'carbon-kr', pool: 'ECO' });
    expect(t.log.messages()).not.toContain('running job eco could not be re-planned; it keeps running where it is');
    // 'eco' holds 6 ECO cores for about 38 more minutes: 'second' (4 cores) cannot start on ECO before that.
    const second = placedOf(summary, 'second');
    if (second.pool === 'ECO') expect(Date.parse(second.planned_start)).toBeGreaterThanOrEqual(t.clock.now() + 35 * MIN);
  });

  it('plans the other jobs when one runs in a pool the configuration no longer has (it runs on outside the plan)', async () => {
    // A hub restarted without ECO pools, with a job still running on ECO from before.
    t = await testHub({ regions: [KR], ...FLAT_KR });
    await t.hub.loops.carbon.runOnce();
    const running = appWrapper('eco').cpu(1).phase('Running').target('carbon-kr').placement({ cluster: 'carbon-kr', jobName: 'eco', generation: 1, pool: 'ECO' }).obj();
    await t.hub.lifecycle.store.insert({ ...running, targetPool: 'ECO', startedAt: t.clock.now(), deadlineAt: t.clock.now() + 600 * MIN });
    await submit(t, { job_id: 'other' });
    const response = await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    expect(response.statusCode).toBe(200);
    expect(response.json().placed.map((p: Placed) => p.job_id)).toEqual(['other']);
    expect(t.log.messages()).toContain('running job eco is in pool ECO, which its cluster no longer offers; it keeps running where it is, outside the plan');
    expect(response.json().outside_plan).toEqual([{ job_id: 'eco', reason: 'pool ECO, which its cluster no longer offers' }]);
    expect(await metricValue(t.hub.metrics, 'caspian_jobs_outside_plan')).toBe(1);
    expect(await t.hub.lifecycle.store.get('eco')).toMatchObject({ phase: 'Running', placement: { pool: 'ECO' } });
    // Once it finishes, the next cycle has nothing outside its plan.
    await t.hub.lifecycle.store.remove(['eco']);
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json().outside_plan).toEqual([]);
    expect(await metricValue(t.hub.metrics, 'caspian_jobs_outside_plan')).toBe(0);
  });

  it('plans the other jobs when one runs in a pool too slow for one slot of it to fit the horizon (it runs on outside the plan)', async () => {
    // Two one-hour slots, and an ECO pool three times slower: one slot of ECO work takes three.
    const slowEco = [
      { name: 'FAST', share: 0.5 },
      { name: 'ECO', share: 0.5, speed_factor: 3 },
    ];
    t = await testHub({ slot_seconds: 3600, horizon_hours: 2, regions: [{ ...KR, pools: slowEco }], ...FLAT_KR });
    await t.hub.loops.carbon.runOnce();
    const running = appWrapper('slow').cpu(1).phase('Running').target('carbon-kr').placement({ cluster: 'carbon-kr', jobName: 'slow', generation: 1, pool: 'ECO' }).obj();
    await t.hub.lifecycle.store.insert({ ...running, targetPool: 'ECO', startedAt: t.clock.now(), deadlineAt: t.clock.now() + 600 * MIN });
    await submit(t, { job_id: 'other', urgency: 'urgent' });
    const response = await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    expect(response.statusCode).toBe(200);
    expect(response.json().placed.map((p: Placed) => p.job_id)).toEqual(['other']);
    expect(t.log.messages()).toContain('running job slow is in pool ECO, whose slowest run of one slot is longer than the horizon; it keeps running where it is, outside the plan');
    expect(response.json().outside_plan).toEqual([{ job_id: 'slow', reason: 'pool ECO, whose slowest run of one slot is longer than the horizon' }]);
    expect(await metricValue(t.hub.metrics, 'caspian_jobs_outside_plan')).toBe(1);
  });

  it('scales FAST down while the grid is dirtier than the threshold, visible in metrics and the log', async () => {
    const regions = [{ ...KR, pools: FAST_AND_ECO, fast_scale_down: { threshold_gco2_per_kwh: 300, capacity_factor: 0.25 } }];
    t = await testHub({ regions, ...FLAT_KR });
    await t.hub.loops.carbon.runOnce();
    // 4 cores fit FAST's 8 but not the 2 it keeps at 400 g/kWh: the urgent job cannot start now.
    await submit(t, { job_id: 'urgent', cpu: 4, urgency: 'urgent', deadline_minutes: 60 });
    const summary = await schedule(t);
    expect(summary.unschedulable.map((u: { job_id: string }) => u.job_id)).toEqual(['urgent']);
    expect(await metricValue(t.hub.metrics, 'caspian_pool_fast_scaled_down', { cluster: 'carbon-kr' })).toBe(1);
    expect(await metricValue(t.hub.metrics, 'caspian_pool_capacity', { cluster: 'carbon-kr', pool: 'FAST', resource: 'cpu' })).toBe(2);
    expect(await metricValue(t.hub.metrics, 'caspian_pool_capacity', { cluster: 'carbon-kr', pool: 'ECO', resource: 'cpu' })).toBe(8);
    expect(t.log.messages().filter((m) => m === 'FAST pool of carbon-kr scaled down: the grid is dirtier than its threshold')).toHaveLength(1);
    // A second cycle in the same state logs nothing new.
    await schedule(t);
    expect(t.log.messages().filter((m) => m === 'FAST pool of carbon-kr scaled down: the grid is dirtier than its threshold')).toHaveLength(1);
  });

  it('leaves the pool gauges and the scale-down line to real cycles: a dry run or a what-if only reads', async () => {
    const regions = [{ ...KR, pools: FAST_AND_ECO, fast_scale_down: { threshold_gco2_per_kwh: 300, capacity_factor: 0.25 } }];
    t = await testHub({ regions, ...FLAT_KR });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'a', cpu: 1 });
    expect((await schedule(t, '?dry_run=true')).dry_run).toBe(true);
    const whatIf = await t.hub.app.inject({ method: 'POST', url: '/hub/whatif', payload: { cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240 } });
    expect(whatIf.statusCode).toBe(200);
    expect(await metricValue(t.hub.metrics, 'caspian_pool_capacity', { cluster: 'carbon-kr', pool: 'FAST', resource: 'cpu' })).toBeUndefined();
    expect(await metricValue(t.hub.metrics, 'caspian_pool_fast_scaled_down', { cluster: 'carbon-kr' })).toBeUndefined();
    expect(t.log.messages()).not.toContain('FAST pool of carbon-kr scaled down: the grid is dirtier than its threshold');
    await schedule(t);
    expect(await metricValue(t.hub.metrics, 'caspian_pool_capacity', { cluster: 'carbon-kr', pool: 'FAST', resource: 'cpu' })).toBe(2);
    expect(await metricValue(t.hub.metrics, 'caspian_pool_fast_scaled_down', { cluster: 'carbon-kr' })).toBe(1);
    expect(t.log.messages().filter((m) => m === 'FAST pool of carbon-kr scaled down: the grid is dirtier than its threshold')).toHaveLength(1);
  });
});

describe('what-if', () => {
  let t: TestHub;
  afterEach(() => t.hub.stop());

  it('POST /hub/schedule?dry_run=true returns the next plan and leaves the store untouched', async () => {
    t = await testHub({ regions: [JP, KR] });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'a' });
    await submit(t, { job_id: 'b', urgency: 'urgent' });
    const before = await t.hub.lifecycle.store.list();
    const dry = await schedule(t, '?dry_run=true');
    expect(dry).toMatchObject({ dry_run: true, jobs_considered: 2 });
    expect(dry.placed.map((p: Placed) => p.job_id).sort()).toEqual(['a', 'b']);
    expect(await t.hub.lifecycle.store.list()).toEqual(before);
    expect((await t.hub.app.inject({ method: 'GET', url: '/hub/stats' })).json().last_schedule).toBeNull();
    expect(await metricValue(t.hub.metrics, 'caspian_whatif_requests_total', { kind: 'dry_run' })).toBe(1);
    expect(t.log.messages().filter((m) => m === 'schedule dry run')).toHaveLength(1);
    // The cycle that follows applies the same plan.
    const real = await schedule(t);
    expect(real.dry_run).toBe(false);
    expect(real.placed).toEqual(dry.placed);
  });

  it('rejects a bad dry_run value, naming it', async () => {
    t = await testHub();
    const response = await t.hub.app.inject({ method: 'POST', url: '/hub/schedule?dry_run=yes' });
    expect(response.statusCode).toBe(400);
    expect(response.json().details).toEqual([expect.objectContaining({ field: 'dry_run' })]);
  });

  it('POST /hub/whatif says where, when, at what CO2 and saving a job would run, and stores nothing', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 5, 10, 0, 0));
    t = await testHub({ regions: [JP] }, { clock });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'queued' });
    const response = await t.hub.app.inject({ method: 'POST', url: '/hub/whatif', payload: { cpu: 2, mem_gb: 4, runtime_minutes: 60, deadline_minutes: 24 * 60, urgency: 'flexible' } });
    expect(response.statusCode).toBe(200);
    const answer = response.json();
    expect(answer).toMatchObject({ job_id: 'whatif', placed: true, cluster: 'carbon-jp', region: 'JP', pool: 'FAST' });
    expect(answer.wait_seconds).toBeGreaterThan(6 * 3600);
    expect(answer.wait_seconds).toBe((Date.parse(answer.planned_start) - clock.now()) / 1000);
    expect(answer.saved_g).toBeCloseTo(answer.counterfactual_g - answer.co2_estimate_g, 9);
    expect(answer.saved_g).toBeGreaterThan(0);
    // The rest of the queue is planned with it.
    expect(answer.schedule.placed.map((p: Placed) => p.job_id).sort()).toEqual(['queued', 'whatif']);
    expect((await t.hub.lifecycle.store.list()).map((aw) => aw.jobId)).toEqual(['queued']);
    expect((await t.hub.lifecycle.store.get('queued'))?.phase).toBe('Pending');
    expect(await metricValue(t.hub.metrics, 'caspian_whatif_requests_total', { kind: 'whatif' })).toBe(1);
  });

  it('an urgent what-if starts now and saves nothing against starting now', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 5, 10, 0, 0));
    t = await testHub({ regions: [JP] }, { clock });
    await t.hub.loops.carbon.runOnce();
    const answer = (await t.hub.app.inject({ method: 'POST', url: '/hub/whatif', payload: { cpu: 2, mem_gb: 4, runtime_minutes: 60, deadline_minutes: 24 * 60, urgency: 'urgent' } })).json();
    expect(answer).toMatchObject({ placed: true, wait_seconds: 0, pool: 'FAST' });
    expect(answer.saved_g).toBeCloseTo(0, 9);
  });

  it('says why a job would not be placed, refuses the id of a stored job (409) and bad bodies (400)', async () => {
    t = await testHub({ regions: [{ ...KR, capacity: { cpu: 4, mem_gb: 64 } }], ...FLAT_KR });
    await t.hub.loops.carbon.runOnce();
    const tooBig = (await t.hub.app.inject({ method: 'POST', url: '/hub/whatif', payload: { cpu: 8, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 60 } })).json();
    expect(tooBig).toMatchObject({ placed: false, reason: expect.stringContaining('needs 8 cpu') });
    await submit(t, { job_id: 'taken' });
    const clash = await t.hub.app.inject({ method: 'POST', url: '/hub/whatif', payload: { job_id: 'taken', cpu: 1, mem_gb: 1, runtime_minutes: 30, deadline_minutes: 60 } });
    expect(clash.statusCode).toBe(409);
    const bad = await t.hub.app.inject({ method: 'POST', url: '/hub/whatif', payload: { cpu: -1, mem_gb: 1, runtime_minutes: 30, deadline_minutes: 60 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().details).toEqual([expect.objectContaining({ field: 'cpu' })]);
  });

  /** A hub whose schedule cycle is running, held in its solve until `hold` resolves. */
  const cycleHeldInItsSolve = async () => {
    const hold = deferred();
    let calls = 0;
    t = await testHub({}, {
      optimize: async (input, options) => {
        if (calls++ === 0) await hold.promise;
        return optimize(input, options);
      },
    });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'queued' });
    return { hold, cycle: schedule(t) };
  };

  it('answers 409, not 500, when its job id was submitted while it waited behind a running cycle', async () => {
    const { hold, cycle } = await cycleHeldInItsSolve();
    // The what-if finds no stored 'y' and waits for the running cycle; then 'y' is submitted.
    const whatIf = t.hub.app.inject({ method: 'POST', url: '/hub/whatif', payload: { job_id: 'y', cpu: 1, mem_gb: 1, runtime_minutes: 30, deadline_minutes: 120 } });
    await new Promise((resolve) => setImmediate(resolve));
    expect((await submit(t, { job_id: 'y' })).statusCode).toBe(201);
    hold.resolve();
    await cycle;
    const response = await whatIf;
    expect(response.statusCode).toBe(409);
    expect(response.json().message).toContain('"y" was submitted while the what-if waited');
  });

  it('names the job again, not 409, when the id it chose itself (whatif) was submitted while it waited behind a running cycle', async () => {
    const { hold, cycle } = await cycleHeldInItsSolve();
    const whatIf = t.hub.app.inject({ method: 'POST', url: '/hub/whatif', payload: { cpu: 1, mem_gb: 1, runtime_minutes: 30, deadline_minutes: 120 } });
    await new Promise((resolve) => setImmediate(resolve));
    expect((await submit(t, { job_id: 'whatif' })).statusCode).toBe(201);
    hold.resolve();
    await cycle;
    const response = await whatIf;
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ job_id: 'whatif-2', placed: true });
  });
});
