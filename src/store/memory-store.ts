import { PHASES, type AppWrapper, type Phase } from '../domain/app-wrapper.js';
import { ConflictError, NotFoundError } from '../domain/errors.js';
import { deepFreeze, frozenCopy } from '../domain/frozen.js';
import { matchesFilter, type AppWrapperFilter, type Store, type StoreCounts } from './types.js';

export interface MemoryStoreOptions {
  /** Values the store starts with, in submission order (a durable store's contents on open). */
  initial?: Iterable<AppWrapper>;
  /**
   * Called with each new value after the checks and before it lands in memory; what it throws rejects
   * the write and leaves the store as it was. A durable store persists here, so that memory never holds
   * a value the disk does not.
   */
  writeThrough?: (next: AppWrapper, previous: AppWrapper | undefined) => void;
  /** Like `writeThrough`, for a value about to be removed. */
  removeThrough?: (removed: AppWrapper) => void;
}

/** 1 when `aw` has a Job whose create was never answered, else 0 (a count's step). */
const unconfirmed = (aw: AppWrapper): number => ((aw.unconfirmedJobs?.length ?? 0) > 0 ? 1 : 0);

/** The working set in memory. */
export class MemoryStore implements Store {
  readonly name = 'memory';
  private readonly byId = new Map<string, AppWrapper>();
  private readonly byPhase = Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
  private migrating = 0;
  private unconfirmed = 0;
  private readonly writeThrough: MemoryStoreOptions['writeThrough'];
  private readonly removeThrough: MemoryStoreOptions['removeThrough'];

  constructor(options: MemoryStoreOptions = {}) {
    this.writeThrough = options.writeThrough;
    this.removeThrough = options.removeThrough;
    for (const appWrapper of options.initial ?? []) this.put(deepFreeze(appWrapper));
  }

  async insert(appWrapper: AppWrapper): Promise<void> {
    this.insertNow(appWrapper);
  }

  async update(jobId: string, change: (current: AppWrapper) => AppWrapper | undefined): Promise<AppWrapper> {
    return this.updateNow(jobId, change);
  }

  async remove(jobIds: readonly string[]): Promise<number> {
    return this.removeNow(jobIds);
  }

  // The writes themselves, done before they return: a durable store built on this one answers them when its disk has them.

  insertNow(appWrapper: AppWrapper): void {
    if (this.byId.has(appWrapper.jobId)) throw new ConflictError(`AppWrapper "${appWrapper.jobId}" already exists`);
    const copy = frozenCopy(appWrapper);
    this.writeThrough?.(copy, undefined);
    this.put(copy);
  }

  /** Keeps a deeply frozen value (nested objects included: placement, stale Job refs, metadata...). */
  private put(appWrapper: AppWrapper): void {
    this.byId.set(appWrapper.jobId, appWrapper);
    this.byPhase[appWrapper.phase]++;
    if (appWrapper.migrating) this.migrating++;
    this.unconfirmed += unconfirmed(appWrapper);
  }

  async get(jobId: string): Promise<AppWrapper | undefined> {
    return this.byId.get(jobId);
  }

  async list(filter: AppWrapperFilter = {}): Promise<AppWrapper[]> {
    const out: AppWrapper[] = [];
    for (const aw of this.byId.values()) if (matchesFilter(aw, filter)) out.push(aw);
    return out;
  }

  updateNow(jobId: string, change: (current: AppWrapper) => AppWrapper | undefined): AppWrapper {
    const current = this.byId.get(jobId);
    if (!current) throw new NotFoundError(`AppWrapper "${jobId}" not found`);
    const next = change(current);
    if (!next || next === current) return current;
    if (next.jobId !== jobId) throw new Error(`update of "${jobId}" may not change its id`);
    this.writeThrough?.(next, current);
    this.byId.set(jobId, deepFreeze(next));
    this.byPhase[current.phase]--;
    this.byPhase[next.phase]++;
    this.migrating += Number(next.migrating) - Number(current.migrating);
    this.unconfirmed += unconfirmed(next) - unconfirmed(current);
    return next;
  }

  removeNow(jobIds: readonly string[]): number {
    let removed = 0;
    for (const jobId of jobIds) {
      const current = this.byId.get(jobId);
      if (!current) continue;
      this.removeThrough?.(current);
      this.byId.delete(jobId);
      this.byPhase[current.phase]--;
      if (current.migrating) this.migrating--;
      this.unconfirmed -= unconfirmed(current);
      removed++;
    }
    return removed;
  }

  async counts(): Promise<StoreCounts> {
    return { byPhase: { ...this.byPhase }, migrating: this.migrating, unconfirmed: this.unconfirmed };
  }

  /** Memory cannot fail to take a write. */
  fault(): undefined {
    return undefined;
  }

  /** A write is in memory once made: none ever waits. */
  oldestPendingWriteSeconds(): number {
    return 0;
  }

  async close(): Promise<void> {}
}
