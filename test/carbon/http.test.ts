import { describe, expect, it } from 'vitest';
import { epochMs, ResponseCache } from '../../src/carbon/http.js';
import { FakeClock } from '../support/fake-clock.js';

const HOUR = 3_600_000;
const TTL = 300_000;

describe('ResponseCache', () => {
  it('serves an answer for its ttl, then asks again', async () => {
    const clock = new FakeClock();
    const cache = new ResponseCache<number>(clock, TTL);
    let loads = 0;
    const load = () => Promise.resolve(++loads);
    expect(await cache.get('a', load)).toBe(1);
    clock.advance(TTL - 1);
    expect(await cache.get('a', load)).toBe(1);
    clock.advance(1);
    expect(await cache.get('a', load)).toBe(2);
  });

  it('drops expired answers whose key is never asked again: a week of hourly history keys for 3 zones stays small', async () => {
    const clock = new FakeClock();
    const cache = new ResponseCache<string>(clock, TTL);
    let loads = 0;
    let largest = 0;
    // The hub refreshes every 10 s; a history URL carries hour-aligned bounds, so its key changes every hour.
    for (let tick = 0; tick < (7 * 24 * HOUR) / 10_000; tick++) {
      const hour = Math.floor((clock.now() - Date.UTC(2026, 0, 5)) / HOUR);
      for (const zone of ['KR', 'JP-TK', 'CN']) {
        await cache.get(`past-range?zone=${zone}&end=${hour}`, () => Promise.resolve(`${zone}@${hour}#${++loads}`));
      }
      largest = Math.max(largest, cache.size);
      clock.advance(10_000);
    }
    // Live keys are 3; until a sweep, those of the previous hour may still be held.
    expect(largest).toBeLessThanOrEqual(6);
    // A live answer is still reused: one load per key and ttl, 12 an hour per zone.
    expect(loads).toBe(7 * 24 * 12 * 3);
  });

  it('does not keep a failed answer, and a sweep keeps the live ones', async () => {
    const clock = new FakeClock();
    const cache = new ResponseCache<string>(clock, TTL);
    await expect(cache.get('bad', () => Promise.reject(new Error('503')))).rejects.toThrow('503');
    expect(cache.size).toBe(0);
    await cache.get('old', () => Promise.resolve('old'));
    clock.advance(TTL / 2);
    await cache.get('live', () => Promise.resolve('first'));
    clock.advance(TTL / 2);
    await cache.get('other', () => Promise.resolve('other'));
    expect(cache.size).toBe(2);
    expect(await cache.get('live', () => Promise.resolve('second'))).toBe('first');
  });
});

describe('epochMs', () => {
  it.each([
    ['2025-03-05T10:00:00.000Z', Date.UTC(2025, 2, 5, 10)],
    ['2025-03-05T19:00:00+09:00', Date.UTC(2025, 2, 5, 10)],
    // The Carbon Aware SDK (.NET) writes seven fraction digits.
    ['2022-06-01T14:45:00.0000000+00:00', Date.UTC(2022, 5, 1, 14, 45)],
    // Without an offset: UTC (the parser is the trace files', whose test runs it under TZ=Asia/Seoul too).
    ['2025-03-05T10:00:00', Date.UTC(2025, 2, 5, 10)],
  ])('reads %s', (value, expected) => {
    expect(epochMs('electricitymaps', 'datetime', value)).toBe(expected);
  });

  it.each(['2025-02-30T00:00:00Z', '2025-03-05T24:00:00Z', '03/05/2025 10:00', ''])('refuses %j as malformed, naming the field', (value) => {
    expect(() => epochMs('electricitymaps', 'forecast.datetime', value)).toThrow(expect.objectContaining({ reason: 'malformed', message: expect.stringContaining('forecast.datetime') }));
  });
});
