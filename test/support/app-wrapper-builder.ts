import type { AppWrapper, Phase, Placement } from '../../src/domain/app-wrapper.js';

const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

/** Fluent builder for AppWrappers in tests: `appWrapper('a').cpu(2).phase('Planned').obj()`. */
export class AppWrapperBuilder {
  private readonly aw: AppWrapper;

  constructor(jobId: string) {
    this.aw = {
      jobId,
      spec: { cpu: 1, memGb: 1, gpu: 0, runtimeMinutes: 30, deadlineMinutes: 120, dataGb: 0, affinityRegions: [], urgency: 'normal', checkpointing: true },
      submittedAt: T0,
      deadlineAt: T0 + 120 * 60_000,
      phase: 'Pending',
      gateOpen: false,
      migrating: false,
      staleJobs: [],
      metadata: {},
      updatedAt: T0,
    };
  }

  cpu(cpu: number): this {
    this.aw.spec = { ...this.aw.spec, cpu };
    return this;
  }

  phase(phase: Phase): this {
    this.aw.phase = phase;
    return this;
  }

  target(cluster: string): this {
    this.aw.targetCluster = cluster;
    return this;
  }

  placement(placement: Omit<Placement, 'createdAt'>): this {
    this.aw.placement = { ...placement, createdAt: T0 };
    return this;
  }

  migrating(): this {
    this.aw.migrating = true;
    return this;
  }

  obj(): AppWrapper {
    return { ...this.aw, spec: { ...this.aw.spec }, metadata: { ...this.aw.metadata }, staleJobs: [...this.aw.staleJobs] };
  }
}

export function appWrapper(jobId: string): AppWrapperBuilder {
  return new AppWrapperBuilder(jobId);
}
