import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { appWrapper } from '../support/app-wrapper-builder.js';

/** Rows on disk, read through a connection of its own. */
function rowsOnDisk(store: SqliteStore): string[] {
  const reader = new Database(store.file, { readonly: true });
  try {
    return (reader.prepare('SELECT job_id FROM appwrappers ORDER BY seq').all() as { job_id: string }[]).map((r) => r.job_id);
  } finally {
    reader.close();
  }
}

describe('SQLite group commit', () => {
  let store: SqliteStore;
  const open = () => (store = SqliteStore.open(mkdtempSync(join(tmpdir(), 'caspian-group-'))));
  afterEach(() => store.close());

  it('commits concurrent writes together, each resolving only once it is on disk', async () => {
    open();
    const ids = Array.from({ length: 50 }, (_, i) => `job-${i}`);
    const writes = ids.map((id) => store.insert(appWrapper(id).obj()));
    // Nothing is committed until the batch runs at the next turn of the event loop.
    expect(rowsOnDisk(store)).toEqual([]);
    await Promise.all(writes);
    expect(rowsOnDisk(store)).toEqual(ids);
  });

  it('reports each batch on disk (its size and wait) and a failure to its observer', async () => {
    const batches: { writes: number; seconds: number }[] = [];
    const failures: Error[] = [];
    store = SqliteStore.open(mkdtempSync(join(tmpdir(), 'caspian-group-')), {
      observer: { batchDurable: (writes, seconds) => batches.push({ writes, seconds }), failed: (error) => failures.push(error) },
    });
    await Promise.all(['a', 'b', 'c'].map((id) => store.insert(appWrapper(id).obj())));
    await store.insert(appWrapper('d').obj());
    expect(batches.map((b) => b.writes)).toEqual([3, 1]);
    expect(batches.every((b) => b.seconds >= 0 && b.seconds < 60)).toBe(true);
    expect(failures).toEqual([]);
    const vandal = new Database(store.file);
    vandal.exec('DROP TABLE appwrappers');
    vandal.close();
    await expect(store.insert(appWrapper('e').obj())).rejects.toThrow(/refuses further use/);
    expect(failures.map((f) => f.message)).toEqual([expect.stringMatching(/a commit failed: no such table/)]);
    expect(batches).toHaveLength(2);
  });

  it('chains atomic updates of one id inside a batch, and stores the last', async () => {
    open();
    await store.insert(appWrapper('a').obj());
    const bumps = Array.from({ length: 5 }, () => store.update('a', (cur) => ({ ...cur, spec: { ...cur.spec, cpu: cur.spec.cpu + 1 } })));
    const results = await Promise.all(bumps);
    expect(results.map((r) => r.spec.cpu)).toEqual([2, 3, 4, 5, 6]);
    await store.close();
    const reopened = SqliteStore.open(join(store.file, '..'));
    try {
      expect((await reopened.get('a'))?.spec.cpu).toBe(6);
    } finally {
      await reopened.close();
    }
  });

  it('removes rows from the disk too, so a reopened store no longer has them', async () => {
    open();
    for (const id of ['a', 'b', 'c']) await store.insert(appWrapper(id).obj());
    expect(await store.remove(['a', 'c'])).toBe(2);
    expect(rowsOnDisk(store)).toEqual(['b']);
    await store.close();
    const reopened = SqliteStore.open(join(store.file, '..'));
    try {
      expect((await reopened.list()).map((aw) => aw.jobId)).toEqual(['b']);
    } finally {
      await reopened.close();
    }
  });

  it('lets no read see a write before it is on disk', async () => {
    open();
    const write = store.insert(appWrapper('a').obj());
    const read = store.get('a');
    expect(rowsOnDisk(store)).toEqual([]);
    expect(await read).toMatchObject({ jobId: 'a' });
    expect(rowsOnDisk(store)).toEqual(['a']);
    await write;
  });

  it('answers a read with what was on disk when it was asked, never with a later write whose commit may still fail', async () => {
    open();
    await store.insert(appWrapper('j').obj());
    // A row the next batch will collide with: a stand-in for a commit that fails (disk full, I/O error).
    const other = new Database(store.file);
    other.prepare('INSERT INTO appwrappers (job_id, schema_version, doc) VALUES (?, 1, ?)').run('k', JSON.stringify(appWrapper('k').obj()));
    other.close();
    const v1 = store.update('j', (current) => ({ ...current, reason: 'v1' }));
    await new Promise((resolve) => setImmediate(resolve)); // v1's batch is at the writer
    const read = store.get('j').then((aw) => aw?.reason, () => 'refused');
    const v2 = store.update('j', (current) => ({ ...current, reason: 'v2' })).catch(() => 'rejected');
    const collision = store.insert(appWrapper('k').obj()).catch(() => 'rejected');
    expect(await v1).toMatchObject({ reason: 'v1' });
    expect(await read).toMatch(/^(v1|refused)$/);
    expect(await v2).toBe('rejected');
    expect(await collision).toBe('rejected');
    await store.close();
    store = SqliteStore.open(join(store.file, '..'));
    expect((await store.get('j'))?.reason).toBe('v1');
  });

  it('rejects the whole batch when its commit fails, then refuses further use', async () => {
    open();
    await store.insert(appWrapper('kept').obj());
    // Another program breaks the database under the hub.
    const vandal = new Database(store.file);
    vandal.exec('DROP TABLE appwrappers');
    vandal.close();
    const batch = [store.insert(appWrapper('a').obj()), store.insert(appWrapper('b').obj())];
    for (const write of batch) await expect(write).rejects.toThrow(/refuses further use until the hub restarts: a commit failed: no such table/);
    await expect(store.insert(appWrapper('c').obj())).rejects.toThrow(/refuses further use/);
    await expect(store.list()).rejects.toThrow(/refuses further use/);
    expect(store.fault()).toMatch(/refuses further use until the hub restarts: a commit failed: no such table/);
  });
});
