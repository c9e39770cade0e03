import type { Logger } from 'pino';
import { NO_RESOURCES, type Resources } from '../domain/app-wrapper.js';
import type { Clock } from '../domain/clock.js';
import type { ClusterInfo, NodeSize } from '../domain/cluster.js';
import { errorMessage } from '../domain/errors.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ListedResource, SpokeClient } from '../spokes/types.js';
import { withTimeout } from './timeout.js';

export interface Spoke {
  info: ClusterInfo;
  client: SpokeClient;
}

export interface ClusterView extends ClusterInfo {
  ready: boolean;
  /** Why it is not ready. */
  message?: string;
  allocatable: Resources;
  foreignUsage: Resources;
  nodeSizes?: NodeSize[];
  /** Epoch ms of the last status check; undefined before the first. */
  checkedAt?: number;
  /**
   * Epoch ms of the first check of the current stretch of not answering (or not ready); undefined while ready.
   * A cluster whose Job list failed answers again only once its Jobs are listed: one that answers its status
   * but whose Job list keeps failing stays unready since then (its jobs would otherwise never count as lost).
   */
  unreadySince?: number;
}

/**
 * Whether the cluster answers in full: its status, and its Jobs since a list of them failed. What the plan
 * uses, and what the API, the probes and the metrics call ready.
 */
export function answering(view: Pick<ClusterView, 'ready' | 'unreadySince'>): boolean {
  return view.ready && view.unreadySince === undefined;
}

/** Logs and counts a Kubernetes spoke's list read again in one request after its continue token expired. */
export function spokeListRestartHook(deps: { metrics: Metrics; logger: Logger }): (cluster: string, resource: ListedResource) => void {
  return (cluster, resource) => {
    deps.metrics.recordSpokeListRestart(cluster, resource);
    deps.logger.warn(
      { cluster, resource },
      `cluster ${cluster}: listing ${resource} again in one request, the continue token expired (etcd compacted during the chunked list)`,
    );
  };
}

/**
 * Knows every spoke and what each said last. A spoke that does not answer (or answers with an error)
 * is NotReady until it answers again; the scheduler plans around NotReady clusters.
 */
export class ClusterMonitor {
  private readonly views = new Map<string, ClusterView>();
  private readonly spokes = new Map<string, Spoke>();
  /** Sequence number of the latest refresh started. */
  private refreshSeq = 0;
  /** Per cluster, the sequence number of the latest refresh whose answer (or failure) was applied. */
  private readonly appliedSeq = new Map<string, number>();
  /** Clusters whose Job list failed and has not succeeded since. */
  private readonly awaitingList = new Set<string>();

  constructor(
    spokes: readonly Spoke[],
    private readonly deps: { metrics: Metrics; logger: Logger; clock: Clock; timeoutMs: number },
  ) {
    for (const spoke of spokes) {
      this.spokes.set(spoke.info.name, spoke);
      this.views.set(spoke.info.name, { ...spoke.info, ready: false, message: 'not checked yet', allocatable: { ...NO_RESOURCES }, foreignUsage: { ...NO_RESOURCES } });
    }
    deps.metrics.registerClusters([...this.spokes.keys()]);
  }

  client(cluster: string): SpokeClient | undefined {
    return this.spokes.get(cluster)?.client;
  }

  clusterOfRegion(region: string): ClusterInfo | undefined {
    return [...this.spokes.values()].find((s) => s.info.region === region)?.info;
  }

  info(cluster: string): ClusterInfo | undefined {
    return this.spokes.get(cluster)?.info;
  }

  snapshot(): ClusterView[] {
    return [...this.views.values()];
  }

  /** The last view of one cluster, as `snapshot()` holds it. */
  view(cluster: string): ClusterView | undefined {
    return this.views.get(cluster);
  }

  /** Asks every spoke for its status, concurrently, and returns the new views. */
  async refresh(): Promise<ClusterView[]> {
    // Refreshes overlap (the periodic one and an on-demand one): an older one that answers late must not
    // overwrite what a newer one already recorded.
    const seq = ++this.refreshSeq;
    await Promise.all(
      [...this.spokes.values()].map(async ({ info, client }) => {
        try {
          const status = await withTimeout(client.status(), this.deps.timeoutMs, `status of ${info.name}`);
          if (!this.claim(info.name, seq)) return;
          this.record(info.name, { ...info, ...status, checkedAt: this.deps.clock.now() });
        } catch (error) {
          if (!this.claim(info.name, seq)) return;
          this.markUnreachable(info.name, error);
        }
      }),
    );
    return this.snapshot();
  }

  /** False when a later-started refresh already recorded its answer for the cluster; else marks `seq` as recorded. */
  private claim(cluster: string, seq: number): boolean {
    const applied = this.appliedSeq.get(cluster) ?? 0;
    if (applied > seq) {
      this.deps.logger.debug({ cluster, refresh: seq, applied }, `cluster ${cluster}: dropping a late status answer, a newer refresh already answered`);
      return false;
    }
    this.appliedSeq.set(cluster, seq);
    return true;
  }

  /** Records that a call to the cluster failed in a way that says it is not answering. */
  markUnreachable(cluster: string, error: unknown): void {
    const previous = this.views.get(cluster);
    if (!previous) return;
    const message = errorMessage(error);
    this.record(cluster, { ...previous, ready: false, message, checkedAt: this.deps.clock.now() });
  }

  /**
   * Records that listing the cluster's Jobs failed: it is not answering, and answering its status again does
   * not end that (nor its lost clock) until its Jobs are listed.
   */
  markListFailed(cluster: string, error: unknown): void {
    if (!this.views.has(cluster)) return;
    this.awaitingList.add(cluster);
    this.markUnreachable(cluster, error);
  }

  /** Records that the cluster's Jobs were listed: it answers in full again. */
  markListed(cluster: string): void {
    if (!this.awaitingList.delete(cluster)) return;
    const view = this.views.get(cluster);
    if (view?.ready && view.unreadySince !== undefined) {
      this.views.set(cluster, { ...view, message: undefined, unreadySince: undefined });
      this.deps.logger.info({ cluster, region: view.region }, 'cluster is ready: its Jobs are listed again');
      this.recordReadiness(cluster);
    }
  }

  private record(cluster: string, next: ClusterView): void {
    const previous = this.views.get(cluster);
    const awaitingList = this.awaitingList.has(cluster);
    const answering = next.ready && !awaitingList;
    const unreadySince = answering ? undefined : (previous?.unreadySince ?? next.checkedAt);
    // A status that answers says nothing of the Job list that failed: its message stays until a list succeeds.
    const message = next.message ?? (awaitingList ? previous?.message : undefined);
    const view: ClusterView = { ...next, message, unreadySince };
    this.views.set(cluster, view);
    // The first answer is always worth a line, then only changes.
    if (previous?.checkedAt === undefined || previous.ready !== view.ready) {
      const log = { cluster, region: view.region, ready: view.ready, message: view.message };
      if (view.ready) this.deps.logger.info(log, 'cluster is ready');
      else this.deps.logger.warn(log, 'cluster is not ready');
    }
    this.recordReadiness(cluster);
  }

  private recordReadiness(cluster: string): void {
    const view = this.views.get(cluster);
    if (!view) return;
    this.deps.metrics.setClusterStatus(cluster, answering(view), view.allocatable);
    this.deps.metrics.setClustersReady([...this.views.values()].filter(answering).length);
  }
}
