import type { Clock } from '../domain/clock.js';
import { fillHorizon } from './horizon.js';
import type { CarbonProvider, CarbonReading } from './types.js';

export interface HorizonProviderOptions {
  /** Days of history behind the filler. */
  historyDays: number;
  /** How often history is fetched again; it changes by one hour per hour. */
  historyRefreshMs: number;
  /** Spacing of filled values. */
  stepMs: number;
}

export const DEFAULT_HORIZON_OPTIONS: Readonly<HorizonProviderOptions> = Object.freeze({
  historyDays: 7,
  historyRefreshMs: 3_600_000,
  stepMs: 3_600_000,
});

/**
 * Makes any provider answer `forecast()` for the whole horizon (see `fillHorizon`): its own forecast where
 * it has one, then history, then the current value. A forecast or history that fails is treated as absent
 * (the inner provider, a fallback chain, has already reported why); only when the current value fails too
 * does `forecast()` fail.
 */
export class HorizonProvider implements CarbonProvider {
  readonly name: string;
  private readonly options: HorizonProviderOptions;
  private readonly histories = new Map<string, { fetchedAt: number; points: CarbonReading[] }>();

  constructor(
    private readonly inner: CarbonProvider,
    private readonly clock: Clock,
    options: Partial<HorizonProviderOptions> = {},
  ) {
    this.name = inner.name;
    this.options = { ...DEFAULT_HORIZON_OPTIONS, ...options };
  }

  current(zone: string): Promise<CarbonReading> {
    return this.inner.current(zone);
  }

  history(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    return this.inner.history ? this.inner.history(zone, fromMs, toMs) : Promise.resolve([]);
  }

  /** The zone's recent history, fetched at most every `historyRefreshMs`; the last good one survives a failure. */
  private async recentHistory(zone: string, now: number): Promise<CarbonReading[]> {
    const kept = this.histories.get(zone);
    if (kept && now - kept.fetchedAt < this.options.historyRefreshMs) return kept.points;
    try {
      const points = await this.history(zone, now - this.options.historyDays * 86_400_000, now);
      this.histories.set(zone, { fetchedAt: now, points });
      return points;
    } catch {
      return kept?.points ?? [];
    }
  }

  async forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    const now = this.clock.now();
    const [forecast, current, history] = await Promise.allSettled([this.inner.forecast(zone, fromMs, toMs), this.inner.current(zone), this.recentHistory(zone, now)]);
    if (forecast.status === 'rejected' && current.status === 'rejected') throw current.reason;
    return fillHorizon({
      zone,
      fromMs,
      toMs,
      nowMs: now,
      stepMs: this.options.stepMs,
      forecast: forecast.status === 'fulfilled' ? forecast.value : [],
      history: history.status === 'fulfilled' ? history.value : [],
      current: current.status === 'fulfilled' ? current.value : undefined,
    });
  }
}
