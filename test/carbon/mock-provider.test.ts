import { describe, expect, it } from 'vitest';
import { DEFAULT_MOCK_OPTIONS, diurnalIntensity, MockCarbonProvider, SEED_SCENARIO_STEPS } from '../../src/carbon/mock-provider.js';
import { FakeClock } from '../support/fake-clock.js';

const HOUR = 3_600_000;
const MIDNIGHT_UTC = Date.UTC(2026, 0, 5, 0, 0, 0);

describe('defaults', () => {
  it('pins the default options', () => {
    expect(DEFAULT_MOCK_OPTIONS).toEqual({ scenario: 'diurnal', stepSeconds: 300, resolutionSeconds: 300 });
    expect(Object.isFrozen(DEFAULT_MOCK_OPTIONS)).toBe(true);
    expect(new MockCarbonProvider(new FakeClock()).name).toBe('mock');
  });

  it('pins the seed tables T1 and T2', () => {
    expect(SEED_SCENARIO_STEPS).toEqual([
      { KR: 400, 'JP-TK': 450, JP: 450, CN: 550 },
      { KR: 700, 'JP-TK': 300, JP: 300, CN: 600 },
    ]);
  });
});

describe('seed-migration scenario', () => {
  const T1 = { KR: 400, 'JP-TK': 450, JP: 450, CN: 550 };
  const T2 = { KR: 700, 'JP-TK': 300, JP: 300, CN: 600 };
  const cases: { name: string; afterSeconds: number; want: Record<string, number> }[] = [
    { name: 'at creation: T1', afterSeconds: 0, want: T1 },
    { name: 'just before the step: still T1', afterSeconds: 299.999, want: T1 },
    { name: 'after step_seconds: T2', afterSeconds: 300, want: T2 },
    { name: 'late in the second step: T2', afterSeconds: 599, want: T2 },
    { name: 'after two steps: back to T1', afterSeconds: 600, want: T1 },
    { name: 'after three steps: T2 again', afterSeconds: 900, want: T2 },
  ];
  for (const { name, afterSeconds, want } of cases) {
    it(`current is ${name}`, async () => {
      const clock = new FakeClock();
      const provider = new MockCarbonProvider(clock, { scenario: 'seed-migration', stepSeconds: 300 });
      clock.advance(afterSeconds * 1000);
      for (const [zone, value] of Object.entries(want)) {
        expect(await provider.current(zone), zone).toEqual({ zone, at: clock.now(), gco2PerKwh: value, source: 'mock:seed-migration' });
      }
    });
  }

  it('counts steps from its own creation, in step_seconds', async () => {
    const clock = new FakeClock(MIDNIGHT_UTC + 17_000);
    const provider = new MockCarbonProvider(clock, { scenario: 'seed-migration', stepSeconds: 60 });
    clock.advance(59_000);
    expect((await provider.current('KR')).gco2PerKwh).toBe(400);
    clock.advance(1_000);
    expect((await provider.current('KR')).gco2PerKwh).toBe(700);
  });

  it('forecasts by persistence: every point is the value in effect now', async () => {
    const clock = new FakeClock();
    const provider = new MockCarbonProvider(clock, { scenario: 'seed-migration' });
    const from = clock.now();
    const forecast = await provider.forecast('CN', from, from + HOUR);
    expect(forecast).toHaveLength(12);
    expect(forecast.map((p) => p.at)).toEqual(Array.from({ length: 12 }, (_, i) => from + i * 300_000));
    expect(new Set(forecast.map((p) => p.gco2PerKwh))).toEqual(new Set([550]));
    expect(new Set(forecast.map((p) => p.source))).toEqual(new Set(['mock:seed-migration']));

    clock.advance(300_000);
    const later = await provider.forecast('CN', clock.now(), clock.now() + HOUR);
    expect(new Set(later.map((p) => p.gco2PerKwh))).toEqual(new Set([600]));
  });

  it('moves the cleanest zone from KR to JP when T2 arrives', async () => {
    const clock = new FakeClock();
    const provider = new MockCarbonProvider(clock, { scenario: 'seed-migration' });
    const cleanest = async () => {
      const readings = await Promise.all(['KR', 'JP-TK', 'CN'].map((z) => provider.current(z)));
      return readings.reduce((a, b) => (b.gco2PerKwh < a.gco2PerKwh ? b : a)).zone;
    };
    expect(await cleanest()).toBe('KR');
    clock.advance(300_000);
    expect(await cleanest()).toBe('JP-TK');
  });

  it('falls back to the diurnal curve for a zone the seed tables do not name', async () => {
    const clock = new FakeClock();
    const provider = new MockCarbonProvider(clock, { scenario: 'seed-migration' });
    expect((await provider.current('DE')).gco2PerKwh).toBe(diurnalIntensity('DE', clock.now()));
  });
});

describe('diurnal scenario', () => {
  it('is the default scenario', async () => {
    const clock = new FakeClock();
    const reading = await new MockCarbonProvider(clock).current('KR');
    expect(reading).toEqual({ zone: 'KR', at: clock.now(), gco2PerKwh: diurnalIntensity('KR', clock.now()), source: 'mock:diurnal' });
  });

  const shapes = [
    { zone: 'KR', peakHourUtc: 11, peak: 430 + 60 + 15, trough: 430 - 60 + 15 },
    { zone: 'JP-TK', peakHourUtc: 10, peak: 470 + 110 + 27.5, trough: 470 - 110 + 27.5 },
    { zone: 'JP', peakHourUtc: 10, peak: 470 + 110 + 27.5, trough: 470 - 110 + 27.5 },
    { zone: 'CN', peakHourUtc: 12, peak: 560 + 50 + 12.5, trough: 560 - 50 + 12.5 },
  ];
  for (const { zone, peakHourUtc, peak, trough } of shapes) {
    it(`${zone} peaks at ${peakHourUtc}:00 UTC and bottoms twelve hours later`, () => {
      expect(diurnalIntensity(zone, MIDNIGHT_UTC + peakHourUtc * HOUR)).toBe(peak);
      expect(diurnalIntensity(zone, MIDNIGHT_UTC + (peakHourUtc + 12) * HOUR)).toBe(trough);
    });
  }

  it('repeats every day and is rounded to 0.1 gCO2/kWh', () => {
    for (const zone of ['KR', 'JP-TK', 'CN', 'somewhere']) {
      for (let minute = 0; minute < 24 * 60; minute += 37) {
        const at = MIDNIGHT_UTC + minute * 60_000;
        const value = diurnalIntensity(zone, at);
        expect(diurnalIntensity(zone, at + 24 * HOUR), `${zone} +${minute}m`).toBe(value);
        expect(Math.round(value * 10) / 10).toBe(value);
      }
    }
  });

  it('is deterministic: two providers on two clocks at the same instant agree', async () => {
    const a = new MockCarbonProvider(new FakeClock(MIDNIGHT_UTC + 5 * HOUR));
    const b = new MockCarbonProvider(new FakeClock(MIDNIGHT_UTC + 5 * HOUR));
    for (const zone of ['KR', 'JP-TK', 'CN', 'XX']) expect(await a.current(zone)).toEqual(await b.current(zone));
  });

  it('forecasts its own curve exactly, at the given resolution over [from, to)', async () => {
    const clock = new FakeClock();
    const provider = new MockCarbonProvider(clock, { resolutionSeconds: 900 });
    const from = clock.now() + 123_000;
    const forecast = await provider.forecast('JP-TK', from, from + 6 * HOUR);
    expect(forecast).toHaveLength(24);
    for (const [i, point] of forecast.entries()) {
      expect(point).toEqual({ zone: 'JP-TK', at: from + i * 900_000, gco2PerKwh: diurnalIntensity('JP-TK', from + i * 900_000), source: 'mock:diurnal' });
    }
    clock.advance(3 * HOUR);
    expect(await provider.forecast('JP-TK', from, from + 6 * HOUR)).toEqual(forecast);
  });

  it('forecasts a partial last step and nothing for an empty range', async () => {
    const provider = new MockCarbonProvider(new FakeClock());
    expect(await provider.forecast('KR', MIDNIGHT_UTC, MIDNIGHT_UTC + 301_000)).toHaveLength(2);
    expect(await provider.forecast('KR', MIDNIGHT_UTC, MIDNIGHT_UTC)).toEqual([]);
    expect(await provider.forecast('KR', MIDNIGHT_UTC, MIDNIGHT_UTC - HOUR)).toEqual([]);
  });
});

describe('unknown zone', () => {
  it('gets a stable curve derived from its name, within a plausible range', () => {
    for (const zone of ['DE', 'US-CAL-CISO', 'zzz']) {
      const values = Array.from({ length: 24 }, (_, h) => diurnalIntensity(zone, MIDNIGHT_UTC + h * HOUR));
      expect(values).toEqual(Array.from({ length: 24 }, (_, h) => diurnalIntensity(zone, MIDNIGHT_UTC + h * HOUR)));
      // mean in [300, 600), amplitude in [40, 120): the curve stays within mean ± 1.25 amplitude.
      for (const v of values) {
        expect(v, zone).toBeGreaterThan(300 - 150);
        expect(v, zone).toBeLessThan(600 + 150);
      }
      expect(Math.max(...values) - Math.min(...values), zone).toBeGreaterThan(0);
    }
  });

  it('gives different zones different curves', () => {
    const curve = (zone: string) => Array.from({ length: 24 }, (_, h) => diurnalIntensity(zone, MIDNIGHT_UTC + h * HOUR));
    expect(curve('DE')).not.toEqual(curve('FR'));
  });
});
