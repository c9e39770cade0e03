import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { optimize } from '../../src/optimizer/index.js';
import type { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import type { HubOverrides } from '../../src/main.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { deferred } from '../support/deferred.js';
import type { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';
import { metricValue } from '../support/metric-value.js';
import { twoRegions } from '../support/two-regions.js';

/**
 * Requests that land while a schedule or dispatch cycle is in progress, interleaved deterministically with
 * deferred promises (a spoke call or the optimizer held open by the test).
 */
describe('concurrency between the API and the loops', () => {
  let t: TestHub;
  let clock: FakeClock;
  let spokes: Spoke[];
  const sim = (i: number) => spokes[i]?.client as SimulatedSpoke;
  const store = () => t.hub.lifecycle.store;
  const dispatch = () => t.hub.loops.dispatch.runOnce();
  const cancel = (id: string) => t.hub.app.inject({ method: 'DELETE', url: `/hub/appwrappers/${id}` });

  /** A hub over two simulated clusters (KR, JP), `config` merged over the test defaults. */
  const hub = async (config: Record<string, unknown> = {}, overrides: HubOverrides = {}) => {
    const world = twoRegions(8, 32);
    ({ clock, spokes } = world);
    t = await testHub({ regions: world.regions, migration: { network_gco2_per_gb: {} }, ...config }, { clock, spokes, ...overrides });
  };
  afterEach(() => t?.hub.stop());

  /** A job planned on `cluster` to start now, `runtimeMinutes` of work and a deadline `deadlineMinutes` away. */
  const planned = (id: string, { cluster = 'carbon-kr', runtimeMinutes = 30, deadlineMinutes = 180 } = {}) => {
    const aw = appWrapper(id).cpu(2).phase('Planned').target(cluster).obj();
    return {
      ...aw,
      spec: { ...aw.spec, runtimeMinutes, deadlineMinutes },
      submittedAt: clock.now(),
      deadlineAt: clock.now() + deadlineMinutes * 60_000,
      plannedStartAt: clock.now(),
      updatedAt: clock.now(),
    };
  };

  /** Holds the next call of `method` on `target` until the test releases it; `entered` resolves when it is called. */
  const holdNext = <K extends 'listJobs' | 'createJob' | 'deleteJob'>(target: SimulatedSpoke, method: K) => {
    const entered = deferred();
    const release = deferred();
    const real = (target[method] as (...args: unknown[]) => Promise<unknown>).bind(target);
    vi.spyOn(target, method).mockImplementationOnce((async (...args: unknown[]) => {
      entered.resolve();
      await release.promise;
      return real(...args);
    }) as never);
    return { entered, release };
  };

  it('a cancel that lands between the dispatch cycle\'s Job list and its claim step counts its one Job deletion once', async () => {
    await hub();
    await store().insert(planned('a'));
    await dispatch();
    await dispatch();
    expect((await store().get('a'))?.phase).toBe('Running');

    // The next cycle lists carbon-kr (Job `a` running), then waits on carbon-jp's list...
    const jpList = holdNext(sim(1), 'listJobs');
    const cycle = dispatch();
    await jpList.entered.promise;
    // ...while the user cancels `a`: the cancel deletes its Job on carbon-kr at once.
    expect((await cancel('a')).statusCode).toBe(200);
    expect(await sim(0).listJobs()).toEqual([]);
    expect(await metricValue(t.hub.metrics, 'caspian_dispatch_actions_total', { cluster: 'carbon-kr', action: 'deleted' })).toBe(1);

    jpList.release.resolve();
    const summary = await cycle;
    // The cycle's listing is older than the cancel: it "finds" the Job the cancel already deleted, queues it as a
    // stray, deletes it a second time and counts and reports that deletion as its own.
    expect(summary.deleted).toEqual([]);
    expect(await metricValue(t.hub.metrics, 'caspian_dispatch_actions_total', { cluster: 'carbon-kr', action: 'deleted' })).toBe(1);
    expect(t.log.messages()).not.toContain("Job a found on carbon-kr is not a's current Job; deleting it");
  });

  it('a schedule cycle whose planned job is forgotten (retention) during its solve skips that job and applies the rest', async () => {
    const hold = deferred();
    let holding = false;
    const solving = deferred();
    await hub(
      { store: { kind: 'memory', retention_hours: 1 }, spokes: { lost_after_seconds: 0 } },
      {
        optimize: async (input, options) => {
          if (holding) {
            solving.resolve();
            await hold.promise;
          }
          return optimize(input, options);
        },
      },
    );
    await t.hub.loops.carbon.runOnce();
    // `a` runs 30 minutes on carbon-kr; carbon-kr stops answering for two hours, during which `a` finishes.
    await store().insert(planned('a', { runtimeMinutes: 30, deadlineMinutes: 600 }));
    await dispatch();
    await dispatch();
    expect((await store().get('a'))?.phase).toBe('Running');
    sim(0).setReachable(false);
    await dispatch();
    clock.advanceMinutes(120);
    sim(0).setReachable(true);
    await t.hub.loops.carbon.runOnce();
    // A job submitted meanwhile, for the next plan to place.
    const submitted = await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id: 'b', cpu: 1, mem_gb: 1, runtime_minutes: 30, deadline_minutes: 600 } });
    expect(submitted.statusCode).toBe(201);

    // A schedule cycle starts (it sees `a` running on carbon-kr, which answers again) and solves...
    holding = true;
    const scheduled = t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    await solving.promise;
    // ...while the dispatch loop ticks: it reads `a` Succeeded 90 minutes ago, and forgets it (retention 1 h).
    const summary = await dispatch();
    expect(summary.synced).toEqual([{ job_id: 'a', phase: 'Succeeded' }]);
    expect(summary.pruned).toBe(1);
    hold.resolve();

    const answer = await scheduled;
    // A job gone since the snapshot is one that changed meanwhile: the cycle should skip it and apply the rest.
    expect(answer.statusCode).toBe(200);
    expect((await store().get('b'))?.phase).toBe('Planned');
    expect(await metricValue(t.hub.metrics, 'caspian_schedule_cycles_total', { outcome: 'error' })).toBe(0);
  });

  it('a job cancelled while the dispatch cycle syncs it is not reported in the cycle\'s synced list as a phase read back from its Job', async () => {
    await hub();
    await store().insert(planned('a'));
    await dispatch();
    await dispatch();
    expect((await store().get('a'))?.phase).toBe('Running');

    // The cycle's first store write is its sync of `a` (step 5): held while the user cancels `a`.
    const entered = deferred();
    const release = deferred();
    const update = store().update.bind(store());
    vi.spyOn(store(), 'update').mockImplementationOnce(async (jobId, change) => {
      entered.resolve();
      await release.promise;
      return update(jobId, change);
    });
    const cycle = dispatch();
    await entered.promise;
    expect((await cancel('a')).statusCode).toBe(200);
    release.resolve();

    const summary = await cycle;
    // `synced` is documented as the phase changes read back from the spokes; the cycle read nothing new from
    // `a`'s Job (it was Running, as stored): the cancel was the API's, not the spoke's.
    expect(summary.synced).toEqual([]);
  });

  it('a job cancelled after a create whose answer was lost has that Job deleted, even when its cluster is away past the retention', async () => {
    await hub({ store: { kind: 'memory', retention_hours: 1 } });
    await store().insert(planned('a'));
    // The create reaches carbon-kr, then the connection drops before its answer: the hub sees a failure it may retry.
    vi.spyOn(sim(0), 'createJob').mockImplementationOnce(async function (this: SimulatedSpoke, request) {
      await Object.getPrototypeOf(sim(0)).createJob.call(sim(0), request);
      sim(0).setReachable(false);
      throw new Error('socket hang up');
    });
    await dispatch();
    expect((await store().get('a'))?.unconfirmedJobs).toEqual([{ cluster: 'carbon-kr', jobName: 'a' }]);
    // The user cancels; carbon-kr stays away for two hours, past the job's retention.
    expect((await cancel('a')).statusCode).toBe(200);
    clock.advanceMinutes(120);
    await dispatch();
    // Not forgotten while a Job of it may run: it used to be, and that Job ran on once its cluster came back.
    expect((await store().get('a'))?.staleJobs).toEqual([{ cluster: 'carbon-kr', jobName: 'a' }]);
    sim(0).setReachable(true);
    await dispatch();
    expect(await sim(0).listJobs()).toEqual([]);
    await dispatch();
    expect(await store().get('a')).toBeUndefined();
  });

  it('opens the gate of a job whose unchanged plan (same cluster and pool, start now) a schedule cycle re-applied while an earlier gate was being created', async () => {
    await hub();
    await t.hub.loops.carbon.runOnce();
    // 'first' is listed before 'tight'. 'tight' has 30 minutes of work and 20 s of slack: its gate must open now.
    const urgentOnKr = (aw: ReturnType<typeof planned>) => ({ ...aw, spec: { ...aw.spec, affinityRegions: ['KR'], urgency: 'urgent' as const }, targetPool: 'FAST' as const });
    await store().insert(urgentOnKr(planned('first')));
    await store().insert({ ...urgentOnKr(planned('tight')), deadlineAt: clock.now() + 30 * 60_000 + 20_000 });
    // While 'first' is being created, a schedule cycle applies its plan: 'tight' stays on KR, FAST, slot 0 (its
    // start and updatedAt rewritten all the same).
    const create = sim(0).createJob.bind(sim(0));
    let replanned: Awaited<ReturnType<typeof t.hub.loops.schedule.runOnce>> | undefined;
    vi.spyOn(sim(0), 'createJob').mockImplementationOnce(async (request) => {
      replanned = await t.hub.loops.schedule.runOnce();
      return create(request);
    });
    const summary = await dispatch();
    expect(replanned?.placed).toContainEqual(expect.objectContaining({ job_id: 'tight', cluster: 'carbon-kr', pool: 'FAST' }));
    // Held back a tick, 'tight' would have been failed then as unable to finish.
    expect(summary.created.map((c) => c.job_id)).toEqual(['first', 'tight']);
    clock.advance(30_000);
    await dispatch();
    expect(await store().get('tight')).toMatchObject({ phase: 'Running', unconfirmedJobs: undefined });
  });
});
