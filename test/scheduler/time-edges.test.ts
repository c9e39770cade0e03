import { afterEach, describe, expect, it } from 'vitest';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import type { SpokeJobRequest, SpokeJobStatus } from '../../src/spokes/types.js';
import { FakeClock } from '../support/fake-clock.js';
import { dispatch, FlatProvider, region, schedule, submit, view } from '../support/flat-hub.js';
import { testHub, type TestHub } from '../support/hub.js';

/**
 * A simulated cluster whose API server is slow to list its Jobs (each list takes `listDelayMs` on the clock, as a
 * large cluster's chunked list or a retried call does), and that records when each Job was created.
 */
class SlowListSpoke extends SimulatedSpoke {
  readonly created: { request: SpokeJobRequest; at: number }[] = [];
  constructor(
    cluster: string,
    private readonly fake: FakeClock,
    private readonly listDelayMs: number,
  ) {
    super(cluster, { cpu: 16, memGb: 64, gpu: 0 }, fake);
  }
  override async listJobs(): Promise<SpokeJobStatus[]> {
    this.fake.advance(this.listDelayMs);
    return super.listJobs();
  }
  override async createJob(request: SpokeJobRequest): Promise<'created' | 'adopted'> {
    this.created.push({ request, at: this.fake.now() });
    return super.createJob(request);
  }
}

describe('time, slots and deadlines', () => {
  let t: TestHub;
  afterEach(() => t?.hub.stop());

  it('a job planned on ECO with less slack than a dispatch tick runs on FAST at its gate, and finishes', async () => {
    // One-minute slots; KR's ECO pool runs a job 1.5x as long at 0.6x the power, so the plan prefers it.
    const clock = new FakeClock();
    const provider = new FlatProvider(clock, { KR: 400 });
    t = await testHub(
      { slot_seconds: 60, regions: [region('KR', [{ name: 'FAST', share: 0.5 }, { name: 'ECO', share: 0.5, speed_factor: 1.5, power_factor: 0.6 }])] },
      { clock, carbonProvider: provider },
    );
    await t.hub.loops.carbon.runOnce();
    // 6 min of work, due in 9 min 10 s: on ECO it takes 9 min (10 s to spare), on FAST 6 min (3 min 10 s to spare).
    await submit(t, { job_id: 'j', cpu: 4, runtime_minutes: 6, deadline_minutes: 9 + 10 / 60 });
    // The plan puts it on ECO at slot 0 (now), 10 s of slack.
    await schedule(t);
    // The dispatch tick that ran beside the schedule tick saw no plan yet; the next one comes 30 s later, too late
    // for ECO: the gate leaves the job 'to the next schedule cycle' although FAST would finish it.
    clock.advance(30_000);
    await dispatch(t);
    // FAST could still finish it by 00:06:30, well before its 00:09:10 deadline; the next schedule tick is at 00:05.
    clock.advance(270_000);
    await t.hub.loops.carbon.runOnce();
    await schedule(t);
    await dispatch(t);
    clock.advanceMinutes(10);
    await dispatch(t);
    // The hub failed a job it could have run: neither the plan nor the gate allowed for the dispatch tick.
    expect(await view(t, 'j')).toMatchObject({ phase: 'Succeeded' });
  });

  it('a Job created late in a slow dispatch cycle gets an activeDeadlineSeconds that ends by its deadline', async () => {
    const clock = new FakeClock();
    const slow = new SlowListSpoke('carbon-kr', clock, 12_000);
    const spokes: Spoke[] = [{ info: { name: 'carbon-kr', region: 'KR', zone: 'KR' }, client: slow }];
    t = await testHub({ regions: [region('KR')] }, { clock, spokes, carbonProvider: new FlatProvider(clock, { KR: 400 }) });
    await t.hub.loops.carbon.runOnce();
    // 10 min of work due in 10 min 5 s: planned to start now.
    await submit(t, { job_id: 'tight', cpu: 4, runtime_minutes: 10, deadline_minutes: 10 + 5 / 60 });
    await schedule(t);
    const deadlineAt = Date.parse((await view(t, 'tight')).deadline_at);
    // Listing the cluster's Jobs takes 12 s; the gate is then judged, and the Job made, on the clock of the cycle's start.
    await dispatch(t);
    // At 00:00:12 ten minutes of work no longer fit before 00:10:05: no Job, the job fails at once. (A Job used to be
    // made with 605 s, from the cycle's start: it ran to 00:10:12 and was reported Succeeded, after its deadline.)
    expect(slow.created.filter((c) => c.request.jobId === 'tight')).toEqual([]);
    expect(await view(t, 'tight')).toMatchObject({ phase: 'Failed', reason: expect.stringMatching(/^DeadlineExceeded/) });
    expect(deadlineAt).toBe(clock.now() - 12_000 + 10 * 60_000 + 5_000);
  });

  it('a Job made after a slow listing counts its activeDeadlineSeconds from when it is made', async () => {
    const clock = new FakeClock();
    const slow = new SlowListSpoke('carbon-kr', clock, 12_000);
    const spokes: Spoke[] = [{ info: { name: 'carbon-kr', region: 'KR', zone: 'KR' }, client: slow }];
    t = await testHub({ regions: [region('KR')] }, { clock, spokes, carbonProvider: new FlatProvider(clock, { KR: 400 }) });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'roomy', cpu: 4, runtime_minutes: 10, deadline_minutes: 11 });
    await schedule(t);
    const deadlineAt = Date.parse((await view(t, 'roomy')).deadline_at);
    await dispatch(t);
    const [made] = slow.created.filter((c) => c.request.jobId === 'roomy');
    // Kubernetes stops a Job activeDeadlineSeconds after it starts: at the job's own deadline, not 12 s past it.
    expect(made?.at).toBe(deadlineAt - 11 * 60_000 + 12_000);
    expect(made!.at + made!.request.activeDeadlineSeconds * 1000).toBe(deadlineAt);
  });

  it('a running job on a faster ECO pool than another cluster has keeps its cores held for its whole run', async () => {
    // Hour slots over 12 h; KR's ECO pool runs a job 1.5x as long, JP's 3x.
    const clock = new FakeClock();
    const provider = new FlatProvider(clock, { KR: 400, JP: 400 });
    t = await testHub(
      {
        slot_seconds: 3600,
        horizon_hours: 12,
        regions: [
          region('KR', [{ name: 'FAST', share: 0.5 }, { name: 'ECO', share: 0.5, speed_factor: 1.5, power_factor: 0.6 }]),
          region('JP', [{ name: 'FAST', share: 0.5 }, { name: 'ECO', share: 0.5, speed_factor: 3, power_factor: 0.5 }]),
        ],
        migration: { network_gco2_per_gb: {} },
      },
      { clock, carbonProvider: provider },
    );
    await t.hub.loops.carbon.runOnce();
    // 6 h of work on KR's 8-core ECO pool: it runs 9 h, until 09:00.
    await submit(t, { job_id: 'long', cpu: 8, mem_gb: 4, runtime_minutes: 360, deadline_minutes: 24 * 60, urgency: 'flexible', affinity_regions: ['KR'] });
    expect((await schedule(t)).placed).toEqual([expect.objectContaining({ job_id: 'long', cluster: 'carbon-kr', pool: 'ECO' })]);
    await dispatch(t);
    await dispatch(t);
    expect((await view(t, 'long')).phase).toBe('Running');

    // The plan cuts the rest of 'long' to what JP's slower ECO pool could run in the horizon (4 h of work), and so
    // holds KR's ECO cores for 6 h only: the what-if puts another 8-core job on them at 06:00, while 'long' runs there.
    const res = await t.hub.app.inject({
      method: 'POST',
      url: '/hub/whatif',
      payload: { cpu: 8, mem_gb: 4, runtime_minutes: 60, deadline_minutes: 24 * 60, urgency: 'flexible', affinity_regions: ['KR'] },
    });
    const answer = res.json();
    expect(answer.placed).toBe(true);
    if (answer.pool === 'ECO') expect(Date.parse(answer.planned_start)).toBeGreaterThanOrEqual(clock.now() + 9 * 3_600_000);
    // And the running job's whole-run estimate loses a third of its rest, with nothing done yet.
    const estimate = (await view(t, 'long')).co2_estimate_g;
    expect(answer.schedule.placed.find((p: { job_id: string }) => p.job_id === 'long').co2_gco2).toBeCloseTo(estimate, 3);
  });
});
