import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CarbonReading } from '../../src/carbon/types.js';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { optimize } from '../../src/optimizer/index.js';
import { solverNames } from '../../src/optimizer/solvers/registry.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { deferred } from '../support/deferred.js';
import { FakeClock } from '../support/fake-clock.js';
import { FlatProvider, MeasuredOnlyProvider, region, schedule, submit, view } from '../support/flat-hub.js';
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

const ROOT = join(import.meta.dirname, '../..');
const MIN = 60_000;

interface Panel {
  title: string;
  description: string;
  targets: { expr: string }[];
  fieldConfig: { defaults: { min?: number; max?: number } };
}
const dashboard = JSON.parse(readFileSync(join(ROOT, 'dashboards/carbon-hub-dashboard.json'), 'utf8')) as { panels: Panel[] };
const panel = (title: string) => dashboard.panels.find((p) => p.title === title) as Panel;

/** A FlatProvider whose zones in `failing` never answer. */
class FailingZoneProvider extends FlatProvider {
  constructor(clock: FakeClock, values: Record<string, number>, private readonly failing: ReadonlySet<string>) {
    super(clock, values);
  }
  override async current(zone: string): Promise<CarbonReading> {
    if (this.failing.has(zone)) throw new Error(`401 Unauthorized for zone ${zone}`);
    return super.current(zone);
  }
  override async forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    if (this.failing.has(zone)) throw new Error(`401 Unauthorized for zone ${zone}`);
    return super.forecast(zone, fromMs, toMs);
  }
}

/** Answers its status; its Job list times out. */
class ListFailingSpoke extends SimulatedSpoke {
  override async listJobs(): Promise<never> {
    throw new Error(`list Jobs on ${this.cluster} timed out`);
  }
}

describe('operator signals: carbon, solves, requests and panels', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
  });

  it('a zone whose carbon data never arrived is stale (caspian_carbon_stale 1, no age), so that the alert on staleness covers it', async () => {
    // JP's provider refuses every request from the start (a token without that zone, say). The hub never plans on JP.
    const clock = new FakeClock();
    t = await testHub({ regions: [region('KR'), region('JP')] }, { clock, carbonProvider: new FailingZoneProvider(clock, { KR: 400, JP: 300 }, new Set(['JP'])) });
    await t.hub.start();
    for (let i = 0; i < 24; i++) {
      clock.advance(5 * MIN);
      await t.hub.loops.carbon.runOnce();
    }
    // Two hours of failed refreshes: /hub/clusters has no carbon for JP at all.
    const clusters = (await t.hub.app.inject({ method: 'GET', url: '/hub/clusters' })).json().clusters as { name: string; carbon: unknown }[];
    expect(clusters.find((c) => c.name === 'carbon-jp')?.carbon).toBeNull();
    expect(await metricValue(t.hub.metrics, 'caspian_carbon_refreshes_total', { provider: 'flat', outcome: 'error' })).toBe(25);
    // The stale gauge (the "Stale carbon zones" panel and the CaspianCarbonDataStale alert read only it) has KR at 0
    // and nothing for JP: the zone with no data at all reads as healthy as a fresh one, and no alert can fire.
    expect(await metricValue(t.hub.metrics, 'caspian_carbon_stale', { zone: 'KR' })).toBe(0);
    expect(await metricValue(t.hub.metrics, 'caspian_carbon_stale', { zone: 'JP' })).toBe(1);
  });

  it('caspian_solves_total starts at 0 for every solver and status: the first timed-out or failed solve shows in increase()', async () => {
    const clock = new FakeClock();
    t = await testHub({ regions: [region('KR')] }, { clock, carbonProvider: new FlatProvider(clock, { KR: 400 }) });
    await t.hub.start();
    // Help: "Labels: solver (jslp|highs|lagrangian|hybrid|greedy), status (optimal|feasible|timedout|error)" - a fixed,
    // known set. README: "a series born at 1 would hide its first event from increase() and rate()"; the
    // "Solves by solver and status" panel is sum by (solver, status) (increase(caspian_solves_total[...])).
    const samples = await metricSamples(t.hub.metrics, 'caspian_solves_total');
    const missing = solverNames().flatMap((solver) =>
      ['optimal', 'feasible', 'timedout', 'error'].filter((status) => !samples.some((s) => s.labels.solver === solver && s.labels.status === status && s.value === 0)).map((status) => `${solver}/${status}`),
    );
    expect(missing).toEqual([]);
  });

  it('the "CO2 saved by urgency" panel draws a net saving below zero: no hard axis minimum', async () => {
    // KR 400 and JP 100 when planned: a flexible job with affinity [KR, JP] goes to JP. JP's grid then turns
    // dirty (900) while it runs: it emits more than running at once in KR would have.
    const clock = new FakeClock();
    const provider = new MeasuredOnlyProvider(clock, { KR: 400, JP: 100 });
    t = await testHub({ regions: [region('KR'), region('JP')] }, { clock, carbonProvider: provider });
    await t.hub.start();
    expect((await submit(t, { job_id: 'j', runtime_minutes: 30, deadline_minutes: 600, affinity_regions: ['KR', 'JP'], urgency: 'flexible' })).statusCode).toBe(201);
    await schedule(t);
    await t.hub.loops.dispatch.runOnce();
    await t.hub.loops.dispatch.runOnce();
    expect(await view(t, 'j')).toMatchObject({ phase: 'Running', target_cluster: 'carbon-jp' });
    provider.values.JP = 900;
    for (let i = 0; i < 7; i++) {
      await t.hub.loops.carbon.runOnce();
      clock.advance(5 * MIN);
    }
    await t.hub.loops.dispatch.runOnce();
    const done = await view(t, 'j');
    expect(done.phase).toBe('Succeeded');
    expect(done.carbon.saved_g).toBeLessThan(0);
    const saved = await metricValue(t.hub.metrics, 'caspian_co2_saved_grams_total', { cluster: 'carbon-jp', urgency: 'flexible' });
    const negative = await metricValue(t.hub.metrics, 'caspian_co2_saved_negative_grams_total', { cluster: 'carbon-jp', urgency: 'flexible' });
    // The panel's expression, saved - negative over the hour, is this job's saved_g: below zero.
    const net = (saved as number) - (negative as number);
    expect(net).toBeCloseTo(done.carbon.saved_g, 3);
    const savedPanel = panel('CO2 saved by urgency');
    expect(savedPanel.targets[0]?.expr).toContain('caspian_co2_saved_negative_grams_total');
    // Grafana's `min` is the axis' hard lower limit: a net saving below it is drawn off the panel, so an hour in
    // which plans made things worse reads as "0 saved".
    const axisMin = savedPanel.fieldConfig.defaults.min;
    expect(axisMin === undefined || axisMin <= net).toBe(true);
  });
  it('a request whose client gave up before the answer (a slow POST /hub/schedule) is counted in caspian_http_requests_abandoned_total and logged', async () => {
    // The optimizer is held: the schedule request takes as long as the test wants, as a big solve does.
    const clock = new FakeClock();
    const solving = deferred();
    const release = deferred();
    t = await testHub(
      { regions: [region('KR')] },
      {
        clock,
        carbonProvider: new FlatProvider(clock, { KR: 400 }),
        optimize: async (input, options) => {
          solving.resolve();
          await release.promise;
          return optimize(input, options);
        },
      },
    );
    const address = await t.hub.start();
    expect((await submit(t, { job_id: 'j' })).statusCode).toBe(201);
    const serverSockets: Socket[] = [];
    t.hub.app.server.on('connection', (socket: Socket) => serverSockets.push(socket));
    const client = request(new URL('/hub/schedule', address), { method: 'POST' });
    client.on('error', () => undefined);
    client.end();
    await solving.promise;
    // The client times out (curl --max-time, a proxy's limit) and closes its connection; the hub sees it close.
    const closed = once(serverSockets[0] as Socket, 'close');
    client.destroy();
    await closed;
    release.resolve();
    // The held cycle finishes (the next run waits for it), and its handler answers a connection that is gone.
    await t.hub.loops.schedule.runOnce();
    expect(await metricValue(t.hub.metrics, 'caspian_http_requests_abandoned_total', { method: 'POST', route: '/hub/schedule' })).toBe(1);
    expect(t.log.messages()).toContain('request abandoned: the client closed the connection before the answer');
  });
  it('the spoke readiness panels say what caspian_cluster_ready and clusters_ready count: a status check answered and the Job list read', async () => {
    // KR answers every status check; its Job list times out (as in test/wiring/fix-edges.test.ts).
    const clock = new FakeClock();
    const spokes: Spoke[] = [{ info: { name: 'carbon-kr', region: 'KR', zone: 'KR' }, client: new ListFailingSpoke('carbon-kr', { cpu: 16, memGb: 64, gpu: 0 }, clock) }];
    t = await testHub({ regions: [region('KR')] }, { clock, spokes, carbonProvider: new FlatProvider(clock, { KR: 400 }) });
    await t.hub.loops.dispatch.runOnce();
    await schedule(t);
    const kr = (await t.hub.app.inject({ method: 'GET', url: '/hub/clusters' })).json().clusters[0];
    expect(kr.checked_at).not.toBeNull();
    expect(await metricValue(t.hub.metrics, 'caspian_cluster_ready', { cluster: 'carbon-kr' })).toBe(0);
    expect(await metricValue(t.hub.metrics, 'clusters_ready')).toBe(0);
    // The help texts were corrected ("answers in full: its last status check, and its Jobs since a list of them
    // failed"); the dashboard still tells the on-call reader that 0 means the spoke did not answer its status check,
    // sending them to the API server and kubeconfig when it is the Job list that fails.
    expect.soft(panel('Spoke readiness by cluster').description).not.toMatch(/answered its last status check/);
    expect.soft(panel('Spokes ready').description).not.toMatch(/answered their last status check/);
  });
});
