import { ecsched } from './ecsched.js';
import { fcfs, greenestNow, maxMin, minMin, random, roundRobin, waitBelowThreshold } from './heuristics.js';
import { caspian, oracle } from './optimizer-strategies.js';
import type { StrategyFactory } from './types.js';

/** Every strategy of the benchmark, in the order of its tables: FCFS first (the baseline savings are measured against). */
export const STRATEGIES: readonly StrategyFactory[] = [fcfs, roundRobin, random, minMin, maxMin, greenestNow, waitBelowThreshold(), ecsched(), caspian, oracle()];

export function strategyNames(): string[] {
  return STRATEGIES.map((s) => s.name);
}

export function getStrategy(name: string): StrategyFactory | undefined {
  return STRATEGIES.find((s) => s.name === name);
}
