import { describe, expect, it } from 'vitest';
import type { AppWrapper } from '../../src/domain/app-wrapper.js';
import { decisionsOf, type CycleDecisions } from '../../src/scheduler/decisions.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { input, job } from '../support/optimizer-builders.js';

const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

/** One job of two one-hour slots planned at slot 0 in KR on `pool`; KR's intensity 100, 200, 600 by slot. */
function cycle(pool: 'FAST' | 'ECO', previous: AppWrapper[] = []): CycleDecisions {
  const raw = input()
    .regions('KR')
    .horizon(3)
    .capacity('KR', { cpu: 4 })
    .pools('KR', { name: 'FAST', speed: 1, power: 1 }, { name: 'ECO', speed: 1.5, power: 0.6 })
    .carbon('KR', [100, 200, 600])
    .job(job('a').runtime(2).window(0, 2))
    .obj();
  return {
    at: T0,
    strategy: 'highs',
    input: raw,
    plans: [{ job_id: 'a', region: 'KR', pool, start_slot: 0, cost_gco2: 1, migration_cost_gco2: 0 }],
    placed: [{ job_id: 'a', cluster: 'carbon-kr', region: 'KR', planned_start: new Date(T0).toISOString(), co2_gco2: 1 }],
    migrations: [],
    previous: new Map(previous.map((aw) => [aw.jobId, aw])),
  };
}

describe('decisionsOf with worker pools', () => {
  it('scores the CI over the whole run on the chosen pool: ECO holds the job for three slots, FAST for two', () => {
    expect(decisionsOf(cycle('FAST'))[0]?.ci_score_gco2_per_kwh).toBe(150);
    expect(decisionsOf(cycle('ECO'))[0]?.ci_score_gco2_per_kwh).toBe(300);
  });

  it('a plan that only changes the pool is a decision; the same cluster, start and pool is not', () => {
    const onFast = { ...appWrapper('a').phase('Planned').target('carbon-kr').obj(), plannedStartAt: T0, targetPool: 'FAST' as const };
    expect(decisionsOf(cycle('FAST', [onFast]))).toEqual([]);
    expect(decisionsOf(cycle('ECO', [onFast]))).toHaveLength(1);
  });

  it('a move decided in an earlier cycle and still waiting to be carried out is not decided again, though its start follows the clock', () => {
    const running = () => appWrapper('a').phase('Running').placement({ cluster: 'carbon-jp', jobName: 'a', generation: 1, pool: 'FAST' });
    // As the cycle reports it: planned to KR again at a later slot 0, and no new migration (the move was counted when decided).
    const laterSlot0 = new Date(T0 + 40 * 60_000).toISOString();
    const again = (aw: AppWrapper): CycleDecisions => {
      const base = cycle('FAST', [aw]);
      return { ...base, placed: base.placed.map((p) => ({ ...p, planned_start: laterSlot0 })) };
    };
    const decided = { ...running().migrating().target('carbon-kr').obj(), plannedStartAt: T0, targetPool: 'FAST' as const };
    expect(decisionsOf(again(decided))).toEqual([]);
    // The same job not yet moving: the plan that moves it is a decision, with its migration.
    const notYet = { ...running().target('carbon-jp').obj(), plannedStartAt: T0 };
    const moving: CycleDecisions = { ...cycle('FAST', [notYet]), migrations: [{ job_id: 'a', from_cluster: 'carbon-jp', to_cluster: 'carbon-kr' }] };
    expect(decisionsOf(moving)).toEqual([expect.objectContaining({ migration_from: 'carbon-jp', migration_to: 'carbon-kr' })]);
  });
});
