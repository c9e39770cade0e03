import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WattTimeProvider } from '../../src/carbon/watttime-provider.js';
import { FileTraceProvider } from '../../src/carbon/file-provider.js';
import { createCarbonProvider } from '../../src/carbon/factory.js';
import { carbonOptionsSchema } from '../../src/carbon/options.js';
import { CarbonFeed, carbonFaultHook } from '../../src/hub/carbon-feed.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { captureLogger } from '../support/logger.js';
import { metricValue } from '../support/metric-value.js';
import { FakeClock } from '../support/fake-clock.js';
import { Loopback, type Request } from './loopback.js';

/**
^ * Carbon data edges: answers refused before they are cached, the Electricity Maps export of
 * today, one period for a looped trace, the data age under the constant stand-in, a forecast outage while
 * `latest` answers, and the hours an Electricity Maps forecast has no value for.
 */

const HOUR = 3_600_000;

// `/v3/forecast` as docs.watttime.org documents it.
function wattTimeForecast(units = 'lbs_co2_per_mwh', values = [870, 862.5, 901]) {
  return {
    data: values.map((value, i) => ({ point_time: new Date(Date.UTC(2026, 0, 5, 0, 5 * i)).toISOString().replace('.000Z', '+00:00'), value })),
    meta: { data_point_period_seconds: 300, region: 'CAISO_NORTH', warnings: [], signal_type: 'co2_moer', model: { date: '2023-03-01', type: 'binned_regression' }, units, generated_at_period_seconds: 300, generated_at: '2026-01-05T00:00:00+00:00' },
  };
}

let server: Loopback;
let clock: FakeClock;

beforeEach(async () => {
  server = await new Loopback().start();
  clock = new FakeClock();
});
afterEach(() => server.stop());

function wattTime(): WattTimeProvider {
  return new WattTimeProvider(
    { baseUrl: server.url, username: 'caspian', password: 's3cret', zones: { KR: 'CAISO_NORTH' }, signalType: 'co2_moer', timeoutMs: 1000, cacheSeconds: 300 },
    { clock },
  );
}

describe('WattTime', () => {
  it('asks WattTime again at the next refresh after an answer refused for its units (it is not cached)', async () => {
    // README: "unknown units ... never stop the hub; such an answer is never cached".
    server.on('/login', { json: { token: 'tok' } }).on('/v3/forecast', { json: wattTimeForecast('percentile') }, { json: wattTimeForecast() });
    const wt = wattTime();
    await expect(wt.current('KR')).rejects.toMatchObject({ reason: 'units' });
    clock.advance(10_000); // the next carbon refresh
    const current = await wt.current('KR').catch((e: unknown) => e);
    expect(server.count('/v3/forecast')).toBe(2);
    expect(current).toMatchObject({ source: 'watttime', gco2PerKwh: expect.closeTo(870 * 0.45359237, 1) });
  });

  it('asks WattTime again after an answer refused for a value beyond any grid (it is not cached)', async () => {
    server.on('/login', { json: { token: 'tok' } }).on('/v3/forecast', { json: wattTimeForecast('kg_co2_per_mwh', [870, 250_000, 901]) }, { json: wattTimeForecast() });
    const wt = wattTime();
    await expect(wt.current('KR')).rejects.toMatchObject({ reason: 'malformed' });
    clock.advance(10_000);
    const current = await wt.current('KR').catch((e: unknown) => e);
    expect(server.count('/v3/forecast')).toBe(2);
    expect(current).toMatchObject({ source: 'watttime' });
  });
});

// The header of the hourly CSV Electricity Maps exports today (app.electricitymaps.com data portal, 2024 onwards):
// the lifecycle column is "(Life cycle)", the percentages are CFE% and RE%.
const EM_EXPORT_HEADER =
  'Datetime (UTC),Country,Zone name,Zone id,Carbon intensity gCO₂eq/kWh (direct),Carbon intensity gCO₂eq/kWh (Life cycle),Carbon-free energy percentage (CFE%),Renewable energy percentage (RE%),Data source,Data estimated,Data estimation method';

describe('file provider', () => {
  it('reads the Electricity Maps hourly export as it is downloaded today (lifecycle column "Life cycle", not "LCA")', () => {
    const csv = [
      EM_EXPORT_HEADER,
      '2025-03-03 00:00:00,South Korea,South Korea,KR,365.10,419.66,32.31,13.24,"kpx.or.kr, entsoe.eu",true,TIME_SLICER_AVERAGE',
      '2025-03-03 01:00:00,South Korea,South Korea,KR,372.15,427.76,31.01,14.20,"kpx.or.kr, entsoe.eu",false,',
    ].join('\n');
    const clock = new FakeClock(Date.UTC(2025, 2, 3, 1, 30));
    const build = () => new FileTraceProvider({ paths: ['kr-2025.csv'], loop: true, zones: {}, emissionFactor: 'lifecycle' }, clock, () => csv);
    expect(build).not.toThrow();
    return expect(build().current('KR')).resolves.toMatchObject({ gco2PerKwh: 427.76 });
  });

  it('loops every zone of one trace over the same span, so that a zone lacking its last value does not drift from the others', async () => {
    // KR and JP-TK recorded together over two days; JP-TK's very last hour has no value (a gap in the record).
    const rows = ['zone,datetime,gco2_per_kwh'];
    for (let h = 0; h < 48; h++) {
      const at = new Date(Date.UTC(2026, 0, 1, h)).toISOString();
      rows.push(`KR,${at},${400 + h}`);
      rows.push(`JP-TK,${at},${h === 47 ? '' : 500 + h}`);
    }
    const start = Date.UTC(2026, 0, 1);
    // Ten loops later, at 05:30 of the trace's first day.
    const clock = new FakeClock(start + 10 * 48 * HOUR + 5.5 * HOUR);
    const trace = new FileTraceProvider({ paths: ['trace.csv'], loop: true, zones: {}, emissionFactor: 'lifecycle' }, clock, () => rows.join('\n'));
    expect((await trace.current('KR')).gco2PerKwh).toBe(405);
    // JP-TK replays the value recorded at the same instant as KR's (05:00 of day one), not one ten hours later.
    expect((await trace.current('JP-TK')).gco2PerKwh).toBe(505);
  });
});

const LATEST = '/v3/carbon-intensity/latest';
const FORECAST = '/v3/carbon-intensity/forecast';
const PAST_RANGE = '/v3/carbon-intensity/past-range';
const emLatest = (carbonIntensity: number, datetime: string) => ({
  json: { zone: 'KR', carbonIntensity, datetime, updatedAt: datetime, createdAt: datetime, emissionFactorType: 'lifecycle', isEstimated: false, estimationMethod: null },
});

/** The hub's carbon feed over the configured provider, as main.ts builds it. */
function hubFeed(carbon: Record<string, unknown>, horizonMs = 24 * HOUR) {
  const metrics = new Metrics({ defaultMetrics: false });
  const log = captureLogger();
  const options = carbonOptionsSchema.parse(carbon);
  const provider = createCarbonProvider(options, { clock, onError: carbonFaultHook({ metrics, logger: log.logger }), sleep: async () => undefined });
  const feed = new CarbonFeed(provider, ['KR'], { metrics, logger: log.logger, clock, horizonMs, timeoutMs: 10_000, maxStalenessMs: options.max_staleness_seconds * 1000 });
  return { feed, metrics, log };
}

describe('carbon feed over the fallback chain', () => {
  it('keeps counting the data age from the last delivery when the constant stand-in takes over', async () => {
    server
      .on(LATEST, emLatest(436, '2026-01-05T00:00:00.000Z'))
      .on(FORECAST, { status: 503, text: '<html><body>503 Service Unavailable</body></html>' })
      .on(PAST_RANGE, { status: 503, text: '<html><body>503 Service Unavailable</body></html>' });
    const { feed, metrics } = hubFeed({
      provider: 'electricitymaps',
      electricitymaps: { api_token: 't', base_url: server.url },
      constant_gco2_per_kwh: 550,
      max_staleness_seconds: 3600,
      cache_seconds: 0,
    });
    await feed.refresh();
    expect(feed.status('KR')).toMatchObject({ source: 'electricitymaps', ageSeconds: 0, stale: false });

    // Electricity Maps goes down.
    server.on(LATEST, { status: 503, text: '<html><body>503 Service Unavailable</body></html>' });
    clock.advance(30 * 60_000);
    await feed.refresh();
    expect(feed.status('KR')).toMatchObject({ source: 'last-known', ageSeconds: 1800, stale: false });
    expect(await metricValue(metrics, 'caspian_carbon_data_age_seconds', { zone: 'KR' })).toBe(1800);

    clock.advance(31 * 60_000);
    await feed.refresh();
    expect(feed.status('KR')).toMatchObject({ source: 'constant', stale: true });
    // Nothing has come from any source for 61 minutes: the age of what the zone runs on cannot be younger.
    expect(await metricValue(metrics, 'caspian_carbon_data_age_seconds', { zone: 'KR' })).toBeGreaterThanOrEqual(61 * 60);
  });
});


//
// A forecast endpoint that fails while `latest` keeps answering: the chain's last forecast stands in only while
// it is as young as a last known value may be (`max_staleness_seconds`). Older, the slots are planned on the
// fresh current value and history, not on what the old forecast predicted for hours now measured.
const latestThisHour = (carbonIntensity: number) => () => {
  const datetime = new Date(Math.floor(clock.now() / HOUR) * HOUR).toISOString();
  return { json: { zone: 'KR', carbonIntensity, datetime, updatedAt: datetime, createdAt: datetime, emissionFactorType: 'lifecycle', isEstimated: false, estimationMethod: null } };
};

describe('a forecast outage on Electricity Maps while latest keeps answering', () => {
  it('plans the slot that starts now on the fresh measured value, not on a 20-hour-old forecast of it', async () => {
    const t0 = clock.now();
    // At t0 the forecast says 900 for every hour of the next day; latest says 500.
    server
      .on(LATEST, latestThisHour(500))
      .on(FORECAST, {
        json: { zone: 'KR', forecast: Array.from({ length: 24 }, (_, h) => ({ carbonIntensity: 900, datetime: new Date(t0 + h * HOUR).toISOString() })), updatedAt: new Date(t0).toISOString() },
      })
      .on(PAST_RANGE, { status: 503, text: 'down' });
    const metrics = new Metrics({ defaultMetrics: false });
    const log = captureLogger();
    const options = carbonOptionsSchema.parse({ provider: 'electricitymaps', electricitymaps: { api_token: 't', base_url: server.url }, cache_seconds: 0, max_staleness_seconds: 3600 });
    const provider = createCarbonProvider(options, { clock, onError: carbonFaultHook({ metrics, logger: log.logger }), sleep: async () => undefined });
    const feed = new CarbonFeed(provider, ['KR'], { metrics, logger: log.logger, clock, horizonMs: 24 * HOUR, timeoutMs: 10_000, maxStalenessMs: 3600_000 });
    await feed.refresh();

    // The forecast endpoint goes down; latest keeps measuring, now 200.
    server.on(FORECAST, { status: 503, text: 'down' }).on(LATEST, latestThisHour(200));
    clock.advance(20 * HOUR);
    await feed.refresh();

    expect(feed.status('KR')).toMatchObject({ source: 'electricitymaps', stale: false });
    expect(feed.get('KR')?.current.gco2PerKwh).toBe(200);
    const [slot0] = feed.slotIntensities('KR', clock.now(), 300_000, 1) ?? [];
    expect(slot0).toBe(200);
  });
});

//
// Electricity Maps answers `carbonIntensity: null` for hours it has no value for (seen in
// Green-Software-Foundation/carbon-aware-sdk#571); the provider drops those points. The hole they leave is
// filled as the horizon past the forecast's end is (history, else the current value), not held at the value
// before it.
const emRow = (carbonIntensity: number | null, at: number) => {
  const datetime = new Date(at).toISOString();
  return { zone: 'KR', carbonIntensity, datetime, updatedAt: datetime, createdAt: datetime, emissionFactorType: 'lifecycle', isEstimated: false, estimationMethod: null };
};

describe('Electricity Maps forecast with hours of null', () => {
  it('fills the hours the forecast has no value for from history, instead of holding the hour before them', async () => {
    const t0 = clock.now();
    // Forecast: 800 at hours 0-2, null at hours 3-8, 800 again from hour 9.
    const forecast = Array.from({ length: 24 }, (_, h) => ({ carbonIntensity: h >= 3 && h <= 8 ? null : 800, datetime: new Date(t0 + h * HOUR).toISOString() }));
    server
      .on(LATEST, { json: emRow(800, t0) })
      .on(FORECAST, { json: { zone: 'KR', forecast, updatedAt: new Date(t0).toISOString() } })
      // Every past hour measured 100.
      .on(PAST_RANGE, (request: Request) => {
        const start = Date.parse(request.query.start as string);
        const end = Date.parse(request.query.end as string);
        const data = [];
        for (let at = start; at < end; at += HOUR) data.push(emRow(100, at));
        return { json: { zone: 'KR', data } };
      });
    const options = carbonOptionsSchema.parse({ provider: 'electricitymaps', electricitymaps: { api_token: 't', base_url: server.url }, cache_seconds: 0 });
    const provider = createCarbonProvider(options, { clock, sleep: async () => undefined });

    const points = await provider.forecast('KR', t0, t0 + 24 * HOUR);
    const at5 = [...points].reverse().find((p) => p.at <= t0 + 5 * HOUR);
    expect(at5).toMatchObject({ kind: 'filled', gco2PerKwh: 100 });
  });
});
