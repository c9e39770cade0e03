import type { Logger } from 'pino';
import type { CarbonFaultHook, CarbonProvider, CarbonReading, CarbonRisk, CarbonValueKind } from '../carbon/types.js';
import { IntensityHistory, integrateCarbon, type CarbonIntegral, type IntensityStep } from '../domain/carbon-integral.js';
import type { Clock } from '../domain/clock.js';
import type { Metrics } from '../metrics/metrics.js';
import { withTimeout } from './timeout.js';

export interface ZoneCarbon {
  current: CarbonReading;
  /** Ascending by `at`; each value holds until the next. */
  forecast: CarbonReading[];
  /** Epoch ms of the refresh that produced this entry. */
  fetchedAt: number;
}

/** Where a zone's current value comes from and how old it is: shown in the API, exported as metrics. */
export interface CarbonStatus {
  source: string;
  kind: CarbonValueKind | undefined;
  /** Seconds since the source delivered the current value; null when none ever was (a stand-in fills the zone). */
  ageSeconds: number | null;
  /** The value is older than the tolerated staleness, or a configured stand-in: the zone is flagged. */
  stale: boolean;
}

export interface CarbonFeedDeps {
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  horizonMs: number;
  timeoutMs: number;
  /** Which value of a band `slotIntensities` gives (default `expected`, the central one). */
  risk?: CarbonRisk;
  /** Past this age (ms) the current value is flagged stale even when the provider does not say so. */
  maxStalenessMs?: number;
  /**
   * Longest a measured value counts as the zone's intensity without a newer refresh, ms (default
   * `maxStalenessMs`, else an hour): the feed serves it that long, so jobs are accounted on it that long.
   */
  historyHoldMs?: number;
  /** How far back the measured history reaches, ms (default 8 days: a job lives at most a week). */
  historyKeepMs?: number;
}

const HOUR_MS = 3_600_000;
const DEFAULT_HISTORY_KEEP_MS = 8 * 24 * HOUR_MS;
/** A refresh every 10 s for 8 days, with room to spare: a few MB per zone at most. */
const MAX_HISTORY_SPANS = 100_000;

/** Lead times of the forecast gauge: a bounded set, so that the label stays small. */
const FORECAST_HORIZONS: ReadonlyArray<readonly [label: string, ms: number]> = [
  ['1h', 3_600_000],
  ['3h', 3 * 3_600_000],
  ['6h', 6 * 3_600_000],
  ['12h', 12 * 3_600_000],
  ['24h', 24 * 3_600_000],
];

/** Value in effect at `atMs` in an ascending series, or undefined before its first point. */
function valueAt(points: readonly CarbonReading[], atMs: number): CarbonReading | undefined {
  let found: CarbonReading | undefined;
  for (const p of points) {
    if (p.at > atMs) break;
    found = p;
  }
  return found;
}

/**
 * The hook a composite provider reports absorbed faults to: counted by provider and reason, logged at
 * warn. Pass it as `onError` when creating the provider.
 */
export function carbonFaultHook(deps: { metrics: Metrics; logger: Logger }): CarbonFaultHook {
  return (provider, reason, error) => {
    deps.metrics.recordCarbonFetchError(provider, reason);
    deps.logger.warn({ provider, reason, err: error }, `carbon provider ${provider} failed (${reason})`);
  };
}

/**
 * The hub's view of grid carbon: refreshed from the provider every carbon period, kept per zone. When a
 * refresh fails, the last good values stay (and the failure is logged and counted), so a provider
 * outage degrades freshness, not scheduling.
 */
export class CarbonFeed {
  private readonly zones = new Map<string, ZoneCarbon>();
  private readonly sources = new Map<string, string>();
  /** The measured intensity of each zone at each refresh: what jobs are accounted on. */
  private readonly history = new Map<string, IntensityHistory>();

  constructor(
    private readonly provider: CarbonProvider,
    private readonly zoneIds: readonly string[],
    private readonly deps: CarbonFeedDeps,
  ) {}

  get providerName(): string {
    return this.provider.name;
  }

  /** Refreshes every zone; resolves with the zones that failed. */
  async refresh(): Promise<string[]> {
    const now = this.deps.clock.now();
    const failed: string[] = [];
    await Promise.all(
      this.zoneIds.map(async (zone) => {
        try {
          const [current, forecast] = await withTimeout(
            Promise.all([this.provider.current(zone), this.provider.forecast(zone, now, now + this.deps.horizonMs)]),
            this.deps.timeoutMs,
            `carbon data for zone ${zone}`,
          );
          this.zones.set(zone, { current, forecast, fetchedAt: now });
          this.recordMeasured(zone, now, current);
          this.deps.metrics.setCarbonIntensity(zone, current.gco2PerKwh);
          this.deps.metrics.recordCarbonRefresh(this.provider.name, 'ok');
        } catch (error) {
          failed.push(zone);
          this.deps.metrics.recordCarbonRefresh(this.provider.name, 'error');
          this.deps.logger.warn({ zone, provider: this.provider.name, err: error }, 'carbon refresh failed; keeping last known values');
        }
        this.exportForecast(zone, now);
        this.exportStatus(zone);
      }),
    );
    return failed;
  }

  get(zone: string): ZoneCarbon | undefined {
    return this.zones.get(zone);
  }

  /** Source, age and staleness of a zone's current value; undefined when the zone has never been fetched. */
  status(zone: string): CarbonStatus | undefined {
    const data = this.zones.get(zone);
    if (!data) return undefined;
    // A stale stand-in without a date (the configured constant before any value arrived) is no delivery: dating it
    // by this refresh would show a zone that never had data as just fed.
    const standIn = data.current.stale === true && data.current.kind === 'filled';
    const deliveredAt = data.current.fetchedAt ?? (standIn ? undefined : data.fetchedAt);
    const ageMs = deliveredAt === undefined ? undefined : Math.max(0, this.deps.clock.now() - deliveredAt);
    const tooOld = this.deps.maxStalenessMs !== undefined && ageMs !== undefined && ageMs > this.deps.maxStalenessMs;
    return { source: data.current.source, kind: data.current.kind, ageSeconds: ageMs === undefined ? null : Math.round(ageMs / 1000), stale: data.current.stale === true || tooOld };
  }

  /**
   * Grams of CO2 that `powerW` watts emitted (or will emit) in `zone` over [fromMs, toMs): the intensity
   * measured at the refreshes where the history covers the window, the current forecast (with the current
   * value before its first point) where it does not, for instance before a restart or in the future; `basis`
   * says which. Undefined when the window has gaps and the zone has never been fetched.
   */
  emissions(zone: string, powerW: number, fromMs: number, toMs: number): CarbonIntegral | undefined {
    const measured = this.history.get(zone)?.spans(fromMs, toMs, this.deps.clock.now()) ?? [];
    const data = this.zones.get(zone);
    const fill: IntensityStep[] = data ? [{ atMs: -Infinity, gco2PerKwh: data.current.gco2PerKwh }, ...data.forecast.map((p) => ({ atMs: p.at, gco2PerKwh: p.gco2PerKwh }))] : [];
    return integrateCarbon(measured, fill, powerW, fromMs, toMs);
  }

  /** Keeps a current value that was measured (not a forecast, a filler or a stale stand-in) in the zone's history. */
  private recordMeasured(zone: string, now: number, current: CarbonReading): void {
    if (current.stale || (current.kind !== undefined && current.kind !== 'measured')) return;
    let history = this.history.get(zone);
    if (!history) {
      history = new IntensityHistory({
        holdMs: this.deps.historyHoldMs ?? this.deps.maxStalenessMs ?? HOUR_MS,
        keepMs: this.deps.historyKeepMs ?? DEFAULT_HISTORY_KEEP_MS,
        maxSpans: MAX_HISTORY_SPANS,
      });
      this.history.set(zone, history);
    }
    // Dated by its fetch: a last-known value served again during an outage is the same observation, and
    // must not stretch the measured history (past max_staleness it is no longer a measurement).
    history.record(current.fetchedAt ?? now, current.gco2PerKwh);
  }

  /**
   * The forecast at each lead time from `now`. After a failed refresh that is the last forecast read from now
   * on, as the scheduler keeps using it: its lead times slide, and those it no longer reaches are dropped.
   */
  private exportForecast(zone: string, now: number): void {
    const forecast = this.zones.get(zone)?.forecast;
    if (forecast) this.deps.metrics.setCarbonForecast(zone, new Map(FORECAST_HORIZONS.map(([label, ms]) => [label, this.forecastAt(forecast, now + ms)])));
  }

  /** The forecast's value at an instant, or undefined past the end of what the forecast covers. */
  private forecastAt(forecast: readonly CarbonReading[], atMs: number): number | undefined {
    const last = forecast[forecast.length - 1];
    const previous = forecast[forecast.length - 2];
    // The last point holds for one of the forecast's own steps (end excluded), not forever.
    if (!last || (previous ? atMs >= last.at + (last.at - previous.at) : atMs > last.at)) return undefined;
    return valueAt(forecast, atMs)?.gco2PerKwh;
  }

  /**
   * Age, source (logged when it changes) and staleness of a zone, as metrics. A zone that never had a value is
   * stale (the worst case of all: no plan goes there), without an age.
   */
  private exportStatus(zone: string): void {
    const status = this.status(zone);
    if (!status) {
      this.deps.metrics.setCarbonMissing(zone);
      return;
    }
    const previous = this.sources.get(zone);
    if (previous !== status.source) {
      this.deps.logger.info({ zone, source: status.source, previous_source: previous ?? null }, `carbon source for zone ${zone}: ${previous ?? 'none'} -> ${status.source}`);
      this.sources.set(zone, status.source);
    }
    this.deps.metrics.setCarbonSource(zone, status.source, previous, status.stale);
    this.deps.metrics.setCarbonDataAge(zone, status.ageSeconds);
  }

  /**
   * Intensity for each of `slots` slots of `slotMs` starting at `fromMs`: the forecast's time-average over
   * the slot, as the accounting integrates it (the forecast is a step function: the current value before
   * its first point, each point until the next, the last one from then on). A slot that straddles a step,
   * or holds several finer steps, gets their weighted mean rather than the one value at its midpoint. With
   * `risk` `pessimistic`, each point's high band value where it has one. Undefined when the zone has never
   * been fetched.
   */
  slotIntensities(zone: string, fromMs: number, slotMs: number, slots: number, risk: CarbonRisk = this.deps.risk ?? 'expected'): number[] | undefined {
    const data = this.zones.get(zone);
    if (!data) return undefined;
    const points = data.forecast;
    const valueOf = (reading: CarbonReading) => (risk === 'pessimistic' ? (reading.highGco2PerKwh ?? reading.gco2PerKwh) : reading.gco2PerKwh);
    const stepAt = (k: number) => valueOf(k < 0 ? data.current : (points[k] as CarbonReading));
    const out = new Array<number>(slots);
    // The step in force at the current instant: -1 is the current value, before the first point.
    let k = -1;
    for (let s = 0; s < slots; s++) {
      const start = fromMs + s * slotMs;
      const end = start + slotMs;
      while (k + 1 < points.length && (points[k + 1] as CarbonReading).at <= start) k++;
      let sum = 0;
      for (let t = start, step = k; t < end; step++) {
        const stepEnd = Math.min(end, step + 1 < points.length ? (points[step + 1] as CarbonReading).at : Infinity);
        sum += (stepEnd - t) * stepAt(step);
        t = stepEnd;
      }
      out[s] = sum / slotMs;
    }
    return out;
  }
}
