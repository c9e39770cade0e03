import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CarbonAwareSdkProvider } from '../../src/carbon/carbon-aware-sdk-provider.js';
import { FakeClock } from '../support/fake-clock.js';
import { Loopback } from './loopback.js';

// The SDK web API's documented bodies (casdk-docs, carbon-aware-webapi.md), field by field.
const FORECASTS = [
  {
    requestedAt: '2026-01-05T00:00:10+00:00',
    generatedAt: '2026-01-04T23:55:00+00:00',
    location: 'koreacentral',
    dataStartAt: '2026-01-05T00:00:00Z',
    dataEndAt: '2026-01-05T01:00:00Z',
    windowSize: 5,
    optimalDataPoints: [{ location: 'KR', timestamp: '2026-01-05T00:30:00+00:00', duration: 30, value: 418.2 }],
    forecastData: [
      { location: 'KR', timestamp: '2026-01-05T00:00:00+00:00', duration: 30, value: 431.5 },
      { location: 'KR', timestamp: '2026-01-05T00:30:00+00:00', duration: 30, value: 418.2 },
    ],
  },
];
const EMISSIONS = [
  { location: 'koreacentral', time: '2026-01-04T22:00:00+00:00', rating: 440.1, duration: '01:00:00' },
  { location: 'koreacentral', time: '2026-01-04T23:00:00+00:00', rating: 436.7, duration: '01:00:00' },
];
// ASP.NET ValidationProblemDetails, which the SDK answers every error with.
const PROBLEM = {
  type: 'https://tools.ietf.org/html/rfc7231#section-6.5.1',
  title: 'ArgumentException',
  status: 400,
  detail: 'Unknown location: mars',
  traceId: '00-1b2c3d-01',
  errors: {},
};

let server: Loopback;
let clock: FakeClock;

function provider(): CarbonAwareSdkProvider {
  return new CarbonAwareSdkProvider({ baseUrl: server.url, zones: { KR: 'koreacentral' }, timeoutMs: 100, cacheSeconds: 300 }, { clock });
}

beforeEach(async () => {
  server = await new Loopback().start();
  clock = new FakeClock();
});
afterEach(() => server.stop());

describe('CarbonAwareSdkProvider', () => {
  it('reads the current forecast of the mapped location', async () => {
    server.on('/emissions/forecasts/current', { json: FORECASTS });
    const points = await provider().forecast('KR', clock.now(), clock.now() + 3_600_000);
    expect(points.map((p) => [p.at - clock.now(), p.gco2PerKwh, p.kind, p.source])).toEqual([
      [0, 431.5, 'forecast', 'carbon-aware-sdk'],
      [30 * 60_000, 418.2, 'forecast', 'carbon-aware-sdk'],
    ]);
    expect(server.requests[0]?.query).toEqual({ location: 'koreacentral' });
  });

  it('takes the current value from the latest observed emissions', async () => {
    server.on('/emissions/bylocations', { json: EMISSIONS });
    expect(await provider().current('KR')).toMatchObject({ gco2PerKwh: 436.7, kind: 'measured', at: Date.parse('2026-01-04T23:00:00Z') });
    // A window that has already happened (ending now): see the window test beside this file.
    expect(server.requests[0]?.query).toEqual({ location: 'koreacentral', time: '2026-01-04T21:00:00.000Z', toTime: '2026-01-05T00:00:00.000Z' });
  });

  it('reads history from bylocations', async () => {
    server.on('/emissions/bylocations', { json: EMISSIONS });
    expect((await provider().history('KR', clock.now() - 2 * 3_600_000, clock.now())).map((p) => p.gco2PerKwh)).toEqual([440.1, 436.7]);
  });

  it('fails when nothing was observed lately', async () => {
    server.on('/emissions/bylocations', { json: [] });
    await expect(provider().current('KR')).rejects.toMatchObject({ reason: 'no_data' });
  });

  it('reads 204 No Content from bylocations (its answer when nothing was observed) as no history, and no current value', async () => {
    server.on('/emissions/bylocations', { status: 204, text: '' });
    await expect(provider().history('KR', clock.now() - 24 * 3_600_000, clock.now())).resolves.toEqual([]);
    await expect(provider().current('KR')).rejects.toMatchObject({ reason: 'no_data', message: expect.stringContaining('no value for location koreacentral') });
  });

  it('turns a ValidationProblemDetails 400 into an http_4xx fault carrying its detail', async () => {
    server.on('/emissions/forecasts/current', { status: 400, json: PROBLEM });
    await expect(provider().forecast('KR', clock.now(), clock.now() + 3_600_000)).rejects.toMatchObject({ reason: 'http_4xx', message: expect.stringContaining('Unknown location: mars') });
  });

  it('turns a 500 into an http_5xx fault', async () => {
    server.on('/emissions/forecasts/current', { status: 500, json: { ...PROBLEM, status: 500, title: 'WattTimeClientHttpException', detail: 'upstream failed' } });
    await expect(provider().forecast('KR', clock.now(), clock.now() + 3_600_000)).rejects.toMatchObject({ reason: 'http_5xx', retryable: true });
  });
});
