import { beforeEach, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../src/domain/cluster.js';
import { AdapterError } from '../../src/domain/errors.js';
import { ClusterMonitor, spokeListRestartHook, type Spoke } from '../../src/hub/cluster-monitor.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import type { SpokeClient } from '../../src/spokes/types.js';
import { deferred, type Deferred } from '../support/deferred.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLogger, type CapturedLogger } from '../support/logger.js';
import { metricValue } from '../support/metric-value.js';

/**
 * A spoke client whose status answer the test sets: a status, an error to throw, 'hang', or 'hold' (each
 * call stays open in `held` until the test settles it, in whatever order).
 */
class ScriptedClient implements SpokeClient {
  readonly kind = 'scripted';
  answer: ClusterStatus | Error | string | 'hang' | 'hold' = { ready: true, allocatable: { cpu: 8, memGb: 32, gpu: 0 }, foreignUsage: { cpu: 1, memGb: 2, gpu: 0 } };
  readonly held: Deferred<ClusterStatus>[] = [];

  constructor(readonly cluster: string) {}

  async status(): Promise<ClusterStatus> {
    const answer = this.answer;
    if (answer === 'hang') return new Promise<never>(() => undefined);
    if (answer === 'hold') {
      const call = deferred<ClusterStatus>();
      this.held.push(call);
      return call.promise;
    }
    if (answer instanceof Error || typeof answer === 'string') throw answer;
    return structuredClone(answer);
  }

  async createJob(): Promise<'created'> {
    return 'created';
  }

  async listJobs(): Promise<[]> {
    return [];
  }

  async deleteJob(): Promise<boolean> {
    return false;
  }

  async close(): Promise<void> {}
}

let clock: FakeClock;
let metrics: Metrics;
let log: CapturedLogger;
let kr: SimulatedSpoke;
let jp: SimulatedSpoke;
let cn: ScriptedClient;

function monitor(timeoutMs = 1_000): ClusterMonitor {
  const spokes: Spoke[] = [
    { info: { name: 'carbon-kr', region: 'KR', zone: 'KR' }, client: kr },
    { info: { name: 'carbon-jp', region: 'JP', zone: 'JP-TK' }, client: jp },
    { info: { name: 'carbon-cn', region: 'CN', zone: 'CN' }, client: cn },
  ];
  return new ClusterMonitor(spokes, { metrics, logger: log.logger, clock, timeoutMs });
}

/** Readiness log lines so far, as `cluster ready|not ready: message`. */
function readinessLog(): string[] {
  return log.lines
    .filter((l) => l.msg === 'cluster is ready' || l.msg === 'cluster is not ready')
    .map((l) => `${String(l.cluster)} ${l.ready ? 'ready' : 'not ready'}${l.message ? `: ${String(l.message)}` : ''}`);
}

function readyGauge(cluster: string): Promise<number | undefined> {
  return metricValue(metrics, 'caspian_cluster_ready', { cluster });
}

beforeEach(() => {
  clock = new FakeClock();
  metrics = new Metrics({ defaultMetrics: false });
  log = captureLogger();
  kr = new SimulatedSpoke('carbon-kr', { cpu: 16, memGb: 64, gpu: 2 }, clock);
  jp = new SimulatedSpoke('carbon-jp', { cpu: 8, memGb: 32, gpu: 1 }, clock);
  cn = new ScriptedClient('carbon-cn');
});

describe('before the first check', () => {
  it('knows every spoke, none of them ready', async () => {
    const clusters = monitor();
    expect(clusters.snapshot()).toEqual(
      ['carbon-kr', 'carbon-jp', 'carbon-cn'].map((name) =>
        expect.objectContaining({ name, ready: false, message: 'not checked yet', allocatable: { cpu: 0, memGb: 0, gpu: 0 } }),
      ),
    );
    expect(clusters.snapshot().map((v) => v.checkedAt)).toEqual([undefined, undefined, undefined]);
    expect(await metricValue(metrics, 'clusters_total')).toBe(3);
    expect(await metricValue(metrics, 'clusters_ready')).toBe(0);
    for (const cluster of ['carbon-kr', 'carbon-jp', 'carbon-cn']) expect(await readyGauge(cluster), cluster).toBe(0);
    expect(readinessLog()).toEqual([]);
  });

  it('finds clients and infos by cluster, and clusters by region', () => {
    const clusters = monitor();
    expect(clusters.client('carbon-jp')).toBe(jp);
    expect(clusters.client('nope')).toBeUndefined();
    expect(clusters.info('carbon-cn')).toEqual({ name: 'carbon-cn', region: 'CN', zone: 'CN' });
    expect(clusters.info('nope')).toBeUndefined();
    expect(clusters.clusterOfRegion('JP')).toEqual({ name: 'carbon-jp', region: 'JP', zone: 'JP-TK' });
    expect(clusters.clusterOfRegion('EU')).toBeUndefined();
  });
});

describe('refresh', () => {
  it('records what each spoke says and when', async () => {
    const clusters = monitor();
    const views = await clusters.refresh();
    expect(views).toEqual(clusters.snapshot());
    expect(views).toEqual([
      { name: 'carbon-kr', region: 'KR', zone: 'KR', ready: true, allocatable: { cpu: 16, memGb: 64, gpu: 2 }, foreignUsage: { cpu: 0, memGb: 0, gpu: 0 }, checkedAt: clock.now() },
      { name: 'carbon-jp', region: 'JP', zone: 'JP-TK', ready: true, allocatable: { cpu: 8, memGb: 32, gpu: 1 }, foreignUsage: { cpu: 0, memGb: 0, gpu: 0 }, checkedAt: clock.now() },
      { name: 'carbon-cn', region: 'CN', zone: 'CN', ready: true, allocatable: { cpu: 8, memGb: 32, gpu: 0 }, foreignUsage: { cpu: 1, memGb: 2, gpu: 0 }, checkedAt: clock.now() },
    ]);
    expect(await metricValue(metrics, 'clusters_ready')).toBe(3);
    expect(await readyGauge('carbon-kr')).toBe(1);
    expect(await metricValue(metrics, 'caspian_cluster_allocatable', { cluster: 'carbon-jp', resource: 'cpu' })).toBe(8);
    expect(await metricValue(metrics, 'caspian_cluster_allocatable', { cluster: 'carbon-jp', resource: 'mem_gb' })).toBe(32);
    expect(await metricValue(metrics, 'caspian_cluster_allocatable', { cluster: 'carbon-jp', resource: 'gpu' })).toBe(1);
  });

  it('logs each readiness flip once, and nothing while readiness holds', async () => {
    const clusters = monitor();
    const steps: { name: string; act: () => void; wantLog: string[]; wantReady: number }[] = [
      { name: 'first check', act: () => undefined, wantLog: ['carbon-kr ready', 'carbon-jp ready', 'carbon-cn ready'], wantReady: 3 },
      { name: 'nothing changed', act: () => undefined, wantLog: [], wantReady: 3 },
      { name: 'KR stops answering', act: () => kr.setReachable(false), wantLog: ['carbon-kr not ready: cluster carbon-kr is not reachable'], wantReady: 2 },
      { name: 'KR still down', act: () => undefined, wantLog: [], wantReady: 2 },
      { name: 'CN reports itself not ready', act: () => (cn.answer = { ready: false, message: 'nodes NotReady', allocatable: { cpu: 8, memGb: 32, gpu: 0 }, foreignUsage: { cpu: 0, memGb: 0, gpu: 0 } }), wantLog: ['carbon-cn not ready: nodes NotReady'], wantReady: 1 },
      { name: 'KR back', act: () => kr.setReachable(true), wantLog: ['carbon-kr ready'], wantReady: 2 },
      { name: 'CN fails differently', act: () => (cn.answer = new AdapterError('connection refused', true)), wantLog: [], wantReady: 2 },
    ];
    for (const { name, act, wantLog, wantReady } of steps) {
      const before = readinessLog().length;
      act();
      clock.advance(10_000);
      await clusters.refresh();
      expect(readinessLog().slice(before), name).toEqual(wantLog);
      expect(await metricValue(metrics, 'clusters_ready'), name).toBe(wantReady);
    }
    expect(clusters.snapshot().find((v) => v.name === 'carbon-cn')).toMatchObject({ ready: false, message: 'connection refused', checkedAt: clock.now() });
  });

  it('logs a cluster that is down from the start, at its first check', async () => {
    kr.setReachable(false);
    await monitor().refresh();
    expect(readinessLog()).toEqual(['carbon-kr not ready: cluster carbon-kr is not reachable', 'carbon-jp ready', 'carbon-cn ready']);
  });

  it('logs a lost cluster as a warning and a recovered one as info', async () => {
    const clusters = monitor();
    await clusters.refresh();
    jp.setReachable(false);
    await clusters.refresh();
    jp.setReachable(true);
    await clusters.refresh();
    const jpLines = log.lines.filter((l) => l.cluster === 'carbon-jp');
    expect(jpLines.map((l) => [l.level, l.msg, l.region])).toEqual([
      [30, 'cluster is ready', 'JP'],
      [40, 'cluster is not ready', 'JP'],
      [30, 'cluster is ready', 'JP'],
    ]);
  });

  it('keeps the last known resources of a cluster that stops answering in its view, not in its allocatable gauge', async () => {
    const clusters = monitor();
    await clusters.refresh();
    kr.setReachable(false);
    clock.advance(5_000);
    await clusters.refresh();
    expect(clusters.snapshot()[0]).toMatchObject({ name: 'carbon-kr', ready: false, allocatable: { cpu: 16, memGb: 64, gpu: 2 }, checkedAt: clock.now() });
    expect(await readyGauge('carbon-kr')).toBe(0);
    expect(await metricValue(metrics, 'caspian_cluster_allocatable', { cluster: 'carbon-kr', resource: 'cpu' })).toBeUndefined();
    kr.setReachable(true);
    await clusters.refresh();
    expect(await metricValue(metrics, 'caspian_cluster_allocatable', { cluster: 'carbon-kr', resource: 'cpu' })).toBe(16);
  });

  it('dates the current stretch of not answering from its first failed check, and forgets it once the cluster answers', async () => {
    const clusters = monitor();
    const krView = () => clusters.snapshot().find((v) => v.name === 'carbon-kr');
    await clusters.refresh();
    expect(krView()?.unreadySince).toBeUndefined();
    kr.setReachable(false);
    clock.advance(5_000);
    const since = clock.now();
    await clusters.refresh();
    clock.advance(60_000);
    await clusters.refresh();
    expect(krView()).toMatchObject({ ready: false, unreadySince: since, checkedAt: since + 60_000 });
    kr.setReachable(true);
    await clusters.refresh();
    expect(krView()?.unreadySince).toBeUndefined();
    kr.setReachable(false);
    clock.advance(1_000);
    clusters.markUnreachable('carbon-kr', new Error('connection refused'));
    expect(krView()?.unreadySince).toBe(clock.now());
  });

  it('keeps a cluster whose Job list failed unready since then, though its status answers, until its Jobs are listed', async () => {
    const clusters = monitor();
    const krView = () => clusters.snapshot().find((v) => v.name === 'carbon-kr');
    await clusters.refresh();
    clock.advance(1_000);
    const since = clock.now();
    clusters.markListFailed('carbon-kr', new Error('list Jobs on carbon-kr timed out'));
    clock.advance(60_000);
    await clusters.refresh();
    expect(krView()).toMatchObject({ ready: true, unreadySince: since });
    clusters.markListed('carbon-kr');
    expect(krView()).toMatchObject({ ready: true, unreadySince: undefined });
    // A failed status check alone is over once the status answers.
    clusters.markUnreachable('carbon-kr', new Error('connection refused'));
    await clusters.refresh();
    expect(krView()?.unreadySince).toBeUndefined();
  });

  it('marks a spoke that never answers not ready after timeoutMs', async () => {
    cn.answer = 'hang';
    // 20 ms bounds a call that never ends; it is not a speed requirement.
    const clusters = monitor(20);
    await clusters.refresh();
    expect(clusters.snapshot().map((v) => [v.name, v.ready, v.message])).toEqual([
      ['carbon-kr', true, undefined],
      ['carbon-jp', true, undefined],
      ['carbon-cn', false, 'status of carbon-cn timed out after 20 ms'],
    ]);
    expect(await metricValue(metrics, 'clusters_ready')).toBe(2);
  });

  it('takes the message of a thrown non-Error as it is', async () => {
    cn.answer = 'socket hang up';
    const clusters = monitor();
    await clusters.refresh();
    expect(clusters.snapshot()[2]).toMatchObject({ ready: false, message: 'socket hang up' });
  });
});

describe('markUnreachable', () => {
  it('flips a ready cluster to not ready once, logging and counting it', async () => {
    const clusters = monitor();
    await clusters.refresh();
    const before = readinessLog().length;
    clock.advance(1_000);
    clusters.markUnreachable('carbon-jp', new AdapterError('create Job timed out', true));
    clusters.markUnreachable('carbon-jp', new AdapterError('delete Job timed out', true));
    expect(readinessLog().slice(before)).toEqual(['carbon-jp not ready: create Job timed out']);
    expect(clusters.snapshot()[1]).toMatchObject({ name: 'carbon-jp', ready: false, message: 'delete Job timed out', allocatable: { cpu: 8, memGb: 32, gpu: 1 }, checkedAt: clock.now() });
    expect(await metricValue(metrics, 'clusters_ready')).toBe(2);
    expect(await readyGauge('carbon-jp')).toBe(0);
  });

  it('lasts until the next refresh that gets an answer', async () => {
    const clusters = monitor();
    await clusters.refresh();
    clusters.markUnreachable('carbon-kr', new Error('blip'));
    await clusters.refresh();
    expect(clusters.snapshot()[0]).toMatchObject({ ready: true });
    expect(readinessLog().filter((l) => l.startsWith('carbon-kr'))).toEqual(['carbon-kr ready', 'carbon-kr not ready: blip', 'carbon-kr ready']);
  });

  it('ignores an unknown cluster', async () => {
    const clusters = monitor();
    clusters.markUnreachable('carbon-eu', new Error('who?'));
    expect(clusters.snapshot().map((v) => v.name)).toEqual(['carbon-kr', 'carbon-jp', 'carbon-cn']);
    expect(log.lines).toEqual([]);
  });
});

describe('a spoke list read again after its continue token expired', () => {
  it('is logged and counted per cluster and resource, from zero', async () => {
    monitor();
    const restarts = (cluster: string, resource: string) => metricValue(metrics, 'caspian_spoke_list_restarts_total', { cluster, resource });
    expect(await restarts('carbon-kr', 'pods')).toBe(0);
    const hook = spokeListRestartHook({ metrics, logger: log.logger });
    hook('carbon-kr', 'pods');
    hook('carbon-kr', 'pods');
    hook('carbon-jp', 'jobs');
    expect(await restarts('carbon-kr', 'pods')).toBe(2);
    expect(await restarts('carbon-jp', 'jobs')).toBe(1);
    expect(await restarts('carbon-cn', 'nodes')).toBe(0);
    const warnings = log.lines.filter((l) => l.level === 40);
    expect(warnings.map((l) => [l.cluster, l.resource])).toEqual([
      ['carbon-kr', 'pods'],
      ['carbon-kr', 'pods'],
      ['carbon-jp', 'jobs'],
    ]);
    expect(warnings[0]!.msg).toContain('continue token expired');
  });
});

describe('overlapping refreshes', () => {
  const status = (cpu: number, ready = true): ClusterStatus => ({ ready, allocatable: { cpu, memGb: 32, gpu: 0 }, foreignUsage: { cpu: 0, memGb: 0, gpu: 0 } });
  const cnView = (clusters: ClusterMonitor) => clusters.snapshot().find((v) => v.name === 'carbon-cn');
  /** Two refreshes started one after the other, carbon-cn's status call of each held open. */
  const twoRefreshes = () => {
    cn.answer = 'hold';
    const clusters = monitor(60_000);
    const first = clusters.refresh();
    const second = clusters.refresh();
    const [olderCall, newerCall] = cn.held as [Deferred<ClusterStatus>, Deferred<ClusterStatus>];
    return { clusters, first, second, olderCall, newerCall };
  };
  const cases: { name: string; older: (call: Deferred<ClusterStatus>) => void }[] = [
    { name: 'an older answer that arrives after a newer one does not overwrite it', older: (call) => call.resolve(status(4)) },
    { name: 'an older failure that arrives after a newer answer does not mark the cluster unreachable', older: (call) => call.reject(new AdapterError('connection reset', true)) },
  ];
  for (const { name, older } of cases) {
    it(name, async () => {
      const { clusters, first, second, olderCall, newerCall } = twoRefreshes();
      newerCall.resolve(status(16));
      await second;
      older(olderCall);
      await first;
      expect(cnView(clusters)).toMatchObject({ ready: true, allocatable: { cpu: 16 } });
      expect(await metricValue(metrics, 'caspian_cluster_allocatable', { cluster: 'carbon-cn', resource: 'cpu' })).toBe(16);
    });
  }

  it('an older answer that arrives first is applied, then replaced by the newer one', async () => {
    const { clusters, first, second, olderCall, newerCall } = twoRefreshes();
    olderCall.resolve(status(4));
    await first;
    expect(cnView(clusters)).toMatchObject({ ready: true, allocatable: { cpu: 4 } });
    newerCall.resolve(status(16, false));
    await second;
    expect(cnView(clusters)).toMatchObject({ ready: false, allocatable: { cpu: 16 } });
  });
});
