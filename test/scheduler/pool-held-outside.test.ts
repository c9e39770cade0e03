import { afterEach, describe, expect, it } from 'vitest';
import type { AppWrapper } from '../../src/domain/app-wrapper.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { FakeClock } from '../support/fake-clock.js';
import { configuredSpokes, FlatProvider, region, schedule, submit } from '../support/flat-hub.js';
import { testHub, type TestHub } from '../support/hub.js';

/**
 * Room held OUTSIDE the plan (a gate Job whose create went unanswered, the rest of a running job past the window
 * the plan holds it for) comes off the pool its Job runs in. A Job runs in ONE pool (its node selector; the
 * simulated spoke splits capacity by share too): taken off the whole cluster and split by share, as it once was,
 * each pool was offered its share of what was left, and the pool the Job is in was over-committed.
 */

type Placed = { job_id: string; cluster: string; pool: string; planned_start: string };
const MIN = 60_000;
const HALF_AND_HALF = [
  { name: 'FAST', share: 0.5 },
  { name: 'ECO', share: 0.5, speed_factor: 1.5, power_factor: 0.6 },
];

describe('room held outside the plan, on a cluster with FAST and ECO pools', () => {
  let t: TestHub;
  afterEach(() => t.hub.stop());

  it('a gate Job whose create went unanswered (on FAST) keeps the FAST cores it takes: an urgent FAST job is not planned onto them', async () => {
    const clock = new FakeClock();
    const regions = [region('KR', HALF_AND_HALF, 16)];
    const { spokes, clients } = configuredSpokes(regions, clock, SimulatedSpoke);
    t = await testHub({ regions, migration: { network_gco2_per_gb: {} } }, { clock, spokes, carbonProvider: new FlatProvider(clock, { KR: 300 }) });
    await t.hub.loops.carbon.runOnce();
    const now = clock.now();
    // 'sent': planned on KR/FAST now; the gate's create reached KR (the Job runs on all 8 FAST cores) but its answer was lost.
    const base = appWrapper('sent').phase('Planned').target('carbon-kr').obj();
    const sent: AppWrapper = {
      ...base,
      spec: { ...base.spec, cpu: 8, memGb: 4, runtimeMinutes: 60 },
      targetPool: 'FAST',
      plannedStartAt: now,
      submittedAt: now,
      updatedAt: now,
      deadlineAt: now + 600 * MIN,
      unconfirmedJobs: [{ cluster: 'carbon-kr', jobName: 'sent' }],
    };
    await t.hub.lifecycle.store.insert(sent);
    await clients.get('carbon-kr')!.createJob({
      jobId: 'sent', submittedAt: now, jobName: 'sent', generation: 1, region: 'KR', pool: 'FAST', nodeSelector: {}, cpu: 8, memGb: 4, gpu: 0,
      image: 'busybox', command: ['true'], runtimeSeconds: 3600, activeDeadlineSeconds: 36_000, plannedStartAt: now, co2EstimateG: 0,
    });
    expect((await clients.get('carbon-kr')!.listJobs())[0]).toMatchObject({ jobName: 'sent', phase: 'Running', pool: 'FAST' });

    // An urgent job (FAST only) of 4 cores that must finish within the hour: FAST has no free core for 60 minutes.
    await submit(t, { job_id: 'urgent', cpu: 4, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 60, urgency: 'urgent' });
    const summary = await schedule(t);
    expect(summary.unconfirmed).toEqual(['sent']);
    const urgent = summary.placed.find((p: Placed) => p.job_id === 'urgent');
    // Not planned on KR/FAST at once, as when FAST was offered (16 - 8) x 0.5 = 4 free cores while all 8 are taken.
    if (urgent) expect(Date.parse(urgent.planned_start)).toBeGreaterThanOrEqual(now + 60 * MIN);
    else expect(summary.unschedulable.map((u: { job_id: string }) => u.job_id)).toContain('urgent');
  });

  it('the rest of a running FAST job past the window the plan holds it for stays FAST cores, not a share of each pool', async () => {
    // Horizon one hour. KR: 16 cores, FAST and ECO halves. JP: FAST nodes three times as slow, so a job that may move
    // there is planned over at most 12 / 3 = 4 slots, and the rest of its run on KR is held outside the plan.
    const clock = new FakeClock();
    const regions = [region('KR', HALF_AND_HALF, 16), region('JP', [{ name: 'FAST', share: 1, speed_factor: 3 }], 16)];
    const { spokes } = configuredSpokes(regions, clock, SimulatedSpoke);
    t = await testHub({ horizon_hours: 1, regions, migration: { network_gco2_per_gb: {} } }, { clock, spokes, carbonProvider: new FlatProvider(clock, { KR: 300, JP: 600 }) });
    await t.hub.loops.carbon.runOnce();
    const now = clock.now();
    const runningOn = (id: string, pool: 'FAST' | 'ECO', cpu: number, runtimeMinutes: number): AppWrapper => {
      const base = appWrapper(id).phase('Running').target('carbon-kr').placement({ cluster: 'carbon-kr', jobName: id, generation: 1, pool }).obj();
      return { ...base, spec: { ...base.spec, cpu, memGb: 4, runtimeMinutes }, targetPool: pool, submittedAt: now, updatedAt: now, startedAt: now, plannedStartAt: now, deadlineAt: now + 600 * MIN };
    };
    // 'long' runs on all 8 FAST cores of KR for the next 60 minutes; 'eco' on all 8 ECO cores for 22.5 minutes (15 of work).
    await t.hub.lifecycle.store.insert(runningOn('long', 'FAST', 8, 60));
    await t.hub.lifecycle.store.insert(runningOn('eco', 'ECO', 8, 15));
    // 'next' needs 4 cores on KR for 30 minutes within the hour. ECO (45 minutes) cannot start before 'eco' ends and
    // still end in the hour; FAST has no free core until 01:00. No room.
    await submit(t, { job_id: 'next', cpu: 4, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 60, urgency: 'flexible', affinity_regions: ['KR'] });
    const summary = await schedule(t);
    expect(summary.placed.find((p: Placed) => p.job_id === 'long')).toMatchObject({ cluster: 'carbon-kr', pool: 'FAST' });
    // Not planned onto KR/FAST at 00:25, as when the rest of 'long''s run past the 4 slots it is held for in the plan was
    // taken off the whole cluster and FAST offered half of the 8 cores left, all of which 'long' still uses.
    expect(summary.placed.find((p: Placed) => p.job_id === 'next')).toBeUndefined();
  });
});
