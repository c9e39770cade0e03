import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import type * as fsPromises from 'node:fs/promises';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CsvDecisionLog } from '../../src/hub/decision-log.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { DECISION_COLUMNS, type CycleDecisions } from '../../src/scheduler/decisions.js';
import { DB_FILE } from '../../src/store/sqlite-store.js';
import { captureLogger } from '../support/logger.js';
import { input, job } from '../support/optimizer-builders.js';
import { testHub, type TestHub } from '../support/hub.js';
import { tempDirs } from '../support/temp-dir.js';
import { twoRegions } from '../support/two-regions.js';

/**
 * What happens when a write fails or is slow. Failures are injected through the real SQLite file
 * (a trigger that aborts one chosen commit, as a full disk or an I/O error would), through the store's writer
 * (a commit held, as a hung disk holds it) and through `appendFile` (a disk that fills during an append).
 */

/** `appendFile` of the decision log: the next append to a `decisions.csv` writes part of its text, then fails (a disk that fills up). */
const diskFull = vi.hoisted(() => ({ nextAppendWritesChars: undefined as number | undefined }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof fsPromises>();
  return {
    ...actual,
    appendFile: async (...args: Parameters<typeof actual.appendFile>) => {
      const [path, data, options] = args;
      const chars = diskFull.nextAppendWritesChars;
      if (chars !== undefined && typeof path === 'string' && path.endsWith('decisions.csv')) {
        diskFull.nextAppendWritesChars = undefined;
        await actual.appendFile(path, String(data).slice(0, chars), options);
        throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC', errno: -28, syscall: 'write' });
      }
      return actual.appendFile(...args);
    },
  };
});

const tempDir = tempDirs('caspian-store-write-failures-');
const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

/** A cycle that places `jobId` in KR at slot 0: one decision. */
function cycle(jobId: string): CycleDecisions {
  const raw = input().regions('KR').horizon(2).capacity('KR', { cpu: 4 }).carbon('KR', [100, 200]).job(job(jobId).runtime(1).window(0, 1)).obj();
  return {
    at: T0,
    strategy: 'highs',
    input: raw,
    plans: [{ job_id: jobId, region: 'KR', pool: 'FAST', start_slot: 0, cost_gco2: 1, migration_cost_gco2: 0 }],
    placed: [{ job_id: jobId, cluster: 'carbon-kr', region: 'KR', planned_start: new Date(T0).toISOString(), co2_gco2: 1 }],
    migrations: [],
    previous: new Map(),
  };
}

/** Runs `sql` on the hub's database file through a connection of its own (another program on the same file). */
function onDatabase(dir: string, sql: string): void {
  const db = new Database(join(dir, DB_FILE));
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

const submission = (job_id: string, body: Record<string, unknown> = {}) => ({ job_id, cpu: 1, mem_gb: 1, runtime_minutes: 30, deadline_minutes: 600, ...body });

describe('a write that fails or is slow', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    diskFull.nextAppendWritesChars = undefined;
    await t?.hub.stop();
    t = undefined;
  });

  it('a decision-log append cut short by a full disk leaves no half row that the next append runs into', async () => {
    const path = join(tempDir(), 'decisions.csv');
    const log = captureLogger();
    const decisions = new CsvDecisionLog({ path, memoryLimit: 10 }, { logger: log.logger, metrics: new Metrics({ defaultMetrics: false }) });
    decisions.record(cycle('a'));
    await decisions.close();
    // The disk fills while b's row is written: 30 characters of it reach the file, then ENOSPC.
    diskFull.nextAppendWritesChars = 30;
    decisions.record(cycle('b'));
    await decisions.close();
    expect(log.messages()).toContain(`decision log: cannot append to ${path}; this cycle's decisions are kept in memory only`);
    // Room again: the next cycle's row is appended.
    decisions.record(cycle('c'));
    await decisions.close();

    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe(DECISION_COLUMNS.join(','));
    // Every row has the file's columns, and c's row is c's own (it used to be b's first 30 characters, then c's row, on one line).
    expect(lines.slice(1).map((l) => l.split(',').length)).toEqual(lines.slice(1).map(() => DECISION_COLUMNS.length));
    expect(lines.at(-1)).toMatch(/^2026-01-05T00:00:00\.000Z,c,carbon-kr,/);
  });

  it('a schedule cycle whose commit fails half-way through its plan still logs the plans it already stored', async () => {
    const dir = tempDir();
    const world = twoRegions(16, 64);
    const config = { store: { kind: 'sqlite', data_dir: dir }, regions: world.regions, migration: { network_gco2_per_gb: {} } };
    t = await testHub(config, { clock: world.clock, spokes: world.spokes });
    await t.hub.start();
    for (const id of ['a', 'b']) expect((await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: submission(id) })).statusCode).toBe(201);
    // The disk refuses the second plan's commit (as a full disk or an I/O error would): the first plan is on disk by then.
    onDatabase(
      dir,
      `CREATE TRIGGER second_plan_fails BEFORE UPDATE ON appwrappers
         WHEN json_extract(NEW.doc, '$.phase') = 'Planned' AND (SELECT count(*) FROM appwrappers WHERE json_extract(doc, '$.phase') = 'Planned') >= 1
         BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`,
    );
    await expect(t.hub.loops.schedule.runOnce()).rejects.toThrow(/refuses further use/);
    await t.hub.stop();

    // The supervisor restarts the hub on the same file (the disk is fine again).
    onDatabase(dir, 'DROP TRIGGER second_plan_fails');
    t = await testHub(config, { clock: world.clock, spokes: world.spokes });
    await t.hub.start();
    const stored = (await t.hub.lifecycle.store.list()).filter((aw) => aw.phase === 'Planned').map((aw) => aw.jobId);
    expect(stored).toHaveLength(1);
    await t.hub.loops.schedule.runOnce();
    await t.hub.decisions.close();

    // Every plan in effect was decided by some cycle; the one stored before the failure must be in the file too.
    const logged = readFileSync(join(dir, 'decisions.csv'), 'utf8').trimEnd().split('\n').slice(1).map((l) => l.split(',')[1]);
    expect(logged.sort()).toEqual(['a', 'b']);
  });

  it('a scrape does not wait for the disk: with a commit held by a stalled disk, GET /metrics still answers (with the store gauges)', async () => {
    t = await testHub({ store: { kind: 'sqlite', data_dir: tempDir() } });
    const writer = (t.hub.lifecycle.store as unknown as { writer: Worker }).writer;
    // The disk stalls (a hung NFS mount, an EBS volume that stops answering): the writer thread never gets its batch done.
    const post = writer.postMessage.bind(writer);
    const held: unknown[] = [];
    let batchHeld: () => void = () => undefined;
    const holding = new Promise<void>((resolve) => (batchHeld = resolve));
    writer.postMessage = (message: unknown) => {
      if (message === 'close') return post(message);
      held.push(message);
      batchHeld();
    };
    const release = () => {
      writer.postMessage = post;
      for (const message of held.splice(0)) post(message);
    };
    try {
      const submit = t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: submission('waiting') });
      await holding;
      // The scrape is what shows a slow disk (caspian_store_durable_seconds, CaspianStoreSlowDisk); it used to wait
      // for the held commit through the AppWrapper gauges, so Prometheus saw the hub as down and no store metric at all.
      const scrape = await t.hub.app.inject({ method: 'GET', url: '/metrics' });
      expect(scrape.body).toMatch(/^caspian_store_failed 0$/m);
      expect(scrape.body).toMatch(/^caspian_appwrappers\{phase="Pending"\} 1$/m);
      // The stall shows while it lasts (the durable histogram only once the commit ends).
      const waiting = Number(/^caspian_store_oldest_pending_write_seconds (\S+)$/m.exec(scrape.body)?.[1]);
      expect(waiting).toBeGreaterThan(0);
      release();
      expect((await submit).statusCode).toBe(201);
      expect((await t.hub.app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^caspian_store_oldest_pending_write_seconds 0$/m);
    } finally {
      release();
    }
  });

  it('a cancel that was stored is not answered 503 "the store refuses every change" when a later write of the same request fails', async () => {
    const dir = tempDir();
    const world = twoRegions(16, 64);
    const config = { store: { kind: 'sqlite', data_dir: dir }, regions: world.regions, migration: { network_gco2_per_gb: {} } };
    t = await testHub(config, { clock: world.clock, spokes: world.spokes });
    await t.hub.start();
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: submission('job', { urgency: 'urgent' }) })).statusCode).toBe(201);
    await t.hub.loops.schedule.runOnce();
    await t.hub.loops.dispatch.runOnce();
    const running = await t.hub.lifecycle.store.get('job');
    expect(running).toMatchObject({ phase: 'Dispatched' });
    // The disk refuses the commit after the cancel's own: the one that forgets the Job once deleted from its cluster.
    onDatabase(
      dir,
      `CREATE TRIGGER cleanup_fails BEFORE UPDATE ON appwrappers WHEN json_extract(OLD.doc, '$.phase') = 'Cancelled'
         BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`,
    );
    const cancel = await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/job' });
    const answer = { status: cancel.statusCode, body: cancel.json() };
    await t.hub.stop();

    onDatabase(dir, 'DROP TRIGGER cleanup_fails');
    t = await testHub(config, { clock: world.clock, spokes: world.spokes });
    // The cancel is on disk: the client must not have been told that it was refused.
    expect(await t.hub.lifecycle.store.get('job')).toMatchObject({ phase: 'Cancelled' });
    expect(answer).toMatchObject({ status: 200, body: { job_id: 'job', phase: 'Cancelled' } });
  });
});
