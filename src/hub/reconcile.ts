import type { Logger } from 'pino';
import { jobNameFor, LIVE_PHASES, madeBefore, placementFor, type AppWrapper } from '../domain/app-wrapper.js';
import type { Clock } from '../domain/clock.js';
import type { Metrics } from '../metrics/metrics.js';
import type { SpokeJobStatus } from '../spokes/types.js';
import type { ClusterMonitor } from './cluster-monitor.js';
import type { Lifecycle } from './lifecycle.js';
import { withTimeout } from './timeout.js';

interface JobOnCluster {
  job_id: string;
  cluster: string;
  job_name: string;
}

export interface ReconcileSummary {
  /** AppWrappers in the store when the hub started. */
  loaded: number;
  /** Jobs of AppWrappers stored as Planned: the hub died after creating them and before recording it. Now Dispatched. */
  adopted: JobOnCluster[];
  /** Jobs of known AppWrappers that no longer want them (cancelled or re-planned meanwhile): queued for deletion. */
  stale: JobOnCluster[];
  /** Finished Jobs with our label whose job id no AppWrapper has: deleted. */
  deleted: JobOnCluster[];
  /** Such Jobs left in place: their delete failed, or came after one that failed on their cluster. */
  undeleted: JobOnCluster[];
  /** Unfinished Jobs with our label whose job id no AppWrapper has: left alone (someone's work), logged. */
  unknown: JobOnCluster[];
  /** Clusters that did not answer; the dispatch cycle reads them once they do. */
  unreachable: string[];
}

export interface ReconcileDeps {
  lifecycle: Lifecycle;
  clusters: ClusterMonitor;
  logger: Logger;
  /** Adoptions and deletions count in `caspian_dispatch_actions_total`, as the dispatch cycle's do. */
  metrics: Pick<Metrics, 'recordDispatchAction'>;
  clock: Clock;
  /** Longest one spoke call may take. */
  spokeTimeoutMs: number;
  /** The dispatch loop's period: a gate may open up to this long before its planned start (see `claimJob`). */
  gateLeadMs: number;
}

/** Whether the AppWrapper already accounts for this Job: its current Job, or one queued for deletion. */
function knows(aw: AppWrapper, cluster: string, jobName: string): boolean {
  if (aw.placement?.cluster === cluster && aw.placement.jobName === jobName) return true;
  return aw.staleJobs.some((s) => s.cluster === cluster && s.jobName === jobName);
}

/**
 * The Job a Planned AppWrapper's open gate creates, on the cluster its plan names, once its start has come or
 * is less than `gateLeadMs` away (the dispatch cycle opens a gate a tick early when the next tick would miss
 * the deadline): a Job found earlier than that was made for an earlier plan, re-planned later meanwhile.
 */
function isGateJob(aw: AppWrapper, cluster: string, job: Pick<SpokeJobStatus, 'jobName' | 'pool'>, now: number, gateLeadMs: number): boolean {
  const start = aw.plannedStartAt ?? now;
  return aw.phase === 'Planned' && aw.targetCluster === cluster && job.jobName === jobNameFor(aw.jobId, 1) && madeForItsPool(aw, job) && (start <= now || start < now + gateLeadMs);
}

/** The new Job of a migration under way: the dispatch cycle adopts it when it completes the migration. */
function isMigrationJob(aw: AppWrapper, cluster: string, job: Pick<SpokeJobStatus, 'jobName' | 'pool'>): boolean {
  return LIVE_PHASES.has(aw.phase) && aw.migrating && aw.targetCluster === cluster && aw.placement !== undefined && job.jobName === jobNameFor(aw.jobId, aw.placement.generation + 1) && madeForItsPool(aw, job);
}

/**
 * Whether a Job was made for the pool the job is planned on (one without a pool label predates pools). One made
 * for another pool (the plan changed the pool since its create) is not the job's: its pods run on the other
 * pool's nodes and time.
 */
function madeForItsPool(aw: AppWrapper, job: Pick<SpokeJobStatus, 'pool'>): boolean {
  return job.pool === undefined || job.pool === (aw.targetPool ?? 'FAST');
}

/** What a Job found on a spoke becomes for the AppWrapper it is labelled with. */
export type Claim = 'adopted' | 'stale';

/**
 * A Job made before this AppWrapper was submitted: left by an earlier job with the same id, forgotten
 * after its retention while its finished Job stayed on the cluster. It is never this one's Job.
 */
function predates(aw: AppWrapper, job: Pick<SpokeJobStatus, 'createdAt'>): boolean {
  return madeBefore(job.createdAt, aw.submittedAt);
}

/**
 * Accounts for a Job of `aw` found on `cluster` that the AppWrapper does not point at: the gate Job of a
 * Planned AppWrapper becomes its Job (Dispatched: a create whose answer was lost, or a hub that died
 * before recording it), any other is queued for deletion: it is no longer wanted, or it was made before
 * this AppWrapper was submitted (an earlier job with the same id left it). Undefined when the
 * AppWrapper already accounts for it, or it is the new Job of a migration under way (the dispatch cycle
 * adopts that one when it completes the migration), or the cluster is deleting it already.
 */
export async function claimJob(
  deps: Pick<ReconcileDeps, 'lifecycle' | 'clock' | 'metrics' | 'logger' | 'gateLeadMs'>,
  aw: AppWrapper,
  cluster: string,
  job: Pick<SpokeJobStatus, 'jobName' | 'createdAt' | 'pool' | 'deleting'>,
  why: string,
): Promise<Claim | undefined> {
  const { lifecycle, clock, gateLeadMs } = deps;
  const { jobName } = job;
  // Deleted once already (a finalizer holds it): deleting it again each cycle would only count it again.
  if (job.deleting) return undefined;
  const ours = (cur: AppWrapper) => !predates(cur, job);
  if (knows(aw, cluster, jobName) || (ours(aw) && isMigrationJob(aw, cluster, job))) return undefined;
  let claim: Claim | undefined;
  await lifecycle.change(
    aw.jobId,
    (cur) => {
      if (knows(cur, cluster, jobName) || (ours(cur) && isMigrationJob(cur, cluster, job))) return undefined;
      if (ours(cur) && isGateJob(cur, cluster, job, clock.now(), gateLeadMs)) {
        claim = 'adopted';
        return { ...cur, phase: 'Dispatched', gateOpen: true, placement: placementFor(cur, { cluster, jobName, generation: 1, pool: cur.targetPool ?? 'FAST', createdAt: clock.now() }) };
      }
      // As the dispatch cycle does when a Job it created is no longer wanted.
      claim = 'stale';
      return { ...cur, staleJobs: [...cur.staleJobs, { cluster, jobName }] };
    },
    why,
  );
  if (claim === 'adopted') {
    deps.metrics.recordDispatchAction(cluster, 'adopted');
    deps.logger.info({ jobId: aw.jobId, cluster, jobName }, `Job ${jobName} found on ${cluster} adopted: its create had not been answered`);
  }
  return claim;
}

/**
 * Run once at start, after the store is loaded and the clusters checked: compares what the store says
 * with the Jobs each answering spoke has (found by our label), and repairs what a crash between a spoke
 * call and the store write left behind. A live AppWrapper whose Job is gone is left to the dispatch cycle,
 * which marks it Failed as it would at any other time.
 */
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileSummary> {
  const { lifecycle, clusters, logger, metrics } = deps;
  const byId = new Map((await lifecycle.store.list()).map((aw) => [aw.jobId, aw]));
  const summary: ReconcileSummary = { loaded: byId.size, adopted: [], stale: [], deleted: [], undeleted: [], unknown: [], unreachable: [] };

  for (const view of clusters.snapshot()) {
    const client = clusters.client(view.name);
    if (!view.ready || !client) {
      summary.unreachable.push(view.name);
      continue;
    }
    let jobs: SpokeJobStatus[];
    try {
      jobs = await withTimeout(client.listJobs(), deps.spokeTimeoutMs, `list Jobs on ${view.name}`);
      clusters.markListed(view.name);
    } catch (error) {
      clusters.markListFailed(view.name, error);
      summary.unreachable.push(view.name);
      continue;
    }
    // Deletes stop at the first that fails: one that hangs would otherwise cost a time-out per leftover Job,
    // before the hub listens. The rest are left for the next start (their ttlSecondsAfterFinished may remove them first).
    let deletesFailed = false;
    for (const job of jobs) {
      if (job.deleting) continue;
      const ref: JobOnCluster = { job_id: job.jobId, cluster: view.name, job_name: job.jobName };
      const aw = byId.get(job.jobId);
      if (!aw) {
        if (job.phase === 'Succeeded' || job.phase === 'Failed') {
          if (deletesFailed) {
            summary.undeleted.push(ref);
            continue;
          }
          try {
            const deleted = await withTimeout(client.deleteJob(job.jobName, job.jobId), deps.spokeTimeoutMs, `delete Job ${job.jobName}`);
            if (!deleted) continue;
            summary.deleted.push(ref);
            metrics.recordDispatchAction(view.name, 'deleted');
            logger.info(ref, `finished Job ${job.jobName} of an unknown AppWrapper deleted from ${view.name}`);
          } catch (error) {
            deletesFailed = true;
            summary.undeleted.push(ref);
            metrics.recordDispatchAction(view.name, 'failed');
            logger.warn({ ...ref, err: error }, `deleting finished Job ${job.jobName} of an unknown AppWrapper failed; no more are deleted from ${view.name} until the next start`);
          }
        } else {
          summary.unknown.push(ref);
          logger.warn({ ...ref, phase: job.phase }, `Job ${job.jobName} on ${view.name} carries our label but no AppWrapper "${job.jobId}" exists; left alone`);
        }
        continue;
      }
      const claim = await claimJob(deps, aw, view.name, job, 'Job found on the spoke at start');
      if (claim) summary[claim].push(ref);
    }
  }

  logger.info(
    {
      loaded: summary.loaded,
      adopted: summary.adopted.length,
      stale: summary.stale.length,
      deleted: summary.deleted.length,
      undeleted: summary.undeleted.length,
      unknown: summary.unknown.length,
      unreachable: summary.unreachable,
    },
    `reconciled with the spokes: loaded ${summary.loaded} AppWrappers, adopted ${summary.adopted.length} Jobs`,
  );
  return summary;
}
