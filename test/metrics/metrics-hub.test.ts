import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../support/fake-clock.js';
import { FlatProvider, region, schedule, submit } from '../support/flat-hub.js';
import { testHub, type TestHub } from '../support/hub.js';
import { metricSamples, metricValue } from '../support/metric-value.js';

/**
 * Whether /metrics tells an operator what the hub did: whole hubs (memory store, simulated spokes, fake clock,
 * manual tickers) driven through the API, then the scrape compared with the hub's own answers.
 */

/** 1 cpu and 1 GB at the default energy settings (watt_cpu 30, watt_mem_gb 0.392), W. */
const wattsOf = (cpu: number, memGb: number) => cpu * 30 + memGb * 0.392;

describe('metrics against what the hub did', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
  });

  it('caspian_schedule_objective_gco2 counts the plan\'s grams, not the waiting charges of urgent jobs', async () => {
    // One 4-core cluster and two urgent 4-core jobs of an hour: the second must wait an hour for the first.
    const clock = new FakeClock();
    t = await testHub({ regions: [region('KR', undefined, 4)] }, { clock, carbonProvider: new FlatProvider(clock, { KR: 500 }) });
    await t.hub.start();
    for (const job_id of ['first', 'second']) {
      expect((await submit(t, { job_id, cpu: 4, mem_gb: 8, runtime_minutes: 60, deadline_minutes: 600, urgency: 'urgent' })).statusCode).toBe(201);
    }
    const summary = await schedule(t);
    expect(summary.placed).toHaveLength(2);
    expect(summary.migrations).toEqual([]);
    const runCarbon = summary.placed.reduce((sum: number, p: { co2_gco2: number }) => sum + p.co2_gco2, 0);
    // Each job emits 123.1 W x 1 h x 500 g/kWh = 61.6 g; nothing moves. The help says "Objective of the last
    // plan: run carbon plus migration charges. Unit: gCO2" (README: "the last plan's total: run carbon plus
    // migration charges"), and the summary's own co2_estimate_kg agrees with the plan.
    expect(runCarbon).toBeCloseTo(2 * (wattsOf(4, 8) / 1000) * 500, 3);
    expect(summary.co2_estimate_kg * 1000).toBeCloseTo(runCarbon, 3);
    // The gauge also carries the optimizer's waiting charge of the urgent job that waits (lambda_plan_dev + 1
    // per slot, 12 slots): about 1.2 kg "gCO2" that no job emits nor any migration is charged.
    expect(await metricValue(t.hub.metrics, 'caspian_schedule_objective_gco2')).toBeCloseTo(runCarbon, 3);
  });

  it('caspian_co2_planned_grams prices the rest of a running job as the work left, not whole slots', async () => {
    // Hour-long slots; an urgent hour-long job runs from 00:00 and has 10 minutes left at 00:50.
    const clock = new FakeClock();
    t = await testHub({ slot_seconds: 3600, regions: [region('KR')] }, { clock, carbonProvider: new FlatProvider(clock, { KR: 400 }) });
    await t.hub.start();
    expect((await submit(t, { job_id: 'train', cpu: 4, mem_gb: 8, runtime_minutes: 60, deadline_minutes: 600, urgency: 'urgent' })).statusCode).toBe(201);
    await schedule(t);
    await t.hub.loops.dispatch.runOnce();
    clock.advance(50 * 60_000);
    await t.hub.loops.carbon.runOnce();
    await t.hub.loops.dispatch.runOnce();
    const before = (await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/train' })).json();
    expect(before.phase).toBe('Running');
    await schedule(t);
    const after = (await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/train' })).json();
    // What is left to emit on carbon-kr: 10 minutes of 123.1 W at 400 g/kWh = 8.2 g.
    const restG = (wattsOf(4, 8) / 1000) * 400 * (10 / 60);
    // The hub itself prices the rest so (README, planned_g: "A plan made while the job runs prices only the rest
    // of it, scaled to the work left (the plan prices whole slots ...)"): its whole-run estimate is the 50 minutes
    // done, at its previous estimate, plus 8.2 g.
    expect(after.co2_estimate_g).toBeCloseTo(before.co2_estimate_g * (50 / 60) + restG, 3);
    // "CO2 planned by cluster: what the last plan expects each cluster to emit" counts a whole hour: 49.3 g, six
    // times what the job has left to emit, on the same plan.
    expect(await metricValue(t.hub.metrics, 'caspian_co2_planned_grams', { cluster: 'carbon-kr' })).toBeCloseTo(restG, 3);
  });

  it('caspian_carbon_refreshes_total counts a zone once per carbon loop when two clusters share it', async () => {
    // Two clusters in one grid zone (two accounts, or two clusters, in one region): the config allows it.
    const clock = new FakeClock();
    const regions = [
      { name: 'KR-A', cluster: 'carbon-kr-a', context: 'kind-carbon-kr-a', zone: 'KR', capacity: { cpu: 8, mem_gb: 32 } },
      { name: 'KR-B', cluster: 'carbon-kr-b', context: 'kind-carbon-kr-b', zone: 'KR', capacity: { cpu: 8, mem_gb: 32 } },
    ];
    const provider = new FlatProvider(clock, { KR: 400 });
    let currentCalls = 0;
    const counting = { name: provider.name, current: (zone: string) => (currentCalls++, provider.current(zone)), forecast: provider.forecast.bind(provider) };
    t = await testHub({ regions }, { clock, carbonProvider: counting });
    await t.hub.loops.carbon.runOnce();
    // Help: "Carbon-intensity refreshes of the hub's provider, one per zone each time the carbon loop runs"; README:
    // "one count per zone per refresh". One loop, one zone: one refresh. The hub refreshes KR twice (and asks
    // the provider twice, which a rate-limited account pays for).
    expect(await metricValue(t.hub.metrics, 'caspian_carbon_refreshes_total', { provider: 'flat', outcome: 'ok' })).toBe(1);
    expect(currentCalls).toBe(1);
  });

  it('caspian_optimizer_failures_total counts schedule cycles that fell back, not what-ifs or dry runs', async () => {
    const clock = new FakeClock();
    t = await testHub(
      { regions: [region('KR')] },
      {
        clock,
        carbonProvider: new FlatProvider(clock, { KR: 400 }),
        optimize: async () => {
          throw new Error('optimizer worker crashed');
        },
      },
    );
    await t.hub.start();
    const whatIf = await t.hub.app.inject({ method: 'POST', url: '/hub/whatif', payload: { cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240 } });
    expect(whatIf.statusCode).toBe(200);
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/schedule?dry_run=true' })).statusCode).toBe(200);
    // No schedule cycle ran, and no plan was applied, let alone one from the greedy fallback.
    expect(await metricValue(t.hub.metrics, 'caspian_schedule_cycles_total', { outcome: 'ok' })).toBe(0);
    expect(await metricValue(t.hub.metrics, 'caspian_schedule_cycles_total', { outcome: 'error' })).toBe(0);
    // Help: "Schedule cycles whose optimizer call failed ... and fell back to the in-process greedy solver. Unit:
    // cycles." The CaspianOptimizerFallingBack alert reads it as "plans of those cycles came from the greedy
    // fallback": it fires on two what-if answers here.
    expect((await metricSamples(t.hub.metrics, 'caspian_optimizer_failures_total'))[0]?.value).toBe(0);
  });
});
