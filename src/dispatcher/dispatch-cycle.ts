import type { Logger } from 'pino';
import {
  boundToItsJob,
  CANNOT_FINISH,
  gateJobUnconfirmed,
  isTerminal,
  jobNameFor,
  LIVE_PHASES,
  pendingMove,
  placementFor,
  requeuedOffLostCluster,
  withoutPendingMove,
  withUnconfirmedSettled,
  workDoneMs,
  type AppWrapper,
  type JobRef,
  type Move,
  type Placement,
} from '../domain/app-wrapper.js';
import type { Clock } from '../domain/clock.js';
import { isoTime } from '../domain/iso-time.js';
import { poolOf, poolsOf } from '../domain/cluster.js';
import { AdapterError, ConflictError, errorMessage, JobBeingDeletedError, LeftoverJobError, QuotaExceededError } from '../domain/errors.js';
import type { ClusterMonitor } from '../hub/cluster-monitor.js';
import type { Lifecycle } from '../hub/lifecycle.js';
import { claimJob } from '../hub/reconcile.js';
import { withTimeout } from '../hub/timeout.js';
import type { Metrics, MigrationDropReason } from '../metrics/metrics.js';
import type { SpokeClient, SpokeJobRequest, SpokeJobStatus } from '../spokes/types.js';

export interface DispatchSettings {
  defaultImage: string;
  defaultCommand: readonly string[];
  /** Longest a single spoke call may take before it counts as a failure. */
  spokeTimeoutMs: number;
  /** How long a finished AppWrapper is kept after it finished; 0 keeps it forever. */
  retentionMs: number;
  /** How long a cluster may not answer before its live jobs are requeued to run elsewhere; 0: never. */
  clusterLostAfterMs: number;
  /** The dispatch loop's period: a gate due before the next tick opens now if waiting for that tick would miss the deadline. */
  dispatchPeriodMs: number;
  /** `migration.allow`: false gives up a move still pending (decided before a restart with migrations turned off). */
  migrationAllow: boolean;
}

export interface DispatchSummary {
  started_at: string;
  duration_seconds: number;
  /** Jobs created (or adopted) that their AppWrapper now runs; one found unwanted as it was made is only in `deleted`, once deleted. */
  created: { job_id: string; cluster: string; job_name: string; adopted: boolean }[];
  deleted: { job_id: string; cluster: string; job_name: string }[];
  failed: { job_id: string; cluster: string; error: string }[];
  /** Phase changes read back from the spokes. */
  synced: { job_id: string; phase: string }[];
  /** Live jobs taken off a lost cluster, Pending again. */
  requeued: { job_id: string; cluster: string }[];
  /** Finished AppWrappers forgotten after their retention period. */
  pruned: number;
}

type CreateOutcome = 'created' | 'adopted' | { refused: string };
/** A create that made no Job for the job: `unanswered` may have made one (the answer was lost), `not-made` did not. */
type NoJob = 'unanswered' | 'not-made';

/** How long past a job's deadline (and a dispatch period) its Job may still be unfinished before the hub ends it: Kubernetes' own stop and clock skew. */
const DEADLINE_GRACE_MS = 60_000;

/** Takes back the `created` entry of a Job its AppWrapper did not take (re-planned or cancelled while it was made). */
function withdrawCreated(summary: DispatchSummary, jobId: string, cluster: string, jobName: string): void {
  const at = summary.created.findIndex((c) => c.job_id === jobId && c.cluster === cluster && c.job_name === jobName);
  if (at >= 0) summary.created.splice(at, 1);
}

/**
 * Whether a Job of that name on that cluster is still to be deleted for this AppWrapper (one an earlier job
 * with the same id left there): creating now would meet it and adopt it. The create waits for the delete.
 */
function nameTaken(aw: AppWrapper, cluster: string, jobName: string): boolean {
  return aw.staleJobs.some((s) => s.cluster === cluster && s.jobName === jobName);
}

/**
 * The dispatch cycle: opens the gate of every planned AppWrapper whose start has come and creates its Job
 * on the target spoke, completes migrations (create in the new cluster, then delete in the old), reads
 * Job status back, and deletes Jobs left behind by migrations and cancels.
 */
/** Whether a create of `jobName` on `cluster` went unanswered and no listing has settled it yet. */
function mayHaveMade(aw: AppWrapper, cluster: string, jobName: string): boolean {
  return aw.unconfirmedJobs?.some((ref) => ref.cluster === cluster && ref.jobName === jobName) ?? false;
}

export class DispatchCycle {
  private last: DispatchSummary | undefined;

  constructor(
    private readonly deps: {
      lifecycle: Lifecycle;
      clusters: ClusterMonitor;
      metrics: Metrics;
      logger: Logger;
      clock: Clock;
      settings: DispatchSettings;
    },
  ) {}

  get lastSummary(): DispatchSummary | undefined {
    return this.last;
  }

  async run(): Promise<DispatchSummary> {
    const started = performance.now();
    try {
      const summary = await this.dispatch(started);
      this.last = summary;
      this.deps.metrics.recordDispatchCycle('ok', summary.duration_seconds);
      if (summary.created.length || summary.deleted.length || summary.failed.length || summary.synced.length || summary.requeued.length) {
        this.deps.logger.info(
          {
            created: summary.created.length,
            deleted: summary.deleted.length,
            failed: summary.failed.length,
            synced: summary.synced.length,
            requeued: summary.requeued.length,
            durationSeconds: summary.duration_seconds,
          },
          'dispatch cycle done',
        );
      }
      return summary;
    } catch (error) {
      this.deps.metrics.recordDispatchCycle('error', (performance.now() - started) / 1000);
      this.deps.logger.error({ err: error }, 'dispatch cycle failed');
      throw error;
    }
  }

  /** Cancels an AppWrapper: Cancelled at once, its Job deleted now or, if the spoke does not answer, by a later cycle. */
  async cancel(jobId: string): Promise<AppWrapper> {
    // A Job dispatched since the last cycle read it may be running already, or even done: its run is accounted
    // for, not lost with the cancel. Read once here, from a cluster that answers (the cancel must not wait on
    // one that does not); a Job that cannot be read is taken as not started.
    const listed = await this.deps.lifecycle.store.get(jobId);
    const placement = listed?.phase === 'Dispatched' ? listed.placement : undefined;
    const ready = placement && this.deps.clusters.view(placement.cluster)?.ready;
    const seen = placement && ready ? await this.readJob(placement) : undefined;
    if (listed && placement && (seen?.phase === 'Succeeded' || seen?.phase === 'Failed')) {
      // Finished before the cancel: its outcome is read as a cycle would have, and the cancel is refused as for any finished job.
      await this.sync(listed, placement, seen, this.emptySummary(this.deps.clock.now()));
    }
    const startedUnseen = seen?.phase === 'Running' ? seen.startedAt : undefined;
    const cancelled = await this.changeEndingMove(
      jobId,
      (cur) => {
        if (isTerminal(cur)) throw new ConflictError(`AppWrapper "${jobId}" is already ${cur.phase}`);
        // Still the Job that was read, still not seen started.
        const unseen = cur.phase === 'Dispatched' && cur.startedAt === undefined && cur.placement?.jobName === placement?.jobName && cur.placement?.cluster === placement?.cluster;
        return {
          ...withoutPendingMove(cur),
          ...(unseen && startedUnseen !== undefined ? { startedAt: startedUnseen } : {}),
          phase: 'Cancelled',
          reason: 'cancelled by request',
          finishedAt: this.deps.clock.now(),
          placement: undefined,
          // Its Job, and any a create whose answer was lost may have made: none may run on after the cancel.
          staleJobs: [...cur.staleJobs, ...(cur.placement ? [{ cluster: cur.placement.cluster, jobName: cur.placement.jobName }] : []), ...(cur.unconfirmedJobs ?? [])],
          unconfirmedJobs: undefined,
        };
      },
      'cancelled',
      () => 'it was cancelled',
    );
    try {
      await this.deleteStale(cancelled, this.emptySummary(this.deps.clock.now()));
      return (await this.deps.lifecycle.store.get(jobId)) ?? cancelled;
    } catch (error) {
      // The cancel is stored, and the answer must say so (a client told it failed would retry, and get 409).
      // Its Job's clean-up is left to a later dispatch cycle, as for a cluster that does not answer.
      this.deps.logger.warn({ jobId, err: error }, `${jobId} is cancelled; cleaning up its Job failed and is left to a later dispatch cycle`);
      return cancelled;
    }
  }

  /**
   * `lifecycle.change` for a change that may end the job's pending move without carrying it out (give it up,
   * or finish the job): such a move is counted as dropped for `reason` and logged, `why` saying why.
   */
  private async changeEndingMove(
    jobId: string,
    next: (cur: AppWrapper) => AppWrapper | undefined,
    reason: MigrationDropReason,
    why: (move: Move, stored: AppWrapper) => string,
  ): Promise<AppWrapper> {
    let ended: Move | undefined;
    const stored = await this.deps.lifecycle.change(jobId, (cur) => {
      const changed = next(cur);
      ended = changed && !changed.migrating ? pendingMove(cur) : undefined;
      return changed;
    });
    if (ended) this.deps.lifecycle.moveDropped(jobId, ended, reason, why(ended, stored));
    return stored;
  }

  private emptySummary(now: number): DispatchSummary {
    return { started_at: new Date(now).toISOString(), duration_seconds: 0, created: [], deleted: [], failed: [], synced: [], requeued: [], pruned: 0 };
  }

  private async dispatch(startedPerf: number): Promise<DispatchSummary> {
    const now = this.deps.clock.now();
    const summary = this.emptySummary(now);

    // 1. Refresh the clusters' readiness, so that a spoke that came back is used again.
    await this.deps.clusters.refresh();

    // 2. Read the Jobs back from every ready spoke.
    const jobsByCluster = new Map<string, Map<string, SpokeJobStatus>>();
    // The jobs as they were before the lists were read: one changed since (a cancel that deleted its Job meanwhile)
    // is judged on the next cycle's lists, not on these older ones.
    const beforeListing = new Map((await this.deps.lifecycle.store.list()).map((aw) => [aw.jobId, aw.updatedAt]));
    const unchangedSinceListing = (aw: AppWrapper) => beforeListing.get(aw.jobId) === aw.updatedAt;
    for (const view of this.deps.clusters.snapshot()) {
      const client = this.deps.clusters.client(view.name);
      if (!view.ready || !client) continue;
      try {
        const jobs = await this.call(client, client.listJobs(), 'list Jobs');
        jobsByCluster.set(view.name, new Map(jobs.map((j) => [j.jobName, j])));
        this.deps.clusters.markListed(view.name);
      } catch (error) {
        this.deps.clusters.markListFailed(view.name, error);
      }
    }

    // 3. Requeue the live jobs of clusters that have not answered for `clusterLostAfterMs`: Pending again,
    // for the next plan to place on a cluster that answers.
    await this.requeueOffLostClusters(now, summary);

    // 4. Account for Jobs no AppWrapper points at: a create whose answer was lost (a time-out, a connection
    // cut) may have made one. The gate Job of a job still Planned there is adopted; any other is deleted
    // in step 7, before it runs the job a second time beside the one planned elsewhere.
    const known = new Map((await this.deps.lifecycle.store.list()).map((aw) => [aw.jobId, aw]));
    for (const [cluster, jobs] of jobsByCluster) {
      for (const job of jobs.values()) {
        const aw = known.get(job.jobId);
        if (aw && unchangedSinceListing(aw)) await this.claim(aw, cluster, job, summary);
      }
    }
    // The Jobs a lost create answer may have made are settled once their cluster was listed (adopted, queued for
    // deletion, or not there), or once their cluster left the configuration. One made for a pending move is left to
    // that move (step 6): it adopts the Job, and judges the move by when the Job was made, not as one made now.
    for (const aw of known.values()) {
      const madeForMove = (ref: JobRef) => aw.migrating && ref.cluster === aw.targetCluster && jobsByCluster.get(ref.cluster)?.has(ref.jobName) === true;
      const settled = (ref: JobRef) => !this.deps.clusters.info(ref.cluster) || (jobsByCluster.has(ref.cluster) && unchangedSinceListing(aw) && !madeForMove(ref));
      if (!aw.unconfirmedJobs?.some(settled)) continue;
      await this.deps.lifecycle.change(aw.jobId, (cur) => (cur.updatedAt === aw.updatedAt ? withUnconfirmedSettled(cur, settled) : undefined));
    }

    // 5. Sync the phase of every live AppWrapper from its Job.
    const all = await this.deps.lifecycle.store.list();
    for (const aw of all) {
      if (!LIVE_PHASES.has(aw.phase) || !aw.placement) continue;
      if (!this.deps.clusters.info(aw.placement.cluster)) await this.failUnconfigured(aw, aw.placement, summary);
      const jobs = jobsByCluster.get(aw.placement.cluster);
      if (jobs) await this.sync(aw, aw.placement, jobs.get(aw.placement.jobName), summary);
    }

    // 6. Complete the migrations decided by the scheduler, and open the gates whose time has come. A move
    // waits until its Job's cluster has been read this cycle: only then is it known whether the Job started
    // (a job that cannot resume stays) and can the old Job be deleted once the new one exists.
    // Each on the clock of its own turn: the spoke calls before it may have taken seconds, and a Job's
    // activeDeadlineSeconds counts from when it is made.
    for (const aw of await this.deps.lifecycle.store.list()) {
      const at = this.deps.clock.now();
      if (aw.migrating && LIVE_PHASES.has(aw.phase)) {
        if (aw.placement && jobsByCluster.has(aw.placement.cluster)) await this.migrate(aw, at, summary, jobsByCluster.get(aw.targetCluster ?? ''));
      } else if (aw.phase === 'Planned' && !aw.gateOpen && this.gateDue(aw, at)) await this.openGate(aw, at, summary);
    }

    // 7. Delete the Jobs left behind by migrations and cancels.
    for (const aw of await this.deps.lifecycle.store.list()) {
      if (aw.staleJobs.length) await this.deleteStale(aw, summary);
    }

    // 8. Forget finished AppWrappers past their retention (once no Job of theirs is left to delete).
    await this.prune(now, summary);

    summary.duration_seconds = (performance.now() - startedPerf) / 1000;
    return summary;
  }

  private async requeueOffLostClusters(now: number, summary: DispatchSummary): Promise<void> {
    const lostAfterMs = this.deps.settings.clusterLostAfterMs;
    if (lostAfterMs <= 0) return;
    const lostSince = new Map<string, number>();
    for (const view of this.deps.clusters.snapshot()) {
      if (!view.ready && view.unreadySince !== undefined && now - view.unreadySince >= lostAfterMs) lostSince.set(view.name, view.unreadySince);
    }
    if (lostSince.size === 0) return;
    for (const aw of await this.deps.lifecycle.store.list()) {
      const gateLost = gateJobUnconfirmed(aw) ? lostSince.get(aw.targetCluster ?? '') : undefined;
      if (gateLost !== undefined) await this.replanUnconfirmedGate(aw, gateLost, now, summary);
      const cluster = aw.placement?.cluster;
      const since = cluster === undefined ? undefined : lostSince.get(cluster);
      if (!LIVE_PHASES.has(aw.phase) || cluster === undefined || since === undefined) continue;
      const minutes = Math.round((now - since) / 60_000);
      const reason = `requeued: its cluster ${cluster} has not answered for ${minutes} min (since ${isoTime(since)})`;
      const stored = await this.changeEndingMove(
        aw.jobId,
        (cur) => (LIVE_PHASES.has(cur.phase) && cur.placement?.cluster === cluster ? requeuedOffLostCluster(cur, since, reason) : undefined),
        'cluster_lost',
        (move) => `${move.from} stopped answering and the job was requeued`,
      );
      if (stored.phase !== 'Pending') continue;
      summary.requeued.push({ job_id: aw.jobId, cluster });
      this.deps.metrics.recordRequeue(cluster);
      this.deps.logger.warn(
        { jobId: aw.jobId, cluster, jobName: aw.placement?.jobName, unreadySince: isoTime(since) },
        `AppWrapper ${aw.jobId} requeued: cluster ${cluster} has not answered for ${minutes} min; it runs again, from the start, where the next plan puts it`,
      );
    }
  }

  /**
   * A Planned job whose gate Job's create went unanswered on a cluster lost since: it waits no longer for a listing
   * of that cluster. That Job, if it was made, is deleted once the cluster answers again, and the next plan places
   * the job afresh (as a requeue does for a job whose Job is known to be there).
   */
  private async replanUnconfirmedGate(aw: AppWrapper, since: number, now: number, summary: DispatchSummary): Promise<void> {
    const cluster = aw.targetCluster as string;
    const onLost = (ref: JobRef) => ref.cluster === cluster;
    let applied = false;
    await this.deps.lifecycle.change(aw.jobId, (cur) => {
      if (!gateJobUnconfirmed(cur) || cur.targetCluster !== cluster) return undefined;
      applied = true;
      return { ...withUnconfirmedSettled(cur, onLost), staleJobs: [...cur.staleJobs, ...(cur.unconfirmedJobs ?? []).filter(onLost)] };
    });
    if (!applied) return;
    summary.requeued.push({ job_id: aw.jobId, cluster });
    this.deps.metrics.recordRequeue(cluster);
    this.deps.logger.warn(
      { jobId: aw.jobId, cluster, unreadySince: isoTime(since) },
      `AppWrapper ${aw.jobId} planned again: the create of its Job on ${cluster} was not answered, and ${cluster} has not answered for ${Math.round((now - since) / 60_000)} min; that Job, if it was made, is deleted once ${cluster} answers`,
    );
  }

  private async prune(now: number, summary: DispatchSummary): Promise<void> {
    const { retentionMs } = this.deps.settings;
    if (retentionMs <= 0) return;
    const expired = (await this.deps.lifecycle.store.list())
      .filter((aw) => isTerminal(aw) && aw.staleJobs.length === 0 && !aw.unconfirmedJobs?.length && (aw.finishedAt ?? aw.updatedAt) <= now - retentionMs)
      .map((aw) => aw.jobId);
    if (!expired.length) return;
    summary.pruned = await this.deps.lifecycle.store.remove(expired);
    this.deps.metrics.recordPruned(summary.pruned);
    this.deps.logger.info({ count: summary.pruned, retentionHours: retentionMs / 3_600_000 }, `forgot ${summary.pruned} finished AppWrappers past their retention`);
  }

  private async claim(aw: AppWrapper, cluster: string, job: SpokeJobStatus, summary: DispatchSummary): Promise<void> {
    const { jobName } = job;
    const { lifecycle, clock, metrics, logger } = this.deps;
    const claim = await claimJob({ lifecycle, clock, metrics, logger, gateLeadMs: this.deps.settings.dispatchPeriodMs }, aw, cluster, job, 'Job found on the spoke');
    if (claim === 'adopted') {
      summary.created.push({ job_id: aw.jobId, cluster, job_name: jobName, adopted: true });
    } else if (claim === 'stale') {
      this.deps.logger.warn({ jobId: aw.jobId, cluster, jobName }, `Job ${jobName} found on ${cluster} is not ${aw.jobId}'s current Job; deleting it`);
    }
  }

  private call<T>(client: SpokeClient, promise: Promise<T>, what: string): Promise<T> {
    return withTimeout(promise, this.deps.settings.spokeTimeoutMs, `${what} on ${client.cluster}`);
  }

  private async sync(aw: AppWrapper, placement: Placement, job: SpokeJobStatus | undefined, summary: DispatchSummary): Promise<void> {
    const now = this.deps.clock.now();
    // The phase this sync read from the Job, if it changed the job (a cancel landing meanwhile is no phase read back).
    let readPhase: string | undefined;
    await this.changeEndingMove(
      aw.jobId,
      (cur) => {
        const next = this.fromJob(cur, placement, job, now);
        readPhase = next && next.phase !== cur.phase ? next.phase : undefined;
        return next;
      },
      'finished',
      (move, finished) => `it finished (${finished.phase}) on ${move.from} first`,
    );
    if (readPhase) summary.synced.push({ job_id: aw.jobId, phase: readPhase });
  }

  /** What a live job becomes from its Job's status (undefined: nothing to change). */
  private fromJob(cur: AppWrapper, placement: Placement, job: SpokeJobStatus | undefined, now: number): AppWrapper | undefined {
    // Only the Job the AppWrapper currently points at speaks for it.
    if (cur.placement?.jobName !== placement.jobName || cur.placement.cluster !== placement.cluster || !LIVE_PHASES.has(cur.phase)) return undefined;
    // A move not carried out yet ends with the job.
    const finishing = withoutPendingMove(cur);
    // Deleted by someone, or finished and removed by its ttlSecondsAfterFinished while the hub could not read it: the outcome is lost.
    // It ran at most until its activeDeadlineSeconds (the deadline), however long the hub could not look.
    if (!job) return { ...finishing, phase: 'Failed', reason: `Job ${placement.jobName} disappeared from cluster ${placement.cluster} before its outcome was read`, finishedAt: Math.min(now, Math.max(cur.deadlineAt, cur.startedAt ?? -Infinity)) };
    // Its activeDeadlineSeconds should have ended it at the deadline, but a suspended Job (Kueue preempts by
    // suspending) stops that clock: past the deadline and a grace, the hub ends it, and deletes the Job.
    if ((job.phase === 'Pending' || job.phase === 'Running') && now > cur.deadlineAt + this.deps.settings.dispatchPeriodMs + DEADLINE_GRACE_MS) {
      return {
        ...finishing,
        phase: 'Failed',
        reason: `DeadlineExceeded: its Job ${placement.jobName} on ${placement.cluster} was still ${job.phase.toLowerCase()} after its deadline (suspended?)`,
        startedAt: cur.startedAt ?? job.startedAt,
        // A Job read running ran until now, when the hub ends it; a suspended one stopped at some point the hub did
        // not see: its deadline, when it should have stopped, is the bound taken.
        finishedAt: job.phase === 'Running' ? now : Math.max(cur.deadlineAt, cur.startedAt ?? -Infinity),
        staleJobs: [...finishing.staleJobs, { cluster: placement.cluster, jobName: placement.jobName }],
      };
    }
    switch (job.phase) {
      case 'Pending':
        return undefined;
      case 'Running':
        return cur.phase === 'Running' ? undefined : { ...cur, phase: 'Running', startedAt: job.startedAt ?? now };
      case 'Succeeded':
        return { ...finishing, phase: 'Succeeded', startedAt: cur.startedAt ?? job.startedAt, finishedAt: job.finishedAt ?? now };
      case 'Failed':
        return { ...finishing, phase: 'Failed', reason: job.reason ?? 'Job failed', startedAt: cur.startedAt ?? job.startedAt, finishedAt: job.finishedAt ?? now };
    }
  }

  /**
   * A live job whose Job is on a cluster taken out of the configuration: the hub can no longer read it,
   * move it or delete it, so it is Failed rather than left Running forever.
   */
  private async failUnconfigured(aw: AppWrapper, placement: Placement, summary: DispatchSummary): Promise<void> {
    const reason = `its Job ${placement.jobName} is on cluster ${placement.cluster}, which is no longer configured`;
    const stored = await this.changeEndingMove(
      aw.jobId,
      (cur) => (cur.placement?.cluster === placement.cluster && LIVE_PHASES.has(cur.phase) ? { ...withoutPendingMove(cur), phase: 'Failed', reason, finishedAt: this.deps.clock.now() } : undefined),
      'cluster_removed',
      (move) => `${move.from} is no longer configured`,
    );
    if (stored.phase === aw.phase) return;
    summary.synced.push({ job_id: aw.jobId, phase: stored.phase });
    this.deps.logger.warn({ jobId: aw.jobId, cluster: placement.cluster, jobName: placement.jobName }, `AppWrapper ${aw.jobId} failed: ${reason}`);
  }

  private request(aw: AppWrapper, cluster: string, generation: number, now: number): SpokeJobRequest {
    const info = this.deps.clusters.info(cluster);
    const pool = poolOf(info, aw.targetPool);
    // Work is counted in FAST time: a job that ran on a slower pool got through less of it per second.
    const workMs = aw.spec.runtimeMinutes * 60_000;
    const doneMs = workDoneMs(aw, now, (c, p) => poolOf(this.deps.clusters.info(c), p).speedFactor, 'new-job');
    return {
      jobId: aw.jobId,
      submittedAt: aw.submittedAt,
      jobName: jobNameFor(aw.jobId, generation),
      generation,
      region: info?.region ?? '',
      pool: pool.name,
      nodeSelector: pool.nodeSelector,
      cpu: aw.spec.cpu,
      memGb: aw.spec.memGb,
      gpu: aw.spec.gpu,
      image: aw.spec.image ?? this.deps.settings.defaultImage,
      command: aw.spec.command ?? [...this.deps.settings.defaultCommand],
      // A migrated job that checkpoints resumes from the state it carried (its data_gb): only the rest of its run remains.
      runtimeSeconds: Math.max(1, Math.round(((workMs - doneMs) * pool.speedFactor) / 1000)),
      activeDeadlineSeconds: Math.max(1, Math.ceil((aw.deadlineAt - now) / 1000)),
      plannedStartAt: aw.plannedStartAt ?? now,
      co2EstimateG: aw.co2EstimateG ?? 0,
      migratedFrom: aw.metadata.migrated_from,
    };
  }

  /** The client of a cluster that is configured and answering, so that a create there is worth sending. */
  private answeringClient(cluster: string): SpokeClient | undefined {
    return this.deps.clusters.view(cluster)?.ready === true ? this.deps.clusters.client(cluster) : undefined;
  }

  /**
   * Creates a Job. Resolves with the outcome; `refused` (with the cluster's message) when the cluster will
   * never take it; `unanswered` or `not-made` when it made nothing the hub knows of, to be tried again next cycle.
   */
  private async create(aw: AppWrapper, cluster: string, request: SpokeJobRequest, summary: DispatchSummary): Promise<CreateOutcome | NoJob> {
    const client = this.answeringClient(cluster);
    if (!client) return 'not-made';
    try {
      const outcome = await this.call(client, client.createJob(request), `create Job ${request.jobName}`);
      this.deps.metrics.recordDispatchAction(cluster, outcome);
      summary.created.push({ job_id: aw.jobId, cluster, job_name: request.jobName, adopted: outcome === 'adopted' });
      this.deps.logger.info({ jobId: aw.jobId, cluster, jobName: request.jobName, outcome }, `Job ${request.jobName} ${outcome} on ${cluster}`);
      return outcome;
    } catch (error) {
      const message = errorMessage(error);
      if (error instanceof LeftoverJobError) {
        // Not this job's: deleted with the Jobs left behind, and this job's made once the name is free.
        this.deps.logger.warn({ jobId: aw.jobId, cluster, jobName: request.jobName }, `${message}; it is deleted, and the job's own made once it is gone`);
        await this.deps.lifecycle.change(aw.jobId, (cur) => (nameTaken(cur, cluster, request.jobName) ? undefined : { ...cur, staleJobs: [...cur.staleJobs, { cluster, jobName: request.jobName }] }));
        return 'not-made';
      }
      this.deps.metrics.recordDispatchAction(cluster, 'failed');
      summary.failed.push({ job_id: aw.jobId, cluster, error: message });
      const retryable = !(error instanceof AdapterError) || error.retryable;
      this.deps.logger.warn({ jobId: aw.jobId, cluster, jobName: request.jobName, retryable, err: error }, `creating Job ${request.jobName} on ${cluster} failed`);
      if (!retryable) return { refused: message };
      // A quota used up, or a Job of the same name still being deleted, is the cluster answering: the Job
      // waits there (the create made nothing), and the plan may move it.
      if (error instanceof QuotaExceededError || error instanceof JobBeingDeletedError) return 'not-made';
      this.deps.clusters.markUnreachable(cluster, error);
      // The create may have reached the cluster: the job remembers that Job until a listing settles it (a gate's
      // create wrote that ahead).
      const ref = { cluster, jobName: request.jobName };
      await this.deps.lifecycle.change(aw.jobId, (cur) =>
        mayHaveMade(cur, cluster, request.jobName) ? undefined : { ...cur, unconfirmedJobs: [...(cur.unconfirmedJobs ?? []), ref] },
      );
      return 'unanswered';
    }
  }

  /**
   * Whether a planned job's gate opens in this cycle: its start has come, or it comes before the next tick and
   * the job would miss its deadline if it waited for that tick (a plan may start a job at its very last
   * moment, a few milliseconds after a tick: it then starts less than one period early, not too late).
   */
  private gateDue(aw: AppWrapper, now: number): boolean {
    const start = aw.plannedStartAt;
    if (start === undefined) return false;
    if (start <= now) return true;
    const nextTick = now + this.deps.settings.dispatchPeriodMs;
    if (start >= nextTick) return false;
    const runMs = aw.spec.runtimeMinutes * 60_000 * poolOf(this.deps.clusters.info(aw.targetCluster ?? ''), aw.targetPool).speedFactor;
    return nextTick + runMs > aw.deadlineAt;
  }

  private async openGate(listed: AppWrapper, now: number, summary: DispatchSummary): Promise<void> {
    let aw = listed;
    const cluster = aw.targetCluster;
    if (!cluster) return;
    let request = this.request(aw, cluster, 1, now);
    if (nameTaken(aw, cluster, request.jobName)) return;
    const earlyMs = (aw.plannedStartAt ?? now) - now;
    if (earlyMs > 0) {
      this.deps.logger.info({ jobId: aw.jobId, cluster, earlySeconds: Math.round(earlyMs / 1000) }, `opening the gate of ${aw.jobId} a dispatch tick early: waiting for the next tick would miss its deadline`);
    }
    // A create of this Job whose answer was lost may have made it, running since: the job is not judged as one
    // that starts now until a listing settles that (adopted, or not there).
    if (now + request.runtimeSeconds * 1000 > aw.deadlineAt && !mayHaveMade(aw, cluster, request.jobName)) {
      // The gate opens late (its cluster was down, the hub was stopped, the plan left less slack than a tick):
      // a Job now would only hit its deadline on this pool. The cluster's fastest pool takes it if it can still
      // finish there: the next schedule cycle may be too late for that too.
      const fastest = [...poolsOf(this.deps.clusters.info(cluster))].sort((a, b) => a.speedFactor - b.speedFactor)[0];
      const onFastest = fastest && fastest.name !== request.pool && now + aw.spec.runtimeMinutes * 60_000 * fastest.speedFactor <= aw.deadlineAt;
      // Decided on the listed value: a plan applied since (another pool, another cluster) is left to the next cycle.
      let applied = false;
      const stored = await this.deps.lifecycle.change(aw.jobId, (cur) => {
        if (cur.updatedAt !== aw.updatedAt) return undefined;
        applied = true;
        return onFastest ? { ...cur, targetPool: fastest.name } : { ...cur, phase: 'Failed', reason: CANNOT_FINISH, finishedAt: now };
      });
      if (!onFastest || !applied) {
        if (stored.phase !== aw.phase) summary.synced.push({ job_id: aw.jobId, phase: stored.phase });
        return;
      }
      this.deps.logger.info({ jobId: aw.jobId, cluster, plannedPool: request.pool, pool: fastest.name }, `the gate of ${aw.jobId} opens too late for pool ${request.pool}; it runs on ${fastest.name}`);
      aw = stored;
      request = this.request(aw, cluster, 1, now);
    }
    if (!this.answeringClient(cluster)) return;
    // Written ahead of the create: a hub that dies before it records the answer finds the Job on restart as one
    // that may exist, and no plan moves or fails the job (which would delete that Job, perhaps running or done
    // by then) until a listing of the cluster settles it.
    const isThisJob = (ref: JobRef) => ref.cluster === cluster && ref.jobName === request.jobName;
    const intentWritten = !mayHaveMade(aw, cluster, request.jobName);
    if (intentWritten) {
      const listed = aw;
      aw = await this.deps.lifecycle.change(aw.jobId, (cur) =>
        this.gateStillWanted(cur, listed, cluster) && !nameTaken(cur, cluster, request.jobName) ? { ...cur, unconfirmedJobs: [...(cur.unconfirmedJobs ?? []), { cluster, jobName: request.jobName }] } : undefined,
      );
      // Cancelled or re-planned since it was listed: the next cycle decides again.
      if (!mayHaveMade(aw, cluster, request.jobName)) return;
    }
    const outcome = await this.create(aw, cluster, request, summary);
    if (outcome === 'unanswered') return;
    if (outcome === 'not-made') {
      // The cluster answered without making it (or was not asked): the intent goes, and the plan may move the job.
      if (intentWritten) await this.deps.lifecycle.change(aw.jobId, (cur) => withUnconfirmedSettled(cur, isThisJob));
      return;
    }
    let unwanted = false;
    const sent = aw;
    await this.deps.lifecycle.change(aw.jobId, (cur) => {
      // The answer settles whether the Job exists.
      const answered = withUnconfirmedSettled(cur, isThisJob);
      if (!this.gateStillWanted(cur, sent, cluster)) {
        // Cancelled or re-planned (elsewhere, to another pool, to a later start) while the Job was being created: the Job is not wanted.
        // A cancel has queued it for deletion already, from the intent.
        if (typeof outcome === 'object') return answered;
        unwanted = true;
        return nameTaken(cur, cluster, request.jobName) ? answered : { ...answered, staleJobs: [...cur.staleJobs, { cluster, jobName: request.jobName }] };
      }
      if (typeof outcome === 'object') return { ...answered, phase: 'Failed', reason: `the cluster refused the Job: ${outcome.refused}`, finishedAt: now };
      return { ...answered, phase: 'Dispatched', gateOpen: true, placement: placementFor(cur, { cluster, jobName: request.jobName, generation: 1, pool: request.pool, createdAt: now }) };
    });
    if (unwanted) withdrawCreated(summary, aw.jobId, cluster, request.jobName);
  }

  /**
   * Whether the gate `listed` opens (on `cluster`) is still the job's as it is now: still Planned there, in the same
   * pool, its start not moved past the clock by a plan applied since. A schedule cycle re-applies an unchanged plan
   * each time (a start of "now" is no later; an unchanged start may be a little ahead: see gateDue), which must not
   * hold the gate back a tick.
   */
  private gateStillWanted(cur: AppWrapper, listed: AppWrapper, cluster: string): boolean {
    const replannedLater = cur.plannedStartAt !== listed.plannedStartAt && cur.plannedStartAt !== undefined && cur.plannedStartAt > this.deps.clock.now();
    return cur.phase === 'Planned' && !cur.gateOpen && cur.targetCluster === cluster && cur.targetPool === listed.targetPool && !replannedLater;
  }

  /** `onTarget`: the Jobs listed on the target cluster this cycle, when it could be listed. */
  private async migrate(aw: AppWrapper, now: number, summary: DispatchSummary, onTarget?: ReadonlyMap<string, SpokeJobStatus>): Promise<void> {
    const from = aw.placement;
    const to = aw.targetCluster;
    if (!from || !to) return;
    // Gives this move up, unless a plan has changed it meanwhile.
    const giveUp = (cur: AppWrapper) => (cur.targetCluster === to ? withoutPendingMove(cur) : undefined);
    if (from.cluster === to) {
      // Planned away and back again before the move happened: nothing to move.
      await this.deps.lifecycle.change(aw.jobId, giveUp);
      return;
    }
    if (!this.deps.clusters.info(to)) {
      // Decided by a hub whose configuration still had the target: it can never be carried out.
      await this.changeEndingMove(aw.jobId, giveUp, 'cluster_removed', () => `${to} is no longer configured`);
      return;
    }
    if (!this.deps.settings.migrationAllow) {
      // Decided before the hub restarted with migrations turned off (the dispatch loop ticks before the schedule loop).
      await this.changeEndingMove(aw.jobId, giveUp, 'not_allowed', (move) => `migration.allow is false; it keeps running on ${move.from}`);
      return;
    }
    if (boundToItsJob(aw)) {
      // It started running after the plan moved it: moving it now would throw its work away.
      await this.changeEndingMove(
        aw.jobId,
        (cur) => (boundToItsJob(cur) ? giveUp(cur) : undefined),
        'cannot_resume',
        (move) => `it started running on ${move.from} and cannot resume elsewhere (checkpointing false)`,
      );
      return;
    }
    const generation = from.generation + 1;
    const request = this.request(aw, to, generation, now);
    if (nameTaken(aw, to, request.jobName)) return;
    // A create of this Job whose answer was lost may have made it, running since: judged once a listing settles that.
    if (now + request.runtimeSeconds * 1000 > aw.deadlineAt && !mayHaveMade(aw, to, request.jobName)) {
      // Carried out late (the target could not be reached, the hub was stopped): the rest of the run on the target's
      // pool would now end past the deadline. The Job it has keeps running; the next plan decides again from here.
      // Decided on the listed value: a plan applied since (another pool, another cluster) is left to the next cycle.
      await this.changeEndingMove(
        aw.jobId,
        (cur) => (cur.updatedAt === aw.updatedAt ? giveUp(cur) : undefined),
        'too_late',
        (move) => `the rest of its run on ${move.to} (pool ${request.pool}) would end past its deadline; it stays on ${move.from}`,
      );
      return;
    }
    const outcome = await this.create(aw, to, request, summary);
    if (outcome === 'unanswered' || outcome === 'not-made') return;
    if (typeof outcome === 'object') {
      // The new cluster refuses the Job (create logged why); the old one keeps running it, and no plan moves it there again
      // (a refusal is for good: deciding the same move every cycle would count and log a drop every cycle).
      const refusedThere = (cur: AppWrapper) => {
        const kept = giveUp(cur);
        return kept && { ...kept, refusedBy: [...new Set([...(kept.refusedBy ?? []), to])] };
      };
      await this.changeEndingMove(aw.jobId, refusedThere, 'refused', (move) => `the cluster refused its Job; it keeps running on ${move.from}`);
      return;
    }
    const adoptedFailed = outcome === 'adopted' ? onTarget?.get(request.jobName) : undefined;
    if (adoptedFailed?.phase === 'Failed') {
      // An earlier create made this Job (its answer was lost), and it has failed there since: no new home for the
      // job, which keeps running where it is. The failed Job is deleted with the others left behind.
      const dropAndDelete = (cur: AppWrapper) => {
        const kept = giveUp(cur);
        return kept && { ...kept, staleJobs: [...kept.staleJobs, { cluster: to, jobName: request.jobName }] };
      };
      await this.changeEndingMove(aw.jobId, dropAndDelete, 'refused', (move) => `its Job on ${move.to} failed (${adoptedFailed.reason ?? 'no reason given'}); it keeps running on ${move.from}`);
      withdrawCreated(summary, aw.jobId, to, request.jobName);
      return;
    }
    // The old Job may have finished while the new one was being made: the job is done there (its outcome read,
    // the move dropped as finished), and the new Job is not wanted.
    const finishedFirst = await this.finishedJob(from);
    if (finishedFirst) {
      await this.sync(aw, from, finishedFirst, summary);
      const withNewJobStale = await this.deps.lifecycle.change(aw.jobId, (cur) => ({ ...cur, staleJobs: [...cur.staleJobs, { cluster: to, jobName: request.jobName }] }));
      withdrawCreated(summary, aw.jobId, to, request.jobName);
      await this.deleteStale(withNewJobStale, summary);
      return;
    }
    let unwanted = false;
    const stored = await this.deps.lifecycle.change(aw.jobId, (cur) => {
      // Given up, finished, or re-planned (another cluster, another pool: the Job was made for this one) while the Job was being created.
      if (!cur.migrating || cur.placement?.jobName !== from.jobName || cur.targetCluster !== to || cur.targetPool !== aw.targetPool) {
        unwanted = true;
        return { ...cur, staleJobs: [...cur.staleJobs, { cluster: to, jobName: request.jobName }] };
      }
      const old: JobRef = { cluster: from.cluster, jobName: from.jobName };
      // The new Job takes over from when it was made: now, or, for one adopted (an earlier create whose answer
      // was lost), when that create made it, as its run began from the state of then. Work the old Job did
      // after that is done twice and counted once.
      const madeAt = outcome === 'adopted' ? onTarget?.get(request.jobName)?.createdAt : undefined;
      const switchAt = Math.min(now, Math.max(madeAt ?? now, cur.startedAt ?? -Infinity));
      // The old Job's run so far is a leg of its own: the work it did and the carbon it burnt both count (a Job
      // that started this instant did nothing yet).
      const ran = cur.startedAt !== undefined && switchAt > cur.startedAt;
      const leg = ran ? [{ cluster: from.cluster, pool: from.pool, startedAt: cur.startedAt!, endedAt: switchAt }] : [];
      return {
        ...cur,
        phase: 'Dispatched',
        migrating: false,
        // The remaining run starts over when the new Job starts.
        startedAt: undefined,
        ...(leg.length > 0 && { pastRuns: [...(cur.pastRuns ?? []), ...leg] }),
        placement: placementFor(cur, { cluster: to, jobName: request.jobName, generation, pool: request.pool, createdAt: switchAt }),
        staleJobs: [...cur.staleJobs, old],
      };
    });
    if (unwanted) withdrawCreated(summary, aw.jobId, to, request.jobName);
    else this.deps.logger.info({ jobId: aw.jobId, fromCluster: from.cluster, toCluster: to, jobName: request.jobName }, `migration of ${aw.jobId} to ${to}: new Job created`);
    await this.deleteStale(stored, summary);
  }

  /** The Job `placement` names, read again, if it has finished; undefined when it runs or cannot be read (the move then goes on). */
  private async finishedJob(placement: Placement): Promise<SpokeJobStatus | undefined> {
    const job = await this.readJob(placement);
    return job?.phase === 'Succeeded' || job?.phase === 'Failed' ? job : undefined;
  }

  /** The Job `placement` names, read from its cluster now; undefined when it is not there or cannot be read. */
  private async readJob(placement: Placement): Promise<SpokeJobStatus | undefined> {
    const client = this.deps.clusters.client(placement.cluster);
    if (!client) return undefined;
    try {
      return (await this.call(client, client.listJobs(), 'list Jobs')).find((j) => j.jobName === placement.jobName);
    } catch {
      return undefined;
    }
  }

  private async deleteStale(aw: AppWrapper, summary: DispatchSummary): Promise<void> {
    const done: JobRef[] = [];
    const ready = new Set(this.deps.clusters.snapshot().flatMap((v) => (v.ready ? [v.name] : [])));
    for (const stale of aw.staleJobs) {
      const client = this.deps.clusters.client(stale.cluster);
      if (!client) {
        done.push(stale);
        continue;
      }
      // A cluster known to be down would only make each delete wait out its time limit, one after another,
      // holding up the cycle (and a cancel request); the next cycle's refresh finds out when it is back.
      if (!ready.has(stale.cluster)) continue;
      try {
        const deleted = await this.call(client, client.deleteJob(stale.jobName, aw.jobId), `delete Job ${stale.jobName}`);
        done.push(stale);
        // Already gone (a cancel or another cycle deleted it meanwhile), or not this job's: nothing deleted to count or report.
        if (!deleted) continue;
        this.deps.metrics.recordDispatchAction(stale.cluster, 'deleted');
        summary.deleted.push({ job_id: aw.jobId, cluster: stale.cluster, job_name: stale.jobName });
        this.deps.logger.info({ jobId: aw.jobId, cluster: stale.cluster, jobName: stale.jobName }, `Job ${stale.jobName} deleted from ${stale.cluster}`);
      } catch (error) {
        this.deps.metrics.recordDispatchAction(stale.cluster, 'failed');
        summary.failed.push({ job_id: aw.jobId, cluster: stale.cluster, error: errorMessage(error) });
        this.deps.logger.warn({ jobId: aw.jobId, cluster: stale.cluster, jobName: stale.jobName, err: error }, 'deleting Job failed; will retry');
        if (!(error instanceof AdapterError) || error.retryable) this.deps.clusters.markUnreachable(stale.cluster, error);
      }
    }
    if (!done.length) return;
    await this.deps.lifecycle.change(aw.jobId, (cur) => ({
      ...cur,
      staleJobs: cur.staleJobs.filter((s) => !done.some((d) => d.cluster === s.cluster && d.jobName === s.jobName)),
    }));
  }
}
