import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PHASES, type Phase } from '../domain/app-wrapper.js';
import type { StoreCounts } from '../store/types.js';

/**
 * Every Prometheus metric of the hub, behind recorder methods so that the loops and the API never touch
 * prom-client types. Label values are bounded: phases, cluster/region/zone names from the configuration,
 * solver names and fixed outcome words; never job ids.
 *
 * The unprefixed names (`migrations_total`, `grid_carbon_intensity_gco2_per_kwh`, ...) are the ones the
 * seed's dashboards and runbooks query; everything added since carries the `caspian_` prefix.
 */
export type CycleOutcome = 'ok' | 'error';
export type DispatchAction = 'created' | 'deleted' | 'adopted' | 'failed';

export class Metrics {
  readonly registry = new Registry();

  private readonly carbonIntensity = new Gauge({
    name: 'grid_carbon_intensity_gco2_per_kwh',
    help: 'Current grid carbon intensity by carbon-data zone, gCO2/kWh.',
    labelNames: ['zone'],
    registers: [this.registry],
  });
  private readonly carbonRefreshes = new Counter({
    name: 'caspian_carbon_refreshes_total',
    help: 'Carbon-intensity refreshes by provider and outcome (ok|error).',
    labelNames: ['provider', 'outcome'],
    registers: [this.registry],
  });
  private readonly carbonFetchErrors = new Counter({
    name: 'caspian_carbon_fetch_errors_total',
    help: 'Carbon provider faults by provider and reason (timeout|auth|rate_limited|http_4xx|http_5xx|malformed|units|network|stale), also those a fallback answered for.',
    labelNames: ['provider', 'reason'],
    registers: [this.registry],
  });
  private readonly carbonForecast = new Gauge({
    name: 'caspian_carbon_forecast_gco2_per_kwh',
    help: 'Carbon intensity expected at a lead time (horizon: 1h|3h|6h|12h|24h) by zone, gCO2/kWh.',
    labelNames: ['zone', 'horizon'],
    registers: [this.registry],
  });
  private readonly carbonDataAge = new Gauge({
    name: 'caspian_carbon_data_age_seconds',
    help: 'Age of the current carbon value by zone: seconds since its source delivered it.',
    labelNames: ['zone'],
    registers: [this.registry],
  });
  private readonly carbonSource = new Gauge({
    name: 'caspian_carbon_source_info',
    help: 'Where the current carbon value of a zone comes from (1 for the source in use), by zone and source.',
    labelNames: ['zone', 'source'],
    registers: [this.registry],
  });
  private readonly carbonStale = new Gauge({
    name: 'caspian_carbon_stale',
    help: 'Whether the carbon value of a zone is older than the tolerated staleness or a configured stand-in (1) or not (0).',
    labelNames: ['zone'],
    registers: [this.registry],
  });
  private readonly submitted = new Counter({
    name: 'appwrappers_total',
    help: 'AppWrappers accepted by the hub since it started.',
    registers: [this.registry],
  });
  private storeCounts: (() => Promise<StoreCounts>) | undefined;
  private readonly running = new Gauge({
    name: 'appwrappers_running',
    help: 'AppWrappers whose Job is running on a spoke now.',
    registers: [this.registry],
    collect: async () => {
      if (this.storeCounts) this.running.set((await this.storeCounts()).byPhase.Running);
    },
  });
  private readonly byPhase = new Gauge({
    name: 'caspian_appwrappers',
    help: 'AppWrappers in the store by phase (Pending|Planned|Dispatched|Running|Succeeded|Failed|Unschedulable|Cancelled).',
    labelNames: ['phase'],
    registers: [this.registry],
    collect: async () => {
      if (!this.storeCounts) return;
      const { byPhase } = await this.storeCounts();
      for (const phase of PHASES) this.byPhase.set({ phase }, byPhase[phase]);
    },
  });
  private readonly pruned = new Counter({
    name: 'caspian_appwrappers_pruned_total',
    help: 'Finished AppWrappers forgotten after their retention period (store.retention_hours).',
    registers: [this.registry],
  });
  private readonly transitions = new Counter({
    name: 'caspian_phase_transitions_total',
    help: 'AppWrapper phase transitions by from and to phase.',
    labelNames: ['from', 'to'],
    registers: [this.registry],
  });
  private readonly clustersRegistered = new Counter({
    name: 'clusters_total',
    help: 'Spoke clusters registered with the hub (from its configuration).',
    registers: [this.registry],
  });
  private readonly clustersReady = new Gauge({
    name: 'clusters_ready',
    help: 'Spoke clusters that answered their last status check.',
    registers: [this.registry],
  });
  private readonly clusterReady = new Gauge({
    name: 'caspian_cluster_ready',
    help: 'Whether a spoke cluster answered its last status check (1) or not (0), by cluster.',
    labelNames: ['cluster'],
    registers: [this.registry],
  });
  private readonly clusterAllocatable = new Gauge({
    name: 'caspian_cluster_allocatable',
    help: 'Allocatable resources of a spoke cluster by cluster and resource (cpu in cores, mem_gb in GB, gpu in devices).',
    labelNames: ['cluster', 'resource'],
    registers: [this.registry],
  });
  private readonly migrations = new Counter({
    name: 'migrations_total',
    help: 'Jobs whose target cluster changed, by from_cluster and to_cluster.',
    labelNames: ['from_cluster', 'to_cluster'],
    registers: [this.registry],
  });
  private readonly migrationData = new Counter({
    name: 'migration_data_transferred_gb',
    help: 'Data moved with migrated jobs, GB, by from_cluster and to_cluster.',
    labelNames: ['from_cluster', 'to_cluster'],
    registers: [this.registry],
  });
  private readonly migrationCost = new Counter({
    name: 'migration_cost_gco2',
    help: 'Carbon charged for migrations (plan deviation + network), gCO2, by from_cluster and to_cluster.',
    labelNames: ['from_cluster', 'to_cluster'],
    registers: [this.registry],
  });
  private readonly migrationsInProgress = new Gauge({
    name: 'migrations_in_progress',
    help: 'Migrations of live Jobs decided but not yet completed (new Job created in the target cluster).',
    registers: [this.registry],
    collect: async () => {
      if (this.storeCounts) this.migrationsInProgress.set((await this.storeCounts()).migrating);
    },
  });
  private readonly scheduleDuration = new Histogram({
    name: 'caspian_schedule_duration_seconds',
    help: 'Wall time of a schedule cycle, seconds.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  private readonly scheduleCycles = new Counter({
    name: 'caspian_schedule_cycles_total',
    help: 'Schedule cycles by outcome (ok|error).',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly scheduleObjective = new Gauge({
    name: 'caspian_schedule_objective_gco2',
    help: 'Objective of the last plan (run carbon + migration charges), gCO2.',
    registers: [this.registry],
  });
  private readonly scheduleGap = new Gauge({
    name: 'caspian_schedule_gap_ratio',
    help: 'Relative gap between the last plan and its proven lower bound (0 = optimal).',
    registers: [this.registry],
  });
  private readonly solves = new Counter({
    name: 'caspian_solves_total',
    help: 'Optimizer runs by solver and status (optimal|feasible|timedout|error).',
    labelNames: ['solver', 'status'],
    registers: [this.registry],
  });
  private readonly optimizerFailures = new Counter({
    name: 'caspian_optimizer_failures_total',
    help: 'Schedule cycles whose optimizer call failed (crashed or stuck worker, solver bug) and fell back to the in-process greedy solver.',
    registers: [this.registry],
  });
  private readonly placements = new Counter({
    name: 'caspian_placements_total',
    help: 'Plans applied to AppWrappers by target cluster.',
    labelNames: ['cluster'],
    registers: [this.registry],
  });
  private readonly unschedulable = new Gauge({
    name: 'caspian_unschedulable_jobs',
    help: 'Jobs the last schedule cycle could not place.',
    registers: [this.registry],
  });
  private readonly co2Planned = new Gauge({
    name: 'caspian_co2_planned_grams',
    help: 'Planned emissions of the jobs in the last plan, gCO2, by target cluster.',
    labelNames: ['cluster'],
    registers: [this.registry],
  });
  private readonly dispatchDuration = new Histogram({
    name: 'caspian_dispatch_duration_seconds',
    help: 'Wall time of a dispatch cycle, seconds.',
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly dispatchCycles = new Counter({
    name: 'caspian_dispatch_cycles_total',
    help: 'Dispatch cycles by outcome (ok|error).',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly dispatchActions = new Counter({
    name: 'caspian_dispatch_actions_total',
    help: 'Spoke Job operations by cluster and action (created|deleted|adopted|failed).',
    labelNames: ['cluster', 'action'],
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: 'caspian_http_request_duration_seconds',
    help: 'HTTP requests to the hub API by method, route pattern and status code, seconds.',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
    registers: [this.registry],
  });
  private readonly skippedTicks = new Counter({
    name: 'caspian_loop_skipped_ticks_total',
    help: 'Loop ticks skipped because the previous cycle of the same loop was still running, by loop.',
    labelNames: ['loop'],
    registers: [this.registry],
  });
  private readonly decisions = new Counter({
    name: 'caspian_decisions_total',
    help: 'Schedule decisions recorded in the decision log (plans that are new or moved a job). Unit: decisions. No labels.',
    registers: [this.registry],
  });
  private readonly decisionLogFailures = new Counter({
    name: 'caspian_decision_log_failures_total',
    help: 'Failed attempts to open or append to the decision log file (decisions.path); the decisions stay in memory. Unit: failures. No labels.',
    registers: [this.registry],
  });
  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Where the AppWrapper gauges read their values at scrape time. */
  observeStore(counts: () => Promise<StoreCounts>): void {
    this.storeCounts = counts;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  // --- clusters -----------------------------------------------------------------------------
  registerClusters(clusters: readonly string[]): void {
    this.clustersRegistered.inc(clusters.length);
    for (const cluster of clusters) this.clusterReady.set({ cluster }, 0);
  }

  setClusterStatus(cluster: string, ready: boolean, allocatable: { cpu: number; memGb: number; gpu: number }): void {
    this.clusterReady.set({ cluster }, ready ? 1 : 0);
    this.clusterAllocatable.set({ cluster, resource: 'cpu' }, allocatable.cpu);
    this.clusterAllocatable.set({ cluster, resource: 'mem_gb' }, allocatable.memGb);
    this.clusterAllocatable.set({ cluster, resource: 'gpu' }, allocatable.gpu);
  }

  setClustersReady(count: number): void {
    this.clustersReady.set(count);
  }

  // --- carbon -------------------------------------------------------------------------------
  setCarbonIntensity(zone: string, gco2PerKwh: number): void {
    this.carbonIntensity.set({ zone }, gco2PerKwh);
  }

  recordCarbonRefresh(provider: string, outcome: CycleOutcome): void {
    this.carbonRefreshes.inc({ provider, outcome });
  }

  recordCarbonFetchError(provider: string, reason: string): void {
    this.carbonFetchErrors.inc({ provider, reason });
  }

  /** The forecast value at each lead time; a lead time the forecast does not reach is dropped, not left at an old value. */
  setCarbonForecast(zone: string, byHorizon: ReadonlyMap<string, number | undefined>): void {
    for (const [horizon, value] of byHorizon) {
      if (value === undefined) this.carbonForecast.remove({ zone, horizon });
      else this.carbonForecast.set({ zone, horizon }, value);
    }
  }

  setCarbonDataAge(zone: string, seconds: number): void {
    this.carbonDataAge.set({ zone }, seconds);
  }

  setCarbonSource(zone: string, source: string, previous: string | undefined, stale: boolean): void {
    if (previous !== undefined && previous !== source) this.carbonSource.remove({ zone, source: previous });
    this.carbonSource.set({ zone, source }, 1);
    this.carbonStale.set({ zone }, stale ? 1 : 0);
  }

  // --- AppWrappers --------------------------------------------------------------------------
  recordSubmission(): void {
    this.submitted.inc();
  }

  recordPruned(count: number): void {
    this.pruned.inc(count);
  }

  recordTransition(from: Phase | 'new', to: Phase): void {
    this.transitions.inc({ from, to });
  }

  // --- schedule -----------------------------------------------------------------------------
  recordScheduleCycle(
    outcome: CycleOutcome,
    durationSeconds: number,
    solve?: { solver: string; status: string; objectiveGco2: number; gap: number | null; unschedulable: number; co2ByCluster: ReadonlyMap<string, number> },
  ): void {
    this.scheduleCycles.inc({ outcome });
    this.scheduleDuration.observe(durationSeconds);
    if (!solve) return;
    this.solves.inc({ solver: solve.solver, status: solve.status });
    this.scheduleObjective.set(solve.objectiveGco2);
    if (solve.gap !== null) this.scheduleGap.set(solve.gap);
    this.unschedulable.set(solve.unschedulable);
    this.co2Planned.reset();
    for (const [cluster, grams] of solve.co2ByCluster) this.co2Planned.set({ cluster }, grams);
  }

  recordOptimizerFailure(): void {
    this.optimizerFailures.inc();
  }

  recordPlacement(cluster: string): void {
    this.placements.inc({ cluster });
  }

  recordMigration(fromCluster: string, toCluster: string, dataGb: number, costGco2: number): void {
    const labels = { from_cluster: fromCluster, to_cluster: toCluster };
    this.migrations.inc(labels);
    this.migrationData.inc(labels, dataGb);
    this.migrationCost.inc(labels, costGco2);
  }

  recordDecisions(count: number): void {
    this.decisions.inc(count);
  }

  recordDecisionLogFailure(): void {
    this.decisionLogFailures.inc();
  }

  // --- dispatch -----------------------------------------------------------------------------
  recordDispatchCycle(outcome: CycleOutcome, durationSeconds: number): void {
    this.dispatchCycles.inc({ outcome });
    this.dispatchDuration.observe(durationSeconds);
  }

  recordDispatchAction(cluster: string, action: DispatchAction): void {
    this.dispatchActions.inc({ cluster, action });
  }

  // --- API ---------------------------------------------------------------------------------
  /** `route` is the route's pattern (e.g. `/hub/appwrappers/:id`) or `unmatched`: never the raw URL. */
  observeHttpRequest(method: string, route: string, status: number, seconds: number): void {
    this.httpDuration.observe({ method, route, status: String(status) }, seconds);
  }

  // --- loops --------------------------------------------------------------------------------
  recordSkippedTick(loop: string): void {
    this.skippedTicks.inc({ loop });
  }
}
