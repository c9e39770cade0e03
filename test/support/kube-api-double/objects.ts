/**
 * The objects the double stores, shaped as kube-apiserver 1.32 returns them: what its defaulting adds to a
 * created Job, the subset of Job validation CASPIAN can trip over, and builders for nodes, pods and the
 * Job statuses the job controller would write.
 */
import { statuses, type Status, type StatusCause } from './wire.js';

export type Json = Record<string, unknown>;

// apimachinery's resource.Quantity grammar, and the message a bad quantity gets when a body is decoded.
const QUANTITY = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const QUANTITY_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const SUFFIX: Record<string, number> = { '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

function quantityValue(q: string): number {
  const m = QUANTITY.exec(q);
  const suffix = m?.[2] ?? '';
  const factor = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : SUFFIX[suffix];
  if (!m || factor === undefined) throw new Error(QUANTITY_ERROR);
  return Number(m[1]) * factor;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** RFC 3339 to the second, as Kubernetes writes timestamps. */
export function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function obj(value: unknown): Json {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
}

function arr(value: unknown): Json[] {
  return Array.isArray(value) ? (value as Json[]) : [];
}

/** A refusal of a create, with the `Status` the API server would send. */
export class Refusal extends Error {
  constructor(readonly status: Status) {
    super(status.message);
  }
}

/** `Job in version "v1" cannot be handled as a Job: ...`: what a body that does not decode gets. */
function undecodable(message: string): Refusal {
  return new Refusal(statuses.badRequest(`Job in version "v1" cannot be handled as a Job: ${message}`));
}

function validateResources(container: Json, path: string, causes: StatusCause[]): void {
  const resources = obj(container.resources);
  const limits = obj(resources.limits) as Record<string, string>;
  const requests = obj(resources.requests) as Record<string, string>;
  for (const list of [limits, requests]) for (const q of Object.values(list)) if (typeof q !== 'string' || !QUANTITY.test(q)) throw undecodable(QUANTITY_ERROR);
  for (const [name, request] of Object.entries(requests)) {
    const limit = limits[name];
    if (name.includes('/') && !name.startsWith('kubernetes.io/') && limit !== undefined && quantityValue(limit) !== quantityValue(request)) {
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${request}": must be equal to ${name} limit of ${limit}`, field: `${path}.resources.requests` });
    } else if (limit !== undefined && quantityValue(request) > quantityValue(limit)) {
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${request}": must be less than or equal to ${name} limit of ${limit}`, field: `${path}.resources.requests` });
    }
  }
}

function validateLabels(labels: Json, path: string, causes: StatusCause[]): void {
  for (const [key, value] of Object.entries(labels)) {
    const v = String(value);
    if (v.length > 63) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${v}": must be no more than 63 characters`, field: `${path}` });
    else if (!LABEL_VALUE.test(v)) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`, field: `${path}` });
    if (key.length === 0) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: "": name part must be non-empty', field: path });
  }
}

function nonNegative(spec: Json, field: string, path: string, causes: StatusCause[]): void {
  const value = spec[field];
  if (value !== undefined && (typeof value !== 'number' || value < 0)) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${String(value)}: must be greater than or equal to 0`, field: `${path}.${field}` });
}

/** The Job validation of kube-apiserver that CASPIAN's manifests could trip over; throws the Refusal it would send. */
export function validateJob(job: Json, name: string): void {
  const causes: StatusCause[] = [];
  const metadata = obj(job.metadata);
  if (!DNS1123_SUBDOMAIN.test(name)) {
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`, field: 'metadata.name' });
  } else if (name.length > 63) {
    // A Job's name becomes a label value on its pods.
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${name}": must be no more than 63 characters`, field: 'metadata.name' });
  }
  validateLabels(obj(metadata.labels), 'metadata.labels', causes);
  const spec = obj(job.spec);
  for (const field of ['backoffLimit', 'activeDeadlineSeconds', 'ttlSecondsAfterFinished', 'completions', 'parallelism']) nonNegative(spec, field, 'spec', causes);
  const template = obj(spec.template);
  validateLabels(obj(obj(template.metadata).labels), 'spec.template.metadata.labels', causes);
  const podSpec = obj(template.spec);
  const restartPolicy = podSpec.restartPolicy ?? 'Always';
  if (restartPolicy !== 'Never' && restartPolicy !== 'OnFailure') {
    causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: "${String(restartPolicy)}": supported values: "OnFailure", "Never"`, field: 'spec.template.spec.restartPolicy' });
  }
  const containers = arr(podSpec.containers);
  if (!containers.length) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.template.spec.containers' });
  containers.forEach((container, i) => {
    const path = `spec.template.spec.containers[${i}]`;
    if (!container.name) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `${path}.name` });
    if (!container.image) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `${path}.image` });
    validateResources(container, path, causes);
  });
  if (causes.length) throw new Refusal(statuses.invalid('Job', 'batch', name, causes));
}

function defaultContainer(container: Json): Json {
  const image = String(container.image ?? '');
  const tag = /:([^/:@]+)$/.exec(image)?.[1];
  const resources = obj(container.resources);
  const limits = obj(resources.limits);
  // A resource with only a limit is requested at its limit.
  const requests = { ...limits, ...obj(resources.requests) };
  return {
    ...container,
    resources: { ...(Object.keys(limits).length ? { limits } : {}), ...(Object.keys(requests).length ? { requests } : {}) },
    terminationMessagePath: container.terminationMessagePath ?? '/dev/termination-log',
    terminationMessagePolicy: container.terminationMessagePolicy ?? 'File',
    imagePullPolicy: container.imagePullPolicy ?? (!tag || tag === 'latest' ? 'Always' : 'IfNotPresent'),
  };
}

/** A created Job as stored: metadata filled in, the job controller's selector and pod labels, API defaults. */
export function defaultJob(job: Json, meta: { name: string; namespace: string; uid: string; resourceVersion: string; now: number }): Json {
  const metadata = obj(job.metadata);
  const spec = obj(job.spec);
  const template = obj(spec.template);
  const templateMetadata = obj(template.metadata);
  const podSpec = obj(template.spec);
  const controllerLabels = { 'batch.kubernetes.io/controller-uid': meta.uid, 'batch.kubernetes.io/job-name': meta.name, 'controller-uid': meta.uid, 'job-name': meta.name };
  const templateLabels = { ...obj(templateMetadata.labels), ...controllerLabels };
  const labels = Object.keys(obj(metadata.labels)).length ? obj(metadata.labels) : templateLabels;
  const { generateName: _generateName, ...restMetadata } = metadata;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      ...restMetadata,
      name: meta.name,
      ...(_generateName ? { generateName: _generateName } : {}),
      namespace: meta.namespace,
      uid: meta.uid,
      resourceVersion: meta.resourceVersion,
      generation: 1,
      creationTimestamp: timestamp(meta.now),
      labels,
    },
    spec: {
      parallelism: 1,
      completions: 1,
      backoffLimit: 6,
      ...spec,
      selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': meta.uid } },
      manualSelector: undefined,
      template: {
        ...template,
        metadata: { ...templateMetadata, labels: templateLabels },
        spec: {
          ...podSpec,
          containers: arr(podSpec.containers).map(defaultContainer),
          dnsPolicy: podSpec.dnsPolicy ?? 'ClusterFirst',
          schedulerName: podSpec.schedulerName ?? 'default-scheduler',
          securityContext: podSpec.securityContext ?? {},
          terminationGracePeriodSeconds: podSpec.terminationGracePeriodSeconds ?? 30,
        },
      },
      completionMode: spec.completionMode ?? 'NonIndexed',
      suspend: spec.suspend ?? false,
      podReplacementPolicy: spec.podReplacementPolicy ?? 'TerminatingOrFailed',
    },
    status: {},
  };
}

/** Drops the keys whose value is undefined, as JSON encoding would, so stored objects compare as sent. */
export function wireCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export interface NodeSpec {
  name: string;
  /** Allocatable quantities, e.g. `cpu: '4'`, `memory: '16Gi'`, `nvidia.com/gpu': '1'`. */
  allocatable: Record<string, string>;
  ready?: boolean;
  unschedulable?: boolean;
  taints?: { key: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute'; value?: string }[];
  labels?: Record<string, string>;
}

/** A kind worker node as `kubectl get node -o json` shows it. */
export function nodeObject(spec: NodeSpec, meta: { uid: string; resourceVersion: string; now: number }): Json {
  const at = timestamp(meta.now);
  const condition = (type: string, status: string, reason: string, message: string) => ({ type, status, lastHeartbeatTime: at, lastTransitionTime: at, reason, message });
  const ready = spec.ready ?? true;
  return {
    metadata: {
      name: spec.name,
      uid: meta.uid,
      resourceVersion: meta.resourceVersion,
      creationTimestamp: at,
      labels: { 'beta.kubernetes.io/arch': 'amd64', 'beta.kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'kubernetes.io/hostname': spec.name, 'kubernetes.io/os': 'linux', ...spec.labels },
      annotations: { 'kubeadm.alpha.kubernetes.io/cri-socket': 'unix:///run/containerd/containerd.sock', 'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
    },
    spec: {
      podCIDR: '10.244.1.0/24',
      podCIDRs: ['10.244.1.0/24'],
      providerID: `kind://docker/kind/${spec.name}`,
      ...(spec.unschedulable ? { unschedulable: true } : {}),
      ...(spec.unschedulable || spec.taints ? { taints: [...(spec.taints ?? []), ...(spec.unschedulable ? [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: at }] : [])] } : {}),
    },
    status: {
      capacity: { 'ephemeral-storage': '102626232Ki', 'hugepages-2Mi': '0', pods: '110', ...spec.allocatable },
      allocatable: { 'ephemeral-storage': '102626232Ki', 'hugepages-2Mi': '0', pods: '110', ...spec.allocatable },
      conditions: [
        condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        ready ? condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status') : condition('Ready', 'Unknown', 'NodeStatusUnknown', 'Kubelet stopped posting node status.'),
      ],
      addresses: [
        { type: 'InternalIP', address: '172.18.0.3' },
        { type: 'Hostname', address: spec.name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: '3f5e0c1e2b8a4f1c9d6e7a8b9c0d1e2f',
        systemUUID: '3f5e0c1e-2b8a-4f1c-9d6e-7a8b9c0d1e2f',
        bootID: 'b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e',
        kernelVersion: '6.8.0-45-generic',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        containerRuntimeVersion: 'containerd://2.0.2',
        kubeletVersion: 'v1.32.2',
        kubeProxyVersion: 'v1.32.2',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    },
  };
}

export interface PodSpec {
  namespace: string;
  name: string;
  nodeName?: string;
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  labels?: Record<string, string>;
  /** One entry per container: its requests (limits are set equal). */
  containers: Record<string, string>[];
  initContainers?: Record<string, string>[];
  /** The Job whose controller made the pod: the pod gets its template's labels and an owner reference. */
  job?: string;
  /** `status.containerStatuses` as the kubelet writes them (left out: none reported yet). */
  containerStatuses?: Json[];
  /** `status.conditions`, e.g. the scheduler's `PodScheduled` False / `Unschedulable` on a pod no node fits. */
  conditions?: Json[];
}

/** What the Job controller gives the pods it makes, from the stored Job. */
export interface PodOwner {
  name: string;
  uid: string;
  templateLabels: Record<string, string>;
}

export function podOwner(job: Json): PodOwner {
  const metadata = obj(job.metadata);
  const templateLabels = obj(obj(obj(obj(job.spec).template).metadata).labels) as Record<string, string>;
  return { name: String(metadata.name), uid: String(metadata.uid), templateLabels };
}

export function podObject(spec: PodSpec, meta: { uid: string; resourceVersion: string; now: number; owner?: PodOwner }): Json {
  const at = timestamp(meta.now);
  const container = (requests: Record<string, string>, i: number, prefix: string) => ({
    name: `${prefix}${i}`,
    image: 'registry.k8s.io/pause:3.10',
    resources: { limits: requests, requests },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
  });
  const phase = spec.phase ?? 'Running';
  return {
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      uid: meta.uid,
      resourceVersion: meta.resourceVersion,
      creationTimestamp: at,
      labels: { ...meta.owner?.templateLabels, ...spec.labels },
      ...(meta.owner ? { ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: meta.owner.name, uid: meta.owner.uid, controller: true, blockOwnerDeletion: true }] } : {}),
    },
    spec: {
      ...(spec.nodeName ? { nodeName: spec.nodeName } : {}),
      containers: spec.containers.map((r, i) => container(r, i, 'c')),
      ...(spec.initContainers ? { initContainers: spec.initContainers.map((r, i) => container(r, i, 'init')) } : {}),
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
      securityContext: {},
      terminationGracePeriodSeconds: 30,
    },
    status: {
      phase,
      qosClass: 'Guaranteed',
      ...(phase === 'Running' ? { startTime: at, hostIP: '172.18.0.3', podIP: '10.244.1.7' } : {}),
      ...(spec.containerStatuses ? { containerStatuses: spec.containerStatuses } : {}),
      ...(spec.conditions ? { conditions: spec.conditions } : {}),
    },
  };
}

/** The statuses the job controller writes, for `KubeApiDouble.setJobStatus`. */
export const jobStatuses = {
  running: (startMs: number) => ({ active: 1, ready: 1, terminating: 0, startTime: timestamp(startMs), uncountedTerminatedPods: {} }),
  /** Pods created but none running yet (pulling the image, waiting for room). */
  pending: (startMs: number) => ({ active: 1, ready: 0, terminating: 0, startTime: timestamp(startMs), uncountedTerminatedPods: {} }),
  succeeded: (startMs: number, endMs: number) => {
    const condition = (type: string) => ({ type, status: 'True', lastProbeTime: timestamp(endMs), lastTransitionTime: timestamp(endMs), reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' });
    return { conditions: [condition('SuccessCriteriaMet'), condition('Complete')], startTime: timestamp(startMs), completionTime: timestamp(endMs), succeeded: 1, terminating: 0, ready: 0, uncountedTerminatedPods: {} };
  },
  failed: (startMs: number, endMs: number, reason: 'DeadlineExceeded' | 'BackoffLimitExceeded' = 'BackoffLimitExceeded') => {
    const message = reason === 'DeadlineExceeded' ? 'Job was active longer than specified deadline' : 'Job has reached the specified backoff limit';
    const condition = (type: string) => ({ type, status: 'True', lastProbeTime: timestamp(endMs), lastTransitionTime: timestamp(endMs), reason, message });
    return { conditions: [condition('FailureTarget'), condition('Failed')], startTime: timestamp(startMs), failed: reason === 'BackoffLimitExceeded' ? 3 : 1, terminating: 0, ready: 0, uncountedTerminatedPods: {} };
  },
};
