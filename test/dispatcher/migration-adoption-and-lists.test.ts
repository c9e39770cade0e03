import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AdapterError } from '../../src/domain/errors.js';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import type { SpokeJobRequest } from '../../src/spokes/types.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';
import { metricValue } from '../support/metric-value.js';

/**
 * How the dispatcher carries out what the schedule cycle decided when answers go missing
 * (README "The life of an AppWrapper", "Re-planning and migration"). Two simulated clusters of 4 cores on a
 * fake clock; a move is written to the store as the schedule cycle writes it.
 */
describe('dispatch cycle: adopted migration Jobs and clusters whose Jobs cannot be listed', () => {
  let t: TestHub;
  let clock: FakeClock;
  let spokes: Spoke[];
  const sim = (i: number) => spokes[i]?.client as SimulatedSpoke;

  beforeEach(async () => {
    clock = new FakeClock();
    spokes = [
      { info: { name: 'carbon-kr', region: 'KR', zone: 'KR' }, client: new SimulatedSpoke('carbon-kr', { cpu: 4, memGb: 16, gpu: 0 }, clock) },
      { info: { name: 'carbon-jp', region: 'JP', zone: 'JP-TK' }, client: new SimulatedSpoke('carbon-jp', { cpu: 4, memGb: 16, gpu: 0 }, clock) },
    ];
    t = await testHub(
      {
        regions: [
          { name: 'KR', cluster: 'carbon-kr', context: 'kind-carbon-kr', zone: 'KR', capacity: { cpu: 4, mem_gb: 16 } },
          { name: 'JP', cluster: 'carbon-jp', context: 'kind-carbon-jp', zone: 'JP-TK', capacity: { cpu: 4, mem_gb: 16 } },
        ],
        migration: { network_gco2_per_gb: {} },
      },
      { clock, spokes },
    );
  });
  afterEach(() => t.hub.stop());

  const store = () => t.hub.lifecycle.store;
  const dispatch = () => t.hub.loops.dispatch.runOnce();
  /** 30 minutes of work (checkpointing), 2 cores, deadline in 3 hours, planned on `cluster` to start in `startInMinutes`. */
  const planned = (id: string, startInMinutes: number, cluster = 'carbon-kr') => {
    const aw = appWrapper(id).cpu(2).phase('Planned').target(cluster).obj();
    return { ...aw, submittedAt: clock.now(), deadlineAt: clock.now() + 180 * 60_000, plannedStartAt: clock.now() + startInMinutes * 60_000, updatedAt: clock.now() };
  };
  /** What the schedule cycle writes when it moves a live job from `from` to `to`. */
  const decidedMove = (from: string, to: string) => ({ targetCluster: to, migrating: true, metadata: { migrated_from: from, migration_time: (clock.now() / 1000).toFixed(3) } });
  /** 'mover' runs on carbon-kr from T (the clock now), its Job read back as Running. */
  const runOnKr = async () => {
    await store().insert(planned('mover', 0));
    await dispatch();
    await dispatch();
    expect(await store().get('mover')).toMatchObject({ phase: 'Running', startedAt: clock.now() });
  };

  it('ends the old leg when an adopted migration Job was made (its create answer lost), so the next Job gets the work left', async () => {
    const T = clock.now();
    await runOnKr();
    // T+5: the plan moves the job to JP. The create makes mover-g2 there (it starts at once), but its answer is lost.
    clock.advanceMinutes(5);
    await store().update('mover', (cur) => ({ ...cur, ...decidedMove('carbon-kr', 'carbon-jp') }));
    const create = sim(1).createJob.bind(sim(1));
    vi.spyOn(sim(1), 'createJob').mockImplementationOnce(async (request) => {
      await create(request);
      throw new AdapterError(`create Job ${request.jobName} timed out`, true);
    });
    expect((await dispatch()).failed).toHaveLength(1);
    // T+10: the next cycle adopts mover-g2, which has run since T+5 from the state the job had at T+5.
    clock.advanceMinutes(5);
    expect((await dispatch()).created).toEqual([{ job_id: 'mover', cluster: 'carbon-jp', job_name: 'mover-g2', adopted: true }]);
    await dispatch();
    expect((await store().get('mover'))?.startedAt).toBe(T + 5 * 60_000);

    // T+15: moved back to KR. Work really done: 5 min on KR up to T+5, then 10 min of mover-g2: 15 of 30.
    clock.advanceMinutes(5);
    await store().update('mover', (cur) => ({ ...cur, ...decidedMove('carbon-jp', 'carbon-kr') }));
    const creates = vi.spyOn(sim(0), 'createJob');
    await dispatch();
    const third = creates.mock.calls[0]?.[0] as SpokeJobRequest;
    expect(third.jobName).toBe('mover-g3');
    // The hub counts the KR leg up to T+10 (when it adopted) beside mover-g2's run from T+5: 20 minutes, so
    // the last Job is sent with 10 minutes and the job "succeeds" 5 minutes of work short.
    expect(third.runtimeSeconds).toBe(15 * 60);
  });

  it('counts a cluster lost when it answers its status but never lists its Jobs, and requeues its running job', async () => {
    await runOnKr();
    // KR's Job list fails from now on (a time-out on a big list, an RBAC rule lost), while its status answers.
    vi.spyOn(sim(0), 'listJobs').mockRejectedValue(new AdapterError('list Jobs on carbon-kr timed out', true));
    // One hour of dispatch ticks: the hub never reads KR's Jobs again (the job's Job finished 30 minutes in).
    for (let i = 0; i < 12; i++) {
      clock.advanceMinutes(5);
      await dispatch();
    }
    // README: once a cluster has not answered for spokes.lost_after_seconds (15 min), its Dispatched and Running
    // jobs go back to Pending. Each refresh's status answer resets unready_since, so the lost clock never runs.
    expect(await metricValue(t.hub.metrics, 'caspian_jobs_requeued_total', { cluster: 'carbon-kr' })).toBe(1);
    expect((await store().get('mover'))?.phase).toBe('Pending');
  });
});
