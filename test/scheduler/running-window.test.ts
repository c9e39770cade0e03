import { afterEach, describe, expect, it } from 'vitest';
import type { AppWrapper } from '../../src/domain/app-wrapper.js';
import type { OptimizeInput, OptimizeOptions, OptimizeOutput } from '../../src/optimizer/index.js';
import { optimize } from '../../src/optimizer/index.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { FakeClock } from '../support/fake-clock.js';
import { FlatProvider, region, schedule, submit } from '../support/flat-hub.js';
import { testHub, type TestHub } from '../support/hub.js';

/**
 * A running job is offered "stay, or move now", its window cut for the SLOWEST pool among the regions it may go
 * to. Where its pool is faster (its own cluster, always), that window holds later starts too: without its latest
 * start of slot 0 the optimizer could "plan" the job that already runs to start later, and give the slots it runs
 * in now to another job, while the hub keeps it running where it is (a stay keeps its start): both on the same cores.
 */

type Placed = { job_id: string; cluster: string; pool: string; planned_start: string };
const MIN = 60_000;

describe('a running job in the plan', () => {
  let t: TestHub;
  afterEach(() => t.hub.stop());

  it('is held from now where it runs, not at a later start the optimizer may pick on its faster home pool', async () => {
    const clock = new FakeClock();
    let seen: OptimizeInput | undefined;
    let out: OptimizeOutput | undefined;
    const spy = async (input: OptimizeInput, options: Partial<OptimizeOptions>) => {
      seen = input;
      out = await optimize(input, options);
      return out;
    };
    // KR: 64 cores, plain FAST. JP: FAST nodes three times as slow. Migration is off: the running job cannot move at all.
    t = await testHub(
      { regions: [region('KR', undefined, 64), region('JP', [{ name: 'FAST', share: 1, speed_factor: 3 }], 16)], migration: { allow: false, network_gco2_per_gb: {} } },
      { clock, carbonProvider: new FlatProvider(clock, { KR: 700, JP: 100 }), optimize: spy },
    );
    await t.hub.loops.carbon.runOnce();
    const now = clock.now();
    // 'r' runs on KR: one core, 20 minutes of work left.
    const base = appWrapper('r').phase('Running').target('carbon-kr').placement({ cluster: 'carbon-kr', jobName: 'r', generation: 1, pool: 'FAST' }).obj();
    const r: AppWrapper = { ...base, spec: { ...base.spec, cpu: 1, memGb: 1, runtimeMinutes: 20 }, targetPool: 'FAST', submittedAt: now, updatedAt: now, startedAt: now, plannedStartAt: now, deadlineAt: now + 600 * MIN };
    await t.hub.lifecycle.store.insert(r);
    // 'u' needs all 64 KR cores for 30 minutes, done within 45: it must start by 00:15, and r holds a core until 00:20.
    await submit(t, { job_id: 'u', cpu: 64, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 45, urgency: 'urgent', affinity_regions: ['KR'] });
    const summary = await schedule(t);

    // r stays on KR with its own start (now), as applied and stored.
    expect(summary.placed.find((p: Placed) => p.job_id === 'r')).toMatchObject({ cluster: 'carbon-kr', planned_start: new Date(now).toISOString() });
    // r's window is 12 slots (4 slots of work x JP's speed 3, though r may not even go to JP): the plan once started r
    // at slot 6, after u, and so planned 'u' onto KR's 64 cores at once, one of which r uses until 00:20 (its Job
    // would wait there, and miss its deadline). 'u' cannot start before 00:20 nor finish by 00:45: it is not placed.
    expect(seen!.jobs.find((j) => j.job_id === 'r')).toMatchObject({ release_slot: 0, latest_start_slot: 0 });
    expect(summary.placed.find((p: Placed) => p.job_id === 'u')).toBeUndefined();
    expect(out!.plans.find((p) => p.job_id === 'r')!.start_slot).toBe(0);
  });
});
