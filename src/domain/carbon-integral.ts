/**
 * Grams of CO2 of a constant power over a window of time, from a zone's intensity as a step function:
 * spans of measured values, with a forecast step function filling what they do not cover.
 */

/**
 * The largest grid intensity CASPIAN takes, gCO2/kWh: far above any grid (the dirtiest are near 1,200), and
 * small enough that the planner's sums of intensities over a horizon stay exact. A provider's larger value is a
 * malformed answer; the optimizer refuses one in its input.
 */
export const MAX_GCO2_PER_KWH = 100_000;

/** A stretch of time over which the intensity was measured to be `gco2PerKwh`: [fromMs, toMs). */
export interface IntensitySpan {
  fromMs: number;
  toMs: number;
  gco2PerKwh: number;
}

/** A point of a step function: `gco2PerKwh` holds from `atMs` until the next point. */
export interface IntensityStep {
  atMs: number;
  gco2PerKwh: number;
}

export type CarbonBasis = 'measured' | 'forecast';

export interface CarbonIntegral {
  /** gCO2 emitted by the power over the window. */
  grams: number;
  /** `measured` when measured spans covered every instant of the window; else the fill had to stand in. */
  basis: CarbonBasis;
  /** How much of the window the measured spans covered, ms. */
  measuredMs: number;
}

const MS_PER_HOUR = 3_600_000;

/** Index of the first span that ends after `atMs` (spans ascending and disjoint). */
function firstSpanEndingAfter(spans: readonly IntensitySpan[], atMs: number): number {
  let lo = 0;
  let hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((spans[mid] as IntensitySpan).toMs <= atMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Integral of a step function over [fromMs, toMs), in (gCO2/kWh) x ms. Before its first point the first
 * point's value holds; the last point holds for ever.
 */
function stepIntegral(steps: readonly IntensityStep[], fromMs: number, toMs: number): number {
  let k = 0;
  while (k + 1 < steps.length && (steps[k + 1] as IntensityStep).atMs <= fromMs) k++;
  let sum = 0;
  let t = fromMs;
  while (t < toMs) {
    const next = k + 1 < steps.length ? Math.min((steps[k + 1] as IntensityStep).atMs, toMs) : toMs;
    sum += (steps[k] as IntensityStep).gco2PerKwh * (next - t);
    t = next;
    k++;
  }
  return sum;
}

/**
 * Grams of CO2 that `powerW` watts emit over [fromMs, toMs): the measured intensity where `measured`
 * (ascending, disjoint spans) covers the window, `fill` (ascending steps, e.g. the current forecast with the
 * current value before it) elsewhere. Undefined when a gap needs filling and `fill` is empty. A window of
 * zero length (or a reversed one) emits nothing and is fully measured.
 */
export function integrateCarbon(
  measured: readonly IntensitySpan[],
  fill: readonly IntensityStep[],
  powerW: number,
  fromMs: number,
  toMs: number,
): CarbonIntegral | undefined {
  let intensityMs = 0;
  let measuredMs = 0;
  let t = fromMs;
  const gap = (until: number): boolean => {
    if (until <= t) return true;
    if (!fill.length) return false;
    intensityMs += stepIntegral(fill, t, until);
    t = until;
    return true;
  };
  for (let i = firstSpanEndingAfter(measured, fromMs); i < measured.length && t < toMs; i++) {
    const span = measured[i] as IntensitySpan;
    if (!gap(Math.min(span.fromMs, toMs))) return undefined;
    const end = Math.min(span.toMs, toMs);
    if (end > t) {
      intensityMs += span.gco2PerKwh * (end - t);
      measuredMs += end - t;
      t = end;
    }
  }
  if (t < toMs && !gap(toMs)) return undefined;
  const windowMs = Math.max(0, toMs - fromMs);
  return { grams: (intensityMs * powerW) / 1000 / MS_PER_HOUR, basis: measuredMs >= windowMs ? 'measured' : 'forecast', measuredMs };
}

export interface IntensityHistoryOptions {
  /** Longest a measured value is taken to hold without a newer one, ms; past it the history has a gap. */
  holdMs: number;
  /** How far back the history reaches, ms. */
  keepMs: number;
  /** Bound on the spans kept (the oldest go first), whatever `keepMs` says. */
  maxSpans: number;
}

interface Run {
  fromMs: number;
  /** The last observation of this value. */
  lastMs: number;
  gco2PerKwh: number;
}

/**
 * The measured intensity of one zone as observed over time, bounded in age and size. Each observation
 * holds until the next, for at most `holdMs`; repeated observations of the same value are one run.
 */
export class IntensityHistory {
  private readonly runs: Run[] = [];
  /** Runs before this index are dropped; compacted in batches so that pruning is amortised O(1). */
  private start = 0;

  constructor(private readonly options: IntensityHistoryOptions) {}

  get size(): number {
    return this.runs.length - this.start;
  }

  /** Records that `gco2PerKwh` was measured at `atMs`. An observation older than the last one is ignored. */
  record(atMs: number, gco2PerKwh: number): void {
    const last = this.runs[this.runs.length - 1];
    if (last && this.size > 0 && atMs < last.lastMs) return;
    if (last && this.size > 0 && last.gco2PerKwh === gco2PerKwh && atMs - last.lastMs <= this.options.holdMs) last.lastMs = atMs;
    else this.runs.push({ fromMs: atMs, lastMs: atMs, gco2PerKwh });
    this.prune(atMs);
  }

  /** The measured spans overlapping [fromMs, toMs), none reaching past `untilMs` (what has been observed so far). */
  spans(fromMs: number, toMs: number, untilMs = Infinity): IntensitySpan[] {
    const out: IntensitySpan[] = [];
    // The last run that began at or before fromMs is the first that may reach into the window.
    let lo = this.start;
    let hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.runs[mid] as Run).fromMs <= fromMs) lo = mid + 1;
      else hi = mid;
    }
    for (let i = Math.max(this.start, lo - 1); i < this.runs.length; i++) {
      const run = this.runs[i] as Run;
      if (run.fromMs >= toMs) break;
      const next = this.runs[i + 1];
      const end = Math.min(next ? next.fromMs : Infinity, run.lastMs + this.options.holdMs, untilMs);
      if (end > fromMs && end > run.fromMs) out.push({ fromMs: run.fromMs, toMs: end, gco2PerKwh: run.gco2PerKwh });
    }
    return out;
  }

  private prune(nowMs: number): void {
    const horizon = nowMs - this.options.keepMs;
    while (this.size > 0 && ((this.runs[this.start] as Run).lastMs + this.options.holdMs < horizon || this.size > this.options.maxSpans)) this.start++;
    if (this.start > 1024 && this.start * 2 > this.runs.length) {
      this.runs.splice(0, this.start);
      this.start = 0;
    }
  }
}
