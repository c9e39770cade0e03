import { request as httpsRequest } from 'node:https';
import { Job } from 'kubernetes-models/batch/v1';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdapterError, JobBeingDeletedError, LeftoverJobError, QuotaExceededError } from '../../src/domain/errors.js';
import { jobManifest } from '../../src/spokes/job-manifest.js';
import { KubeconfigError } from '../../src/spokes/kubeconfig.js';
import { KUBERNETES_SPOKE_DEFAULTS, type KubernetesSpoke } from '../../src/spokes/kubernetes-spoke.js';
import { createKubernetesSpokes, kubernetesSpokesOptionsSchema } from '../../src/spokes/kubernetes-spokes.js';
import { coresToQuantity, gibToQuantity, parseQuantity, quantityToGib } from '../../src/spokes/quantity.js';
import type { SpokeClient } from '../../src/spokes/types.js';
import { jobStatuses, startDoubleClusters, timestamp, type DoubleClusters, type KubeApiDouble } from '../support/kube-api-double/index.js';
import { spokeJob } from '../support/spoke-job-builder.js';

const GIB = 2 ** 30;

describe('Kubernetes quantities', () => {
  it.each([
    ['2', 2],
    ['500m', 0.5],
    ['1.5', 1.5],
    ['8Gi', 8 * GIB],
    ['8000Mi', 8000 * 2 ** 20],
    ['8G', 8e9],
    ['1e3', 1000],
    ['2E', 2e18],
    ['1E3', 1000],
    ['123456789', 123456789],
    ['100k', 1e5],
    ['250u', 250e-6],
  ])('%s is %d', (quantity, value) => {
    expect(parseQuantity(quantity)).toBeCloseTo(value, 9);
  });

  it('refuses what is not a quantity', () => {
    expect(() => parseQuantity('2 cores')).toThrow(RangeError);
    expect(() => parseQuantity('Gi')).toThrow(RangeError);
  });

  it('writes cores as millicores and memory as Gi or Mi, rounding up', () => {
    expect([coresToQuantity(2), coresToQuantity(0.3), coresToQuantity(0.0001)]).toEqual(['2000m', '300m', '1m']);
    expect([gibToQuantity(4), gibToQuantity(0.5), gibToQuantity(1.0001)]).toEqual(['4Gi', '512Mi', '1025Mi']);
    expect(quantityToGib(gibToQuantity(2.5))).toBe(2.5);
    // However small, a request stays a request (the API takes cpu > 0): "0m" would ask for nothing, and a limit of 0 is no limit.
    expect([coresToQuantity(1e-7), coresToQuantity(1e-300), gibToQuantity(1e-13), gibToQuantity(0)]).toEqual(['1m', '1m', '1Mi', '0Gi']);
  });
});

describe('Job manifest', () => {
  const settings = { namespace: 'batch-jobs', backoffLimit: 2, ttlSecondsAfterFinished: 3600 };

  it('carries labels, annotations, requests equal to limits and the Job limits, and validates against the Kubernetes schema', () => {
    const request = { ...spokeJob('train-7').cpu(2.5).memGb(6).gpu(1).obj(), jobName: 'train-7-g2', generation: 2, region: 'JP', plannedStartAt: Date.UTC(2026, 0, 5, 1, 30), co2EstimateG: 123.4567, migratedFrom: 'carbon-kr' };
    const manifest = jobManifest(request, settings);
    expect(() => new Job(manifest as ConstructorParameters<typeof Job>[0]).validate()).not.toThrow();
    expect(manifest.metadata).toEqual({
      name: 'train-7-g2',
      namespace: 'batch-jobs',
      labels: { 'caspian.io/job-id': 'train-7', 'caspian.io/region': 'JP', 'caspian.io/pool': 'FAST', 'app.kubernetes.io/managed-by': 'caspian', app: 'caspian-job' },
      annotations: {
        'caspian.io/planned-start': '2026-01-05T01:30:00.000Z',
        'caspian.io/co2-estimate-g': '123.457',
        'caspian.io/generation': '2',
        'caspian.io/migrated-from': 'carbon-kr',
      },
    });
    expect(manifest.spec).toMatchObject({ backoffLimit: 2, activeDeadlineSeconds: 3600, ttlSecondsAfterFinished: 3600 });
    const pod = manifest.spec?.template.spec;
    expect(pod?.restartPolicy).toBe('Never');
    expect(pod).not.toHaveProperty('nodeSelector');
    expect(manifest.spec?.template.metadata?.labels).toEqual(manifest.metadata?.labels);
    const container = pod?.containers[0];
    expect(container).toMatchObject({ image: 'busybox:1.36', command: ['sleep', '600'], env: expect.arrayContaining([{ name: 'CASPIAN_RUNTIME_SECONDS', value: '600' }]) });
    const resources = { cpu: '2500m', memory: '6Gi', 'nvidia.com/gpu': '1' };
    expect(container?.resources).toEqual({ requests: resources, limits: resources });
    // A GPU job tolerates the taint of GPU node pools (GKE adds it at admission; other clusters do not).
    expect(pod?.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  });

  it('leaves out memory and GPUs that are zero, and migrated-from when there was no move', () => {
    const manifest = jobManifest(spokeJob('small').cpu(0.25).memGb(0).gpu(0).obj(), settings);
    expect(() => new Job(manifest as ConstructorParameters<typeof Job>[0]).validate()).not.toThrow();
    expect(manifest.spec?.template.spec?.containers[0]?.resources).toEqual({ requests: { cpu: '250m' }, limits: { cpu: '250m' } });
    expect(manifest.metadata?.annotations).not.toHaveProperty('caspian.io/migrated-from');
    expect(manifest.spec?.template.spec).not.toHaveProperty('tolerations');
  });

  it("puts the pool's label on the Job and its node selector on the pod", () => {
    const manifest = jobManifest(spokeJob('eco').pool('ECO', { 'node.kubernetes.io/pool': 'eco' }).obj(), settings);
    expect(() => new Job(manifest as ConstructorParameters<typeof Job>[0]).validate()).not.toThrow();
    expect(manifest.metadata?.labels).toMatchObject({ 'caspian.io/pool': 'ECO' });
    expect(manifest.spec?.template.spec?.nodeSelector).toEqual({ 'node.kubernetes.io/pool': 'eco' });
  });

  it('a manifest the schema refuses is caught by the schema check', () => {
    const manifest = jobManifest(spokeJob('bad').obj(), settings);
    const broken = { ...manifest, spec: { ...manifest.spec, backoffLimit: 'two' } };
    expect(() => new Job(broken as unknown as ConstructorParameters<typeof Job>[0]).validate()).toThrow();
  });
});

describe('Kubernetes spoke against the API server double', () => {
  let doubles: DoubleClusters;
  let sleeps: number[];
  let listRestarts: string[];
  let spokes: { info: { name: string }; client: SpokeClient }[];
  const spoke = (name = 'carbon-kr') => spokes.find((s) => s.info.name === name)?.client as KubernetesSpoke;
  const api = (name = 'carbon-kr'): KubeApiDouble => doubles.byName(name).api;

  const make = (overrides: { requestTimeoutMs?: number; kubeconfigYaml?: string; listChunkSize?: number } = {}) =>
    createKubernetesSpokes(
      {
        kubeconfigYaml: overrides.kubeconfigYaml ?? doubles.kubeconfigYaml,
        namespace: 'default',
        clusters: doubles.clusters.map(({ name, region, zone, context }) => ({ name, region, zone, context })),
        // A bound for the stall tests, not a speed claim.
        requestTimeoutMs: overrides.requestTimeoutMs ?? 1000,
        listChunkSize: overrides.listChunkSize,
      },
      { sleep: async (ms) => void sleeps.push(ms), onListRestart: (cluster, resource) => void listRestarts.push(`${cluster} ${resource}`) },
    );

  /** How far the API servers' clock is from this one, for objects made in the past. */
  let apiClockShiftMs = 0;
  beforeEach(async () => {
    apiClockShiftMs = 0;
    doubles = await startDoubleClusters({ now: () => Date.now() + apiClockShiftMs });
    sleeps = [];
    listRestarts = [];
    spokes = make();
  });
  afterEach(async () => {
    await Promise.all(spokes.map((s) => s.client.close()));
    await doubles.close();
  });

  it('pins its defaults', () => {
    expect(KUBERNETES_SPOKE_DEFAULTS).toEqual({ namespace: 'default', backoffLimit: 2, ttlSecondsAfterFinished: 86_400, requestTimeoutMs: 2500, listChunkSize: 500, retry: { maxAttempts: 3, baseDelayMs: 250, maxDelayMs: 2000 } });
    const parsed = kubernetesSpokesOptionsSchema.parse({ clusters: [{ name: 'carbon-kr', region: 'KR', zone: 'KR', context: 'kind-carbon-kr' }] });
    expect(parsed).toMatchObject({ namespace: 'default', backoffLimit: 2, ttlSecondsAfterFinished: 86_400, requestTimeoutMs: 2500, listChunkSize: 500 });
  });

  it('refuses options and kubeconfigs that cannot work, naming the problem', () => {
    expect(() => kubernetesSpokesOptionsSchema.parse({ namespace: 'Bad_NS', clusters: [] })).toThrow(/DNS-1123|too small/i);
    expect(() => make({ kubeconfigYaml: doubles.kubeconfigYaml.replaceAll('kind-carbon-cn', 'kind-elsewhere') })).toThrow(KubeconfigError);
    expect(() => make({ kubeconfigYaml: doubles.kubeconfigYaml.replaceAll('kind-carbon-cn', 'kind-elsewhere') })).toThrow('kubeconfig has no context "kind-carbon-cn"');
  });

  it('creates each Job on its own cluster only, from the manifest, with the API defaults added', async () => {
    expect(await spoke('carbon-jp').createJob({ ...spokeJob('job-a').obj(), region: 'JP' })).toBe('created');
    expect(api('carbon-jp').jobNames()).toEqual(['job-a']);
    expect(api('carbon-kr').jobNames()).toEqual([]);
    expect(api('carbon-cn').jobNames()).toEqual([]);
    const stored = api('carbon-jp').job('job-a');
    expect(stored).toMatchObject({ metadata: { labels: { 'caspian.io/job-id': 'job-a', 'caspian.io/region': 'JP' }, uid: expect.any(String), resourceVersion: expect.any(String) } });
    expect(() => new Job(stored as ConstructorParameters<typeof Job>[0]).validate()).not.toThrow();
  });

  it('reports allocatable of Ready, uncordoned, untainted nodes and what foreign pods request there, not its own pods nor pods no node fits', async () => {
    const kr = api();
    kr.addNode({ name: 'carbon-kr-gpu', allocatable: { cpu: '7500m', memory: '30000Mi', 'nvidia.com/gpu': '2' } });
    kr.addNode({ name: 'carbon-kr-broken', allocatable: { cpu: '64', memory: '256Gi' }, ready: false });
    kr.addNode({ name: 'carbon-kr-cordoned', allocatable: { cpu: '64', memory: '256Gi' }, unschedulable: true });
    kr.addNode({ name: 'carbon-kr-control-plane', allocatable: { cpu: '8', memory: '8Gi' }, taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] });
    kr.addNode({ name: 'carbon-kr-preferred', allocatable: { cpu: '1', memory: '1Gi' }, taints: [{ key: 'spot', effect: 'PreferNoSchedule' }] });
    kr.addPod({ namespace: 'kube-system', name: 'coredns', nodeName: 'carbon-kr-worker', containers: [{ cpu: '100m', memory: '70Mi' }] });
    kr.addPod({ namespace: 'ml', name: 'notebook', nodeName: 'carbon-kr-gpu', containers: [{ cpu: '1', memory: '2Gi', 'nvidia.com/gpu': '1' }, { cpu: '500m', memory: '1Gi' }] });
    kr.addPod({ namespace: 'ml', name: 'waiting', containers: [{ cpu: '2', memory: '1Gi' }], phase: 'Pending' });
    // No node can ever take this one: the scheduler said so, and it holds no room (counted, it would hide the whole cluster).
    const noFit = { type: 'PodScheduled', status: 'False', lastProbeTime: null, lastTransitionTime: timestamp(Date.now()), reason: 'Unschedulable', message: '0/5 nodes are available: 5 Insufficient cpu.' };
    kr.addPod({ namespace: 'ml', name: 'oversized', containers: [{ cpu: '64', memory: '256Gi' }], phase: 'Pending', conditions: [noFit] });
    // The scheduler reserves the larger of the init container and the containers.
    kr.addPod({ namespace: 'ml', name: 'init-heavy', nodeName: 'carbon-kr-worker2', containers: [{ cpu: '100m' }], initContainers: [{ cpu: '3', memory: '1Gi' }] });
    kr.addPod({ namespace: 'ml', name: 'finished', nodeName: 'carbon-kr-worker', containers: [{ cpu: '8' }], phase: 'Succeeded' });
    kr.addPod({ namespace: 'ml', name: 'on-broken-node', nodeName: 'carbon-kr-broken', containers: [{ cpu: '8' }] });
    kr.addPod({ namespace: 'default', name: 'ours', nodeName: 'carbon-kr-worker', containers: [{ cpu: '2', memory: '4Gi' }], labels: { 'caspian.io/job-id': 'x' } });

    const status = await spoke().status();
    expect(status.ready).toBe(true);
    expect(status.allocatable.cpu).toBeCloseTo(4 + 4 + 7.5 + 1, 9);
    expect(status.allocatable.memGb).toBeCloseTo(16 + 16 + 30000 / 1024 + 1, 9);
    expect(status.allocatable.gpu).toBe(2);
    expect(status.foreignUsage.cpu).toBeCloseTo(0.1 + 1.5 + 2 + 3, 9);
    expect(status.foreignUsage.memGb).toBeCloseTo(70 / 1024 + 3 + 1 + 1, 9);
    expect(status.foreignUsage.gpu).toBe(1);
    // One entry per kind of usable node: a job must fit on one of them, whatever the sum.
    expect(status.nodeSizes).toHaveLength(3);
    expect(status.nodeSizes).toEqual(expect.arrayContaining([{ cpu: 4, memGb: 16, gpu: 0 }, { cpu: 7.5, memGb: 30000 / 1024, gpu: 2 }, { cpu: 1, memGb: 1, gpu: 0 }]));
    expect(kr.requests.find((r) => r.path === '/api/v1/pods')?.query.fieldSelector).toBe('status.phase!=Succeeded,status.phase!=Failed');
  });

  it('counts the GPUs of GPU nodes tainted nvidia.com/gpu (GKE GPU pools), which only GPU Jobs tolerate, and not their cores', async () => {
    const kr = api();
    const gpuTaint = { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' as const };
    kr.addNode({ name: 'carbon-kr-gpu', allocatable: { cpu: '8', memory: '32Gi', 'nvidia.com/gpu': '2' }, taints: [gpuTaint] });
    // Tainted for GPUs and something else: no Job of ours tolerates that.
    kr.addNode({ name: 'carbon-kr-gpu-reserved', allocatable: { cpu: '8', memory: '32Gi', 'nvidia.com/gpu': '4' }, taints: [gpuTaint, { key: 'team', value: 'vision', effect: 'NoSchedule' }] });
    kr.addPod({ namespace: 'ml', name: 'inference', nodeName: 'carbon-kr-gpu', containers: [{ cpu: '2', memory: '4Gi', 'nvidia.com/gpu': '1' }] });
    const status = await spoke().status();
    expect(status.allocatable).toEqual({ cpu: 8, memGb: 32, gpu: 2 });
    expect(status.foreignUsage).toEqual({ cpu: 0, memGb: 0, gpu: 1 });
    // A GPU job must fit on the GPU node itself; a job without GPUs never lands there.
    expect(status.nodeSizes).toEqual(expect.arrayContaining([{ cpu: 8, memGb: 32, gpu: 2, gpuJobsOnly: true }]));
    expect(status.nodeSizes).not.toContainEqual(expect.objectContaining({ cpu: 8, memGb: 32, gpu: 4 }));
  });

  it('lists nodes, pods and Jobs in chunks of listChunkSize, following the continue tokens to the end', async () => {
    await Promise.all(spokes.map((s) => s.client.close()));
    spokes = make({ listChunkSize: 2 });
    const kr = api();
    for (let i = 1; i <= 3; i++) kr.addNode({ name: `carbon-kr-n${i}`, allocatable: { cpu: '4', memory: '8Gi' } });
    for (let i = 1; i <= 5; i++) kr.addPod({ namespace: 'ml', name: `p${i}`, nodeName: 'carbon-kr-n1', containers: [{ cpu: '100m' }] });
    for (const name of ['e', 'a', 'd', 'b', 'c']) await spoke().createJob(spokeJob(name).obj());

    expect((await spoke().listJobs()).map((j) => j.jobName)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(listRestarts).toEqual([]);
    const jobLists = kr.requests.filter((r) => r.method === 'GET' && r.path === '/apis/batch/v1/namespaces/default/jobs');
    expect(jobLists.map((r) => r.query.limit)).toEqual(['2', '2', '2']);
    expect(jobLists.map((r) => r.query.continue === undefined)).toEqual([true, false, false]);
    expect(jobLists.every((r) => r.query.labelSelector === 'app.kubernetes.io/managed-by=caspian')).toBe(true);

    const chunked = await spoke().status();
    expect(chunked.foreignUsage.cpu).toBeCloseTo(0.5, 9);
    expect(kr.requests.filter((r) => r.path === '/api/v1/pods').map((r) => r.query.limit)).toEqual(['2', '2', '2']);
    expect(kr.requests.filter((r) => r.path === '/api/v1/nodes').length).toBeGreaterThanOrEqual(2);
    await Promise.all(spokes.map((s) => s.client.close()));
    spokes = make({ listChunkSize: 10_000 });
    expect(await spoke().status()).toEqual(chunked);
  });

  it('reads a list again in one request when its continue token expires half-way (410 Expired)', async () => {
    await Promise.all(spokes.map((s) => s.client.close()));
    spokes = make({ listChunkSize: 2 });
    const kr = api();
    for (const name of ['a', 'b', 'c', 'd', 'e']) await spoke().createJob(spokeJob(name).obj());
    kr.compactAfterNextListChunk();

    expect((await spoke().listJobs()).map((j) => j.jobName)).toEqual(['a', 'b', 'c', 'd', 'e']);
    const jobLists = kr.requests.filter((r) => r.method === 'GET' && r.path === '/apis/batch/v1/namespaces/default/jobs');
    expect(jobLists.map((r) => [r.query.limit, r.query.continue === undefined, r.status])).toEqual([
      ['2', true, 200],
      ['2', false, 410],
      [undefined, true, 200],
    ]);
    expect(listRestarts).toEqual(['carbon-kr jobs']);
  });

  it('counts a list restart once the list read again succeeded, not when that read fails too', async () => {
    await Promise.all(spokes.map((s) => s.client.close()));
    spokes = make({ listChunkSize: 2 });
    const kr = api();
    for (const name of ['a', 'b', 'c']) await spoke().createJob(spokeJob(name).obj());
    kr.compactAfterNextListChunk();
    // The first chunk and the expired continuation are answered; the unchunked read again is refused.
    kr.fail(403, { method: 'GET', path: /\/apis\/batch\/v1\/namespaces\/default\/jobs$/, after: 2 });
    await expect(spoke().listJobs()).rejects.toBeInstanceOf(AdapterError);
    expect(listRestarts).toEqual([]);
  });

  it('does not adopt a Job of the same id made before the job was submitted (an earlier job\'s, kept until its TTL)', async () => {
    await spoke().createJob(spokeJob('report').obj());
    const later = Date.now() + 2 * 3600_000;
    await expect(spoke().createJob(spokeJob('report').submittedAt(later).obj())).rejects.toBeInstanceOf(LeftoverJobError);
    // Made within the clock skew allowed of the submission: the job's own (an earlier try whose answer was lost).
    expect(await spoke().createJob(spokeJob('report').submittedAt(Date.now() + 30_000).obj())).toBe('adopted');
  });

  it('adopts an existing Job of the same AppWrapper on 409 and refuses one that is not ours', async () => {
    const request = spokeJob('job-a').obj();
    expect(await spoke().createJob(request)).toBe('created');
    expect(await spoke().createJob(request)).toBe('adopted');
    expect(api().jobNames()).toEqual(['job-a']);

    api().putJob({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'job-b', labels: { team: 'data' } }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } });
    const refused = await spoke().createJob(spokeJob('job-b').obj()).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AdapterError);
    expect(refused).toMatchObject({ retryable: false, message: 'Job default/job-b already exists on cluster carbon-kr and belongs to no CASPIAN job, not to "job-b"' });

    api().putJob({ ...jobManifest(spokeJob('other').jobName('job-c').obj(), { namespace: 'default', backoffLimit: 2, ttlSecondsAfterFinished: 60 }) } as unknown as Record<string, unknown>);
    await expect(spoke().createJob(spokeJob('job-c').obj())).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('belongs to CASPIAN job "other"') });
  });

  it('a Job held by a finalizer after its delete is listed as being deleted, and a create of its name waits (retryable) whoever it was', async () => {
    await spoke().createJob(spokeJob('held').obj());
    api().addFinalizer('held', 'example.com/cleanup');
    expect(await spoke().deleteJob('held', 'held')).toBe(true);
    expect(await spoke().listJobs()).toEqual([expect.objectContaining({ jobName: 'held', deleting: true })]);
    for (const id of ['held', 'someone-else']) {
      const refused = await spoke().createJob(spokeJob(id).jobName('held').obj()).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(JobBeingDeletedError);
      expect(refused).toMatchObject({ retryable: true, message: 'Job default/held on cluster carbon-kr is being deleted; it can be created again once it is gone' });
    }
    api().releaseFinalizers('held');
    expect(await spoke().listJobs()).toEqual([]);
    expect(await spoke().createJob(spokeJob('held').obj())).toBe('created');
  });

  it('after a restart, a new client finds the Jobs by label and adopts them instead of duplicating', async () => {
    await spoke().createJob(spokeJob('survivor').obj());
    api().putJob({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'unrelated' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } });
    await Promise.all(spokes.map((s) => s.client.close()));

    spokes = make();
    expect((await spoke().listJobs()).map((j) => j.jobName)).toEqual(['survivor']);
    expect(api().requests.at(-1)?.query.labelSelector).toBe('app.kubernetes.io/managed-by=caspian');
    expect(await spoke().createJob(spokeJob('survivor').obj())).toBe('adopted');
    expect(api().creates()).toHaveLength(1);
  });

  it('maps Job status and conditions to phases, with the reason of a failure', async () => {
    const t0 = Date.UTC(2026, 0, 5, 0, 0, 0);
    for (const name of ['pending', 'starting', 'running', 'done', 'late', 'crashing']) await spoke().createJob(spokeJob(name).obj());
    api().setJobStatus('starting', jobStatuses.pending(t0));
    api().setJobStatus('running', jobStatuses.running(t0));
    api().setJobStatus('done', jobStatuses.succeeded(t0, t0 + 600_000));
    api().setJobStatus('late', jobStatuses.failed(t0, t0 + 3_600_000, 'DeadlineExceeded'));
    api().setJobStatus('crashing', jobStatuses.failed(t0, t0 + 60_000, 'BackoffLimitExceeded'));

    const byName = Object.fromEntries((await spoke().listJobs()).map((j) => [j.jobName, j]));
    const createdAt = expect.any(Number);
    expect(byName.pending).toEqual({ jobId: 'pending', jobName: 'pending', phase: 'Pending', createdAt, pool: 'FAST' });
    expect(byName.starting).toMatchObject({ phase: 'Pending' });
    // status.startTime dates the Job, not its pod's start (it may have queued): a running Job is not dated.
    expect(byName.running).toEqual({ jobId: 'running', jobName: 'running', phase: 'Running', createdAt, pool: 'FAST' });
    expect(byName.done).toEqual({ jobId: 'done', jobName: 'done', phase: 'Succeeded', startedAt: t0, finishedAt: t0 + 600_000, createdAt, pool: 'FAST' });
    expect(byName.late).toEqual({ jobId: 'late', jobName: 'late', phase: 'Failed', startedAt: t0, finishedAt: t0 + 3_600_000, reason: 'DeadlineExceeded: Job was active longer than specified deadline', createdAt, pool: 'FAST' });
    expect(byName.crashing).toMatchObject({ phase: 'Failed', reason: 'BackoffLimitExceeded: Job has reached the specified backoff limit' });
  });

  it('dates a running Job by its pod, not by the Job controller, and a Job without pods not at all', async () => {
    const t0 = Date.UTC(2026, 0, 5, 0, 0, 0);
    for (const name of ['queued', 'podless']) {
      await spoke().createJob(spokeJob(name).obj());
      // The Job controller took both up at t0; 'queued' waited for room and its pod started later.
      api().setJobStatus(name, jobStatuses.running(t0));
    }
    const podStartedAt = Date.now();
    api().addPod({ namespace: 'default', name: 'queued-x7k2p', phase: 'Running', job: 'queued', containers: [{ cpu: '1' }] });
    const byName = Object.fromEntries((await spoke().listJobs()).map((j) => [j.jobName, j]));
    expect(byName.queued?.startedAt).toBeGreaterThanOrEqual(Math.floor(podStartedAt / 1000) * 1000);
    expect(byName.podless?.startedAt).toBeUndefined();
    expect(api().requests.find((r) => r.path === '/api/v1/namespaces/default/pods')?.query.labelSelector).toBe('app.kubernetes.io/managed-by=caspian');
  });

  it('does not date a Job by the pod of a deleted Job of the same name that is still terminating', async () => {
    apiClockShiftMs = -3 * 3_600_000;
    await spoke().createJob(spokeJob('again').obj());
    api().addPod({ namespace: 'default', name: 'again-old01', phase: 'Running', job: 'again', containers: [{ cpu: '1' }] });
    await spoke().deleteJob('again', 'again');
    // Background propagation: the Job is gone at once, its pod is removed later by the garbage collector.
    apiClockShiftMs = 0;
    const newPodStartedAt = Math.floor(Date.now() / 1000) * 1000;
    await spoke().createJob(spokeJob('again').obj());
    api().setJobStatus('again', jobStatuses.running(newPodStartedAt));
    api().addPod({ namespace: 'default', name: 'again-new02', phase: 'Running', job: 'again', containers: [{ cpu: '1' }] });
    const [again] = await spoke().listJobs();
    expect(again).toMatchObject({ jobName: 'again', phase: 'Running' });
    expect(again?.startedAt).toBeGreaterThanOrEqual(newPodStartedAt);
  });

  /** A container status as the kubelet writes it. */
  const containerStatus = (state: Record<string, unknown>) => ({ name: 'c0', state, lastState: {}, ready: 'running' in state, restartCount: 0, image: 'busybox:1.36', imageID: '', started: 'running' in state });

  it('does not date a Job by a container that failed to start (reported terminated, started at the epoch)', async () => {
    // kubernetes#120331: a container that never started (StartError: a bad command, a failed mount) is reported
    // with startedAt 1970-01-01; the Job's next pod then ran.
    await spoke().createJob(spokeJob('flaky').obj());
    api().setJobStatus('flaky', jobStatuses.running(Date.now()));
    const startError = { terminated: { exitCode: 128, reason: 'StartError', message: 'exec: "sleepx": executable file not found in $PATH', startedAt: '1970-01-01T00:00:00Z', finishedAt: timestamp(Date.now()) } };
    api().addPod({ namespace: 'default', name: 'flaky-aaaaa', phase: 'Failed', job: 'flaky', containers: [{ cpu: '1' }], containerStatuses: [containerStatus(startError)] });
    const ranFrom = Math.floor(Date.now() / 1000) * 1000 + 1000;
    api().addPod({ namespace: 'default', name: 'flaky-bbbbb', phase: 'Running', job: 'flaky', containers: [{ cpu: '1' }], containerStatuses: [containerStatus({ running: { startedAt: timestamp(ranFrom) } })] });
    const [flaky] = await spoke().listJobs();
    expect(flaky).toMatchObject({ jobName: 'flaky', phase: 'Running', startedAt: ranFrom });
  });

  it('does not date a Job that failed while its listed pod never started (an image that cannot be pulled)', async () => {
    const t0 = Date.UTC(2026, 0, 5, 0, 0, 0);
    await spoke().createJob(spokeJob('typo').obj());
    const pulling = containerStatus({ waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "busybox:1.366"' } });
    api().addPod({ namespace: 'default', name: 'typo-ccccc', phase: 'Pending', job: 'typo', containers: [{ cpu: '1' }], containerStatuses: [pulling] });
    // Kubernetes 1.31+ sets FailureTarget first and Failed once the pods are gone: the pod is still listed here.
    const decided = jobStatuses.failed(t0, t0 + 3_600_000, 'DeadlineExceeded');
    api().setJobStatus('typo', { ...decided, conditions: decided.conditions.filter((c) => c.type === 'FailureTarget'), terminating: 1 });
    const [typo] = await spoke().listJobs();
    expect(typo).toMatchObject({ jobName: 'typo', phase: 'Failed' });
    expect(typo?.startedAt).toBeUndefined();
  });

  it('deletes with Background propagation on the condition that it is the Job it read, its pods with it, and a Job already gone is fine', async () => {
    await spoke().createJob(spokeJob('job-a').obj());
    api().addPod({ namespace: 'default', name: 'job-a-x7k2p', nodeName: 'carbon-kr-worker', phase: 'Running', containers: [{ cpu: '1', memory: '1Gi' }], job: 'job-a' });
    const uid = (api().job('job-a')?.metadata as { uid: string }).uid;
    expect(await spoke().deleteJob('job-a', 'job-a')).toBe(true);
    expect(await spoke().deleteJob('job-a', 'job-a')).toBe(false);
    expect(api().jobNames()).toEqual([]);
    // The policy travels in the body with the precondition: kube-apiserver reads a DELETE's options from its body when
    // it has one, and a batch/v1 Job deleted without a policy orphans its pods, which run on (a migrated job twice).
    const deletes = api().requests.filter((r) => r.method === 'DELETE');
    expect(deletes.map((r) => [r.body, r.propagationPolicy, r.status])).toEqual([[{ propagationPolicy: 'Background', preconditions: { uid } }, 'Background', 200]]);
    expect(api().podNames()).toEqual([]);
  });

  it('the API double applies a DELETE as kube-apiserver does: a body without a policy orphans the pods, the query policy beside it unread', async () => {
    await spoke().createJob(spokeJob('job-b').obj());
    api().addPod({ namespace: 'default', name: 'job-b-q9z4m', nodeName: 'carbon-kr-worker', phase: 'Running', containers: [{ cpu: '1', memory: '1Gi' }], job: 'job-b' });
    const uid = String((api().job('job-b')?.metadata as { uid: string }).uid);
    const payload = JSON.stringify({ preconditions: { uid } });
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${api().url}/apis/batch/v1/namespaces/default/jobs/job-b?propagationPolicy=Background`);
      const req = httpsRequest(url, { method: 'DELETE', ca: api().caPem, headers: { authorization: `Bearer ${api().token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(payload);
    });
    expect(status).toBe(200);
    expect(api().requests.at(-1)?.propagationPolicy).toBeUndefined();
    expect(api().jobNames()).toEqual([]);
    expect(api().podNames()).toEqual(['job-b-q9z4m']);
  });

  it('leaves alone a Job of the name that is not the job\'s: another workload\'s, or one made in its place after it was read', async () => {
    api().putJob({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'job-a', labels: { team: 'data' } }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } });
    expect(await spoke().deleteJob('job-a', 'job-a')).toBe(false);
    expect(api().jobNames()).toEqual(['job-a']);
    expect(api().requests.filter((r) => r.method === 'DELETE')).toEqual([]);

    // Ours when read, replaced by another object of the name before the delete: the uid precondition refuses (409).
    api().removeJob('job-a');
    await spoke().createJob(spokeJob('job-b').obj());
    const made = api().job('job-b') as Record<string, unknown>;
    const original = spoke()['batch'].readNamespacedJob.bind(spoke()['batch']);
    spoke()['batch'].readNamespacedJob = async (params: { name: string; namespace: string }) => {
      const job = await original(params);
      // The same manifest made again: a new object, with a uid of its own.
      api().removeJob('job-b');
      api().putJob(made);
      return job;
    };
    expect(await spoke().deleteJob('job-b', 'job-b')).toBe(false);
    expect(api().jobNames()).toEqual(['job-b']);
    expect(api().requests.filter((r) => r.method === 'DELETE').map((r) => r.status)).toEqual([409]);
  });

  it('retries 5xx and 429 with capped exponential backoff, honouring Retry-After', async () => {
    api().fail(503, { times: 1 });
    api().fail(429, { times: 1 });
    expect(await spoke().createJob(spokeJob('job-a').obj())).toBe('created');
    expect(sleeps).toEqual([250, 1000]);
    expect(api().requests.filter((r) => r.method === 'POST').map((r) => r.status)).toEqual([503, 429, 201]);
  });

  it('gives up after its attempts with a retryable error, then works again when the API answers', async () => {
    api().down();
    const error = await spoke().listJobs().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdapterError);
    expect(error).toMatchObject({ retryable: true, message: expect.stringMatching(/^list Jobs on cluster carbon-kr failed 3 times: /) });
    // The Jobs and their pods are listed side by side, each retried.
    expect(sleeps).toEqual([250, 250, 500, 500]);
    await expect(spoke().status()).rejects.toMatchObject({ retryable: true });

    api().up();
    expect(await spoke().listJobs()).toEqual([]);
    expect((await spoke().status()).ready).toBe(true);
  });

  it('a stalled API is cut off by the request timeout and retried; a create lost in a stall is adopted, not duplicated', async () => {
    spokes = make({ requestTimeoutMs: 250 });
    api().stall({ method: 'POST', times: 1 });
    expect(await spoke().createJob(spokeJob('job-a').obj())).toBe('created');
    expect(api().requests.filter((r) => r.method === 'POST').map((r) => r.fault ?? r.status)).toEqual(['stall', 201]);

    // The API stored the Job but its answer never came: the retry meets 409 and finds it is ours.
    api().fail(500, { method: 'POST', times: 1 });
    api().putJob(jobManifest(spokeJob('job-b').obj(), { namespace: 'default', backoffLimit: 2, ttlSecondsAfterFinished: 60 }) as unknown as Record<string, unknown>);
    expect(await spoke().createJob(spokeJob('job-b').obj())).toBe('adopted');
    expect(api().jobNames()).toEqual(['job-a', 'job-b']);

    api().stall({ times: Infinity });
    await expect(spoke().listJobs()).rejects.toMatchObject({ retryable: true, message: expect.stringContaining('no answer within 250 ms') });
  });

  it('a flapping API costs retries, not failures', async () => {
    api().flap(502);
    for (const name of ['a', 'b', 'c']) expect(await spoke().createJob(spokeJob(name).obj())).toBe('created');
    expect(await spoke().listJobs()).toHaveLength(3);
    expect(api().jobNames()).toEqual(['a', 'b', 'c']);
  });

  it('422 is a refusal carrying the API message, not retried', async () => {
    const error = await spoke().createJob({ ...spokeJob('job-a').obj(), image: '' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdapterError);
    expect(error).toMatchObject({
      retryable: false,
      message: 'create Job job-a on cluster carbon-kr: Job.batch "job-a" is invalid: spec.template.spec.containers[0].image: Required value (422 Invalid)',
    });
    expect(sleeps).toEqual([]);
    expect(api().requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });

  it('401 (a wrong token) is a refusal, not retried', async () => {
    spokes = make({ kubeconfigYaml: doubles.kubeconfigYaml.replace(api().token, 'stolen-token') });
    await expect(spoke().createJob(spokeJob('job-a').obj())).rejects.toMatchObject({ retryable: false, message: 'create Job job-a on cluster carbon-kr: 401 Unauthorized' });
    await expect(spoke().status()).rejects.toMatchObject({ retryable: false });
    expect(sleeps).toEqual([]);
    expect(api().requests.at(-1)?.status).toBe(401);
  });

  it('a 403 of a used-up namespace quota is retryable (room comes back), without retries inside the call', async () => {
    api().setJobCountQuota('job-count', 0);
    const error = await spoke().createJob(spokeJob('job-a').obj()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect(error).toMatchObject({ retryable: true, message: expect.stringContaining('exceeded quota: job-count, requested: count/jobs.batch=1, used: count/jobs.batch=0, limited: count/jobs.batch=0') });
    expect(sleeps).toEqual([]);
    expect(api().requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });

  it('a 403 of a quota its controller has not counted yet is a QuotaExceededError too', async () => {
    api().setJobCountQuota('job-count', 5, 'default', { counted: false });
    const error = await spoke().createJob(spokeJob('job-a').obj()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect((error as Error).message).toContain('status unknown for quota: job-count, resources: count/jobs.batch');
  });

  it('adopts its own Job when a retried create meets the quota that Job filled (admission answers before the taken name)', async () => {
    const request = spokeJob('job-a').obj();
    expect(await spoke().createJob(request)).toBe('created');
    api().setJobCountQuota('job-count', 1);
    // Its first answer lost, the create is tried again: 403 exceeded quota, not 409, and the Job is ours.
    expect(await spoke().createJob(request)).toBe('adopted');
    expect(api().requests.filter((r) => r.method === 'POST').map((r) => r.status)).toEqual([201, 403]);
    // Someone else's Job in that slot is no reason to adopt: the quota error stands.
    await expect(spoke().createJob({ ...spokeJob('other').obj(), jobName: 'job-a' })).rejects.toBeInstanceOf(QuotaExceededError);
  });

  it('403 and 400 are refusals with the API message too', async () => {
    api().fail(403, { method: 'POST' });
    await expect(spoke().createJob(spokeJob('job-a').obj())).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('cannot create resource "jobs" in API group "batch"') });
    spokes = createKubernetesSpokes({ kubeconfigYaml: doubles.kubeconfigYaml, namespace: 'missing', clusters: [{ name: 'carbon-kr', region: 'KR', zone: 'KR', context: 'kind-carbon-kr' }] });
    await expect(spoke().createJob(spokeJob('job-a').obj())).rejects.toMatchObject({ retryable: false, message: 'create Job job-a on cluster carbon-kr: namespaces "missing" not found (404 NotFound)' });
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
