import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppWrapper } from '../../src/domain/app-wrapper.js';
import { fitsANode, type WorkerPool } from '../../src/domain/cluster.js';
import { DispatchCycle } from '../../src/dispatcher/dispatch-cycle.js';
import { ClusterMonitor, type Spoke } from '../../src/hub/cluster-monitor.js';
import { Lifecycle } from '../../src/hub/lifecycle.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { jobManifest } from '../../src/spokes/job-manifest.js';
import { createKubernetesSpokes } from '../../src/spokes/kubernetes-spokes.js';
import type { SpokeClient } from '../../src/spokes/types.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { FakeClock } from '../support/fake-clock.js';
import { jobStatuses, startDoubleClusters, type DoubleClusters, type KubeApiDouble } from '../support/kube-api-double/index.js';
import { captureLogger, type CapturedLogger } from '../support/logger.js';
import { spokeJob } from '../support/spoke-job-builder.js';

/**
 * Jobs that are not what they seem (another workload's of the same name, an earlier job's left until its TTL, one
 * made for another pool) and nodes smaller than they look (GPU-only, DaemonSets), against the API server double
 * (real lifecycle, store, cluster monitor and metrics; fake clock).
 */
describe('Kubernetes spokes: foreign, leftover and wrong-pool Jobs, and the room of a node', () => {
  let doubles: DoubleClusters;
  let clock: FakeClock;
  let log: CapturedLogger;
  let metrics: Metrics;
  let store: MemoryStore;
  let lifecycle: Lifecycle;
  let spokes: Spoke[];
  let clusters: ClusterMonitor;
  let dispatcher: DispatchCycle;
  const api = (name: string): KubeApiDouble => doubles.byName(name).api;
  const client = (name: string) => spokes.find((s) => s.info.name === name)!.client;

  const startHub = (wrap: (spoke: Spoke) => Spoke = (s) => s, pools?: WorkerPool[]) => {
    spokes = createKubernetesSpokes(
      { kubeconfigYaml: doubles.kubeconfigYaml, namespace: 'default', clusters: doubles.clusters.map(({ name, region, zone, context }) => ({ name, region, zone, context })), requestTimeoutMs: 1000 },
      { sleep: async () => undefined },
    )
      .map((spoke) => (pools ? { ...spoke, info: { ...spoke.info, pools } } : spoke))
      .map(wrap);
    clusters = new ClusterMonitor(spokes, { metrics, logger: log.logger, clock, timeoutMs: 10_000 });
    dispatcher = new DispatchCycle({
      lifecycle,
      clusters,
      metrics,
      logger: log.logger,
      clock,
      settings: { defaultImage: 'busybox:1.36', defaultCommand: ['sh', '-c', 'sleep "$CASPIAN_RUNTIME_SECONDS"'], spokeTimeoutMs: 10_000, retentionMs: 0, clusterLostAfterMs: 0, dispatchPeriodMs: 30_000, migrationAllow: true },
    });
  };

  beforeEach(async () => {
    clock = new FakeClock();
    doubles = await startDoubleClusters({ now: () => clock.now() });
    log = captureLogger();
    metrics = new Metrics({ defaultMetrics: false });
    store = new MemoryStore();
    metrics.observeStore(store);
    lifecycle = new Lifecycle({ store, metrics, logger: log.logger, clock });
    startHub();
  });
  afterEach(async () => {
    await Promise.all(spokes.map((s) => s.client.close()));
    await doubles.close();
  });

  const planned = (id: string, cluster: string): AppWrapper => {
    const aw = appWrapper(id).cpu(2).phase('Planned').target(cluster).obj();
    return { ...aw, submittedAt: clock.now(), deadlineAt: clock.now() + 180 * 60_000, plannedStartAt: clock.now(), co2EstimateG: 42, updatedAt: clock.now() };
  };
  const get = async (id: string) => (await store.get(id)) as AppWrapper;

  it('a job without GPUs does not fit on a GPU node tainted nvidia.com/gpu, which its pod cannot tolerate', async () => {
    // A GKE-like cluster: the two 4-core general nodes of the double, and a GPU pool node tainted for GPU pods only.
    api('carbon-kr').addNode({ name: 'carbon-kr-gpu', allocatable: { cpu: '16', memory: '64Gi', 'nvidia.com/gpu': '1' }, taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }] });
    const status = await client('carbon-kr').status();
    // A GPU job of that size lands on the GPU node: fine.
    expect(fitsANode(status, { cpu: 8, memGb: 16, gpu: 1 })).toBe(true);
    // A CPU-only job of 8 cores carries no toleration (job-manifest adds it only when gpu > 0): the scheduler
    // never places its pod on the tainted node, and no untainted node has 8 cores. It is Unschedulable here,
    // but the hub is told it fits, plans it onto this cluster, and its pod stays Pending until the deadline.
    expect(fitsANode(status, { cpu: 8, memGb: 16, gpu: 0 })).toBe(false);
  });

  it('a cancel after a create whose answer was lost leaves alone a foreign Job that merely has the job\'s name', async () => {
    const kr = api('carbon-kr');
    // Someone else's Job in the shared namespace, named as the CASPIAN job id happens to be (no CASPIAN labels).
    kr.putJob({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'nightly-etl', labels: { team: 'data' } }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'etl', image: 'busybox:1.36' }] } } } });
    await store.insert(planned('nightly-etl', 'carbon-kr'));
    // The API server is overloaded (or an admission webhook times out): every try of the create gets a 503.
    kr.fail(503, { method: 'POST', times: 3 });
    const first = await dispatcher.run();
    expect(first.failed).toEqual([{ job_id: 'nightly-etl', cluster: 'carbon-kr', error: expect.stringContaining('failed 3 times') }]);
    expect((await get('nightly-etl')).unconfirmedJobs).toEqual([{ cluster: 'carbon-kr', jobName: 'nightly-etl' }]);

    // The user cancels; carbon-kr answers again on the next cycle, whose listing (by CASPIAN's label) shows no Job
    // of this job: the create never made one.
    await dispatcher.cancel('nightly-etl');
    const next = await dispatcher.run();
    expect(await get('nightly-etl')).toMatchObject({ phase: 'Cancelled' });
    // The hub deletes only Jobs carrying the job's label: this one is someone else's.
    expect(next.deleted).toEqual([]);
    expect(kr.job('nightly-etl')).toBeDefined();
  });

  it('a gate create that meets the finished Job an earlier job with the same id left deletes it and runs the new job, never adopting it', async () => {
    // An earlier 'report' ran on carbon-kr and finished; its AppWrapper was forgotten after its retention, its Job
    // stays until ttlSecondsAfterFinished (a day by default).
    const kr = api('carbon-kr');
    const earlier = clock.now();
    kr.putJob(jobManifest({ ...spokeJob('report').obj(), region: 'KR' }, { namespace: 'default', backoffLimit: 2, ttlSecondsAfterFinished: 86_400 }) as unknown as Record<string, unknown>);
    kr.setJobStatus('report', jobStatuses.succeeded(earlier, earlier + 600_000));
    clock.advanceMinutes(10 * 60);

    // A new 'report' is submitted and planned on carbon-kr to start now. While the dispatch cycle lists
    // carbon-kr's Jobs, the schedule loop (its own timer, same cron boundaries) applies its plan to the job
    // again: the cycle leaves the job to the next listing ("changed since the lists were read")...
    let concurrentPlan: (() => Promise<unknown>) | undefined = () => lifecycle.change('report', (cur) => ({ ...cur, co2EstimateG: 40 }));
    await Promise.all(spokes.map((s) => s.client.close()));
    startHub((spoke) => {
      if (spoke.info.name !== 'carbon-kr') return spoke;
      const real = spoke.client;
      const wrapped: SpokeClient = {
        cluster: real.cluster,
        kind: real.kind,
        status: () => real.status(),
        createJob: (request) => real.createJob(request),
        deleteJob: (name, jobId) => real.deleteJob(name, jobId),
        close: () => real.close(),
        listJobs: async () => {
          const jobs = await real.listJobs();
          const plan = concurrentPlan;
          concurrentPlan = undefined;
          await plan?.();
          return jobs;
        },
      };
      return { ...spoke, client: wrapped };
    });
    await store.insert(planned('report', 'carbon-kr'));
    const first = await dispatcher.run();
    // ...but opens its gate in the same cycle: the create meets 409, and the old Job carries the job-id label.
    expect(first.created).not.toContainEqual(expect.objectContaining({ job_id: 'report', adopted: true }));
    expect(log.messages()).toContain(`Job default/report on cluster carbon-kr was made before job "report" was submitted: an earlier job with the same id left it; it is deleted, and the job's own made once it is gone`);

    // The next cycle deletes the earlier Job; the one after makes the new job's own.
    await dispatcher.run();
    expect((await get('report')).phase).not.toBe('Succeeded');
    await dispatcher.run();
    expect(await get('report')).toMatchObject({ phase: 'Dispatched', placement: { cluster: 'carbon-kr', jobName: 'report' } });
    expect(kr.job('report')?.status).not.toMatchObject({ succeeded: 1 });
  });

  it('a migration does not adopt a lost-answer Job made for the pool the plan has since left: it is made again for the pool planned', async () => {
    await Promise.all(spokes.map((s) => s.client.close()));
    startHub(undefined, [
      { name: 'FAST', share: 0.5, speedFactor: 1, powerFactor: 1, nodeSelector: { 'caspian.io/pool': 'fast' } },
      { name: 'ECO', share: 0.5, speedFactor: 1.5, powerFactor: 0.6, nodeSelector: { 'caspian.io/pool': 'eco' } },
    ]);
    await store.insert(planned('mover', 'carbon-kr'));
    await dispatcher.run();
    api('carbon-kr').setJobStatus('mover', jobStatuses.running(clock.now()));
    await dispatcher.run();
    expect((await get('mover')).phase).toBe('Running');

    // The plan moves it to carbon-jp's ECO pool. The create there reaches etcd but every answer is lost.
    clock.advanceMinutes(5);
    await lifecycle.change('mover', (cur) => ({ ...cur, targetCluster: 'carbon-jp', targetPool: 'ECO', migrating: true, metadata: { migrated_from: 'carbon-kr', migration_time: String(clock.now() / 1000) } }));
    const jp = api('carbon-jp');
    jp.fail(503, { method: 'POST', times: 3 });
    await dispatcher.run();
    const ecoRequest = { ...spokeJob('mover').jobName('mover-g2').pool('ECO', { 'caspian.io/pool': 'eco' }).obj(), generation: 2, region: 'JP' };
    jp.putJob(jobManifest(ecoRequest, { namespace: 'default', backoffLimit: 2, ttlSecondsAfterFinished: 86_400 }) as unknown as Record<string, unknown>);
    expect((await get('mover')).placement?.cluster).toBe('carbon-kr');

    // The next plan keeps the move to carbon-jp, on FAST now (as the gate does for a Job made for another pool).
    clock.advanceMinutes(5);
    await lifecycle.change('mover', (cur) => ({ ...cur, targetPool: 'FAST' }));
    await dispatcher.run();
    await dispatcher.run();

    // The job is recorded on carbon-jp's FAST pool; the Job it points at must be a FAST one.
    const moved = await get('mover');
    expect(moved.placement).toMatchObject({ cluster: 'carbon-jp', jobName: 'mover-g2', pool: 'FAST' });
    const job = jp.job('mover-g2') as { metadata: { labels: Record<string, string> }; spec: { template: { spec: { nodeSelector: Record<string, string> } } } } | undefined;
    expect(job?.metadata.labels['caspian.io/pool']).toBe('FAST');
    expect(job?.spec.template.spec.nodeSelector).toEqual({ 'caspian.io/pool': 'fast' });
  });

  it('a job as large as a node\'s allocatable does not fit there when DaemonSet pods on every node already request part of it', async () => {
    const kr = api('carbon-kr');
    // As on every kind (or GKE, EKS...) node: a CNI DaemonSet pod requesting 100m and 50Mi on each worker.
    const pods = (kr as unknown as { pods: Map<string, Record<string, unknown>> }).pods;
    for (const node of ['carbon-kr-worker', 'carbon-kr-worker2']) {
      const name = `kindnet-${node.slice(-5)}`;
      kr.addPod({ namespace: 'kube-system', name, nodeName: node, containers: [{ cpu: '100m', memory: '50Mi' }], labels: { app: 'kindnet' } });
      // The real API server shows the DaemonSet as the pod's controller.
      const metadata = pods.get(`kube-system/${name}`)!.metadata as Record<string, unknown>;
      metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'kindnet', uid: '6f1d2c3b-0000-4000-8000-000000000001', controller: true, blockOwnerDeletion: true }];
    }
    const status = await client('carbon-kr').status();
    // The cluster as a whole has room for a 4-core job (8 allocatable, 0.2 used)...
    expect(status.allocatable.cpu - status.foreignUsage.cpu).toBeGreaterThanOrEqual(4);
    // ...but no node does: each has 4 cores allocatable of which its DaemonSet pod holds 0.1 for good. The scheduler's
    // NodeResourcesFit never places a 4-core pod; the hub plans it there and it waits, Pending, until its deadline.
    expect(fitsANode(status, { cpu: 4, memGb: 8, gpu: 0 })).toBe(false);
  });
});
