/**
 * Electricity Maps answers `carbonIntensity: null` for hours it has no value for (seen in
 * Green-Software-Foundation/carbon-aware-sdk#571); the provider drops those points. The hole they leave is
 * filled as the horizon past the forecast's end is (history, else the current value), not held at the value
 * before it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCarbonProvider } from '../../src/carbon/factory.js';
import { carbonOptionsSchema } from '../../src/carbon/options.js';
import { FakeClock } from '../support/fake-clock.js';
import { Loopback, type Request } from '../carbon/loopback.js';

const HOUR = 3_600_000;

let server: Loopback;
let clock: FakeClock;

beforeEach(async () => {
  server = await new Loopback().start();
  clock = new FakeClock();
});
afterEach(() => server.stop());

const row = (carbonIntensity: number | null, at: number) => {
  const datetime = new Date(at).toISOString();
  return { zone: 'KR', carbonIntensity, datetime, updatedAt: datetime, createdAt: datetime, emissionFactorType: 'lifecycle', isEstimated: false, estimationMethod: null };
};

describe('Electricity Maps forecast with hours of null', () => {
  it('fills the hours the forecast has no value for from history, instead of holding the hour before them', async () => {
    const t0 = clock.now();
    // Forecast: 800 at hours 0-2, null at hours 3-8, 800 again from hour 9.
    const forecast = Array.from({ length: 24 }, (_, h) => ({ carbonIntensity: h >= 3 && h <= 8 ? null : 800, datetime: new Date(t0 + h * HOUR).toISOString() }));
    server
      .on('/v3/carbon-intensity/latest', { json: row(800, t0) })
      .on('/v3/carbon-intensity/forecast', { json: { zone: 'KR', forecast, updatedAt: new Date(t0).toISOString() } })
      // Every past hour measured 100.
      .on('/v3/carbon-intensity/past-range', (request: Request) => {
        const start = Date.parse(request.query.start as string);
        const end = Date.parse(request.query.end as string);
        const data = [];
        for (let at = start; at < end; at += HOUR) data.push(row(100, at));
        return { json: { zone: 'KR', data } };
      });
    const options = carbonOptionsSchema.parse({ provider: 'electricitymaps', electricitymaps: { api_token: 't', base_url: server.url }, cache_seconds: 0 });
    const provider = createCarbonProvider(options, { clock, sleep: async () => undefined });

    const points = await provider.forecast('KR', t0, t0 + 24 * HOUR);
    const at5 = [...points].reverse().find((p) => p.at <= t0 + 5 * HOUR);
    expect(at5).toMatchObject({ kind: 'filled', gco2PerKwh: 100 });
  });
});
