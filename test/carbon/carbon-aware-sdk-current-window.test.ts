import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CarbonAwareSdkProvider } from '../../src/carbon/carbon-aware-sdk-provider.js';
import { FakeClock } from '../support/fake-clock.js';
import { Loopback, type Answer, type Request } from '../carbon/loopback.js';

/*
 * The Carbon Aware SDK WebAPI over its Electricity Maps data source (Green-Software-Foundation/carbon-aware-sdk,
 * src/CarbonAware.DataSources/CarbonAware.DataSources.ElectricityMaps/src/ElectricityMapsDataSource.cs,
 * GetCarbonIntensityAsync): a `/emissions/bylocations` window whose start AND end lie within the last 24 hours
 * (end <= now) is served from Electricity Maps' `/carbon-intensity/history` (available on every plan); any other
 * window, including one whose `toTime` is in the future, goes to `/carbon-intensity/past-range`, which plans
 * without it refuse, and the SDK answers that with a 500 ValidationProblemDetails.
 */
const HOUR = 3_600_000;
let server: Loopback;
let clock: FakeClock;

function sdkOverElectricityMapsLatestOnlyPlan(now: () => number) {
  return ({ query }: Request): Answer => {
    const start = Date.parse(query.time ?? '');
    const end = Date.parse(query.toTime ?? '');
    const within24h = start > now() - 24 * HOUR && start <= now() && end > now() - 24 * HOUR && end <= now();
    if (!within24h) {
      return {
        status: 500,
        json: {
          type: 'https://tools.ietf.org/html/rfc7231#section-6.6.1',
          title: 'ElectricityMapsClientHttpException',
          status: 500,
          detail: 'Error requesting v3/carbon-intensity/past-range - Content: {"error":"Request unauthorized for zoneKey=KR,requestType=past-range,dataType=carbon-intensity."}',
        },
      };
    }
    // /history: the last 24 hourly values, whatever the window (the data source does not filter them).
    const lastHour = Math.floor(now() / HOUR) * HOUR;
    const data = Array.from({ length: 24 }, (_, i) => ({ location: query.location, time: new Date(lastHour - (23 - i) * HOUR).toISOString(), rating: 400 + i, duration: '01:00:00' }));
    return { json: data };
  };
}

beforeEach(async () => {
  server = await new Loopback().start();
  clock = new FakeClock(Date.UTC(2026, 0, 5, 10, 20));
});
afterEach(() => server.stop());

describe('CarbonAwareSdkProvider.current() window', () => {
  it('asks bylocations for a window that has already happened, so that the SDK can serve it from recent history', async () => {
    server.on('/emissions/bylocations', sdkOverElectricityMapsLatestOnlyPlan(() => clock.now()));
    const sdk = new CarbonAwareSdkProvider({ baseUrl: server.url, zones: { KR: 'koreacentral' }, timeoutMs: 500, cacheSeconds: 300 }, { clock });
    const current = await sdk.current('KR');
    expect(current).toMatchObject({ gco2PerKwh: 423, at: Date.UTC(2026, 0, 5, 10), kind: 'measured' });
    const toTime = Date.parse(server.requests[0]?.query.toTime ?? '');
    expect(toTime).toBeLessThanOrEqual(clock.now());
  });
});
