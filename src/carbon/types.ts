/** One carbon-intensity value for a zone at a time. */
export interface CarbonReading {
  zone: string;
  /** Epoch ms the value applies from. */
  at: number;
  gco2PerKwh: number;
  /** Provider (and, for chains, the link) the value came from. */
  source: string;
}

/**
 * A source of grid carbon intensity. Implementations throw `AdapterError` (with `retryable`) when the
 * source fails. Providers of measured data never fill gaps with invented values (the mock provider is
 * synthetic by design, and says so in every value's `source`).
 */
export interface CarbonProvider {
  /** Used in logs and as a metric label. */
  readonly name: string;
  /** The intensity in effect now. */
  current(zone: string): Promise<CarbonReading>;
  /** Values covering [fromMs, toMs), ascending by `at`; each applies until the next one. May end early. */
  forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]>;
}
