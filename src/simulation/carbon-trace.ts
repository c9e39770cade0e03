import { FileTraceProvider } from '../carbon/file-provider.js';
import type { CarbonProvider } from '../carbon/types.js';
import type { Clock } from '../domain/clock.js';
import { csvLine } from '../domain/csv.js';
import { seededRandom } from '../domain/random.js';
import { DAY_MS, HOUR_MS } from './workload.js';

/**
 * A carbon-intensity trace a run is played against: one value per zone per step from `startMs`, each holding
 * for its step, replayed in a loop past its end (as the trace-file provider replays a file). The hub reads it
 * through the real trace-file provider; the KPIs and the oracle read the same values here.
 */
export class CarbonTrace {
  readonly spanMs: number;

  constructor(
    readonly name: string,
    readonly startMs: number,
    readonly stepMs: number,
    /** Zone -> values, one per step; every zone has the same count. */
    readonly values: ReadonlyMap<string, readonly number[]>,
  ) {
    const lengths = new Set([...values.values()].map((v) => v.length));
    if (lengths.size !== 1 || [...lengths][0] === 0) throw new Error(`carbon trace ${name}: every zone needs the same, non-zero number of values`);
    this.spanMs = ([...lengths][0] as number) * stepMs;
  }

  get zones(): string[] {
    return [...this.values.keys()];
  }

  private series(zone: string): readonly number[] {
    const series = this.values.get(zone);
    if (!series) throw new Error(`carbon trace ${this.name} has no zone ${zone}`);
    return series;
  }

  /** Intensity in effect at `atMs`, gCO2/kWh. */
  at(zone: string, atMs: number): number {
    const series = this.series(zone);
    const offset = (((atMs - this.startMs) % this.spanMs) + this.spanMs) % this.spanMs;
    return series[Math.floor(offset / this.stepMs)] as number;
  }

  /** Integral of the intensity over [fromMs, toMs), gCO2/kWh x hours. */
  integral(zone: string, fromMs: number, toMs: number): number {
    let sum = 0;
    let t = fromMs;
    while (t < toMs) {
      const stepEnd = this.startMs + (Math.floor((t - this.startMs) / this.stepMs) + 1) * this.stepMs;
      const end = Math.min(stepEnd, toMs);
      sum += this.at(zone, t) * ((end - t) / HOUR_MS);
      t = end;
    }
    return sum;
  }

  /** The trace as the trace-file provider's plain CSV (`zone,datetime,gco2_per_kwh`). */
  toCsv(): string {
    let text = csvLine(['zone', 'datetime', 'gco2_per_kwh']);
    for (const [zone, series] of this.values) {
      series.forEach((v, i) => {
        text += csvLine([zone, new Date(this.startMs + i * this.stepMs).toISOString(), v]);
      });
    }
    return text;
  }

  /** The hub's carbon provider for a run: the trace-file provider, replaying this trace in a loop on the run's clock. */
  provider(clock: Clock): CarbonProvider {
    const csv = this.toCsv();
    return new FileTraceProvider({ paths: [`${this.name}.csv`], loop: true, zones: {}, emissionFactor: 'lifecycle' }, clock, () => csv);
  }

  /** A trace from a function of (zone, step start). */
  static from(name: string, zones: readonly string[], startMs: number, stepMs: number, steps: number, value: (zone: string, atMs: number, step: number) => number): CarbonTrace {
    return new CarbonTrace(name, startMs, stepMs, new Map(zones.map((z) => [z, Array.from({ length: steps }, (_, i) => value(z, startMs + i * stepMs, i))])));
  }
}

/** Monday 2026-01-05 00:00 UTC: every built-in run starts at midnight UTC on a Monday. */
export const DEFAULT_RUN_START_MS = Date.UTC(2026, 0, 5);

/** Zones of the built-in week, as the hub's default regions name them. */
export const WEEK_ZONES = ['KR', 'JP-TK', 'CN'] as const;

interface GridShape {
  /** Mean intensity, gCO2/kWh. */
  mean: number;
  /** Depth of the midday solar trough at local noon, gCO2/kWh (scaled each day by the day's sunshine). */
  solarDip: number;
  /** Height of the evening peak at local 19:00. */
  eveningPeak: number;
  /** Weekend reduction (less industrial load on a fossil margin). */
  weekendDrop: number;
  /** Standard deviation of the hour-to-hour noise (AR(1), persistence 0.8). */
  noise: number;
  /** Local time offset from UTC, hours. */
  utcOffsetHours: number;
}

/**
 * Shapes loosely after each grid: Korea's nuclear and coal base swings little; Tokyo's solar share digs a
 * deep midday trough on sunny days; the Chinese grid is dirtiest, coal-heavy with a shallower solar dip.
 */
const WEEK_SHAPES: Readonly<Record<(typeof WEEK_ZONES)[number], GridShape>> = {
  KR: { mean: 430, solarDip: 60, eveningPeak: 40, weekendDrop: 25, noise: 10, utcOffsetHours: 9 },
  'JP-TK': { mean: 480, solarDip: 170, eveningPeak: 60, weekendDrop: 20, noise: 14, utcOffsetHours: 9 },
  CN: { mean: 570, solarDip: 80, eveningPeak: 30, weekendDrop: 10, noise: 9, utcOffsetHours: 8 },
};

/**
 * The built-in three-region week: hourly intensity for KR, JP-TK and CN over seven days from
 * `DEFAULT_RUN_START_MS` (a Monday), seeded: a daily solar trough at local noon whose depth follows each
 * day's sunshine, an evening peak, quieter weekends and autocorrelated hour-to-hour noise.
 */
export function builtinWeek(seed: number, startMs = DEFAULT_RUN_START_MS): CarbonTrace {
  const values = new Map<string, number[]>();
  WEEK_ZONES.forEach((zone, zi) => {
    const shape = WEEK_SHAPES[zone];
    const random = seededRandom(seed * 31 + zi + 1);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const sunshine = Array.from({ length: 7 }, () => 0.45 + 0.55 * random());
    let ar = 0;
    const series: number[] = [];
    for (let h = 0; h < 7 * 24; h++) {
      const local = (h + shape.utcOffsetHours) % 24;
      const day = Math.floor((h + shape.utcOffsetHours) / 24) % 7;
      const dayOfWeek = new Date(startMs + h * HOUR_MS + shape.utcOffsetHours * HOUR_MS).getUTCDay();
      const solar = local >= 6 && local <= 18 ? Math.sin((Math.PI * (local - 6)) / 12) ** 2 : 0;
      const evening = Math.exp(-(((local - 19) / 2.2) ** 2));
      const night = Math.exp(-(((local - 3) / 3) ** 2));
      ar = 0.8 * ar + shape.noise * gauss();
      const value =
        shape.mean -
        shape.solarDip * (sunshine[day] as number) * solar +
        shape.eveningPeak * evening -
        0.3 * shape.eveningPeak * night -
        (dayOfWeek === 0 || dayOfWeek === 6 ? shape.weekendDrop : 0) +
        ar;
      series.push(Math.round(Math.max(50, value) * 10) / 10);
    }
    values.set(zone, series);
  });
  return new CarbonTrace('builtin-week', startMs, HOUR_MS, values);
}

/** The same intensity everywhere, all the time (a sanity check: no strategy can then save anything). */
export function flatTrace(zones: readonly string[], gco2PerKwh: number, startMs = DEFAULT_RUN_START_MS): CarbonTrace {
  return CarbonTrace.from('flat', zones, startMs, DAY_MS, 7, () => gco2PerKwh);
}
