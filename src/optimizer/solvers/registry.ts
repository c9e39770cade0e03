import { greedySolver } from '../heuristics.js';
import type { Solver } from '../types.js';
import { highsSolver } from './highs.js';
import { hybridSolver } from './hybrid.js';
import { jslpSolver } from './jslp.js';
import { lagrangianSolver } from './lagrangian.js';

/**
 * A set of backends and the policy for choosing among them. `auto` walks `autoOrder` and takes the first
 * backend whose `maxOptions` covers the model (else the largest); `fallback` names the backend a failed or
 * timed-out solve falls back to.
 */
export interface SolverCatalog {
  solvers: readonly Solver[];
  autoOrder: readonly string[];
  fallback?: string;
  /**
   * Anytime backends: they keep a feasible plan from their first moments on and return the best one at
   * their time limit, so a time-out is a normal ending for them, not a failure. `optimize()` keeps no
   * fallback reserve for them (see `fallbackReserveSeconds`).
   */
  anytime?: readonly string[];
}

/**
 * The product's backends: the hybrid (HiGHS outright for small models; Lagrangian, HiGHS, sub-MIPs beyond) up to
 * what HiGHS holds, then the Lagrangian scale path; greedy catches failures. jslp and HiGHS alone stay selectable
 * by name: jslp solves most small models at once, but its branch and bound can run for minutes on some of
 * barely a hundred options that HiGHS proves in milliseconds (a 15-job case in the optimizer tests).
 */
export const DEFAULT_CATALOG: SolverCatalog = Object.freeze({
  solvers: [jslpSolver, highsSolver, lagrangianSolver, hybridSolver, greedySolver],
  autoOrder: ['hybrid', 'lagrangian'],
  fallback: 'greedy',
  anytime: ['lagrangian', 'hybrid', 'greedy'],
});

export function solverNames(catalog: SolverCatalog = DEFAULT_CATALOG): string[] {
  return catalog.solvers.map((s) => s.name);
}

export function getSolver(name: string, catalog: SolverCatalog = DEFAULT_CATALOG): Solver | undefined {
  return catalog.solvers.find((s) => s.name === name);
}

/** The backend `auto` uses for a model of `options` options. */
export function autoSolver(options: number, catalog: SolverCatalog = DEFAULT_CATALOG): Solver {
  const candidates = catalog.autoOrder.map((n) => getSolver(n, catalog)).filter((s): s is Solver => s !== undefined);
  if (candidates.length === 0) throw new Error('the solver catalog has no auto candidates');
  return candidates.find((s) => options <= s.maxOptions) ?? candidates.reduce((a, b) => (b.maxOptions > a.maxOptions ? b : a));
}
