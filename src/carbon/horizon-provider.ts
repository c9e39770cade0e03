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
  /** Per zone, when history was last asked for and what it gave (never rejects: the last good one, or none). */
  private readonly histories = new Map<string, { askedAt: number; points: Promise<CarbonReading[]> }>();

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

  /**
   * The zone's recent history, asked for at most once per `historyRefreshMs` whether the answer came or
   * not: a plan without the history endpoint answers 403 every time, and asking on every refresh only
   * multiplies the requests and the faults counted. After a failure the last good history is kept.
   */
  private recentHistory(zone: string, now: number): Promise<CarbonReading[]> {
    const kept = this.histories.get(zone);
    if (kept && now - kept.askedAt < this.options.historyRefreshMs) return kept.points;
    const previous = kept?.points ?? Promise.resolve([]);
    const points = this.history(zone, now - this.options.historyDays * 86_400_000, now).catch(() => previous);
    this.histories.set(zone, { askedAt: now, points });
    return points;
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
