import type { Logger } from 'pino';
import { canTransition, isTerminal, newAppWrapper, type AppWrapper, type CarbonAccount, type JobSpec } from '../domain/app-wrapper.js';
import type { Clock } from '../domain/clock.js';
import { ConflictError } from '../domain/errors.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Store } from '../store/types.js';

/**
 * Works out the carbon account of a job that finishes after having run. `account` runs inside the change
 * that makes the job terminal, so that the account is stored with it (it may throw: the job then finishes
 * without one); `accounted` is told once that change is stored. `previous` is the AppWrapper before the
 * change (a cancel clears the placement in the same change).
 */
export interface CarbonAccounting {
  account(previous: AppWrapper, finished: AppWrapper): CarbonAccount;
  accounted(previous: AppWrapper, finished: AppWrapper): void;
}

/** A job that becomes terminal now, after having run, and has no account yet. */
function needsAccount(current: AppWrapper, next: AppWrapper): boolean {
  const ran = next.startedAt !== undefined || (next.pastRuns?.length ?? 0) > 0;
  return isTerminal(next) && !isTerminal(current) && ran && next.carbonAccount === undefined;
}

/**
 * The one way AppWrappers change: every write goes through `change`, which refuses a phase move the
 * lifecycle does not allow, and logs and counts each phase transition exactly once.
 */
export class Lifecycle {
  constructor(private readonly deps: { store: Store; metrics: Metrics; logger: Logger; clock: Clock; accounting?: CarbonAccounting }) {}

  get store(): Store {
    return this.deps.store;
  }

  async submit(jobId: string, spec: JobSpec): Promise<AppWrapper> {
    const appWrapper = newAppWrapper(jobId, spec, this.deps.clock.now());
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
      return { ...this.withAccount(current, candidate), updatedAt: this.deps.clock.now() };
    });
    if (from && from.phase !== stored.phase) {
      this.deps.metrics.recordTransition(from.phase, stored.phase);
      this.deps.logger.info(
        { jobId, from: from.phase, to: stored.phase, cluster: stored.targetCluster, reason: stored.reason ?? reason },
        `AppWrapper ${jobId}: ${from.phase} -> ${stored.phase}`,
      );
    }
    // After the transition's own line, so that the log reads in order.
    if (from && !from.carbonAccount && stored.carbonAccount) this.deps.accounting?.accounted(from, stored);
    return stored;
  }

  /** The candidate with its carbon account when it finishes now after having run; a failure to account never blocks the change. */
  private withAccount(current: AppWrapper, candidate: AppWrapper): AppWrapper {
    const accounting = this.deps.accounting;
    if (!accounting || !needsAccount(current, candidate)) return candidate;
    try {
      return { ...candidate, carbonAccount: accounting.account(current, candidate) };
    } catch (error) {
      this.deps.logger.warn({ jobId: candidate.jobId, err: error }, `carbon accounting of ${candidate.jobId} failed; it finishes without an account`);
      return candidate;
    }
  }
}
