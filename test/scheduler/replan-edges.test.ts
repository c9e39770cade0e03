import { afterEach, describe, expect, it, vi } from 'vitest';
import { optimize } from '../../src/optimizer/index.js';
import type { OptimizeInput } from '../../src/optimizer/types.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { FakeClock } from '../support/fake-clock.js';
import { dispatch, FlatProvider, region, schedule, submit, view } from '../support/flat-hub.js';
import { testHub, type TestHub } from '../support/hub.js';
import { metricValue } from '../support/metric-value.js';

type Placed = { job_id: string; planned_start: string; cluster: string };

/** The cycle's re-plans for running jobs left out, its dry run beside it, and what its metrics report. */
describe('schedule cycle: plans made again, previews and their metrics', () => {
  let t: TestHub;
  afterEach(async () => {
    vi.restoreAllMocks();
    await t?.hub.stop();
  });

  /** A job running in KR whose move to JP (JP turned far cleaner) is decided and waits for the dispatcher. */
  async function runningWithPendingMove(): Promise<{ clock: FakeClock; provider: FlatProvider; ranFrom: string }> {
    const clock = new FakeClock();
    const provider = new FlatProvider(clock, { KR: 300, JP: 600 });
    t = await testHub({ regions: [region('KR'), region('JP')], migration: { network_gco2_per_gb: {} } }, { clock, carbonProvider: provider });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'mover', cpu: 2, runtime_minutes: 240, deadline_minutes: 600 });
    await schedule(t);
    await dispatch(t);
    await dispatch(t);
    expect((await view(t, 'mover')).phase).toBe('Running');
    const ranFrom = (await view(t, 'mover')).planned_start;
    clock.advanceMinutes(10);
    provider.values.KR = 900;
    provider.values.JP = 50;
    await t.hub.loops.carbon.runOnce();
    const moved = await schedule(t);
    expect(moved.migrations).toEqual([expect.objectContaining({ job_id: 'mover', to_cluster: 'carbon-jp' })]);
    return { clock, provider, ranFrom };
  }

  const startOf = (s: { placed: Placed[] }) => s.placed.find((p) => p.job_id === 'mover')?.planned_start;

  it('a dry run shows the planned start the cycle applies to a running job whose pending move the plan gives up', async () => {
    const { clock, provider, ranFrom } = await runningWithPendingMove();
    // Before the move is carried out, KR is clean again: the next plan keeps the job where its Job runs.
    clock.advanceMinutes(10);
    provider.values.KR = 100;
    provider.values.JP = 900;
    await t.hub.loops.carbon.runOnce();
    const dry = (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule?dry_run=true' })).json();
    const real = await schedule(t);
    expect(startOf(real)).toBe(ranFrom);
    // The dry run is "the plan the next cycle would apply": it must show the same start.
    expect(startOf(dry)).toBe(startOf(real));
  });

  it('a dry run shows the planned start the cycle applies to a running job whose pending move the plan confirms', async () => {
    const { clock } = await runningWithPendingMove();
    // Before the move is carried out, the next cycle plans the job to JP again: its new Job would start now.
    clock.advanceMinutes(10);
    await t.hub.loops.carbon.runOnce();
    const dry = (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule?dry_run=true' })).json();
    const real = await schedule(t);
    expect(real.placed).toEqual([expect.objectContaining({ job_id: 'mover', cluster: 'carbon-jp', planned_start: new Date(clock.now()).toISOString() })]);
    expect((await view(t, 'mover')).planned_start).toBe(startOf(real));
    expect(startOf(dry)).toBe(startOf(real));
  });

  it('a pending move planned again by later cycles is one decision, however far its start follows the clock', async () => {
    const { clock } = await runningWithPendingMove();
    const decisions = async () => (await t.hub.app.inject({ method: 'GET', url: '/hub/decisions?job_id=mover' })).json().items as unknown[];
    // The first placement in KR and the move to JP.
    expect(await decisions()).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      clock.advanceMinutes(5);
      await t.hub.loops.carbon.runOnce();
      const again = await schedule(t);
      expect(again.migrations).toEqual([]);
      expect(again.placed).toEqual([expect.objectContaining({ job_id: 'mover', cluster: 'carbon-jp' })]);
    }
    expect(await decisions()).toHaveLength(2);
    expect(await metricValue(t.hub.metrics, 'caspian_decisions_total')).toBe(2);
  });

  it('the plans made again for running jobs left out stay within the cycle\'s one solver time limit', async () => {
    // A fake performance clock: each solve takes the whole time it is given (as a solver on a big input does).
    let perfMs = 1_000_000;
    vi.spyOn(performance, 'now').mockImplementation(() => perfMs);
    const limits: number[] = [];
    t = await testHub({ optimizer: { time_limit_seconds: 20 } }, {
      optimize: async (input, options) => {
        const limit = options.timeLimitSeconds ?? 0;
        limits.push(limit);
        perfMs += limit * 1000;
        const output = await optimize(input, options);
        // Every plan gives the room of a running job still in the input away.
        const out = ['one', 'two'].find((id) => input.jobs.some((j) => j.job_id === id));
        if (!out) return output;
        return { ...output, plans: output.plans.filter((p) => p.job_id !== out), unscheduled: [...output.unscheduled, { job_id: out, code: 'no_capacity' as const, reason: 'no room' }] };
      },
    });
    await t.hub.loops.carbon.runOnce();
    const now = t.clock.now();
    for (const id of ['one', 'two']) {
      const running = appWrapper(id).cpu(1).phase('Running').target('carbon-kr').placement({ cluster: 'carbon-kr', jobName: id, generation: 1, pool: 'FAST' }).obj();
      await t.hub.lifecycle.store.insert({ ...running, submittedAt: now, updatedAt: now, startedAt: now, plannedStartAt: now, deadlineAt: now + 600 * 60_000 });
    }
    await schedule(t);
    expect(limits).toHaveLength(3);
    // README: "the cycle then plans again with its cores held, up to three plans within the one time limit";
    // optimizer.time_limit_seconds is the "solver budget per cycle".
    expect(limits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(20);
  });

  it('a running job left outside the plan gives up a move decided before: it runs on where it is, not onto cores given to others', async () => {
    const clock = new FakeClock();
    const provider = new FlatProvider(clock, { KR: 300, JP: 600 });
    let dropMover = false;
    const inputs: OptimizeInput[] = [];
    t = await testHub({ regions: [region('KR'), region('JP')], migration: { network_gco2_per_gb: {} } }, {
      clock,
      carbonProvider: provider,
      optimize: async (input, options) => {
        inputs.push(input);
        const output = await optimize(input, options);
        if (!dropMover || !input.jobs.some((j) => j.job_id === 'mover')) return output;
        // An optimizer may give a running job's room to other jobs (the case the cycle plans again for).
        return { ...output, plans: output.plans.filter((p) => p.job_id !== 'mover'), unscheduled: [...output.unscheduled, { job_id: 'mover', code: 'no_capacity' as const, reason: 'no room' }] };
      },
    });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'mover', cpu: 8, runtime_minutes: 240, deadline_minutes: 600 });
    await schedule(t);
    await dispatch(t);
    await dispatch(t);
    expect((await view(t, 'mover')).phase).toBe('Running');

    // JP turns far cleaner: the plan moves the running job there; the dispatcher has not carried it out yet.
    clock.advanceMinutes(10);
    provider.values.KR = 900;
    provider.values.JP = 50;
    await t.hub.loops.carbon.runOnce();
    expect((await schedule(t)).migrations).toEqual([expect.objectContaining({ job_id: 'mover', to_cluster: 'carbon-jp' })]);

    // The next plan leaves it out: it is held where it runs, outside the plan, and JP's cores go to a new job.
    dropMover = true;
    await submit(t, { job_id: 'filler', cpu: 16, runtime_minutes: 60, deadline_minutes: 600, urgency: 'urgent', affinity_regions: ['JP'] });
    const summary = await schedule(t);
    expect(summary.outside_plan.map((o: { job_id: string }) => o.job_id)).toEqual(['mover']);
    expect(summary.placed).toEqual([expect.objectContaining({ job_id: 'filler', cluster: 'carbon-jp' })]);
    const last = inputs[inputs.length - 1]!;
    expect(last.capacities.find((c) => c.region === 'JP' && c.slot === 0)?.cpu_cap).toBe(16);

    // README: a job outside the plan "runs on where it is ... its cores held for it"; the plan held them on KR.
    expect(await metricValue(t.hub.metrics, 'caspian_migrations_dropped_total', { from_cluster: 'carbon-kr', to_cluster: 'carbon-jp', reason: 'replanned' })).toBe(1);
    expect(t.log.messages()).toContain('not moving mover to carbon-jp: it is outside the plan (pool FAST, which the plan could not keep beside the other jobs) and runs on where it is');
    await dispatch(t);
    expect((await view(t, 'mover')).job).toMatchObject({ cluster: 'carbon-kr' });
  });

  it('counts a cycle whose optimizer fails in caspian_optimizer_failures_total, also when its fallback fails too', async () => {
    t = await testHub({}, {
      optimize: async () => {
        throw new Error('worker crashed');
      },
      fallbackOptimize: async () => {
        throw new Error('greedy exploded');
      },
    });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'a' });
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).statusCode).toBe(500);
    expect(t.log.messages()).toContain('optimizer failed; planning with the fallback solver');
    expect(await metricValue(t.hub.metrics, 'caspian_schedule_cycles_total', { outcome: 'error' })).toBe(1);
    // "Schedule cycles whose optimizer call failed (...) and fell back": this cycle's optimizer failed and fell back.
    expect(await metricValue(t.hub.metrics, 'caspian_optimizer_failures_total')).toBe(1);
  });

  it('the plan objective gauge and the planned CO2 by cluster agree on a running job: both price the work it has left', async () => {
    const clock = new FakeClock();
    const provider = new FlatProvider(clock, { KR: 400 });
    t = await testHub({ regions: [region('KR')] }, { clock, carbonProvider: provider });
    await t.hub.loops.carbon.runOnce();
    // 12 minutes of work: three 5-minute slots.
    await submit(t, { job_id: 'run', cpu: 4, runtime_minutes: 12, deadline_minutes: 600, urgency: 'urgent' });
    await schedule(t);
    await dispatch(t);
    await dispatch(t);
    expect((await view(t, 'run')).phase).toBe('Running');
    // One minute in, 11 minutes of work are left: the plan holds three slots, its grams are scaled to 11 minutes.
    clock.advanceMinutes(1);
    await t.hub.loops.carbon.runOnce();
    const summary = await schedule(t);
    const placedG = summary.placed.find((p: { job_id: string }) => p.job_id === 'run').co2_gco2;
    expect(summary.migrations).toEqual([]);
    expect(await metricValue(t.hub.metrics, 'caspian_co2_planned_grams', { cluster: 'carbon-kr' })).toBeCloseTo(placedG, 6);
    // "Plan objective: the last plan's total: run carbon plus migration charges" (no migration here).
    expect(await metricValue(t.hub.metrics, 'caspian_schedule_objective_gco2')).toBeCloseTo(placedG, 6);
  });
});

