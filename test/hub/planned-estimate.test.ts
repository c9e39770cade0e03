import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { FakeClock } from '../support/fake-clock.js';
import { MeasuredOnlyProvider } from '../support/flat-hub.js';
import { testHub, type TestHub } from '../support/hub.js';
import { twoRegions } from '../support/two-regions.js';

const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

/**
 * planned_g of a job re-planned while it runs. Each plan of a running job
 * prices only the rest of its run, and `wholeRunEstimateG` (src/scheduler/schedule-cycle.ts) adds "the share of
 * the previous estimate that the work done stands for" to make a whole-run figure again.
 */

describe('planned_g of a running job re-planned', () => {
  let t: TestHub;
  let clock: FakeClock;
  let spokes: Spoke[];
  let provider: MeasuredOnlyProvider;
  beforeEach(async () => {
    const world = twoRegions(16, 64, new FakeClock(T0));
    ({ clock, spokes } = world);
    provider = new MeasuredOnlyProvider(world.clock, { KR: 100, 'JP-TK': 300 });
    t = await testHub({ regions: world.regions, migration: { network_gco2_per_gb: {}, lambda_plan_dev: 0 } }, { clock, spokes, carbonProvider: provider });
    await t.hub.loops.carbon.runOnce();
  });
  afterEach(() => t.hub.stop());
  const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) => t.hub.app.inject({ method, url, ...(payload && { payload }) });
  const dispatch = () => t.hub.loops.dispatch.runOnce();
  async function advance(minutes: number): Promise<void> {
    for (let m = 0; m < minutes; m += 1) {
      clock.advanceMinutes(Math.min(1, minutes - m));
      await t.hub.loops.carbon.runOnce();
    }
  }

  it("planned_g of a running job re-planned every cycle does not drift above its plan: the slot rounding is not compounded", async () => {
    // 2 cores x 30 W + 4 GB x 0.392 W = 61.568 W: 60 minutes on KR at 100 gCO2/kWh is 6.1568 g, with constant carbon.
    expect((await inject('POST', '/hub/appwrappers', { job_id: 'job', cpu: 2, mem_gb: 4, runtime_minutes: 60, deadline_minutes: 600 })).statusCode).toBe(201);
    await t.hub.loops.schedule.runOnce();
    await dispatch();
    await dispatch();
    expect((await inject('GET', '/hub/appwrappers/job')).json()).toMatchObject({ phase: 'Running', target_cluster: 'carbon-kr', co2_estimate_g: 6.1568 });
    // The schedule loop re-plans every 5 minutes, 2 minutes into each slot of the job's run; nothing else changes.
    await advance(2);
    for (let cycle = 0; cycle < 12; cycle++) {
      await t.hub.loops.schedule.runOnce();
      await advance(5);
      await dispatch();
    }
    const job = (await inject('GET', '/hub/appwrappers/job')).json();
    expect(job.phase).toBe('Succeeded');
    expect(job.carbon.actual_g).toBeCloseTo(6.157, 3);
    // Each plan prices the rest in whole slots (at most one 5-minute slot, 0.51 g, above the truth: README), but
    // that overshoot is carried into the next estimate by the done share and grows with every cycle.
    expect(job.carbon.planned_g).toBeLessThanOrEqual(6.1568 + 0.513);
  });

  it('a move given up does not count in planned_g: re-planning the job where it runs prices its done work at its own plan, not at the move', async () => {
    // 61.568 W for 60 minutes on KR at 100 gCO2/kWh: 6.1568 g, planned and run (the job never leaves KR).
    expect((await inject('POST', '/hub/appwrappers', { job_id: 'job', cpu: 2, mem_gb: 4, runtime_minutes: 60, deadline_minutes: 600 })).statusCode).toBe(201);
    await t.hub.loops.schedule.runOnce();
    await dispatch();
    await dispatch();
    expect((await inject('GET', '/hub/appwrappers/job')).json()).toMatchObject({ phase: 'Running', target_cluster: 'carbon-kr', co2_estimate_g: 6.1568 });

    // 20 minutes in, JP turns very clean: the plan moves the job there (not carried out yet: no dispatch cycle).
    await advance(20);
    provider.values['JP-TK'] = 10;
    await t.hub.loops.carbon.runOnce();
    await t.hub.loops.schedule.runOnce();
    expect((await inject('GET', '/hub/appwrappers/job')).json()).toMatchObject({ target_cluster: 'carbon-jp' });
    // 5 minutes later JP is dirty again: the plan keeps the job on KR, and the move is given up.
    await advance(5);
    provider.values['JP-TK'] = 300;
    await t.hub.loops.carbon.runOnce();
    await t.hub.loops.schedule.runOnce();
    const kept = (await inject('GET', '/hub/appwrappers/job')).json();
    expect(kept).toMatchObject({ phase: 'Running', target_cluster: 'carbon-kr' });
    // Still 60 minutes at 100 on KR. Today 4.6176: 25/60 of the move's estimate (2.4627, mostly JP at 10) + 35 min on KR.
    expect(kept.co2_estimate_g).toBeCloseTo(6.1568, 3);

    await advance(40);
    await dispatch();
    const job = (await inject('GET', '/hub/appwrappers/job')).json();
    expect(job).toMatchObject({ phase: 'Succeeded', carbon: { actual_g: 6.157, legs: [expect.objectContaining({ cluster: 'carbon-kr' })] } });
    expect(job.carbon.planned_g).toBeCloseTo(6.157, 3);
  });

});
