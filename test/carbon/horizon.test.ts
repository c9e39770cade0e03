import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileTraceProvider } from '../../src/carbon/file-provider.js';
import { fillHorizon, type HorizonInput } from '../../src/carbon/horizon.js';
import type { CarbonReading } from '../../src/carbon/types.js';
import { FakeClock } from '../support/fake-clock.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const FIXTURE = fileURLToPath(new URL('../fixtures/carbon/kr-2025-03-hourly.csv', import.meta.url));
/** Monday 2025-03-10 06:00 UTC: the recorded week 03-03..03-09 lies behind it, 03-10 is the "future". */
const NOW = Date.UTC(2025, 2, 10, 6);

let recorded: CarbonReading[];
const valueAt = (at: number) => (recorded.find((p) => p.at === at) as CarbonReading).gco2PerKwh;
const past = (from: number) => recorded.filter((p) => p.at >= from && p.at < NOW);
const forecast: CarbonReading[] = [0, 1, 2].map((h) => ({ zone: 'KR', at: NOW + h * HOUR, gco2PerKwh: 450 + h, source: 'electricitymaps', kind: 'forecast' }));
const current: CarbonReading = { zone: 'KR', at: NOW - 15 * 60_000, gco2PerKwh: 444, source: 'electricitymaps', kind: 'measured' };

function fill(overrides: Partial<HorizonInput>): CarbonReading[] {
  return fillHorizon({ zone: 'KR', fromMs: NOW, toMs: NOW + DAY, nowMs: NOW, stepMs: HOUR, forecast, history: past(NOW - 7 * DAY), current, ...overrides });
}

beforeAll(async () => {
  const clock = new FakeClock(NOW);
  recorded = await new FileTraceProvider({ paths: [FIXTURE], loop: false, zones: {}, emissionFactor: 'lifecycle' }, clock).history('KR', Date.UTC(2025, 2, 3), Date.UTC(2025, 2, 11));
});

describe('fillHorizon on a recorded week', () => {
  it('keeps the provider forecast, then fills every hour to the horizon from the same hour on past days', () => {
    const out = fill({});
    expect(out).toHaveLength(24);
    expect(out.map((p) => p.at)).toEqual(Array.from({ length: 24 }, (_, h) => NOW + h * HOUR));
    expect(out.slice(0, 3).map((p) => [p.gco2PerKwh, p.kind, p.source])).toEqual([
      [450, 'forecast', 'electricitymaps'],
      [451, 'forecast', 'electricitymaps'],
      [452, 'forecast', 'electricitymaps'],
    ]);
    expect(out.slice(3).every((p) => p.kind === 'filled' && p.source === 'file')).toBe(true);
  });

  it('fills with the weekly profile: the median of that hour over the week, banded by its lowest and highest day', () => {
    const at = NOW + 3 * HOUR;
    const days = [1, 2, 3, 4, 5, 6, 7].map((d) => valueAt(at - d * DAY)).sort((a, b) => a - b);
    expect(fill({}).find((p) => p.at === at)).toMatchObject({ gco2PerKwh: Math.round((days[3] as number) * 10) / 10, lowGco2PerKwh: days[0], highGco2PerKwh: days[6] });
  });

  it('with less than a week of history, fills with the same hour yesterday', () => {
    const at = NOW + 5 * HOUR;
    const out = fill({ history: past(NOW - 2 * DAY) });
    expect(out.find((p) => p.at === at)).toMatchObject({ gco2PerKwh: valueAt(at - DAY), kind: 'filled' });
  });

  it('bands forecast values by the spread of past days, widening with lead time', () => {
    const out = fill({});
    const [now, , twoHours] = out;
    expect(now?.lowGco2PerKwh).toBe(450);
    expect(now?.highGco2PerKwh).toBe(450);
    const spread = ((at: number) => {
      const v = [1, 2, 3, 4, 5, 6, 7].map((d) => valueAt(at - d * DAY));
      return Math.max(...v) - Math.min(...v);
    })(NOW + 2 * HOUR);
    expect(twoHours?.highGco2PerKwh).toBeCloseTo(452 + (spread / 2) * (2 / 24), 0);
    expect(twoHours?.lowGco2PerKwh).toBeCloseTo(452 - (spread / 2) * (2 / 24), 0);
  });

  it('beats holding the current value over the next day of the recording', () => {
    const out = fill({ forecast: [], toMs: Date.UTC(2025, 2, 11) });
    const actual = out.map((p) => valueAt(p.at));
    const mae = (guess: number[]) => guess.reduce((sum, g, i) => sum + Math.abs(g - (actual[i] as number)), 0) / guess.length;
    const filled = out.slice(1).map((p) => p.gco2PerKwh);
    expect(mae([valueAt(NOW), ...filled])).toBeLessThan(mae(out.map(() => valueAt(NOW))));
  });
});

describe('fillHorizon without much to go on', () => {
  it('starts with the current value where the forecast starts late', () => {
    const late = forecast.map((p) => ({ ...p, at: p.at + 2 * HOUR }));
    const out = fill({ forecast: late, toMs: NOW + 5 * HOUR });
    expect(out.map((p) => [(p.at - NOW) / HOUR, p.gco2PerKwh, p.kind])).toEqual([
      [0, 444, 'measured'],
      [2, 450, 'forecast'],
      [3, 451, 'forecast'],
      [4, 452, 'forecast'],
    ]);
  });

  it('with neither forecast nor history, holds the current value, filled and without a band', () => {
    const out = fill({ forecast: [], history: [], toMs: NOW + 3 * HOUR + 30 * 60_000 });
    expect(out).toEqual([
      { ...current, at: NOW },
      { zone: 'KR', at: NOW + HOUR, gco2PerKwh: 444, source: 'electricitymaps', kind: 'filled' },
      { zone: 'KR', at: NOW + 2 * HOUR, gco2PerKwh: 444, source: 'electricitymaps', kind: 'filled' },
      { zone: 'KR', at: NOW + 3 * HOUR, gco2PerKwh: 444, source: 'electricitymaps', kind: 'filled' },
    ]);
  });

  it('fills a gap in history from the current value, and keeps filled points on the hour after an odd forecast end', () => {
    const odd = [{ ...(forecast[0] as CarbonReading), at: NOW + 10 * 60_000 }];
    const out = fill({ forecast: odd, history: [], toMs: NOW + 3 * HOUR });
    expect(out.map((p) => (p.at - NOW) / 60_000)).toEqual([0, 10, 70, 120]);
  });

  it('returns nothing it would have to invent', () => {
    expect(fill({ forecast: [], history: [], current: undefined })).toEqual([]);
  });
});

describe('fillHorizon over holes in the forecast', () => {
  /** Forecast points at these hours from NOW, valued 500 + hour. */
  const at = (hours: number[]): CarbonReading[] => hours.map((h) => ({ zone: 'KR', at: NOW + h * HOUR, gco2PerKwh: 500 + h, source: 'electricitymaps', kind: 'forecast' }));
  const cases: { name: string; hours: number[]; history: 'week' | 'none'; want: [number, string, number | 'history'][] }[] = [
    {
      name: 'hours the source left out (over twice its step) are filled from history after one step of the point before',
      hours: [0, 1, 2, 6, 7],
      history: 'week',
      want: [[0, 'forecast', 500], [1, 'forecast', 501], [2, 'forecast', 502], [3, 'filled', 'history'], [4, 'filled', 'history'], [5, 'filled', 'history'], [6, 'forecast', 506], [7, 'forecast', 507]],
    },
    {
      name: 'with no history, a hole holds the current value',
      hours: [0, 1, 4, 5],
      history: 'none',
      want: [[0, 'forecast', 500], [1, 'forecast', 501], [2, 'filled', 444], [3, 'filled', 444], [4, 'forecast', 504], [5, 'forecast', 505]],
    },
    { name: 'one missing point (twice the step) is no hole', hours: [0, 1, 3, 4], history: 'none', want: [[0, 'forecast', 500], [1, 'forecast', 501], [3, 'forecast', 503], [4, 'forecast', 504]] },
    { name: 'an evenly coarse forecast has no holes', hours: [0, 6, 12], history: 'none', want: [[0, 'forecast', 500], [6, 'forecast', 506], [12, 'forecast', 512]] },
    { name: 'a forecast that turns from finer to coarser points has no hole where it turns', hours: [0, 0.25, 0.5, 0.75, 1, 4, 7], history: 'none', want: [[0, 'forecast', 500], [0.25, 'forecast', 500.25], [0.5, 'forecast', 500.5], [0.75, 'forecast', 500.75], [1, 'forecast', 501], [4, 'forecast', 504], [7, 'forecast', 507]] },
  ];
  it.each(cases)('$name', ({ hours, history, want }) => {
    const last = (hours.at(-1) as number) + 1;
    const out = fill({ forecast: at(hours), history: history === 'week' ? past(NOW - 7 * DAY) : [], toMs: NOW + last * HOUR });
    const expected = want.map(([h, kind, value]) => [h, kind, value === 'history' ? 'file' : value]);
    expect(out.map((p) => [(p.at - NOW) / HOUR, p.kind, p.kind === 'filled' && history === 'week' ? p.source : p.gco2PerKwh])).toEqual(expected);
  });
});
