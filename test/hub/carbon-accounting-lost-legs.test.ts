import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { requeuedOffLostCluster, type AppWrapper } from '../../src/domain/app-wrapper.js';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { CarbonAccountant } from '../../src/hub/carbon-accountant.js';
import { CarbonFeed } from '../../src/hub/carbon-feed.js';
import { Lifecycle } from '../../src/hub/lifecycle.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { FakeClock } from '../support/fake-clock.js';
import { MeasuredOnlyProvider } from '../support/flat-hub.js';
import { testHub, type TestHub } from '../support/hub.js';
import { twoRegions } from '../support/two-regions.js';
import { captureLogger } from '../support/logger.js';
import { metricSamples, metricValue } from '../support/metric-value.js';

/** Accounts of jobs that ended on a lost leg: their legs' rounding, and the plan they count as carried out. */

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

/** Measured values per zone (no forecast: the feed holds its current value). */
describe('the legs of an account', () => {
  it("never shows a leg with negative grams, and the legs' counter adds up to actual_g", async () => {
    const clock = new FakeClock(T0);
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.registerClusters(['carbon-kr', 'carbon-jp']);
    const log = captureLogger();
    // 4 cores x 30 W + 10 GB x 0.5 W = 125 W at 480 gCO2/kWh: one gram a minute in either zone.
    const feed = new CarbonFeed(new MeasuredOnlyProvider(clock, { KR: 480, 'JP-TK': 480 }), ['KR', 'JP-TK'], { metrics, logger: log.logger, clock, horizonMs: 24 * 3_600_000, timeoutMs: 1000 });
    const accountant = new CarbonAccountant({
      clusters: [
        { name: 'carbon-kr', region: 'KR', zone: 'KR' },
        { name: 'carbon-jp', region: 'JP', zone: 'JP-TK' },
      ],
      power: { wattCpu: 30, wattGpu: 250, wattMemGb: 0.5 },
      emissions: (...args) => feed.emissions(...args),
      metrics,
      logger: log.logger,
      now: () => clock.now(),
    });
    const store = new MemoryStore();
    const lifecycle = new Lifecycle({ store, metrics, logger: log.logger, clock, accounting: accountant });
    while (clock.now() < T0 + 40 * MIN) {
      await feed.refresh();
      clock.advance(5 * MIN);
    }
    await feed.refresh();

    // Ran on KR for 10 min 36 ms (10.0006 g), moved to JP and ran there 20 min 36 ms (20.0006 g), moved back to KR,
    // whose new Job had not started when KR stopped answering: requeued, with the zero-length lost leg that says so.
    const legKr = { cluster: 'carbon-kr', pool: 'FAST' as const, startedAt: T0, endedAt: T0 + 10 * MIN + 36 };
    const legJp = { cluster: 'carbon-jp', pool: 'FAST' as const, startedAt: legKr.endedAt, endedAt: legKr.endedAt + 20 * MIN + 36 };
    const dispatched: AppWrapper = {
      ...appWrapper('hopper').phase('Dispatched').target('carbon-kr').placement({ cluster: 'carbon-kr', jobName: 'hopper-g3', generation: 3, pool: 'FAST' }).obj(),
      spec: { cpu: 4, memGb: 10, gpu: 0, runtimeMinutes: 60, deadlineMinutes: 600, dataGb: 0, affinityRegions: ['KR', 'JP'], urgency: 'normal', checkpointing: true },
      deadlineAt: T0 + 600 * MIN,
      gateOpen: true,
      pastRuns: [legKr, legJp],
    };
    await store.insert(requeuedOffLostCluster(dispatched, T0 + 32 * MIN, 'requeued'));
    const stored = await lifecycle.change('hopper', (cur) => ({ ...cur, phase: 'Cancelled', finishedAt: clock.now() }));

    const account = stored.carbonAccount!;
    expect(account.actualG).toBe(30.001);
    // Today: legs 10.001, 20.001 and -0.001 (the whole rounding put on the last, empty leg).
    for (const leg of account.legs ?? []) expect(leg.actualG, `${leg.cluster} ${leg.pool}`).toBeGreaterThanOrEqual(0);
    // The counter clamps the negative leg to 0, so it counts 30.002 g for a job whose actual_g is 30.001.
    const counted = (await metricSamples(metrics, 'caspian_job_co2_grams_total')).reduce((sum, s) => sum + s.value, 0);
    expect(counted).toBeCloseTo(account.actualG, 9);
  });
});

describe('planned_g of a job requeued off a lost cluster', () => {
  let t: TestHub;
  let clock: FakeClock;
  let spokes: Spoke[];
  const sim = (i: number) => spokes[i]?.client as SimulatedSpoke;
  beforeEach(async () => {
    const world = twoRegions(16, 64, new FakeClock(T0));
    ({ clock, spokes } = world);
    t = await testHub({ regions: world.regions, migration: { network_gco2_per_gb: {} } }, { clock, spokes, carbonProvider: new MeasuredOnlyProvider(clock, { KR: 100, 'JP-TK': 300 }) });
    await t.hub.loops.carbon.runOnce();
  });
  afterEach(() => t.hub.stop());
  const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) => t.hub.app.inject({ method, url, ...(payload && { payload }) });
  const dispatch = () => t.hub.loops.dispatch.runOnce();
  async function advance(minutes: number): Promise<void> {
    for (let m = 0; m < minutes; m += 5) {
      clock.advanceMinutes(Math.min(5, minutes - m));
      await t.hub.loops.carbon.runOnce();
    }
  }

  it('is the estimate of the plan it ran on, not of a plan never carried out (nor counted on a cluster that plan never used)', async () => {
    // 2 cores x 30 W + 4 GB x 0.392 W = 61.568 W: 60 minutes on KR at 100 gCO2/kWh is 6.1568 g.
    expect((await inject('POST', '/hub/appwrappers', { job_id: 'job', cpu: 2, mem_gb: 4, runtime_minutes: 60, deadline_minutes: 600 })).statusCode).toBe(201);
    await t.hub.loops.schedule.runOnce();
    await dispatch();
    await dispatch();
    expect((await inject('GET', '/hub/appwrappers/job')).json()).toMatchObject({ phase: 'Running', target_cluster: 'carbon-kr', co2_estimate_g: 6.1568 });

    // KR stops answering after 10 minutes; 15 minutes later the job is requeued, and the next plan puts it on JP.
    await advance(10);
    sim(0).setReachable(false);
    await dispatch();
    await advance(15);
    expect((await dispatch()).requeued).toEqual([{ job_id: 'job', cluster: 'carbon-kr' }]);
    await t.hub.loops.schedule.runOnce();
    expect((await inject('GET', '/hub/appwrappers/job')).json()).toMatchObject({ phase: 'Planned', target_cluster: 'carbon-jp', job: null });

    // Cancelled before that plan was carried out: it only ever ran on KR, under the KR plan.
    const cancelled = (await inject('DELETE', '/hub/appwrappers/job')).json();
    expect(cancelled.carbon.legs).toEqual([expect.objectContaining({ cluster: 'carbon-kr' })]);
    // Today: 18.47, the JP plan's estimate (60 minutes at 300) for a run that never happened.
    expect(cancelled.carbon.planned_g).toBe(6.157);
    expect(await metricValue(t.hub.metrics, 'caspian_job_co2_planned_grams_total', { cluster: 'carbon-kr', pool: 'FAST', urgency: 'normal' })).toBe(6.157);
  });
});
