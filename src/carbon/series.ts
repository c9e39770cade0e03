import type { CarbonReading } from './types.js';

/** The points of a series that matter for [fromMs, toMs), ascending: the one in effect at `fromMs` and those after it. */
export function clip(points: readonly CarbonReading[], fromMs: number, toMs: number): CarbonReading[] {
  const sorted = [...points].sort((a, b) => a.at - b.at);
  let first = sorted.findIndex((p) => p.at > fromMs);
  if (first === -1) first = sorted.length;
  return sorted.slice(Math.max(0, first - 1)).filter((p) => p.at < toMs);
}

/**
 * Index of the point of an ascending series in effect at `atMs` (the last one at or before it), or -1.
 * A point holds for at most `maxHoldMs`: past that the series has a gap, and a gap is not the last value.
 */
export function indexAt(points: readonly CarbonReading[], atMs: number, maxHoldMs = Infinity): number {
  let lo = 0;
  let hi = points.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((points[mid] as CarbonReading).at <= atMs) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (found === -1 || atMs - (points[found] as CarbonReading).at >= maxHoldMs) return -1;
  return found;
}
