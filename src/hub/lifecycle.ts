import type { Logger } from 'pino';
import { canTransition, type AppWrapper, type JobSpec } from '../domain/app-wrapper.js';
import type { Clock } from '../domain/clock.js';
import { ConflictError } from '../domain/errors.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Store } from '../store/types.js';

/**
 * The one way AppWrappers change: every write goes through `change`, which refuses a phase move the
 * lifecycle does not allow, and logs and counts each phase transition exactly once.
 */
export class Lifecycle {
  constructor(private readonly deps: { store: Store; metrics: Metrics; logger: Logger; clock: Clock }) {}

  get store(): Store {
    return this.deps.store;
  }

  async submit(jobId: string, spec: JobSpec): Promise<AppWrapper> {
    const now = this.deps.clock.now();
    const appWrapper: AppWrapper = {
      jobId,
      spec,
      submittedAt: now,
      deadlineAt: now + spec.deadlineMinutes * 60_000,
      phase: 'Pending',
      gateOpen: false,
      migrating: false,
      staleJobs: [],
      metadata: {},
      updatedAt: now,
    };
    await this.deps.store.insert(appWrapper);
    this.deps.metrics.recordSubmission();
    this.deps.metrics.recordTransition('new', 'Pending');
    this.deps.logger.info({ jobId, cpu: spec.cpu, memGb: spec.memGb, gpu: spec.gpu, deadlineMinutes: spec.deadlineMinutes }, 'AppWrapper submitted');
    return appWrapper;
  }

  /**
   * Applies `next` to the current value atomically. `next` returns the new AppWrapper, or undefined to
   * leave it as it is (for instance because the state it expected has moved on). Resolves with the
   * stored value, changed or not.
   */
  async change(jobId: string, next: (current: AppWrapper) => AppWrapper | undefined, reason?: string): Promise<AppWrapper> {
    let from: AppWrapper | undefined;
    const stored = await this.deps.store.update(jobId, (current) => {
      const candidate = next(current);
      // Handing back the current value means "no change": nothing to write, no updatedAt bump.
      if (!candidate || candidate === current) return undefined;
      if (candidate.phase !== current.phase && !canTransition(current.phase, candidate.phase)) {
        throw new ConflictError(`AppWrapper "${jobId}" cannot move from ${current.phase} to ${candidate.phase}`);
      }
      from = current;
      return { ...candidate, updatedAt: this.deps.clock.now() };
    });
    if (from && from.phase !== stored.phase) {
      this.deps.metrics.recordTransition(from.phase, stored.phase);
      this.deps.logger.info(
        { jobId, from: from.phase, to: stored.phase, cluster: stored.targetCluster, reason: stored.reason ?? reason },
        `AppWrapper ${jobId}: ${from.phase} -> ${stored.phase}`,
      );
    }
    return stored;
  }
}
