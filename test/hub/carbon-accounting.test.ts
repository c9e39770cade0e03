import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { CarbonProvider, CarbonReading } from '../../src/carbon/types.js';
import type { AppWrapper, JobSpec } from '../../src/domain/app-wrapper.js';
import type { ClusterInfo } from '../../src/domain/cluster.js';
import { CarbonAccountant, carbonAccountOf, type PowerModel } from '../../src/hub/carbon-accountant.js';
import { CarbonFeed } from '../../src/hub/carbon-feed.js';
import { Lifecycle } from '../../src/hub/lifecycle.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLogger, type CapturedLogger } from '../support/logger.js';
import { metricSamples, metricValue } from '../support/metric-value.js';
import { appWrapperView } from '../../src/api/views.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

/** KR has a FAST and an ECO pool (1.5x longer at 0.6x power); JP is one FAST pool. */
const CLUSTERS: ClusterInfo[] = [
  {
    name: 'carbon-kr',
    region: 'KR',
    zone: 'KR',
    pools: [
      { name: 'FAST', share: 0.5, speedFactor: 1, powerFactor: 1, nodeSelector: {} },
      { name: 'ECO', share: 0.5, speedFactor: 1.5, powerFactor: 0.6, nodeSelector: {} },
    ],
  },
  { name: 'carbon-jp', region: 'JP', zone: 'JP-TK' },
];
const POWER: PowerModel = { wattCpu: 30, wattGpu: 250, wattMemGb: 0.5 };

/** Measured intensity per zone as a function of time: KR 400 until 02:00, then 200; JP 480 throughout. */
function intensity(zone: string, atMs: number): number {
  if (zone === 'KR') return atMs < T0 + 2 * HOUR ? 400 : 200;
  return 480;
}

/** Answers the intensity above as measured; forecasts nothing (the feed then holds its current value). */
class MeasuredProvider implements CarbonProvider {
  readonly name = 'measured';
  constructor(private readonly clock: FakeClock) {}
  async current(zone: string): Promise<CarbonReading> {
    return { zone, at: this.clock.now(), gco2PerKwh: intensity(zone, this.clock.now()), source: this.name, kind: 'measured' };
  }
  async forecast(): Promise<CarbonReading[]> {
    return [];
  }
}

const spec: JobSpec = { cpu: 4, memGb: 10, gpu: 0, runtimeMinutes: 60, deadlineMinutes: 600, dataGb: 0, affinityRegions: ['JP', 'KR'], urgency: 'flexible', checkpointing: true };

let clock: FakeClock;
let metrics: Metrics;
let log: CapturedLogger;
let carbon: CarbonFeed;

function newFeed(): CarbonFeed {
  return new CarbonFeed(new MeasuredProvider(clock), ['KR', 'JP-TK'], { metrics, logger: log.logger, clock, horizonMs: 24 * HOUR, timeoutMs: 1000 });
}

function accountant(feed = carbon): CarbonAccountant {
  return new CarbonAccountant({ clusters: CLUSTERS, power: POWER, emissions: (...args) => feed.emissions(...args), metrics, logger: log.logger, now: () => clock.now() });
}

/** Moves the clock to `untilMs`, refreshing the feed every 10 minutes on the way (and at `untilMs`). */
async function runFeedUntil(feed: CarbonFeed, untilMs: number): Promise<void> {
  while (clock.now() < untilMs) {
    await feed.refresh();
    clock.advance(Math.min(10 * MIN, untilMs - clock.now()));
  }
  await feed.refresh();
}

/** A job submitted at T0 that ran on KR's ECO pool from 01:00 to 02:30 (its 60 minutes at 1.5x). */
function ranOnEco(jobId = 'eco-job'): AppWrapper {
  return {
    ...appWrapper(jobId).phase('Running').target('carbon-kr').placement({ cluster: 'carbon-kr', jobName: jobId, generation: 1, pool: 'ECO' }).obj(),
    spec,
    targetPool: 'ECO',
    co2EstimateG: 35,
    startedAt: T0 + HOUR,
  };
}

beforeEach(() => {
  clock = new FakeClock(T0);
  metrics = new Metrics({ defaultMetrics: false });
  log = captureLogger();
  carbon = newFeed();
});

describe('the carbon account of a finished job', () => {
  it('matches a hand computation', async () => {
    await runFeedUntil(carbon, T0 + 2.5 * HOUR);
    const running = ranOnEco();
    const finished: AppWrapper = { ...running, phase: 'Succeeded', finishedAt: T0 + 2.5 * HOUR };
    // Power on FAST: 4 cores x 30 W + 10 GB x 0.5 W = 125 W; on ECO x 0.6 = 75 W.
    // Actual, KR ECO, 01:00-02:30: 0.075 kW x 1 h x 400 g/kWh = 30 g (to 02:00), then 0.075 kW x 0.5 h x 200 = 7.5 g: 37.5 g.
    // Energy: 75 W x 1.5 h = 0.1125 kWh.
    // Counterfactual, JP (first of its affinity) on FAST from submission (00:00), for the same work: 90 min / 1.5 = 60 min:
    //   0.125 kW x 1 h x 480 g/kWh = 60 g. Saved: 60 - 37.5 = 22.5 g. Planned: the last plan's estimate, 35 g.
    // Every instant of both runs had a refresh within the hour before: measured.
    const { account, run } = carbonAccountOf(running, finished, { clusters: CLUSTERS, power: POWER, emissions: (...a) => carbon.emissions(...a) }, clock.now());
    expect(run).toEqual({ cluster: 'carbon-kr', pool: 'ECO' });
    expect(account).toEqual({ plannedG: 35, actualG: 37.5, counterfactualG: 60, savedG: 22.5, energyKwh: 0.1125, basis: 'measured', legs: [{ cluster: 'carbon-kr', pool: 'ECO', actualG: 37.5 }] });
  });

  it('without affinity, runs the counterfactual in the first configured cluster; FAST pools draw full power', async () => {
    await runFeedUntil(carbon, T0 + 2 * HOUR);
    const running: AppWrapper = { ...ranOnEco(), spec: { ...spec, affinityRegions: [] }, placement: { cluster: 'carbon-jp', jobName: 'j', generation: 1, pool: 'FAST', createdAt: T0 } };
    const finished: AppWrapper = { ...running, phase: 'Succeeded', finishedAt: T0 + 2 * HOUR };
    // Actual: JP FAST 01:00-02:00, 0.125 kW x 480 = 60 g. Counterfactual: KR FAST 00:00-01:00, 0.125 kW x 400 = 50 g. Saved -10 g.
    const { account } = carbonAccountOf(running, finished, { clusters: CLUSTERS, power: POWER, emissions: (...a) => carbon.emissions(...a) }, clock.now());
    expect(account).toMatchObject({ actualG: 60, counterfactualG: 50, savedG: -10, energyKwh: 0.125, basis: 'measured' });
  });

  it('counts every leg of a migrated job, each in its own zone and pool', async () => {
    await runFeedUntil(carbon, T0 + 3 * HOUR);
    // Ran on JP FAST 00:30-01:00, migrated to KR ECO, ran there 02:00-02:45 (the 30 minutes left, at 1.5x).
    const running: AppWrapper = {
      ...ranOnEco(),
      pastRuns: [{ cluster: 'carbon-jp', pool: 'FAST', startedAt: T0 + 0.5 * HOUR, endedAt: T0 + HOUR }],
      placement: { cluster: 'carbon-kr', jobName: 'eco-job-g2', generation: 2, pool: 'ECO', createdAt: T0 + HOUR },
      startedAt: T0 + 2 * HOUR,
    };
    const finished: AppWrapper = { ...running, phase: 'Succeeded', finishedAt: T0 + 2.75 * HOUR };
    // JP FAST: 0.125 kW x 0.5 h x 480 = 30 g; KR ECO: 0.075 kW x 0.75 h x 200 = 11.25 g. Actual 41.25 g.
    // Energy: 0.0625 + 0.05625 = 0.11875 kWh. Work in FAST time: 30 + 45 / 1.5 = 60 min, so the counterfactual
    // is JP FAST 00:00-01:00: 0.125 kW x 480 = 60 g. Saved 18.75 g.
    const { account, run } = carbonAccountOf(running, finished, { clusters: CLUSTERS, power: POWER, emissions: (...a) => carbon.emissions(...a) }, clock.now());
    expect(run).toEqual({ cluster: 'carbon-kr', pool: 'ECO' });
    expect(account).toEqual({
      plannedG: 35,
      actualG: 41.25,
      counterfactualG: 60,
      savedG: 18.75,
      energyKwh: 0.11875,
      basis: 'measured',
      legs: [
        { cluster: 'carbon-jp', pool: 'FAST', actualG: 30 },
        { cluster: 'carbon-kr', pool: 'ECO', actualG: 11.25 },
      ],
    });
  });

  it('counts the carbon of a leg lost with its cluster, but not its work: the counterfactual runs the work once', async () => {
    await runFeedUntil(carbon, T0 + 3 * HOUR);
    // Ran on JP FAST 00:30-01:00, then JP was lost and the job requeued; it ran again, whole, on KR ECO 01:30-03:00.
    const running: AppWrapper = {
      ...ranOnEco(),
      pastRuns: [{ cluster: 'carbon-jp', pool: 'FAST', startedAt: T0 + 0.5 * HOUR, endedAt: T0 + HOUR, lost: true }],
      placement: { cluster: 'carbon-kr', jobName: 'eco-job', generation: 1, pool: 'ECO', createdAt: T0 + 1.5 * HOUR },
      startedAt: T0 + 1.5 * HOUR,
    };
    const finished: AppWrapper = { ...running, phase: 'Succeeded', finishedAt: T0 + 3 * HOUR };
    // JP FAST: 0.125 kW x 0.5 h x 480 = 30 g; KR ECO 01:30-02:00 at 400 and 02:00-03:00 at 200: 0.075 x (0.5 x 400 + 200) = 30 g.
    // Work in FAST time after the lost leg: 90 / 1.5 = 60 min, so the counterfactual is JP FAST 00:00-01:00, 60 g.
    const { account } = carbonAccountOf(running, finished, { clusters: CLUSTERS, power: POWER, emissions: (...a) => carbon.emissions(...a) }, clock.now());
    expect(account).toMatchObject({ actualG: 60, counterfactualG: 60, savedG: 0, legs: [{ cluster: 'carbon-jp', pool: 'FAST', actualG: 30 }, { cluster: 'carbon-kr', pool: 'ECO', actualG: 30 }] });
  });

  it("gives each leg's grams, which sum to the account's rounded actual grams", async () => {
    await runFeedUntil(carbon, T0 + 3 * HOUR);
    // Legs of 22, 42 and 20 minutes, whose grams have more than three decimals: the account rounds their sum.
    const running: AppWrapper = {
      ...ranOnEco(),
      pastRuns: [
        { cluster: 'carbon-jp', pool: 'FAST', startedAt: T0 + 7 * MIN, endedAt: T0 + 29 * MIN },
        { cluster: 'carbon-kr', pool: 'FAST', startedAt: T0 + 29 * MIN, endedAt: T0 + 71 * MIN },
      ],
      placement: { cluster: 'carbon-kr', jobName: 'eco-job-g3', generation: 3, pool: 'ECO', createdAt: T0 + 71 * MIN },
      startedAt: T0 + 113 * MIN,
    };
    const finished: AppWrapper = { ...running, phase: 'Succeeded', finishedAt: T0 + 133 * MIN };
    const { account } = carbonAccountOf(running, finished, { clusters: CLUSTERS, power: POWER, emissions: (...a) => carbon.emissions(...a) }, clock.now());
    const legs = account.legs ?? [];
    expect(legs.map((l) => [l.cluster, l.pool])).toEqual([
      ['carbon-jp', 'FAST'],
      ['carbon-kr', 'FAST'],
      ['carbon-kr', 'ECO'],
    ]);
    expect(legs[0]?.actualG).toBeCloseTo((0.125 * 22 * 480) / 60, 2);
    // Each rounded to the milligram like the total, and summing to it.
    for (const leg of legs) expect(Number(leg.actualG.toFixed(3))).toBe(leg.actualG);
    expect(legs.reduce((sum, l) => sum + l.actualG, 0)).toBeCloseTo(account.actualG, 9);
  });

  it('says forecast when the hub did not measure the whole run (a restart lost the history)', async () => {
    await runFeedUntil(carbon, T0 + 2.5 * HOUR);
    const restarted = newFeed();
    await restarted.refresh();
    const running = ranOnEco();
    const { account } = carbonAccountOf(running, { ...running, phase: 'Succeeded', finishedAt: clock.now() }, { clusters: CLUSTERS, power: POWER, emissions: (...a) => restarted.emissions(...a) }, clock.now());
    // Only the current value (KR 200, JP 480) is known: 0.075 kW x 1.5 h x 200 = 22.5 g; 0.125 kW x 1 h x 480 = 60 g.
    expect(account).toMatchObject({ actualG: 22.5, counterfactualG: 60, basis: 'forecast' });
  });
});

describe("the feed's measured history", () => {
  /** Answers `value` with the given kind and staleness, and a forecast of 900 from an hour ahead. */
  class TaggedProvider implements CarbonProvider {
    readonly name = 'tagged';
    reading: Pick<CarbonReading, 'gco2PerKwh' | 'kind' | 'stale'> = { gco2PerKwh: 100, kind: 'measured' };
    async current(zone: string): Promise<CarbonReading> {
      return { zone, at: clock.now(), source: this.name, ...this.reading };
    }
    async forecast(zone: string, fromMs: number): Promise<CarbonReading[]> {
      return [{ zone, at: fromMs + HOUR, gco2PerKwh: 900, source: this.name, kind: 'forecast' }];
    }
  }

  it('keeps only measured, fresh values; a filled or stale one leaves a gap the forecast fills', async () => {
    const provider = new TaggedProvider();
    const feed = new CarbonFeed(provider, ['KR'], { metrics, logger: log.logger, clock, horizonMs: 24 * HOUR, timeoutMs: 1000, historyHoldMs: 20 * MIN });
    await feed.refresh();
    clock.advance(10 * MIN);
    provider.reading = { gco2PerKwh: 200, kind: 'filled' };
    await feed.refresh();
    clock.advance(10 * MIN);
    provider.reading = { gco2PerKwh: 300, stale: true };
    await feed.refresh();
    clock.advance(10 * MIN);
    provider.reading = { gco2PerKwh: 400 };
    await feed.refresh();
    // 1 kW: 00:00-00:20 measured 100 (held 20 min); 00:20-00:30 a gap, filled with the current value (400, before the
    // forecast's first point at 01:30); 00:30 onwards measured 400, up to now.
    expect(feed.emissions('KR', 1000, T0, T0 + 30 * MIN)).toEqual({ grams: (100 * 20 + 400 * 10) / 60, basis: 'forecast', measuredMs: 20 * MIN });
    expect(feed.emissions('KR', 1000, T0, T0 + 20 * MIN)).toEqual({ grams: (100 * 20) / 60, basis: 'measured', measuredMs: 20 * MIN });
    // The future is the forecast's: 400 until 01:30, then 900.
    expect(feed.emissions('KR', 1000, T0 + 60 * MIN, T0 + 120 * MIN)?.grams).toBeCloseTo((400 * 30 + 900 * 30) / 60, 9);
    expect(feed.emissions('CN', 1000, T0, T0 + MIN)).toBeUndefined();
  });
});

describe('accounting through the Lifecycle', () => {
  let store: MemoryStore;
  let lifecycle: Lifecycle;
  beforeEach(() => {
    store = new MemoryStore();
    lifecycle = new Lifecycle({ store, metrics, logger: log.logger, clock, accounting: accountant() });
  });

  it('stores the account in the change that finishes the job, logs it and counts it', async () => {
    await store.insert(ranOnEco());
    await runFeedUntil(carbon, T0 + 2.5 * HOUR);
    const stored = await lifecycle.change('eco-job', (cur) => ({ ...cur, phase: 'Succeeded', finishedAt: T0 + 2.5 * HOUR }));
    expect(stored.carbonAccount).toEqual({ plannedG: 35, actualG: 37.5, counterfactualG: 60, savedG: 22.5, energyKwh: 0.1125, basis: 'measured', legs: [{ cluster: 'carbon-kr', pool: 'ECO', actualG: 37.5 }] });
    expect((await store.get('eco-job'))?.carbonAccount).toEqual(stored.carbonAccount);

    const line = log.lines.find((l) => String(l.msg).startsWith('carbon account of eco-job'));
    expect(line).toMatchObject({ jobId: 'eco-job', cluster: 'carbon-kr', pool: 'ECO', urgency: 'flexible', actualG: 37.5, counterfactualG: 60, savedG: 22.5, basis: 'measured' });
    const messages = log.messages();
    expect(messages.indexOf('AppWrapper eco-job: Running -> Succeeded')).toBeLessThan(messages.indexOf(String(line?.msg)));

    expect(await metricValue(metrics, 'caspian_job_co2_grams_total', { cluster: 'carbon-kr', pool: 'ECO', urgency: 'flexible' })).toBe(37.5);
    expect(await metricValue(metrics, 'caspian_job_co2_planned_grams_total', { cluster: 'carbon-kr', pool: 'ECO', urgency: 'flexible' })).toBe(35);
    expect(await metricValue(metrics, 'caspian_co2_saved_grams_total', { cluster: 'carbon-kr', urgency: 'flexible' })).toBe(22.5);
    expect(await metricValue(metrics, 'caspian_co2_saved_negative_grams_total', { cluster: 'carbon-kr', urgency: 'flexible' })).toBe(0);
  });

  it('counts a negative saving on its own counter, as a positive amount', async () => {
    // On JP FAST 01:00-02:00 (60 g) against KR FAST 00:00-01:00 (50 g): -10 g.
    await store.insert({ ...ranOnEco('worse'), spec: { ...spec, affinityRegions: ['KR', 'JP'], urgency: 'normal' }, targetCluster: 'carbon-jp', placement: { cluster: 'carbon-jp', jobName: 'worse', generation: 1, pool: 'FAST', createdAt: T0 } });
    await runFeedUntil(carbon, T0 + 2 * HOUR);
    await lifecycle.change('worse', (cur) => ({ ...cur, phase: 'Succeeded', finishedAt: T0 + 2 * HOUR }));
    expect(await metricValue(metrics, 'caspian_co2_saved_grams_total', { cluster: 'carbon-jp', urgency: 'normal' })).toBe(0);
    expect(await metricValue(metrics, 'caspian_co2_saved_negative_grams_total', { cluster: 'carbon-jp', urgency: 'normal' })).toBe(10);
    expect(await metricValue(metrics, 'caspian_job_co2_grams_total', { cluster: 'carbon-jp', pool: 'FAST', urgency: 'normal' })).toBe(60);
  });

  it("credits each leg's CO2 to the cluster and pool it ran on, and the job-level planned and saved grams to where it finished", async () => {
    // The migrated job of 'counts every leg of a migrated job': JP FAST 00:30-01:00 (30 g), then KR ECO 02:00-02:45 (11.25 g).
    await store.insert({
      ...ranOnEco('moved'),
      pastRuns: [{ cluster: 'carbon-jp', pool: 'FAST', startedAt: T0 + 0.5 * HOUR, endedAt: T0 + HOUR }],
      placement: { cluster: 'carbon-kr', jobName: 'moved-g2', generation: 2, pool: 'ECO', createdAt: T0 + HOUR },
      startedAt: T0 + 2 * HOUR,
    });
    await runFeedUntil(carbon, T0 + 3 * HOUR);
    const stored = await lifecycle.change('moved', (cur) => ({ ...cur, phase: 'Succeeded', finishedAt: T0 + 2.75 * HOUR }));
    expect(stored.carbonAccount).toMatchObject({ plannedG: 35, actualG: 41.25, savedG: 18.75 });

    const co2 = await metricSamples(metrics, 'caspian_job_co2_grams_total');
    const nonZero = co2.filter((s) => s.value !== 0).map((s) => [s.labels.cluster, s.labels.pool, s.labels.urgency, s.value]);
    expect(nonZero).toEqual([
      ['carbon-jp', 'FAST', 'flexible', expect.closeTo(30, 9)],
      ['carbon-kr', 'ECO', 'flexible', expect.closeTo(11.25, 9)],
    ]);
    expect(co2.reduce((sum, s) => sum + s.value, 0)).toBeCloseTo(stored.carbonAccount?.actualG as number, 9);
    const planned = await metricSamples(metrics, 'caspian_job_co2_planned_grams_total');
    expect(planned.filter((s) => s.value !== 0).map((s) => [s.labels.cluster, s.labels.pool, s.value])).toEqual([['carbon-kr', 'ECO', 35]]);
    expect(await metricValue(metrics, 'caspian_co2_saved_grams_total', { cluster: 'carbon-kr', urgency: 'flexible' })).toBe(18.75);
    expect(await metricValue(metrics, 'caspian_co2_saved_grams_total', { cluster: 'carbon-jp', urgency: 'flexible' })).toBeUndefined();
    // The account's log line names each leg.
    expect(log.lines.find((l) => String(l.msg).startsWith('carbon account of moved'))).toMatchObject({
      cluster: 'carbon-kr',
      legs: [
        { cluster: 'carbon-jp', pool: 'FAST', actualG: 30 },
        { cluster: 'carbon-kr', pool: 'ECO', actualG: 11.25 },
      ],
    });
    // Kept with the account, and shown by the API.
    expect(stored.carbonAccount?.legs).toEqual([
      { cluster: 'carbon-jp', pool: 'FAST', actualG: 30 },
      { cluster: 'carbon-kr', pool: 'ECO', actualG: 11.25 },
    ]);
    expect(appWrapperView(stored).carbon?.legs).toEqual([
      { cluster: 'carbon-jp', pool: 'FAST', actual_g: 30 },
      { cluster: 'carbon-kr', pool: 'ECO', actual_g: 11.25 },
    ]);
  });

  it('accounts a running job that is cancelled, where it ran, although the cancel clears its placement', async () => {
    await store.insert(ranOnEco());
    await runFeedUntil(carbon, T0 + 2 * HOUR);
    const stored = await lifecycle.change('eco-job', (cur) => ({ ...cur, phase: 'Cancelled', finishedAt: clock.now(), placement: undefined }));
    // KR ECO 01:00-02:00: 0.075 kW x 400 = 30 g; the same work (40 min on FAST) in JP: 0.125 kW x 2/3 h x 480 = 40 g.
    expect(stored.carbonAccount).toMatchObject({ actualG: 30, counterfactualG: 40, savedG: 10, energyKwh: 0.075 });
    expect(await metricValue(metrics, 'caspian_job_co2_grams_total', { cluster: 'carbon-kr', pool: 'ECO', urgency: 'flexible' })).toBe(30);
  });

  it('accounts a migrated job cancelled before its new Job started: the legs it ran still count', async () => {
    await store.insert({
      ...appWrapper('moved').phase('Dispatched').target('carbon-kr').placement({ cluster: 'carbon-kr', jobName: 'moved-g2', generation: 2, pool: 'ECO' }).obj(),
      spec,
      pastRuns: [{ cluster: 'carbon-jp', pool: 'FAST', startedAt: T0, endedAt: T0 + 0.5 * HOUR }],
    });
    await runFeedUntil(carbon, T0 + HOUR);
    const stored = await lifecycle.change('moved', (cur) => ({ ...cur, phase: 'Cancelled', finishedAt: clock.now(), placement: undefined }));
    // JP FAST 00:00-00:30: 0.125 kW x 0.5 h x 480 = 30 g, and the same 30 minutes is the counterfactual.
    expect(stored.carbonAccount).toMatchObject({ actualG: 30, counterfactualG: 30, savedG: 0, energyKwh: 0.0625 });
  });

  it('does not account a job that never ran, nor one that already has an account, nor a change that does not finish', async () => {
    await store.insert(appWrapper('never-ran').phase('Planned').target('carbon-kr').obj());
    expect((await lifecycle.change('never-ran', (cur) => ({ ...cur, phase: 'Cancelled', finishedAt: clock.now() }))).carbonAccount).toBeUndefined();
    await store.insert(ranOnEco('still-running'));
    expect((await lifecycle.change('still-running', (cur) => ({ ...cur, reason: 'x' }))).carbonAccount).toBeUndefined();
    expect(log.messages().filter((m) => m.startsWith('carbon account'))).toEqual([]);
  });

  it('lets the job finish without an account when accounting fails, with a warning', async () => {
    await store.insert({ ...ranOnEco('lost'), placement: { cluster: 'carbon-mars', jobName: 'lost', generation: 1, pool: 'FAST', createdAt: T0 } });
    await runFeedUntil(carbon, T0 + 2 * HOUR);
    const stored = await lifecycle.change('lost', (cur) => ({ ...cur, phase: 'Failed', reason: 'Job failed', finishedAt: clock.now() }));
    expect(stored).toMatchObject({ phase: 'Failed', reason: 'Job failed' });
    expect(stored.carbonAccount).toBeUndefined();
    expect(log.lines.find((l) => l.level === 40 && String(l.msg).includes('carbon accounting of lost failed'))).toMatchObject({ jobId: 'lost', err: { message: 'cluster carbon-mars is not configured' } });
    expect(await metricValue(metrics, 'caspian_job_co2_grams_total', { cluster: 'carbon-mars', pool: 'FAST', urgency: 'flexible' })).toBeUndefined();
  });
});

describe('persistence', () => {
  const dir = mkdtempSync(join(tmpdir(), 'caspian-account-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips the account through the SQLite store', async () => {
    const account = { plannedG: 35, actualG: 37.5, counterfactualG: 60, savedG: 22.5, energyKwh: 0.1125, basis: 'measured' as const };
    const before = SqliteStore.open(dir);
    await before.insert({ ...ranOnEco(), phase: 'Succeeded', finishedAt: T0 + 2.5 * HOUR, carbonAccount: account });
    await before.close();
    const after = SqliteStore.open(dir);
    try {
      expect((await after.get('eco-job'))?.carbonAccount).toEqual(account);
    } finally {
      await after.close();
    }
  });
});
