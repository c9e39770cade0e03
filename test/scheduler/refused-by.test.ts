import { afterEach, describe, expect, it } from 'vitest';
import { AdapterError } from '../../src/domain/errors.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import type { SpokeJobRequest } from '../../src/spokes/types.js';
import { FakeClock } from '../support/fake-clock.js';
import { dispatch, FlatProvider, region, schedule, submit, view } from '../support/flat-hub.js';
import { testHub, type TestHub } from '../support/hub.js';

/** A cluster whose admission refuses every CASPIAN Job (a webhook, a policy): for good, as a 4xx is. */
class RefusingSpoke extends SimulatedSpoke {
  refusals = 0;
  override async createJob(request: SpokeJobRequest): Promise<'created' | 'adopted'> {
    this.refusals++;
    throw new AdapterError(`admission webhook "policy.example.com" denied the request: Job ${request.jobName} is not allowed`, false);
  }
}

describe('refused_by of a job requeued off a lost cluster', () => {
  let t: TestHub;
  afterEach(() => t.hub.stop());

  /** 'long' runs on KR; a move to the cleaner JP is refused (JP in its refused_by); then KR is lost and the job is Pending. */
  async function requeuedAfterRefusal() {
    const clock = new FakeClock();
    const provider = new FlatProvider(clock, { KR: 100, JP: 700 });
    const kr = new SimulatedSpoke('carbon-kr', { cpu: 16, memGb: 64, gpu: 0 }, clock);
    const jp = new RefusingSpoke('carbon-jp', { cpu: 16, memGb: 64, gpu: 0 }, clock);
    const spokes = [
      { info: { name: 'carbon-kr', region: 'KR', zone: 'KR' }, client: kr },
      { info: { name: 'carbon-jp', region: 'JP', zone: 'JP' }, client: jp },
    ];
    t = await testHub({ regions: [region('KR'), region('JP')], migration: { network_gco2_per_gb: {} } }, { clock, spokes, carbonProvider: provider });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'long', runtime_minutes: 600, deadline_minutes: 1440, urgency: 'urgent' });
    await schedule(t);
    await dispatch(t);
    await dispatch(t);
    expect(await view(t, 'long')).toMatchObject({ phase: 'Running', job: { cluster: 'carbon-kr' } });

    provider.values.KR = 700;
    provider.values.JP = 100;
    await t.hub.loops.carbon.runOnce();
    await schedule(t);
    await dispatch(t);
    expect(jp.refusals).toBe(1);
    expect(await view(t, 'long')).toMatchObject({ phase: 'Running', refused_by: ['carbon-jp'] });

    // KR stops answering for longer than spokes.lost_after_seconds: the job is requeued, Pending.
    kr.setReachable(false);
    await dispatch(t);
    clock.advanceMinutes(16);
    await t.hub.loops.carbon.runOnce();
    await dispatch(t);
    expect(await view(t, 'long')).toMatchObject({ phase: 'Pending', refused_by: ['carbon-jp'] });
    return { kr };
  }

  it('is not planned onto the cluster that refused its Job (its gate there would fail it), but where it may run', async () => {
    const { kr } = await requeuedAfterRefusal();
    // KR answers again. JP is still the cleaner, but JP refuses this job's Jobs.
    kr.setReachable(true);
    const summary = await schedule(t);
    expect(summary.placed.find((p: { job_id: string }) => p.job_id === 'long')).toMatchObject({ cluster: 'carbon-kr' });
    await dispatch(t);
    expect((await view(t, 'long')).phase).not.toBe('Failed');
  });

  it('is Unschedulable, naming the refusal, while only that cluster answers', async () => {
    await requeuedAfterRefusal();
    const summary = await schedule(t);
    expect(summary.placed).toEqual([]);
    expect(summary.unschedulable).toEqual([{ job_id: 'long', reason: 'every ready cluster among its regions refused a Job of it (refused_by: carbon-jp)' }]);
    expect((await view(t, 'long')).phase).toBe('Unschedulable');
  });
});
