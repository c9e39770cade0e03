import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppWrapper } from '../../src/domain/app-wrapper.js';
import type { WorkerPool } from '../../src/domain/cluster.js';
import { jobManifest } from '../../src/spokes/job-manifest.js';
import { DispatchCycle } from '../../src/dispatcher/dispatch-cycle.js';
import { ClusterMonitor, type Spoke } from '../../src/hub/cluster-monitor.js';
import { Lifecycle } from '../../src/hub/lifecycle.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { KubernetesSpoke } from '../../src/spokes/kubernetes-spoke.js';
import { createKubernetesSpokes } from '../../src/spokes/kubernetes-spokes.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { FakeClock } from '../support/fake-clock.js';
import { jobStatuses, startDoubleClusters, timestamp, type DoubleClusters, type KubeApiDouble } from '../support/kube-api-double/index.js';
import { captureLogger, type CapturedLogger } from '../support/logger.js';
import { spokeJob } from '../support/spoke-job-builder.js';

type Json = Record<string, unknown>;

/**
 * The double only lets a test write a Job's status; a controller such as Kueue also writes its spec
 * (`spec.suspend`). This reaches the stored Job to do what such a controller's PATCH would.
 */
function patchJobSpec(api: KubeApiDouble, name: string, spec: Json, namespace = 'default'): void {
  const jobs = (api as unknown as { jobs: Map<string, Json> }).jobs;
  const job = jobs.get(`${namespace}/${name}`);
  if (!job) throw new Error(`no Job ${namespace}/${name}`);
  job.spec = { ...(job.spec as Json), ...spec };
}

/** The status the job controller writes once a Job is suspended: its pods deleted, `Suspended` True, the deadline timer stopped. */
function suspendedStatus(atMs: number): Json {
  return {
    conditions: [{ type: 'Suspended', status: 'True', lastProbeTime: timestamp(atMs), lastTransitionTime: timestamp(atMs), reason: 'JobSuspended', message: 'Job suspended' }],
    active: 0,
    ready: 0,
    terminating: 0,
    uncountedTerminatedPods: {},
  };
}

describe('real Kubernetes Jobs against the dispatch cycle', () => {
  let doubles: DoubleClusters;
  let clock: FakeClock;
  let log: CapturedLogger;
  let metrics: Metrics;
  let store: MemoryStore;
  let lifecycle: Lifecycle;
  let spokes: Spoke[];
  let dispatcher: DispatchCycle;
  const api = (name: string): KubeApiDouble => doubles.byName(name).api;

  /** A hub process over the store, its spokes offering `pools` when given. */
  const startHub = async (pools?: WorkerPool[]) => {
    if (spokes) await Promise.all(spokes.map((s) => s.client.close()));
    spokes = createKubernetesSpokes(
      { kubeconfigYaml: doubles.kubeconfigYaml, namespace: 'default', clusters: doubles.clusters.map(({ name, region, zone, context }) => ({ name, region, zone, context })), requestTimeoutMs: 1000 },
      { sleep: async () => undefined },
    ).map((spoke) => (pools ? { ...spoke, info: { ...spoke.info, pools } } : spoke));
    const clusters = new ClusterMonitor(spokes, { metrics, logger: log.logger, clock, timeoutMs: 10_000 });
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
    spokes = undefined as unknown as Spoke[];
    await startHub();
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

  it('a Job suspended (as Kueue preempts) past its deadline is ended by the hub: Failed DeadlineExceeded, its Job deleted', async () => {
    await store.insert(planned('preempted', 'carbon-kr'));
    await dispatcher.run();
    api('carbon-kr').setJobStatus('preempted', jobStatuses.running(clock.now()));
    await dispatcher.run();
    expect((await get('preempted')).phase).toBe('Running');

    // Kueue preempts the workload: spec.suspend=true, the job controller deletes the pods and sets Suspended.
    // activeDeadlineSeconds is stopped while a Job is suspended (reset on resume): Kubernetes will never fail it.
    clock.advanceMinutes(10);
    patchJobSpec(api('carbon-kr'), 'preempted', { suspend: true });
    api('carbon-kr').setJobStatus('preempted', suspendedStatus(clock.now()));
    await dispatcher.run();

    // Hours past its deadline, still suspended, no pod anywhere.
    clock.advanceMinutes(240);
    await dispatcher.run();
    const aw = await get('preempted');
    expect(aw.deadlineAt).toBeLessThan(clock.now());
    // It used to stay Running forever, counted running and billed.
    expect(aw).toMatchObject({ phase: 'Failed', reason: expect.stringMatching(/^DeadlineExceeded: its Job preempted on carbon-kr was still pending after its deadline/), finishedAt: aw.deadlineAt });
    expect(api('carbon-kr').job('preempted')).toBeUndefined();
  });

  it('a lost-answer Job made for ECO is not adopted once the plan moved the job to FAST: it is deleted, and a FAST Job made', async () => {
    await startHub([
      { name: 'FAST', share: 0.5, speedFactor: 1, powerFactor: 1, nodeSelector: { 'caspian.io/pool': 'fast' } },
      { name: 'ECO', share: 0.5, speedFactor: 1.5, powerFactor: 0.6, nodeSelector: { 'caspian.io/pool': 'eco' } },
    ]);
    await store.insert({ ...planned('eco-job', 'carbon-kr'), targetPool: 'ECO' });
    // The create reached etcd but every answer was lost (a time-out): the hub sees a failure.
    const kr = api('carbon-kr');
    kr.fail(503, { method: 'POST', times: 3 });
    await dispatcher.run();
    expect((await get('eco-job')).phase).toBe('Planned');
    const ecoRequest = { ...spokeJob('eco-job').pool('ECO', { 'caspian.io/pool': 'eco' }).runtimeSeconds(45 * 60).obj() };
    kr.putJob(jobManifest(ecoRequest, { namespace: 'default', backoffLimit: 2, ttlSecondsAfterFinished: 86_400 }) as unknown as Json);

    // A schedule cycle re-plans it to FAST on the same cluster, before the next dispatch tick.
    await store.update('eco-job', (cur) => ({ ...cur, targetPool: 'FAST', updatedAt: clock.now() }));
    await dispatcher.run();

    // It used to be adopted as FAST: the hub billed and timed FAST while its pods ran on the ECO nodes, ECO's runtime.
    const waiting = await get('eco-job');
    expect(waiting).toMatchObject({ phase: 'Planned', targetPool: 'FAST' });
    expect(waiting.placement).toBeUndefined();
    expect(kr.job('eco-job')).toBeUndefined();
    await dispatcher.run();
    const job = kr.job('eco-job') as { metadata: { labels: Record<string, string> }; spec: { template: { spec: { nodeSelector: Record<string, string> } } } } | undefined;
    expect(job?.spec.template.spec.nodeSelector).toEqual({ 'caspian.io/pool': 'fast' });
    expect(await get('eco-job')).toMatchObject({ phase: 'Dispatched', placement: { pool: 'FAST', jobName: 'eco-job' } });
  });
});

describe('the Kubernetes spoke against real cluster objects', () => {
  let doubles: DoubleClusters;
  let spokes: { info: { name: string }; client: unknown }[];
  const spoke = () => spokes[0]?.client as KubernetesSpoke;
  const api = (): KubeApiDouble => doubles.byName('carbon-kr').api;

  beforeEach(async () => {
    doubles = await startDoubleClusters();
    spokes = createKubernetesSpokes(
      { kubeconfigYaml: doubles.kubeconfigYaml, namespace: 'default', clusters: [{ name: 'carbon-kr', region: 'KR', zone: 'KR', context: 'kind-carbon-kr' }], requestTimeoutMs: 1000 },
      { sleep: async () => undefined },
    );
  });
  afterEach(async () => {
    await spoke().close();
    await doubles.close();
  });

  it('pods of CASPIAN Jobs in another namespace (another hub) are hidden from the foreign usage', async () => {
    // A staging hub runs its Jobs in its own namespace of the same cluster: this hub knows nothing of them.
    api().addNamespace('caspian-staging');
    api().addPod({ namespace: 'caspian-staging', name: 'train-x-abcde', nodeName: 'carbon-kr-worker', containers: [{ cpu: '3', memory: '8Gi' }], labels: { 'caspian.io/job-id': 'train-x', 'app.kubernetes.io/managed-by': 'caspian' } });
    const status = await spoke().status();
    expect(status.foreignUsage.cpu).toBeCloseTo(3, 9);
    expect(status.foreignUsage.memGb).toBeCloseTo(8, 9);
  });
});
