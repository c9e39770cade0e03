import type { Logger } from 'pino';
import { boundToItsJob, CANNOT_FINISH, gateJobUnconfirmed, NO_RESOURCES, pendingMove, withoutPendingMove, workDoneMs, type AppWrapper, type Phase, type PoolName, type Urgency } from '../domain/app-wrapper.js';
import type { Clock } from '../domain/clock.js';
import { ConflictError, NotFoundError } from '../domain/errors.js';
import { fitsANode, poolOf, poolsOf, type WorkerPool } from '../domain/cluster.js';
import type { CarbonFeed } from '../hub/carbon-feed.js';
import { answering, type ClusterMonitor, type ClusterView } from '../hub/cluster-monitor.js';
import type { Lifecycle } from '../hub/lifecycle.js';
import type { Metrics } from '../metrics/metrics.js';
import { candidateStarts, lastSlotShare, powerWatts, runtimeOnSite, sitesOf } from '../optimizer/index.js';
import type { CostWeights, OptimizeInput, OptimizeJob, OptimizeOptions, OptimizeOutput, PlanItem, SlotCapacity } from '../optimizer/index.js';
import type { DecisionLog } from './decisions.js';
import { withinOptionBudget } from './option-budget.js';

export type OptimizeFn = (input: OptimizeInput, options: Partial<OptimizeOptions>) => Promise<OptimizeOutput>;

export interface ScheduleSettings {
  slotSeconds: number;
  horizonSlots: number;
  costs: Required<CostWeights>;
  networkCosts: Record<string, Record<string, number>>;
  migrationAllow: boolean;
  solver: string;
  timeLimitSeconds: number;
  gapTolerance: number;
  /** What an hour of waiting costs a `normal` job, gCO2 per kWh of its energy (config `urgency`). */
  normalWaitGco2PerKwhPerHour: number;
  /** Most candidate starts one cycle plans (config `optimizer.max_options`); waiting jobs past it wait a cycle. */
  maxOptions: number;
  /** Seconds between schedule cycles (config `periods.schedule_seconds`): a job due to start before the next sure cycle is never deferred. */
  schedulePeriodSeconds: number;
}

export interface PlacedJob {
  job_id: string;
  cluster: string;
  region: string;
  pool: PoolName;
  planned_start: string;
  co2_gco2: number;
}

export interface Migration {
  job_id: string;
  from_cluster: string;
  to_cluster: string;
  data_gb: number;
  cost_gco2: number;
}

/** What one schedule cycle did; `POST /hub/schedule` returns it and `/hub/stats` shows the last one. */
export interface ScheduleSummary {
  started_at: string;
  duration_seconds: number;
  solver: string;
  status: string;
  objective_gco2: number;
  co2_estimate_kg: number;
  lower_bound_gco2: number | null;
  gap: number | null;
  jobs_considered: number;
  /** Waiting jobs left for a later cycle: planning them too would have exceeded `optimizer.max_options`. */
  jobs_deferred: number;
  placed: PlacedJob[];
  unschedulable: { job_id: string; reason: string }[];
  failed: { job_id: string; reason: string }[];
  /** Running jobs the plan cannot hold (their pool is gone, or too slow for the horizon): they run on where they are. */
  outside_plan: { job_id: string; reason: string }[];
  /**
   * Planned jobs the plan left as they are: a create of their Job was sent and not answered (or the hub died before
   * recording the answer), so it may be running; the dispatch cycle settles that once their cluster answers.
   */
  unconfirmed: string[];
  migrations: Migration[];
  /** True for a dry run: the plan the next cycle would apply, not applied. */
  dry_run: boolean;
}

/** Where and when the hub would run a job it has not stored, and what that would emit and save. */
export interface WhatIfAnswer {
  job_id: string;
  placed: boolean;
  cluster?: string;
  region?: string;
  pool?: PoolName;
  planned_start?: string;
  /** Seconds from now to the planned start. */
  wait_seconds?: number;
  /** Planned emissions of the run, gCO2, on the current forecast. */
  co2_estimate_g?: number;
  /** The same job run now in its first allowed region on FAST workers, gCO2, on the current forecast; null without a forecast there. */
  counterfactual_g?: number | null;
  /** `counterfactual_g - co2_estimate_g`; null with it. */
  saved_g?: number | null;
  /** Why it would not be placed. */
  reason?: string;
  /** The schedule as the next cycle would make it with this job added (every other job included). */
  schedule: ScheduleSummary;
}

/** Phases whose plan the cycle may still change freely. */
const MOVABLE: ReadonlySet<Phase> = new Set(['Pending', 'Planned', 'Unschedulable']);
/** Phases with a Job on a spoke: re-planned only as "stay, or move now". */
const PINNED: ReadonlySet<Phase> = new Set(['Dispatched', 'Running']);
/** Plans a cycle makes at most: the first, then again while it leaves running jobs out (see `plan`). */
const MAX_PLAN_ROUNDS = 3;
/** With running jobs in the plan, the first plan's share of the time limit: the rest is for the plans made again. */
const FIRST_PLAN_SHARE = 0.8;

interface Usable {
  view: ClusterView;
  intensities: number[];
}

/** Resources per slot of the horizon. */
interface SlotUse {
  cpu: Float64Array;
  memGb: Float64Array;
  gpu: Float64Array;
}

/** Adds a job's cpu, memory and GPUs to slots `from` to `slots` (excluded) of `key`'s use. */
function holdSlots(uses: Map<string, SlotUse>, key: string, horizonSlots: number, spec: AppWrapper['spec'], slots: number, from = 0): void {
  let use = uses.get(key);
  if (!use) uses.set(key, (use = { cpu: new Float64Array(horizonSlots), memGb: new Float64Array(horizonSlots), gpu: new Float64Array(horizonSlots) }));
  for (let slot = from; slot < Math.min(slots, horizonSlots); slot++) {
    use.cpu[slot]! += spec.cpu;
    use.memGb[slot]! += spec.memGb;
    use.gpu[slot]! += spec.gpu;
  }
}

/** Steps 1-4 of a cycle: what it saw and the optimizer input it built. */
interface Snapshot {
  now: number;
  input: OptimizeInput;
  /** Every cluster the cycle looked at, usable or not. */
  views: readonly ClusterView[];
  usable: Map<string, Usable>;
  /** Every AppWrapper the plan may change, as the cycle saw it. */
  seen: Map<string, AppWrapper>;
  /** The AppWrappers handed to the optimizer. */
  byId: Map<string, AppWrapper>;
  /**
   * Per running job: the share of its work done (0-1), and the rest's work over the work its plan prices (whole
   * slots, or a rest the horizon cuts): the plan prices only the rest, and its price is scaled to the rest.
   */
  runShares: Map<string, { done: number; restOverPriced: number }>;
  unschedulable: { job_id: string; reason: string }[];
  failed: { job_id: string; reason: string }[];
  outsidePlan: { job_id: string; reason: string }[];
  /** Planned jobs left as they are until their cluster is listed: a create of their Job went unanswered. */
  unconfirmed: string[];
  considered: number;
  /** Waiting jobs left for a later cycle by the option budget (`withinOptionBudget`), the most pressing first. */
  deferred: string[];
  /** Candidate starts of the jobs handed to the optimizer. */
  options: number;
}

/**
 * The cluster a live AppWrapper's Job runs on. A move decided but not yet carried out does not count: until
 * the dispatcher creates the new Job, staying costs nothing and going anywhere costs a migration.
 */
function runsOn(aw: AppWrapper): string | undefined {
  return aw.placement?.cluster;
}

/** The network matrix among the regions offered to this solve (the optimizer refuses regions it was not given). */
function restrictMatrix(matrix: Record<string, Record<string, number>>, regions: ReadonlyMap<string, unknown>): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [from, row] of Object.entries(matrix)) {
    if (regions.has(from)) out[from] = Object.fromEntries(Object.entries(row).filter(([to]) => regions.has(to)));
  }
  return out;
}

/**
 * The schedule cycle: collect -> optimize -> update. Decides for every job not yet finished where and
 * when it runs, and records migrations as the seed's migration guide describes.
 */
export class ScheduleCycle {
  private last: ScheduleSummary | undefined;
  /** Tail of the run / dry run / what-if chain. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Clusters whose FAST pool is scaled down now. */
  private readonly scaledDown = new Set<string>();

  constructor(
    private readonly deps: {
      lifecycle: Lifecycle;
      clusters: ClusterMonitor;
      carbon: CarbonFeed;
      optimize: OptimizeFn;
      /** Solves when `optimize` fails (a crashed or stuck worker, a solver bug), so that the cycle still plans. */
      fallbackOptimize: OptimizeFn;
      metrics: Metrics;
      logger: Logger;
      clock: Clock;
      settings: ScheduleSettings;
      /** Where each cycle's decisions go (`hub/decision-log.ts`); none in tests that do not look. */
      decisions?: DecisionLog;
    },
  ) {}

  get lastSummary(): ScheduleSummary | undefined {
    return this.last;
  }

  /** Runs `task` after every earlier run, dry run and what-if: they share one optimizer, one at a time. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.catch(() => undefined);
    return result;
  }

  run(): Promise<ScheduleSummary> {
    return this.exclusive(async () => {
      const started = performance.now();
      try {
        const summary = await this.schedule(started);
        this.last = summary;
        const co2ByCluster = new Map<string, number>();
        for (const p of summary.placed) co2ByCluster.set(p.cluster, (co2ByCluster.get(p.cluster) ?? 0) + p.co2_gco2);
        this.deps.metrics.recordScheduleCycle('ok', summary.duration_seconds, {
          solver: summary.solver,
          status: summary.status,
          // The plan's grams as applied (run carbon, a running job's for the work it has left, and migration
          // charges), not the optimizer's objective: that also holds the waiting charges that steer urgent jobs,
          // which nothing emits, and prices a running job's rest in whole slots.
          objectiveGco2: [...co2ByCluster.values()].reduce((sum, g) => sum + g, 0) + summary.migrations.reduce((sum, m) => sum + m.cost_gco2, 0),
          gap: summary.gap,
          unschedulable: summary.unschedulable.length,
          outsidePlan: summary.outside_plan.length,
          deferred: summary.jobs_deferred,
          co2ByCluster,
        });
        this.deps.logger.info(
          {
            solver: summary.solver,
            status: summary.status,
            jobs: summary.jobs_considered,
            deferred: summary.jobs_deferred,
            placed: summary.placed.length,
            unschedulable: summary.unschedulable.length,
            outsidePlan: summary.outside_plan.length,
            unconfirmed: summary.unconfirmed.length,
            migrations: summary.migrations.length,
            objectiveGco2: summary.objective_gco2,
            gap: summary.gap,
            durationSeconds: summary.duration_seconds,
          },
          'schedule cycle done',
        );
        return summary;
      } catch (error) {
        this.deps.metrics.recordScheduleCycle('error', (performance.now() - started) / 1000);
        this.deps.logger.error({ err: error }, 'schedule cycle failed');
        throw error;
      }
    });
  }

  /** The plan the next cycle would apply, without applying it: the store is not touched. */
  dryRun(): Promise<ScheduleSummary> {
    return this.exclusive(async () => {
      const started = performance.now();
      const { snapshot, output } = await this.plan();
      const summary = this.preview(snapshot, output, started);
      this.deps.metrics.recordWhatIf('dry_run');
      this.deps.logger.info({ jobs: summary.jobs_considered, placed: summary.placed.length, migrations: summary.migrations.length, durationSeconds: summary.duration_seconds }, 'schedule dry run');
      return summary;
    });
  }

  /**
   * Where and when `candidate` (a job that is not stored) would run if it were submitted now, planned
   * together with every job the next cycle would plan. Nothing is stored.
   */
  whatIf(candidate: AppWrapper): Promise<WhatIfAnswer> {
    return this.exclusive(async () => {
      // The caller checked the id before this waited its turn; a job submitted meanwhile under that id would
      // be planned twice beside itself (and the optimizer refuses repeated ids).
      if (await this.deps.lifecycle.store.get(candidate.jobId)) {
        throw new ConflictError(`AppWrapper "${candidate.jobId}" was submitted while the what-if waited for the running cycle; ask again under another id`);
      }
      const started = performance.now();
      const { snapshot, output } = await this.plan(candidate);
      const schedule = this.preview(snapshot, output, started);
      const answer = whatIfAnswer(candidate, snapshot, schedule, (job) => this.counterfactualG(candidate, job, snapshot.now), this.deps.settings.maxOptions);
      this.deps.metrics.recordWhatIf('whatif');
      this.deps.logger.info(
        { jobId: candidate.jobId, urgency: candidate.spec.urgency, placed: answer.placed, cluster: answer.cluster, pool: answer.pool, waitSeconds: answer.wait_seconds, savedG: answer.saved_g },
        'what-if answered',
      );
      return answer;
    });
  }

  /**
   * What the job would emit run now, in its first region (its first of `affinity_regions`, else the first
   * configured), on that cluster's FAST workers, on the same forecast: the baseline its account compares with,
   * ready or not. Undefined without a forecast there.
   */
  private counterfactualG(candidate: AppWrapper, job: OptimizeJob, now: number): number | undefined {
    const views = this.deps.clusters.snapshot();
    const region = candidate.spec.affinityRegions[0];
    const home = region === undefined ? views[0] : views.find((v) => v.region === region);
    if (!home) return undefined;
    const { slotSeconds, horizonSlots, costs } = this.deps.settings;
    const fast = poolOf(home, 'FAST');
    const run = runtimeOnSite(job.runtime_slots, fast);
    const slots = Math.min(horizonSlots, run);
    const intensities = this.deps.carbon.slotIntensities(home.zone, now, slotSeconds * 1000, horizonSlots);
    if (!intensities) return undefined;
    const gramsPerCiSlot = (powerWatts(costs, job) * fast.powerFactor * (slotSeconds / 3600)) / 1000;
    let ci = 0;
    for (let slot = 0; slot < slots; slot++) ci += (intensities[slot] ?? 0) * (slot === run - 1 ? lastSlotShare(job.runtime_slots, fast) : 1);
    return ci * gramsPerCiSlot;
  }

  /**
   * Steps 1-5. A running job the optimizer left out (it gave the job's room to other jobs) still runs where it
   * is: the plan is made again with its cores held, outside the plan. `onFallback` is told each time the
   * optimizer fails, before the fallback solver plans (which may fail too).
   */
  private async plan(extra?: AppWrapper, onFallback?: () => void): Promise<{ snapshot: Snapshot; output: OptimizeOutput }> {
    const started = performance.now();
    const limit = this.deps.settings.timeLimitSeconds;
    const keptOutside = new Set<string>();
    let last: { snapshot: Snapshot; output: OptimizeOutput } | undefined;
    for (let round = 1; ; round++) {
      const snapshot = await this.collect(extra, keptOutside);
      // 5. Optimize; if the optimizer fails, plan with the fallback in the same cycle. The plans made again share
      // the cycle's one time limit: with running jobs in the plan (only they can be left out), the first plan
      // leaves a share of it for them, and each plan after takes its part of what is left.
      const pinned = snapshot.input.jobs.some((j) => PINNED.has(snapshot.byId.get(j.job_id)?.phase ?? 'Pending'));
      const left = limit - (performance.now() - started) / 1000;
      const timeLimit = round === 1 ? (pinned ? limit * FIRST_PLAN_SHARE : limit) : left / (MAX_PLAN_ROUNDS - round + 1);
      if (last && timeLimit <= 0) {
        this.deps.logger.warn({ jobs: [...keptOutside] }, 'no time left to plan again; the running jobs left out run on where they are, unheld');
        return last;
      }
      const solved = await this.solve(snapshot.input, timeLimit, onFallback);
      last = { snapshot, output: solved };
      const dropped = solved.unscheduled.flatMap((u) => (PINNED.has(snapshot.byId.get(u.job_id)?.phase ?? 'Pending') ? [u.job_id] : []));
      // Each round holds at least one more job: a few rounds end it (past them, a job left out runs on unheld, as logged).
      if (!dropped.length || round === MAX_PLAN_ROUNDS) return last;
      this.deps.logger.warn({ jobs: dropped }, `the plan left running jobs out (${dropped.join(', ')}); planning again with their cores held where they run`);
      for (const jobId of dropped) keptOutside.add(jobId);
    }
  }

  private async schedule(startedPerf: number): Promise<ScheduleSummary> {
    // Counted once per cycle, also when the fallback fails too (a what-if or a dry run that falls back plans
    // nothing): the alert speaks of cycles.
    let fellBack = false;
    const { snapshot, output } = await this.plan(undefined, () => {
      if (!fellBack) this.deps.metrics.recordOptimizerFailure();
      fellBack = true;
    });
    this.recordPools(snapshot);
    const { now, input, byId, seen, unschedulable, failed } = snapshot;
    // Logged by the cycle that applies its plan, not by a dry run or a what-if.
    if (snapshot.deferred.length > 0) {
      const { maxOptions } = this.deps.settings;
      this.deps.logger.warn(
        { deferred: snapshot.deferred.length, firstDeferred: snapshot.deferred[0], options: snapshot.options, maxOptions },
        `${snapshot.deferred.length} waiting jobs left for a later cycle: planning them too would exceed optimizer.max_options (${maxOptions} candidate starts)`,
      );
    }
    const slotMs = this.deps.settings.slotSeconds * 1000;

    // 6. Apply: plans, migrations, jobs that could not be placed, jobs past hope.
    const placed: PlacedJob[] = [];
    const migrations: Migration[] = [];
    try {
      for (const { aw, item, cluster } of plansOf(snapshot, output)) {
        const applied = await this.applyPlan(aw, item, cluster, now + item.start_slot * slotMs, now, snapshot.runShares.get(aw.jobId));
        if (!applied) continue;
        placed.push(placedJob(aw, item, cluster, applied.plannedStartAt, snapshot.runShares.get(aw.jobId)?.restOverPriced));
        if (applied.migration) migrations.push(applied.migration);
      }
    } finally {
      // 7. Log the decisions: the plans that are new or moved a job (the log never throws). Those applied
      // before a failed write too: they are stored, and a later cycle planning them alike decides nothing.
      this.deps.decisions?.record({ at: now, strategy: output.solver, input, plans: output.plans, placed, migrations, previous: seen });
    }
    // A running job outside the plan runs on where it is, its cores held there: a move decided before is given
    // up (carried out, it would take room the plan gave to others).
    for (const entry of snapshot.outsidePlan) {
      const aw = seen.get(entry.job_id);
      const move = aw && pendingMove(aw);
      if (aw && move && (await this.guarded(aw, withoutPendingMove))) {
        this.deps.lifecycle.moveDropped(aw.jobId, move, 'replanned', `it is outside the plan (${entry.reason}) and runs on where it is`);
      }
    }
    for (const u of output.unscheduled) {
      const aw = byId.get(u.job_id);
      if (aw && PINNED.has(aw.phase)) this.deps.logger.warn({ jobId: u.job_id, cluster: runsOn(aw), reason: u.reason }, `running job ${u.job_id} could not be re-planned; it keeps running where it is`);
    }
    // As for plans, the summary lists only what was applied: a job cancelled meanwhile is neither.
    const markedUnschedulable: { job_id: string; reason: string }[] = [];
    for (const entry of [...unschedulable, ...leftOut(output, byId, this.deps.settings.horizonSlots * this.deps.settings.slotSeconds * 1000)]) {
      const unplaced = (cur: AppWrapper): AppWrapper => ({ ...cur, phase: 'Unschedulable', reason: entry.reason, targetCluster: undefined, targetPool: undefined, plannedStartAt: undefined, co2EstimateG: undefined });
      if (await this.guarded(seen.get(entry.job_id) as AppWrapper, unplaced)) markedUnschedulable.push(entry);
    }
    const markedFailed: { job_id: string; reason: string }[] = [];
    for (const entry of failed) {
      if (await this.guarded(seen.get(entry.job_id) as AppWrapper, (cur) => ({ ...cur, phase: 'Failed', reason: entry.reason, finishedAt: now }))) markedFailed.push(entry);
    }
    return summaryOf(snapshot, output, { placed, unschedulable: markedUnschedulable, failed: markedFailed, migrations, startedPerf, dryRun: false });
  }

  /** What step 6 would do with `output`, applying nothing. */
  private preview(snapshot: Snapshot, output: OptimizeOutput, startedPerf: number): ScheduleSummary {
    const { now, byId } = snapshot;
    const slotMs = this.deps.settings.slotSeconds * 1000;
    const placed: PlacedJob[] = [];
    const migrations: Migration[] = [];
    for (const { aw, item, cluster } of plansOf(snapshot, output)) {
      const migration = migrationOf(aw, item, cluster);
      // As applied (see `keepsItsJob`).
      const start = keepsItsJob(aw, cluster) ? (withoutPendingMove(aw).plannedStartAt ?? now) : now + item.start_slot * slotMs;
      placed.push(placedJob(aw, item, cluster, start, snapshot.runShares.get(aw.jobId)?.restOverPriced));
      if (migration) migrations.push(migration);
    }
    return summaryOf(snapshot, output, { placed, unschedulable: [...snapshot.unschedulable, ...leftOut(output, byId, this.deps.settings.horizonSlots * this.deps.settings.slotSeconds * 1000)], failed: snapshot.failed, migrations, startedPerf, dryRun: true });
  }

  /** Steps 1-4: the clusters, the regions that can take work, the jobs, and the optimizer input. */
  /** `keptOutside`: running jobs held where they run, outside the plan (a first plan left them out). */
  private async collect(extra?: AppWrapper, keptOutside?: ReadonlySet<string>): Promise<Snapshot> {
    const { settings, clock, lifecycle } = this.deps;
    const now = clock.now();
    const slotMs = settings.slotSeconds * 1000;
    const slotHours = settings.slotSeconds / 3600;
    const H = settings.horizonSlots;

    // 1. Snapshot the clusters: which are ready, and their free capacity.
    const views = await this.deps.clusters.refresh();

    // 2. Keep the regions that can take work: a ready cluster with carbon data for the horizon.
    const usable = new Map<string, Usable>();
    for (const view of views) {
      // Answering its status is not enough: a cluster whose Jobs cannot be listed gets none dispatched either.
      if (!answering(view)) continue;
      const intensities = this.deps.carbon.slotIntensities(view.zone, now, slotMs, H);
      if (intensities) usable.set(view.region, { view, intensities });
      else this.deps.logger.warn({ region: view.region, zone: view.zone }, 'no carbon data for region; not planning work there');
    }
    const regionOfCluster = new Map(views.map((v) => [v.name, v.region]));
    const intensities = [...usable.values()].flatMap((u) => u.intensities);
    // The most a job could gain per kWh by moving in space or time within this horizon.
    const carbonSpread = intensities.length ? Math.max(...intensities) - Math.min(...intensities) : 0;
    const maxNetworkGco2PerGb = Math.max(0, ...Object.values(settings.networkCosts).flatMap((row) => Object.values(row)));

    // 3. Snapshot the store: every job the plan may still change.
    const candidates = (await lifecycle.store.list()).filter((aw) => MOVABLE.has(aw.phase) || (PINNED.has(aw.phase) && aw.placement));
    if (extra) candidates.push(extra);
    const viewIn = (region: string) => (usable.get(region) as Usable).view;
    const failed: { job_id: string; reason: string }[] = [];
    const unschedulable: { job_id: string; reason: string }[] = [];
    const outsidePlan: { job_id: string; reason: string }[] = [];
    const unconfirmed: string[] = [];
    // What running jobs hold on their cluster, per slot: by region and pool for those in the plan (staying must
    // stay possible for all of them at once, whatever a pool's capacity drops to), by region for those outside
    // it (the plan cannot move them, so their cores are simply not free).
    const heldInPlan = new Map<string, SlotUse>();
    const heldOutside = new Map<string, SlotUse>();
    // A Job runs on its pool's nodes: what one outside the plan holds comes off that pool, or off the whole cluster
    // when the cluster no longer offers the pool.
    const holdOutside = (region: string, pool: PoolName, spec: AppWrapper['spec'], slots: number, from = 0) => {
      const offered = poolsOf(usable.get(region)?.view).some((p) => p.name === pool);
      holdSlots(heldOutside, offered ? `${region}/${pool}` : region, H, spec, slots, from);
    };
    // Room on the cluster a job's Job is about to run on, or may run on already, for `runMs` of work on `pool` there:
    // its target, when that cluster can take work now.
    const holdOnTarget = (aw: AppWrapper, pool: PoolName | undefined, runMs: number) => {
      const target = regionOfCluster.get(aw.targetCluster ?? '');
      const targetView = target === undefined ? undefined : usable.get(target)?.view;
      if (target === undefined || !targetView) return;
      const onPool = poolOf(targetView, pool);
      holdOutside(target, onPool.name, aw.spec, runtimeOnSite(Math.ceil(runMs / slotMs), onPool));
    };

    // 4. Build the optimizer input (seed OptimizeInput): slot 0 starts now.
    const jobs: OptimizeJob[] = [];
    const prevPlan: Record<string, { region: string }> = {};
    const byId = new Map<string, AppWrapper>();
    const runShares = new Map<string, { done: number; restOverPriced: number }>();
    for (const aw of candidates) {
      const pinned = PINNED.has(aw.phase);
      let allowed = (aw.spec.affinityRegions.length ? aw.spec.affinityRegions : [...regionOfCluster.values()]).filter((r) => usable.has(r));
      // Work is measured at FAST speed; a pool's speed factor stretches it (the optimizer does that per pool).
      let runtimeMs = aw.spec.runtimeMinutes * 60_000;
      let runtimeSlots: number;
      let deadlineSlot: number;
      let pools: PoolName[] | undefined;
      if (pinned) {
        const here = regionOfCluster.get(runsOn(aw) ?? '');
        // A job on a cluster that does not answer cannot be moved (its Job cannot be deleted): leave it be. A move
        // already decided still takes its room where it goes, as soon as that cluster answers: held there.
        if (!here || !usable.has(here)) {
          if (aw.migrating) {
            const restMs = Math.max(slotMs, runtimeMs - workDoneMs(aw, now, (c, p) => poolOf(this.deps.clusters.info(c), p).speedFactor));
            holdOnTarget(aw, aw.targetPool ?? aw.placement?.pool, restMs);
          }
          continue;
        }
        const placement = aw.placement as NonNullable<AppWrapper['placement']>;
        // A running job the plan cannot hold (the optimizer would refuse the whole input) runs on as it is.
        const leaveOutsidePlan = (why: string, pool: PoolName, slots: number) => {
          outsidePlan.push({ job_id: aw.jobId, reason: `pool ${pool}, ${why}` });
          holdOutside(here, pool, aw.spec, slots);
          this.deps.logger.warn({ jobId: aw.jobId, cluster: placement.cluster, pool, horizonSlots: H }, `running job ${aw.jobId} is in pool ${pool}, ${why}; it keeps running where it is, outside the plan`);
        };
        const doneMs = workDoneMs(aw, now, (c, p) => poolOf(this.deps.clusters.info(c), p).speedFactor);
        const done = Math.min(1, doneMs / runtimeMs);
        const restMs = Math.max(0, runtimeMs - doneMs);
        if (doneMs > 0) runtimeMs = Math.max(slotMs, restMs);
        prevPlan[aw.jobId] = { region: here };
        // A running job that cannot resume elsewhere would start over: it stays. Nor does it move to a cluster that refused it.
        if (boundToItsJob(aw)) allowed = [here];
        allowed = allowed.filter((r) => r === here || !aw.refusedBy?.includes(viewIn(r).name));
        // A running Job keeps its kind of worker: switching pools would restart it.
        const pool = aw.migrating ? (aw.targetPool ?? placement.pool) : placement.pool;
        if (!poolsOf(viewIn(here)).some((p) => p.name === pool)) {
          // The plan could not keep it where it runs (another cluster offering the pool or not): its old pool's
          // speed is gone with it, and it is held for its rest at full speed.
          leaveOutsidePlan('which its cluster no longer offers', pool, Math.ceil(runtimeMs / slotMs));
          continue;
        }
        const herePool = poolOf(viewIn(here), pool);
        if (keptOutside?.has(aw.jobId)) {
          leaveOutsidePlan('which the plan could not keep beside the other jobs', pool, runtimeOnSite(Math.ceil(runtimeMs / slotMs), herePool));
          continue;
        }
        pools = [pool];
        // A move starts the rest of the run over there now: only where that pool still finishes it by the deadline
        // (pools of one name may differ in speed between clusters), and where one node can hold its pod. Staying
        // is always an option.
        const size = { cpu: aw.spec.cpu, memGb: aw.spec.memGb, gpu: aw.spec.gpu };
        allowed = allowed.filter((r) => {
          const view = viewIn(r);
          return r === here || (now + runtimeMs * poolOf(view, pool).speedFactor <= aw.deadlineAt && fitsANode(view, size));
        });
        // "Stay, or move now": the window holds the rest of the run on the slowest pool it may run on, and its latest
        // start is slot 0 (below) wherever the pool is faster: a later start would give the cores it runs on now away.
        const slowest = Math.max(...[here, ...allowed].map((r) => poolOf(viewIn(r), pool).speedFactor));
        // The optimizer stretches whole slots (ceil(slots x speed)): the window is cut from the same figure,
        // and the run is cut to what the horizon holds on that pool, so that staying is always an option.
        runtimeSlots = Math.min(Math.ceil(runtimeMs / slotMs), Math.floor(H / slowest));
        if (runtimeSlots < 1) {
          leaveOutsidePlan('whose slowest run of one slot is longer than the horizon', pool, H);
          continue;
        }
        deadlineSlot = runtimeOnSite(runtimeSlots, { speedFactor: slowest }) - 1;
        runShares.set(aw.jobId, { done, restOverPriced: restMs / (runtimeSlots * slotMs) });
        const heldInWindow = runtimeOnSite(runtimeSlots, herePool);
        holdSlots(heldInPlan, `${here}/${pool}`, H, aw.spec, heldInWindow);
        // Where it runs it holds its cores for the whole rest of its run: what the cut window leaves out is
        // taken off the cluster's free capacity, or new jobs would be planned onto cores it still uses.
        holdOutside(here, pool, aw.spec, runtimeOnSite(Math.ceil(runtimeMs / slotMs), herePool), heldInWindow);
      } else {
        if (gateJobUnconfirmed(aw)) {
          // Its Job may be running on its target already (a create sent and not answered, or a hub that died before
          // recording the answer): the dispatch cycle's listing settles that, adopting the Job or letting the next plan
          // decide. Re-planned or failed now, that Job would be deleted as not its own. Its room stays taken there.
          unconfirmed.push(aw.jobId);
          holdOnTarget(aw, aw.targetPool, runtimeMs);
          continue;
        }
        if (now + runtimeMs > aw.deadlineAt) {
          failed.push({ job_id: aw.jobId, reason: CANNOT_FINISH });
          continue;
        }
        if (!allowed.length) {
          unschedulable.push({ job_id: aw.jobId, reason: `no ready cluster with carbon data among its regions (${aw.spec.affinityRegions.join(', ') || 'any'})` });
          continue;
        }
        // A cluster that refused a Job of it refuses it for good (a requeued job keeps its refused_by): its gate there would fail it.
        const notRefused = allowed.filter((r) => !aw.refusedBy?.includes(viewIn(r).name));
        if (!notRefused.length) {
          unschedulable.push({ job_id: aw.jobId, reason: `every ready cluster among its regions refused a Job of it (refused_by: ${aw.refusedBy?.join(', ')})` });
          continue;
        }
        allowed = notRefused;
        // Its pod must fit on one node: a cluster's total is no use to a job larger than each of its nodes.
        const size = { cpu: aw.spec.cpu, memGb: aw.spec.memGb, gpu: aw.spec.gpu };
        const fitting = allowed.filter((r) => fitsANode(viewIn(r), size));
        if (!fitting.length) {
          const clusters = allowed.map((r) => viewIn(r).name).join(', ');
          unschedulable.push({ job_id: aw.jobId, reason: `larger than every node of its clusters (${clusters}): needs ${size.cpu} cpu, ${size.memGb} GB of memory and ${size.gpu} GPU on one node` });
          continue;
        }
        allowed = fitting;
        // The latest start that still finishes by the deadline at full speed; the job then holds ceil(runtime) slots.
        const latestStart = Math.floor((aw.deadlineAt - now - runtimeMs) / slotMs);
        // At least one slot, whatever is stored (a row from before the API's minimum must not sink the input).
        runtimeSlots = Math.min(H, Math.max(1, Math.ceil(runtimeMs / slotMs)));
        deadlineSlot = Math.min(H - 1, latestStart + runtimeSlots - 1);
        // A plan on a cluster that is not offered now must move anyway: leaving it is not charged.
        const previousRegion = aw.targetCluster && regionOfCluster.get(aw.targetCluster);
        if (previousRegion && usable.has(previousRegion)) prevPlan[aw.jobId] = { region: previousRegion };
        if (aw.spec.urgency === 'urgent') pools = ['FAST'];
      }
      byId.set(aw.jobId, aw);
      const energyKwh = (powerWatts(settings.costs, { cpu: aw.spec.cpu, gpu: aw.spec.gpu, mem_gb: aw.spec.memGb }) * runtimeSlots * slotHours) / 1000;
      const migrationCeiling = settings.costs.lambda_plan_dev + maxNetworkGco2PerGb * aw.spec.dataGb;
      jobs.push({
        job_id: aw.jobId,
        cpu: aw.spec.cpu,
        mem_gb: aw.spec.memGb,
        gpu: aw.spec.gpu,
        runtime_slots: runtimeSlots,
        release_slot: 0,
        deadline_slot: Math.max(0, deadlineSlot),
        ...(pinned && { latest_start_slot: 0 }),
        data_gb: aw.spec.dataGb,
        affinity_regions: allowed,
        ...(pools && { pools }),
        wait_gco2_per_slot: waitCharge(pinned ? 'urgent' : aw.spec.urgency, { energyKwh, slotHours, carbonSpread, migrationCeiling, normalPerKwhHour: settings.normalWaitGco2PerKwhPerHour }),
      });
    }
    const regions = [...usable.keys()];
    const input: OptimizeInput = {
      jobs,
      regions,
      capacities: regions.flatMap((region) =>
        this.poolCapacities(usable.get(region) as Usable, (pool) => heldOutside.get(pool ? `${region}/${pool}` : region), (pool) => heldInPlan.get(`${region}/${pool}`)),
      ),
      carbons: regions.flatMap((region) => (usable.get(region) as Usable).intensities.map((ci, slot) => ({ region, slot, ci_gco2_per_kwh: ci }))),
      slot_seconds: settings.slotSeconds,
      horizon_slots: H,
      costs: settings.costs,
      network_costs: restrictMatrix(settings.networkCosts, usable),
      migration_allow: settings.migrationAllow,
      prev_plan: prevPlan,
      region_pools: Object.fromEntries(
        regions.map((region) => [region, poolsOf(viewIn(region)).map((p) => ({ name: p.name, speed_factor: p.speedFactor, power_factor: p.powerFactor }))]),
      ),
    };
    // Within the cycle's option budget: the waiting jobs past it are left out, as if not yet submitted.
    const sites = sitesOf(input);
    const budgeted = withinOptionBudget(
      jobs.map((job) => ({ aw: byId.get(job.job_id) as AppWrapper, job, options: candidateStarts(input, job, sites) })),
      settings.maxOptions,
      // The next cycle that surely runs: a tick may find a cycle still running and be skipped, and a cycle may queue
      // behind a what-if's solve. A job due to start before then cannot wait for it.
      now + (2 * settings.schedulePeriodSeconds + settings.timeLimitSeconds) * 1000,
    );
    input.jobs = budgeted.planned.map((c) => c.job);
    for (const { aw } of budgeted.deferred) {
      byId.delete(aw.jobId);
      delete prevPlan[aw.jobId];
    }
    const deferred = budgeted.deferred.map((c) => c.aw.jobId);
    const deferredIds = new Set(deferred);
    const seen = new Map(candidates.flatMap((aw) => (deferredIds.has(aw.jobId) ? [] : [[aw.jobId, aw] as const])));
    return {
      now,
      input,
      views,
      usable,
      seen,
      byId,
      runShares,
      unschedulable,
      failed,
      outsidePlan,
      unconfirmed,
      considered: input.jobs.length + failed.length + unschedulable.length + outsidePlan.length + unconfirmed.length,
      deferred,
      options: budgeted.options,
    };
  }

  /**
   * Free capacity of each pool of a cluster in every slot: its share of what the cluster has free, less what Jobs
   * outside the plan hold in it (`heldOutside(pool)`; `heldOutside()` for those of a pool no longer offered, off the
   * whole cluster), the FAST share cut to `capacityFactor` in slots dirtier than the cluster's threshold; never less
   * than what the plan's running jobs hold there, so that they can all stay. What a pool's Jobs hold beyond its
   * share comes out of the other pools: together the pools never offer more than the cluster has free.
   */
  private poolCapacities({ view, intensities }: Usable, heldOutside: (pool?: PoolName) => SlotUse | undefined, heldInPlan: (pool: PoolName) => SlotUse | undefined): SlotCapacity[] {
    const anyPool = heldOutside();
    const free = (resource: keyof SlotUse, slot: number) =>
      Math.max(0, view.allocatable[resource] - view.foreignUsage[resource] - (anyPool?.[resource][slot] ?? 0));
    const scaleDown = view.fastScaleDown;
    const out: SlotCapacity[] = [];
    const pools = poolsOf(view);
    const scaledIn = (pool: WorkerPool, slot: number) => pool.name === 'FAST' && scaleDown !== undefined && intensities[slot]! > scaleDown.thresholdGco2PerKwh;
    const share = (pool: WorkerPool, resource: keyof SlotUse, slot: number) => free(resource, slot) * pool.share * (scaledIn(pool, slot) ? scaleDown!.capacityFactor : 1);
    const held = (pool: WorkerPool, resource: keyof SlotUse, slot: number) => heldInPlan(pool.name)?.[resource][slot] ?? 0;
    const outside = (pool: WorkerPool, resource: keyof SlotUse, slot: number) => heldOutside(pool.name)?.[resource][slot] ?? 0;
    // Against the pool's whole share: a FAST pool scaled down for a dirty grid takes no new work, but its running
    // jobs use its own cores, not the other pool's.
    const overflow = (pool: WorkerPool, resource: keyof SlotUse, slot: number) =>
      Math.max(0, held(pool, resource, slot) + outside(pool, resource, slot) - free(resource, slot) * pool.share);
    const cap = (pool: WorkerPool, resource: keyof SlotUse, slot: number) => {
      const othersOverflow = pools.reduce((sum, other) => (other === pool ? sum : sum + overflow(other, resource, slot)), 0);
      return Math.max(held(pool, resource, slot), share(pool, resource, slot) - outside(pool, resource, slot) - othersOverflow);
    };
    for (const pool of pools) {
      for (let slot = 0; slot < intensities.length; slot++) {
        out.push({ region: view.region, pool: pool.name, slot, cpu_cap: cap(pool, 'cpu', slot), mem_gb_cap: cap(pool, 'memGb', slot), gpu_cap: cap(pool, 'gpu', slot) });
      }
    }
    return out;
  }

  /**
   * The pool gauges and the FAST scale-down line, from a cycle's plan input (dry runs and what-ifs change
   * nothing): each pool's offer in slot 0; a cluster the cycle could not use offers nothing, not its last offer.
   */
  private recordPools({ views, usable, input }: Snapshot): void {
    for (const view of views) {
      const used = usable.get(view.region);
      const scaleDown = view.fastScaleDown;
      const pools = poolsOf(view);
      for (const pool of pools) {
        const now = used?.view === view ? input.capacities.find((c) => c.region === view.region && c.pool === pool.name && c.slot === 0) : undefined;
        this.deps.metrics.recordPoolCapacity(view.name, pool.name, now ? { cpu: now.cpu_cap, memGb: now.mem_gb_cap, gpu: now.gpu_cap } : NO_RESOURCES);
      }
      if (!scaleDown || !pools.some((p) => p.name === 'FAST')) continue;
      const intensity = used?.view === view ? used.intensities[0] : undefined;
      if (intensity === undefined) this.deps.metrics.recordFastScaledDown(view.name, false);
      else this.noteScaleDown(view.name, intensity > scaleDown.thresholdGco2PerKwh, intensity, scaleDown.thresholdGco2PerKwh);
    }
  }

  /** Logs when a cluster's FAST pool starts or stops being scaled down for a dirty grid, and keeps the gauge. */
  private noteScaleDown(cluster: string, scaled: boolean, intensity: number, threshold: number): void {
    this.deps.metrics.recordFastScaledDown(cluster, scaled);
    if (this.scaledDown.has(cluster) === scaled) return;
    if (scaled) this.scaledDown.add(cluster);
    else this.scaledDown.delete(cluster);
    this.deps.logger.info(
      { cluster, intensityGco2PerKwh: intensity, thresholdGco2PerKwh: threshold, scaledDown: scaled },
      scaled ? `FAST pool of ${cluster} scaled down: the grid is dirtier than its threshold` : `FAST pool of ${cluster} back to full capacity`,
    );
  }

  private async solve(input: OptimizeInput, timeLimitSeconds: number, onFallback?: () => void): Promise<OptimizeOutput> {
    const { settings } = this.deps;
    try {
      return await this.deps.optimize(input, { solver: settings.solver, timeLimitSeconds, gapTolerance: settings.gapTolerance });
    } catch (error) {
      this.deps.logger.error({ err: error, solver: settings.solver, jobs: input.jobs.length }, 'optimizer failed; planning with the fallback solver');
      onFallback?.();
      return this.deps.fallbackOptimize(input, { timeLimitSeconds, gapTolerance: settings.gapTolerance });
    }
  }

  /** Changes an AppWrapper only if nothing else changed it since the cycle's snapshot (every change moves `updatedAt` on); otherwise the next cycle re-plans it. */
  private async guarded(seen: AppWrapper, next: (cur: AppWrapper) => AppWrapper): Promise<AppWrapper | undefined> {
    let applied = false;
    try {
      const stored = await this.deps.lifecycle.change(seen.jobId, (cur) => {
        if (cur.updatedAt !== seen.updatedAt || cur.phase !== seen.phase) return undefined;
        applied = true;
        return next(cur);
      });
      return applied ? stored : undefined;
    } catch (error) {
      // Forgotten since the snapshot (finished, past its retention): changed meanwhile, like any other.
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  private async applyPlan(
    aw: AppWrapper,
    item: PlanItem,
    cluster: string,
    plannedStartAt: number,
    now: number,
    run: { done: number; restOverPriced: number } | undefined,
  ): Promise<{ plannedStartAt: number; migration?: Migration } | undefined> {
    const pinned = PINNED.has(aw.phase);
    const from = pinned ? runsOn(aw) : aw.targetCluster;
    const keeps = keepsItsJob(aw, cluster);
    const migration = migrationOf(aw, item, cluster);
    const metadata = migration ? { migrated_from: from, migration_time: (now / 1000).toFixed(3) } : aw.metadata;
    const pool = poolOfPlan(item);
    const stored = await this.guarded(aw, (cur) => {
      if (!pinned) return { ...cur, phase: 'Planned', reason: undefined, targetCluster: cluster, targetPool: pool, plannedStartAt, gateOpen: false, co2EstimateG: item.cost_gco2, metadata };
      // The done share is priced at the Job's own estimate: a move pending (given up now, or replaced) never ran.
      const co2EstimateG = wholeRunEstimateG(withoutPendingMove(cur).co2EstimateG, run?.done ?? 0, item.cost_gco2 * (run?.restOverPriced ?? 1));
      // A move starts its new Job at its plan's slot: the job shows that start (the Job in place keeps its own, restored if the move is given up).
      return { ...(keeps ? inPlace(cur, co2EstimateG) : { ...cur, migrating: true, metadata, plannedStartAt }), targetCluster: cluster, targetPool: pool, co2EstimateG };
    });
    if (!stored) return undefined;
    // A move decided earlier and not carried out yet is given up for this plan (`aw` is what was changed).
    const givenUp = pinned ? pendingMove(aw) : undefined;
    if (givenUp && givenUp.to !== cluster) {
      const removed = !this.deps.clusters.info(givenUp.to);
      this.deps.lifecycle.moveDropped(
        aw.jobId,
        givenUp,
        removed ? 'cluster_removed' : 'replanned',
        removed ? `${givenUp.to} is no longer configured` : `re-planned to ${cluster} before the move was carried out`,
      );
    }
    if (!from || migration) this.deps.metrics.recordPlacement(cluster);
    if (migration) {
      this.deps.metrics.recordMigration(migration.from_cluster, migration.to_cluster, migration.data_gb, migration.cost_gco2);
      this.deps.logger.info(
        { jobId: aw.jobId, fromCluster: migration.from_cluster, toCluster: migration.to_cluster, dataGb: migration.data_gb, costGco2: migration.cost_gco2, live: pinned },
        `MIGRATION detected for ${aw.jobId}: ${migration.from_cluster} -> ${migration.to_cluster}, data=${migration.data_gb.toFixed(2)}GB, cost=${migration.cost_gco2.toFixed(2)}gCO2`,
      );
    }
    return { plannedStartAt: keeps ? (stored.plannedStartAt ?? now) : plannedStartAt, migration };
  }
}

/** The pool a plan item names; the hub always offers pools, a plan from an older optimizer reads as FAST. */
function poolOfPlan(item: PlanItem): PoolName {
  return item.pool === 'ECO' ? 'ECO' : 'FAST';
}

/** The output's plans with the AppWrapper and cluster each is for; a plan for neither is dropped. */
function plansOf(snapshot: Snapshot, output: OptimizeOutput): { aw: AppWrapper; item: PlanItem; cluster: string }[] {
  return output.plans.flatMap((item) => {
    const aw = snapshot.byId.get(item.job_id);
    const cluster = snapshot.usable.get(item.region)?.view.name;
    return aw && cluster ? [{ aw, item, cluster }] : [];
  });
}

/**
 * Whether the plan keeps a running job on the Job it runs (the job then keeps that Job's start). Any other plan, a
 * move decided now or one decided earlier and planned again, starts a new Job at its plan's slot. The applied plan
 * and its dry run both decide by this.
 */
function keepsItsJob(aw: AppWrapper, cluster: string): boolean {
  return PINNED.has(aw.phase) && cluster === runsOn(aw);
}

/**
 * A new move of the job to another cluster than the one it runs on (or was planned on), or undefined. A
 * running job already on its way to `cluster` is not moved again: that move was counted when it was decided.
 */
function migrationOf(aw: AppWrapper, item: PlanItem, cluster: string): Migration | undefined {
  const pinned = PINNED.has(aw.phase);
  const from = pinned ? runsOn(aw) : aw.targetCluster;
  if (!from || from === cluster || (pinned && aw.migrating && aw.targetCluster === cluster)) return undefined;
  return { job_id: aw.jobId, from_cluster: from, to_cluster: cluster, data_gb: aw.spec.dataGb, cost_gco2: item.migration_cost_gco2 };
}

/** `restOverPriced`: a running job's plan prices whole slots of its rest; its grams are scaled to the work left. */
function placedJob(aw: AppWrapper, item: PlanItem, cluster: string, plannedStartAt: number, restOverPriced = 1): PlacedJob {
  return { job_id: aw.jobId, cluster, region: item.region, pool: poolOfPlan(item), planned_start: new Date(plannedStartAt).toISOString(), co2_gco2: item.cost_gco2 * restOverPriced };
}

/** Jobs the optimizer could not place that the cycle may mark Unschedulable (a running job is left running). */
function leftOut(output: OptimizeOutput, byId: ReadonlyMap<string, AppWrapper>, horizonMs: number): { job_id: string; reason: string }[] {
  return output.unscheduled.flatMap((u) => {
    const aw = byId.get(u.job_id);
    if (!aw || !MOVABLE.has(aw.phase)) return [];
    // The plan covers the horizon: a longer job is offered only "start now", which the reason should say.
    const longer = aw.spec.runtimeMinutes * 60_000 > horizonMs;
    const why = longer ? `${u.reason}; it runs longer than the planning horizon (${horizonMs / 3_600_000} h), so only a start now is planned, with room for it over the whole horizon` : u.reason;
    return [{ job_id: u.job_id, reason: why }];
  });
}

function summaryOf(
  snapshot: Snapshot,
  output: OptimizeOutput,
  result: { placed: PlacedJob[]; unschedulable: { job_id: string; reason: string }[]; failed: { job_id: string; reason: string }[]; migrations: Migration[]; startedPerf: number; dryRun: boolean },
): ScheduleSummary {
  return {
    started_at: new Date(snapshot.now).toISOString(),
    duration_seconds: (performance.now() - result.startedPerf) / 1000,
    solver: output.solver,
    status: output.solver_status,
    objective_gco2: output.objective_gco2,
    co2_estimate_kg: output.co2_estimate_kg,
    lower_bound_gco2: output.lower_bound_gco2,
    gap: output.gap,
    jobs_considered: snapshot.considered,
    jobs_deferred: snapshot.deferred.length,
    placed: result.placed,
    unschedulable: result.unschedulable,
    failed: result.failed,
    outside_plan: snapshot.outsidePlan,
    unconfirmed: snapshot.unconfirmed,
    migrations: result.migrations,
    dry_run: result.dryRun,
  };
}

/**
 * The optimizer's waiting charge per slot for a job of each urgency class. `urgent`: more than the job
 * could gain by any move in space or time (the carbon spread of the horizon times its energy, plus the
 * dearest migration), so it never waits for carbon and goes first when capacity is short. `normal`: the
 * configured charge per kWh-hour. `flexible`: nothing.
 */
export function waitCharge(
  urgency: Urgency,
  job: { energyKwh: number; slotHours: number; carbonSpread: number; migrationCeiling: number; normalPerKwhHour: number },
): number {
  if (urgency === 'urgent') return job.carbonSpread * job.energyKwh + job.migrationCeiling + 1;
  if (urgency === 'normal') return job.normalPerKwhHour * job.energyKwh * job.slotHours;
  return 0;
}

/** The what-if answer for `candidate` out of a dry run that included it. */
function whatIfAnswer(
  candidate: AppWrapper,
  snapshot: Snapshot,
  schedule: ScheduleSummary,
  counterfactualG: (job: OptimizeJob) => number | undefined,
  maxOptions: number,
): WhatIfAnswer {
  const base = { job_id: candidate.jobId, schedule };
  if (snapshot.deferred.includes(candidate.jobId)) {
    return { ...base, placed: false, reason: `the next cycle would leave it for a later one: the jobs that must start before it fill optimizer.max_options (${maxOptions} candidate starts)` };
  }
  const refused = [...schedule.unschedulable, ...schedule.failed].find((u) => u.job_id === candidate.jobId);
  const placed = schedule.placed.find((p) => p.job_id === candidate.jobId);
  const job = snapshot.input.jobs.find((j) => j.job_id === candidate.jobId);
  if (!placed || !job) return { ...base, placed: false, reason: refused?.reason ?? 'no ready cluster can take it now' };
  const plannedStart = Date.parse(placed.planned_start);
  const counterfactual = counterfactualG(job);
  return {
    ...base,
    placed: true,
    cluster: placed.cluster,
    region: placed.region,
    pool: placed.pool,
    planned_start: placed.planned_start,
    wait_seconds: Math.max(0, (plannedStart - snapshot.now) / 1000),
    co2_estimate_g: placed.co2_gco2,
    counterfactual_g: counterfactual ?? null,
    saved_g: counterfactual === undefined ? null : counterfactual - placed.co2_gco2,
  };
}

/**
 * A Job kept where it runs by a plan: any move pending is given up, and the plan's estimate becomes that
 * Job's own, the one a move given up later restores.
 */
function inPlace(aw: AppWrapper, co2EstimateG: number): AppWrapper {
  const kept = withoutPendingMove(aw);
  return kept.placement ? { ...kept, placement: { ...kept.placement, co2EstimateG } } : kept;
}

/**
 * A running job's estimate for its whole run, when the plan priced only the rest of it: the share of the
 * previous estimate (itself for the whole run) that the work done stands for, plus the plan's. So
 * `co2EstimateG`, and the `planned_g` a finished job's account takes from it, stay whole-run figures.
 */
function wholeRunEstimateG(previousG: number | undefined, doneShare: number, restG: number): number {
  return (previousG ?? 0) * doneShare + restG;
}
