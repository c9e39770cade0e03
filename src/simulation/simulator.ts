import { pino, type Logger } from 'pino';
import type { Config } from '../config/config.js';
import { isTerminal, type AppWrapper, type Phase, type PoolName } from '../domain/app-wrapper.js';
import { ManualClock } from '../domain/clock.js';
import { createHub } from '../main.js';
import type { OptimizeOutput } from '../optimizer/index.js';
import type { Decision } from '../scheduler/decisions.js';
import type { Migration, OptimizeFn } from '../scheduler/schedule-cycle.js';
import type { RunSetup, StrategyFactory } from './strategies/types.js';
import { DAY_MS, type WorkloadJob } from './workload.js';

/** A stretch of a job's run on one cluster (a migrated job has several). */
export interface Segment {
  cluster: string;
  /** The worker pool it ran on: its power factor scales the job's power, as in the hub's carbon accounting. */
  pool: PoolName;
  region: string;
  zone: string;
  fromMs: number;
  toMs: number;
}

/**
 * The simulated hub refused a workload job at submission (`POST /hub/appwrappers` answered other than 201):
 * the workload holds a job the API does not accept, and the run cannot stand for the workload without it.
 */
export class RefusedJobError extends Error {
  override readonly name = 'RefusedJobError';
  constructor(
    readonly jobId: string,
    /** The API's answer: its message, else its status and body. */
    readonly reason: string,
    origin: string,
  ) {
    super(`the hub refused job ${jobId} (${origin}): ${reason}`);
  }
}

/** The message of an error answer of the API (`{error, message, details}`), else its status and body. */
function refusalReason(statusCode: number, body: string): string {
  try {
    const message = (JSON.parse(body) as { message?: unknown }).message;
    if (typeof message === 'string' && message) return message;
  } catch {
    // Not the API's error body: the raw answer says more than nothing.
  }
  return `${statusCode} ${body}`;
}

/** What happened to one job, as the hub's store and spokes recorded it. */
export interface JobOutcome {
  job: WorkloadJob;
  phase: Phase;
  reason?: string;
  submittedAt: number;
  deadlineAt: number;
  finishedAt?: number;
  segments: Segment[];
}

export interface SimulationRun {
  strategy: string;
  setup: RunSetup;
  outcomes: JobOutcome[];
  /** Every migration the schedule cycles decided (planned or live), as the hub counts them. */
  migrations: Migration[];
  /** CPU time (user + system) spent inside the strategy: its creation and every plan, seconds. */
  schedulerCpuSeconds: number;
  /** Schedule cycles run. */
  cycles: number;
  /** When the last job ended (or the run was cut off). */
  endMs: number;
  decisions: Decision[];
  /** The oracle's offline solve. */
  offline?: OptimizeOutput;
  wallSeconds: number;
}

export interface SimulateOptions {
  seed: number;
  /** The hub's decision log file for this run (none: memory only). */
  decisionsPath?: string;
  /** Called after every slot with the share of the run done. */
  onProgress?: (fraction: number) => void;
  /** Default: silent. */
  logger?: Logger;
}

/** A run that did not finish its jobs within a day past the last deadline is cut off there: a hub bug, not a strategy's. */
const CUTOFF_AFTER_LAST_DEADLINE_MS = DAY_MS;

function cpuSecondsSince(before: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(before);
  return (d.user + d.system) / 1e6;
}

/**
 * Runs one strategy over a workload in a real hub: `createHub` with the memory store, simulated spokes, the
 * trace replayed by the trace-file provider, the strategy as its `optimize`, on a manual clock. At every
 * slot boundary the simulator submits the jobs that arrived since the last one through `POST
 * /hub/appwrappers` (at their arrival instants, as `flexible`: waiting for cleaner power costs nothing, so
 * CASPIAN minimises the carbon the oracle minimises), then runs the hub's loops as their tickers would: carbon
 * refresh, dispatch (reads finished Jobs back), schedule, dispatch (opens the gates whose start is now).
 * Nothing happens between boundaries that would change a decision: plans start on boundaries, and the
 * simulated spokes record exact start and end instants. What each job did is read from the store and the
 * Jobs it ran as. Rejects with `RefusedJobError` when the hub refuses a job of the workload.
 */
export async function simulate(setup: RunSetup, factory: StrategyFactory, options: SimulateOptions): Promise<SimulationRun> {
  const wallStarted = performance.now();
  const { config, workload, trace, startMs } = setup;
  const clock = new ManualClock(startMs);
  let cpuSeconds = 0;
  const creating = process.cpuUsage();
  const strategy = await factory.create({ seed: options.seed, clock, run: setup });
  cpuSeconds += cpuSecondsSince(creating);
  const timed: OptimizeFn = async (input, opts) => {
    const before = process.cpuUsage();
    try {
      return await strategy.plan(input, opts);
    } finally {
      cpuSeconds += cpuSecondsSince(before);
    }
  };
  const runConfig: Config = { ...config, decisions: { ...config.decisions, path: options.decisionsPath } };
  const hub = await createHub(runConfig, {
    clock,
    logger: options.logger ?? pino({ level: 'silent' }),
    // The simulator runs the loops itself, at slot boundaries.
    ticker: () => () => () => undefined,
    carbonProvider: trace.provider(clock),
    optimize: timed,
    fallbackOptimize: (_input, _opts) => Promise.reject(new Error(`strategy ${factory.name} failed; the benchmark does not stand in for it`)),
    processMetrics: false,
  });

  const slotMs = config.slot_seconds * 1000;
  const jobs = [...workload.jobs].sort((a, b) => a.arrival_ms - b.arrival_ms);
  const byId = new Map(jobs.map((j) => [j.job_id, j]));
  const lastDeadline = Math.max(0, ...jobs.map((j) => j.arrival_ms + j.deadline_minutes * 60_000));
  const cutoff = startMs + lastDeadline + CUTOFF_AFTER_LAST_DEADLINE_MS;
  const regionOf = new Map(config.regions.map((r) => [r.cluster, r]));
  const migrations: Migration[] = [];
  /** A job's runs: the legs before each migration (the dispatcher records them), then its last Job's, until `endMs`. */
  const segmentsOf = (aw: AppWrapper, endMs: number): Segment[] => {
    const legs = [...(aw.pastRuns ?? [])];
    if (aw.startedAt !== undefined && aw.placement) {
      legs.push({ cluster: aw.placement.cluster, pool: aw.placement.pool, startedAt: aw.startedAt, endedAt: Math.max(aw.startedAt, aw.finishedAt ?? endMs) });
    }
    return legs.map((leg) => {
      const region = regionOf.get(leg.cluster);
      return { cluster: leg.cluster, pool: leg.pool, region: region?.name ?? '', zone: region?.zone ?? '', fromMs: leg.startedAt, toMs: leg.endedAt };
    });
  };

  let cycles = 0;
  let next = 0;
  let b = startMs;
  try {
    for (let k = 0; ; k++) {
      b = startMs + k * slotMs;
      while (next < jobs.length && startMs + (jobs[next] as WorkloadJob).arrival_ms <= b) {
        const job = jobs[next++] as WorkloadJob;
        clock.advanceTo(startMs + job.arrival_ms);
        const res = await hub.app.inject({
          method: 'POST',
          url: '/hub/appwrappers',
          payload: {
            job_id: job.job_id,
            cpu: job.cpu,
            mem_gb: job.mem_gb,
            gpu: job.gpu,
            runtime_minutes: job.runtime_minutes,
            deadline_minutes: job.deadline_minutes,
            data_gb: job.data_gb,
            affinity_regions: job.affinity_regions,
            // Waiting costs nothing: every strategy, and the oracle, minimises carbon within the deadline.
            urgency: 'flexible',
          },
        });
        if (res.statusCode !== 201) throw new RefusedJobError(job.job_id, refusalReason(res.statusCode, res.body), job.origin);
      }
      clock.advanceTo(b);
      await hub.loops.carbon.runOnce();
      await hub.loops.dispatch.runOnce();
      const summary = await hub.loops.schedule.runOnce();
      cycles++;
      migrations.push(...summary.migrations);
      await hub.loops.dispatch.runOnce();
      const all = await hub.lifecycle.store.list();
      options.onProgress?.(Math.min(1, (b - startMs) / Math.max(slotMs, lastDeadline)));
      if (next >= jobs.length && all.every(isTerminal)) break;
      if (b >= cutoff) break;
    }
    const all = await hub.lifecycle.store.list();
    const outcomes = all.map(
      (aw): JobOutcome => ({
        job: byId.get(aw.jobId) as WorkloadJob,
        phase: aw.phase,
        ...(aw.reason !== undefined && { reason: aw.reason }),
        submittedAt: aw.submittedAt,
        deadlineAt: aw.deadlineAt,
        ...(aw.finishedAt !== undefined && { finishedAt: aw.finishedAt }),
        segments: segmentsOf(aw, b),
      }),
    );
    const endMs = Math.max(b, ...outcomes.map((o) => o.finishedAt ?? 0));
    options.onProgress?.(1);
    return {
      strategy: factory.name,
      setup,
      outcomes,
      migrations,
      schedulerCpuSeconds: cpuSeconds,
      cycles,
      endMs,
      decisions: hub.decisions.recent(Number.MAX_SAFE_INTEGER),
      ...(strategy.offline && { offline: strategy.offline }),
      wallSeconds: (performance.now() - wallStarted) / 1000,
    };
  } finally {
    await hub.stop();
  }
}
