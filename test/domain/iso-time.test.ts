import { describe, expect, it } from 'vitest';
import { isoTime } from '../../src/domain/iso-time.js';
import { seededRandom } from '../../src/domain/random.js';

describe('isoTime', () => {
  it.each([
    ['the epoch', 0, '1970-01-01T00:00:00.000Z'],
    ['the last millisecond of a day', Date.UTC(2026, 10, 23, 23, 59, 59, 999), '2026-11-23T23:59:59.999Z'],
    ['a leap day', Date.UTC(2024, 1, 29, 12, 5, 7, 42), '2024-02-29T12:05:07.042Z'],
    ['the day after a leap day', Date.UTC(2024, 2, 1), '2024-03-01T00:00:00.000Z'],
    ['a century year that is a leap year', Date.UTC(2000, 1, 29, 1, 2, 3, 4), '2000-02-29T01:02:03.004Z'],
    ['a century year that is not', Date.UTC(2100, 2, 1), '2100-03-01T00:00:00.000Z'],
    ['new year', Date.UTC(2027, 0, 1), '2027-01-01T00:00:00.000Z'],
    ['the last time with a four-digit year', 253_402_300_799_999, '9999-12-31T23:59:59.999Z'],
    ['after year 9999 (toISOString)', 253_402_300_800_000, '+010000-01-01T00:00:00.000Z'],
    ['before 1970 (toISOString)', Date.UTC(1969, 11, 31, 23, 59, 59, 999), '1969-12-31T23:59:59.999Z'],
    ['a fraction of a millisecond (toISOString)', 1.5, '1970-01-01T00:00:00.001Z'],
  ])('%s', (_, ms, expected) => {
    expect(isoTime(ms)).toBe(expected);
  });

  it('throws on NaN as toISOString does', () => {
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
  });

  it('agrees with toISOString over the whole four-digit range', () => {
    const random = seededRandom(9);
    for (let i = 0; i < 20_000; i++) {
      const ms = Math.floor(random() * 253_402_300_800_000);
      expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString());
    }
  });
});
