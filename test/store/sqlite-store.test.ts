import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { requeuedOffLostCluster, type AppWrapper } from '../../src/domain/app-wrapper.js';
import { DB_FILE, SCHEMA_VERSION, SqliteStore, StoreOpenError } from '../../src/store/sqlite-store.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { storeConformance } from './store-conformance.js';
import { appWrapperView } from '../../src/api/views.js';
import { tempDirs } from '../support/temp-dir.js';

const tempDir = tempDirs('caspian-store-');

storeConformance('sqlite', async () => SqliteStore.open(tempDir()));

function openError(dataDir: string): StoreOpenError {
  try {
    SqliteStore.open(dataDir).close();
  } catch (error) {
    if (error instanceof StoreOpenError) return error;
    throw error;
  }
  throw new Error('expected StoreOpenError');
}

/** Writes rows behind the store's back, as a damaged or foreign file would hold them. */
function writeRaw(dataDir: string, sql: string, ...params: unknown[]): void {
  const db = new Database(join(dataDir, DB_FILE));
  db.prepare(sql).run(...params);
  db.close();
}

describe('SqliteStore', () => {
  let store: SqliteStore | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it('is named sqlite and keeps caspian.db in the data directory, creating the directory', async () => {
    const dir = join(tempDir(), 'nested', 'data');
    store = SqliteStore.open(dir);
    expect(store.name).toBe('sqlite');
    expect(store.file).toBe(join(dir, DB_FILE));
    expect(existsSync(join(dir, DB_FILE))).toBe(true);
  });

  it('opens in WAL mode with synchronous = FULL, at the current schema version', async () => {
    const dir = tempDir();
    store = SqliteStore.open(dir);
    await store.close();
    const db = new Database(join(dir, DB_FILE), { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    db.close();
    // synchronous is a per-connection setting: the writer thread's connection is the one that commits.
    store = SqliteStore.open(dir);
    expect(await store.durability()).toEqual({ journalMode: 'wal', synchronous: 2 });
  });

  it('commits with synchronous = NORMAL when asked, and still reads back every acknowledged write', async () => {
    const dir = tempDir();
    store = SqliteStore.open(dir, { synchronous: 'normal' });
    expect(await store.durability()).toEqual({ journalMode: 'wal', synchronous: 1 });
    await store.insert(appWrapper('a').obj());
    await store.close();
    store = SqliteStore.open(dir);
    expect((await store.list()).map((aw) => aw.jobId)).toEqual(['a']);
  });

  it('sees every change after reopening, in submission order, with counts rebuilt', async () => {
    const dir = tempDir();
    store = SqliteStore.open(dir);
    for (const id of ['c', 'a', 'b']) await store.insert(appWrapper(id).obj());
    await store.update('a', (cur) => ({ ...cur, phase: 'Planned', targetCluster: 'carbon-kr', plannedStartAt: cur.submittedAt }));
    await store.update('a', (cur) => ({ ...cur, phase: 'Dispatched', gateOpen: true, placement: { cluster: 'carbon-kr', jobName: 'a', generation: 1, pool: 'FAST', createdAt: cur.updatedAt } }));
    await store.update('c', (cur) => ({ ...cur, phase: 'Cancelled', reason: 'cancelled by request' }));
    const before = await store.list();
    await store.close();

    store = SqliteStore.open(dir);
    expect(await store.list()).toEqual(before);
    expect((await store.list()).map((aw) => aw.jobId)).toEqual(['c', 'a', 'b']);
    expect((await store.counts()).byPhase).toMatchObject({ Pending: 1, Dispatched: 1, Cancelled: 1 });
    await store.insert(appWrapper('d').obj());
    expect((await store.list()).map((aw) => aw.jobId)).toEqual(['c', 'a', 'b', 'd']);
  });

  it('commits the inserts, updates and deletes of one turn as one batch, text with line breaks included', async () => {
    const dir = tempDir();
    store = SqliteStore.open(dir);
    await store.insert(appWrapper('gone').obj());
    const reason = 'first line\nsecond line\r\nthird\u2028fourth';
    const oneTurn = [
      store.insert({ ...appWrapper('a').obj(), reason }),
      store.remove(['gone']),
      store.insert(appWrapper('b').obj()),
      store.update('b', (cur) => ({ ...cur, phase: 'Cancelled', reason: `${reason}\n` })),
      store.insert({ ...appWrapper('c').obj(), spec: { ...appWrapper('c').obj().spec, command: ['sh', '-c', 'echo a\necho b'] } }),
    ];
    await Promise.all(oneTurn);
    const before = await store.list();
    await store.close();

    store = SqliteStore.open(dir);
    expect(await store.list()).toEqual(before);
    expect((await store.list()).map((aw) => [aw.jobId, aw.reason])).toEqual([
      ['a', reason],
      ['b', `${reason}\n`],
      ['c', undefined],
    ]);
    expect((await store.get('c'))?.spec.command).toEqual(['sh', '-c', 'echo a\necho b']);
  });

  it('keeps the CO2 estimate a placement was created with across a reopen', async () => {
    const dir = tempDir();
    store = SqliteStore.open(dir);
    await store.insert({ ...appWrapper('a').phase('Running').target('carbon-kr').obj(), co2EstimateG: 7 });
    await store.update('a', (cur) => ({ ...cur, placement: { cluster: 'carbon-kr', jobName: 'a', generation: 1, pool: 'FAST', createdAt: cur.updatedAt, co2EstimateG: 42 } }));
    await store.close();
    store = SqliteStore.open(dir);
    expect((await store.get('a'))?.placement?.co2EstimateG).toBe(42);
  });

  it('keeps a requeued job across a reopen: Pending, its Job stale, its run on the lost cluster a lost leg', async () => {
    const dir = tempDir();
    store = SqliteStore.open(dir);
    const running = { ...appWrapper('a').phase('Running').target('carbon-kr').placement({ cluster: 'carbon-kr', jobName: 'a', generation: 1, pool: 'FAST' }).obj(), startedAt: 1_000 };
    await store.insert(running);
    const requeued = requeuedOffLostCluster(running, 5_000, 'requeued: its cluster carbon-kr has not answered for 15 min');
    await store.update('a', () => requeued);
    await store.close();
    store = SqliteStore.open(dir);
    expect(await store.get('a')).toMatchObject({
      phase: 'Pending',
      pastRuns: [{ cluster: 'carbon-kr', pool: 'FAST', startedAt: 1_000, endedAt: 5_000, lost: true }],
      staleJobs: [{ cluster: 'carbon-kr', jobName: 'a' }],
    });
  });

  it('reads documents written before urgency classes and the checkpointing flag with their defaults', async () => {
    const dir = tempDir();
    store = SqliteStore.open(dir);
    await store.close();
    const old = appWrapper('old').obj();
    const { urgency: _urgency, checkpointing: _checkpointing, ...olderSpec } = old.spec;
    writeRaw(dir, 'INSERT INTO appwrappers (job_id, schema_version, doc) VALUES (?, ?, ?)', 'old', SCHEMA_VERSION, JSON.stringify({ ...old, spec: olderSpec }));
    store = SqliteStore.open(dir);
    expect((await store.get('old'))?.spec).toEqual({ ...olderSpec, urgency: 'normal', checkpointing: true });
  });

  it('reads a carbon account written before accounts kept their legs; the API shows none', async () => {
    const dir = tempDir();
    store = SqliteStore.open(dir);
    await store.close();
    const account = { plannedG: 35, actualG: 37.5, counterfactualG: 60, savedG: 22.5, energyKwh: 0.1125, basis: 'measured' as const };
    const old = { ...appWrapper('old').phase('Succeeded').obj(), carbonAccount: account };
    writeRaw(dir, 'INSERT INTO appwrappers (job_id, schema_version, doc) VALUES (?, ?, ?)', 'old', SCHEMA_VERSION, JSON.stringify(old));
    store = SqliteStore.open(dir);
    const read = await store.get('old');
    expect(read?.carbonAccount).toEqual(account);
    expect(appWrapperView(read!).carbon).toMatchObject({ actual_g: 37.5, legs: [] });
  });

  it('has committed a write when its promise resolves: a second, read-only connection sees it', async () => {
    const dir = tempDir();
    store = SqliteStore.open(dir);
    await store.insert(appWrapper('a').obj());
    await store.update('a', (cur) => ({ ...cur, phase: 'Planned', targetCluster: 'carbon-jp' }));
    const reader = new Database(join(dir, DB_FILE), { readonly: true });
    const row = reader.prepare('SELECT doc FROM appwrappers WHERE job_id = ?').get('a') as { doc: string };
    reader.close();
    expect(JSON.parse(row.doc)).toEqual(await store.get('a'));
  });

  it('refuses a value it could not read back, leaving memory and disk as they were', async () => {
    const dir = tempDir();
    store = SqliteStore.open(dir);
    await store.insert(appWrapper('a').obj());
    await expect(store.update('a', (cur) => ({ ...cur, co2EstimateG: Number.NaN }))).rejects.toThrow(/AppWrapper "a" cannot be stored: co2EstimateG/);
    await expect(store.insert({ ...appWrapper('b').obj(), deadlineAt: Infinity })).rejects.toThrow(/cannot be stored/);
    expect(await store.get('a')).toEqual(appWrapper('a').obj());
    expect(await store.get('b')).toBeUndefined();
    await store.close();
    store = SqliteStore.open(dir);
    expect((await store.list()).map((aw) => aw.jobId)).toEqual(['a']);
  });

  it('is held by one owner at a time: a second open of the directory is refused until the first closes', async () => {
    const dir = tempDir();
    store = SqliteStore.open(dir);
    await store.insert(appWrapper('a').obj());
    const error = openError(dir);
    expect(error.file).toBe(join(dir, DB_FILE));
    expect(error.message).toContain(join(dir, DB_FILE));
    expect(error.message).toMatch(/another process holds it/);
    // The refused open changed nothing: the owner still writes.
    await store.insert(appWrapper('b').obj());
    await store.close();
    store = SqliteStore.open(dir);
    expect((await store.list()).map((aw) => aw.jobId)).toEqual(['a', 'b']);
  });

  describe('refuses to open, naming the file and the problem, and leaves the file untouched', () => {
    it('a file of garbage bytes', () => {
      const dir = tempDir();
      const file = join(dir, DB_FILE);
      const garbage = Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7919 + 13) % 256));
      writeFileSync(file, garbage);
      const error = openError(dir);
      expect(error.file).toBe(file);
      expect(error.message).toContain(file);
      expect(error.message).toMatch(/not a database/);
      expect(readFileSync(file).equals(garbage)).toBe(true);
    });

    it('a row that is not JSON, naming its job id', async () => {
      const dir = tempDir();
      await SqliteStore.open(dir).close();
      writeRaw(dir, 'INSERT INTO appwrappers (job_id, schema_version, doc) VALUES (?, ?, ?)', 'broken-1', 1, '{"jobId": "broken-1", ');
      const before = readFileSync(join(dir, DB_FILE));
      const error = openError(dir);
      expect(error.message).toMatch(/AppWrapper "broken-1": not valid JSON/);
      expect(readFileSync(join(dir, DB_FILE)).equals(before)).toBe(true);
    });

    it('a row that is JSON but not an AppWrapper, naming its job id and the field', async () => {
      const dir = tempDir();
      store = SqliteStore.open(dir);
      await store.insert(appWrapper('good').obj());
      await store.close();
      store = undefined;
      const bad: AppWrapper = { ...appWrapper('bad-2').obj(), phase: 'Exploded' as AppWrapper['phase'] };
      writeRaw(dir, 'INSERT INTO appwrappers (job_id, schema_version, doc) VALUES (?, ?, ?)', 'bad-2', 1, JSON.stringify(bad));
      const error = openError(dir);
      expect(error.message).toMatch(/AppWrapper "bad-2": not a valid AppWrapper: phase: /);
    });

    it('a row whose document names another job id', async () => {
      const dir = tempDir();
      await SqliteStore.open(dir).close();
      writeRaw(dir, 'INSERT INTO appwrappers (job_id, schema_version, doc) VALUES (?, ?, ?)', 'x', 1, JSON.stringify(appWrapper('y').obj()));
      expect(openError(dir).message).toMatch(/AppWrapper "x": its document names job id "y"/);
    });

    it('a file or a row of a newer schema version', async () => {
      const newerFile = tempDir();
      await SqliteStore.open(newerFile).close();
      writeRaw(newerFile, `PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
      expect(openError(newerFile).message).toMatch(new RegExp(`schema version ${SCHEMA_VERSION + 1} was written by a newer CASPIAN`));

      const newerRow = tempDir();
      await SqliteStore.open(newerRow).close();
      writeRaw(newerRow, 'INSERT INTO appwrappers (job_id, schema_version, doc) VALUES (?, ?, ?)', 'future', SCHEMA_VERSION + 1, '{}');
      expect(openError(newerRow).message).toMatch(/AppWrapper "future": schema version \d+ was written by a newer CASPIAN/);
    });

    it("another program's SQLite database", () => {
      const dir = tempDir();
      writeRaw(dir, 'CREATE TABLE other (x INTEGER)');
      const before = readFileSync(join(dir, DB_FILE));
      expect(openError(dir).message).toMatch(/not a CASPIAN database/);
      expect(readFileSync(join(dir, DB_FILE)).equals(before)).toBe(true);
    });

    it("another program's SQLite database that happens to carry CASPIAN's schema version", () => {
      const dir = tempDir();
      const file = join(dir, DB_FILE);
      const foreign = new Database(file);
      foreign.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('precious')");
      foreign.pragma(`user_version = ${SCHEMA_VERSION}`);
      foreign.close();
      const before = createHash('sha256').update(readFileSync(file)).digest('hex');
      expect(openError(dir).message).toMatch(/not a CASPIAN database/);
      expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(before);
      expect(existsSync(`${file}-wal`)).toBe(false);
    });

    it('a table named appwrappers without the columns CASPIAN writes', () => {
      const dir = tempDir();
      writeRaw(dir, 'CREATE TABLE appwrappers (name TEXT)');
      writeRaw(dir, `PRAGMA user_version = ${SCHEMA_VERSION}`);
      const before = readFileSync(join(dir, DB_FILE));
      expect(openError(dir).message).toMatch(/not a CASPIAN database/);
      expect(readFileSync(join(dir, DB_FILE)).equals(before)).toBe(true);
    });

    it('a data directory it cannot create', () => {
      const notADir = join(tempDir(), 'data');
      writeFileSync(notADir, 'a file where the directory should be');
      const error = openError(notADir);
      expect(error.message).toContain(join(notADir, DB_FILE));
      expect(error.message).toMatch(/cannot create the data directory/);
      expect(readFileSync(notADir, 'utf8')).toBe('a file where the directory should be');
    });
  });
});
