import { afterEach, describe, expect, it } from 'vitest';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';
import { tempDirs } from '../support/temp-dir.js';

/**
 * What a hub restart does to jobs whose time passed while it was stopped: each test builds a hub on a temporary
 * SQLite data directory, stops it, and builds a new hub on the same directory with the same simulated spoke
 * objects (their Jobs live on).
 */

const tempDir = tempDirs('caspian-restart-');

const MINUTE = 60_000;
/** 1 cpu and 1 GB at the default energy settings (watt_cpu 30, watt_mem_gb 0.392), kW. */
const JOB_KW = (30 + 0.392) / 1000;

type PoolConfig = { name: 'FAST' | 'ECO'; share: number; speed_factor?: number; power_factor?: number };

function world(pools?: PoolConfig[]) {
  const clock = new FakeClock();
  const domainPools = pools?.map((p) => ({ name: p.name, share: p.share, speedFactor: p.speed_factor ?? 1, powerFactor: p.power_factor ?? 1, nodeSelector: {} }));
  const spoke = (name: string, region: string, zone: string): Spoke => ({
    info: { name, region, zone, ...(domainPools && { pools: domainPools }) },
    client: new SimulatedSpoke(name, { cpu: 8, memGb: 32, gpu: 0 }, clock, domainPools),
  });
  const spokes = [spoke('carbon-kr', 'KR', 'KR'), spoke('carbon-jp', 'JP', 'JP-TK')];
  const regions = [
    { name: 'KR', cluster: 'carbon-kr', context: 'kind-carbon-kr', zone: 'KR', capacity: { cpu: 8, mem_gb: 32 }, ...(pools && { pools }) },
    { name: 'JP', cluster: 'carbon-jp', context: 'kind-carbon-jp', zone: 'JP-TK', capacity: { cpu: 8, mem_gb: 32 }, ...(pools && { pools }) },
  ];
  const dir = tempDir();
  const kr = spokes[0]!.client as SimulatedSpoke;
  /** A hub on the shared data directory and spokes; started (loaded, reconciled), its loops ticking only on demand. */
  const hub = async () => {
    const t = await testHub({ store: { kind: 'sqlite', data_dir: dir }, regions, migration: { network_gco2_per_gb: {} } }, { clock, spokes });
    await t.hub.start();
    return t;
  };
  return { clock, spokes, kr, hub };
}

const submit = (t: TestHub, job_id: string, body: Record<string, unknown> = {}) =>
  t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id, cpu: 1, mem_gb: 1, runtime_minutes: 60, deadline_minutes: 600, ...body } });
const view = async (t: TestHub, id: string) => (await t.hub.app.inject({ method: 'GET', url: `/hub/appwrappers/${id}` })).json();

describe('a hub restarted after the planned times of its jobs passed', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
  });

  it('a job planned on ECO whose start passed while the hub was stopped runs on FAST at its gate, when it can still finish there', async () => {
    const w = world([
      { name: 'FAST', share: 0.5 },
      { name: 'ECO', share: 0.5, speed_factor: 1.5, power_factor: 0.6 },
    ]);
    t = await w.hub();
    expect((await submit(t, 'eco', { urgency: 'flexible', runtime_minutes: 60, deadline_minutes: 600 })).statusCode).toBe(201);
    const placed = (await t.hub.loops.schedule.runOnce()).placed;
    expect(placed).toEqual([expect.objectContaining({ job_id: 'eco', pool: 'ECO' })]);
    const deadlineAt = (await t.hub.lifecycle.store.get('eco'))!.deadlineAt;
    await t.hub.stop();

    // Back 75 minutes before the deadline: 90 minutes on ECO no longer fit, 60 on FAST do.
    w.clock.advanceTo(deadlineAt - 75 * MINUTE);
    t = await w.hub();
    // The dispatch loop (every 30 s) ticks before the schedule loop (every 5 min).
    await t.hub.loops.dispatch.runOnce();
    expect(t.log.messages()).toContain('the gate of eco opens too late for pool ECO; it runs on FAST');
    const after = await view(t, 'eco');
    expect(after.phase, `reason: ${after.reason}`).toBe('Dispatched');
    expect(after).toMatchObject({ pool: 'FAST' });
    expect((await w.kr.listJobs()).map((j) => j.jobName)).toEqual(['eco']);
    // The next plan keeps it where it runs.
    await t.hub.loops.schedule.runOnce();
    expect(await view(t, 'eco')).toMatchObject({ phase: 'Dispatched', pool: 'FAST' });
  });

  it('a job whose Job vanished while the hub was stopped is billed up to its deadline at most (its Job stops there), not for the whole stop', async () => {
    const w = world();
    t = await w.hub();
    await submit(t, 'gone', { urgency: 'urgent', runtime_minutes: 60, deadline_minutes: 120 });
    await t.hub.loops.schedule.runOnce();
    await t.hub.loops.dispatch.runOnce();
    w.clock.advanceMinutes(1);
    await t.hub.loops.dispatch.runOnce();
    const running = (await t.hub.lifecycle.store.get('gone'))!;
    expect(running).toMatchObject({ phase: 'Running', placement: { cluster: 'carbon-kr' } });
    await t.hub.stop();

    // While the hub is down, the Job runs, finishes, and is removed (its ttlSecondsAfterFinished, or someone).
    w.clock.advanceMinutes(5 * 60);
    await w.kr.deleteJob('gone', 'gone');
    t = await w.hub();
    await t.hub.loops.dispatch.runOnce();
    const failed = await view(t, 'gone');
    expect(failed.phase).toBe('Failed');
    // Its Job could not run past activeDeadlineSeconds (the job's deadline, 2 h after submission), nor longer than
    // its 60 minutes if it ran as declared; the account charges the 5 hours until the hub looked again.
    const maxRunHours = (running.deadlineAt - running.startedAt!) / 3_600_000;
    expect(failed.carbon.energy_kwh).toBeLessThanOrEqual(JOB_KW * maxRunHours + 1e-6);
    expect(Date.parse(failed.finished_at)).toBeLessThanOrEqual(running.deadlineAt);
  });
});
