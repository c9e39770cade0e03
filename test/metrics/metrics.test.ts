import { describe, expect, it } from 'vitest';
import { PHASES, type Phase } from '../../src/domain/app-wrapper.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { StoreCounts } from '../../src/store/types.js';
import { metricSamples, metricValue } from '../support/metric-value.js';
import { EXPOSED_SPEC_METRICS, SPEC_METRICS, exposedName } from '../support/spec-metrics.js';

function counts(byPhase: Partial<Record<Phase, number>>, migrating = 0, unconfirmed = 0): StoreCounts {
  return { byPhase: { ...(Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>), ...byPhase }, migrating, unconfirmed };
}

/** Calls every recorder once, with realistic label values. */
function exerciseAll(metrics: Metrics): void {
  metrics.registerClusters(['carbon-kr', 'carbon-jp']);
  metrics.setClusterStatus('carbon-kr', true, { cpu: 16, memGb: 64, gpu: 2 });
  metrics.setClustersReady(1);
  metrics.setCarbonIntensity('KR', 400);
  metrics.recordCarbonRefresh('mock', 'ok');
  metrics.recordSubmission();
  metrics.recordTransition('new', 'Pending');
  metrics.recordScheduleCycle('ok', 0.2, { solver: 'highs', status: 'optimal', objectiveGco2: 10, gap: 0, unschedulable: 0, outsidePlan: 0, deferred: 0, co2ByCluster: new Map([['carbon-kr', 10]]) });
  metrics.recordPlacement('carbon-kr');
  metrics.recordMigration('carbon-kr', 'carbon-jp', 2, 110);
  metrics.recordDispatchCycle('ok', 0.01);
  metrics.recordDispatchAction('carbon-kr', 'created');
  metrics.recordSkippedTick('schedule', 'busy');
  metrics.recordStoreBatch(3, 0.0004);
}

describe('exposition', () => {
  it('renders every SPEC metric, with help and type, before anything is recorded', async () => {
    const text = await new Metrics({ defaultMetrics: false }).render();
    for (const name of EXPOSED_SPEC_METRICS) {
      expect(text, name).toContain(`# HELP ${name} `);
      expect(text, name).toContain(`# TYPE ${name} `);
    }
  });

  it('types the SPEC metrics as their dashboards expect', async () => {
    const text = await new Metrics({ defaultMetrics: false }).render();
    const types = Object.fromEntries([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    expect(Object.fromEntries(SPEC_METRICS.map((n) => [n, types[exposedName(n)]]))).toEqual({
      grid_carbon_intensity_gco2_per_kwh: 'gauge',
      appwrappers_total: 'counter',
      appwrappers_running: 'gauge',
      clusters_total: 'counter',
      clusters_ready: 'gauge',
      migrations_total: 'counter',
      migration_data_transferred_gb: 'counter',
      migrations_in_progress: 'gauge',
      migration_cost_gco2: 'counter',
    });
  });

  it('collects Node.js process metrics only when asked', async () => {
    expect(await new Metrics().render()).toContain('process_cpu_user_seconds_total');
    expect(await new Metrics({ defaultMetrics: false }).render()).not.toContain('process_cpu_user_seconds_total');
  });

  it("drops prom-client's gauges named like counters, keeping the per-type gauges they sum", async () => {
    const names = new Metrics().registry.getMetricsAsArray().map((m) => m.name);
    for (const kind of ['handles', 'requests', 'resources']) {
      expect(names).not.toContain(`nodejs_active_${kind}_total`);
      expect(names).toContain(`nodejs_active_${kind}`);
    }
  });

  it('names the unit and the label values in the help text of every metric of its own', () => {
    const metrics = new Metrics({ defaultMetrics: false }).registry.getMetricsAsArray();
    expect(metrics.length).toBeGreaterThan(30);
    for (const { name, help, labelNames } of metrics as unknown as { name: string; help: string; labelNames: string[] }[]) {
      expect(help, name).toMatch(/ Unit: [^.]+[.;]/);
      const labels = labelNames.filter((l) => l !== 'le');
      if (labels.length === 0) expect(help, name).toContain('No labels.');
      else for (const label of labels) expect(help, `${name}: label ${label}`).toMatch(new RegExp(`Labels: .*\\b${label} \\(|Labels: .*\\b${label}, `));
    }
  });

  it('serves the Prometheus text content type', () => {
    expect(new Metrics({ defaultMetrics: false }).contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('keeps each instance in its own registry', async () => {
    const a = new Metrics({ defaultMetrics: false });
    const b = new Metrics({ defaultMetrics: false });
    a.recordSubmission();
    expect(await metricValue(a, 'appwrappers_total')).toBe(1);
    expect(await metricValue(b, 'appwrappers_total')).toBe(0);
  });
});

describe('labels', () => {
  const ALLOWED_LABELS = new Set(['zone', 'provider', 'outcome', 'phase', 'from', 'to', 'cluster', 'resource', 'from_cluster', 'to_cluster', 'solver', 'status', 'action', 'loop', 'le', 'reason', 'pool', 'urgency', 'kind']);

  it('uses only bounded labels, never a job id', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.observeStore({ counts: async () => counts({ Running: 1 }), fault: () => undefined, oldestPendingWriteSeconds: () => 0 });
    exerciseAll(metrics);
    const text = await metrics.render();
    const labelNames = new Set([...text.matchAll(/[{,](\w+)="/g)].map((m) => m[1]));
    expect(labelNames.size).toBeGreaterThan(5);
    for (const label of labelNames) {
      expect(ALLOWED_LABELS.has(label as string), label).toBe(true);
      expect(label).not.toMatch(/job/i);
    }
  });
});

describe('store-driven gauges', () => {
  it('read the store counts at scrape time', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    let current = counts({ Pending: 2, Running: 3, Planned: 2 }, 1, 2);
    let reads = 0;
    metrics.observeStore({
      counts: async () => {
        reads++;
        return current;
      },
      fault: () => undefined,
      oldestPendingWriteSeconds: () => 0,
    });
    expect(reads).toBe(0);
    expect(await metricValue(metrics, 'appwrappers_running')).toBe(3);
    expect(await metricValue(metrics, 'migrations_in_progress')).toBe(1);
    expect(await metricValue(metrics, 'caspian_jobs_unconfirmed')).toBe(2);
    for (const phase of PHASES) {
      expect(await metricValue(metrics, 'caspian_appwrappers', { phase }), phase).toBe(current.byPhase[phase]);
    }

    current = counts({ Running: 0, Succeeded: 5 }, 0);
    const text = await metrics.render();
    expect(text).toMatch(/^appwrappers_running 0$/m);
    expect(text).toMatch(/^migrations_in_progress 0$/m);
    expect(text).toMatch(/^caspian_jobs_unconfirmed 0$/m);
    expect(text).toMatch(/^caspian_appwrappers\{phase="Succeeded"\} 5$/m);
    expect(text).toMatch(/^caspian_appwrappers\{phase="Pending"\} 0$/m);
    expect(reads).toBeGreaterThan(0);
  });

  it('keep their last values, without failing a scrape, once the store has failed; caspian_store_failed says so', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const state: { fault?: string } = {};
    metrics.observeStore({
      counts: async () => {
        if (state.fault) throw new Error(state.fault);
        return counts({ Running: 2 }, 1);
      },
      fault: () => state.fault,
      oldestPendingWriteSeconds: () => 0,
    });
    const before = await metrics.render();
    expect(before).toMatch(/^caspian_store_failed 0$/m);
    expect(before).toMatch(/^appwrappers_running 2$/m);
    expect(before).toMatch(/^migrations_in_progress 1$/m);
    state.fault = 'the store refuses further use until the hub restarts: a commit failed';
    const text = await metrics.render();
    expect(text).toMatch(/^caspian_store_failed 1$/m);
    expect(text).toMatch(/^appwrappers_running 2$/m);
    expect(text).toMatch(/^migrations_in_progress 1$/m);
  });

  it('show how long the oldest write not yet on disk has waited, at scrape time', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    let waiting = 0;
    metrics.observeStore({ counts: async () => counts({}), fault: () => undefined, oldestPendingWriteSeconds: () => waiting });
    expect(await metricValue(metrics, 'caspian_store_oldest_pending_write_seconds')).toBe(0);
    waiting = 42.5;
    expect(await metricValue(metrics, 'caspian_store_oldest_pending_write_seconds')).toBe(42.5);
  });

  it('stay at zero, without failing a scrape, when no store is observed', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    expect(await metricValue(metrics, 'appwrappers_running')).toBe(0);
    expect(await metricValue(metrics, 'migrations_in_progress')).toBe(0);
    expect(await metricSamples(metrics, 'caspian_appwrappers')).toEqual([]);
  });
});

describe('recorders', () => {
  it('count submissions and phase transitions', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.recordSubmission();
    metrics.recordSubmission();
    metrics.recordTransition('new', 'Pending');
    metrics.recordTransition('Pending', 'Planned');
    metrics.recordTransition('Pending', 'Planned');
    expect(await metricValue(metrics, 'appwrappers_total')).toBe(2);
    expect(await metricValue(metrics, 'caspian_phase_transitions_total', { from: 'new', to: 'Pending' })).toBe(1);
    expect(await metricValue(metrics, 'caspian_phase_transitions_total', { from: 'Pending', to: 'Planned' })).toBe(2);
  });

  it('record clusters: registered count, readiness and allocatable', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.registerClusters(['carbon-kr', 'carbon-jp', 'carbon-cn']);
    expect(await metricValue(metrics, 'clusters_total')).toBe(3);
    expect(await metricValue(metrics, 'caspian_cluster_ready', { cluster: 'carbon-cn' })).toBe(0);
    // Counters of known label sets start at 0, so that increase() sees their first event.
    const route = { from_cluster: 'carbon-kr', to_cluster: 'carbon-cn' };
    expect(await metricValue(metrics, 'migrations_total', route)).toBe(0);
    expect(await metricValue(metrics, 'caspian_migrations_dropped_total', { ...route, reason: 'replanned' })).toBe(0);
    expect(await metricValue(metrics, 'caspian_dispatch_actions_total', { cluster: 'carbon-cn', action: 'failed' })).toBe(0);
    expect(await metricValue(metrics, 'migrations_total', { from_cluster: 'carbon-kr', to_cluster: 'carbon-kr' })).toBeUndefined();
    for (const reason of ['finished', 'cancelled', 'cluster_removed']) {
      expect(await metricValue(metrics, 'caspian_migrations_dropped_total', { ...route, reason }), reason).toBe(0);
    }
    expect(await metricValue(metrics, 'caspian_placements_total', { cluster: 'carbon-cn' })).toBe(0);
    for (const pool of ['FAST', 'ECO']) {
      for (const urgency of ['urgent', 'normal', 'flexible']) {
        const labels = { cluster: 'carbon-cn', pool, urgency };
        expect(await metricValue(metrics, 'caspian_job_co2_grams_total', labels), JSON.stringify(labels)).toBe(0);
        expect(await metricValue(metrics, 'caspian_job_co2_planned_grams_total', labels), JSON.stringify(labels)).toBe(0);
      }
    }
    for (const urgency of ['urgent', 'normal', 'flexible']) {
      expect(await metricValue(metrics, 'caspian_co2_saved_grams_total', { cluster: 'carbon-cn', urgency }), urgency).toBe(0);
      expect(await metricValue(metrics, 'caspian_co2_saved_negative_grams_total', { cluster: 'carbon-cn', urgency }), urgency).toBe(0);
    }
    metrics.setClusterStatus('carbon-cn', true, { cpu: 8, memGb: 32, gpu: 1 });
    metrics.setClustersReady(1);
    expect(await metricValue(metrics, 'caspian_cluster_ready', { cluster: 'carbon-cn' })).toBe(1);
    expect(await metricValue(metrics, 'clusters_ready')).toBe(1);
    const allocatable = await metricSamples(metrics, 'caspian_cluster_allocatable');
    expect(allocatable.map((s) => [s.labels.resource, s.value])).toEqual([
      ['cpu', 8],
      ['mem_gb', 32],
      ['gpu', 1],
    ]);
    metrics.setClusterStatus('carbon-cn', false, { cpu: 8, memGb: 32, gpu: 1 });
    expect(await metricValue(metrics, 'caspian_cluster_ready', { cluster: 'carbon-cn' })).toBe(0);
    // What a cluster that does not answer last reported is no capacity: its series go until it answers again.
    expect(await metricSamples(metrics, 'caspian_cluster_allocatable')).toEqual([]);
    metrics.setClusterStatus('carbon-cn', true, { cpu: 6, memGb: 32, gpu: 1 });
    expect(await metricValue(metrics, 'caspian_cluster_allocatable', { cluster: 'carbon-cn', resource: 'cpu' })).toBe(6);
  });

  it('start the counters of fixed label sets at 0, before any event', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    for (const loop of ['carbon', 'schedule', 'dispatch']) {
      for (const reason of ['busy', 'late']) expect(await metricValue(metrics, 'caspian_loop_skipped_ticks_total', { loop, reason }), `${loop} ${reason}`).toBe(0);
    }
    for (const outcome of ['ok', 'error']) {
      expect(await metricValue(metrics, 'caspian_schedule_cycles_total', { outcome }), outcome).toBe(0);
      expect(await metricValue(metrics, 'caspian_dispatch_cycles_total', { outcome }), outcome).toBe(0);
    }
    for (const kind of ['dry_run', 'whatif']) expect(await metricValue(metrics, 'caspian_whatif_requests_total', { kind }), kind).toBe(0);
    for (const reason of ['pipe_full', 'write_error', 'reader_gone']) expect(await metricValue(metrics, 'caspian_log_lines_dropped_total', { reason }), reason).toBe(0);
    // Every transition the lifecycle allows, and only those.
    expect(await metricValue(metrics, 'caspian_phase_transitions_total', { from: 'new', to: 'Pending' })).toBe(0);
    expect(await metricValue(metrics, 'caspian_phase_transitions_total', { from: 'Running', to: 'Dispatched' })).toBe(0);
    expect(await metricValue(metrics, 'caspian_phase_transitions_total', { from: 'Succeeded', to: 'Running' })).toBeUndefined();
    expect(await metricValue(metrics, 'caspian_phase_transitions_total', { from: 'Planned', to: 'Planned' })).toBeUndefined();
  });

  it("start the carbon provider counters at 0: refreshes of the hub's provider, faults of each configured one for every reason, stale last known values", async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.registerCarbonProvider('electricitymaps>file>last-known', ['electricitymaps', 'file'], 'last-known');
    for (const outcome of ['ok', 'error']) {
      expect(await metricValue(metrics, 'caspian_carbon_refreshes_total', { provider: 'electricitymaps>file>last-known', outcome }), outcome).toBe(0);
    }
    const faults = await metricSamples(metrics, 'caspian_carbon_fetch_errors_total');
    const reasons = ['timeout', 'auth', 'rate_limited', 'http_4xx', 'http_5xx', 'malformed', 'no_data', 'units', 'network', 'stale'];
    expect(faults.map((s) => `${s.labels.provider} ${s.labels.reason} ${s.value}`).sort()).toEqual(
      [...['electricitymaps', 'file'].flatMap((provider) => reasons.map((reason) => `${provider} ${reason} 0`)), 'last-known stale 0'].sort(),
    );
  });

  it('count the log lines dropped by reason, a batch at a time', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.recordLogLinesDropped('pipe_full', 3);
    metrics.recordLogLinesDropped('pipe_full', 2);
    metrics.recordLogLinesDropped('write_error', 0);
    expect(await metricValue(metrics, 'caspian_log_lines_dropped_total', { reason: 'pipe_full' })).toBe(5);
    expect(await metricValue(metrics, 'caspian_log_lines_dropped_total', { reason: 'write_error' })).toBe(0);
  });

  it('record carbon intensity per zone and refreshes per provider and outcome', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.setCarbonIntensity('KR', 400);
    metrics.setCarbonIntensity('KR', 700);
    metrics.setCarbonIntensity('JP-TK', 300);
    metrics.recordCarbonRefresh('mock', 'ok');
    metrics.recordCarbonRefresh('mock', 'error');
    metrics.recordCarbonRefresh('mock', 'error');
    expect(await metricValue(metrics, 'grid_carbon_intensity_gco2_per_kwh', { zone: 'KR' })).toBe(700);
    expect(await metricValue(metrics, 'grid_carbon_intensity_gco2_per_kwh', { zone: 'JP-TK' })).toBe(300);
    expect(await metricValue(metrics, 'caspian_carbon_refreshes_total', { provider: 'mock', outcome: 'ok' })).toBe(1);
    expect(await metricValue(metrics, 'caspian_carbon_refreshes_total', { provider: 'mock', outcome: 'error' })).toBe(2);
  });

  it('record migrations: count, data moved and carbon charged, by from and to cluster', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.recordMigration('carbon-kr', 'carbon-jp', 2.5, 112.5);
    metrics.recordMigration('carbon-kr', 'carbon-jp', 1, 105);
    metrics.recordMigration('carbon-jp', 'carbon-cn', 0, 100);
    const kj = { from_cluster: 'carbon-kr', to_cluster: 'carbon-jp' };
    expect(await metricValue(metrics, 'migrations_total', kj)).toBe(2);
    expect(await metricValue(metrics, 'caspian_migration_data_transferred_bytes_total', kj)).toBe(3.5e9);
    expect(await metricValue(metrics, 'caspian_migration_cost_gco2_total', kj)).toBe(217.5);
    expect(await metricValue(metrics, 'migrations_total', { from_cluster: 'carbon-jp', to_cluster: 'carbon-cn' })).toBe(1);
  });

  it('record store batches: writes per batch and time until durable', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.recordStoreBatch(3, 0.0004);
    metrics.recordStoreBatch(1, 0.002);
    expect(await metricValue(metrics, 'caspian_store_batch_writes_sum')).toBe(4);
    expect(await metricValue(metrics, 'caspian_store_batch_writes_count')).toBe(2);
    expect(await metricValue(metrics, 'caspian_store_durable_seconds_bucket', { le: '0.0005' })).toBe(1);
    expect(await metricValue(metrics, 'caspian_store_durable_seconds_bucket', { le: '0.0025' })).toBe(2);
  });

  it('record schedule cycles, keeping only the clusters of the last plan', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.recordScheduleCycle('ok', 0.5, {
      solver: 'highs',
      status: 'optimal',
      objectiveGco2: 1200,
      gap: 0.01,
      unschedulable: 2,
      outsidePlan: 1,
      deferred: 40,
      co2ByCluster: new Map([
        ['carbon-kr', 700],
        ['carbon-jp', 500],
      ]),
    });
    metrics.recordScheduleCycle('ok', 0.4, { solver: 'jslp', status: 'feasible', objectiveGco2: 900, gap: null, unschedulable: 0, outsidePlan: 0, deferred: 3, co2ByCluster: new Map([['carbon-jp', 900]]) });
    metrics.recordScheduleCycle('error', 0.1);
    expect(await metricValue(metrics, 'caspian_schedule_cycles_total', { outcome: 'ok' })).toBe(2);
    expect(await metricValue(metrics, 'caspian_schedule_cycles_total', { outcome: 'error' })).toBe(1);
    expect(await metricValue(metrics, 'caspian_schedule_duration_seconds_count')).toBe(3);
    expect(await metricValue(metrics, 'caspian_solves_total', { solver: 'highs', status: 'optimal' })).toBe(1);
    expect(await metricValue(metrics, 'caspian_solves_total', { solver: 'jslp', status: 'feasible' })).toBe(1);
    expect(await metricValue(metrics, 'caspian_schedule_objective_gco2')).toBe(900);
    // A solve without a proven bound has no gap: not the last plan's, which would read as proven for it.
    expect(await metricValue(metrics, 'caspian_schedule_gap_ratio')).toBeNaN();
    expect(await metricValue(metrics, 'caspian_unschedulable_jobs')).toBe(0);
    expect(await metricValue(metrics, 'caspian_jobs_outside_plan')).toBe(0);
    expect(await metricValue(metrics, 'caspian_jobs_deferred')).toBe(3);
    expect((await metricSamples(metrics, 'caspian_co2_planned_grams')).map((s) => [s.labels.cluster, s.value])).toEqual([['carbon-jp', 900]]);
  });

  it('record placements, dispatch cycles and actions, and skipped ticks', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.recordPlacement('carbon-kr');
    metrics.recordDispatchCycle('ok', 0.02);
    metrics.recordDispatchCycle('error', 0.03);
    metrics.recordDispatchAction('carbon-kr', 'created');
    metrics.recordDispatchAction('carbon-kr', 'created');
    metrics.recordDispatchAction('carbon-jp', 'failed');
    metrics.recordSkippedTick('dispatch', 'late');
    expect(await metricValue(metrics, 'caspian_placements_total', { cluster: 'carbon-kr' })).toBe(1);
    expect(await metricValue(metrics, 'caspian_dispatch_cycles_total', { outcome: 'error' })).toBe(1);
    expect(await metricValue(metrics, 'caspian_dispatch_duration_seconds_count')).toBe(2);
    expect(await metricValue(metrics, 'caspian_dispatch_actions_total', { cluster: 'carbon-kr', action: 'created' })).toBe(2);
    expect(await metricValue(metrics, 'caspian_dispatch_actions_total', { cluster: 'carbon-jp', action: 'failed' })).toBe(1);
    expect(await metricValue(metrics, 'caspian_loop_skipped_ticks_total', { loop: 'dispatch', reason: 'late' })).toBe(1);
  });
});
