import { beforeEach, describe, expect, it } from 'vitest';
import type { CarbonProvider, CarbonReading } from '../../src/carbon/types.js';
import { CarbonFeed, carbonFaultHook, type CarbonFeedDeps } from '../../src/hub/carbon-feed.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLogger, type CapturedLogger } from '../support/logger.js';
import { metricSamples, metricValue } from '../support/metric-value.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

/** A provider whose next answer the test sets. */
class SettableProvider implements CarbonProvider {
  readonly name = 'chain';
  current_: Omit<CarbonReading, 'zone'> | undefined;
  forecast_: Omit<CarbonReading, 'zone'>[] = [];

  async current(zone: string): Promise<CarbonReading> {
    if (!this.current_) throw new Error('down');
    return { zone, ...this.current_ };
  }

  async forecast(zone: string): Promise<CarbonReading[]> {
    return this.forecast_.map((p) => ({ zone, ...p }));
  }
}

let clock: FakeClock;
let provider: SettableProvider;
let metrics: Metrics;
let log: CapturedLogger;

function feed(deps: Partial<CarbonFeedDeps> = {}): CarbonFeed {
  return new CarbonFeed(provider, ['KR'], { metrics, logger: log.logger, clock, horizonMs: 24 * HOUR, timeoutMs: 1_000, ...deps });
}

beforeEach(() => {
  clock = new FakeClock();
  provider = new SettableProvider();
  metrics = new Metrics({ defaultMetrics: false });
  log = captureLogger();
});

describe('CarbonFeed provenance', () => {
  it('exports the source as an info metric and logs when it changes', async () => {
    const carbon = feed();
    provider.current_ = { at: clock.now(), gco2PerKwh: 430, source: 'electricitymaps', kind: 'measured', fetchedAt: clock.now() };
    await carbon.refresh();
    await carbon.refresh();
    provider.current_ = { ...provider.current_, source: 'file' };
    await carbon.refresh();

    expect(await metricSamples(metrics, 'caspian_carbon_source_info')).toEqual([{ name: 'caspian_carbon_source_info', labels: { zone: 'KR', source: 'file' }, value: 1 }]);
    const changes = log.lines.filter((l) => String(l.msg).startsWith('carbon source for zone KR'));
    expect(changes.map((l) => l.msg)).toEqual(['carbon source for zone KR: none -> electricitymaps', 'carbon source for zone KR: electricitymaps -> file']);
    expect(carbon.status('KR')).toEqual({ source: 'file', kind: 'measured', ageSeconds: 0, stale: false });
  });

  it('exports the data age, which grows while refreshes fail, and flags the zone past the staleness bound', async () => {
    const carbon = feed({ maxStalenessMs: 30 * MIN });
    provider.current_ = { at: clock.now(), gco2PerKwh: 430, source: 'electricitymaps', fetchedAt: clock.now() - 2 * MIN };
    await carbon.refresh();
    expect(await metricValue(metrics, 'caspian_carbon_data_age_seconds', { zone: 'KR' })).toBe(120);
    expect(await metricValue(metrics, 'caspian_carbon_stale', { zone: 'KR' })).toBe(0);

    provider.current_ = undefined;
    clock.advance(29 * MIN);
    await carbon.refresh();
    expect(await metricValue(metrics, 'caspian_carbon_data_age_seconds', { zone: 'KR' })).toBe(31 * 60);
    expect(carbon.status('KR')?.stale).toBe(true);
    expect(await metricValue(metrics, 'caspian_carbon_stale', { zone: 'KR' })).toBe(1);
  });

  it('counts a last-known value served again during an outage as measured only until max_staleness', async () => {
    const carbon = feed({ maxStalenessMs: HOUR });
    const t0 = clock.now();
    provider.current_ = { at: t0, gco2PerKwh: 400, source: 'electricitymaps', kind: 'measured', fetchedAt: t0 };
    await carbon.refresh();
    // The provider is down: a fallback chain serves the same reading again (source last-known, same fetchedAt).
    provider.current_ = { ...provider.current_, source: 'last-known' };
    for (let i = 0; i < 240; i++) {
      clock.advance(30_000);
      await carbon.refresh();
    }
    const account = carbon.emissions('KR', 1_000, t0, t0 + 2 * HOUR);
    expect(account).toMatchObject({ measuredMs: HOUR, basis: 'forecast' });
  });

  it('flags a zone whose provider says its value is stale', async () => {
    const carbon = feed();
    provider.current_ = { at: clock.now(), gco2PerKwh: 550, source: 'constant', kind: 'filled', stale: true };
    await carbon.refresh();
    expect(carbon.status('KR')).toMatchObject({ source: 'constant', stale: true });
  });

  it('exports the forecast at fixed lead times, leaving out those the forecast does not reach', async () => {
    const carbon = feed();
    const now = clock.now();
    provider.current_ = { at: now, gco2PerKwh: 430, source: 'file' };
    provider.forecast_ = [0, 1, 2, 3, 4, 5, 6].map((h) => ({ at: now + h * HOUR, gco2PerKwh: 400 + h, source: 'file' }));
    await carbon.refresh();
    const samples = await metricSamples(metrics, 'caspian_carbon_forecast_gco2_per_kwh');
    expect(Object.fromEntries(samples.map((s) => [s.labels.horizon, s.value]))).toEqual({ '1h': 401, '3h': 403, '6h': 406 });

    provider.forecast_ = provider.forecast_.slice(0, 2);
    await carbon.refresh();
    expect((await metricSamples(metrics, 'caspian_carbon_forecast_gco2_per_kwh')).map((s) => s.labels.horizon)).toEqual(['1h']);
  });

  it('plans against the high end of the band when risk is pessimistic', async () => {
    const now = clock.now();
    provider.current_ = { at: now, gco2PerKwh: 430, source: 'file' };
    provider.forecast_ = [
      { at: now, gco2PerKwh: 400, lowGco2PerKwh: 380, highGco2PerKwh: 450, source: 'file', kind: 'forecast' },
      { at: now + HOUR, gco2PerKwh: 410, source: 'file', kind: 'filled' },
    ];
    const expected = feed();
    const pessimistic = feed({ risk: 'pessimistic' });
    await expected.refresh();
    await pessimistic.refresh();
    expect(expected.slotIntensities('KR', now, HOUR, 2)).toEqual([400, 410]);
    expect(pessimistic.slotIntensities('KR', now, HOUR, 2)).toEqual([450, 410]);
    expect(expected.slotIntensities('KR', now, HOUR, 2, 'pessimistic')).toEqual([450, 410]);
  });

  it('counts and logs the faults a composite provider reports', async () => {
    const hook = carbonFaultHook({ metrics, logger: log.logger });
    hook('electricitymaps', 'rate_limited', new Error('429'));
    hook('electricitymaps', 'rate_limited', new Error('429'));
    hook('watttime', 'units', new Error('unknown units'));
    expect(await metricValue(metrics, 'caspian_carbon_fetch_errors_total', { provider: 'electricitymaps', reason: 'rate_limited' })).toBe(2);
    expect(await metricValue(metrics, 'caspian_carbon_fetch_errors_total', { provider: 'watttime', reason: 'units' })).toBe(1);
    expect(log.lines.filter((l) => l.level === 40).map((l) => l.msg)).toContain('carbon provider watttime failed (units)');
  });
});
