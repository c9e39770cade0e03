import type { Logger } from 'pino';
import { canTransition, isTerminal, newAppWrapper, type AppWrapper, type CarbonAccount, type JobSpec, type Move } from '../domain/app-wrapper.js';
import type { Clock } from '../domain/clock.js';
import { ConflictError } from '../domain/errors.js';
import type { Metrics, MigrationDropReason } from '../metrics/metrics.js';
import type { Store } from '../store/types.js';

/**
 * Works out the carbon account of a job that finishes after having run. `account` runs inside the change
 * that makes the job terminal, so that the account is stored with it (it may throw: the job then finishes
 * without one); its `record` (log and count it) is called once that change is stored. `previous` is the
 * AppWrapper before the change (a cancel clears the placement in the same change).
 */
export interface CarbonAccounting {
  account(previous: AppWrapper, finished: AppWrapper): { account: CarbonAccount; record(): void };
}

/** Dropped moves an operator should look into (a cluster refused a Job, the configuration lost a cluster); the others are plans and jobs taking their course. */
const WARNING_DROPS: ReadonlySet<MigrationDropReason> = new Set(['refused', 'cluster_removed']);

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
    let recordAccount: (() => void) | undefined;
    const stored = await this.deps.store.update(jobId, (current) => {
      const candidate = next(current);
      // Handing back the current value means "no change": nothing to write, no updatedAt bump.
      if (!candidate || candidate === current) return undefined;
      if (candidate.phase !== current.phase && !canTransition(current.phase, candidate.phase)) {
        throw new ConflictError(`AppWrapper "${jobId}" cannot move from ${current.phase} to ${candidate.phase}`);
      }
      from = current;
      const accounted = this.account(current, candidate);
      recordAccount = accounted?.record;
      // Strictly later than the value changed, even within one millisecond: the schedule cycle tells that a
      // job changed since its snapshot by `updatedAt`, and a change it cannot see would be overwritten.
      const updatedAt = Math.max(this.deps.clock.now(), current.updatedAt + 1);
      return { ...candidate, ...(accounted && { carbonAccount: accounted.account }), updatedAt };
    });
    if (from && from.phase !== stored.phase) {
      this.deps.metrics.recordTransition(from.phase, stored.phase);
      this.deps.logger.info(
        { jobId, from: from.phase, to: stored.phase, cluster: stored.targetCluster, reason: stored.reason ?? reason },
        `AppWrapper ${jobId}: ${from.phase} -> ${stored.phase}`,
      );
    }
    // After the transition's own line, so that the log reads in order.
    recordAccount?.();
    return stored;
  }

  /**
   * Counts and logs a move decided (and counted in `migrations_total`) that ends without being carried out:
   * given up, or ended with the job. `why` finishes the sentence "not moving <job> to <cluster>: ...".
   */
  moveDropped(jobId: string, move: Move, reason: MigrationDropReason, why: string): void {
    this.deps.metrics.recordMigrationDropped(move.from, move.to, reason);
    const level = WARNING_DROPS.has(reason) ? 'warn' : 'info';
    this.deps.logger[level]({ jobId, cluster: move.from, plannedCluster: move.to, reason }, `not moving ${jobId} to ${move.to}: ${why}`);
  }

  /** The carbon account of a candidate that finishes now after having run; a failure to account never blocks the change. */
  private account(current: AppWrapper, candidate: AppWrapper): ReturnType<CarbonAccounting['account']> | undefined {
    const accounting = this.deps.accounting;
    if (!accounting || !needsAccount(current, candidate)) return undefined;
    try {
      return accounting.account(current, candidate);
    } catch (error) {
      this.deps.logger.warn({ jobId: candidate.jobId, err: error }, `carbon accounting of ${candidate.jobId} failed; it finishes without an account`);
      return undefined;
    }
  }
}
