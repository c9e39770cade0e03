import {
  BatchV1Api,
  CoreV1Api,
  createConfiguration,
  ServerConfiguration,
  type KubeConfig,
  type RequestContext,
  type ResponseContext,
  type V1Container,
  type V1Job,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { addResources, madeBefore, NO_RESOURCES, POOLS, type Resources } from '../domain/app-wrapper.js';
import type { ClusterStatus, NodeSize } from '../domain/cluster.js';
import { AdapterError, errorMessage, JobBeingDeletedError, LeftoverJobError, QuotaExceededError } from '../domain/errors.js';
import { callKube, realSleep, type CallSettings, type RetryPolicy, type Sleep } from './kube-call.js';
import { GPU_RESOURCE, jobManifest, LABEL_JOB_ID, LABEL_POOL, MANAGED_SELECTOR } from './job-manifest.js';
import { parseQuantity, quantityToCores, quantityToGib } from './quantity.js';
import type { ListedResource, SpokeClient, SpokeJobPhase, SpokeJobRequest, SpokeJobStatus } from './types.js';

export interface KubernetesSpokeSettings {
  /** Namespace the Jobs are created in. */
  namespace: string;
  /** Pod failures before a Job fails. */
  backoffLimit: number;
  /** Seconds a finished Job stays readable before Kubernetes removes it. */
  ttlSecondsAfterFinished: number;
  /** Longest one HTTP request may go unanswered. */
  requestTimeoutMs: number;
  /** Items per request when listing nodes, pods and Jobs (`limit`; kubectl's default is 500). */
  listChunkSize: number;
  retry: RetryPolicy;
}

/**
 * Told when a list is read again in one request because its continue token expired (410 Gone): the call
 * succeeded, but an operator who sees it often should raise `spokes.list_chunk_size` or look at etcd's
 * compaction interval.
 */
export type ListRestartHook = (cluster: string, resource: ListedResource) => void;

export interface KubernetesSpokeDeps {
  sleep?: Sleep;
  onListRestart?: ListRestartHook;
}

/**
 * Defaults sized so that a call that keeps failing (3 tries of at most 2.5 s, 0.25 s and 0.5 s apart) gives
 * up in under the hub's 10 s adapter timeout: the spoke reports the failure itself instead of being cut off.
 */
export const KUBERNETES_SPOKE_DEFAULTS: Readonly<KubernetesSpokeSettings> = Object.freeze({
  namespace: 'default',
  backoffLimit: 2,
  ttlSecondsAfterFinished: 86_400,
  requestTimeoutMs: 2500,
  listChunkSize: 500,
  retry: Object.freeze({ maxAttempts: 3, baseDelayMs: 250, maxDelayMs: 2000 }),
});

const ACTIVE_POD_PHASES = new Set(['Pending', 'Running']);

function resourcesOf(list: Record<string, string> | undefined): Resources {
  return {
    cpu: list?.cpu ? quantityToCores(list.cpu) : 0,
    memGb: list?.memory ? quantityToGib(list.memory) : 0,
    gpu: list?.[GPU_RESOURCE] ? parseQuantity(list[GPU_RESOURCE]) : 0,
  };
}

function maxResources(a: Resources, b: Resources): Resources {
  return { cpu: Math.max(a.cpu, b.cpu), memGb: Math.max(a.memGb, b.memGb), gpu: Math.max(a.gpu, b.gpu) };
}

/** A container's requests; a resource with only a limit is requested at its limit, as the API server defaults it. */
function containerRequests(container: V1Container): Resources {
  return resourcesOf({ ...container.resources?.limits, ...container.resources?.requests });
}

/**
 * What the scheduler reserves for a pod: its containers and sidecars together, or the largest init
 * container (with the sidecars started before it) if that is more, plus the pod overhead.
 */
function podRequests(pod: V1Pod): Resources {
  let sidecars: Resources = NO_RESOURCES;
  let initPeak: Resources = NO_RESOURCES;
  for (const init of pod.spec?.initContainers ?? []) {
    const requests = containerRequests(init);
    if (init.restartPolicy === 'Always') sidecars = addResources(sidecars, requests);
    else initPeak = maxResources(initPeak, addResources(sidecars, requests));
  }
  const main = (pod.spec?.containers ?? []).reduce((sum, c) => addResources(sum, containerRequests(c)), sidecars);
  return addResources(maxResources(main, initPeak), resourcesOf(pod.spec?.overhead));
}

/**
 * Which of CASPIAN's Jobs can land on a node: every one on a Ready, uncordoned node without a taint that repels
 * pods; only GPU Jobs (they tolerate it) on one whose repelling taints are all the GPU taint; none otherwise.
 */
function nodeTakes(node: V1Node): 'all' | 'gpu-jobs' | 'none' {
  const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  if (!ready || node.spec?.unschedulable) return 'none';
  const repelling = (node.spec?.taints ?? []).filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
  if (repelling.length === 0) return 'all';
  return repelling.every((t) => t.key === GPU_RESOURCE && t.effect === 'NoSchedule') ? 'gpu-jobs' : 'none';
}

/** A pod the scheduler tried and found no node for (`PodScheduled` False, reason `Unschedulable`). */
function unschedulable(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable') ?? false;
}

function epochMs(time: Date | undefined): number | undefined {
  return time ? new Date(time).getTime() : undefined;
}

/** When the pods of each Job began their work, by the Job's uid; a Job listed with pods none of which ran has none. */
interface RunStarts {
  starts: Map<string, number>;
  withPods: Set<string>;
}

/**
 * When each Job's work began, by the Job's uid, from its pods: the earliest container start (running or
 * since terminated), else the moment a running pod was taken up by its node. A Job's own
 * `status.startTime` will not do: it is when the Job controller took the Job up, before its pod waited for
 * room. Pods are matched by their controller's uid, not the Job's name: the pods of a deleted Job of the
 * same name (an earlier job with the same id, or a move back) can outlive it for a while. A container that
 * failed to start is reported terminated with `startedAt` at the epoch (kubernetes#120331): it ran nothing,
 * and no start before its pod existed counts.
 */
function runStarts(pods: readonly V1Pod[]): RunStarts {
  const starts = new Map<string, number>();
  const withPods = new Set<string>();
  for (const pod of pods) {
    const jobUid = pod.metadata?.ownerReferences?.find((owner) => owner.controller && owner.kind === 'Job')?.uid;
    if (!jobUid) continue;
    withPods.add(jobUid);
    const podCreatedAt = epochMs(pod.metadata?.creationTimestamp) ?? -Infinity;
    const containers = (pod.status?.containerStatuses ?? []).flatMap((c) => {
      if (c.state?.terminated?.reason === 'StartError') return [];
      const at = epochMs(c.state?.running?.startedAt ?? c.state?.terminated?.startedAt);
      return at === undefined || at < podCreatedAt ? [] : [at];
    });
    const at = containers.length ? Math.min(...containers) : pod.status?.phase === 'Running' ? epochMs(pod.status.startTime) : undefined;
    if (at !== undefined) starts.set(jobUid, Math.min(starts.get(jobUid) ?? Infinity, at));
  }
  return { starts, withPods };
}

/** A Job's state as an AppWrapper phase, from its conditions first (they are final), then its pod counts. */
function jobStatus(job: V1Job, runs: RunStarts): SpokeJobStatus | undefined {
  const jobId = job.metadata?.labels?.[LABEL_JOB_ID];
  const jobName = job.metadata?.name;
  if (!jobId || !jobName) return undefined;
  const status = job.status ?? {};
  const condition = (...types: string[]) => status.conditions?.find((c) => types.includes(c.type) && c.status === 'True');
  const createdAt = epochMs(job.metadata?.creationTimestamp);
  const label = job.metadata?.labels?.[LABEL_POOL];
  const pool = POOLS.find((p) => p === label);
  const uid = job.metadata?.uid;
  const runStart = uid === undefined ? undefined : runs.starts.get(uid);
  const common = { jobId, jobName, createdAt, pool, ...(job.metadata?.deletionTimestamp && { deleting: true }) };
  // A finished Job's pods may be gone already: the controller's start is then the best figure left. While its
  // pods are listed they say whether it ran at all (one stuck pulling its image until the deadline did not).
  const startedAt = uid !== undefined && runs.withPods.has(uid) ? runStart : epochMs(status.startTime);
  // FailureTarget and SuccessCriteriaMet come first on newer clusters: the outcome is decided while pods still stop.
  const failed = condition('Failed', 'FailureTarget');
  if (failed) {
    const reason = failed.reason ?? 'Failed';
    return { ...common, phase: 'Failed', startedAt, finishedAt: epochMs(failed.lastTransitionTime), reason: failed.message ? `${reason}: ${failed.message}` : reason };
  }
  const complete = condition('Complete', 'SuccessCriteriaMet');
  if (complete) return { ...common, phase: 'Succeeded', startedAt, finishedAt: epochMs(status.completionTime ?? complete.lastTransitionTime) };
  // `ready` counts pods that run; clusters too old to report it only say how many pods are `active`.
  const running = status.ready !== undefined ? status.ready > 0 : (status.active ?? 0) > 0;
  const phase: SpokeJobPhase = running ? 'Running' : 'Pending';
  // A running Job is dated by its pods only: without them the hub dates it when it first sees it running.
  return { ...common, phase, ...(running && runStart !== undefined && { startedAt: runStart }) };
}

/**
 * A spoke that is a Kubernetes cluster: Jobs created, read and deleted through the API server of one
 * kubeconfig context, in one namespace. Every call is bounded by a request timeout and retried on
 * transient failures (see `callKube`).
 */
export class KubernetesSpoke implements SpokeClient {
  readonly kind = 'kubernetes';
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  private readonly settings: KubernetesSpokeSettings;
  private readonly sleep: Sleep;
  private readonly onListRestart: ListRestartHook | undefined;
  private readonly closing = new AbortController();

  constructor(
    readonly cluster: string,
    kubeconfig: KubeConfig,
    settings: Partial<KubernetesSpokeSettings> = {},
    deps: KubernetesSpokeDeps = {},
  ) {
    this.settings = { ...KUBERNETES_SPOKE_DEFAULTS, ...settings };
    this.sleep = deps.sleep ?? realSleep;
    this.onListRestart = deps.onListRestart;
    const server = kubeconfig.getCurrentCluster()?.server;
    if (!server) throw new AdapterError(`kubeconfig context "${kubeconfig.getCurrentContext()}" has no cluster server`, false);
    // Each request gets its own deadline, and close() cuts whatever is still in flight.
    const deadline = {
      pre: async (context: RequestContext) => {
        context.setSignal(AbortSignal.any([AbortSignal.timeout(this.settings.requestTimeoutMs), this.closing.signal]));
        return context;
      },
      post: async (context: ResponseContext) => context,
    };
    const configuration = createConfiguration({
      baseServer: new ServerConfiguration(server, {}),
      authMethods: { default: kubeconfig },
      promiseMiddleware: [deadline],
    });
    this.batch = new BatchV1Api(configuration);
    this.core = new CoreV1Api(configuration);
  }

  private callSettings(): CallSettings {
    return { retry: this.settings.retry, sleep: this.sleep, requestTimeoutMs: this.settings.requestTimeoutMs, isClosed: () => this.closing.signal.aborted };
  }

  private call<T>(what: string, send: () => Promise<T>): Promise<T> {
    return callKube(`${what} on cluster ${this.cluster}`, send, this.callSettings());
  }

  /** As `call`, but resolves with undefined when the API answers with one of `codes`. */
  private callTolerating<T>(what: string, send: () => Promise<T>, ...codes: [404 | 409 | 410, ...(404 | 409 | 410)[]]): Promise<T | undefined> {
    return callKube(`${what} on cluster ${this.cluster}`, send, this.callSettings(), ...codes);
  }

  /**
   * Every item of a list, fetched in chunks of `listChunkSize` (as kubectl does), so that a cluster with
   * tens of thousands of pods never has the API server build, nor the hub hold, one answer of them all.
   * When a continue token expires mid-way (410: etcd compacted the list's resource version), the list is
   * read again in one request, as client-go's pager does, and `onListRestart` is told.
   */
  private async listAll<T>(resource: ListedResource, what: string, list: (chunk: { limit?: number; _continue?: string }) => Promise<{ items: T[]; metadata?: { _continue?: string } }>): Promise<T[]> {
    const items: T[] = [];
    let token: string | undefined;
    do {
      const next = token;
      const page = await this.callTolerating(what, () => list({ limit: this.settings.listChunkSize, _continue: next }), 410);
      if (!page) {
        const whole = await this.call(`${what} (unchunked, its continue token expired)`, () => list({}));
        // Told once the read again succeeded: a restart that failed is the call's error, counted as such.
        this.onListRestart?.(this.cluster, resource);
        return whole.items;
      }
      items.push(...page.items);
      token = page.metadata?._continue || undefined;
    } while (token);
    return items;
  }

  /** Ready when the API answers; capacity is what the nodes Jobs can land on offer, and what foreign pods request there. */
  async status(): Promise<ClusterStatus> {
    const [nodes, pods] = await Promise.all([
      this.listAll('nodes', 'list nodes', (chunk) => this.core.listNode(chunk)),
      this.listAll('pods', 'list pods', (chunk) => this.core.listPodForAllNamespaces({ fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed', ...chunk })),
    ]);
    try {
      const takes = new Map(nodes.map((node) => [node.metadata?.name, nodeTakes(node)]));
      const usable = nodes.filter((node) => takes.get(node.metadata?.name) !== 'none');
      const sizes = usable.map((node) => resourcesOf(node.status?.allocatable));
      // Of a GPU-only node, the model counts the GPUs: its cores and memory are no use to the jobs without GPUs.
      const counted = (size: Resources, node: V1Node): Resources => (takes.get(node.metadata?.name) === 'all' ? size : { ...NO_RESOURCES, gpu: size.gpu });
      const allocatable = usable.reduce((sum, node, i) => addResources(sum, counted(sizes[i]!, node)), NO_RESOURCES);
      // A node's room for a Job: what its DaemonSets' pods (there for good, one per node) leave of it.
      const daemonSetUse = new Map<string, Resources>();
      for (const pod of pods) {
        const node = pod.spec?.nodeName;
        if (!node || !ACTIVE_POD_PHASES.has(pod.status?.phase ?? 'Pending') || !pod.metadata?.ownerReferences?.some((o) => o.controller && o.kind === 'DaemonSet')) continue;
        daemonSetUse.set(node, addResources(daemonSetUse.get(node) ?? NO_RESOURCES, podRequests(pod)));
      }
      const nodeSizes = [
        ...new Map(
          usable.map((node, i) => {
            const used = daemonSetUse.get(node.metadata?.name ?? '') ?? NO_RESOURCES;
            const size = sizes[i]!;
            const room: NodeSize = { cpu: Math.max(0, size.cpu - used.cpu), memGb: Math.max(0, size.memGb - used.memGb), gpu: Math.max(0, size.gpu - used.gpu) };
            if (takes.get(node.metadata?.name) === 'gpu-jobs') room.gpuJobsOnly = true;
            return [`${room.cpu}/${room.memGb}/${room.gpu}/${room.gpuJobsOnly === true}`, room] as const;
          }),
        ).values(),
      ];
      // Our own Jobs' pods (this hub's namespace, labelled) are held by their AppWrappers; those of another
      // install (another namespace) are foreign like any other workload.
      const foreignUsage = pods
        .filter((pod) => !(pod.metadata?.namespace === this.settings.namespace && pod.metadata?.labels?.[LABEL_JOB_ID]))
        .filter((pod) => ACTIVE_POD_PHASES.has(pod.status?.phase ?? 'Pending'))
        .reduce((sum, pod) => {
          const node = pod.spec?.nodeName;
          // A pod waiting for a node will take room somewhere, unless the scheduler found no node it fits (it may
          // wait forever: counted, it would hide an idle cluster); one on a node we do not count takes none of ours.
          if (!node) return unschedulable(pod) ? sum : addResources(sum, podRequests(pod));
          const on = takes.get(node);
          if (on === 'all') return addResources(sum, podRequests(pod));
          return on === 'gpu-jobs' ? addResources(sum, { ...NO_RESOURCES, gpu: podRequests(pod).gpu }) : sum;
        }, NO_RESOURCES);
      return { ready: true, allocatable, foreignUsage, nodeSizes };
    } catch (error) {
      throw new AdapterError(`cluster ${this.cluster} reports resources CASPIAN cannot read: ${errorMessage(error)}`, false, { cause: error });
    }
  }

  /**
   * Creates the Job; on 409 adopts the existing one when its job-id label says it is this AppWrapper's
   * (a hub restart, or an earlier try whose answer was lost), and refuses when it belongs to someone else.
   * A full namespace quota answers before a taken name does (admission runs before storage), so on a
   * QuotaExceededError the Job holding the last slot may be this one's own: it is adopted then too.
   */
  async createJob(request: SpokeJobRequest): Promise<'created' | 'adopted'> {
    const { namespace } = this.settings;
    const name = request.jobName;
    const body = jobManifest(request, this.settings);
    const read = () => this.callTolerating(`read Job ${name}`, () => this.batch.readNamespacedJob({ name, namespace }), 404);
    // Two rounds: a Job deleted between our create and our read is simply created again.
    for (let round = 1; round <= 2; round++) {
      let created: V1Job | undefined;
      try {
        created = await this.callTolerating(`create Job ${name}`, () => this.batch.createNamespacedJob({ namespace, body }), 409);
      } catch (error) {
        if (!(error instanceof QuotaExceededError)) throw error;
        const existing = await read();
        if (existing?.metadata?.labels?.[LABEL_JOB_ID] === request.jobId && !existing.metadata?.deletionTimestamp && !madeBefore(epochMs(existing.metadata?.creationTimestamp), request.submittedAt)) return 'adopted';
        throw error;
      }
      if (created) return 'created';
      const existing = await read();
      if (!existing) continue;
      // Whoever's it was, the name is free once it is gone.
      if (existing.metadata?.deletionTimestamp) {
        throw new JobBeingDeletedError(`Job ${namespace}/${name} on cluster ${this.cluster} is being deleted; it can be created again once it is gone`);
      }
      const owner = existing.metadata?.labels?.[LABEL_JOB_ID];
      if (owner !== request.jobId) {
        const whose = owner ? `CASPIAN job "${owner}"` : 'no CASPIAN job';
        throw new AdapterError(`Job ${namespace}/${name} already exists on cluster ${this.cluster} and belongs to ${whose}, not to "${request.jobId}"`, false);
      }
      if (madeBefore(epochMs(existing.metadata?.creationTimestamp), request.submittedAt)) {
        throw new LeftoverJobError(`Job ${namespace}/${name} on cluster ${this.cluster} was made before job "${request.jobId}" was submitted: an earlier job with the same id left it`);
      }
      return 'adopted';
    }
    throw new AdapterError(`Job ${namespace}/${name} on cluster ${this.cluster} kept conflicting and disappearing`, true);
  }

  /** Every Job CASPIAN created in the namespace, found by label, so that a restarted hub finds its Jobs again. */
  async listJobs(): Promise<SpokeJobStatus[]> {
    const { namespace } = this.settings;
    const [jobs, pods] = await Promise.all([
      this.listAll('jobs', 'list Jobs', (chunk) => this.batch.listNamespacedJob({ namespace, labelSelector: MANAGED_SELECTOR, ...chunk })),
      this.listAll('pods', 'list pods of Jobs', (chunk) => this.core.listNamespacedPod({ namespace, labelSelector: MANAGED_SELECTOR, ...chunk })),
    ]);
    const runs = runStarts(pods);
    return jobs.map((job) => jobStatus(job, runs)).filter((s): s is SpokeJobStatus => s !== undefined);
  }

  /**
   * Deletes the Job and, in the background, its pods, if it carries `jobId`'s label: read first, then deleted
   * on the condition that it is still that object (its uid), so that a Job of the same name made by someone
   * else meanwhile is not. A Job already gone (404), or replaced (409), is fine, and reported as not deleted.
   */
  async deleteJob(jobName: string, jobId: string): Promise<boolean> {
    const { namespace } = this.settings;
    const job = await this.callTolerating(`read Job ${jobName}`, () => this.batch.readNamespacedJob({ name: jobName, namespace }), 404);
    if (!job || job.metadata?.labels?.[LABEL_JOB_ID] !== jobId) return false;
    const uid = job.metadata?.uid;
    const answer = await this.callTolerating(
      `delete Job ${jobName}`,
      // In the body: kube-apiserver reads a DELETE's options from its body when it has one, the query only otherwise, and a
      // batch/v1 Job deleted without a policy orphans its pods (they run on). The uid precondition needs the body.
      () => this.batch.deleteNamespacedJob({ name: jobName, namespace, body: { propagationPolicy: 'Background', ...(uid && { preconditions: { uid } }) } }),
      404,
      409,
    );
    return answer !== undefined;
  }

  async close(): Promise<void> {
    this.closing.abort();
  }
}
