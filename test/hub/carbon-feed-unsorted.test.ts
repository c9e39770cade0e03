import { describe, expect, it } from 'vitest';
import type { CarbonProvider } from '../../src/carbon/types.js';
import { CarbonFeed } from '../../src/hub/carbon-feed.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLogger } from '../support/logger.js';

const MIN = 60_000;

/** A provider that answers a fixed forecast, in the order given; offsets are minutes after the request's `from`. */
function providerOf(points: [offsetMinutes: number, gco2PerKwh: number][]): CarbonProvider {
  return {
    name: 'fixed',
    current: async (zone) => ({ zone, at: 0, gco2PerKwh: 999, source: 'fixed' }),
    forecast: async (zone, fromMs) => points.map(([offset, gco2PerKwh]) => ({ zone, at: fromMs + offset * MIN, gco2PerKwh, highGco2PerKwh: gco2PerKwh + 50, source: 'fixed' })),
  };
}

async function fetched(points: [number, number][]): Promise<{ feed: CarbonFeed; now: number }> {
  const clock = new FakeClock();
  const feed = new CarbonFeed(providerOf(points), ['KR'], { metrics: new Metrics({ defaultMetrics: false }), logger: captureLogger().logger, clock, horizonMs: 60 * MIN, timeoutMs: 1_000 });
  expect(await feed.refresh()).toEqual([]);
  return { feed, now: clock.now() };
}

describe('a forecast that arrives out of time order', () => {
  const sorted: [number, number][] = [
    [10, 100],
    [20, 200],
    [30, 300],
    [45, 150],
  ];
  const unsorted: [number, number][] = [sorted[2]!, sorted[0]!, sorted[3]!, sorted[1]!];

  it('gives the same slot intensities as the sorted one', async () => {
    const a = await fetched(sorted);
    const b = await fetched(unsorted);
    for (const risk of ['expected', 'pessimistic'] as const) {
      const want = a.feed.slotIntensities('KR', a.now, 5 * MIN, 12, risk);
      expect(want, risk).toEqual(risk === 'expected' ? [999, 999, 100, 100, 200, 200, 300, 300, 300, 150, 150, 150] : [999, 999, 150, 150, 250, 250, 350, 350, 350, 200, 200, 200]);
      expect(b.feed.slotIntensities('KR', b.now, 5 * MIN, 12, risk), risk).toEqual(want);
    }
  });

  it('is stored ascending, so every consumer of the feed sees the same series', async () => {
    const a = await fetched(sorted);
    const b = await fetched(unsorted);
    expect(b.feed.get('KR')?.forecast).toEqual(a.feed.get('KR')?.forecast);
    expect(b.feed.emissions('KR', 1_000, b.now, b.now + 60 * MIN)).toEqual(a.feed.emissions('KR', 1_000, a.now, a.now + 60 * MIN));
  });
});
