import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { AdapterError } from '../../src/domain/errors.js';
import type { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import type { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';
import { twoRegions } from '../support/two-regions.js';

/** Creates whose answer was lost (a time-out after the cluster made the Job): the listing decides what they made. */
describe('lost create answers in gates and moves', () => {
  let t: TestHub;
  let clock: FakeClock;
  let spokes: Spoke[];
  const sim = (i: number) => spokes[i]?.client as SimulatedSpoke;

  beforeEach(async () => {
    const world = twoRegions(4, 16);
    ({ clock, spokes } = world);
    t = await testHub({ regions: world.regions, migration: { network_gco2_per_gb: {} } }, { clock, spokes });
  });
  afterEach(() => t.hub.stop());

  const store = () => t.hub.lifecycle.store;
  const dispatch = () => t.hub.loops.dispatch.runOnce();
  /** What the schedule cycle writes when it moves a live job from `from` to `to`. */
  const decidedMove = (to: string, from = 'carbon-kr') => ({ targetCluster: to, migrating: true, metadata: { migrated_from: from, migration_time: (clock.now() / 1000).toFixed(3) } });
  const planned = (id: string, startInMinutes: number, cluster = 'carbon-kr') => {
    const aw = appWrapper(id).cpu(2).phase('Planned').target(cluster).obj();
    return { ...aw, submittedAt: clock.now(), deadlineAt: clock.now() + 180 * 60_000, plannedStartAt: clock.now() + startInMinutes * 60_000, updatedAt: clock.now() };
  };
  /** The next create on spoke `i` makes its Job, but the hub hears a time-out (`tweak` may alter the request). */
  const loseTheAnswerOnce = (i: number, tweak: (r: Parameters<SimulatedSpoke['createJob']>[0]) => Parameters<SimulatedSpoke['createJob']>[0] = (r) => r) => {
    const spoke = sim(i);
    const create = spoke.createJob.bind(spoke);
    vi.spyOn(spoke, 'createJob').mockImplementationOnce(async (request) => {
      await create(tweak(request));
      throw new AdapterError(`create Job ${request.jobName} timed out`, true);
    });
  };

  it('a migration that meets its failed lost-answer Job on the target reports no Job created in the cycle summary', async () => {
    await store().insert(planned('mover', 0));
    await dispatch();
    await dispatch();
    expect(await store().get('mover')).toMatchObject({ phase: 'Running', placement: { cluster: 'carbon-kr' } });
    // T+5: a move to JP; the create makes mover-g2 there but its answer is lost, and that Job fails there soon after.
    clock.advanceMinutes(5);
    await store().update('mover', (cur) => ({ ...cur, ...decidedMove('carbon-jp') }));
    loseTheAnswerOnce(1, (r) => ({ ...r, activeDeadlineSeconds: 10 }));
    expect((await dispatch()).failed).toHaveLength(1);
    clock.advanceMinutes(1);
    const summary = await dispatch();
    // The job keeps running on KR; the failed mover-g2 is given up and deleted.
    expect(await store().get('mover')).toMatchObject({ phase: 'Running', migrating: false, placement: { cluster: 'carbon-kr', jobName: 'mover' } });
    expect(summary.deleted).toEqual([{ job_id: 'mover', cluster: 'carbon-jp', job_name: 'mover-g2' }]);
    // DispatchSummary.created: "Jobs created (or adopted) that their AppWrapper now runs": not mover-g2.
    expect(summary.created).toEqual([]);
  });

  it('a gate whose create answer was lost is judged by the listing, not as a job starting now: its running Job is adopted and succeeds', async () => {
    const T = clock.now();
    // 30 minutes of work, planned now, deadline in 35 minutes.
    await store().insert({ ...planned('tight', 0), deadlineAt: T + 35 * 60_000 });
    // The gate opens: the Job is made on KR and starts, but the hub hears a time-out (and KR is marked unreachable).
    loseTheAnswerOnce(0);
    expect((await dispatch()).failed).toHaveLength(1);
    expect(await store().get('tight')).toMatchObject({ phase: 'Planned', unconfirmedJobs: [{ cluster: 'carbon-kr', jobName: 'tight' }] });
    // KR stays away for a few minutes (a network blip); its Job runs on.
    sim(0).setReachable(false);
    clock.advanceMinutes(6);
    await dispatch();
    // Neither cycle judges it as a job that would start now: the schedule cycle leaves it to the listing too.
    await t.hub.loops.schedule.runOnce();
    expect((await store().get('tight'))?.phase).toBe('Planned');
    // KR answers again at T+7: its Job has run 7 of its 30 minutes and finishes at T+30, before the T+35 deadline.
    sim(0).setReachable(true);
    clock.advanceMinutes(1);
    await dispatch();
    // Judged as a new Job from T+6 it could not finish by the deadline: the job would have been failed, and its
    // running Job deleted as stale once KR answered.
    expect((await sim(0).listJobs()).map((j) => [j.jobName, j.phase])).toEqual([['tight', 'Running']]);
    expect((await store().get('tight'))?.phase).not.toBe('Failed');
    clock.advanceTo(T + 30 * 60_000);
    await dispatch();
    expect(await store().get('tight')).toMatchObject({ phase: 'Succeeded', finishedAt: T + 30 * 60_000 });
  });
});
