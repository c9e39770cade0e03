import { describe, expect, it } from 'vitest';
import { IntensityHistory, integrateCarbon, type IntensitySpan, type IntensityStep } from '../../src/domain/carbon-integral.js';

const H = 3_600_000;
const span = (fromH: number, toH: number, gco2PerKwh: number): IntensitySpan => ({ fromMs: fromH * H, toMs: toH * H, gco2PerKwh });
const step = (atH: number, gco2PerKwh: number): IntensityStep => ({ atMs: atH * H, gco2PerKwh });

describe('integrateCarbon', () => {
  // 1000 W for an hour is 1 kWh: grams = the mean intensity over the window times its length in hours.
  const cases: { name: string; measured: IntensitySpan[]; fill: IntensityStep[]; powerW: number; from: number; to: number; grams: number; basis: 'measured' | 'forecast'; measuredH: number }[] = [
    { name: 'one measured value over the whole window', measured: [span(0, 10, 400)], fill: [], powerW: 1000, from: 1, to: 3, grams: 800, basis: 'measured', measuredH: 2 },
    { name: 'a step inside the window', measured: [span(0, 2, 400), span(2, 10, 100)], fill: [], powerW: 1000, from: 1, to: 3, grams: 400 + 100, basis: 'measured', measuredH: 2 },
    { name: 'a step at the window start', measured: [span(0, 1, 900), span(1, 10, 300)], fill: [], powerW: 500, from: 1, to: 2, grams: 150, basis: 'measured', measuredH: 1 },
    { name: 'half an hour at 75 W', measured: [span(0, 1, 400)], fill: [], powerW: 75, from: 0.25, to: 0.75, grams: 15, basis: 'measured', measuredH: 0.5 },
    // [0, 1) measured at 200; [1, 2) a gap: the fill's first value (500) also holds before its first point.
    { name: 'a gap in the middle, filled by the forecast', measured: [span(0, 1, 200), span(2, 4, 100)], fill: [step(1.5, 500)], powerW: 1000, from: 0, to: 3, grams: 200 + 500 + 100, basis: 'forecast', measuredH: 2 },
    { name: 'a gap filled by a stepping forecast', measured: [span(0, 1, 200)], fill: [step(-Infinity, 300), step(1.5, 500)], powerW: 1000, from: 0, to: 2, grams: 200 + 150 + 250, basis: 'forecast', measuredH: 1 },
    { name: 'nothing measured: all forecast', measured: [], fill: [step(-Infinity, 250)], powerW: 2000, from: 5, to: 6, grams: 500, basis: 'forecast', measuredH: 0 },
    { name: 'the future after the measured history', measured: [span(0, 1, 100)], fill: [step(-Infinity, 400), step(1, 600)], powerW: 1000, from: 0.5, to: 2, grams: 50 + 600, basis: 'forecast', measuredH: 0.5 },
    { name: 'a window before the history begins', measured: [span(5, 6, 100)], fill: [step(0, 300)], powerW: 1000, from: 1, to: 2, grams: 300, basis: 'forecast', measuredH: 0 },
    { name: 'a zero-length run emits nothing and is measured', measured: [], fill: [], powerW: 1000, from: 2, to: 2, grams: 0, basis: 'measured', measuredH: 0 },
    { name: 'a reversed window emits nothing', measured: [span(0, 10, 400)], fill: [], powerW: 1000, from: 3, to: 2, grams: 0, basis: 'measured', measuredH: 0 },
    { name: 'zero power emits nothing, still measured', measured: [span(0, 10, 400)], fill: [], powerW: 0, from: 0, to: 1, grams: 0, basis: 'measured', measuredH: 1 },
  ];

  it.each(cases)('$name', ({ measured, fill, powerW, from, to, grams, basis, measuredH }) => {
    const result = integrateCarbon(measured, fill, powerW, from * H, to * H);
    expect(result).toBeDefined();
    expect(result!.grams).toBeCloseTo(grams, 9);
    expect(result!.basis).toBe(basis);
    expect(result!.measuredMs).toBeCloseTo(measuredH * H, 3);
  });

  it('is undefined when a gap needs filling and there is nothing to fill it with', () => {
    expect(integrateCarbon([span(0, 1, 100)], [], 1000, 0, 2 * H)).toBeUndefined();
    expect(integrateCarbon([], [], 1000, 0, H)).toBeUndefined();
  });
});

describe('IntensityHistory', () => {
  const history = (holdH = 1, keepH = 200, maxSpans = 1000) => new IntensityHistory({ holdMs: holdH * H, keepMs: keepH * H, maxSpans });

  it('holds each value until the next observation, as a step function', () => {
    const h = history();
    h.record(0, 400);
    h.record(0.5 * H, 400);
    h.record(1 * H, 200);
    h.record(1.5 * H, 200);
    expect(h.size).toBe(2);
    expect(h.spans(0, 10 * H, 1.5 * H)).toEqual([span(0, 1, 400), span(1, 1.5, 200)]);
  });

  it('holds the last value for at most holdMs, and not past untilMs', () => {
    const h = history(0.5);
    h.record(0, 400);
    expect(h.spans(0, 10 * H)).toEqual([span(0, 0.5, 400)]);
    expect(h.spans(0, 10 * H, 0.25 * H)).toEqual([span(0, 0.25, 400)]);
  });

  it('leaves a gap where no observation came for longer than holdMs', () => {
    const h = history(0.5);
    h.record(0, 400);
    h.record(2 * H, 400);
    expect(h.spans(0, 3 * H, 3 * H)).toEqual([span(0, 0.5, 400), span(2, 2.5, 400)]);
  });

  it('returns only the spans that reach into the window', () => {
    const h = history();
    for (let i = 0; i < 10; i++) h.record(i * H, 100 + i);
    expect(h.spans(3.5 * H, 5 * H, 10 * H)).toEqual([span(3, 4, 103), span(4, 5, 104)]);
  });

  it('ignores observations older than the last one', () => {
    const h = history();
    h.record(H, 300);
    h.record(0, 100);
    expect(h.spans(0, 2 * H, 2 * H)).toEqual([span(1, 2, 300)]);
  });

  it('forgets what is older than keepMs, and keeps at most maxSpans', () => {
    const h = history(1, 5);
    for (let i = 0; i <= 20; i++) h.record(i * H, i);
    expect(h.spans(0, 100 * H, 20 * H)[0]!.fromMs).toBeGreaterThanOrEqual(14 * H);
    const small = history(1, 1000, 3);
    for (let i = 0; i < 3000; i++) small.record(i * H, i);
    expect(small.size).toBe(3);
    expect(small.spans(0, 1e9 * H, 3000 * H).map((s) => s.gco2PerKwh)).toEqual([2997, 2998, 2999]);
  });
});
