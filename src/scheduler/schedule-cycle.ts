import type { Logger } from 'pino';
import type { AppWrapper, Phase } from '../domain/app-wrapper.js';
import type { Clock } from '../domain/clock.js';
import type { CarbonFeed } from '../hub/carbon-feed.js';
import type { ClusterMonitor, ClusterView } from '../hub/cluster-monitor.js';
import type { Lifecycle } from '../hub/lifecycle.js';
import type { Metrics } from '../metrics/metrics.js';
import type { CostWeights, OptimizeInput, OptimizeJob, OptimizeOptions, OptimizeOutput, PlanItem } from '../optimizer/index.js';
import type { DecisionLog } from './decisions.js';

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
}

export interface PlacedJob {
  job_id: string;
  cluster: string;
  region: string;
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
  placed: PlacedJob[];
  unschedulable: { job_id: string; reason: string }[];
  failed: { job_id: string; reason: string }[];
  migrations: Migration[];
}

/** Phases whose plan the cycle may still change freely. */
const MOVABLE: ReadonlySet<Phase> = new Set(['Pending', 'Planned', 'Unschedulable']);
/** Phases with a Job on a spoke: re-planned only as "stay, or move now". */
const PINNED: ReadonlySet<Phase> = new Set(['Dispatched', 'Running']);

interface Usable {
  view: ClusterView;
  intensities: number[];
}

/** The cluster a live AppWrapper is on, or moving to. */
function currentCluster(aw: AppWrapper): string | undefined {
  return aw.migrating ? aw.targetCluster : aw.placement?.cluster;
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

  async run(): Promise<ScheduleSummary> {
    const started = performance.now();
    try {
      const summary = await this.schedule(started);
      this.last = summary;
      const co2ByCluster = new Map<string, number>();
      for (const p of summary.placed) co2ByCluster.set(p.cluster, (co2ByCluster.get(p.cluster) ?? 0) + p.co2_gco2);
      this.deps.metrics.recordScheduleCycle('ok', summary.duration_seconds, {
        solver: summary.solver,
        status: summary.status,
        objectiveGco2: summary.objective_gco2,
        gap: summary.gap,
        unschedulable: summary.unschedulable.length,
        co2ByCluster,
      });
      this.deps.logger.info(
        {
          solver: summary.solver,
          status: summary.status,
          jobs: summary.jobs_considered,
          placed: summary.placed.length,
          unschedulable: summary.unschedulable.length,
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
  }

  private async schedule(startedPerf: number): Promise<ScheduleSummary> {
    const { settings, clock, lifecycle } = this.deps;
    const now = clock.now();
    const slotMs = settings.slotSeconds * 1000;
    const H = settings.horizonSlots;

    // 1. Snapshot the clusters: which are ready, and their free capacity.
    const views = await this.deps.clusters.refresh();

    // 2. Keep the regions that can take work: a ready cluster with carbon data for the horizon.
    const usable = new Map<string, Usable>();
    for (const view of views) {
      if (!view.ready) continue;
      const intensities = this.deps.carbon.slotIntensities(view.zone, now, slotMs, H);
      if (intensities) usable.set(view.region, { view, intensities });
      else this.deps.logger.warn({ region: view.region, zone: view.zone }, 'no carbon data for region; not planning work there');
    }
    const regionOfCluster = new Map(views.map((v) => [v.name, v.region]));

    // 3. Snapshot the store: every job the plan may still change.
    const candidates = (await lifecycle.store.list()).filter((aw) => MOVABLE.has(aw.phase) || (PINNED.has(aw.phase) && aw.placement));
    const failed: { job_id: string; reason: string }[] = [];
    const unschedulable: { job_id: string; reason: string }[] = [];

    // 4. Build the optimizer input (seed OptimizeInput): slot 0 starts now.
    const jobs: OptimizeJob[] = [];
    const prevPlan: Record<string, { region: string }> = {};
    const byId = new Map<string, AppWrapper>();
    for (const aw of candidates) {
      const pinned = PINNED.has(aw.phase);
      const allowed = (aw.spec.affinityRegions.length ? aw.spec.affinityRegions : [...regionOfCluster.values()]).filter((r) => usable.has(r));
      let runtimeMs = aw.spec.runtimeMinutes * 60_000;
      let deadlineSlot: number;
      if (pinned) {
        const here = regionOfCluster.get(currentCluster(aw) ?? '');
        // A job on a cluster that does not answer cannot be moved (its Job cannot be deleted): leave it be.
        if (!here || !usable.has(here)) continue;
        if (aw.startedAt !== undefined) runtimeMs = Math.max(slotMs, runtimeMs - (now - aw.startedAt));
        deadlineSlot = Math.min(H, Math.ceil(runtimeMs / slotMs)) - 1;
        prevPlan[aw.jobId] = { region: here };
      } else {
        if (now + runtimeMs > aw.deadlineAt) {
          failed.push({ job_id: aw.jobId, reason: 'DeadlineExceeded: it can no longer finish before its deadline' });
          continue;
        }
        if (!allowed.length) {
          unschedulable.push({ job_id: aw.jobId, reason: `no ready cluster with carbon data among its regions (${aw.spec.affinityRegions.join(', ') || 'any'})` });
          continue;
        }
        // The latest start that still finishes by the deadline; the job then holds ceil(runtime) slots.
        const latestStart = Math.floor((aw.deadlineAt - now - runtimeMs) / slotMs);
        deadlineSlot = Math.min(H - 1, latestStart + Math.ceil(runtimeMs / slotMs) - 1);
        // A plan on a cluster that is not offered now must move anyway: leaving it is not charged.
        const previousRegion = aw.targetCluster && regionOfCluster.get(aw.targetCluster);
        if (previousRegion && usable.has(previousRegion)) prevPlan[aw.jobId] = { region: previousRegion };
      }
      byId.set(aw.jobId, aw);
      jobs.push({
        job_id: aw.jobId,
        cpu: aw.spec.cpu,
        mem_gb: aw.spec.memGb,
        gpu: aw.spec.gpu,
        runtime_slots: Math.min(H, Math.ceil(runtimeMs / slotMs)),
        release_slot: 0,
        deadline_slot: Math.max(0, deadlineSlot),
        data_gb: aw.spec.dataGb,
        affinity_regions: allowed,
      });
    }
    const considered = jobs.length + failed.length + unschedulable.length;
    const regions = [...usable.keys()];
    const input: OptimizeInput = {
      jobs,
      regions,
      capacities: regions.flatMap((region) => {
        const { allocatable, foreignUsage } = (usable.get(region) as Usable).view;
        return Array.from({ length: H }, (_, slot) => ({
          region,
          slot,
          cpu_cap: Math.max(0, allocatable.cpu - foreignUsage.cpu),
          mem_gb_cap: Math.max(0, allocatable.memGb - foreignUsage.memGb),
          gpu_cap: Math.max(0, allocatable.gpu - foreignUsage.gpu),
        }));
      }),
      carbons: regions.flatMap((region) => (usable.get(region) as Usable).intensities.map((ci, slot) => ({ region, slot, ci_gco2_per_kwh: ci }))),
      slot_seconds: settings.slotSeconds,
      horizon_slots: H,
      costs: settings.costs,
      network_costs: restrictMatrix(settings.networkCosts, usable),
      migration_allow: settings.migrationAllow,
      prev_plan: prevPlan,
    };

    // 5. Optimize; if the optimizer fails, plan with the fallback in the same cycle.
    const output = await this.solve(input);

    // 6. Apply: plans, migrations, jobs that could not be placed, jobs past hope.
    const placed: PlacedJob[] = [];
    const migrations: Migration[] = [];
    for (const item of output.plans) {
      const aw = byId.get(item.job_id);
      const cluster = usable.get(item.region)?.view.name;
      if (!aw || !cluster) continue;
      const applied = await this.applyPlan(aw, item, cluster, now + item.start_slot * slotMs, now);
      if (!applied) continue;
      placed.push({ job_id: aw.jobId, cluster, region: item.region, planned_start: new Date(applied.plannedStartAt).toISOString(), co2_gco2: item.cost_gco2 });
      if (applied.migration) migrations.push(applied.migration);
    }
    for (const left of output.unscheduled) {
      const aw = byId.get(left.job_id);
      if (aw && MOVABLE.has(aw.phase)) unschedulable.push({ job_id: left.job_id, reason: left.reason });
    }
    const seen = new Map(candidates.map((aw) => [aw.jobId, aw]));
    for (const { job_id, reason } of unschedulable) {
      await this.guarded(seen.get(job_id) as AppWrapper, (cur) => ({ ...cur, phase: 'Unschedulable', reason, targetCluster: undefined, plannedStartAt: undefined, co2EstimateG: undefined }));
    }
    for (const { job_id, reason } of failed) {
      await this.guarded(seen.get(job_id) as AppWrapper, (cur) => ({ ...cur, phase: 'Failed', reason, finishedAt: now }));
    }

    // 7. Log the decisions: the plans that are new or moved a job (the log never throws).
    this.deps.decisions?.record({ at: now, strategy: output.solver, input, plans: output.plans, placed, migrations, previous: seen });

    return {
      started_at: new Date(now).toISOString(),
      duration_seconds: (performance.now() - startedPerf) / 1000,
      solver: output.solver,
      status: output.solver_status,
      objective_gco2: output.objective_gco2,
      co2_estimate_kg: output.co2_estimate_kg,
      lower_bound_gco2: output.lower_bound_gco2,
      gap: output.gap,
      jobs_considered: considered,
      placed,
      unschedulable,
      failed,
      migrations,
    };
  }

  private async solve(input: OptimizeInput): Promise<OptimizeOutput> {
    const { settings } = this.deps;
    try {
      return await this.deps.optimize(input, { solver: settings.solver, timeLimitSeconds: settings.timeLimitSeconds, gapTolerance: settings.gapTolerance });
    } catch (error) {
      this.deps.metrics.recordOptimizerFailure();
      this.deps.logger.error({ err: error, solver: settings.solver, jobs: input.jobs.length }, 'optimizer failed; planning with the fallback solver');
      return this.deps.fallbackOptimize(input, { timeLimitSeconds: settings.timeLimitSeconds, gapTolerance: settings.gapTolerance });
    }
  }

  /** Changes an AppWrapper only if nothing else changed it since the cycle's snapshot; otherwise the next cycle re-plans it. */
  private async guarded(seen: AppWrapper, next: (cur: AppWrapper) => AppWrapper): Promise<AppWrapper | undefined> {
    let applied = false;
    const stored = await this.deps.lifecycle.change(seen.jobId, (cur) => {
      if (cur.updatedAt !== seen.updatedAt || cur.phase !== seen.phase) return undefined;
      applied = true;
      return next(cur);
    });
    return applied ? stored : undefined;
  }

  private async applyPlan(
    aw: AppWrapper,
    item: PlanItem,
    cluster: string,
    plannedStartAt: number,
    now: number,
  ): Promise<{ plannedStartAt: number; migration?: Migration } | undefined> {
    const pinned = PINNED.has(aw.phase);
    const from = pinned ? currentCluster(aw) : aw.targetCluster;
    const migration: Migration | undefined =
      from && from !== cluster ? { job_id: aw.jobId, from_cluster: from, to_cluster: cluster, data_gb: aw.spec.dataGb, cost_gco2: item.migration_cost_gco2 } : undefined;
    const metadata = migration ? { migrated_from: from, migration_time: (now / 1000).toFixed(3) } : aw.metadata;
    const stored = await this.guarded(aw, (cur) =>
      pinned
        ? { ...cur, targetCluster: cluster, migrating: cur.migrating || migration !== undefined, co2EstimateG: item.cost_gco2, metadata }
        : { ...cur, phase: 'Planned', reason: undefined, targetCluster: cluster, plannedStartAt, gateOpen: false, co2EstimateG: item.cost_gco2, metadata },
    );
    if (!stored) return undefined;
    if (!from || migration) this.deps.metrics.recordPlacement(cluster);
    if (migration) {
      this.deps.metrics.recordMigration(migration.from_cluster, migration.to_cluster, migration.data_gb, migration.cost_gco2);
      this.deps.logger.info(
        { jobId: aw.jobId, fromCluster: migration.from_cluster, toCluster: migration.to_cluster, dataGb: migration.data_gb, costGco2: migration.cost_gco2, live: pinned },
        `MIGRATION detected for ${aw.jobId}: ${migration.from_cluster} -> ${migration.to_cluster}, data=${migration.data_gb.toFixed(2)}GB, cost=${migration.cost_gco2.toFixed(2)}gCO2`,
      );
    }
    return { plannedStartAt: pinned ? (stored.plannedStartAt ?? now) : plannedStartAt, migration };
  }
}
