import type { AppWrapper, Phase } from '../domain/app-wrapper.js';

export interface StoreCounts {
  byPhase: Record<Phase, number>;
  /** AppWrappers with a migration of a live Job under way. */
  migrating: number;
  /** AppWrappers with a Job whose create was sent and not answered (`unconfirmedJobs`): it may or may not exist. */
  unconfirmed: number;
}

export interface AppWrapperFilter {
  phase?: Phase;
  /** Target cluster of the plan. */
  cluster?: string;
}

/** Whether an AppWrapper passes `filter` (the one rule of `Store.list`). */
export function matchesFilter(aw: AppWrapper, filter: AppWrapperFilter): boolean {
  return (!filter.phase || aw.phase === filter.phase) && (!filter.cluster || aw.targetCluster === filter.cluster);
}

/**
 * Where AppWrappers live. The contract every backend honours (test/store/store-conformance.ts):
 * - `insert` rejects an existing id with `ConflictError`;
 * - `update` applies `change` atomically to the current value: no other write to that id lands between
 *   the read and the write; `change` returning `undefined` leaves it untouched; unknown ids reject with
 *   `NotFoundError`;
 * - values handed out are immutable snapshots (frozen);
 * - `list` returns submission order;
 * - `remove` forgets AppWrappers for good (finished work past its retention), skipping unknown ids;
 * - a change has been persisted when its promise resolves.
 */
export interface Store {
  readonly name: string;
  insert(appWrapper: AppWrapper): Promise<void>;
  get(jobId: string): Promise<AppWrapper | undefined>;
  list(filter?: AppWrapperFilter): Promise<AppWrapper[]>;
  update(jobId: string, change: (current: AppWrapper) => AppWrapper | undefined): Promise<AppWrapper>;
  /**
   * Kept up to date on every write, so that a metrics scrape costs O(phases); it does not wait for writes in
   * flight, unless `onceDurable` (an API read: answered once the writes before it are on disk, as `list` is).
   */
  counts(options?: { onceDurable?: boolean }): Promise<StoreCounts>;
  /** Resolves with how many of `jobIds` were there and are now gone. */
  remove(jobIds: readonly string[]): Promise<number>;
  /** Why the store refuses every change until the hub restarts (a failed commit), or undefined while it works. */
  fault(): string | undefined;
  /** How long the oldest write not yet on disk has waited, seconds; 0 when none waits. A stalled disk shows here first. */
  oldestPendingWriteSeconds(): number;
  close(): Promise<void>;
}
