import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { DB_FILE } from '../../src/store/sqlite-store.js';
import type { TestHub } from './hub.js';

// A disk that fails or stalls, for the SQLite store of a test hub.

/** Runs `sql` on the hub's database file through a connection of its own (a stand-in for a failing disk). */
export function onDatabase(dir: string, sql: string): void {
  const db = new Database(join(dir, DB_FILE));
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

/** Holds every batch the store sends to its writer thread until `release()`: a disk slow for a moment. */
export function holdWriter(t: TestHub): { held: Promise<void>; release: () => void } {
  const writer = (t.hub.lifecycle.store as unknown as { writer: Worker }).writer;
  const post = writer.postMessage.bind(writer);
  const queue: unknown[] = [];
  let heldNow: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (heldNow = resolve));
  writer.postMessage = (message: unknown) => {
    if (message === 'close') return post(message);
    queue.push(message);
    heldNow();
  };
  return {
    held,
    release: () => {
      writer.postMessage = post;
      for (const message of queue.splice(0)) post(message);
    },
  };
}
