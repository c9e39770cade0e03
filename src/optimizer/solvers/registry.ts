import type { Solver } from '../types.js';
import { highsSolver } from './highs.js';
import { jslpSolver } from './jslp.js';

/**
 * Every backend by name. `auto` walks `AUTO_ORDER` and takes the first backend whose `maxOptions` covers the
 * model: the exact MILP backends from the smallest up. `FALLBACK_SOLVER` is what a failed or timed-out solve
 * falls back to when it is registered.
 */
const SOLVERS: readonly Solver[] = [jslpSolver, highsSolver];

export const AUTO_ORDER: readonly string[] = ['jslp', 'highs'];
export const FALLBACK_SOLVER = 'greedy';

const byName = new Map(SOLVERS.map((s) => [s.name, s] as const));

export function solverNames(): string[] {
  return [...byName.keys()];
}

export function getSolver(name: string): Solver | undefined {
  return byName.get(name);
}

/** The backend `auto` uses for a model of `options` options: the first in `AUTO_ORDER` big enough, else the largest. */
export function autoSolver(options: number): Solver {
  const candidates = AUTO_ORDER.map((n) => byName.get(n)).filter((s): s is Solver => s !== undefined);
  const fitting = candidates.find((s) => options <= s.maxOptions);
  if (fitting) return fitting;
  return candidates.reduce((a, b) => (b.maxOptions > a.maxOptions ? b : a));
}
