import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import type { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';
import { twoRegions } from '../support/two-regions.js';

/** A simulated cluster whose status answers but whose Job list can be made to fail (an API server that times out listing Jobs). */
class ListFailingSpoke extends SimulatedSpoke {
  listFails = false;
  override async listJobs() {
    if (this.listFails) throw new Error(`list Jobs on ${this.cluster} timed out`);
    return super.listJobs();
  }
}

describe('read and control endpoints agree with the plan', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
  });

  const submit = (job_id: string, extra: object = {}) =>
    t!.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id, cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240, ...extra } });

  /** A hub over KR and JP, each a cluster whose Job list can be made to fail. */
  const listFailingHub = async (): Promise<{ hub: TestHub; spokes: Spoke[]; clock: FakeClock }> => {
    const { clock, regions } = twoRegions(16, 64);
    const spokes: Spoke[] = regions.map((r) => ({
      info: { name: r.cluster as string, region: r.name as string, zone: r.zone as string },
      client: new ListFailingSpoke(r.cluster as string, { cpu: 16, memGb: 64, gpu: 0 }, clock),
    }));
    t = await testHub({ regions }, { clock, spokes });
    return { hub: t, spokes, clock };
  };

  it('GET /ready answers 503 while every cluster has a failing Job list and no schedule cycle can place anything', async () => {
    const { hub: t, spokes } = await listFailingHub();
    await t.hub.loops.carbon.runOnce();
    for (const s of spokes) (s.client as ListFailingSpoke).listFails = true;
    // The dispatch cycle finds every Job list failing: no cluster answers in full until its Jobs are listed again.
    await t.hub.loops.dispatch.runOnce();
    await submit('a');
    const summary = (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json();
    // The hub cannot plan: the scheduler uses no cluster whose Job list failed.
    expect(summary.placed).toEqual([]);
    expect(summary.unschedulable).toEqual([{ job_id: 'a', reason: expect.stringContaining('no ready cluster') }]);
    // ...yet readiness says it can take work.
    const ready = await t.hub.app.inject({ method: 'GET', url: '/ready' });
    expect(ready.json()).toEqual({ ready: false, clusters_ready: [] });
    expect(ready.statusCode).toBe(503);
  });

  it('GET /hub/clusters and /hub/stats show a cluster whose Job list fails as not ready, as the plan treats it', async () => {
    const { hub: t, spokes, clock } = await listFailingHub();
    await t.hub.loops.carbon.runOnce();
    await t.hub.loops.dispatch.runOnce();
    (spokes[0]!.client as ListFailingSpoke).listFails = true;
    clock.advance(30_000);
    await t.hub.loops.dispatch.runOnce();
    // A schedule cycle (its status check answers) plans around carbon-kr: its Jobs cannot be read.
    await submit('a', { affinity_regions: ['KR', 'JP'] });
    const summary = (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json();
    expect(summary.placed).toEqual([expect.objectContaining({ job_id: 'a', cluster: 'carbon-jp' })]);
    const kr = (await t.hub.app.inject({ method: 'GET', url: '/hub/clusters' })).json().clusters[0];
    expect(kr.unready_since).not.toBeNull();
    // README: such a cluster "stays" NotReady until its Jobs are listed again, however well it answers its status checks.
    expect(kr.ready).toBe(false);
    expect((await t.hub.app.inject({ method: 'GET', url: '/hub/stats' })).json().clusters_ready).toBe(1);
  });

  it('POST /hub/whatif claims no saving for an urgent job it runs at once on FAST in its first region, when FAST has a power factor', async () => {
    // FAST nodes capped at 80% power: the plan prices that, and so does the carbon account's counterfactual.
    const { regions } = twoRegions(16, 64);
    const withPools = regions.map((r) => ({ ...r, pools: [{ name: 'FAST', share: 1, power_factor: 0.8 }] }));
    t = await testHub({ regions: withPools });
    await t.hub.loops.carbon.runOnce();
    await t.hub.loops.dispatch.runOnce();
    const res = await t.hub.app.inject({
      method: 'POST',
      url: '/hub/whatif',
      payload: { cpu: 4, mem_gb: 8, runtime_minutes: 60, deadline_minutes: 120, urgency: 'urgent', affinity_regions: ['KR'] },
    });
    const answer = res.json();
    // Placed exactly as the counterfactual runs: now, in its first allowed region, on FAST.
    expect(answer).toMatchObject({ placed: true, region: 'KR', pool: 'FAST', wait_seconds: 0 });
    // ...so the counterfactual is the same run and nothing is saved; the answer prices the counterfactual at full power.
    expect(answer.counterfactual_g).toBeCloseTo(answer.co2_estimate_g, 6);
    expect(answer.saved_g).toBeCloseTo(0, 6);
  });

  it('POST /hub/whatif prices the counterfactual in the job\'s first region even when that region is down now', async () => {
    const { clock, spokes, regions } = twoRegions(16, 64);
    t = await testHub({ regions }, { clock, spokes });
    await t.hub.loops.carbon.runOnce();
    await t.hub.loops.dispatch.runOnce();
    const job = { cpu: 4, mem_gb: 8, runtime_minutes: 60, deadline_minutes: 600, urgency: 'flexible', affinity_regions: ['KR', 'JP'] };
    const whatIf = async () => (await t!.hub.app.inject({ method: 'POST', url: '/hub/whatif', payload: job })).json();
    const krUp = await whatIf();
    // KR stops answering: the job would run in JP, but its account will still compare with KR, its first region.
    (spokes[0]!.client as SimulatedSpoke).setReachable(false);
    const krDown = await whatIf();
    expect(krDown).toMatchObject({ placed: true, region: 'JP' });
    // Same clock, same forecast, same job: "the job run at once in its first allowed region" is the same run.
    expect(krDown.counterfactual_g).toBeCloseTo(krUp.counterfactual_g, 6);
  });

});
