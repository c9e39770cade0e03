import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../domain/errors.js';

// The SQLite writer thread: commits batches of AppWrapper documents, one transaction and one fsync each,
// so that the hub's event loop never waits on the disk.

/**
 * One batch of writes as it travels to the writer thread, packed in columns: write i is `ops[i]`
 * (`i`nsert, `u`pdate or `d`elete) of `jobIds[i]` with the i-th line of `docs`. Cloning a message costs per
 * object and per string: with an object per write (three strings each) the message took about 5.5 us of the
 * hub's main thread per submission under load, packed about 2.3 us. AppWrapper JSON never holds a raw
 * newline (JSON.stringify escapes it), so the documents travel as one string. A delete's line is empty.
 */
export interface PackedWrites {
  ops: string;
  jobIds: string[];
  docs: string;
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

export type WriterMessage = { batch: number; writes: PackedWrites } | 'close';

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
  const commit = db.transaction(({ ops, jobIds, docs }: PackedWrites) => {
    const lines = docs.split('\n');
    for (let i = 0; i < ops.length; i++) {
      const jobId = jobIds[i]!;
      const op = ops[i];
      if (op === 'i') insert.run(jobId, schemaVersion, lines[i]!);
      else if (op === 'd') remove.run(jobId);
      else if (update.run(schemaVersion, lines[i]!, jobId).changes !== 1) throw new Error(`AppWrapper "${jobId}" is missing from ${file}`);
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
