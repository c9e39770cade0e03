/**
 * A forecast endpoint that fails while `latest` keeps answering: the chain's last forecast stands in only while
 * it is as young as a last known value may be (`max_staleness_seconds`). Older, the slots are planned on the
 * fresh current value and history, not on what the old forecast predicted for hours now measured.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCarbonProvider } from '../../src/carbon/factory.js';
import { carbonOptionsSchema } from '../../src/carbon/options.js';
import { CarbonFeed, carbonFaultHook } from '../../src/hub/carbon-feed.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { captureLogger } from '../support/logger.js';
import { FakeClock } from '../support/fake-clock.js';
import { Loopback } from '../carbon/loopback.js';

const HOUR = 3_600_000;
const LATEST = '/v3/carbon-intensity/latest';
const FORECAST = '/v3/carbon-intensity/forecast';
const PAST_RANGE = '/v3/carbon-intensity/past-range';

let server: Loopback;
let clock: FakeClock;

beforeEach(async () => {
  server = await new Loopback().start();
  clock = new FakeClock();
});
afterEach(() => server.stop());

const latest = (carbonIntensity: number) => () => {
  const datetime = new Date(Math.floor(clock.now() / HOUR) * HOUR).toISOString();
  return { json: { zone: 'KR', carbonIntensity, datetime, updatedAt: datetime, createdAt: datetime, emissionFactorType: 'lifecycle', isEstimated: false, estimationMethod: null } };
};

describe('a forecast outage on Electricity Maps while latest keeps answering', () => {
  it('plans the slot that starts now on the fresh measured value, not on a 20-hour-old forecast of it', async () => {
    const t0 = clock.now();
    // At t0 the forecast says 900 for every hour of the next day; latest says 500.
    server
      .on(LATEST, latest(500))
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
    server.on(FORECAST, { status: 503, text: 'down' }).on(LATEST, latest(200));
    clock.advance(20 * HOUR);
    await feed.refresh();

    expect(feed.status('KR')).toMatchObject({ source: 'electricitymaps', stale: false });
    expect(feed.get('KR')?.current.gco2PerKwh).toBe(200);
    const [slot0] = feed.slotIntensities('KR', clock.now(), 300_000, 1) ?? [];
    expect(slot0).toBe(200);
  });
});
