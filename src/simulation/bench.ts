import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfig, type Config } from '../config/config.js';
import { csvLine } from '../domain/csv.js';
import { DECISION_COLUMNS } from '../scheduler/decisions.js';
import { builtinWeek, DEFAULT_RUN_START_MS, type CarbonTrace } from './carbon-trace.js';
import { importAlibaba, importGoogle } from './importers.js';
import { runDetail, withSavings, type RunDetail, type StrategyKpis } from './kpi.js';
import { simulate, type SimulationRun } from './simulator.js';
import { getStrategy, strategyNames } from './strategies/registry.js';
import type { RunSetup, StrategyFactory } from './strategies/types.js';
import { syntheticWorkload, type Workload } from './workload.js';

/** Where the jobs come from. */
export type WorkloadSource = { kind: 'synthetic' } | { kind: 'alibaba' | 'google'; path: string };

export interface BenchOptions {
  workload: WorkloadSource;
  /** Jobs in the run (for a trace: at most, the earliest). */
  jobs: number;
  /** Days of arrivals. */
  days: number;
  seed: number;
  /** Strategy names, run in this order. */
  strategies: readonly string[];
  /**
   * Directory for the decision logs the hubs write (`decisions-<strategy>.csv`, one per strategy, each holding
   * that run's decisions only: a file left by an earlier run is started anew); none = memory only.
   */
  decisionsDir?: string;
  /** Called as the runs progress. */
  onProgress?: (progress: { strategy: string; index: number; total: number; fraction: number }) => void;
}

export const DEFAULT_BENCH_OPTIONS: Readonly<Omit<BenchOptions, 'workload' | 'strategies'>> = Object.freeze({ jobs: 2000, days: 3, seed: 1 });

/**
 * The hub configuration of a benchmark run: the default three regions (KR, JP-TK, CN zones) with room for a
 * few thousand jobs over days (96 cores, 384 GB, 8 GPUs each), 15-minute slots planned 24 h ahead and a
 * schedule cycle every slot, the memory store keeping everything (no retention pruning), no log. The
 * optimizer is the hub's Lagrangian backend, 2 s a cycle, at the hub's default gap tolerance: `auto` would
 * pick HiGHS at these sizes, which plans as well here but takes 2-5 s of CPU a cycle, and a run has ~320
 * cycles (bench/RESULTS.md has both).
 */
export function benchConfig(overrides: Record<string, unknown> = {}): Config {
  const capacity = { cpu: 96, mem_gb: 384, gpu: 8 };
  return parseConfig({
    log_level: 'silent',
    regions: [
      { name: 'KR', cluster: 'carbon-kr', context: 'kind-carbon-kr', zone: 'KR', capacity },
      { name: 'JP', cluster: 'carbon-jp', context: 'kind-carbon-jp', zone: 'JP-TK', capacity },
      { name: 'CN', cluster: 'carbon-cn', context: 'kind-carbon-cn', zone: 'CN', capacity },
    ],
    slot_seconds: 900,
    horizon_hours: 24,
    periods: { carbon_seconds: 900, schedule_seconds: 900, dispatch_seconds: 900 },
    optimizer: { solver: 'lagrangian', time_limit_seconds: 2, gap_tolerance: 0.005 },
    store: { kind: 'memory', retention_hours: 0 },
    decisions: { memory_limit: 1_000_000 },
    ...overrides,
  });
}

/** Builds the workload a `BenchOptions` names. */
export async function loadWorkload(options: Pick<BenchOptions, 'workload' | 'jobs' | 'days' | 'seed'>, config: Config): Promise<Workload> {
  const { workload } = options;
  if (workload.kind === 'synthetic') {
    return syntheticWorkload({ jobs: options.jobs, days: options.days, seed: options.seed, regions: config.regions.map((r) => r.name), runtimeStepMinutes: config.slot_seconds / 60 });
  }
  const importOptions = {
    days: options.days,
    jobs: options.jobs,
    seed: options.seed,
    minSlackMinutes: config.slot_seconds / 60,
    maxCpu: Math.max(...config.regions.map((r) => r.capacity.cpu)),
    maxMemGb: Math.max(...config.regions.map((r) => r.capacity.mem_gb)),
  };
  return workload.kind === 'alibaba' ? importAlibaba(workload.path, importOptions) : importGoogle(workload.path, importOptions);
}

export interface BenchResult {
  /** `results.json`: exactly the shape. */
  results: { workload: string; seed: number; strategies: StrategyKpis[] };
  setup: RunSetup;
  runs: SimulationRun[];
  details: RunDetail[];
}

/** Runs every strategy over the same workload and carbon trace, each in a fresh hub, and measures them. */
export async function runBench(options: BenchOptions, config: Config = benchConfig(), trace: CarbonTrace = builtinWeek(options.seed)): Promise<BenchResult> {
  const factories = options.strategies.map((name) => {
    const factory = getStrategy(name);
    if (!factory) throw new Error(`unknown strategy "${name}"; known: ${strategyNames().join(', ')}`);
    return factory;
  });
  const workload = await loadWorkload(options, config);
  const setup: RunSetup = { config, workload, trace, startMs: trace.startMs ?? DEFAULT_RUN_START_MS };
  const runs: SimulationRun[] = [];
  for (const [index, factory] of factories.entries()) {
    runs.push(await runOne(setup, factory, options, index, factories.length));
  }
  const details = runs.map(runDetail);
  const strategies = withSavings(details.map((d) => d.kpis));
  details.forEach((d, i) => (d.kpis = strategies[i] as StrategyKpis));
  return { results: { workload: workload.name, seed: options.seed, strategies }, setup, runs, details };
}

async function runOne(setup: RunSetup, factory: StrategyFactory, options: BenchOptions, index: number, total: number): Promise<SimulationRun> {
  let decisionsPath: string | undefined;
  if (options.decisionsDir !== undefined) {
    decisionsPath = join(options.decisionsDir, `decisions-${factory.name}.csv`);
    // The hub's log appends to what it finds: started as the header alone, the file holds this run's
    // decisions and no earlier run's (the header is there even when the run decides nothing).
    await mkdir(options.decisionsDir, { recursive: true });
    await writeFile(decisionsPath, csvLine(DECISION_COLUMNS), 'utf8');
  }
  return simulate(setup, factory, {
    seed: options.seed,
    ...(decisionsPath !== undefined && { decisionsPath }),
    onProgress: (fraction) => options.onProgress?.({ strategy: factory.name, index, total, fraction }),
  });
}
