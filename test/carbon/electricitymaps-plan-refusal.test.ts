import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ElectricityMapsProvider } from '../../src/carbon/electricitymaps-provider.js';
import { FallbackChain } from '../../src/carbon/fallback-chain.js';
import { FileTraceProvider } from '../../src/carbon/file-provider.js';
import type { CarbonFaultReason } from '../../src/carbon/types.js';
import { FakeClock } from '../support/fake-clock.js';
import { Loopback, type Answer } from '../carbon/loopback.js';

/*
 * Electricity Maps refuses a zone or an endpoint that the token's plan does not cover with a 401 (not a 403)
 * whose JSON body names the zone, request type and data type, e.g.
 *   {"error": "Request unauthorized for zoneKey=DK-DK2,requestType=past,dataType=carbon-intensity.",
 *    "message": "You do not have access to this specific endpoint for this specific zone."}
 * (a free plan has one zone and no past / past-range; Home Assistant users of such plans see the 401 as
 * "invalid authentication": home-assistant/core issues 141756 and 146234). A bad token's 401 says
 * "Invalid auth-token". The chain rests only the refused zone and request kind, not the account.
 */
const FIXTURE = fileURLToPath(new URL('../fixtures/carbon/kr-2025-03-hourly.csv', import.meta.url));
const LATEST_PATH = '/v3/carbon-intensity/latest';
const FORECAST_PATH = '/v3/carbon-intensity/forecast';
const PAST_RANGE_PATH = '/v3/carbon-intensity/past-range';
const HOUR = 3_600_000;

const latestBody = (zone: string, carbonIntensity = 436) => ({
  zone,
  carbonIntensity,
  datetime: '2025-03-05T10:00:00.000Z',
  updatedAt: '2025-03-05T10:05:00.000Z',
  isEstimated: false,
  estimationMethod: null,
});
const forecastAnswer: Answer = { json: { zone: 'KR', forecast: [{ carbonIntensity: 441, datetime: '2025-03-05T11:00:00.000Z' }], updatedAt: '2025-03-05T10:00:00.000Z' } };
const planRefusal = (zone: string, requestType: string): Answer => ({
  status: 401,
  json: {
    error: `Request unauthorized for zoneKey=${zone},requestType=${requestType},dataType=carbon-intensity.`,
    message: 'You do not have access to this specific endpoint for this specific zone. Please visit https://help.electricitymaps.com if this is a mistake',
  },
});

let server: Loopback;
let clock: FakeClock;
let faults: [string, CarbonFaultReason][];

function chain(): FallbackChain {
  const em = new ElectricityMapsProvider({ baseUrl: server.url, apiToken: 't', zones: {}, emissionFactorType: 'lifecycle', timeoutMs: 500, cacheSeconds: 0 }, { clock });
  const file = new FileTraceProvider({ paths: [FIXTURE], loop: true, zones: {}, emissionFactor: 'lifecycle' }, clock);
  return new FallbackChain(
    { links: [em, file], maxStalenessMs: HOUR, attempts: 1, backoffBaseMs: 60_000, constantGco2PerKwh: 500 },
    { clock, sleep: async () => undefined, onError: (provider, reason) => faults.push([provider, reason]) },
  );
}

beforeEach(async () => {
  server = await new Loopback().start();
  clock = new FakeClock(Date.UTC(2025, 2, 5, 10, 30));
  faults = [];
});
afterEach(() => server.stop());

describe('FallbackChain over Electricity Maps plan refusals (401 "Request unauthorized for zoneKey=...")', () => {
  it('a plan without past-range (401 on past-range) rests history only: latest and forecast keep coming from Electricity Maps', async () => {
    server.on(LATEST_PATH, { json: latestBody('KR') }).on(FORECAST_PATH, forecastAnswer).on(PAST_RANGE_PATH, planRefusal('KR', 'past-range'));
    const c = chain();
    const history = await c.history('KR', clock.now() - 2 * HOUR, clock.now());
    expect(history.at(-1)?.source).toBe('file');
    expect(faults).toEqual([['electricitymaps', 'auth']]);

    clock.advance(30_000);
    expect((await c.current('KR')).source).toBe('electricitymaps');
    expect((await c.forecast('KR', clock.now(), clock.now() + 2 * HOUR)).at(-1)?.source).toBe('electricitymaps');
  });

  it('a single-zone plan refusing JP-TK (401) does not take Electricity Maps away from KR', async () => {
    server.on(LATEST_PATH, (request) => (request.query.zone === 'KR' ? { json: latestBody('KR') } : planRefusal(request.query.zone ?? '', 'latest')));
    const c = chain();
    // The trace file has no JP-TK: the constant stands in for it.
    expect((await c.current('JP-TK')).source).toBe('constant');
    expect((await c.current('KR')).source).toBe('electricitymaps');
  });
});
