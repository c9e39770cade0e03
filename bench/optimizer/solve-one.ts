/**
 * Child process of the benchmark: solves one instance with one solver through `optimize()` and prints one
 * JSON line with the result and this process's peak RSS (each solve gets a fresh process so the peak is its own).
 */
import { readFileSync } from 'node:fs';
import { optimize, validatePlan } from '../../src/optimizer/index.js';
import type { OptimizeInput } from '../../src/optimizer/index.js';

const [file, solver, timeLimit] = process.argv.slice(2);
if (!file || !solver || !timeLimit) {
  console.error('usage: solve-one.ts INPUT.json SOLVER TIME_LIMIT_SECONDS');
  process.exit(2);
}
const started = performance.now();
const raw = JSON.parse(readFileSync(file, 'utf8')) as OptimizeInput;
const output = await optimize(raw, { solver, timeLimitSeconds: Number(timeLimit) });
const wallSeconds = (performance.now() - started) / 1000;
const validation = validatePlan(raw, output);
console.log(
  JSON.stringify({
    solver: output.solver,
    status: output.solver_status,
    objective: output.objective_gco2,
    lowerBound: output.lower_bound_gco2,
    gap: output.gap,
    placed: output.plans.length,
    unscheduled: output.unscheduled.length,
    contention: output.unscheduled.filter((u) => u.code === 'capacity_contention').length,
    solveSeconds: output.solve_seconds,
    wallSeconds,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    violations: validation.violations.length,
  }),
);
