import { afterEach, describe, expect, it } from 'vitest';
import { testHub, type TestHub } from '../support/hub.js';
import { holdWriter, onDatabase } from '../support/sqlite-disk.js';
import { tempDirs } from '../support/temp-dir.js';

/**
 * Refusals and counts wait for the disk as reads do. README, Durability: "a read answers with what it found when it
 * was asked, once the batches before it are on disk, so nothing a client has seen can be lost". Each test makes
 * a commit fail (a trigger on the real file, as a full disk or an I/O error would) while it is held at the
 * writer thread, lets a second request see the state that commit carries, then restarts the hub on the file.
 */

const tempDir = tempDirs('caspian-refusals-durable-');

const submission = (job_id: string) => ({ job_id, cpu: 1, mem_gb: 1, runtime_minutes: 30, deadline_minutes: 600 });

describe('SQLite store: a refusal or a count is answered once the writes before it are on disk', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
  });

  it('a second DELETE is not answered 409 "already Cancelled" of a cancel whose commit then fails: it gets the failure, and the job is Pending after the restart', async () => {
    const dir = tempDir();
    const config = { store: { kind: 'sqlite', data_dir: dir } };
    t = await testHub(config);
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: submission('job') })).statusCode).toBe(201);
    // The disk refuses the cancel's commit (a full disk, an I/O error).
    onDatabase(dir, `CREATE TRIGGER cancel_fails BEFORE UPDATE ON appwrappers WHEN json_extract(NEW.doc, '$.phase') = 'Cancelled' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
    const disk = holdWriter(t);
    const first = t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/job' });
    await disk.held; // the cancel is in memory, its commit waiting for the disk
    const second = t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/job' });
    disk.release();
    expect((await first).statusCode).toBe(503);
    const told = { status: (await second).statusCode, body: (await second).json() };
    await t.hub.stop();

    onDatabase(dir, 'DROP TRIGGER cancel_fails');
    t = await testHub(config);
    const phase = (await t.hub.lifecycle.store.get('job'))?.phase;
    // Today the second client is told {409, "AppWrapper \"job\" is already Cancelled"}, yet the job comes back Pending
    // (and keeps running): a refusal is a read of the state and must wait for the disk like one (503 here).
    expect({ status: told.status, phase }).toEqual({ status: 503, phase: 'Pending' });
  });

  it('a second submission of an id is not answered 409 "already exists" of a first whose commit then fails: it gets the failure', async () => {
    const dir = tempDir();
    const config = { store: { kind: 'sqlite', data_dir: dir } };
    t = await testHub(config);
    onDatabase(dir, `CREATE TRIGGER insert_fails BEFORE INSERT ON appwrappers WHEN NEW.job_id = 'train' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
    const disk = holdWriter(t);
    const first = t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: submission('train') });
    await disk.held;
    // A client retrying after a time-out: 409 means "your job is there".
    const retry = t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: submission('train') });
    disk.release();
    expect((await first).statusCode).toBe(503);
    const told = (await retry).statusCode;
    await t.hub.stop();

    onDatabase(dir, 'DROP TRIGGER insert_fails');
    t = await testHub(config);
    const stored = await t.hub.lifecycle.store.get('train');
    // Today: 409 "AppWrapper \"train\" already exists", and no such job after the restart.
    expect({ status: told, stored }).toEqual({ status: 503, stored: undefined });
  });

  it('GET /hub/stats counts only what is on disk: a submission whose commit then fails is never counted', async () => {
    const dir = tempDir();
    const config = { store: { kind: 'sqlite', data_dir: dir } };
    t = await testHub(config);
    onDatabase(dir, `CREATE TRIGGER insert_fails BEFORE INSERT ON appwrappers WHEN NEW.job_id = 'train' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
    const disk = holdWriter(t);
    const submit = t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: submission('train') });
    await disk.held;
    const stats = t.hub.app.inject({ method: 'GET', url: '/hub/stats' });
    disk.release();
    expect((await submit).statusCode).toBe(503);
    const answer = await stats;
    const counted = answer.statusCode === 200 ? answer.json().appwrappers.total : 'refused';
    await t.hub.stop();

    onDatabase(dir, 'DROP TRIGGER insert_fails');
    t = await testHub(config);
    const stored = (await t.hub.lifecycle.store.list()).length;
    // Today the stats answer 200 with total 1 (by_phase.Pending 1) for a job that was never stored.
    expect({ counted, stored }).toEqual({ counted: 'refused', stored: 0 });
  });
});
