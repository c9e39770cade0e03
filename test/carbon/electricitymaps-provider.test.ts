import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ElectricityMapsProvider, type ElectricityMapsOptions } from '../../src/carbon/electricitymaps-provider.js';
import { CarbonFetchError } from '../../src/carbon/http.js';
import { FakeClock } from '../support/fake-clock.js';
import { Loopback, type Answer, type Request } from './loopback.js';

// Bodies as the v3 API documents them (static.electricitymaps.com/api/docs), field by field.
const LATEST = {
  zone: 'KR',
  carbonIntensity: 436,
  datetime: '2026-01-05T00:00:00.000Z',
  updatedAt: '2026-01-04T23:47:12.317Z',
  createdAt: '2026-01-01T23:50:21.000Z',
  emissionFactorType: 'lifecycle',
  isEstimated: true,
  estimationMethod: 'TIME_SLICER_AVERAGE',
};
const FORECAST = {
  zone: 'KR',
  forecast: [
    { carbonIntensity: 441, datetime: '2026-01-05T01:00:00.000Z' },
    { carbonIntensity: 452, datetime: '2026-01-05T02:00:00.000Z' },
    { carbonIntensity: 447, datetime: '2026-01-05T03:00:00.000Z' },
  ],
  updatedAt: '2026-01-04T23:30:00.000Z',
};
const PAST_RANGE = {
  zone: 'KR',
  data: [
    { ...LATEST, carbonIntensity: 430, datetime: '2026-01-04T22:00:00.000Z', isEstimated: false, estimationMethod: null },
    { ...LATEST, carbonIntensity: null, datetime: '2026-01-04T23:00:00.000Z', isEstimated: false, estimationMethod: null },
    { ...LATEST, carbonIntensity: 433, datetime: '2026-01-04T21:00:00.000Z', isEstimated: false, estimationMethod: null },
  ],
};

const HOUR = 3_600_000;

/**
 * `past-range` as the API serves it: refuses more than 10 days (240 hours) at hourly granularity (the
 * limit its reference documents; error body as the API's other 400s), else a value for every hour from
 * start to end, both included.
 */
function pastRange({ query }: Request): Answer {
  const start = Date.parse(query.start ?? '');
  const end = Date.parse(query.end ?? '');
  if (end - start > 240 * HOUR) return { status: 400, json: { status: 'error', message: 'The time range is limited to 10 days (240 hours) for an hourly granularity.' } };
  const data = [];
  for (let at = start; at <= end; at += HOUR) data.push({ ...LATEST, zone: query.zone, carbonIntensity: 300 + ((at / HOUR) % 200), datetime: new Date(at).toISOString(), isEstimated: false, estimationMethod: null });
  return { json: { zone: query.zone, data } };
}

let server: Loopback;
let clock: FakeClock;

function provider(overrides: Partial<ElectricityMapsOptions> = {}): ElectricityMapsProvider {
  // 100 ms bounds a request that never ends; it is not a speed requirement.
  return new ElectricityMapsProvider(
    { baseUrl: server.url, apiToken: 'em-token', zones: { 'JP-TK': 'JP-TK' }, emissionFactorType: 'lifecycle', timeoutMs: 100, cacheSeconds: 300, ...overrides },
    { clock },
  );
}

async function fault(promise: Promise<unknown>): Promise<CarbonFetchError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CarbonFetchError);
  return error as CarbonFetchError;
}

beforeEach(async () => {
  server = await new Loopback().start();
  clock = new FakeClock();
});
afterEach(() => server.stop());

describe('ElectricityMapsProvider', () => {
  it('reads latest with the auth-token header, as a measured value stamped with when it arrived', async () => {
    server.on('/v3/carbon-intensity/latest', { json: LATEST });
    expect(await provider().current('KR')).toEqual({
      zone: 'KR',
      at: Date.parse('2026-01-05T00:00:00.000Z'),
      gco2PerKwh: 436,
      source: 'electricitymaps',
      kind: 'measured',
      fetchedAt: clock.now(),
    });
    expect(server.requests[0]).toMatchObject({ query: { zone: 'KR', emissionFactorType: 'lifecycle' }, headers: { 'auth-token': 'em-token' } });
  });

  it('maps hub zones to Electricity Maps zone keys', async () => {
    server.on('/v3/carbon-intensity/latest', { json: { ...LATEST, zone: 'JP-TK' } });
    await provider({ zones: { JP: 'JP-TK' } }).current('JP');
    expect(server.requests[0]?.query.zone).toBe('JP-TK');
  });

  it('reads the forecast, keeping the points that cover the window', async () => {
    server.on('/v3/carbon-intensity/forecast', { json: FORECAST });
    const from = Date.parse('2026-01-05T01:30:00Z');
    const points = await provider().forecast('KR', from, Date.parse('2026-01-05T03:00:00Z'));
    expect(points.map((p) => [new Date(p.at).toISOString(), p.gco2PerKwh, p.kind])).toEqual([
      ['2026-01-05T01:00:00.000Z', 441, 'forecast'],
      ['2026-01-05T02:00:00.000Z', 452, 'forecast'],
    ]);
  });

  it('reads past-range with hour-aligned start and end, in time order, skipping hours without a value', async () => {
    server.on('/v3/carbon-intensity/past-range', { json: PAST_RANGE });
    const points = await provider().history('KR', clock.now() - 3 * 3_600_000 - 60_000, clock.now() - 60_000);
    expect(points.map((p) => p.gco2PerKwh)).toEqual([433, 430]);
    expect(server.requests[0]?.query).toMatchObject({ zone: 'KR', start: '2026-01-04T20:00:00.000Z', end: '2026-01-04T23:00:00.000Z' });
  });

  for (const days of [14, 28]) {
    it(`reads ${days} days of past-range in requests of at most 240 hours, one value per hour`, async () => {
      server.on('/v3/carbon-intensity/past-range', pastRange);
      const now = clock.now() + 20 * 60_000;
      const points = await provider().history('KR', now - days * 24 * HOUR, now);
      const from = clock.now() - days * 24 * HOUR;
      expect(points.map((p) => p.at)).toEqual(Array.from({ length: days * 24 + 1 }, (_, h) => from + h * HOUR));
      expect(points.every((p) => p.gco2PerKwh === 300 + ((p.at / HOUR) % 200) && p.kind === 'measured')).toBe(true);
      const spans = server.requests.map((r) => (Date.parse(r.query.end as string) - Date.parse(r.query.start as string)) / HOUR);
      expect(spans.every((h) => h <= 240)).toBe(true);
      expect(spans.reduce((a, b) => a + b, 0)).toBe(days * 24);
    });
  }

  it('asks the API once per cache period, not on every refresh', async () => {
    server.on('/v3/carbon-intensity/latest', { json: LATEST });
    const em = provider();
    await em.current('KR');
    clock.advance(10_000);
    await em.current('KR');
    expect(server.count('/v3/carbon-intensity/latest')).toBe(1);
    clock.advance(300_000);
    await em.current('KR');
    expect(server.count('/v3/carbon-intensity/latest')).toBe(2);
  });

  const faults: { name: string; answer: Parameters<Loopback['on']>[1]; reason: string; message?: RegExp; retryable: boolean; refusal?: 'account' | 'request' }[] = [
    // The two bodies Electricity Maps documents for authentication errors (help.electricitymaps.com, "API authentication errors").
    {
      name: '401 missing auth header',
      answer: { status: 401, json: { error: 'Invalid auth-token', message: 'Please provide a valid authentication header. See https://portal.electricitymaps.com/docs/getting-started#authorization for details' } },
      reason: 'auth',
      message: /401: Please provide a valid authentication header/,
      retryable: false,
    },
    {
      name: '401 unknown token',
      answer: { status: 401, json: { error: 'Invalid auth-token', message: 'The provided token is invalid. If this token used to work, please visit https://help.electricitymaps.com to get support' } },
      reason: 'auth',
      message: /401: The provided token is invalid/,
      retryable: false,
    },
    // A valid token asking for a zone or an endpoint outside its plan: that request's refusal, not the token's.
    {
      name: '401 for a zone outside the plan',
      answer: {
        status: 401,
        json: {
          error: 'Request unauthorized for zoneKey=KR,requestType=latest,dataType=carbon-intensity.',
          message: 'You do not have access to this specific endpoint for this specific zone. Please visit https://help.electricitymaps.com if this is a mistake',
        },
      },
      reason: 'auth',
      message: /401: You do not have access to this specific endpoint/,
      retryable: false,
      refusal: 'request',
    },
    { name: '403 plain "Access denied"', answer: { status: 403, text: 'Access denied' }, reason: 'auth', message: /403: Access denied/, retryable: false },
    { name: '400 {"status":"error","message"}', answer: { status: 400, json: { status: 'error', message: 'Zone "XX" does not exist.' } }, reason: 'http_4xx', message: /Zone "XX" does not exist/, retryable: false },
    { name: '500', answer: { status: 500, json: { error: 'Internal Server Error' } }, reason: 'http_5xx', retryable: true },
    { name: '502 from a proxy, in HTML', answer: { status: 502, text: '<html><body>Bad Gateway</body></html>' }, reason: 'http_5xx', retryable: true },
    { name: 'a body that is not JSON', answer: { text: '{"zone":"KR","carbonIntensity":43' }, reason: 'malformed', retryable: false },
    { name: 'JSON of another shape', answer: { json: { zone: 'KR', carbonIntensity: '436' } }, reason: 'malformed', message: /carbonIntensity/, retryable: false },
    { name: 'no value for the zone', answer: { json: { ...LATEST, carbonIntensity: null } }, reason: 'no_data', message: /no carbonIntensity/, retryable: false },
    { name: 'a server that never answers', answer: 'hang', reason: 'timeout', message: /timed out after 100 ms/, retryable: true },
  ];
  for (const { name, answer, reason, message, retryable, refusal } of faults) {
    it(`turns ${name} into a ${reason} fault`, async () => {
      server.on('/v3/carbon-intensity/latest', answer);
      const error = await fault(provider().current('KR'));
      expect(error.reason).toBe(reason);
      expect(error.retryable).toBe(retryable);
      expect(error.refusal).toBe(refusal);
      if (message) expect(error.message).toMatch(message);
    });
  }

  it('reads Retry-After of a 429 (seconds or an HTTP date)', async () => {
    server.on('/v3/carbon-intensity/latest', { status: 429, json: { error: 'Too many requests' }, headers: { 'retry-after': '120' } });
    const error = await fault(provider().current('KR'));
    expect(error).toMatchObject({ reason: 'rate_limited', retryAfterMs: 120_000, retryable: true });

    server.on('/v3/carbon-intensity/forecast', { status: 429, json: { error: 'Too many requests' }, headers: { 'retry-after': new Date(clock.now() + 30_000).toUTCString() } });
    expect((await fault(provider().forecast('KR', clock.now(), clock.now() + 3_600_000))).retryAfterMs).toBe(30_000);
  });

  it('does not remember a failed answer', async () => {
    server.on('/v3/carbon-intensity/latest', { status: 503, text: 'unavailable' }, { json: LATEST });
    const em = provider();
    await fault(em.current('KR'));
    expect((await em.current('KR')).gco2PerKwh).toBe(436);
  });

  it('does not remember an answer it refuses (no value), and refuses a negative intensity or one beyond any grid', async () => {
    server.on('/v3/carbon-intensity/latest', { json: { ...LATEST, carbonIntensity: null } }, { json: LATEST }, { json: { ...LATEST, carbonIntensity: -120 } }, { json: { ...LATEST, carbonIntensity: 2e5 } });
    const em = provider({ cacheSeconds: 300 });
    expect((await fault(em.current('KR'))).message).toMatch(/no carbonIntensity/);
    // The API has a value now: the refused answer was not kept for cache_seconds.
    expect((await em.current('KR')).gco2PerKwh).toBe(436);
    expect(server.count('/v3/carbon-intensity/latest')).toBe(2);
    expect((await fault(provider({ cacheSeconds: 0 }).current('KR'))).reason).toBe('malformed');
    expect((await fault(provider({ cacheSeconds: 0 }).current('KR'))).reason).toBe('malformed');
  });

  it('reports a refused connection as a network fault', async () => {
    const em = provider();
    await server.stop();
    expect((await fault(em.current('KR'))).reason).toBe('network');
  });
});
