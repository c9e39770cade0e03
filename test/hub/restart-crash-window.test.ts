import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { DB_FILE } from '../../src/store/sqlite-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';
import { metricValue } from '../support/metric-value.js';
import { tempDirs } from '../support/temp-dir.js';

/**
 * The hub dies just after a gate's create made the Job, before it records Dispatched. The crash is the data
 * directory as it is on disk at that instant (copied while the create answers), on which a new hub starts. Its
 * reconcile adopts the Job only from a cluster that answers then; here that cluster does not answer when the hub
 * comes back, and answers again later.
 */

const tempDir = tempDirs('caspian-crash-window-');

function world() {
  const clock = new FakeClock();
  const spoke = (name: string, region: string, zone: string): Spoke => ({ info: { name, region, zone }, client: new SimulatedSpoke(name, { cpu: 8, memGb: 32, gpu: 0 }, clock) });
  const spokes = [spoke('carbon-kr', 'KR', 'KR'), spoke('carbon-jp', 'JP', 'JP-TK')];
  const regions = [
    { name: 'KR', cluster: 'carbon-kr', context: 'kind-carbon-kr', zone: 'KR', capacity: { cpu: 8, mem_gb: 32 } },
    { name: 'JP', cluster: 'carbon-jp', context: 'kind-carbon-jp', zone: 'JP-TK', capacity: { cpu: 8, mem_gb: 32 } },
  ];
  const kr = spokes[0]!.client as SimulatedSpoke;
  const hub = async (dir: string) => {
    const t = await testHub({ store: { kind: 'sqlite', data_dir: dir }, regions, migration: { network_gco2_per_gb: {} } }, { clock, spokes });
    await t.hub.start();
    return t;
  };
  return { clock, kr, hub };
}

const submit = (t: TestHub, job_id: string, body: Record<string, unknown>) =>
  t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id, cpu: 1, mem_gb: 1, ...body } });
const view = async (t: TestHub, id: string) => (await t.hub.app.inject({ method: 'GET', url: `/hub/appwrappers/${id}` })).json();

/**
 * Submits `jobId` (urgent, an hour of work; `body` over that), plans and dispatches it on KR, and returns a data
 * directory holding the store as it was on disk when KR had made the Job and the hub had not yet heard back: where
 * a hub that died then restarts from.
 */
async function crashAfterCreate(w: ReturnType<typeof world>, jobId: string, body: Record<string, unknown>): Promise<string> {
  const dir = tempDir();
  const crashed = tempDir();
  const t = await w.hub(dir);
  try {
    expect((await submit(t, jobId, { urgency: 'urgent', runtime_minutes: 60, ...body })).statusCode).toBe(201);
    await t.hub.loops.schedule.runOnce();
    expect((await t.hub.lifecycle.store.get(jobId))!).toMatchObject({ phase: 'Planned', targetCluster: 'carbon-kr' });
    const create = w.kr.createJob.bind(w.kr);
    w.kr.createJob = async (request) => {
      const outcome = await create(request);
      // Every write the hub awaited is on disk (the WAL included): the copy is the file a crash now leaves.
      for (const file of [DB_FILE, `${DB_FILE}-wal`]) if (existsSync(join(dir, file))) copyFileSync(join(dir, file), join(crashed, file));
      return outcome;
    };
    await t.hub.loops.dispatch.runOnce();
    expect((await w.kr.listJobs()).map((j) => j.jobName)).toEqual([jobId]);
  } finally {
    delete (w.kr as { createJob?: unknown }).createJob;
    await t.hub.stop();
  }
  return crashed;
}

describe('restart: a Job created just before the hub died, on a cluster that does not answer at start', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
  });

  it('is adopted once its cluster answers: its job is not failed as unable to finish, nor its Succeeded Job deleted', async () => {
    const w = world();
    const crashed = await crashAfterCreate(w, 'a', { affinity_regions: ['KR'], deadline_minutes: 70 });

    // The hub comes back a minute later, while KR does not answer (a network blip): reconcile skips KR.
    w.clock.advanceMinutes(1);
    w.kr.setReachable(false);
    t = await w.hub(crashed);
    expect((await t.hub.lifecycle.store.get('a'))!).toMatchObject({ phase: 'Planned', unconfirmedJobs: [{ cluster: 'carbon-kr', jobName: 'a' }] });
    expect(t.log.lines.find((l) => String(l.msg).startsWith('reconciled with the spokes'))).toMatchObject({ unreachable: ['carbon-kr'] });

    // Schedule ticks while KR is away: 60 more minutes no longer fit before the deadline, yet the job is left be.
    w.clock.advanceMinutes(14);
    expect((await t.hub.loops.schedule.runOnce()).unconfirmed).toEqual(['a']);
    await t.hub.loops.dispatch.runOnce();
    expect((await view(t, 'a')).phase).toBe('Planned');
    expect(await metricValue(t.hub.metrics, 'caspian_jobs_unconfirmed')).toBe(1);

    // KR answers again; its Job ran all along and has succeeded, within the job's deadline.
    w.clock.advanceMinutes(47);
    w.kr.setReachable(true);
    expect((await w.kr.listJobs()).find((j) => j.jobName === 'a')).toMatchObject({ phase: 'Succeeded' });
    await t.hub.loops.dispatch.runOnce();
    await t.hub.loops.dispatch.runOnce();

    const after = await view(t, 'a');
    expect(after.phase, `reason: ${after.reason}`).toBe('Succeeded');
    expect((await w.kr.listJobs()).map((j) => j.jobName)).toEqual(['a']);
    expect(await metricValue(t.hub.metrics, 'caspian_jobs_unconfirmed')).toBe(0);
  });

  it('is adopted once its cluster answers, not deleted because the plan found no ready cluster for it meanwhile', async () => {
    const w = world();
    const crashed = await crashAfterCreate(w, 'b', { affinity_regions: ['KR'], deadline_minutes: 600 });
    const madeAt = (await w.kr.listJobs())[0]!.createdAt;

    w.clock.advanceMinutes(1);
    w.kr.setReachable(false);
    t = await w.hub(crashed);
    // One schedule cycle while KR is away (every 5 minutes).
    w.clock.advanceMinutes(4);
    const cycle = await t.hub.loops.schedule.runOnce();
    expect(cycle.unconfirmed).toEqual(['b']);
    expect(cycle.unschedulable).toEqual([]);

    // KR answers again 5 minutes later: its Job has been running for 10 minutes.
    w.clock.advanceMinutes(5);
    w.kr.setReachable(true);
    expect((await w.kr.listJobs()).find((j) => j.jobName === 'b')).toMatchObject({ phase: 'Running' });
    await t.hub.loops.dispatch.runOnce();
    await t.hub.loops.dispatch.runOnce();

    const after = await view(t, 'b');
    expect(after.phase, `reason: ${after.reason}`).toBe('Running');
    expect(after.job).toMatchObject({ cluster: 'carbon-kr', name: 'b' });
    // Still the Job made before the crash, not a new one started from scratch.
    expect((await w.kr.listJobs()).map((j) => [j.jobName, j.createdAt])).toEqual([['b', madeAt]]);
    expect(t.log.lines).toContainEqual(expect.objectContaining({ msg: 'Job b found on carbon-kr adopted: its create had not been answered' }));
  });

  it('is planned again once its cluster counts as lost, and the Job, if it was made, deleted when that cluster answers', async () => {
    const w = world();
    const crashed = await crashAfterCreate(w, 'c', { deadline_minutes: 600 });
    w.kr.setReachable(false);
    t = await w.hub(crashed);
    // Past spokes.lost_after_seconds (15 minutes by default): the job waits no longer for KR.
    await t.hub.loops.dispatch.runOnce();
    w.clock.advanceMinutes(16);
    const dispatched = await t.hub.loops.dispatch.runOnce();
    expect(dispatched.requeued).toEqual([{ job_id: 'c', cluster: 'carbon-kr' }]);
    expect(await view(t, 'c')).toMatchObject({ phase: 'Planned' });
    expect(t.log.lines).toContainEqual(expect.objectContaining({ level: 40, jobId: 'c', msg: expect.stringContaining('planned again: the create of its Job on carbon-kr was not answered') }));

    const cycle = await t.hub.loops.schedule.runOnce();
    expect(cycle.unconfirmed).toEqual([]);
    expect(cycle.placed).toMatchObject([{ job_id: 'c', cluster: 'carbon-jp' }]);
    await t.hub.loops.dispatch.runOnce();
    expect(await view(t, 'c')).toMatchObject({ phase: 'Dispatched', job: { cluster: 'carbon-jp' } });

    // KR answers: the Job made there before the crash is deleted, so the job does not run twice.
    w.kr.setReachable(true);
    await t.hub.loops.dispatch.runOnce();
    expect(await w.kr.listJobs()).toEqual([]);
  });
});
