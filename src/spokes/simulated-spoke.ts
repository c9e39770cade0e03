import { addResources, fits, NO_RESOURCES, subtractResources, type Resources } from '../domain/app-wrapper.js';
import type { Clock } from '../domain/clock.js';
import type { ClusterStatus } from '../domain/cluster.js';
import { AdapterError } from '../domain/errors.js';
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
 * Jobs queue (FIFO, like pods waiting for room), run for their runtime and succeed, or fail when they
 * outlive `activeDeadlineSeconds`. Time comes from the injected clock, and the cluster's state is worked
 * out lazily up to "now" on every call, so a fake clock fast-forwards it exactly.
 */
export class SimulatedSpoke implements SpokeClient {
  readonly kind = 'simulated';
  private readonly jobs = new Map<string, SimulatedJob>();
  private reachable = true;
  /** The instant the cluster has been played forward to: room freed then (by a delete) is room from then on. */
  private advancedTo = -Infinity;

  constructor(
    readonly cluster: string,
    private readonly allocatable: Resources,
    private readonly clock: Clock,
  ) {}

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

  private static endOf(job: SimulatedJob): number {
    const start = job.startedAt as number;
    return start + Math.min(job.request.runtimeSeconds, job.request.activeDeadlineSeconds) * 1000;
  }

  /** Plays the cluster forward to `now`: finishes Jobs whose time is up and starts queued ones that fit. */
  private advance(now: number): void {
    let time = this.advancedTo;
    this.advancedTo = now;
    for (;;) {
      const running = [...this.jobs.values()].filter((j) => j.startedAt !== undefined && j.finishedAt === undefined);
      let used = running.reduce((sum, j) => addResources(sum, SimulatedSpoke.request(j)), NO_RESOURCES);
      for (const job of this.jobs.values()) {
        if (job.startedAt !== undefined || job.createdAt > now) continue;
        const free = subtractResources(this.allocatable, used);
        if (!fits(SimulatedSpoke.request(job), free)) continue;
        job.startedAt = Math.max(job.createdAt, time);
        used = addResources(used, SimulatedSpoke.request(job));
        running.push(job);
      }
      const next = running.reduce<SimulatedJob | undefined>((a, j) => (!a || SimulatedSpoke.endOf(j) < SimulatedSpoke.endOf(a) ? j : a), undefined);
      if (!next || SimulatedSpoke.endOf(next) > now) return;
      time = SimulatedSpoke.endOf(next);
      next.finishedAt = time;
      if (next.request.activeDeadlineSeconds < next.request.runtimeSeconds) next.failedReason = 'DeadlineExceeded';
    }
  }

  async status(): Promise<ClusterStatus> {
    this.ensureReachable();
    return { ready: true, allocatable: { ...this.allocatable }, foreignUsage: { ...NO_RESOURCES } };
  }

  async createJob(request: SpokeJobRequest): Promise<'created' | 'adopted'> {
    this.ensureReachable();
    if (this.jobs.has(request.jobName)) return 'adopted';
    if (!fits(request, this.allocatable)) {
      throw new AdapterError(`Job ${request.jobName} requests more than cluster ${this.cluster} has`, false);
    }
    // Catch up first: room freed before now belongs to Jobs already queued, not to this one.
    this.advance(this.clock.now());
    this.jobs.set(request.jobName, { request, createdAt: this.clock.now() });
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
    }));
  }

  async deleteJob(jobName: string): Promise<void> {
    this.ensureReachable();
    this.advance(this.clock.now());
    this.jobs.delete(jobName);
  }

  async close(): Promise<void> {}
}
