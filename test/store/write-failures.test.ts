import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { testHub, type TestHub } from '../support/hub.js';
import { holdWriter, onDatabase } from '../support/sqlite-disk.js';
import { tempDirs } from '../support/temp-dir.js';
import { twoRegions } from '../support/two-regions.js';

/**
 * What happens when a write fails or is slow. Failures are injected through the real SQLite file
 * (a trigger that aborts one chosen commit, as a full disk or an I/O error would), through the store's writer
 * (a commit held, as a hung disk holds it). The decision log's own case is in test/hub/decision-log.test.ts.
 */

const tempDir = tempDirs('caspian-store-write-failures-');

const submission = (job_id: string, body: Record<string, unknown> = {}) => ({ job_id, cpu: 1, mem_gb: 1, runtime_minutes: 30, deadline_minutes: 600, ...body });

describe('a write that fails or is slow', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
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
    // The disk stalls (a hung NFS mount, an EBS volume that stops answering): the writer thread never gets its batch done.
    const { held: holding, release } = holdWriter(t);
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
