import { seededRandom } from '../../domain/random.js';
import type { OptimizeInput, OptimizeJob, OptimizeOutput } from '../../optimizer/index.js';
import { PlanBuilder, type Choice } from './plan-builder.js';
import type { Strategy, StrategyFactory } from './types.js';

/**
 * The list-scheduling baselines. Each cycle: jobs already running stay where they run; the others are taken
 * in the strategy's order and each gets a region and start from its rule, against the capacity left by the
 * jobs before it. A job planned in an earlier cycle keeps its region (these baselines do not migrate; only
 * its start may move) unless that region has no room left in its window.
 */

/** Picks a start for a job among `regions` (already narrowed to its previous region when it has one). */
type Rule = (job: OptimizeJob, builder: PlanBuilder, regions: readonly string[]) => Choice | undefined;

/** The order a strategy takes its jobs in (default: the input's, which is submission order). */
type Order = (jobs: OptimizeJob[], builder: PlanBuilder) => OptimizeJob[];

function listScheduler(name: string, rule: Rule, order: Order = (jobs) => jobs): Strategy {
  return {
    name,
    async plan(input: OptimizeInput): Promise<OptimizeOutput> {
      const b = new PlanBuilder(input);
      // 1. Running jobs stay where they run.
      for (const job of input.jobs) {
        const prev = b.previous(job);
        if (b.isPinned(job) && prev !== undefined && b.fits(job, prev, 0)) b.place(job, prev, 0);
      }
      // 2. The rest in the strategy's order.
      for (const job of order(input.jobs.filter((j) => !b.isPlaced(j.job_id)), b)) {
        const allowed = b.allowed(job);
        const prev = b.previous(job);
        const sticky = prev !== undefined && allowed.includes(prev) ? [prev] : allowed;
        const choice = rule(job, b, sticky) ?? (sticky !== allowed ? rule(job, b, allowed) : undefined);
        if (choice) b.place(job, choice.region, choice.start);
      }
      return b.output(name);
    },
  };
}

/** Stable sort by the latest start a job's window allows: the one its deadline forces soonest first. */
const byLatestStart: Order = (jobs, b) => [...jobs].sort((x, y) => b.window(x).last - b.window(y).last);

/** Stable sort by runtime. */
const byRuntime =
  (direction: 1 | -1): Order =>
  (jobs) => [...jobs].sort((a, c) => direction * (a.runtime_slots - c.runtime_slots));

const earliestRule: Rule = (job, b, regions) => b.earliest(job, regions);

export const fcfs: StrategyFactory = {
  name: 'fcfs',
  description: 'first come, first served: in arrival order, the earliest start that fits, home (first allowed) region first; carbon-agnostic',
  create: () => listScheduler('fcfs', earliestRule),
};

export const roundRobin: StrategyFactory = {
  name: 'round-robin',
  description: 'regions in turn for each new job (the next allowed one that has room), earliest start; carbon-agnostic',
  create: () => {
    let turn = 0;
    return listScheduler('round-robin', (job, b, regions) => {
      if (regions.length === 1) return b.earliest(job, regions);
      const first = turn++ % regions.length;
      const rotated = [...regions.slice(first), ...regions.slice(0, first)];
      for (const region of rotated) {
        const choice = b.earliest(job, [region]);
        if (choice) return choice;
      }
      return undefined;
    });
  },
};

export const random: StrategyFactory = {
  name: 'random',
  description: 'a seeded random allowed region for each new job (another if it has no room), earliest start; carbon-agnostic',
  create: ({ seed }) => {
    const next = seededRandom(seed);
    return listScheduler('random', (job, b, regions) => {
      const first = Math.floor(next() * regions.length);
      const rotated = [...regions.slice(first), ...regions.slice(0, first)];
      for (const region of rotated) {
        const choice = b.earliest(job, [region]);
        if (choice) return choice;
      }
      return undefined;
    });
  },
};

export const minMin: StrategyFactory = {
  name: 'min-min',
  description: 'Min-Min: shortest jobs first, each to the start and region that completes it earliest; carbon-agnostic',
  create: () => listScheduler('min-min', earliestRule, byRuntime(1)),
};

export const maxMin: StrategyFactory = {
  name: 'max-min',
  description: 'Max-Min: longest jobs first, each to the start and region that completes it earliest; carbon-agnostic',
  create: () => listScheduler('max-min', earliestRule, byRuntime(-1)),
};

export const greenestNow: StrategyFactory = {
  name: 'greenest-now',
  description: 'spatial only: the earliest start that fits, in the allowed region whose grid is cleanest now',
  create: () =>
    listScheduler('greenest-now', (job, b, regions) => {
      const greenest = [...regions].sort((x, y) => b.intensity(x, 0) - b.intensity(y, 0));
      return b.earliest(job, greenest);
    }),
};

/** Default of wait-below-threshold: the region's 20th percentile of intensity over the cycle's horizon. */
export const WAIT_THRESHOLD_PERCENTILE = 20;

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
}

/**
 * Temporal only, on the home region (its previous one, else its first allowed): a job starts in a cycle whose
 * intensity now is at or below the threshold, and otherwise waits, held at its latest start that fits, so
 * that the deadline forces a start when the grid never gets clean enough. Jobs are taken by latest start, so
 * that one its deadline forces now is not crowded out by one that merely may start. Looks at the intensity
 * now and the day's percentile, not at a forecast of when the dip comes.
 */
export function waitBelowThreshold(options: { thresholdGco2PerKwh?: number; percentile?: number } = {}): StrategyFactory {
  return {
    name: 'wait-below-threshold',
    description: `temporal only: in the home region, start when the intensity now is at or below ${options.thresholdGco2PerKwh !== undefined ? `${options.thresholdGco2PerKwh} gCO2/kWh` : `the region's ${options.percentile ?? WAIT_THRESHOLD_PERCENTILE}th percentile over the next 24 h`}, else wait until the deadline forces a start`,
    create: () => {
      const thresholds = new Map<string, number>();
      const strategy = listScheduler('wait-below-threshold', (job, b, regions) => {
        const home = regions.slice(0, 1);
        const region = home[0] as string;
        let threshold = thresholds.get(region);
        if (threshold === undefined) {
          threshold =
            options.thresholdGco2PerKwh ??
            percentile(
              Array.from({ length: b.horizon }, (_, s) => b.intensity(region, s)),
              options.percentile ?? WAIT_THRESHOLD_PERCENTILE,
            );
          thresholds.set(region, threshold);
        }
        const clean = b.intensity(region, 0) <= threshold + 1e-9;
        return (clean ? b.earliest(job, home) : b.latest(job, home)) ?? b.earliest(job, regions);
      }, byLatestStart);
      return {
        name: strategy.name,
        plan(input, options) {
          // Thresholds follow the horizon of each cycle.
          thresholds.clear();
          return strategy.plan(input, options);
        },
      };
    },
  };
}
