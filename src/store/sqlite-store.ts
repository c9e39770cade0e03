import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
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

interface QueuedWrite {
  jobId: string;
  doc: string;
  isNew: boolean;
}

/**
 * The durable store: the working set stays in a MemoryStore (reads never touch the disk), and every write
 * is committed to SQLite with `synchronous = FULL` before its promise resolves, so a resolved write
 * survives SIGKILL and power loss.
 *
 * Group commit: a write is validated, applied to memory (so that the next atomic update of the same id
 * sees it) and queued; at the next turn of the event loop every queued write is committed in one
 * transaction with one fsync, and then their promises resolve. One fsync per request would cap
 * submissions at a few thousand a second; one per batch serves every connection that wrote meanwhile.
 * Reads wait for a batch in flight, so no caller ever sees a value that is not on disk. A failed commit
 * rejects its batch and closes the store to further use: memory would be ahead of the disk, and only a
 * restart (which reloads from the disk) makes them agree again.
 */
export class SqliteStore implements Store {
  readonly name = 'sqlite';
  private readonly memory: MemoryStore;
  private readonly commitBatch: (writes: readonly QueuedWrite[]) => void;
  private queue: QueuedWrite[] = [];
  /** Resolves when the queued writes are on disk; undefined while nothing is queued. */
  private committing: Promise<void> | undefined;
  /** Set by a failed commit: the store then refuses everything. */
  private failure: Error | undefined;

  private constructor(
    private readonly db: Database.Database,
    initial: AppWrapper[],
  ) {
    const insert = db.prepare<[string, number, string]>('INSERT INTO appwrappers (job_id, schema_version, doc) VALUES (?, ?, ?)');
    const update = db.prepare<[number, string, string]>('UPDATE appwrappers SET schema_version = ?, doc = ? WHERE job_id = ?');
    this.commitBatch = db.transaction((writes: readonly QueuedWrite[]) => {
      for (const write of writes) {
        if (write.isNew) insert.run(write.jobId, SCHEMA_VERSION, write.doc);
        else if (update.run(SCHEMA_VERSION, write.doc, write.jobId).changes !== 1) throw new Error(`AppWrapper "${write.jobId}" is missing from ${db.name}`);
      }
    });
    this.memory = new MemoryStore({
      initial,
      writeThrough: (next, previous) => {
        if (this.failure) throw this.failure;
        // Checked before writing: JSON would turn a NaN into a null that the next start would refuse.
        const checked = appWrapperSchema.safeParse(next);
        if (!checked.success) throw new Error(`AppWrapper "${next.jobId}" cannot be stored: ${issuesOf(checked.error)}`);
        this.enqueue({ jobId: next.jobId, doc: JSON.stringify(next), isNew: !previous });
      },
    });
  }

  private enqueue(write: QueuedWrite): void {
    this.queue.push(write);
    this.committing ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        const batch = this.queue;
        this.queue = [];
        this.committing = undefined;
        try {
          this.commitBatch(batch);
          resolve();
        } catch (error) {
          this.failure = new Error(`the store at ${this.db.name} failed to commit and refuses further use until the hub restarts: ${messageOf(error)}`, { cause: error });
          reject(this.failure);
        }
      });
    });
  }

  /** Waits until every write queued so far is on disk; throws once a commit has failed. */
  private async durable(): Promise<void> {
    if (this.committing) await this.committing;
    if (this.failure) throw this.failure;
  }

  /**
   * Opens (creating if absent) `caspian.db` in `dataDir` and loads every AppWrapper. Throws
   * StoreOpenError when the directory or file cannot be used, a row is not a valid AppWrapper, or the
   * file was written by a newer version; the file is then left exactly as it was.
   */
  static open(dataDir: string): SqliteStore {
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
      return new SqliteStore(db, SqliteStore.load(db, file));
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

  /** Path of the database file. */
  get file(): string {
    return this.db.name;
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

  async counts(): Promise<StoreCounts> {
    await this.durable();
    return this.memory.counts();
  }

  async close(): Promise<void> {
    await this.durable().catch(() => undefined);
    if (this.db.open) this.db.close();
  }
}
