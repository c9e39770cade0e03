import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CarbonFaultReason } from '../carbon/types.js';
import { canTransition, PHASES, POOLS, URGENCIES, type CarbonAccount, type Phase } from '../domain/app-wrapper.js';
import { LOG_DROP_REASONS, type LogDropReason } from '../platform/line-buffer.js';
import { LISTED_RESOURCES, type ListedResource } from '../spokes/types.js';
import type { Store, StoreCounts } from '../store/types.js';

const CYCLE_OUTCOMES = ['ok', 'error'] as const;
export type CycleOutcome = (typeof CYCLE_OUTCOMES)[number];
const DISPATCH_ACTIONS = ['created', 'deleted', 'adopted', 'failed'] as const;
export type DispatchAction = (typeof DISPATCH_ACTIONS)[number];
/** Why a decided migration was not carried out. */
const MIGRATION_DROP_REASONS = ['refused', 'cannot_resume', 'too_late', 'replanned', 'finished', 'cancelled', 'cluster_removed', 'cluster_lost', 'not_allowed'] as const;
export type MigrationDropReason = (typeof MIGRATION_DROP_REASONS)[number];
/** The hub's periodic loops, as `caspian_loop_skipped_ticks_total` names them. */
const LOOPS = ['carbon', 'schedule', 'dispatch'] as const;
export type LoopName = (typeof LOOPS)[number];
const SKIP_REASONS = ['busy', 'late'] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];
const WHAT_IF_KINDS = ['dry_run', 'whatif'] as const;
// A Record, so that a reason added to CarbonFaultReason and not here fails to compile.
const CARBON_FAULT_REASONS = Object.keys({
  timeout: 0,
  auth: 0,
  rate_limited: 0,
  http_4xx: 0,
  http_5xx: 0,
  malformed: 0,
  no_data: 0,
  units: 0,
  network: 0,
  stale: 0,
} satisfies Record<CarbonFaultReason, 0>) as CarbonFaultReason[];

/** Decimal gigabytes, as `data_gb` counts them. */
const BYTES_PER_GB = 1e9;
const LINT_BREAKING_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * Every Prometheus metric of the hub, behind recorder methods so that the loops and the API never touch
 * prom-client types. Label values are bounded: phases, cluster/region/zone names from the configuration,
 * solver names and fixed outcome words; never job ids.
 *
 * The unprefixed names (`migrations_total`, `grid_carbon_intensity_gco2_per_kwh`, ...) are the ones the
 * seed's dashboards and runbooks query; everything added since carries the `caspian_` prefix.
 *
 * Two of the SPEC's counters break Prometheus naming (`promtool check metrics`: a counter without `_total`,
 * an abbreviated unit), so /metrics exposes them under conventional names and Prometheus restores the
 * SPEC's names with recording rules (prometheus-rules.yml, loaded by prometheus.yml):
 * `migration_data_transferred_gb` = `caspian_migration_data_transferred_bytes_total / 1e9` (bytes are the
 * base unit) and `migration_cost_gco2` = `caspian_migration_cost_gco2_total`, labels kept. Every help text
 * states the unit and the label values; a test holds every metric to that.
 */
export class Metrics {
  readonly registry = new Registry();

  private readonly carbonIntensity = new Gauge({
    name: 'grid_carbon_intensity_gco2_per_kwh',
    help: 'Current grid carbon intensity by zone. Unit: gCO2/kWh. Labels: zone (a regions[].zone of the configuration, e.g. KR, JP-TK).',
    labelNames: ['zone'],
    registers: [this.registry],
  });
  private readonly carbonRefreshes = new Counter({
    name: 'caspian_carbon_refreshes_total',
    help: 'Carbon-intensity refreshes of the hub\'s provider, one per zone each time the carbon loop runs. Unit: zone refreshes. Labels: provider (carbon.provider, or the chain with its fallbacks, e.g. electricitymaps>file), outcome (ok|error).',
    labelNames: ['provider', 'outcome'],
    registers: [this.registry],
  });
  private readonly carbonFetchErrors = new Counter({
    name: 'caspian_carbon_fetch_errors_total',
    help: 'Carbon provider faults, also those a fallback answered for. Unit: faults. Labels: provider (carbon.provider or one of carbon.fallback: mock|electricitymaps|watttime|carbon-aware-sdk|file; last-known when the last known value served is stale), reason (timeout|auth|rate_limited|http_4xx|http_5xx|malformed|no_data|units|network|stale; no_data: a well-formed answer with no value for the zone, e.g. an Electricity Maps carbonIntensity of null).',
    labelNames: ['provider', 'reason'],
    registers: [this.registry],
  });
  private readonly carbonForecast = new Gauge({
    name: 'caspian_carbon_forecast_gco2_per_kwh',
    help: 'Carbon intensity expected at a lead time. Unit: gCO2/kWh. Labels: zone (a regions[].zone of the configuration, e.g. KR, JP-TK), horizon (1h|3h|6h|12h|24h).',
    labelNames: ['zone', 'horizon'],
    registers: [this.registry],
  });
  private readonly carbonDataAge = new Gauge({
    name: 'caspian_carbon_data_age_seconds',
    help: 'Age of the current carbon value: time since its source delivered it; no series while nothing was ever delivered (a configured stand-in fills the zone). Unit: seconds. Labels: zone (a regions[].zone of the configuration, e.g. KR, JP-TK).',
    labelNames: ['zone'],
    registers: [this.registry],
  });
  private readonly carbonSource = new Gauge({
    name: 'caspian_carbon_source_info',
    help: 'Where the current carbon value of a zone comes from, 1 for the source in use. Unit: none (info metric, always 1). Labels: zone (a regions[].zone of the configuration, e.g. KR, JP-TK), source (the provider\'s source tag, e.g. electricitymaps, file, mock:diurnal, last-known, constant).',
    labelNames: ['zone', 'source'],
    registers: [this.registry],
  });
  private readonly carbonStale = new Gauge({
    name: 'caspian_carbon_stale',
    help: 'Whether the carbon value of a zone is older than carbon.max_staleness_seconds, a configured stand-in, or missing (no provider delivered one yet). Unit: boolean (1 stale, 0 fresh). Labels: zone (a regions[].zone of the configuration, e.g. KR, JP-TK).',
    labelNames: ['zone'],
    registers: [this.registry],
  });
  private readonly submitted = new Counter({
    name: 'appwrappers_total',
    help: 'AppWrappers accepted by the hub since it started. Unit: AppWrappers. No labels.',
    registers: [this.registry],
  });
  private store: Pick<Store, 'counts' | 'fault' | 'oldestPendingWriteSeconds'> | undefined;
  private readonly running = new Gauge({
    name: 'appwrappers_running',
    help: 'AppWrappers whose Job is running on a spoke now. Unit: AppWrappers. No labels.',
    registers: [this.registry],
    collect: async () => {
      const counts = await this.storeCounts();
      if (counts) this.running.set(counts.byPhase.Running);
    },
  });
  private readonly byPhase = new Gauge({
    name: 'caspian_appwrappers',
    help: 'AppWrappers in the store. Unit: AppWrappers. Labels: phase (Pending|Planned|Dispatched|Running|Succeeded|Failed|Unschedulable|Cancelled).',
    labelNames: ['phase'],
    registers: [this.registry],
    collect: async () => {
      const counts = await this.storeCounts();
      if (counts) for (const phase of PHASES) this.byPhase.set({ phase }, counts.byPhase[phase]);
    },
  });
  private readonly pruned = new Counter({
    name: 'caspian_appwrappers_pruned_total',
    help: 'Finished AppWrappers forgotten after their retention period (store.retention_hours). Unit: AppWrappers. No labels.',
    registers: [this.registry],
  });
  private readonly transitions = new Counter({
    name: 'caspian_phase_transitions_total',
    help: 'AppWrapper phase transitions. Unit: transitions. Labels: from (new, or the phase left), to (the phase entered); phases: Pending|Planned|Dispatched|Running|Succeeded|Failed|Unschedulable|Cancelled.',
    labelNames: ['from', 'to'],
    registers: [this.registry],
  });
  private readonly clustersRegistered = new Counter({
    name: 'clusters_total',
    help: 'Spoke clusters registered with the hub from its configuration. Unit: clusters. No labels.',
    registers: [this.registry],
  });
  private readonly clustersReady = new Gauge({
    name: 'clusters_ready',
    help: 'Spoke clusters that answer in full: their last status check, and their Jobs since a list of them failed. Unit: clusters. No labels.',
    registers: [this.registry],
  });
  private readonly clusterReady = new Gauge({
    name: 'caspian_cluster_ready',
    help: 'Whether a spoke cluster answers in full: its last status check, and its Jobs since a list of them failed. Unit: boolean (1 ready, 0 not). Labels: cluster (a regions[].cluster of the configuration, e.g. carbon-kr).',
    labelNames: ['cluster'],
    registers: [this.registry],
  });
  private readonly clusterAllocatable = new Gauge({
    name: 'caspian_cluster_allocatable',
    help: 'Allocatable resources of a spoke cluster that answers in full; absent while it does not (caspian_cluster_ready 0), as what it last reported is no capacity the hub can plan on. Unit: per resource, cpu in cores, mem_gb in GiB (as Kubernetes counts memory), gpu in devices. Labels: cluster (a regions[].cluster of the configuration, e.g. carbon-kr), resource (cpu|mem_gb|gpu).',
    labelNames: ['cluster', 'resource'],
    registers: [this.registry],
  });
  private readonly spokeListRestarts = new Counter({
    name: 'caspian_spoke_list_restarts_total',
    help: 'Chunked lists of a Kubernetes spoke read again in one request because their continue token expired (410 Gone, etcd compacted meanwhile); the read succeeded. Often: raise spokes.list_chunk_size. Unit: lists. Labels: cluster (a regions[].cluster of the configuration, e.g. carbon-kr), resource (nodes|pods|jobs).',
    labelNames: ['cluster', 'resource'],
    registers: [this.registry],
  });
  private readonly requeued = new Counter({
    name: 'caspian_jobs_requeued_total',
    help: 'Live jobs (Dispatched or Running) taken off a cluster that did not answer for longer than spokes.lost_after_seconds, and put back to Pending to run again, from the start, on a cluster that answers; their Job there is deleted once it answers again. Also Planned jobs whose gate create there went unanswered, planned afresh elsewhere. Unit: jobs. Labels: cluster (the lost one, a regions[].cluster of the configuration, e.g. carbon-kr).',
    labelNames: ['cluster'],
    registers: [this.registry],
  });
  private readonly migrations = new Counter({
    name: 'migrations_total',
    help: 'Jobs whose target cluster changed. Unit: migrations. Labels: from_cluster, to_cluster (a regions[].cluster of the configuration, e.g. carbon-kr).',
    labelNames: ['from_cluster', 'to_cluster'],
    registers: [this.registry],
  });
  private readonly migrationsDropped = new Counter({
    name: 'caspian_migrations_dropped_total',
    help: 'Migrations decided (and counted in migrations_total) that the dispatcher did not carry out; the job stays in from_cluster (unless from_cluster was lost). Unit: migrations. Labels: from_cluster, to_cluster (a regions[].cluster of the configuration, e.g. carbon-kr), reason (refused: to_cluster refused the new Job; cannot_resume: the job started running before the move and does not checkpoint; too_late: carried out late (to_cluster unreachable, hub stopped), the rest of the run on the target pool would end past the deadline; replanned: a later plan sent it elsewhere, or kept it where it runs, before the move was carried out; finished: the job succeeded or failed in from_cluster first; cancelled: the job was cancelled first; cluster_removed: from_cluster or to_cluster is no longer in the configuration; cluster_lost: from_cluster stopped answering for longer than spokes.lost_after_seconds and the job was requeued; not_allowed: the hub restarted with migration.allow false before carrying it out).',
    labelNames: ['from_cluster', 'to_cluster', 'reason'],
    registers: [this.registry],
  });
  private readonly migrationData = new Counter({
    name: 'caspian_migration_data_transferred_bytes_total',
    help: 'Data moved with migrated jobs (their data_gb). Unit: bytes. Labels: from_cluster, to_cluster (a regions[].cluster of the configuration, e.g. carbon-kr). Prometheus records it in GB as migration_data_transferred_gb (prometheus-rules.yml).',
    labelNames: ['from_cluster', 'to_cluster'],
    registers: [this.registry],
  });
  private readonly migrationCost = new Counter({
    name: 'caspian_migration_cost_gco2_total',
    help: 'Carbon charged for migrations: plan deviation (migration.lambda_plan_dev) plus network (network_gco2_per_gb x data). Unit: gCO2. Labels: from_cluster, to_cluster (a regions[].cluster of the configuration, e.g. carbon-kr). Prometheus records it as migration_cost_gco2 (prometheus-rules.yml).',
    labelNames: ['from_cluster', 'to_cluster'],
    registers: [this.registry],
  });
  private readonly migrationsInProgress = new Gauge({
    name: 'migrations_in_progress',
    help: 'Migrations of live Jobs decided but not yet completed (no new Job in the target cluster yet). Unit: migrations. No labels.',
    registers: [this.registry],
    collect: async () => {
      const counts = await this.storeCounts();
      if (counts) this.migrationsInProgress.set(counts.migrating);
    },
  });
  private readonly jobsUnconfirmed = new Gauge({
    name: 'caspian_jobs_unconfirmed',
    help: 'AppWrappers with a Job whose create was sent to a spoke and never answered, so it may or may not exist. Such a job keeps its room on that cluster and is not replanned until the cluster answers (the Job then adopted or made again) or counts as lost (spokes.lost_after_seconds). Unit: AppWrappers. No labels.',
    registers: [this.registry],
    collect: async () => {
      const counts = await this.storeCounts();
      if (counts) this.jobsUnconfirmed.set(counts.unconfirmed);
    },
  });
  private readonly storeDurable = new Histogram({
    name: 'caspian_store_durable_seconds',
    help: 'Time from the first write of a store batch until the batch is committed (with store.synchronous full, fsynced) and its writes acknowledged: the longest a write of it waited for the disk. Unit: seconds. No labels. SQLite store only.',
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly storeBatchWrites = new Histogram({
    name: 'caspian_store_batch_writes',
    help: 'Writes committed together in one store batch (group commit: one transaction, one fsync). Unit: writes. No labels. SQLite store only.',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    registers: [this.registry],
  });
  private readonly storeFailed = new Gauge({
    name: 'caspian_store_failed',
    help: 'Whether the store refuses every change until the hub restarts (a failed commit); GET /health then answers 503. Unit: boolean (1 failed, 0 working). No labels.',
    registers: [this.registry],
    collect: () => {
      this.storeFailed.set(this.store?.fault() === undefined ? 0 : 1);
    },
  });
  private readonly storeOldestPending = new Gauge({
    name: 'caspian_store_oldest_pending_write_seconds',
    help: 'How long the oldest write not yet on disk has waited, at scrape time; 0 when none waits. A disk that stalls shows here while it stalls (caspian_store_durable_seconds only once the commit ends); every submission waits that long. Unit: seconds. No labels.',
    registers: [this.registry],
    collect: () => {
      this.storeOldestPending.set(this.store?.oldestPendingWriteSeconds() ?? 0);
    },
  });
  private readonly scheduleDuration = new Histogram({
    name: 'caspian_schedule_duration_seconds',
    help: 'Wall time of a schedule cycle. Unit: seconds. No labels.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  private readonly scheduleCycles = new Counter({
    name: 'caspian_schedule_cycles_total',
    help: 'Schedule cycles. Unit: cycles. Labels: outcome (ok|error).',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly scheduleObjective = new Gauge({
    name: 'caspian_schedule_objective_gco2',
    help: 'Objective of the last plan: run carbon plus migration charges. Unit: gCO2. No labels.',
    registers: [this.registry],
  });
  private readonly scheduleGap = new Gauge({
    name: 'caspian_schedule_gap_ratio',
    help: 'Relative gap between the last plan and its proven lower bound. Unit: ratio (0 = proven optimal; NaN when the last plan has no bound, e.g. from the greedy fallback). No labels.',
    registers: [this.registry],
  });
  private readonly solves = new Counter({
    name: 'caspian_solves_total',
    help: 'Optimizer runs. Unit: solves. Labels: solver (jslp|highs|lagrangian|hybrid|greedy), status (optimal|feasible|timedout|error).',
    labelNames: ['solver', 'status'],
    registers: [this.registry],
  });
  private readonly optimizerFailures = new Counter({
    name: 'caspian_optimizer_failures_total',
    help: 'Schedule cycles whose optimizer call failed (crashed or stuck worker, solver bug) and fell back to the in-process greedy solver. Unit: cycles. No labels.',
    registers: [this.registry],
  });
  private readonly placements = new Counter({
    name: 'caspian_placements_total',
    help: 'Plans applied to AppWrappers. Unit: placements. Labels: cluster (a regions[].cluster of the configuration, e.g. carbon-kr).',
    labelNames: ['cluster'],
    registers: [this.registry],
  });
  private readonly unschedulable = new Gauge({
    name: 'caspian_unschedulable_jobs',
    help: 'Jobs the last schedule cycle could not place. Unit: jobs. No labels.',
    registers: [this.registry],
  });
  private readonly outsidePlan = new Gauge({
    name: 'caspian_jobs_outside_plan',
    help: 'Running jobs the last schedule cycle left outside its plan because their cluster no longer has their pool in the configuration, their pool is too slow for one slot to fit the horizon, or the optimizer gave their room to other jobs (the cluster has less free than its running jobs hold): they run on where they are, their cores held for them, and the plan cannot move them. Unit: jobs. No labels.',
    registers: [this.registry],
  });
  private readonly deferred = new Gauge({
    name: 'caspian_jobs_deferred',
    help: 'Waiting jobs (Pending, Unschedulable) the last schedule cycle left for a later one because planning them too would have exceeded optimizer.max_options candidate starts; those with the earliest latest start go first, and one due to start before the next cycle always goes. Unit: jobs. No labels.',
    registers: [this.registry],
  });
  private readonly co2Planned = new Gauge({
    name: 'caspian_co2_planned_grams',
    help: 'Planned emissions of the jobs in the last plan. Unit: gCO2. Labels: cluster (a regions[].cluster of the configuration, e.g. carbon-kr).',
    labelNames: ['cluster'],
    registers: [this.registry],
  });
  private readonly dispatchDuration = new Histogram({
    name: 'caspian_dispatch_duration_seconds',
    help: 'Wall time of a dispatch cycle. Unit: seconds. No labels.',
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly dispatchCycles = new Counter({
    name: 'caspian_dispatch_cycles_total',
    help: 'Dispatch cycles. Unit: cycles. Labels: outcome (ok|error).',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly dispatchActions = new Counter({
    name: 'caspian_dispatch_actions_total',
    help: 'Spoke Job operations. Unit: operations. Labels: cluster (a regions[].cluster of the configuration, e.g. carbon-kr), action (created|deleted|adopted|failed).',
    labelNames: ['cluster', 'action'],
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: 'caspian_http_request_duration_seconds',
    help: 'Latency of HTTP requests to the hub API, until the answer is written (with the memory store, answers of at most 4 KiB wait for the end of their event-loop turn, to leave together). Unit: seconds. Labels: method (GET|POST|DELETE|..., or unparsed for what the HTTP parser refused), route (the route pattern, e.g. /hub/appwrappers/:id, or unmatched; never a raw URL), status (the HTTP status code).',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
    registers: [this.registry],
  });
  private readonly httpAbandoned = new Counter({
    name: 'caspian_http_requests_abandoned_total',
    help: 'HTTP requests whose client closed the connection before the answer (a client time-out, a proxy limit, a scrape past its scrape_timeout); they have no sample in caspian_http_request_duration_seconds. Unit: requests. Labels: method (GET|POST|DELETE|...), route (the route pattern, or unmatched).',
    labelNames: ['method', 'route'],
    registers: [this.registry],
  });
  private readonly skippedTicks = new Counter({
    name: 'caspian_loop_skipped_ticks_total',
    help: 'Loop ticks that did not run a cycle. Unit: ticks. Labels: loop (carbon|schedule|dispatch), reason (busy: the previous cycle of the loop was still running; late: the tick came more than half a period late, the event loop blocked past it).',
    labelNames: ['loop', 'reason'],
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
  private readonly logLinesDropped = new Counter({
    name: 'caspian_log_lines_dropped_total',
    help: 'Log lines the hub could not write to stdout and dropped (the log cannot say so itself). Unit: lines. Labels: reason (pipe_full: the reader did not drain the pipe within a second; write_error: another write error, e.g. a full disk; reader_gone: the reader closed the pipe, every later line is dropped).',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly jobCo2 = new Counter({
    name: 'caspian_job_co2_grams_total',
    help: "CO2 emitted by finished jobs while they ran, counted when each finishes: its power (cpu x energy.watt_cpu + gpu x watt_gpu + mem_gb x watt_mem_gb, times the pool's power_factor) times the grid intensity measured in its cluster's zone over its run. A migrated job's run counts leg by leg on the cluster and pool of each leg; its legs sum to its carbon account's actual_g. Unit: gCO2. Labels: cluster (a regions[].cluster of the configuration where the leg ran, e.g. carbon-kr), pool (FAST|ECO), urgency (urgent|normal|flexible).",
    labelNames: ['cluster', 'pool', 'urgency'],
    registers: [this.registry],
  });
  private readonly jobCo2Planned = new Counter({
    name: 'caspian_job_co2_planned_grams_total',
    help: 'CO2 the last plan of each finished job expected it to emit (its co2_estimate_g), counted when it finishes, on the cluster and pool where it finished (a job-level figure: the estimate of the whole run by the last plan, also for a migrated job): compare with caspian_job_co2_grams_total. Unit: gCO2. Labels: cluster (a regions[].cluster of the configuration where the job finished, e.g. carbon-kr), pool (FAST|ECO), urgency (urgent|normal|flexible).',
    labelNames: ['cluster', 'pool', 'urgency'],
    registers: [this.registry],
  });
  private readonly co2Saved = new Counter({
    name: 'caspian_co2_saved_grams_total',
    help: 'CO2 finished jobs saved against running at once in their first allowed region on FAST workers (counterfactual minus actual), for the jobs where that is positive. A counter cannot go down: jobs that emitted more than the counterfactual add the excess to caspian_co2_saved_negative_grams_total, and the net saving is this minus that. A job-level figure, counted on the cluster where the job finished (also for a migrated job). Unit: gCO2. Labels: cluster (a regions[].cluster of the configuration where the job finished, e.g. carbon-kr), urgency (urgent|normal|flexible).',
    labelNames: ['cluster', 'urgency'],
    registers: [this.registry],
  });
  private readonly co2SavedNegative = new Counter({
    name: 'caspian_co2_saved_negative_grams_total',
    help: 'CO2 finished jobs emitted beyond their counterfactual (running at once in their first allowed region on FAST workers): negative savings, as a positive amount. Net saving = caspian_co2_saved_grams_total minus this. A job-level figure, counted on the cluster where the job finished (also for a migrated job). Unit: gCO2. Labels: cluster (a regions[].cluster of the configuration where the job finished, e.g. carbon-kr), urgency (urgent|normal|flexible).',
    labelNames: ['cluster', 'urgency'],
    registers: [this.registry],
  });
  private readonly poolCapacity = new Gauge({
    name: 'caspian_pool_capacity',
    help: 'Free capacity a worker pool offers the optimizer for the current slot: its share of the cluster, FAST cut when scaled down for a dirty grid. Unit: per resource, cpu in cores, mem_gb in GiB (as Kubernetes counts memory), gpu in devices. Labels: cluster (a regions[].cluster of the configuration, e.g. carbon-kr), pool (FAST|ECO), resource (cpu|mem_gb|gpu).',
    labelNames: ['cluster', 'pool', 'resource'],
    registers: [this.registry],
  });
  private readonly fastScaledDown = new Gauge({
    name: 'caspian_pool_fast_scaled_down',
    help: "Whether a cluster's FAST pool is scaled down now because its grid is dirtier than regions[].fast_scale_down.threshold_gco2_per_kwh. Unit: boolean (1 scaled down, 0 full). Labels: cluster (a regions[].cluster of the configuration with fast_scale_down set, e.g. carbon-kr).",
    labelNames: ['cluster'],
    registers: [this.registry],
  });
  private readonly whatIfs = new Counter({
    name: 'caspian_whatif_requests_total',
    help: 'Plans worked out and not applied: POST /hub/schedule?dry_run=true and POST /hub/whatif. Unit: requests. Labels: kind (dry_run|whatif).',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      // prom-client's `nodejs_active_{handles,requests,resources}_total` are gauges with a counter's suffix,
      // which promtool rejects; each is the sum of `nodejs_active_{handles,requests,resources}{type}`, which stay.
      for (const name of LINT_BREAKING_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    }
    // Counters start at 0 for every label set known up front: a series born at 1 hides its first event
    // from increase() and rate(), and a rare event (one migration) would never show on the dashboard. The
    // label sets of the configuration start in registerClusters, registerCarbonProvider and registerSolvers.
    for (const outcome of CYCLE_OUTCOMES) {
      this.scheduleCycles.inc({ outcome }, 0);
      this.dispatchCycles.inc({ outcome }, 0);
    }
    for (const kind of WHAT_IF_KINDS) this.whatIfs.inc({ kind }, 0);
    for (const loop of LOOPS) for (const reason of SKIP_REASONS) this.skippedTicks.inc({ loop, reason }, 0);
    for (const reason of LOG_DROP_REASONS) this.logLinesDropped.inc({ reason }, 0);
    this.transitions.inc({ from: 'new', to: 'Pending' }, 0);
    for (const from of PHASES) for (const to of PHASES) if (from !== to && canTransition(from, to)) this.transitions.inc({ from, to }, 0);
  }

  /** Where the AppWrapper gauges read their values at scrape time. */
  observeStore(store: Pick<Store, 'counts' | 'fault' | 'oldestPendingWriteSeconds'>): void {
    this.store = store;
  }

  /**
   * The store's counts for a scrape; undefined without a store, or when a failed store refuses to answer
   * (its failure is logged where it happens): the gauges then keep their last values, and the scrape still
   * succeeds, carrying `caspian_store_failed`.
   */
  private async storeCounts(): Promise<StoreCounts | undefined> {
    return this.store?.counts().catch(() => undefined);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  // --- clusters -----------------------------------------------------------------------------
  /** The configured clusters: counted, and every counter labelled with them started at 0. */
  registerClusters(clusters: readonly string[]): void {
    this.clustersRegistered.inc(clusters.length);
    for (const cluster of clusters) {
      this.clusterReady.set({ cluster }, 0);
      this.placements.inc({ cluster }, 0);
      for (const resource of LISTED_RESOURCES) this.spokeListRestarts.inc({ cluster, resource }, 0);
      this.requeued.inc({ cluster }, 0);
      for (const action of DISPATCH_ACTIONS) this.dispatchActions.inc({ cluster, action }, 0);
      for (const urgency of URGENCIES) {
        this.co2Saved.inc({ cluster, urgency }, 0);
        this.co2SavedNegative.inc({ cluster, urgency }, 0);
        for (const pool of POOLS) {
          this.jobCo2.inc({ cluster, pool, urgency }, 0);
          this.jobCo2Planned.inc({ cluster, pool, urgency }, 0);
        }
      }
      for (const to of clusters) {
        if (to === cluster) continue;
        const route = { from_cluster: cluster, to_cluster: to };
        this.migrations.inc(route, 0);
        this.migrationData.inc(route, 0);
        this.migrationCost.inc(route, 0);
        for (const reason of MIGRATION_DROP_REASONS) this.migrationsDropped.inc({ ...route, reason }, 0);
      }
    }
  }

  recordRequeue(cluster: string): void {
    this.requeued.inc({ cluster });
  }

  recordSpokeListRestart(cluster: string, resource: ListedResource): void {
    this.spokeListRestarts.inc({ cluster, resource });
  }

  /** A cluster that does not answer has no allocatable series: a sum over clusters then counts only usable capacity. */
  setClusterStatus(cluster: string, ready: boolean, allocatable: { cpu: number; memGb: number; gpu: number }): void {
    this.clusterReady.set({ cluster }, ready ? 1 : 0);
    const amounts = [
      ['cpu', allocatable.cpu],
      ['mem_gb', allocatable.memGb],
      ['gpu', allocatable.gpu],
    ] as const;
    for (const [resource, amount] of amounts) {
      if (ready) this.clusterAllocatable.set({ cluster, resource }, amount);
      else this.clusterAllocatable.remove({ cluster, resource });
    }
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

  /** The solvers and statuses a solve may report, each counted from 0. */
  registerSolvers(solvers: readonly string[], statuses: readonly string[]): void {
    for (const solver of solvers) for (const status of statuses) this.solves.inc({ solver, status }, 0);
  }

  /**
   * The hub's carbon provider: its refreshes (`name`, e.g. electricitymaps>file>last-known) by outcome, the
   * faults of each configured provider (`configured`: carbon.provider and carbon.fallback) by reason, and the
   * stale faults of the chain's last known value (`lastKnown`, its source name), start at 0.
   */
  registerCarbonProvider(name: string, configured: readonly string[], lastKnown: string): void {
    for (const outcome of CYCLE_OUTCOMES) this.carbonRefreshes.inc({ provider: name, outcome }, 0);
    for (const provider of configured) for (const reason of CARBON_FAULT_REASONS) this.carbonFetchErrors.inc({ provider, reason }, 0);
    this.carbonFetchErrors.inc({ provider: lastKnown, reason: 'stale' }, 0);
  }

  recordCarbonFetchError(provider: string, reason: CarbonFaultReason): void {
    this.carbonFetchErrors.inc({ provider, reason });
  }

  /** The forecast value at each lead time; a lead time the forecast does not reach is dropped, not left at an old value. */
  setCarbonForecast(zone: string, byHorizon: ReadonlyMap<string, number | undefined>): void {
    for (const [horizon, value] of byHorizon) {
      if (value === undefined) this.carbonForecast.remove({ zone, horizon });
      else this.carbonForecast.set({ zone, horizon }, value);
    }
  }

  /** Null: nothing was ever delivered for the zone, so it has no age (the series goes, as for a zone with no value). */
  setCarbonDataAge(zone: string, seconds: number | null): void {
    if (seconds === null) this.carbonDataAge.remove({ zone });
    else this.carbonDataAge.set({ zone }, seconds);
  }

  /** A zone with no carbon value yet: stale, so that the alert on `caspian_carbon_stale` covers it too. */
  setCarbonMissing(zone: string): void {
    this.carbonStale.set({ zone }, 1);
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

  // --- store --------------------------------------------------------------------------------
  recordStoreBatch(writes: number, seconds: number): void {
    this.storeBatchWrites.observe(writes);
    this.storeDurable.observe(seconds);
  }

  // --- schedule -----------------------------------------------------------------------------
  recordScheduleCycle(
    outcome: CycleOutcome,
    durationSeconds: number,
    solve?: { solver: string; status: string; objectiveGco2: number; gap: number | null; unschedulable: number; outsidePlan: number; deferred: number; co2ByCluster: ReadonlyMap<string, number> },
  ): void {
    this.scheduleCycles.inc({ outcome });
    this.scheduleDuration.observe(durationSeconds);
    if (!solve) return;
    this.solves.inc({ solver: solve.solver, status: solve.status });
    this.scheduleObjective.set(solve.objectiveGco2);
    // No bound, no gap: NaN rather than the last plan's gap, which would read as proven for this one.
    this.scheduleGap.set(solve.gap ?? Number.NaN);
    this.unschedulable.set(solve.unschedulable);
    this.outsidePlan.set(solve.outsidePlan);
    this.deferred.set(solve.deferred);
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
    this.migrationData.inc(labels, dataGb * BYTES_PER_GB);
    this.migrationCost.inc(labels, costGco2);
  }

  recordMigrationDropped(fromCluster: string, toCluster: string, reason: MigrationDropReason): void {
    this.migrationsDropped.inc({ from_cluster: fromCluster, to_cluster: toCluster, reason });
  }

  recordDecisions(count: number): void {
    this.decisions.inc(count);
  }

  recordDecisionLogFailure(): void {
    this.decisionLogFailures.inc();
  }

  recordLogLinesDropped(reason: LogDropReason, lines: number): void {
    if (lines > 0) this.logLinesDropped.inc({ reason }, lines);
  }

  // --- carbon accounting --------------------------------------------------------------------
  /**
   * A finished job's account: the actual grams of each leg of its run on the cluster and pool it ran on; the
   * job-level planned grams and saving (on the positive or, as a positive amount, the negative counter) on
   * the cluster and pool where it finished.
   */
  recordCarbonAccount(
    urgency: string,
    finishedOn: { cluster: string; pool: string },
    account: Pick<CarbonAccount, 'plannedG' | 'savedG' | 'legs'>,
  ): void {
    for (const leg of account.legs ?? []) this.jobCo2.inc({ cluster: leg.cluster, pool: leg.pool, urgency }, Math.max(0, leg.actualG));
    const { cluster, pool } = finishedOn;
    this.jobCo2Planned.inc({ cluster, pool, urgency }, Math.max(0, account.plannedG));
    // Both series of the pair move together, so that `saved - negative` in PromQL finds its match.
    this.co2Saved.inc({ cluster, urgency }, Math.max(0, account.savedG));
    this.co2SavedNegative.inc({ cluster, urgency }, Math.max(0, -account.savedG));
  }

  recordPoolCapacity(cluster: string, pool: string, free: { cpu: number; memGb: number; gpu: number }): void {
    this.poolCapacity.set({ cluster, pool, resource: 'cpu' }, free.cpu);
    this.poolCapacity.set({ cluster, pool, resource: 'mem_gb' }, free.memGb);
    this.poolCapacity.set({ cluster, pool, resource: 'gpu' }, free.gpu);
  }

  recordFastScaledDown(cluster: string, scaledDown: boolean): void {
    this.fastScaledDown.set({ cluster }, scaledDown ? 1 : 0);
  }

  recordWhatIf(kind: (typeof WHAT_IF_KINDS)[number]): void {
    this.whatIfs.inc({ kind });
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

  registerRoute(method: string, route: string): void {
    this.httpAbandoned.inc({ method, route }, 0);
  }

  recordHttpRequestAbandoned(method: string, route: string): void {
    this.httpAbandoned.inc({ method, route });
  }

  // --- loops --------------------------------------------------------------------------------
  recordSkippedTick(loop: LoopName, reason: SkipReason): void {
    this.skippedTicks.inc({ loop, reason });
  }
}
