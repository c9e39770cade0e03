import { addResources, fits, madeBefore, NO_RESOURCES, subtractResources, type Resources } from '../domain/app-wrapper.js';
import type { Clock } from '../domain/clock.js';
import { WHOLE_CLUSTER_POOL, type ClusterStatus, type WorkerPool } from '../domain/cluster.js';
import { AdapterError, LeftoverJobError } from '../domain/errors.js';
import type { SpokeClient, SpokeJobRequest, SpokeJobStatus } from './types.js';

interface SimulatedJob {
  request: SpokeJobRequest;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  failedReason?: string;
}

/**
 * An in-process cluster for running the hub without Kubernetes: a pool of allocatable resources on which
 * Jobs wait for room (in creation order, a Job starts as soon as it fits, so a small one may pass a big
 * one, as pods do), run for their runtime and succeed, or fail with DeadlineExceeded once
 * `activeDeadlineSeconds` have passed since their creation (waiting counts, as in Kubernetes). Each worker
 * pool is its `share` of the allocatable resources, and a Job runs on the pool it names, as a node selector
 * would keep it on the pool's nodes. Time comes
 * from the injected clock and the cluster's state is worked out lazily up to "now" on every call, so a
 * fake clock fast-forwards it exactly.
 */
export class SimulatedSpoke implements SpokeClient {
  readonly kind = 'simulated';
  private readonly jobs = new Map<string, SimulatedJob>();
  /**
   * The Jobs not finished yet, in creation order (as `jobs` holds them): all that `advance` plays forward. A
   * finished Job never changes again and the cluster keeps it until it is deleted, so scanning `jobs` at every
   * event made a long run cost (finishes x every Job ever created).
   */
  private readonly unfinished = new Set<SimulatedJob>();
  private reachable = true;
  /** The instant the cluster has been played forward to: room freed then (by a delete) is room from then on. */
  private advancedTo = -Infinity;

  /** Allocatable resources per pool. */
  private readonly poolCapacity: Map<string, Resources>;

  constructor(
    readonly cluster: string,
    private readonly allocatable: Resources,
    private readonly clock: Clock,
    pools: readonly WorkerPool[] = [WHOLE_CLUSTER_POOL],
  ) {
    this.poolCapacity = new Map(pools.map((p) => [p.name, { cpu: allocatable.cpu * p.share, memGb: allocatable.memGb * p.share, gpu: allocatable.gpu * p.share }]));
  }

  /** Makes the cluster's API stop (false) or resume (true) answering, as a real outage would. */
  setReachable(reachable: boolean): void {
    this.reachable = reachable;
  }

  private ensureReachable(): void {
    if (!this.reachable) throw new AdapterError(`cluster ${this.cluster} is not reachable`, true);
  }

  private static request(job: SimulatedJob): Resources {
    return { cpu: job.request.cpu, memGb: job.request.memGb, gpu: job.request.gpu };
  }

  private static deadlineOf(job: SimulatedJob): number {
    return job.createdAt + job.request.activeDeadlineSeconds * 1000;
  }

  /** When a Job stops: at the end of its run or at its deadline, whichever comes first. */
  private static endOf(job: SimulatedJob): number {
    if (job.startedAt === undefined) return SimulatedSpoke.deadlineOf(job);
    return Math.min(job.startedAt + job.request.runtimeSeconds * 1000, SimulatedSpoke.deadlineOf(job));
  }

  /**
   * Plays the cluster forward to `now`, event by event: at each instant, waiting Jobs that fit start; the
   * next event is a running Job's end or a waiting Job's deadline.
   */
  private advance(now: number): void {
    let time = this.advancedTo;
    this.advancedTo = now;
    for (;;) {
      const live = [...this.unfinished].filter((j) => j.createdAt <= now);
      const used = new Map<string, Resources>();
      const take = (job: SimulatedJob) => used.set(job.request.pool, addResources(used.get(job.request.pool) ?? NO_RESOURCES, SimulatedSpoke.request(job)));
      for (const job of live) if (job.startedAt !== undefined) take(job);
      for (const job of live) {
        if (job.startedAt !== undefined) continue;
        const start = Math.max(job.createdAt, time);
        const free = subtractResources(this.poolCapacity.get(job.request.pool) ?? NO_RESOURCES, used.get(job.request.pool) ?? NO_RESOURCES);
        if (start >= SimulatedSpoke.deadlineOf(job) || !fits(SimulatedSpoke.request(job), free)) continue;
        job.startedAt = start;
        take(job);
      }
      const next = live.reduce<SimulatedJob | undefined>((a, j) => (!a || SimulatedSpoke.endOf(j) < SimulatedSpoke.endOf(a) ? j : a), undefined);
      if (!next || SimulatedSpoke.endOf(next) > now) return;
      time = SimulatedSpoke.endOf(next);
      next.finishedAt = time;
      this.unfinished.delete(next);
      if (next.startedAt === undefined || time < next.startedAt + next.request.runtimeSeconds * 1000) next.failedReason = 'DeadlineExceeded';
    }
  }

  async status(): Promise<ClusterStatus> {
    this.ensureReachable();
    return { ready: true, allocatable: { ...this.allocatable }, foreignUsage: { ...NO_RESOURCES } };
  }

  async createJob(request: SpokeJobRequest): Promise<'created' | 'adopted'> {
    this.ensureReachable();
    const existing = this.jobs.get(request.jobName);
    if (existing) {
      // As a Kubernetes spoke does with its job-id label: only the same job's Job is adopted.
      if (existing.request.jobId === request.jobId) {
        if (madeBefore(existing.createdAt, request.submittedAt)) {
          throw new LeftoverJobError(`Job ${request.jobName} on cluster ${this.cluster} was made before job "${request.jobId}" was submitted: an earlier job with the same id left it`);
        }
        return 'adopted';
      }
      throw new AdapterError(`Job ${request.jobName} already exists on cluster ${this.cluster} and belongs to CASPIAN job "${existing.request.jobId}", not to "${request.jobId}"`, false);
    }
    const pool = this.poolCapacity.get(request.pool);
    if (!pool) throw new AdapterError(`cluster ${this.cluster} has no ${request.pool} pool`, false);
    if (!fits(request, pool)) {
      throw new AdapterError(`Job ${request.jobName} requests more than the ${request.pool} pool of cluster ${this.cluster} has`, false);
    }
    // Catch up first: room freed before now belongs to Jobs already queued, not to this one.
    this.advance(this.clock.now());
    const job: SimulatedJob = { request, createdAt: this.clock.now() };
    this.jobs.set(request.jobName, job);
    this.unfinished.add(job);
    this.advance(this.clock.now());
    return 'created';
  }

  async listJobs(): Promise<SpokeJobStatus[]> {
    this.ensureReachable();
    this.advance(this.clock.now());
    return [...this.jobs.values()].map((job) => ({
      jobId: job.request.jobId,
      jobName: job.request.jobName,
      phase: job.finishedAt !== undefined ? (job.failedReason ? 'Failed' : 'Succeeded') : job.startedAt !== undefined ? 'Running' : 'Pending',
      startedAt: job.startedAt,
      finishedAt: job.finishedAt,
      reason: job.failedReason,
      createdAt: job.createdAt,
      pool: job.request.pool,
    }));
  }

  async deleteJob(jobName: string, jobId: string): Promise<boolean> {
    this.ensureReachable();
    this.advance(this.clock.now());
    const job = this.jobs.get(jobName);
    if (job?.request.jobId !== jobId) return false;
    this.unfinished.delete(job);
    return this.jobs.delete(jobName);
  }

  async close(): Promise<void> {}
}
