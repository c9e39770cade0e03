import type { Logger } from 'pino';
import type { CarbonProvider, CarbonReading } from '../carbon/types.js';
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

/**
 * The hub's view of grid carbon: refreshed from the provider every carbon period, kept per zone. When a
 * refresh fails, the last good values stay (and the failure is logged and counted), so a provider
 * outage degrades freshness, not scheduling.
 */
export class CarbonFeed {
  private readonly zones = new Map<string, ZoneCarbon>();

  constructor(
    private readonly provider: CarbonProvider,
    private readonly zoneIds: readonly string[],
    private readonly deps: { metrics: Metrics; logger: Logger; clock: Clock; horizonMs: number; timeoutMs: number },
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
          this.deps.metrics.setCarbonIntensity(zone, current.gco2PerKwh);
          this.deps.metrics.recordCarbonRefresh(this.provider.name, 'ok');
        } catch (error) {
          failed.push(zone);
          this.deps.metrics.recordCarbonRefresh(this.provider.name, 'error');
          this.deps.logger.warn({ zone, provider: this.provider.name, err: error }, 'carbon refresh failed; keeping last known values');
        }
      }),
    );
    return failed;
  }

  get(zone: string): ZoneCarbon | undefined {
    return this.zones.get(zone);
  }

  /**
   * Intensity for each of `slots` slots of `slotMs` starting at `fromMs`, read at each slot's midpoint
   * from the forecast: a slot before the first forecast point takes the current value, a slot after the
   * last point keeps the last one. Undefined when the zone has never been fetched.
   */
  slotIntensities(zone: string, fromMs: number, slotMs: number, slots: number): number[] | undefined {
    const data = this.zones.get(zone);
    if (!data) return undefined;
    const points = data.forecast;
    const out = new Array<number>(slots);
    let k = 0;
    for (let s = 0; s < slots; s++) {
      const mid = fromMs + (s + 0.5) * slotMs;
      while (k + 1 < points.length && (points[k + 1] as CarbonReading).at <= mid) k++;
      const point = points[k];
      out[s] = point && point.at <= mid ? point.gco2PerKwh : data.current.gco2PerKwh;
    }
    return out;
  }
}
