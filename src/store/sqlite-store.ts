import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Worker } from 'node:worker_threads';
import type { z } from 'zod';
import type { AppWrapper } from '../domain/app-wrapper.js';
import { errorMessage, StoreUnavailableError } from '../domain/errors.js';
import { appWrapperSchema } from './app-wrapper-schema.js';
import { workerEntry } from '../platform/worker-entry.js';
import { MemoryStore } from './memory-store.js';
import type { Synchronous, WriterData, WriterMessage, WriterReply } from './sqlite-writer.js';
import type { AppWrapperFilter, Store, StoreCounts } from './types.js';

/** File of the database inside the data directory. */
export const DB_FILE = 'caspian.db';

/**
 * File beside the database that the hub owning it holds an exclusive SQLite lock on, from before it reads
 * the database until it closes the store: a second hub on the same data directory is refused at once.
 * The lock is a POSIX lock, which the kernel releases when the process dies, so a killed hub restarts.
 * It is a file of its own so that other programs (a backup, `sqlite3` for a look) can still read the
 * database while the hub runs.
 */
export const LOCK_FILE = 'caspian.lock';

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

function issuesOf(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** What an operator watches of the store (the wiring turns it into metrics and log lines). */
export interface StoreObserver {
  /** A batch of `writes` is on disk, `seconds` after its first write. */
  batchDurable(writes: number, seconds: number): void;
  /** The store has stopped accepting anything until a restart. */
  failed(error: Error): void;
}

/** The columns of the appwrappers table that this version reads and writes. */
const APPWRAPPERS_COLUMNS = ['seq', 'job_id', 'schema_version', 'doc'] as const;

interface Row {
  job_id: string;
  schema_version: number;
  doc: string;
}

interface Batch {
  id: number;
  /** Column by column, as PackedWrites (the documents joined when the batch leaves). */
  ops: string;
  jobIds: string[];
  docs: string[];
  /** performance.now() at its first write. */
  openedAt: number;
  done: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The durable store: the working set stays in a MemoryStore (reads never touch the disk), and every write
 * is committed to SQLite before its promise resolves: with `synchronous = FULL` (the default) a resolved
 * write survives SIGKILL and power loss; with `normal`, SIGKILL only (see `Synchronous`).
 *
 * Group commit on a writer thread: a write is validated, applied to memory (so that the next atomic
 * update of the same id sees it) and added to the open batch. A batch goes to the writer thread as soon
 * as the previous one is on disk, and is committed there in one transaction with one fsync; its writes
 * resolve when the writer says so. The event loop never waits on the disk, and the busier the hub, the
 * more writes share an fsync. A read takes its value from memory at once and answers when the batches
 * before it are on disk, so no caller ever sees a value that is not on disk. A failed commit (or a writer
 * that dies) rejects the writes not yet on disk and closes the store to further use: memory would be
 * ahead of the disk, and only a restart (which reloads from the disk) makes them agree again. One hub at
 * a time owns a data directory (see LOCK_FILE).
 */
export class SqliteStore implements Store {
  readonly name = 'sqlite';
  private readonly memory: MemoryStore;
  private readonly writer: Worker;
  private readonly ready: Promise<{ journalMode: string; synchronous: number }>;
  private nextBatch = 1;
  /** Collecting writes; sent when the writer is free. */
  private open: Batch | undefined;
  /** At the writer now. */
  private inFlight: Batch | undefined;
  /** Set by a failed commit or a dead writer: the store then refuses everything. */
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly file: string,
    initial: AppWrapper[],
    synchronous: Synchronous,
    private readonly observer: StoreObserver | undefined,
    /** The connection holding LOCK_FILE; closing it lets another hub open the store. */
    private readonly lock: Database.Database,
  ) {
    this.memory = new MemoryStore({
      initial,
      writeThrough: (next, previous) => {
        this.ensureWritable();
        // Checked before writing: JSON would turn a NaN into a null that the next start would refuse.
        const checked = appWrapperSchema.safeParse(next);
        if (!checked.success) throw new Error(`AppWrapper "${next.jobId}" cannot be stored: ${issuesOf(checked.error)}`);
        this.enqueue(previous ? 'u' : 'i', next.jobId, JSON.stringify(next));
      },
      removeThrough: (removed) => {
        this.ensureWritable();
        this.enqueue('d', removed.jobId, '');
      },
    });
    this.writer = new Worker(workerEntry('sqlite-writer', import.meta.url), { workerData: { file, schemaVersion: SCHEMA_VERSION, synchronous } satisfies WriterData });
    this.ready = new Promise((resolve) => {
      this.writer.on('message', (reply: WriterReply) => {
        if (reply === 'closed') return;
        if ('ready' in reply) resolve(reply.ready);
        else this.committed(reply.batch, reply.error);
      });
    });
    this.writer.on('error', (error) => this.fail(`its writer thread failed: ${error.message}`));
    this.writer.on('exit', (code) => {
      if (!this.closing) this.fail(`its writer thread exited (code ${code})`);
    });
  }

  /** The writer connection's journal mode and `synchronous` level (2 = FULL, 1 = NORMAL), once it is open. */
  durability(): Promise<{ journalMode: string; synchronous: number }> {
    return this.ready;
  }

  private ensureWritable(): void {
    if (this.failure) throw this.failure;
    if (this.closing) throw new Error(`the store at ${this.file} is closed`);
  }

  private enqueue(op: 'i' | 'u' | 'd', jobId: string, doc: string): void {
    if (!this.open) {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // A batch that fails is reported to each of its writers; this keeps Node from calling it unhandled meanwhile.
      done.catch(() => undefined);
      this.open = { id: this.nextBatch++, ops: '', jobIds: [], docs: [], openedAt: performance.now(), done, resolve, reject };
      // Writes made in the same turn of the event loop join the batch before it leaves.
      if (!this.inFlight) setImmediate(() => this.send());
    }
    this.open.ops += op;
    this.open.jobIds.push(jobId);
    this.open.docs.push(doc);
  }

  private send(): void {
    if (this.inFlight || !this.open || this.failure) return;
    this.inFlight = this.open;
    this.open = undefined;
    const { id, ops, jobIds, docs } = this.inFlight;
    this.writer.postMessage({ batch: id, writes: { ops, jobIds, docs: docs.join('\n') } } satisfies WriterMessage);
  }

  private committed(batch: number, error: string | undefined): void {
    const done = this.inFlight;
    if (!done || done.id !== batch) return;
    if (error !== undefined) {
      // fail() rejects the batch in flight and the open one.
      this.fail(`a commit failed: ${error}`);
      return;
    }
    this.inFlight = undefined;
    this.observer?.batchDurable(done.ops.length, (performance.now() - done.openedAt) / 1000);
    done.resolve();
    this.send();
  }

  private fail(problem: string): void {
    if (this.failure) return;
    this.failure = new StoreUnavailableError(`the store at ${this.file} refuses further use until the hub restarts: ${problem}`);
    this.observer?.failed(this.failure);
    for (const batch of [this.inFlight, this.open]) batch?.reject(this.failure);
    this.inFlight = undefined;
    this.open = undefined;
  }

  /** Waits until every write made so far is on disk; throws once the store has failed. */
  private durable(): Promise<void> {
    return this.durableThen(undefined);
  }

  /**
   * `value` once the writes made so far are durable, or the store's failure: one promise, as the submission path
   * (its busiest line) needs.
   */
  private durableThen<T>(value: T): Promise<T> {
    const last = this.open ?? this.inFlight;
    if (!last) return this.failure ? Promise.reject(this.failure) : Promise.resolve(value);
    return last.done.then(() => {
      if (this.failure) throw this.failure;
      return value;
    });
  }

  /**
   * A read: `value` was taken from memory when the read was asked, and is answered once the writes made
   * before it are on disk. Reading memory only after that wait could return a later write, still in a
   * batch whose commit may fail (values are frozen snapshots, so taking them early is safe).
   */
  private async onceDurable<T>(value: Promise<T>): Promise<T> {
    await this.durable();
    return value;
  }

  /**
   * Opens (creating if absent) `caspian.db` in `dataDir` and loads every AppWrapper. Throws
   * StoreOpenError when the directory or file cannot be used, a row is not a valid AppWrapper, or the
   * file was written by a newer version; the file is then left exactly as it was.
   */
  static open(dataDir: string, options: { synchronous?: Synchronous; observer?: StoreObserver } = {}): SqliteStore {
    const file = join(dataDir, DB_FILE);
    try {
      mkdirSync(dataDir, { recursive: true });
    } catch (error) {
      throw new StoreOpenError(file, `cannot create the data directory: ${errorMessage(error)}`, { cause: error });
    }
    // Taken before the first read: between two hubs starting together, exactly one gets this far.
    const lock = SqliteStore.lock(file, join(dataDir, LOCK_FILE));
    let initial: AppWrapper[];
    try {
      initial = SqliteStore.loadFile(file);
    } catch (error) {
      lock.close();
      throw error;
    }
    return new SqliteStore(file, initial, options.synchronous ?? 'full', options.observer, lock);
  }

  /** Holds an exclusive lock on `lockFile` until the returned connection closes; refuses at once if another holds it. */
  private static lock(file: string, lockFile: string): Database.Database {
    let lock: Database.Database | undefined;
    try {
      // No busy timeout: a lock that is held stays held, and waiting would only delay the refusal.
      lock = new Database(lockFile, { timeout: 0 });
      // Exclusive locking mode keeps the lock the first write takes until the connection closes.
      lock.pragma('locking_mode = EXCLUSIVE');
      // The lock file holds no data: no journal file beside it.
      lock.pragma('journal_mode = MEMORY');
      lock.exec('BEGIN EXCLUSIVE; COMMIT');
      return lock;
    } catch (error) {
      lock?.close();
      const busy = error instanceof Database.SqliteError && error.code === 'SQLITE_BUSY';
      if (busy) {
        throw new StoreOpenError(file, `another process holds it (it has the lock on ${lockFile}): is a second hub running on this data directory? Stop it, or give this one another data directory`, { cause: error });
      }
      throw new StoreOpenError(file, `cannot take the lock on ${lockFile}: ${errorMessage(error)}`, { cause: error });
    }
  }

  /** Checks and loads the database with a connection of its own, closed after: from then on only the writer thread touches the file. */
  private static loadFile(file: string): AppWrapper[] {
    let db: Database.Database;
    try {
      db = new Database(file, { fileMustExist: false });
    } catch (error) {
      throw new StoreOpenError(file, errorMessage(error), { cause: error });
    }
    try {
      return SqliteStore.load(db, file);
    } catch (error) {
      throw error instanceof StoreOpenError ? error : new StoreOpenError(file, errorMessage(error), { cause: error });
    } finally {
      db.close();
    }
  }

  /** Checks the file and reads every row; nothing is written to a file that is not a CASPIAN database. */
  private static load(db: Database.Database, file: string): AppWrapper[] {
    // Read first: a file that is not a database fails here, before anything could be written to it.
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new StoreOpenError(file, `schema version ${version} was written by a newer CASPIAN (this one reads up to ${SCHEMA_VERSION})`);
    }
    SqliteStore.checkIsCaspianDatabase(db, file, version);
    // The rows below are read through the table's own pages only: a damaged index or free page would let the hub
    // start and then fail its first write. The whole file is checked first (37 ms at 100,000 AppWrappers, whose
    // reading takes 240 ms), so that a damaged file stops start-up, as the hub promises.
    const problems = (db.pragma('quick_check(5)') as { quick_check: string }[]).map((row) => row.quick_check.replace(/\s*\n\s*/g, ' '));
    if (problems.length !== 1 || problems[0] !== 'ok') {
      throw new StoreOpenError(file, `the file is damaged (SQLite quick_check: ${problems.join('; ')}); restore it from a backup or move it away`);
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
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

  /**
   * Reads only: a file without a schema version must be empty (a new store), and one with it must hold the
   * appwrappers table as CASPIAN writes it. Another program's database can carry a user_version of 1 too,
   * and even switching it to WAL would already rewrite its header.
   */
  private static checkIsCaspianDatabase(db: Database.Database, file: string, version: number): void {
    if (version === 0) {
      if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table'").get()) {
        throw new StoreOpenError(file, 'not a CASPIAN database: it holds tables but no CASPIAN schema version');
      }
      return;
    }
    const columns = new Set((db.pragma('table_info(appwrappers)') as { name: string }[]).map((c) => c.name));
    const missing = APPWRAPPERS_COLUMNS.filter((c) => !columns.has(c));
    if (missing.length > 0) {
      const what = columns.size === 0 ? 'it has no appwrappers table' : `its appwrappers table lacks ${missing.join(', ')}`;
      throw new StoreOpenError(file, `not a CASPIAN database: ${what} (schema version ${version})`);
    }
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
      throw problem(`not valid JSON (${errorMessage(error)})`);
    }
    const parsed = appWrapperSchema.safeParse(doc);
    if (!parsed.success) {
      throw problem(`not a valid AppWrapper: ${issuesOf(parsed.error)}`);
    }
    if (parsed.data.jobId !== row.job_id) throw problem(`its document names job id "${parsed.data.jobId}"`);
    return parsed.data;
  }

  /**
   * A write: answered once it is on disk. A refusal (a conflict, an unknown id, the change's own error) read
   * state a batch may still be writing, so it waits too: a failed batch answers with the store's failure instead,
   * and a client is never told "already exists" or "already Cancelled" of a change that never reaches the disk.
   */
  private written<T>(write: () => T): Promise<T> {
    let result: T;
    try {
      result = write();
    } catch (refusal) {
      return this.durable().then(() => Promise.reject(refusal as Error));
    }
    return this.durableThen(result);
  }

  insert(appWrapper: AppWrapper): Promise<void> {
    return this.written(() => this.memory.insertNow(appWrapper));
  }

  get(jobId: string): Promise<AppWrapper | undefined> {
    return this.onceDurable(this.memory.get(jobId));
  }

  list(filter?: AppWrapperFilter): Promise<AppWrapper[]> {
    return this.onceDurable(this.memory.list(filter));
  }

  update(jobId: string, change: (current: AppWrapper) => AppWrapper | undefined): Promise<AppWrapper> {
    return this.written(() => this.memory.updateNow(jobId, change));
  }

  remove(jobIds: readonly string[]): Promise<number> {
    return this.written(() => this.memory.removeNow(jobIds));
  }

  /**
   * At once, not once durable: a metrics scrape must not wait for a stalled disk (the store's own metrics are
   * what shows it). The counts may include a batch still on its way to the disk; a failed store refuses.
   * `onceDurable` (an API read) waits for the batches before it, as `list` does.
   */
  counts(options?: { onceDurable?: boolean }): Promise<StoreCounts> {
    if (options?.onceDurable) return this.onceDurable(this.memory.counts());
    return this.failure ? Promise.reject(this.failure) : this.memory.counts();
  }

  fault(): string | undefined {
    return this.failure?.message;
  }

  oldestPendingWriteSeconds(): number {
    // The batch in flight opened before the open one (a failed store has neither).
    const oldest = this.inFlight ?? this.open;
    return oldest ? (performance.now() - oldest.openedAt) / 1000 : 0;
  }

  /** Waits for the writes made so far to reach the disk, then stops the writer thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.durable().catch(() => undefined);
      if (this.failure) {
        await this.writer.terminate();
      } else {
        const closed = new Promise<void>((resolve) => this.writer.once('exit', () => resolve()));
        this.writer.postMessage('close' satisfies WriterMessage);
        await closed;
      }
      // Only once the writer has let go of the database may another hub take it.
      this.lock.close();
    })();
    return this.closing;
  }
}
