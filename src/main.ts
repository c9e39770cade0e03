import type { FastifyInstance } from 'fastify';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { LineBuffer } from './platform/line-buffer.js';
import { buildApp } from './api/app.js';
import { createCarbonProvider } from './carbon/factory.js';
import { LAST_KNOWN } from './carbon/fallback-chain.js';
import { TraceFileError } from './carbon/file-provider.js';
import type { CarbonProvider } from './carbon/types.js';
import { ConfigError, horizonSlots, type Config, type RegionConfig } from './config/config.js';
import type { ClusterInfo } from './domain/cluster.js';
import { systemClock, type Clock } from './domain/clock.js';
import { DispatchCycle, type DispatchSummary } from './dispatcher/dispatch-cycle.js';
import { CarbonAccountant } from './hub/carbon-accountant.js';
import { CarbonFeed, carbonFaultHook } from './hub/carbon-feed.js';
import { CsvDecisionLog } from './hub/decision-log.js';
import { ClusterMonitor, spokeListRestartHook, type Spoke } from './hub/cluster-monitor.js';
import { Lifecycle } from './hub/lifecycle.js';
import { cronTicker, PeriodicLoop, type Ticker } from './hub/periodic-loop.js';
import { reconcile } from './hub/reconcile.js';
import { Metrics, type LoopName } from './metrics/metrics.js';
import { optimize, SOLVER_STATUSES, solverNames } from './optimizer/index.js';
import { ScheduleCycle, type OptimizeFn, type ScheduleSummary } from './scheduler/schedule-cycle.js';
import { ThreadedOptimizer } from './scheduler/threaded-optimize.js';
import { KubeconfigError } from './spokes/kubeconfig.js';
import { createKubernetesSpokes } from './spokes/kubernetes-spokes.js';
import { SimulatedSpoke } from './spokes/simulated-spoke.js';
import { MemoryStore } from './store/memory-store.js';
import { DB_FILE, SqliteStore, StoreOpenError } from './store/sqlite-store.js';
import type { Store } from './store/types.js';

/** Budget of the in-process greedy solve that stands in when the optimizer fails. */
const FALLBACK_SOLVE_SECONDS = 5;

/** Longest a single call to a spoke or a carbon provider may take. */
const ADAPTER_TIMEOUT_MS = 10_000;

/** Replacements for tests and simulations; production passes none. */
export interface HubOverrides {
  clock?: Clock;
  logger?: Logger;
  /** Ticker per loop period; default node-cron on wall-clock boundaries. */
  ticker?: (periodSeconds: number, name: string) => Ticker;
  carbonProvider?: CarbonProvider;
  spokes?: Spoke[];
  /** Default: the optimizer in a worker thread, so that a long solve never stalls the API. */
  optimize?: OptimizeFn;
  /** Default: the greedy solver in-process, bounded by FALLBACK_SOLVE_SECONDS. */
  fallbackOptimize?: OptimizeFn;
  /** Collect Node.js process metrics (default true; tests building many hubs turn it off). */
  processMetrics?: boolean;
}

export interface Hub {
  app: FastifyInstance;
  config: Config;
  lifecycle: Lifecycle;
  metrics: Metrics;
  logger: Logger;
  loops: { carbon: PeriodicLoop<string[]>; schedule: PeriodicLoop<ScheduleSummary>; dispatch: PeriodicLoop<DispatchSummary> };
  /** The schedule decisions kept in memory (the latest `decisions.memory_limit`). */
  decisions: CsvDecisionLog;
  /**
   * Fetches carbon data and cluster status once, then starts the loops and listens. Resolves with the
   * address; rejects if `stop()` was called before the loops started.
   */
  start(): Promise<string>;
  /**
   * Stops the loops (letting a running cycle finish), closes the server and the adapters; during `start()`,
   * once it has settled. Calling it again returns the same promise.
   */
  stop(): Promise<void>;
  /**
   * Resolves with the reason once the store has failed (a failed commit: it then refuses every change
   * until a restart reloads the file); never with the memory store.
   */
  storeFailure: Promise<string>;
  /** Writes the log lines still buffered; for exit paths that cannot wait for `stop()`. */
  flushLogs(): void;
}

/** Longest a log line waits in the buffer before it is written. */
const LOG_FLUSH_MS = 1000;

/**
 * JSON lines on stdout, buffered (see `LineBuffer`). Writes stay synchronous, so `flushSync` empties the
 * buffer at once: a timer does so every second, and so do `stop()`, the start-up line and the CLI's exit paths.
 */
function createLogger(config: Config, metrics: Metrics): { logger: Logger; flushSync: () => void; flushTimer: NodeJS.Timeout } {
  const destination = new LineBuffer(1, 4096, undefined, (reason, lines) => metrics.recordLogLinesDropped(reason, lines));
  const logger = pino({ level: config.log_level, base: { service: 'caspian-hub' } }, destination);
  const flushSync = () => destination.flushSync();
  const flushTimer = setInterval(flushSync, LOG_FLUSH_MS);
  flushTimer.unref();
  return { logger, flushSync, flushTimer };
}

/** A configured region's cluster as the hub's catalogue holds it (the strategy benchmark's KPIs read it too). */
export function clusterInfo(r: RegionConfig): ClusterInfo {
  return {
    name: r.cluster,
    region: r.name,
    zone: r.zone,
    pools: r.pools.map((p) => ({ name: p.name, share: p.share, speedFactor: p.speed_factor, powerFactor: p.power_factor, nodeSelector: p.node_selector })),
    ...(r.fast_scale_down && { fastScaleDown: { thresholdGco2PerKwh: r.fast_scale_down.threshold_gco2_per_kwh, capacityFactor: r.fast_scale_down.capacity_factor } }),
  };
}

/** One spoke per region: simulated clusters, or the Kubernetes clusters of the configured kubeconfig contexts. */
function spokesFor(config: Config, { clock, metrics, logger }: { clock: Clock; metrics: Metrics; logger: Logger }): Spoke[] {
  if (config.spokes.kind === 'simulated') {
    return config.regions.map((r) => {
      const info = clusterInfo(r);
      return { info, client: new SimulatedSpoke(r.cluster, { cpu: r.capacity.cpu, memGb: r.capacity.mem_gb, gpu: r.capacity.gpu }, clock, info.pools) };
    });
  }
  try {
    const spokes = createKubernetesSpokes({
      kubeconfigPath: config.spokes.kubeconfig,
      namespace: config.spokes.namespace,
      clusters: config.regions.map((r) => ({ name: r.cluster, region: r.name, zone: r.zone, context: r.context })),
      backoffLimit: config.spokes.backoff_limit,
      ttlSecondsAfterFinished: config.spokes.ttl_seconds_after_finished,
      requestTimeoutMs: config.spokes.request_timeout_ms,
      listChunkSize: config.spokes.list_chunk_size,
    }, { onListRestart: spokeListRestartHook({ metrics, logger }) });
    // Same order as config.regions; the pools come from the configuration, not from the cluster.
    return spokes.map((spoke, i) => ({ ...spoke, info: clusterInfo(config.regions[i]!) }));
  } catch (error) {
    if (error instanceof KubeconfigError) throw new ConfigError(`invalid configuration:\n  spokes.kubeconfig: ${error.message}`);
    throw error;
  }
}

/**
 * The hub's bound on one spoke call: a safety net above the adapter's own (a Kubernetes call retries a
 * transient failure up to three times, with backoff), so that a stalled spoke cannot stall a cycle.
 */
function spokeCallBoundMs(config: Config): number {
  return config.spokes.kind === 'kubernetes' ? 4 * config.spokes.request_timeout_ms + 2000 : ADAPTER_TIMEOUT_MS;
}

/**
 * The hub's bound on refreshing one zone: above what the fallback chain may spend by itself (each link
 * may try twice, with a backoff between), so that a slow first link still lets the next one answer.
 */
function carbonRefreshBoundMs(config: Config): number {
  const links = 1 + config.carbon.fallback.length;
  return links * (2 * config.carbon.request_timeout_ms + 1000) + 1000;
}

/** The configured store; a data file that cannot be used is a configuration error, so that `serve` exits 2. */
function storeFor(config: Config, { metrics, logger, onFailure }: { metrics: Metrics; logger: Logger; onFailure: (reason: string) => void }): Store {
  if (config.store.kind === 'memory') return new MemoryStore();
  try {
    return SqliteStore.open(config.store.data_dir, {
      synchronous: config.store.synchronous,
      observer: {
        batchDurable: (writes, seconds) => metrics.recordStoreBatch(writes, seconds),
        failed: (error) => {
          logger.error({ err: error, file: join(config.store.data_dir, DB_FILE) }, 'store failed: every write is refused until the hub restarts');
          onFailure(error.message);
        },
      },
    });
  } catch (error) {
    if (error instanceof StoreOpenError) {
      logger.fatal({ err: error, file: error.file }, 'cannot open the store: the hub does not start');
      throw new ConfigError(`invalid configuration:\n  store.data_dir: ${error.message}`);
    }
    throw error;
  }
}

/** The configured carbon provider; an unusable trace file is a configuration error. */
function carbonProviderFor(config: Config, clock: Clock, onError: ReturnType<typeof carbonFaultHook>): CarbonProvider {
  try {
    return createCarbonProvider(config.carbon, { clock, onError });
  } catch (error) {
    if (error instanceof TraceFileError) throw new ConfigError(`invalid configuration:\n  carbon.file.path: ${error.message}`);
    throw error;
  }
}

/** Builds the hub from its configuration: the one place that picks concrete adapters. */
export async function createHub(config: Config, overrides: HubOverrides = {}): Promise<Hub> {
  const clock = overrides.clock ?? systemClock;
  const metrics = new Metrics({ defaultMetrics: overrides.processMetrics ?? true });
  const owned = overrides.logger ? undefined : createLogger(config, metrics);
  const logger = overrides.logger ?? (owned as NonNullable<typeof owned>).logger;
  let storeFailed: (reason: string) => void = () => undefined;
  const storeFailure = new Promise<string>((resolve) => (storeFailed = resolve));
  let store: Store;
  try {
    store = storeFor(config, { metrics, logger, onFailure: (reason) => storeFailed(reason) });
  } catch (error) {
    // The process exits next; the refusal's log line must not stay in the buffer.
    owned?.flushSync();
    throw error;
  }
  metrics.observeStore(store);
  metrics.registerSolvers(solverNames(), SOLVER_STATUSES);

  // From here on the store's writer thread keeps the process alive: whatever fails while the hub is being
  // built (a kubeconfig without a configured context, a missing trace file) must close it, or `serve`
  // would print its message and then never exit.
  try {
    const spokes = overrides.spokes ?? spokesFor(config, { clock, metrics, logger });
    const spokeTimeoutMs = spokeCallBoundMs(config);
    // A gate may open up to one dispatch period before its planned start: the dispatcher and reconcile agree on it.
    const dispatchPeriodMs = config.periods.dispatch_seconds * 1000;
    const clusters = new ClusterMonitor(spokes, { metrics, logger, clock, timeoutMs: spokeTimeoutMs });

    const provider = overrides.carbonProvider ?? carbonProviderFor(config, clock, carbonFaultHook({ metrics, logger }));
    metrics.registerCarbonProvider(provider.name, [config.carbon.provider, ...config.carbon.fallback], LAST_KNOWN);
    // One refresh per zone, however many regions share it (each asks the provider, and counts).
    const carbon = new CarbonFeed(provider, [...new Set(config.regions.map((r) => r.zone))], {
      metrics,
      logger,
      clock,
      horizonMs: horizonSlots(config) * config.slot_seconds * 1000,
      timeoutMs: carbonRefreshBoundMs(config),
      risk: config.carbon.risk,
      maxStalenessMs: config.carbon.max_staleness_seconds * 1000,
    });

    // Every job that finishes after having run is accounted in the change that finishes it.
    const accountant = new CarbonAccountant({
      clusters: spokes.map((s) => s.info),
      power: { wattCpu: config.energy.watt_cpu, wattGpu: config.energy.watt_gpu, wattMemGb: config.energy.watt_mem_gb },
      emissions: (zone, powerW, fromMs, toMs) => carbon.emissions(zone, powerW, fromMs, toMs),
      metrics,
      logger,
      now: () => clock.now(),
    });
    const lifecycle = new Lifecycle({ store, metrics, logger, clock, accounting: accountant });

    // With the durable store the decisions are kept beside it; a memory-store hub keeps them in memory only.
    const decisionsPath = config.decisions.path ?? (config.store.kind === 'sqlite' ? join(config.store.data_dir, 'decisions.csv') : undefined);
    const decisions = new CsvDecisionLog({ path: decisionsPath, memoryLimit: config.decisions.memory_limit }, { logger, metrics });

    const threaded = overrides.optimize ? undefined : new ThreadedOptimizer(config.optimizer.time_limit_seconds);
    const scheduler = new ScheduleCycle({
      lifecycle,
      clusters,
      carbon,
      optimize: overrides.optimize ?? (threaded as ThreadedOptimizer).optimize,
      // In-process and bounded: the fallback must not depend on the worker that just failed.
      fallbackOptimize:
        overrides.fallbackOptimize ??
        ((input, options) => optimize(input, { ...options, solver: 'greedy', timeLimitSeconds: Math.min(FALLBACK_SOLVE_SECONDS, options.timeLimitSeconds ?? FALLBACK_SOLVE_SECONDS) })),
      metrics,
      logger,
      clock,
      settings: {
        slotSeconds: config.slot_seconds,
        horizonSlots: horizonSlots(config),
        costs: { ...config.energy, lambda_plan_dev: config.migration.lambda_plan_dev },
        networkCosts: config.migration.network_gco2_per_gb,
        migrationAllow: config.migration.allow,
        solver: config.optimizer.solver,
        timeLimitSeconds: config.optimizer.time_limit_seconds,
        gapTolerance: config.optimizer.gap_tolerance,
        normalWaitGco2PerKwhPerHour: config.urgency.normal_wait_gco2_per_kwh_per_hour,
        maxOptions: config.optimizer.max_options,
        schedulePeriodSeconds: config.periods.schedule_seconds,
      },
      decisions,
    });
    const dispatcher = new DispatchCycle({
      lifecycle,
      clusters,
      metrics,
      logger,
      clock,
      settings: {
        defaultImage: config.jobs.default_image,
        defaultCommand: config.jobs.default_command,
        spokeTimeoutMs,
        retentionMs: config.store.retention_hours * 3_600_000,
        clusterLostAfterMs: config.spokes.lost_after_seconds * 1000,
        dispatchPeriodMs,
        migrationAllow: config.migration.allow,
      },
    });

    const ticker = overrides.ticker ?? cronTicker;
    const hooks = (loop: LoopName) => ({
      onSkippedTick: () => {
        metrics.recordSkippedTick(loop, 'busy');
        logger.warn({ loop, reason: 'busy' }, `${loop} tick skipped: the previous cycle is still running`);
      },
      onMissedTick: () => {
        metrics.recordSkippedTick(loop, 'late');
        logger.warn({ loop, reason: 'late' }, `${loop} tick missed: the event loop was blocked past it`);
      },
      // The cycle has logged and counted its own failure; the loop only carries on.
      onError: () => undefined,
    });
    const loops = {
      carbon: new PeriodicLoop('carbon', () => carbon.refresh(), ticker(config.periods.carbon_seconds, 'carbon'), hooks('carbon')),
      schedule: new PeriodicLoop('schedule', () => scheduler.run(), ticker(config.periods.schedule_seconds, 'schedule'), hooks('schedule')),
      dispatch: new PeriodicLoop('dispatch', () => dispatcher.run(), ticker(config.periods.dispatch_seconds, 'dispatch'), hooks('dispatch')),
    };

    const app = await buildApp({
      lifecycle,
      clusters,
      carbon,
      metrics,
      logger,
      clock,
      schedule: () => loops.schedule.runOnce(),
      dryRunSchedule: () => scheduler.dryRun(),
      whatIf: (candidate) => scheduler.whatIf(candidate),
      dispatch: () => loops.dispatch.runOnce(),
      cancel: (jobId) => dispatcher.cancel(jobId),
      lastSchedule: () => scheduler.lastSummary,
      lastDispatch: () => dispatcher.lastSummary,
      storeFault: () => store.fault(),
      apiToken: config.api_token,
      // The SQLite store's answers already leave together, released by one commit; holding them for the end of the
      // turn measured no better there (sessions 14 and 17: interleaved runs within the noise).
      holdSmallAnswers: config.store.kind === 'memory',
      decisions,
    });

    let starting: Promise<string> | undefined;
    let stopping: Promise<void> | undefined;
    const start = async (): Promise<string> => {
      await Promise.all([loops.carbon.runOnce(), clusters.refresh()]);
      await reconcile({ lifecycle, clusters, logger, metrics, clock, spokeTimeoutMs, gateLeadMs: dispatchPeriodMs });
      // Stopped (a SIGTERM) while the hub got ready: no loop and no listener may outlive that stop.
      if (stopping) throw new Error('the hub was stopped while it started');
      if (!config.api_token) {
        logger.warn('CASPIAN_API_TOKEN is not set: anyone who can reach the hub can submit, cancel and run cycles');
      }
      for (const loop of Object.values(loops)) loop.start();
      const address = await app.listen({ port: config.port, host: config.host }).catch((error: NodeJS.ErrnoException) => {
        // The configuration's to fix, and named as such: a host name the resolver does not know, an address not on
        // this machine, a port taken or not allowed.
        if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN' || error.code === 'EADDRNOTAVAIL') throw new ConfigError(`host "${config.host}" (CASPIAN_HOST): cannot listen there: ${error.message}`);
        if (error.code === 'EADDRINUSE' || error.code === 'EACCES') throw new ConfigError(`port ${config.port} (CASPIAN_PORT): cannot listen there: ${error.message}`);
        throw error;
      });
      // At any level but silent: supervisors (and start-caspian.sh --detach) wait for this line.
      const startupLog = logger.isLevelEnabled('info') || config.log_level === 'silent' ? logger : logger.child({}, { level: 'info' });
      startupLog.info(
        {
          address,
          regions: config.regions.map((r) => `${r.name}=${r.cluster}`),
          spokes: spokes.map((s) => s.client.kind),
          // Which file the contexts came from (a KUBECONFIG in the shell does not override the config file's): null is kubectl's default.
          ...(config.spokes.kind === 'kubernetes' && { kubeconfig: config.spokes.kubeconfig ?? null }),
          carbonProvider: provider.name,
          solver: config.optimizer.solver,
          store: store.name,
        },
        'CASPIAN hub listening',
      );
      // Whoever waits for the hub (a supervisor, a test) reads this line at once, not a second later.
      owned?.flushSync();
      return address;
    };
    const stop = async (): Promise<void> => {
      await starting?.catch(() => undefined);
      // The optimizer goes first: a solve may take its whole limit (30 s by default, the shutdown bound itself),
      // while its cycle, told it is stopping, finishes on the fallback plan in seconds.
      const optimizerClosed = threaded?.close();
      await Promise.all(Object.values(loops).map((loop) => loop.stop()));
      // server.close() ends only the connections idle when it is called: one still answering a request then
      // waits out its keep-alive (72 s), past the shutdown bound. Each is closed as soon as it falls idle.
      const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
      try {
        await app.close();
      } finally {
        clearInterval(sweep);
      }
      await optimizerClosed;
      await Promise.all(spokes.map((s) => s.client.close()));
      await decisions.close();
      await store.close();
      logger.info('CASPIAN hub stopped');
      if (owned) clearInterval(owned.flushTimer);
      owned?.flushSync();
    };

    return {
      app,
      config,
      lifecycle,
      metrics,
      logger,
      loops,
      decisions,
      storeFailure,
      start() {
        starting ??= start();
        return starting;
      },
      flushLogs() {
        owned?.flushSync();
      },
      stop() {
        stopping ??= stop();
        return stopping;
      },
    };
  } catch (error) {
    await store.close();
    owned?.flushSync();
    throw error;
  }
}
