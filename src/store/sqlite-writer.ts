import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../domain/errors.js';

/**
 * The SQLite writer thread: commits batches of AppWrapper documents, one transaction and one fsync each,
 * so that the hub's event loop never waits on the disk.
 */
export interface QueuedWrite {
  jobId: string;
  op: 'insert' | 'update' | 'delete';
  /** The AppWrapper as JSON; empty for a delete. */
  doc: string;
}

export interface WriterData {
  file: string;
  schemaVersion: number;
  synchronous: Synchronous;
}

/**
 * SQLite's `synchronous` for the WAL: `full` fsyncs every commit (an acknowledged write survives power
 * loss); `normal` leaves the fsync to checkpoints (it survives the process being killed, not the machine
 * losing power), which lets a commit skip the disk's flush latency.
 */
export type Synchronous = 'full' | 'normal';

export type WriterMessage = { batch: number; writes: QueuedWrite[] } | 'close';

export type WriterReply = { ready: { journalMode: string; synchronous: number } } | { batch: number; error?: string } | 'closed';

if (parentPort) {
  const port = parentPort;
  const { file, schemaVersion, synchronous } = workerData as WriterData;
  const db = new Database(file, { fileMustExist: true });
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
  const insert = db.prepare<[string, number, string]>('INSERT INTO appwrappers (job_id, schema_version, doc) VALUES (?, ?, ?)');
  const update = db.prepare<[number, string, string]>('UPDATE appwrappers SET schema_version = ?, doc = ? WHERE job_id = ?');
  const remove = db.prepare<[string]>('DELETE FROM appwrappers WHERE job_id = ?');
  const commit = db.transaction((writes: readonly QueuedWrite[]) => {
    for (const write of writes) {
      if (write.op === 'insert') insert.run(write.jobId, schemaVersion, write.doc);
      else if (write.op === 'delete') remove.run(write.jobId);
      else if (update.run(schemaVersion, write.doc, write.jobId).changes !== 1) throw new Error(`AppWrapper "${write.jobId}" is missing from ${file}`);
    }
  });
  port.postMessage({
    ready: { journalMode: db.pragma('journal_mode', { simple: true }) as string, synchronous: db.pragma('synchronous', { simple: true }) as number },
  } satisfies WriterReply);
  port.on('message', (message: WriterMessage) => {
    if (message === 'close') {
      db.close();
      port.postMessage('closed' satisfies WriterReply);
      port.close();
      return;
    }
    try {
      commit(message.writes);
      port.postMessage({ batch: message.batch } satisfies WriterReply);
    } catch (error) {
      port.postMessage({ batch: message.batch, error: errorMessage(error) } satisfies WriterReply);
    }
  });
}
