import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { V1Job } from '@kubernetes/client-node';
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
import { jobStatuses, startDoubleClusters, timestamp, type DoubleClusters, type KubeApiDouble } from '../support/kube-api-double/index.js';
import { captureLogger, type CapturedLogger } from '../support/logger.js';
import { metricValue } from '../support/metric-value.js';
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

/**
 * The dispatch cycle of the hub (real lifecycle, store, cluster monitor, metrics, pino logger, fake clock)
 * driving Kubernetes spokes over HTTPS against three API server doubles.
 */
describe('dispatch cycle on Kubernetes spokes', () => {
  let doubles: DoubleClusters;
  let clock: FakeClock;
  let log: CapturedLogger;
  let metrics: Metrics;
  let store: MemoryStore;
  let lifecycle: Lifecycle;
  let spokes: Spoke[];
  let dispatcher: DispatchCycle;
  const api = (name: string): KubeApiDouble => doubles.byName(name).api;

  /** A hub process: its own clients and cycle over the store it is given (a restart keeps the durable state). */
  const client = (name: string) => spokes.find((s) => s.info.name === name)!.client;

  /** `wrap` stands a spoke's client in for what happens around it (another loop's change during a list). */
  const startHub = (pools?: WorkerPool[], wrap: (spoke: Spoke) => Spoke = (s) => s) => {
    spokes = createKubernetesSpokes(
      { kubeconfigYaml: doubles.kubeconfigYaml, namespace: 'default', clusters: doubles.clusters.map(({ name, region, zone, context }) => ({ name, region, zone, context })), requestTimeoutMs: 1000 },
      // Backoff waits take no time: the loop runs on the fake clock.
      { sleep: async () => undefined },
    )
      .map((spoke) => (pools ? { ...spoke, info: { ...spoke.info, pools } } : spoke))
      .map(wrap);
    const clusters = new ClusterMonitor(spokes, { metrics, logger: log.logger, clock, timeoutMs: 10_000 });
    dispatcher = new DispatchCycle({ lifecycle, clusters, metrics, logger: log.logger, clock, settings: { defaultImage: 'busybox:1.36', defaultCommand: ['sh', '-c', 'sleep "$CASPIAN_RUNTIME_SECONDS"'], spokeTimeoutMs: 10_000, retentionMs: 0, clusterLostAfterMs: 0, dispatchPeriodMs: 30_000, migrationAllow: true } });
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

  const planned = (id: string, cluster: string, startInMinutes = 0): AppWrapper => {
    const aw = appWrapper(id).cpu(2).phase('Planned').target(cluster).obj();
    return { ...aw, submittedAt: clock.now(), deadlineAt: clock.now() + 180 * 60_000, plannedStartAt: clock.now() + startInMinutes * 60_000, co2EstimateG: 42, updatedAt: clock.now() };
  };
  const dispatch = () => dispatcher.run();
  const get = async (id: string) => (await store.get(id)) as AppWrapper;

  it("sends a Job planned on ECO to the ECO nodes: the pool's label and node selector, and its longer run", async () => {
    await Promise.all(spokes.map((s) => s.client.close()));
    startHub([
      { name: 'FAST', share: 0.5, speedFactor: 1, powerFactor: 1, nodeSelector: { 'caspian.io/pool': 'fast' } },
      { name: 'ECO', share: 0.5, speedFactor: 1.5, powerFactor: 0.6, nodeSelector: { 'caspian.io/pool': 'eco' } },
    ]);
    // 30 minutes of work at FAST speed.
    await store.insert({ ...planned('eco-job', 'carbon-jp'), targetPool: 'ECO' });
    expect((await dispatch()).created).toEqual([{ job_id: 'eco-job', cluster: 'carbon-jp', job_name: 'eco-job', adopted: false }]);
    const job = api('carbon-jp').job('eco-job') as V1Job | undefined;
    expect(job?.metadata?.labels).toMatchObject({ 'caspian.io/pool': 'ECO' });
    expect(job?.spec?.template.spec?.nodeSelector).toEqual({ 'caspian.io/pool': 'eco' });
    expect(job?.spec?.template.spec?.containers[0]?.env).toContainEqual({ name: 'CASPIAN_RUNTIME_SECONDS', value: String(45 * 60) });
    expect(await get('eco-job')).toMatchObject({ phase: 'Dispatched', placement: { cluster: 'carbon-jp', pool: 'ECO' } });
  });

  it('creates each Job on its target cluster when its start comes, with the manifest CASPIAN promises', async () => {
    await store.insert(planned('kr-job', 'carbon-kr'));
    await store.insert(planned('cn-job', 'carbon-cn', 10));
    const first = await dispatch();
    expect(first.created).toEqual([{ job_id: 'kr-job', cluster: 'carbon-kr', job_name: 'kr-job', adopted: false }]);
    expect(api('carbon-kr').jobNames()).toEqual(['kr-job']);
    expect(api('carbon-cn').jobNames()).toEqual([]);

    clock.advanceMinutes(10);
    expect((await dispatch()).created).toEqual([{ job_id: 'cn-job', cluster: 'carbon-cn', job_name: 'cn-job', adopted: false }]);
    expect(api('carbon-cn').job('cn-job')).toMatchObject({
      metadata: { labels: { 'caspian.io/job-id': 'cn-job', 'caspian.io/region': 'CN' }, annotations: { 'caspian.io/co2-estimate-g': '42', 'caspian.io/generation': '1' } },
      // The deadline counts from now: 180 minutes after submission, 10 of which have passed.
      spec: { activeDeadlineSeconds: 170 * 60, backoffLimit: 2, ttlSecondsAfterFinished: 86_400 },
    });
    expect(api('carbon-jp').jobNames()).toEqual([]);
    expect(await get('cn-job')).toMatchObject({ phase: 'Dispatched', placement: { cluster: 'carbon-cn', jobName: 'cn-job', generation: 1 } });
  });

  it('follows the Job to Running and Succeeded, and to Failed with the reason the cluster gives', async () => {
    await store.insert(planned('ok', 'carbon-kr'));
    await store.insert(planned('late', 'carbon-jp'));
    await dispatch();
    expect((await dispatch()).synced).toEqual([]);

    // The Job controller took 'ok' up 20 minutes ago; its pod waited for room and runs only now.
    api('carbon-kr').setJobStatus('ok', jobStatuses.running(clock.now() - 20 * 60_000));
    api('carbon-jp').setJobStatus('late', jobStatuses.running(clock.now()));
    expect((await dispatch()).synced).toEqual([
      { job_id: 'ok', phase: 'Running' },
      { job_id: 'late', phase: 'Running' },
    ]);
    expect((await get('ok')).startedAt).toBe(clock.now());

    clock.advanceMinutes(30);
    api('carbon-kr').setJobStatus('ok', jobStatuses.succeeded(clock.now() - 30 * 60_000, clock.now()));
    api('carbon-jp').setJobStatus('late', jobStatuses.failed(clock.now() - 30 * 60_000, clock.now(), 'DeadlineExceeded'));
    expect((await dispatch()).synced).toEqual([
      { job_id: 'ok', phase: 'Succeeded' },
      { job_id: 'late', phase: 'Failed' },
    ]);
    expect(await get('ok')).toMatchObject({ phase: 'Succeeded', finishedAt: clock.now() });
    expect(await get('late')).toMatchObject({ phase: 'Failed', reason: 'DeadlineExceeded: Job was active longer than specified deadline' });
    expect(log.messages()).toEqual(expect.arrayContaining(['AppWrapper ok: Running -> Succeeded', 'AppWrapper late: Running -> Failed']));
  });

  it('migrates: creates the new Job in the target cluster first, then deletes the old one with Background propagation', async () => {
    await store.insert(planned('mover', 'carbon-kr'));
    await dispatch();
    api('carbon-kr').setJobStatus('mover', jobStatuses.running(clock.now()));
    await dispatch();
    clock.advanceMinutes(5);
    await store.update('mover', (cur) => ({ ...cur, targetCluster: 'carbon-jp', migrating: true, metadata: { migrated_from: 'carbon-kr', migration_time: String(clock.now() / 1000) } }));
    expect(await metricValue(metrics, 'migrations_in_progress')).toBe(1);

    // The target does not answer: nothing moves, the old Job keeps running.
    api('carbon-jp').down();
    const blocked = await dispatch();
    expect(blocked.created).toEqual([]);
    expect(blocked.deleted).toEqual([]);
    expect(api('carbon-kr').jobNames()).toEqual(['mover']);

    api('carbon-jp').up();
    const moved = await dispatch();
    expect(moved.created).toEqual([{ job_id: 'mover', cluster: 'carbon-jp', job_name: 'mover-g2', adopted: false }]);
    expect(moved.deleted).toEqual([{ job_id: 'mover', cluster: 'carbon-kr', job_name: 'mover' }]);
    expect(api('carbon-jp').job('mover-g2')).toMatchObject({ metadata: { annotations: { 'caspian.io/migrated-from': 'carbon-kr', 'caspian.io/generation': '2' } } });
    expect(api('carbon-kr').jobNames()).toEqual([]);

    const deletion = api('carbon-kr').requests.find((r) => r.method === 'DELETE');
    expect(deletion).toMatchObject({ path: '/apis/batch/v1/namespaces/default/jobs/mover', propagationPolicy: 'Background', status: 200 });
    // Order across the two API servers: the create in JP had answered before the delete in KR was sent.
    expect(log.messages().indexOf('Job mover-g2 created on carbon-jp')).toBeGreaterThanOrEqual(0);
    expect(log.messages().indexOf('Job mover-g2 created on carbon-jp')).toBeLessThan(log.messages().indexOf('Job mover deleted from carbon-kr'));
    expect(await get('mover')).toMatchObject({ phase: 'Dispatched', migrating: false, staleJobs: [], placement: { cluster: 'carbon-jp', jobName: 'mover-g2', generation: 2 } });
    expect(await metricValue(metrics, 'migrations_in_progress')).toBe(0);
  });

  it('cancel deletes the Job with Background propagation', async () => {
    await store.insert(planned('job', 'carbon-kr'));
    await dispatch();
    const cancelled = await dispatcher.cancel('job');
    expect(cancelled).toMatchObject({ phase: 'Cancelled', staleJobs: [] });
    expect(api('carbon-kr').jobNames()).toEqual([]);
    expect(api('carbon-kr').requests.filter((r) => r.method === 'DELETE').map((r) => r.propagationPolicy)).toEqual(['Background']);
  });

  it('a Job held by a finalizer is deleted once: while it is being deleted it is neither claimed nor deleted again', async () => {
    const kr = api('carbon-kr');
    await store.insert(planned('job', 'carbon-kr'));
    await dispatch();
    kr.addFinalizer('job', 'example.com/cleanup');
    expect(await dispatcher.cancel('job')).toMatchObject({ phase: 'Cancelled', staleJobs: [] });
    expect(kr.job('job')).toMatchObject({ metadata: { deletionTimestamp: expect.any(String) } });
    for (let cycle = 0; cycle < 3; cycle++) {
      clock.advance(30_000);
      await dispatch();
    }
    expect(kr.requests.filter((r) => r.method === 'DELETE')).toHaveLength(1);
    expect(await metricValue(metrics, 'caspian_dispatch_actions_total', { cluster: 'carbon-kr', action: 'deleted' })).toBe(1);
    expect(await get('job')).toMatchObject({ phase: 'Cancelled', staleJobs: [] });
    kr.releaseFinalizers('job');
    expect(kr.jobNames()).toEqual([]);
  });

  it('a gate create that meets a Job of the same name still being deleted waits for it to go, the cluster staying Ready', async () => {
    // An earlier 'report' left its finished Job on carbon-kr, held by a finalizer.
    const kr = api('carbon-kr');
    const earlier = clock.now();
    kr.putJob(jobManifest({ ...spokeJob('report').obj(), region: 'KR' }, { namespace: 'default', backoffLimit: 2, ttlSecondsAfterFinished: 86_400 }) as unknown as Record<string, unknown>);
    kr.setJobStatus('report', jobStatuses.succeeded(earlier, earlier + 600_000));
    kr.addFinalizer('report', 'example.com/cleanup');
    clock.advanceMinutes(10 * 60);
    await store.insert(planned('report', 'carbon-kr'));
    for (let cycle = 0; cycle < 3; cycle++) {
      await dispatch();
      clock.advance(30_000);
    }
    expect(kr.requests.filter((r) => r.method === 'DELETE')).toHaveLength(1);
    expect(kr.job('report')).toMatchObject({ metadata: { deletionTimestamp: expect.any(String) } });
    expect(await get('report')).toMatchObject({ phase: 'Planned' });
    expect(await metricValue(metrics, 'caspian_cluster_ready', { cluster: 'carbon-kr' })).toBe(1);

    kr.releaseFinalizers('report');
    await dispatch();
    expect(await get('report')).toMatchObject({ phase: 'Dispatched', placement: { cluster: 'carbon-kr', jobName: 'report' } });
    expect(kr.job('report')?.status).not.toMatchObject({ succeeded: 1 });
  });

  it('an API down for a while: the cluster is NotReady, nothing is duplicated, and all resumes when it answers', async () => {
    await store.insert(planned('early', 'carbon-kr'));
    await dispatch();
    await store.insert(planned('waiting', 'carbon-kr'));
    api('carbon-kr').down();

    for (let minute = 0; minute < 3; minute++) {
      const summary = await dispatch();
      expect(summary.created).toEqual([]);
      clock.advanceMinutes(1);
    }
    expect(await get('waiting')).toMatchObject({ phase: 'Planned' });
    // The Job it already had is not lost or failed while the cluster cannot be read.
    expect(await get('early')).toMatchObject({ phase: 'Dispatched' });
    expect(await metricValue(metrics, 'clusters_ready')).toBe(2);

    api('carbon-kr').up();
    const back = await dispatch();
    expect(back.created).toEqual([{ job_id: 'waiting', cluster: 'carbon-kr', job_name: 'waiting', adopted: false }]);
    expect(await metricValue(metrics, 'clusters_ready')).toBe(3);
    await dispatch();
    expect(api('carbon-kr').jobNames().sort()).toEqual(['early', 'waiting']);
    expect(api('carbon-kr').creates()).toHaveLength(2);
  });

  it('a create whose answer was lost is adopted on the next cycle, not duplicated', async () => {
    await store.insert(planned('job', 'carbon-kr'));
    // Every answer to the create fails, though one of them was stored: the dispatcher sees a failure.
    const kr = api('carbon-kr');
    kr.fail(503, { method: 'POST', times: 3 });
    const failed = await dispatch();
    kr.putJob({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'job', labels: { 'caspian.io/job-id': 'job', 'app.kubernetes.io/managed-by': 'caspian' } }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'job', image: 'busybox:1.36' }] } } } });
    expect(failed.created).toEqual([]);
    expect(failed.failed).toEqual([{ job_id: 'job', cluster: 'carbon-kr', error: expect.stringContaining('failed 3 times') }]);
    expect(await get('job')).toMatchObject({ phase: 'Planned' });

    const next = await dispatch();
    expect(next.created).toEqual([{ job_id: 'job', cluster: 'carbon-kr', job_name: 'job', adopted: true }]);
    expect(kr.jobNames()).toEqual(['job']);
  });

  it('a restarted hub re-adopts its running Jobs by label instead of creating them again', async () => {
    await store.insert(planned('long', 'carbon-jp'));
    await dispatch();
    api('carbon-jp').setJobStatus('long', jobStatuses.running(clock.now()));
    await dispatch();
    await Promise.all(spokes.map((s) => s.client.close()));

    startHub();
    const summary = await dispatch();
    expect(summary.created).toEqual([]);
    expect(summary.failed).toEqual([]);
    api('carbon-jp').setJobStatus('long', jobStatuses.succeeded(clock.now(), clock.now()));
    expect((await dispatch()).synced).toEqual([{ job_id: 'long', phase: 'Succeeded' }]);
    expect(api('carbon-jp').creates()).toHaveLength(1);
  });

  it('an API refusal (422) fails the AppWrapper with the API message, without marking the cluster NotReady', async () => {
    const aw = planned('bad', 'carbon-kr');
    await store.insert({ ...aw, spec: { ...aw.spec, image: '' } });
    await dispatch();
    expect(await get('bad')).toMatchObject({
      phase: 'Failed',
      reason: 'the cluster refused the Job: create Job bad on cluster carbon-kr: Job.batch "bad" is invalid: spec.template.spec.containers[0].image: Required value (422 Invalid)',
    });
    expect(await metricValue(metrics, 'clusters_ready')).toBe(3);
  });

  it('a namespace quota used up keeps the job Planned and the cluster Ready; its Job is created once a Job is gone', async () => {
    api('carbon-kr').setJobCountQuota('job-count', 1);
    await store.insert(planned('first', 'carbon-kr'));
    await store.insert(planned('second', 'carbon-kr'));
    const summary = await dispatch();
    expect(summary.created.map((c) => c.job_id)).toEqual(['first']);
    expect(summary.failed).toEqual([
      {
        job_id: 'second',
        cluster: 'carbon-kr',
        error: 'create Job second on cluster carbon-kr: jobs.batch "second" is forbidden: exceeded quota: job-count, requested: count/jobs.batch=1, used: count/jobs.batch=1, limited: count/jobs.batch=1 (403 Forbidden)',
      },
    ]);
    expect(await get('second')).toMatchObject({ phase: 'Planned', gateOpen: false });
    expect(await metricValue(metrics, 'clusters_ready')).toBe(3);

    // 'first' finishes and its Job is removed (ttlSecondsAfterFinished): room for 'second'.
    api('carbon-kr').setJobStatus('first', jobStatuses.succeeded(clock.now() - 60_000, clock.now()));
    await dispatch();
    expect((await get('first')).phase).toBe('Succeeded');
    api('carbon-kr').removeJob('first');
    expect((await dispatch()).created.map((c) => c.job_id)).toEqual(['second']);
    expect(await get('second')).toMatchObject({ phase: 'Dispatched', placement: { cluster: 'carbon-kr' } });
  });

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

  it('a Job still running past its deadline (its deadline timer reset by a suspend and resume) is ended by the hub, dated when it was read running', async () => {
    await store.insert(planned('overrun', 'carbon-kr'));
    await dispatcher.run();
    api('carbon-kr').setJobStatus('overrun', jobStatuses.running(clock.now()));
    await dispatcher.run();
    // Hours past its deadline, its pods still running: they burnt until the hub ended them, not until the deadline.
    clock.advanceMinutes(240);
    await dispatcher.run();
    const aw = await get('overrun');
    expect(aw.deadlineAt).toBeLessThan(clock.now());
    expect(aw).toMatchObject({ phase: 'Failed', reason: expect.stringMatching(/^DeadlineExceeded: its Job overrun on carbon-kr was still running after its deadline/), finishedAt: clock.now() });
    expect(api('carbon-kr').job('overrun')).toBeUndefined();
  });

  it('a lost-answer Job made for ECO is not adopted once the plan moved the job to FAST: it is deleted, and a FAST Job made', async () => {
    await Promise.all(spokes.map((s) => s.client.close()));
    startHub([
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

  // Jobs that are not what they seem (another workload's of the same name, an earlier job's left until its TTL,
  // one made for another pool) and nodes smaller than they look (GPU-only, DaemonSets).
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
    startHub(undefined, (spoke) => {
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
    startHub([
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
