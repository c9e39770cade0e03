import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCarbonProvider } from '../../src/carbon/factory.js';
import { HorizonProvider } from '../../src/carbon/horizon-provider.js';
import { CarbonFetchError } from '../../src/carbon/http.js';
import { carbonOptionsSchema } from '../../src/carbon/options.js';
import type { CarbonFaultReason, CarbonProvider, CarbonReading } from '../../src/carbon/types.js';
import { FakeClock } from '../support/fake-clock.js';
import { Loopback } from './loopback.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const REFRESH = 10_000;

/** An inner provider with a current value, no forecast, and a history that answers as the test scripts it. */
function inner(clock: FakeClock, history: () => CarbonReading[]): CarbonProvider & { historyCalls: number } {
  const hour = () => Math.floor(clock.now() / HOUR) * HOUR;
  return {
    name: 'fake',
    historyCalls: 0,
    current: async (zone) => ({ zone, at: hour(), gco2PerKwh: 500, source: 'fake', kind: 'measured' }),
    forecast: async () => [],
    async history() {
      this.historyCalls++;
      return history();
    },
  };
}

/** A week of hourly values behind `now`, 300 at every hour. */
function week(clock: FakeClock): CarbonReading[] {
  const end = Math.floor(clock.now() / HOUR) * HOUR;
  return Array.from({ length: 7 * 24 }, (_, i) => ({ zone: 'KR', at: end - (i + 1) * HOUR, gco2PerKwh: 300, source: 'fake', kind: 'measured' as const })).reverse();
}

describe('HorizonProvider history', () => {
  it('after a failed history, does not ask again before historyRefreshMs', async () => {
    const clock = new FakeClock();
    const fake = inner(clock, () => {
      throw new CarbonFetchError('fake /past-range answered 403: Access denied', 'auth');
    });
    const horizon = new HorizonProvider(fake, clock);
    for (let t = 0; t < HOUR; t += REFRESH) {
      const points = await horizon.forecast('KR', clock.now(), clock.now() + DAY);
      expect(points[0]?.gco2PerKwh).toBe(500);
      clock.advance(REFRESH);
    }
    expect(fake.historyCalls).toBe(1);
    await horizon.forecast('KR', clock.now(), clock.now() + DAY);
    expect(fake.historyCalls).toBe(2);
  });

  it('keeps the last good history through a failed refresh of it', async () => {
    const clock = new FakeClock();
    let fail = false;
    const fake = inner(clock, () => {
      if (fail) throw new CarbonFetchError('fake /past-range answered 503', 'http_5xx');
      return week(clock);
    });
    const horizon = new HorizonProvider(fake, clock);
    const filledFromHistory = (points: CarbonReading[]) => points.slice(1).every((p) => p.kind === 'filled' && p.gco2PerKwh === 300);
    expect(filledFromHistory(await horizon.forecast('KR', clock.now(), clock.now() + DAY))).toBe(true);
    fail = true;
    clock.advance(HOUR);
    expect(filledFromHistory(await horizon.forecast('KR', clock.now(), clock.now() + DAY))).toBe(true);
    clock.advance(REFRESH);
    expect(filledFromHistory(await horizon.forecast('KR', clock.now(), clock.now() + DAY))).toBe(true);
    expect(fake.historyCalls).toBe(2);
  });

  it('shares one history request between forecasts of a zone asked at the same time', async () => {
    const clock = new FakeClock();
    const fake = inner(clock, () => week(clock));
    const horizon = new HorizonProvider(fake, clock);
    await Promise.all([horizon.forecast('KR', clock.now(), clock.now() + DAY), horizon.forecast('KR', clock.now(), clock.now() + DAY)]);
    expect(fake.historyCalls).toBe(1);
  });
});

describe('Electricity Maps without past-range in the plan', () => {
  let server: Loopback;
  beforeEach(async () => {
    server = await new Loopback().start();
  });
  afterEach(() => server.stop());

  it('asks past-range once per hour, and reports its 403 once, while latest and forecast serve', async () => {
    const clock = new FakeClock();
    const latest = () => ({ zone: 'KR', carbonIntensity: 400, datetime: new Date(Math.floor(clock.now() / HOUR) * HOUR).toISOString(), updatedAt: new Date(clock.now()).toISOString() });
    server.on('/v3/carbon-intensity/latest', () => ({ json: latest() }));
    server.on('/v3/carbon-intensity/forecast', () => ({ json: { zone: 'KR', forecast: [{ carbonIntensity: 410, datetime: latest().datetime }], updatedAt: latest().updatedAt } }));
    server.on('/v3/carbon-intensity/past-range', { status: 403, text: 'Access denied' });
    const faults: [string, CarbonFaultReason][] = [];
    const options = carbonOptionsSchema.parse({ provider: 'electricitymaps', electricitymaps: { base_url: server.url, api_token: 't' } });
    const provider = createCarbonProvider(options, { clock, sleep: async () => {}, onError: (p, r) => faults.push([p, r]) });
    for (let t = 0; t < 10 * 60_000; t += REFRESH) {
      expect((await provider.forecast('KR', clock.now(), clock.now() + DAY))[0]).toMatchObject({ gco2PerKwh: 410, source: 'electricitymaps' });
      clock.advance(REFRESH);
    }
    expect(server.count('/v3/carbon-intensity/past-range')).toBe(1);
    expect(faults).toEqual([['electricitymaps', 'auth']]);
  });
});
