import type { InjectOptions } from 'fastify';
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

  const sqliteHub = async () => {
    const config = { store: { kind: 'sqlite', data_dir: tempDir() } };
    t = await testHub(config);
    return config;
  };

  /**
   * Makes `first`'s commit fail (`trigger`) while it is held at the writer thread, sends `second` meanwhile, then
   * restarts the hub on the file once the trigger is gone. `first` is answered 503; resolves with `second`'s answer.
   */
  const duringAFailingCommit = async (config: Awaited<ReturnType<typeof sqliteHub>>, trigger: string, first: InjectOptions, second: InjectOptions) => {
    const hub = t!.hub;
    onDatabase(config.store.data_dir, trigger);
    const disk = holdWriter(t!);
    const firstAnswer = hub.app.inject(first);
    await disk.held; // the first change is in memory, its commit waiting for the disk
    const secondAnswer = hub.app.inject(second);
    disk.release();
    expect((await firstAnswer).statusCode).toBe(503);
    const answer = await secondAnswer;
    await hub.stop();
    onDatabase(config.store.data_dir, `DROP TRIGGER ${/CREATE TRIGGER (\w+)/.exec(trigger)![1]}`);
    t = await testHub(config);
    return answer;
  };

  it('a second DELETE is not answered 409 "already Cancelled" of a cancel whose commit then fails: it gets the failure, and the job is Pending after the restart', async () => {
    const config = await sqliteHub();
    expect((await t!.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: submission('job') })).statusCode).toBe(201);
    const cancel = { method: 'DELETE', url: '/hub/appwrappers/job' } as const;
    const told = await duringAFailingCommit(
      config,
      `CREATE TRIGGER cancel_fails BEFORE UPDATE ON appwrappers WHEN json_extract(NEW.doc, '$.phase') = 'Cancelled' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`,
      cancel,
      cancel,
    );
    const phase = (await t!.hub.lifecycle.store.get('job'))?.phase;
    // A 409 "already Cancelled" would be a read of a state that never reached the disk: the job is Pending again.
    expect({ status: told.statusCode, phase }).toEqual({ status: 503, phase: 'Pending' });
  });

  const failingInsert = `CREATE TRIGGER insert_fails BEFORE INSERT ON appwrappers WHEN NEW.job_id = 'train' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`;
  const submit = { method: 'POST', url: '/hub/appwrappers', payload: submission('train') } as const;

  it('a second submission of an id is not answered 409 "already exists" of a first whose commit then fails: it gets the failure', async () => {
    // A client retrying after a time-out: 409 would mean "your job is there".
    const told = await duringAFailingCommit(await sqliteHub(), failingInsert, submit, submit);
    const stored = await t!.hub.lifecycle.store.get('train');
    expect({ status: told.statusCode, stored }).toEqual({ status: 503, stored: undefined });
  });

  it('GET /hub/stats counts only what is on disk: a submission whose commit then fails is never counted', async () => {
    const answer = await duringAFailingCommit(await sqliteHub(), failingInsert, submit, { method: 'GET', url: '/hub/stats' });
    const counted = answer.statusCode === 200 ? answer.json().appwrappers.total : 'refused';
    const stored = (await t!.hub.lifecycle.store.list()).length;
    expect({ counted, stored }).toEqual({ counted: 'refused', stored: 0 });
  });
});
