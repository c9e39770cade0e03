import type { Config } from '../../config/config.js';
import type { Clock } from '../../domain/clock.js';
import type { OptimizeInput, OptimizeOptions, OptimizeOutput } from '../../optimizer/index.js';
import type { CarbonTrace } from '../carbon-trace.js';
import type { Workload } from '../workload.js';

/**
 * A scheduling strategy, plugged into a real hub as its `optimize`: every schedule cycle hands it the
 * `OptimizeInput` the cycle built from the store (jobs with their windows, free capacity, carbon per region
 * and slot, previous plans) and applies the `OptimizeOutput` it returns. A strategy places every job it can
 * within capacity, windows and affinity, and lists the others in `unscheduled`; `validatePlan` accepts its
 * outputs.
 */
export interface Strategy {
  /** Used in the registry, logs, decision logs and result tables. */
  readonly name: string;
  plan(input: OptimizeInput, options: Partial<OptimizeOptions>): Promise<OptimizeOutput>;
  /** The oracle's one offline solve, for the report (its bound and gap). */
  readonly offline?: OptimizeOutput;
}

/** What a run is: the hub configuration, the workload and the carbon trace, from `startMs`. */
export interface RunSetup {
  config: Config;
  workload: Workload;
  trace: CarbonTrace;
  /** The run's time 0: workload arrivals are offsets from it, and the first schedule cycle runs then. */
  startMs: number;
}

export interface StrategyContext {
  /** Seeds the random choices of a strategy (the same seed gives the same run). */
  seed: number;
  /** The run's clock, for strategies that need to know when they are. */
  clock: Clock;
  /** The whole run: only the oracle may look at it. */
  run: RunSetup;
}

export interface StrategyFactory {
  readonly name: string;
  /** One line for `--help` and the README. */
  readonly description: string;
  /** A fresh strategy for one run (strategies may keep state between cycles, e.g. a round-robin pointer). */
  create(context: StrategyContext): Strategy | Promise<Strategy>;
}
