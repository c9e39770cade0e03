/**
 * How a value came to be: `measured` (or estimated by the source for a past or present time), `forecast`
 * (predicted by the source), `filled` (the hub's own guess where the source had nothing: the same hour on
 * past days, or the current value held).
 */
export type CarbonValueKind = 'measured' | 'forecast' | 'filled';

/** One carbon-intensity value for a zone at a time. */
export interface CarbonReading {
  zone: string;
  /** Epoch ms the value applies from. */
  at: number;
  /** Central value, gCO2/kWh. */
  gco2PerKwh: number;
  /** Provider (and, for chains, the link) the value came from. A bounded word: it is a metric label. */
  source: string;
  kind?: CarbonValueKind;
  /** Uncertainty band around `gco2PerKwh`, gCO2/kWh; absent when nothing is known about the spread. */
  lowGco2PerKwh?: number;
  highGco2PerKwh?: number;
  /** Epoch ms the hub received the value from its source; the data's age counts from here. */
  fetchedAt?: number;
  /** Older than the configured staleness bound: still served (better than nothing), but the zone is flagged. */
  stale?: boolean;
}

/** Which value of a band the optimizer plans against: the central one, or the high end. */
export type CarbonRisk = 'expected' | 'pessimistic';

/** Why a fetch from a provider failed: a bounded word, used as a metric label. */
export type CarbonFaultReason = 'timeout' | 'auth' | 'rate_limited' | 'http_4xx' | 'http_5xx' | 'malformed' | 'no_data' | 'units' | 'network' | 'stale';

/** Told about every provider fault a composite provider absorbed (so that the hub can count them). */
export type CarbonFaultHook = (provider: string, reason: CarbonFaultReason, error: unknown) => void;

/**
 * A source of grid carbon intensity. Implementations throw `AdapterError` (with `retryable`) when the
 * source fails. Providers of measured data never fill gaps with invented values (the mock provider is
 * synthetic by design, and says so in every value's `source`; the horizon filler tags what it fills).
 */
export interface CarbonProvider {
  /** Used in logs and as a metric label. */
  readonly name: string;
  /** The intensity in effect now. */
  current(zone: string): Promise<CarbonReading>;
  /** Values covering [fromMs, toMs), ascending by `at`; each applies until the next one. May end early. */
  forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]>;
  /** Past values in [fromMs, toMs), ascending by `at`; providers without an archive leave it out. */
  history?(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]>;
}
