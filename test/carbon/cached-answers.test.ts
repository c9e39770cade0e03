import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ElectricityMapsProvider } from '../../src/carbon/electricitymaps-provider.js';
import { CarbonFetchError } from '../../src/carbon/http.js';
import { WattTimeProvider } from '../../src/carbon/watttime-provider.js';
import { CarbonFeed } from '../../src/hub/carbon-feed.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLogger } from '../support/logger.js';
import { metricValue } from '../support/metric-value.js';
import { Loopback } from './loopback.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

let server: Loopback;
let clock: FakeClock;

// Electricity Maps v3 `latest`, as the API answers it (static.electricitymaps.com/api/docs).
const latestBody = (datetime: string, carbonIntensity = 436) => ({
  zone: 'KR',
  carbonIntensity,
  datetime,
  updatedAt: '2026-01-04T23:47:12.317Z',
  createdAt: '2026-01-01T23:50:21.000Z',
  emissionFactorType: 'lifecycle',
  isEstimated: true,
  estimationMethod: 'TIME_SLICER_AVERAGE',
});

function em(cacheSeconds = 300): ElectricityMapsProvider {
  return new ElectricityMapsProvider({ baseUrl: server.url, apiToken: 't', zones: {}, emissionFactorType: 'lifecycle', timeoutMs: 500, cacheSeconds }, { clock });
}

beforeEach(async () => {
  server = await new Loopback().start();
  clock = new FakeClock();
});
afterEach(() => server.stop());

/** What a provider caches is an answer read in full, for the zone asked, dated when it arrived. */
describe('carbon providers: answers cached, refused and dated', () => {
  it('does not cache an Electricity Maps answer refused for its timestamp', async () => {
    server.on('/v3/carbon-intensity/latest', { json: latestBody('yesterday') }, { json: latestBody('2026-01-05T00:00:00.000Z') });
    const provider = em();
    await expect(provider.current('KR')).rejects.toMatchObject({ reason: 'malformed' });
    clock.advance(10_000);
    // README: "such an answer is never cached": the next refresh asks the API again and gets its good answer.
    expect((await provider.current('KR')).gco2PerKwh).toBe(436);
    expect(server.count('/v3/carbon-intensity/latest')).toBe(2);
  });

  it('does not cache a WattTime answer refused for its point_time', async () => {
    const body = (pointTime: string) => ({
      data: [{ point_time: pointTime, value: 870 }],
      meta: { data_point_period_seconds: 300, region: 'CAISO_NORTH', warnings: [], signal_type: 'co2_moer', units: 'lbs_co2_per_mwh', generated_at: '2026-01-05T00:00:00+00:00' },
    });
    server.on('/login', { json: { token: 'tok' } }).on('/v3/forecast', { json: body('2026-01-05 noon') }, { json: body('2026-01-05T00:00:00+00:00') });
    const provider = new WattTimeProvider({ baseUrl: server.url, username: 'u', password: 'p', zones: {}, signalType: 'co2_moer', timeoutMs: 500, cacheSeconds: 300 }, { clock });
    await expect(provider.current('KR')).rejects.toMatchObject({ reason: 'malformed' });
    clock.advance(10_000);
    expect((await provider.current('KR')).gco2PerKwh).toBeCloseTo(870 * 0.45359237, 1);
    expect(server.count('/v3/forecast')).toBe(2);
  });

  it('the data age of a zone counts from when the answer arrived, not from each refresh served from the cache', async () => {
    server.on('/v3/carbon-intensity/latest', { json: latestBody('2026-01-05T00:00:00.000Z') }).on('/v3/carbon-intensity/forecast', { json: { zone: 'KR', forecast: [{ carbonIntensity: 441, datetime: '2026-01-05T01:00:00.000Z' }], updatedAt: '2026-01-05T00:00:00.000Z' } });
    const metrics = new Metrics({ defaultMetrics: false });
    const feed = new CarbonFeed(em(300), ['KR'], { metrics, logger: captureLogger().logger, clock, horizonMs: HOUR, timeoutMs: 5_000, maxStalenessMs: HOUR });
    await feed.refresh();
    // 29 refreshes later (10 s apart) the hub still runs on the answer that arrived 290 s ago: cache_seconds is 300.
    for (let i = 0; i < 29; i++) {
      clock.advance(10_000);
      await feed.refresh();
    }
    expect(server.count('/v3/carbon-intensity/latest')).toBe(1);
    // caspian_carbon_data_age_seconds: "time since its source delivered it".
    expect(feed.status('KR')?.ageSeconds).toBe(290);
    expect(await metricValue(metrics, 'caspian_carbon_data_age_seconds', { zone: 'KR' })).toBe(290);
  });

  it('an Electricity Maps answer for another zone than the one asked for is refused, not planned on', async () => {
    // docs.electricitymaps.com: "If no zone is detected (or we don't have data for that area), the API will attempt to
    // use your current location based on IP of the caller", unless shouldUseFallbackCallerLookup=false.
    server.on('/v3/carbon-intensity/latest', (request) =>
      request.query.shouldUseFallbackCallerLookup === 'false' ? { status: 404, json: { status: 'error', message: `No data for zone ${request.query.zone}` } } : { json: { ...latestBody('2026-01-05T00:00:00.000Z', 128), zone: 'FR' } },
    );
    const error = await em().current('KR').then(
      (reading) => reading,
      (e: unknown) => e,
    );
    // Either way (the fallback turned off, or the answer's zone checked), KR must not get France's 128 g.
    expect(error).toBeInstanceOf(CarbonFetchError);
  });
});
