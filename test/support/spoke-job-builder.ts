import type { SpokeJobRequest } from '../../src/spokes/types.js';

/** Fluent builder for spoke Job requests: `spokeJob('a').cpu(2).runtimeSeconds(600).obj()`. */
export class SpokeJobBuilder {
  private readonly request: SpokeJobRequest;

  constructor(jobId: string) {
    this.request = {
      jobId,
      // The epoch: no Job predates the job (a test of a leftover Job sets it).
      submittedAt: 0,
      jobName: jobId,
      generation: 1,
      region: 'KR',
      pool: 'FAST',
      nodeSelector: {},
      cpu: 1,
      memGb: 1,
      gpu: 0,
      image: 'busybox:1.36',
      command: ['sleep', '600'],
      runtimeSeconds: 600,
      activeDeadlineSeconds: 3600,
      plannedStartAt: 0,
      co2EstimateG: 0,
    };
  }

  submittedAt(ms: number): this {
    this.request.submittedAt = ms;
    return this;
  }

  pool(pool: SpokeJobRequest['pool'], nodeSelector: Record<string, string> = {}): this {
    this.request.pool = pool;
    this.request.nodeSelector = nodeSelector;
    return this;
  }

  jobName(jobName: string): this {
    this.request.jobName = jobName;
    return this;
  }

  cpu(cpu: number): this {
    this.request.cpu = cpu;
    return this;
  }

  memGb(memGb: number): this {
    this.request.memGb = memGb;
    return this;
  }

  gpu(gpu: number): this {
    this.request.gpu = gpu;
    return this;
  }

  runtimeSeconds(seconds: number): this {
    this.request.runtimeSeconds = seconds;
    return this;
  }

  activeDeadlineSeconds(seconds: number): this {
    this.request.activeDeadlineSeconds = seconds;
    return this;
  }

  obj(): SpokeJobRequest {
    return { ...this.request, command: [...this.request.command] };
  }
}

export function spokeJob(jobId: string): SpokeJobBuilder {
  return new SpokeJobBuilder(jobId);
}
