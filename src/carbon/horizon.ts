import { indexAt } from './series.js';
import type { CarbonReading } from './types.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** A history point stands for its hour; older than this, the history has a gap there. */
const HISTORY_HOLD_MS = 2 * HOUR_MS;
/** Days of history that make a weekly profile (a median over each weekday) rather than "yesterday". */
const PROFILE_DAYS = 7;

export interface HorizonInput {
  zone: string;
  /** The stretch to cover, epoch ms: [fromMs, toMs). */
  fromMs: number;
  toMs: number;
  /** Now: history is what lies before it, lead time counts from it. */
  nowMs: number;
  /** Spacing of filled points, ms (history is hourly, so an hour is the natural step). */
  stepMs: number;
  /** The provider's forecast, ascending; may be short or empty. */
  forecast: readonly CarbonReading[];
  /** Past values, ascending (e.g. the last week). */
  history: readonly CarbonReading[];
  /** The value in effect now, if known: it covers what neither forecast nor history can. */
  current?: CarbonReading;
}

/** Values at the same time of day on past days, most recent first. */
function sameHourOnPastDays(history: readonly CarbonReading[], atMs: number, nowMs: number): number[] {
  const out: number[] = [];
  if (!history.length) return out;
  const oldest = (history[0] as CarbonReading).at;
  for (let t = atMs - DAY_MS * Math.max(1, Math.ceil((atMs - nowMs) / DAY_MS)); t >= oldest; t -= DAY_MS) {
    const i = indexAt(history, t, HISTORY_HOLD_MS);
    if (i >= 0) out.push((history[i] as CarbonReading).gco2PerKwh);
  }
  return out;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const round = (v: number) => Math.round(v * 10) / 10;

/**
 * Spacing of the forecast's own points around the gap after point `i`: the larger of the steps before and
 * after it (a forecast that turns from 15-minute to hourly points has no hole where it turns); undefined when
 * the forecast has no other step to compare with.
 */
function stepAround(forecast: readonly CarbonReading[], i: number): number | undefined {
  const before = i > 0 ? (forecast[i] as CarbonReading).at - (forecast[i - 1] as CarbonReading).at : undefined;
  const after = i + 2 < forecast.length ? (forecast[i + 2] as CarbonReading).at - (forecast[i + 1] as CarbonReading).at : undefined;
  if (before === undefined) return after;
  return after === undefined ? before : Math.max(before, after);
}

/**
 * Carbon intensity over a whole planning horizon from whatever a provider could give:
 *
 * 1. the provider's forecast where it has one (`forecast`, or what the provider tagged it);
 * 2. past its end, and in a hole inside it (a gap over twice its own step: hours the source published no value
 *    for), the same hour on past days (`filled`): with a week of history the median of that hour over the week
 *    (a weekly profile, robust to one odd day), else the same hour on the latest day there is;
 * 3. with no history for that hour, the current value held (`filled`).
 *
 * A forecast point holds for one of the forecast's own steps, at the end and before a hole: a value the source
 * did not give is not the last one it gave.
 *
 * A band comes with every value history can inform: for filled values the lowest and highest of past days
 * at that hour; for forecast values (which are better than history near now and no better a day out) half
 * that spread either side, growing linearly with lead time to the full half-spread at 24 h. Values with no
 * history behind them carry no band. Pure: no clock, no I/O.
 */
export function fillHorizon(input: HorizonInput): CarbonReading[] {
  const { zone, fromMs, toMs, nowMs, stepMs, history, current } = input;
  const forecast = input.forecast.filter((p) => p.at < toMs);
  const out: CarbonReading[] = [];
  // Filled points keep to the step grid after their first, so that they line up with the hours of the history.
  const onGrid = (ms: number) => Math.ceil(ms / stepMs) * stepMs;
  const fill = (startMs: number, endMs: number) => {
    for (let at = startMs; at < endMs; at = onGrid(at + 1)) {
      const days = sameHourOnPastDays(history, at, nowMs);
      if (days.length) {
        const central = days.length >= PROFILE_DAYS ? median(days) : (days[0] as number);
        const band = days.length >= 2 ? { lowGco2PerKwh: Math.min(...days), highGco2PerKwh: Math.max(...days) } : {};
        out.push({ zone, at, gco2PerKwh: round(central), source: (history[0] as CarbonReading).source, kind: 'filled', ...band });
      } else if (current) {
        out.push({ zone, at, gco2PerKwh: current.gco2PerKwh, source: current.source, kind: 'filled' });
      }
    }
  };

  // Where forecast point i stops holding: one of its own steps (from the point before it) after it, `otherwise` for the first.
  const endOfPoint = (i: number, otherwise: number) => {
    const at = (forecast[i] as CarbonReading).at;
    return at + (i > 0 ? at - (forecast[i - 1] as CarbonReading).at : otherwise);
  };

  const firstForecast = forecast[0];
  if (current && (!firstForecast || firstForecast.at > fromMs)) {
    out.push({ ...current, zone, at: fromMs, kind: current.kind ?? 'measured' });
  }

  forecast.forEach((point, i) => {
    const days = sameHourOnPastDays(history, point.at, nowMs);
    const leadFraction = Math.min(1, Math.max(0, point.at - nowMs) / DAY_MS);
    const halfSpread = days.length >= 2 ? ((Math.max(...days) - Math.min(...days)) / 2) * leadFraction : undefined;
    const band =
      point.lowGco2PerKwh !== undefined || halfSpread === undefined
        ? {}
        : { lowGco2PerKwh: round(Math.max(0, point.gco2PerKwh - halfSpread)), highGco2PerKwh: round(point.gco2PerKwh + halfSpread) };
    out.push({ ...point, zone, kind: point.kind ?? 'forecast', ...band });
    const next = forecast[i + 1];
    const step = stepAround(forecast, i);
    if (next && step !== undefined && next.at - point.at > 2 * step) fill(Math.max(endOfPoint(i, step), fromMs), next.at);
  });

  // Where the forecast stops: its last point holds for one of its own steps.
  const start = forecast.length > 0 ? endOfPoint(forecast.length - 1, stepMs) : out.length ? onGrid(fromMs + 1) : fromMs;
  fill(Math.max(start, fromMs), toMs);
  return out;
}
