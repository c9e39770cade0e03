import type { PoolName } from '../domain/app-wrapper.js';
import type { ClusterStatus } from '../domain/cluster.js';

/** What the hub asks a spoke to run. */
export interface SpokeJobRequest {
  jobId: string;
  /** When the job was submitted: a Job of its name and id made before then is an earlier job's, never adopted. */
  submittedAt: number;
  /** Kubernetes Job name (job id plus a generation suffix after a migration). */
  jobName: string;
  generation: number;
  region: string;
  /** Worker pool: a `caspian.io/pool` label, and the pool's node selector on the pod. */
  pool: PoolName;
  nodeSelector: Readonly<Record<string, string>>;
  cpu: number;
  memGb: number;
  gpu: number;
  image: string;
  command: string[];
  /** Expected run on the pool (its speed factor applied). */
  runtimeSeconds: number;
  /** Seconds the Job may run before Kubernetes stops it (from the deadline). */
  activeDeadlineSeconds: number;
  plannedStartAt: number;
  co2EstimateG: number;
  migratedFrom?: string;
}

export type SpokeJobPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

export interface SpokeJobStatus {
  jobId: string;
  jobName: string;
  phase: SpokeJobPhase;
  /**
   * When its work began, where the cluster knows it: absent for a Running Job the cluster cannot date (the
   * hub then counts from when it first saw it running); for a finished Job the cluster's best figure.
   */
  startedAt?: number;
  finishedAt?: number;
  /** When the cluster created the Job, where it says: tells a Job of this submission from one left by an earlier job with the same id. */
  createdAt?: number;
  /** Why it failed, as the cluster says. */
  reason?: string;
  /** The worker pool it was made for (its `caspian.io/pool` label), where it says one the hub knows. */
  pool?: PoolName;
  /** The cluster is deleting it (a finalizer holds it for now): it goes by itself, and is no one's Job any more. */
  deleting?: boolean;
}

/**
 * One spoke cluster. Methods throw `AdapterError` (with `retryable`) when the cluster cannot be reached
 * or refuses; they never throw for "already exists" or "not found", which the contract absorbs.
 */
export interface SpokeClient {
  readonly cluster: string;
  /** Used in logs: `simulated` or `kubernetes`. */
  readonly kind: string;
  status(): Promise<ClusterStatus>;
  /** Creates the Job, or adopts an existing Job of that name that carries our labels. */
  createJob(request: SpokeJobRequest): Promise<'created' | 'adopted'>;
  /** The Jobs CASPIAN created on this cluster (found by label). */
  listJobs(): Promise<SpokeJobStatus[]>;
  /**
   * Deletes the Job and its pods if it is `jobId`'s (carries its label); absent is fine. A Job of that name that
   * is not this job's (another workload's in a shared namespace) is left alone. Resolves with whether one of
   * this job's was deleted.
   */
  deleteJob(jobName: string, jobId: string): Promise<boolean>;
  close(): Promise<void>;
}

/** What a Kubernetes spoke lists in chunks (a metric label). */
export const LISTED_RESOURCES = ['nodes', 'pods', 'jobs'] as const;
export type ListedResource = (typeof LISTED_RESOURCES)[number];
