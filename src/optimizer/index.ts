/** The optimizer's public API: the hub, the command line and the benchmark import only from here. */
export { optimize } from './optimize.js';
export { parseOptimizeInput } from './schema.js';
export { OptimizeInputError } from './errors.js';
export type { InputIssue } from './errors.js';
export { validatePlan } from './validate-plan.js';
export type { PlanValidation, PlanViolation } from './validate-plan.js';
export { candidateStarts, compileModel, lastSlotShare, powerWatts, runtimeOnSite, sitesOf } from './model.js';
export type { CompiledModel } from './model.js';
export { getSolver, solverNames } from './solvers/registry.js';
export { DEFAULT_COSTS, DEFAULT_OPTIMIZE_OPTIONS, SOLVER_STATUSES } from './types.js';
export type * from './types.js';
