import { beforeEach, describe, expect, it } from 'vitest';
import type { CarbonProvider, CarbonReading } from '../../src/carbon/types.js';
import { AdapterError } from '../../src/domain/errors.js';
import { CarbonFeed } from '../../src/hub/carbon-feed.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLogger, type CapturedLogger } from '../support/logger.js';
import { metricSamples, metricValue } from '../support/metric-value.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const HORIZON_MS = 60 * MIN;

type Behaviour = { current: number; forecast: [offsetMinutes: number, gco2PerKwh: number][] } | 'fail' | 'hang';

/** A provider whose answer per zone the test sets; forecast offsets are minutes after the request's `from`. */
class ScriptedProvider implements CarbonProvider {
  readonly name = 'scripted';
  readonly behaviour = new Map<string, Behaviour>();
  readonly forecastCalls: { zone: string; fromMs: number; toMs: number }[] = [];

  constructor(private readonly clock: FakeClock) {}

  private answer(zone: string): Exclude<Behaviour, 'fail' | 'hang'> | Promise<never> {
    const b = this.behaviour.get(zone);
    if (b === 'fail' || b === undefined) return Promise.reject(new AdapterError(`no data for ${zone}`, true));
    if (b === 'hang') return new Promise<never>(() => undefined);
    return b;
  }

  async current(zone: string): Promise<CarbonReading> {
    const b = await this.answer(zone);
    return { zone, at: this.clock.now(), gco2PerKwh: b.current, source: this.name };
  }

  async forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    this.forecastCalls.push({ zone, fromMs, toMs });
    const b = await this.answer(zone);
    return b.forecast.map(([offset, gco2PerKwh]) => ({ zone, at: fromMs + offset * MIN, gco2PerKwh, source: this.name }));
  }
}

let clock: FakeClock;
let provider: ScriptedProvider;
let metrics: Metrics;
let log: CapturedLogger;

function feed(zones: string[] = ['KR', 'JP-TK'], timeoutMs = 1_000): CarbonFeed {
  return new CarbonFeed(provider, zones, { metrics, logger: log.logger, clock, horizonMs: HORIZON_MS, timeoutMs });
}

function refreshes(outcome: 'ok' | 'error'): Promise<number | undefined> {
  return metricValue(metrics, 'caspian_carbon_refreshes_total', { provider: 'scripted', outcome });
}

beforeEach(() => {
  clock = new FakeClock();
  provider = new ScriptedProvider(clock);
  metrics = new Metrics({ defaultMetrics: false });
  log = captureLogger();
});

describe('refresh', () => {
  it('knows nothing before the first refresh', () => {
    const carbon = feed();
    expect(carbon.providerName).toBe('scripted');
    expect(carbon.get('KR')).toBeUndefined();
    expect(carbon.slotIntensities('KR', clock.now(), 5 * MIN, 3)).toBeUndefined();
  });

  it('fetches current and forecast over the horizon for every zone, and exports the current value', async () => {
    provider.behaviour.set('KR', { current: 400, forecast: [[0, 410]] });
    provider.behaviour.set('JP-TK', { current: 450, forecast: [] });
    const carbon = feed();
    const now = clock.now();
    expect(await carbon.refresh()).toEqual([]);
    expect(carbon.get('KR')).toEqual({
      current: { zone: 'KR', at: now, gco2PerKwh: 400, source: 'scripted' },
      forecast: [{ zone: 'KR', at: now, gco2PerKwh: 410, source: 'scripted' }],
      fetchedAt: now,
    });
    expect(provider.forecastCalls).toEqual([
      { zone: 'KR', fromMs: now, toMs: now + HORIZON_MS },
      { zone: 'JP-TK', fromMs: now, toMs: now + HORIZON_MS },
    ]);
    expect(await metricValue(metrics, 'grid_carbon_intensity_gco2_per_kwh', { zone: 'KR' })).toBe(400);
    expect(await metricValue(metrics, 'grid_carbon_intensity_gco2_per_kwh', { zone: 'JP-TK' })).toBe(450);
    expect(await refreshes('ok')).toBe(2);
    expect(await refreshes('error')).toBeUndefined();
  });

  it('replaces the values on the next refresh', async () => {
    provider.behaviour.set('KR', { current: 400, forecast: [] });
    const carbon = feed(['KR']);
    await carbon.refresh();
    clock.advance(10_000);
    provider.behaviour.set('KR', { current: 700, forecast: [] });
    await carbon.refresh();
    expect(carbon.get('KR')?.current.gco2PerKwh).toBe(700);
    expect(carbon.get('KR')?.fetchedAt).toBe(clock.now());
    expect(await metricValue(metrics, 'grid_carbon_intensity_gco2_per_kwh', { zone: 'KR' })).toBe(700);
  });

  it('keeps the last values of a zone whose provider fails, counts the error and logs a warning', async () => {
    provider.behaviour.set('KR', { current: 400, forecast: [[0, 400]] });
    provider.behaviour.set('JP-TK', { current: 450, forecast: [] });
    const carbon = feed();
    await carbon.refresh();
    const before = carbon.get('KR');

    clock.advance(10_000);
    provider.behaviour.set('KR', 'fail');
    provider.behaviour.set('JP-TK', { current: 300, forecast: [] });
    expect(await carbon.refresh()).toEqual(['KR']);

    expect(carbon.get('KR')).toEqual(before);
    expect(carbon.get('JP-TK')?.current.gco2PerKwh).toBe(300);
    expect(await metricValue(metrics, 'grid_carbon_intensity_gco2_per_kwh', { zone: 'KR' })).toBe(400);
    expect(await refreshes('error')).toBe(1);
    expect(await refreshes('ok')).toBe(3);
    const warnings = log.lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      msg: 'carbon refresh failed; keeping last known values',
      zone: 'KR',
      provider: 'scripted',
      err: { type: 'AdapterError', message: 'no data for KR', retryable: true },
    });
  });

  it('fails a zone that was never fetched without inventing values', async () => {
    provider.behaviour.set('KR', 'fail');
    const carbon = feed(['KR']);
    expect(await carbon.refresh()).toEqual(['KR']);
    expect(carbon.get('KR')).toBeUndefined();
    expect(carbon.slotIntensities('KR', clock.now(), 5 * MIN, 2)).toBeUndefined();
    expect(await metricValue(metrics, 'grid_carbon_intensity_gco2_per_kwh', { zone: 'KR' })).toBeUndefined();
  });

  it('gives up on a provider that never answers after timeoutMs, keeping the last values', async () => {
    provider.behaviour.set('KR', { current: 400, forecast: [] });
    provider.behaviour.set('JP-TK', { current: 450, forecast: [] });
    // 20 ms is the bound on a call that never ends, not a speed requirement.
    const carbon = feed(['KR', 'JP-TK'], 20);
    await carbon.refresh();
    provider.behaviour.set('KR', 'hang');
    expect(await carbon.refresh()).toEqual(['KR']);
    expect(carbon.get('KR')?.current.gco2PerKwh).toBe(400);
    expect(await refreshes('error')).toBe(1);
    const warning = log.lines.find((l) => l.level === 40);
    expect(warning).toMatchObject({ zone: 'KR', err: { type: 'AdapterError', message: 'carbon data for zone KR timed out after 20 ms', retryable: true } });
  });
});

describe('forecast gauge', () => {
  it('leaves out a lead time the forecast stops at (its last point holds for one step, end excluded)', async () => {
    const now = clock.now();
    const hourly: CarbonProvider = {
      name: 'chain',
      current: async (zone) => ({ zone, at: now, gco2PerKwh: 430, source: 'file' }),
      // Hourly points at 0, 1 h and 2 h: the forecast covers [now, now + 3 h).
      forecast: async (zone) => [0, 1, 2].map((h) => ({ zone, at: now + h * HOUR, gco2PerKwh: 400 + h, source: 'file' })),
    };
    const hub = new CarbonFeed(hourly, ['KR'], { metrics, logger: log.logger, clock, horizonMs: 3 * HOUR, timeoutMs: 1_000 });
    await hub.refresh();
    const samples = await metricSamples(metrics, 'caspian_carbon_forecast_gco2_per_kwh');
    expect(samples.map((s) => [s.labels.horizon, s.value])).toEqual([['1h', 401]]);
  });

  it('after a failed refresh, reads the last forecast from now on: its lead times slide and run out', async () => {
    // Points every hour for 12 h from the first refresh: 100, 101, ... 111.
    provider.behaviour.set('KR', { current: 50, forecast: Array.from({ length: 12 }, (_, h): [number, number] => [h * 60, 100 + h]) });
    const carbon = feed(['KR']);
    await carbon.refresh();
    const byHorizon = async () => Object.fromEntries((await metricSamples(metrics, 'caspian_carbon_forecast_gco2_per_kwh')).map((s) => [s.labels.horizon, s.value]));
    expect(await byHorizon()).toEqual({ '1h': 101, '3h': 103, '6h': 106 });
    provider.behaviour.set('KR', 'fail');
    clock.advance(2 * HOUR);
    expect(await carbon.refresh()).toEqual(['KR']);
    expect(await byHorizon()).toEqual({ '1h': 103, '3h': 105, '6h': 108 });
    clock.advance(6 * HOUR);
    await carbon.refresh();
    expect(await byHorizon()).toEqual({ '1h': 109, '3h': 111 });
  });
});

describe('slotIntensities', () => {
  // Forecast points at +10, +20 and +30 minutes; current 999 before the first. A slot gets the time-average
  // of this step function over it, as the accounting integrates it.
  const forecast: [number, number][] = [
    [10, 100],
    [20, 200],
    [30, 300],
  ];
  const cases: { name: string; fromOffsetMinutes: number; slotMinutes: number; slots: number; points?: [number, number][]; want: number[] }[] = [
    { name: 'before the first point: the current value', fromOffsetMinutes: 0, slotMinutes: 5, slots: 2, want: [999, 999] },
    { name: 'slots inside one step take its value', fromOffsetMinutes: 0, slotMinutes: 5, slots: 8, want: [999, 999, 100, 100, 200, 200, 300, 300] },
    { name: 'past the last point, the last value holds', fromOffsetMinutes: 30, slotMinutes: 10, slots: 3, want: [300, 300, 300] },
    { name: 'a slot straddling a point weighs both sides by time', fromOffsetMinutes: 7.5, slotMinutes: 5, slots: 2, want: [(2.5 * 999 + 2.5 * 100) / 5, 100] },
    { name: 'a slot straddling the last point', fromOffsetMinutes: 25, slotMinutes: 10, slots: 2, want: [250, 300] },
    { name: 'slots wider than the steps average every step they hold', fromOffsetMinutes: 0, slotMinutes: 30, slots: 2, want: [(10 * 999 + 10 * 100 + 10 * 200) / 30, 300] },
    { name: 'no slots', fromOffsetMinutes: 0, slotMinutes: 5, slots: 0, want: [] },
    { name: 'an empty forecast: the current value everywhere', fromOffsetMinutes: 0, slotMinutes: 5, slots: 3, points: [], want: [999, 999, 999] },
    // A 5-minute spike inside an hour counts for a twelfth of it, not for the whole hour.
    { name: 'a short spike inside a slot', fromOffsetMinutes: 0, slotMinutes: 60, slots: 1, points: [[0, 200], [30, 900], [35, 200]], want: [(55 * 200 + 5 * 900) / 60] },
  ];
  for (const { name, fromOffsetMinutes, slotMinutes, slots, points, want } of cases) {
    it(name, async () => {
      provider.behaviour.set('KR', { current: 999, forecast: points ?? forecast });
      const carbon = feed(['KR']);
      await carbon.refresh();
      const start = clock.now();
      expect(carbon.slotIntensities('KR', start + fromOffsetMinutes * MIN, slotMinutes * MIN, slots)).toEqual(want);
    });
  }

  it('answers per zone', async () => {
    provider.behaviour.set('KR', { current: 400, forecast: [[0, 410]] });
    provider.behaviour.set('JP-TK', { current: 450, forecast: [[0, 460]] });
    const carbon = feed();
    await carbon.refresh();
    expect(carbon.slotIntensities('KR', clock.now(), 5 * MIN, 2)).toEqual([410, 410]);
    expect(carbon.slotIntensities('JP-TK', clock.now(), 5 * MIN, 2)).toEqual([460, 460]);
    expect(carbon.slotIntensities('CN', clock.now(), 5 * MIN, 2)).toBeUndefined();
  });
});
