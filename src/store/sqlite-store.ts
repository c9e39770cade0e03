import { closeSync, fdatasync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import type { z } from 'zod';
import type { AppWrapper } from '../domain/app-wrapper.js';
import { appWrapperSchema } from './app-wrapper-schema.js';
import { MemoryStore } from './memory-store.js';
import type { AppWrapperFilter, Store, StoreCounts } from './types.js';

/** File of the database inside the data directory. */
export const DB_FILE = 'caspian.db';

/**
 * Version of the table layout (`PRAGMA user_version`) and of the documents in it. A file or a row of a
 * newer version was written by a newer CASPIAN: refused, since this one cannot know what it would lose.
 */
export const SCHEMA_VERSION = 1;

/** The data file cannot be used: the hub must not start on it, and nothing replaces it. */
export class StoreOpenError extends Error {
  constructor(
    readonly file: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot open the store ${file}: ${problem}`, options);
    this.name = 'StoreOpenError';
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function issuesOf(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

interface Row {
  job_id: string;
  schema_version: number;
  doc: string;
}

/** SQLite's write-ahead log beside the database file: what a commit appends to, and what `full` syncs. */
const WAL_SUFFIX = '-wal';

/**
 * How acknowledged writes are made durable:
 * - `full` (the default): a write resolves once its commit is in the write-ahead log on disk (fdatasync):
 *   it survives SIGKILL and power loss;
 * - `normal`: a write resolves once committed to the log in the OS's cache: it survives the process being
 *   killed, not the machine losing power, and skips the disk's flush latency.
 */
export type Synchronous = 'full' | 'normal';

export interface SqliteStoreOptions {
  synchronous?: Synchronous;
  /** Flushes a file to disk. Default: fdatasync on the libuv thread pool; tests put their own in. */
  sync?: (fd: number) => Promise<void>;
  observer?: StoreObserver;
}

/** What an operator watches of the store (the wiring turns it into metrics and log lines). */
export interface StoreObserver {
  /** A batch of `writes` is durable, `seconds` after its first write. */
  batchDurable(writes: number, seconds: number): void;
  /** The store has stopped accepting anything until a restart. */
  failed(error: Error): void;
}

const fdatasyncAsync = promisify(fdatasync);

interface Batch {
  writes: QueuedWrite[];
  /** performance.now() at its first write. */
  openedAt: number;
  done: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface QueuedWrite {
  jobId: string;
  op: 'insert' | 'update' | 'delete';
  /** The AppWrapper as JSON; empty for a delete. */
  doc: string;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A batch that fails is reported to each of its writers; this keeps Node from calling it unhandled meanwhile.
  done.catch(() => undefined);
  return { writes: [], openedAt: performance.now(), done, resolve, reject };
}

/**
 * The durable store: the working set stays in a MemoryStore (reads never touch the disk), and every write
 * is durable (see `Synchronous`) before its promise resolves.
 *
 * Group commit: a write is validated, applied to memory (so that the next atomic update of the same id
 * sees it) and added to the open batch. The batch is committed in one transaction at the next turn of the
 * event loop; with `synchronous = NORMAL` on the connection that only appends to the write-ahead log in the
 * OS's cache (microseconds), so the event loop never waits on the disk. For `full`, the log is then flushed
 * by an fdatasync on the libuv thread pool, and the batch resolves when the flush ends. Writes made while a
 * flush runs could not be durable before the next one anyway, so they all join one batch, committed and
 * flushed as soon as the running flush ends: the busier the hub, the more writes share a transaction and
 * a flush. (SQLite's own `synchronous = FULL` flushes inside the commit, which would block the event loop
 * or need a thread of its own and a message hop per batch: measured slower on two cores.)
 * Reads wait for the writes before them, so no caller ever sees a value that is not durable. A failed
 * commit or flush rejects the writes not yet durable and closes the store to further use: memory would be
 * ahead of the disk, and only a restart (which reloads from the disk) makes them agree again.
 */
export class SqliteStore implements Store {
  readonly name = 'sqlite';
  private readonly memory: MemoryStore;
  private readonly commit: (writes: readonly QueuedWrite[]) => void;
  private readonly walFd: number;
  /** Collecting writes; committed at the next turn of the event loop, or when the running flush ends. */
  private open: Batch | undefined;
  /** Committed, its flush under way (full only). */
  private flushing: Batch | undefined;
  /** Set by a failed commit or flush: the store then refuses everything. */
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly file: string,
    private readonly db: Database.Database,
    initial: AppWrapper[],
    readonly synchronous: Synchronous,
    private readonly sync: (fd: number) => Promise<void>,
    private readonly observer: StoreObserver | undefined,
  ) {
    this.memory = new MemoryStore({
      initial,
      writeThrough: (next, previous) => {
        this.ensureWritable();
        // Checked before writing: JSON would turn a NaN into a null that the next start would refuse.
        const checked = appWrapperSchema.safeParse(next);
        if (!checked.success) throw new Error(`AppWrapper "${next.jobId}" cannot be stored: ${issuesOf(checked.error)}`);
        this.enqueue({ jobId: next.jobId, op: previous ? 'update' : 'insert', doc: JSON.stringify(next) });
      },
      removeThrough: (removed) => {
        this.ensureWritable();
        this.enqueue({ jobId: removed.jobId, op: 'delete', doc: '' });
      },
    });
    const insert = db.prepare<[string, number, string]>('INSERT INTO appwrappers (job_id, schema_version, doc) VALUES (?, ?, ?)');
    const update = db.prepare<[number, string, string]>('UPDATE appwrappers SET schema_version = ?, doc = ? WHERE job_id = ?');
    const remove = db.prepare<[string]>('DELETE FROM appwrappers WHERE job_id = ?');
    this.commit = db.transaction((writes: readonly QueuedWrite[]) => {
      for (const write of writes) {
        if (write.op === 'insert') insert.run(write.jobId, SCHEMA_VERSION, write.doc);
        else if (write.op === 'delete') remove.run(write.jobId);
        else if (update.run(SCHEMA_VERSION, write.doc, write.jobId).changes !== 1) throw new Error(`AppWrapper "${write.jobId}" is missing from ${file}`);
      }
    });
    // The log exists once the connection has read the database in WAL mode (load() did).
    this.walFd = openSync(`${file}${WAL_SUFFIX}`, 'r');
  }

  private ensureWritable(): void {
    if (this.failure) throw this.failure;
    if (this.closing) throw new Error(`the store at ${this.file} is closed`);
  }

  private enqueue(write: QueuedWrite): void {
    if (!this.open) {
      this.open = newBatch();
      // Writes made in the same turn of the event loop join the batch; during a flush, every write until
      // it ends does.
      if (!this.flushing) setImmediate(() => this.commitOpen());
    }
    this.open.writes.push(write);
  }

  private commitOpen(): void {
    const batch = this.open;
    if (!batch || this.flushing || this.failure) return;
    this.open = undefined;
    try {
      this.commit(batch.writes);
    } catch (error) {
      batch.reject(this.fail(`a commit failed: ${messageOf(error)}`));
      return;
    }
    if (this.synchronous === 'normal') {
      this.durableNow(batch);
      return;
    }
    this.flushing = batch;
    this.sync(this.walFd).then(
      () => {
        this.flushing = undefined;
        this.durableNow(batch);
        this.commitOpen();
      },
      (error: unknown) => {
        this.flushing = undefined;
        batch.reject(this.fail(`flushing the write-ahead log failed: ${messageOf(error)}`));
      },
    );
  }

  private durableNow(batch: Batch): void {
    this.observer?.batchDurable(batch.writes.length, (performance.now() - batch.openedAt) / 1000);
    batch.resolve();
  }

  private fail(problem: string): Error {
    if (!this.failure) {
      this.failure = new Error(`the store at ${this.file} refuses further use until the hub restarts: ${problem}`);
      this.observer?.failed(this.failure);
      this.open?.reject(this.failure);
      this.open = undefined;
    }
    return this.failure;
  }

  /** Waits until every write made so far is durable; throws once the store has failed. */
  private async durable(): Promise<void> {
    // A later batch resolves only after the earlier ones.
    const last = this.open ?? this.flushing;
    if (last) await last.done;
    if (this.failure) throw this.failure;
  }

  /**
   * Opens (creating if absent) `caspian.db` in `dataDir` and loads every AppWrapper. Throws
   * StoreOpenError when the directory or file cannot be used, a row is not a valid AppWrapper, or the
   * file was written by a newer version; the file is then left exactly as it was.
   */
  static open(dataDir: string, options: SqliteStoreOptions = {}): SqliteStore {
    const file = join(dataDir, DB_FILE);
    try {
      mkdirSync(dataDir, { recursive: true });
    } catch (error) {
      throw new StoreOpenError(file, `cannot create the data directory: ${messageOf(error)}`, { cause: error });
    }
    let db: Database.Database;
    try {
      db = new Database(file, { fileMustExist: false });
    } catch (error) {
      throw new StoreOpenError(file, messageOf(error), { cause: error });
    }
    try {
      const initial = SqliteStore.load(db, file);
      // The database and its log may just have been created: their directory entries go to disk too.
      const dir = openSync(dataDir, 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
      return new SqliteStore(file, db, initial, options.synchronous ?? 'full', options.sync ?? fdatasyncAsync, options.observer);
    } catch (error) {
      db.close();
      throw error instanceof StoreOpenError ? error : new StoreOpenError(file, messageOf(error), { cause: error });
    }
  }

  /** Checks the file and reads every row; nothing is written to a file that is not a CASPIAN database. */
  private static load(db: Database.Database, file: string): AppWrapper[] {
    // Read first: a file that is not a database fails here, before anything could be written to it.
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new StoreOpenError(file, `schema version ${version} was written by a newer CASPIAN (this one reads up to ${SCHEMA_VERSION})`);
    }
    if (version === 0 && db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table'").get()) {
      throw new StoreOpenError(file, 'not a CASPIAN database: it holds tables but no CASPIAN schema version');
    }
    db.pragma('journal_mode = WAL');
    // Durability comes from the store's own flush of the log (see the class comment); NORMAL still has
    // SQLite flush the log before each checkpoint copies it into the database.
    db.pragma('synchronous = NORMAL');
    if (version === 0) {
      db.transaction(() => {
        db.exec(`CREATE TABLE IF NOT EXISTS appwrappers (
          seq INTEGER PRIMARY KEY,
          job_id TEXT NOT NULL UNIQUE,
          schema_version INTEGER NOT NULL,
          doc TEXT NOT NULL
        ) STRICT`);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })();
    }
    const rows = db.prepare('SELECT job_id, schema_version, doc FROM appwrappers ORDER BY seq').all() as Row[];
    return rows.map((row) => SqliteStore.parseRow(row, file));
  }

  private static parseRow(row: Row, file: string): AppWrapper {
    const problem = (what: string) => new StoreOpenError(file, `AppWrapper "${row.job_id}": ${what}`);
    if (row.schema_version > SCHEMA_VERSION) {
      throw problem(`schema version ${row.schema_version} was written by a newer CASPIAN (this one reads up to ${SCHEMA_VERSION})`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(row.doc);
    } catch (error) {
      throw problem(`not valid JSON (${messageOf(error)})`);
    }
    const parsed = appWrapperSchema.safeParse(doc);
    if (!parsed.success) {
      throw problem(`not a valid AppWrapper: ${issuesOf(parsed.error)}`);
    }
    if (parsed.data.jobId !== row.job_id) throw problem(`its document names job id "${parsed.data.jobId}"`);
    return parsed.data;
  }

  async insert(appWrapper: AppWrapper): Promise<void> {
    await this.memory.insert(appWrapper);
    await this.durable();
  }

  async get(jobId: string): Promise<AppWrapper | undefined> {
    await this.durable();
    return this.memory.get(jobId);
  }

  async list(filter?: AppWrapperFilter): Promise<AppWrapper[]> {
    await this.durable();
    return this.memory.list(filter);
  }

  async update(jobId: string, change: (current: AppWrapper) => AppWrapper | undefined): Promise<AppWrapper> {
    const stored = await this.memory.update(jobId, change);
    await this.durable();
    return stored;
  }

  async remove(jobIds: readonly string[]): Promise<number> {
    const removed = await this.memory.remove(jobIds);
    await this.durable();
    return removed;
  }

  async counts(): Promise<StoreCounts> {
    await this.durable();
    return this.memory.counts();
  }

  /** Waits for the writes made so far to be durable, then closes the database. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.durable().catch(() => undefined);
      closeSync(this.walFd);
      this.db.close();
    })();
    return this.closing;
  }
}
