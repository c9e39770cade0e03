import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CarbonFetchError } from '../../src/carbon/http.js';
import { WattTimeProvider } from '../../src/carbon/watttime-provider.js';
import { FakeClock } from '../support/fake-clock.js';
import { Loopback } from './loopback.js';

const LBS_TO_G_PER_KWH = 453.59237 / 1000;

// `/v3/forecast` as docs.watttime.org documents it, field by field.
function forecastBody(units = 'lbs_co2_per_mwh') {
  return {
    data: [
      { point_time: '2026-01-05T00:00:00+00:00', value: 870.0 },
      { point_time: '2026-01-05T00:05:00+00:00', value: 862.5 },
      { point_time: '2026-01-05T00:10:00+00:00', value: 901.0 },
    ],
    meta: {
      data_point_period_seconds: 300,
      region: 'CAISO_NORTH',
      warnings: [],
      signal_type: 'co2_moer',
      model: { date: '2023-03-01', type: 'binned_regression' },
      units,
      generated_at_period_seconds: 300,
      generated_at: '2026-01-05T00:00:00+00:00',
    },
  };
}
const HISTORICAL = {
  data: [
    { point_time: '2026-01-04T22:00:00+00:00', value: 800.0 },
    { point_time: '2026-01-04T22:05:00+00:00', value: 810.0 },
  ],
  meta: { data_point_period_seconds: 300, region: 'CAISO_NORTH', warnings: [], signal_type: 'co2_moer', model: { date: '2023-03-01' }, units: 'lbs_co2_per_mwh' },
};

let server: Loopback;
let clock: FakeClock;

function provider(): WattTimeProvider {
  return new WattTimeProvider(
    { baseUrl: server.url, username: 'caspian', password: 's3cret', zones: { KR: 'CAISO_NORTH' }, signalType: 'co2_moer', timeoutMs: 100, cacheSeconds: 300 },
    { clock },
  );
}

beforeEach(async () => {
  server = await new Loopback().start();
  clock = new FakeClock();
});
afterEach(() => server.stop());

describe('WattTimeProvider', () => {
  it('logs in with basic auth, then asks with the bearer token, converting lbs/MWh to g/kWh', async () => {
    server.on('/login', { json: { token: 'tok-1' } }).on('/v3/forecast', { json: forecastBody() });
    const wt = provider();
    const current = await wt.current('KR');
    expect(current).toMatchObject({ zone: 'KR', at: clock.now(), source: 'watttime', kind: 'measured' });
    expect(current.gco2PerKwh).toBeCloseTo(870 * LBS_TO_G_PER_KWH, 2);
    const [login, forecast] = server.requests;
    expect(login?.headers.authorization).toBe(`Basic ${Buffer.from('caspian:s3cret').toString('base64')}`);
    expect(forecast?.headers.authorization).toBe('Bearer tok-1');
    expect(forecast?.query).toMatchObject({ region: 'CAISO_NORTH', signal_type: 'co2_moer', horizon_hours: '24' });

    const points = await wt.forecast('KR', clock.now() + 5 * 60_000, clock.now() + 3_600_000);
    expect(points.map((p) => Math.round(p.gco2PerKwh))).toEqual([Math.round(862.5 * LBS_TO_G_PER_KWH), Math.round(901 * LBS_TO_G_PER_KWH)]);
    expect(points.every((p) => p.kind === 'forecast')).toBe(true);
    expect(server.count('/login')).toBe(1);
  });

  it('reads historical over hour-aligned bounds', async () => {
    server.on('/login', { json: { token: 'tok-1' } }).on('/v3/historical', { json: HISTORICAL });
    const points = await provider().history('KR', clock.now() - 2 * 3_600_000 + 60_000, clock.now());
    expect(points.map((p) => p.gco2PerKwh)).toEqual([Math.round(800 * LBS_TO_G_PER_KWH * 100) / 100, Math.round(810 * LBS_TO_G_PER_KWH * 100) / 100]);
    expect(server.requests[1]?.query).toMatchObject({ region: 'CAISO_NORTH', start: '2026-01-04T22:00:00.000Z', end: '2026-01-05T00:00:00.000Z', signal_type: 'co2_moer' });
  });

  it('logs in again once when the token is refused with 401', async () => {
    server
      .on('/login', { json: { token: 'tok-1' } }, { json: { token: 'tok-2' } })
      .on('/v3/forecast', { status: 401, json: { error: 'Unauthorized' } }, { json: forecastBody() });
    await provider().current('KR');
    expect(server.count('/login')).toBe(2);
    expect(server.requests.filter((r) => r.path === '/v3/forecast').map((r) => r.headers.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-2']);
  });

  it('requests made at once share one login, also when the token they all used is refused', async () => {
    server
      .on('/login', { json: { token: 'tok-1' } }, { json: { token: 'tok-2' } })
      .on('/v3/forecast', { json: forecastBody() })
      .on('/v3/historical', { json: HISTORICAL });
    const wt = new WattTimeProvider(
      { baseUrl: server.url, username: 'caspian', password: 's3cret', zones: { KR: 'CAISO_NORTH', JP: 'PJM' }, signalType: 'co2_moer', timeoutMs: 100, cacheSeconds: 300 },
      { clock },
    );
    const ask = () => Promise.all([wt.current('KR'), wt.current('JP'), wt.history('KR', clock.now() - 3_600_000, clock.now())]);
    await ask();
    expect(server.count('/login')).toBe(1);

    // The token revoked: each request's 401 would log in on its own.
    server.on('/v3/forecast', { status: 401, json: { error: 'Unauthorized' } }, { status: 401, json: { error: 'Unauthorized' } }, { json: forecastBody() });
    clock.advance(10 * 60_000);
    await Promise.all([wt.current('KR'), wt.current('JP')]);
    expect(server.count('/login')).toBe(2);
    expect(server.requests.filter((r) => r.path === '/v3/forecast').map((r) => r.headers.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-1', 'Bearer tok-1', 'Bearer tok-1', 'Bearer tok-2', 'Bearer tok-2']);
  });

  it('gives up with an auth fault when the token is refused twice', async () => {
    server.on('/login', { json: { token: 'tok' } }).on('/v3/forecast', { status: 401, json: { error: 'Unauthorized' } });
    await expect(provider().current('KR')).rejects.toMatchObject({ reason: 'auth' });
    expect(server.count('/login')).toBe(2);
  });

  it('reports bad credentials at login as an auth fault', async () => {
    server.on('/login', { status: 403, json: { error: 'Forbidden', message: 'invalid credentials' } });
    await expect(provider().current('KR')).rejects.toMatchObject({ reason: 'auth', refusal: 'account', message: expect.stringMatching(/403: invalid credentials/) });
  });

  it('reports a region the plan does not cover (403 on the data call) without logging in again', async () => {
    server.on('/login', { json: { token: 'tok' } }).on('/v3/forecast', { status: 403, json: { error: 'Forbidden', message: 'region KR is not in your plan' } });
    await expect(provider().current('KR')).rejects.toMatchObject({ reason: 'auth', refusal: undefined });
    expect(server.count('/login')).toBe(1);
  });

  it('refuses units it does not know instead of guessing', async () => {
    server.on('/login', { json: { token: 'tok' } }).on('/v3/forecast', { json: forecastBody('percentile') });
    const error = await provider().current('KR').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CarbonFetchError);
    expect(error).toMatchObject({ reason: 'units', retryable: false, message: expect.stringContaining('unknown units "percentile"') });
  });

  it('refuses a value beyond any grid (past 100000 gCO2/kWh once converted) as a malformed answer', async () => {
    const body = forecastBody('kg_co2_per_mwh');
    body.data[1]!.value = 250_000;
    server.on('/login', { json: { token: 'tok' } }).on('/v3/forecast', { json: body });
    await expect(provider().current('KR')).rejects.toMatchObject({ reason: 'malformed', message: expect.stringContaining('250000 gCO2/kWh is beyond any grid') });
  });

  it('reports a well-formed forecast without a point as no_data, not as a malformed answer', async () => {
    server.on('/login', { json: { token: 'tok' } }).on('/v3/forecast', { json: { ...forecastBody(), data: [] } });
    await expect(provider().current('KR')).rejects.toMatchObject({ reason: 'no_data', retryable: false, message: expect.stringContaining('no data for region') });
  });

  it('passes a 429 on with its Retry-After', async () => {
    server.on('/login', { json: { token: 'tok' } }).on('/v3/forecast', { status: 429, json: { error: 'Too Many Requests' }, headers: { 'retry-after': '60' } });
    await expect(provider().current('KR')).rejects.toMatchObject({ reason: 'rate_limited', retryAfterMs: 60_000 });
  });

  it('times out a login that never answers', async () => {
    server.on('/login', 'hang');
    await expect(provider().current('KR')).rejects.toMatchObject({ reason: 'timeout' });
  });
});
