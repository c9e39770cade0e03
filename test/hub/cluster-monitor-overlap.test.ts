import { beforeEach, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../src/domain/cluster.js';
import { AdapterError } from '../../src/domain/errors.js';
import { ClusterMonitor } from '../../src/hub/cluster-monitor.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { SpokeClient } from '../../src/spokes/types.js';
import { deferred, type Deferred } from '../support/deferred.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLogger, type CapturedLogger } from '../support/logger.js';
import { metricValue } from '../support/metric-value.js';

/** A spoke client whose every status call stays open until the test settles it, in whatever order. */
class HeldClient implements SpokeClient {
  readonly kind = 'held';
  readonly calls: Deferred<ClusterStatus>[] = [];

  constructor(readonly cluster: string) {}

  status(): Promise<ClusterStatus> {
    const call = deferred<ClusterStatus>();
    this.calls.push(call);
    return call.promise;
  }

  async createJob(): Promise<'created'> {
    return 'created';
  }

  async listJobs(): Promise<[]> {
    return [];
  }

  async deleteJob(): Promise<void> {}

  async close(): Promise<void> {}
}

const status = (cpu: number, ready = true): ClusterStatus => ({ ready, allocatable: { cpu, memGb: 32, gpu: 0 }, foreignUsage: { cpu: 0, memGb: 0, gpu: 0 } });

let clock: FakeClock;
let metrics: Metrics;
let log: CapturedLogger;
let kr: HeldClient;

function monitor(): ClusterMonitor {
  return new ClusterMonitor([{ info: { name: 'carbon-kr', region: 'KR', zone: 'KR' }, client: kr }], { metrics, logger: log.logger, clock, timeoutMs: 60_000 });
}

beforeEach(() => {
  clock = new FakeClock();
  metrics = new Metrics({ defaultMetrics: false });
  log = captureLogger();
  kr = new HeldClient('carbon-kr');
});

describe('overlapping refreshes', () => {
  const cases: { name: string; older: (call: Deferred<ClusterStatus>) => void; want: { ready: boolean; cpu: number } }[] = [
    { name: 'an older answer that arrives after a newer one does not overwrite it', older: (call) => call.resolve(status(4)), want: { ready: true, cpu: 16 } },
    { name: 'an older failure that arrives after a newer answer does not mark the cluster unreachable', older: (call) => call.reject(new AdapterError('connection reset', true)), want: { ready: true, cpu: 16 } },
  ];
  for (const { name, older, want } of cases) {
    it(name, async () => {
      const clusters = monitor();
      const first = clusters.refresh();
      const second = clusters.refresh();
      const [olderCall, newerCall] = kr.calls;
      newerCall!.resolve(status(16));
      await second;
      older(olderCall!);
      await first;
      expect(clusters.snapshot()[0]).toMatchObject({ ready: want.ready, allocatable: { cpu: want.cpu } });
      expect(await metricValue(metrics, 'caspian_cluster_allocatable', { cluster: 'carbon-kr', resource: 'cpu' })).toBe(want.cpu);
    });
  }

  it('an older answer that arrives first is applied, then replaced by the newer one', async () => {
    const clusters = monitor();
    const first = clusters.refresh();
    const second = clusters.refresh();
    const [olderCall, newerCall] = kr.calls;
    olderCall!.resolve(status(4));
    await first;
    expect(clusters.snapshot()[0]).toMatchObject({ ready: true, allocatable: { cpu: 4 } });
    newerCall!.resolve(status(16, false));
    await second;
    expect(clusters.snapshot()[0]).toMatchObject({ ready: false, allocatable: { cpu: 16 } });
  });
});
