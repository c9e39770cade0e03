import type { PoolName, Resources } from './app-wrapper.js';

/** A worker pool of a cluster (see `POOLS`). */
export interface WorkerPool {
  name: PoolName;
  /** Fraction of the cluster's free capacity the pool offers, (0, 1]. */
  share: number;
  /** A job on this pool runs this many times as long as on FAST (>= 1). */
  speedFactor: number;
  /** ... and draws this fraction of its FAST power, (0, 1]. */
  powerFactor: number;
  /** Put on the Job's pod so that Kubernetes runs it on the pool's nodes; empty = any node. */
  nodeSelector: Readonly<Record<string, string>>;
}

/** The one pool of a cluster configured without pools. */
export const WHOLE_CLUSTER_POOL: Readonly<WorkerPool> = Object.freeze({ name: 'FAST', share: 1, speedFactor: 1, powerFactor: 1, nodeSelector: Object.freeze({}) });

/**
 * Lowers a cluster's FAST capacity to `capacityFactor` of itself in slots whose grid intensity exceeds
 * `thresholdGco2PerKwh`.
 */
export interface FastScaleDown {
  thresholdGco2PerKwh: number;
  capacityFactor: number;
}

/** A spoke cluster as configured: one per grid region. */
export interface ClusterInfo {
  /** Cluster name, e.g. `carbon-kr`. */
  name: string;
  /** Grid region, e.g. `KR`. */
  region: string;
  /** Carbon-data zone of the region, e.g. `KR` or `JP-TK`. */
  zone: string;
  /** Worker pools; absent = `WHOLE_CLUSTER_POOL` alone. */
  pools?: readonly WorkerPool[];
  fastScaleDown?: FastScaleDown;
}

export function poolsOf(info: Pick<ClusterInfo, 'pools'> | undefined): readonly WorkerPool[] {
  return info?.pools?.length ? info.pools : [WHOLE_CLUSTER_POOL];
}

/** The named pool of a cluster; a pool the cluster no longer has reads as its first pool. */
export function poolOf(info: Pick<ClusterInfo, 'pools'> | undefined, name: PoolName | undefined): WorkerPool {
  const pools = poolsOf(info);
  return pools.find((p) => p.name === name) ?? pools[0]!;
}

/** What a spoke reports about itself. */
export interface ClusterStatus {
  ready: boolean;
  /** Why it is not ready. */
  message?: string;
  /** Total allocatable resources. */
  allocatable: Resources;
  /** Resources held by workloads CASPIAN does not manage; CASPIAN's own Jobs are not counted here. */
  foreignUsage: Resources;
  /**
   * The room of each kind of node a Job can land on (distinct sizes: allocatable less what the pods that stay
   * on it for good, its DaemonSets', request): a job larger than all of them cannot run there, whatever the
   * cluster's total. Absent: not known (the whole cluster is one).
   */
  nodeSizes?: NodeSize[];
}

/** A kind of node; `gpuJobsOnly`: tainted for GPU pods, which alone tolerate it (a job without GPUs never lands there). */
export type NodeSize = Resources & { gpuJobsOnly?: boolean };

/** Whether a job of this size fits on some node of the cluster (or the cluster does not say its nodes). */
export function fitsANode(status: Pick<ClusterStatus, 'nodeSizes'>, job: Resources): boolean {
  return (
    status.nodeSizes === undefined ||
    status.nodeSizes.some((node) => (job.gpu > 0 || !node.gpuJobsOnly) && node.cpu >= job.cpu && node.memGb >= job.memGb && node.gpu >= job.gpu)
  );
}
