import { afterEach, describe, expect, it } from 'vitest';
import { optimize } from '../../src/optimizer/index.js';
import { compileModel, optionCount } from '../../src/optimizer/model.js';
import type { OptimizeInput } from '../../src/optimizer/types.js';
import type { OptimizeFn } from '../../src/scheduler/schedule-cycle.js';
import { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';

/**
 * optimizer.max_options in whole hubs: the default three regions (KR, JP, CN) of one FAST pool each, 5-minute
 * slots, a 288-slot horizon. A 30-minute job due in a day has 283 starts a region: 849 candidate starts.
 */

const submit = async (t: TestHub, body: Record<string, unknown>) => {
  const res = await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { cpu: 1, mem_gb: 1, runtime_minutes: 30, deadline_minutes: 240, ...body } });
  expect(res.statusCode, res.body).toBe(201);
};
const schedule = async (t: TestHub) => (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json();
const deferralWarnings = (t: TestHub) => t.log.lines.filter((l) => String(l.msg).includes('waiting jobs left for a later cycle'));

/**
 * A hub with a cap of 1000 whose two planned jobs hold 1698 starts: 'day1' is planned in one cycle, 'day2' in the next
 * (the first waiting job always goes), each a 30-minute job due in a day (849 starts).
 */
async function hubWithHeldJobsFillingTheCap(): Promise<TestHub> {
  const t = await testHub({ optimizer: { max_options: 1000 } });
  await t.hub.loops.carbon.runOnce();
  await submit(t, { job_id: 'day1', runtime_minutes: 30, deadline_minutes: 24 * 60 });
  await schedule(t);
  await submit(t, { job_id: 'day2', runtime_minutes: 30, deadline_minutes: 24 * 60 });
  expect(await schedule(t)).toMatchObject({ jobs_deferred: 0 });
  return t;
}

/** The real optimizer, keeping every input it is given. */
function recording(): { optimize: OptimizeFn; inputs: OptimizeInput[] } {
  const inputs: OptimizeInput[] = [];
  return {
    inputs,
    optimize: (input, options) => {
      inputs.push(input);
      return optimize(input, options);
    },
  };
}

describe('optimizer.max_options', () => {
  let t: TestHub;
  afterEach(() => t.hub.stop());

  it('never hands the optimizer more candidate starts than the cap when only waiting jobs are stored (counted as the optimizer counts them)', async () => {
    // 30 jobs of 1 minute due in an hour, planned a minute later: starts 0-11 in each region, 36 a job, 1080 in all.
    const clock = new FakeClock();
    const rec = recording();
    t = await testHub({ optimizer: { max_options: 1000 } }, { clock, optimize: rec.optimize });
    for (let i = 0; i < 30; i++) await submit(t, { job_id: `j${i}`, runtime_minutes: 1, deadline_minutes: 60 });
    clock.advance(60_000);
    await t.hub.loops.carbon.runOnce();
    const summary = await schedule(t);
    const input = rec.inputs.at(-1)!;
    expect(optionCount(compileModel(input).model)).toBeLessThanOrEqual(1000);
    expect(summary).toMatchObject({ jobs_considered: 27, jobs_deferred: 3 });
  });

  it('counts a job longer than the horizon as the one start it is offered (start now), not as its whole window', async () => {
    // 'long' (25 h, due in 2 days) gets 3 options, 'day' (due in 2 days) 849: 852 in all, under the cap.
    const rec = recording();
    t = await testHub({ optimizer: { max_options: 1000 } }, { optimize: rec.optimize });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'long', runtime_minutes: 25 * 60, deadline_minutes: 2 * 24 * 60 });
    await submit(t, { job_id: 'day', runtime_minutes: 30, deadline_minutes: 2 * 24 * 60 + 1 });
    const summary = await schedule(t);
    expect(optionCount(compileModel(rec.inputs.at(-1)!).model)).toBe(852);
    expect(summary.jobs_deferred).toBe(0);
    expect((await t.hub.lifecycle.store.get('day'))?.phase).toBe('Planned');
  });

  it('fails a job that can no longer finish at once, whatever the cap: it never reaches the optimizer', async () => {
    // A minute on, 'a' (due in 23 h: 270 starts x 3 = 810) fits the cap, 'b' (23.5 h: 828) does not; 'hopeless' (24 h of work due in
    // 24 h, a minute late) sorts after both.
    const clock = new FakeClock();
    t = await testHub({ optimizer: { max_options: 1000 } }, { clock });
    await submit(t, { job_id: 'hopeless', runtime_minutes: 24 * 60, deadline_minutes: 24 * 60 });
    await submit(t, { job_id: 'a', runtime_minutes: 30, deadline_minutes: 23 * 60 });
    await submit(t, { job_id: 'b', runtime_minutes: 30, deadline_minutes: 23 * 60 + 30 });
    clock.advance(60_000);
    await t.hub.loops.carbon.runOnce();
    const summary = await schedule(t);
    expect((await t.hub.lifecycle.store.get('hopeless'))?.phase).toBe('Failed');
    expect(summary.failed.map((f: { job_id: string }) => f.job_id)).toEqual(['hopeless']);
    expect(summary).toMatchObject({ jobs_deferred: 1, placed: [expect.objectContaining({ job_id: 'a' })] });
    expect(deferralWarnings(t)).toEqual([expect.objectContaining({ firstDeferred: 'b', deferred: 1, options: 810, maxOptions: 1000 })]);
  });

  it('answers a what-if as the next cycle would plan the job once submitted, and only the cycle logs the deferral', async () => {
    // 'day' (849) is stored; the asked job (due in 2 days: 864) does not fit beside it under a cap of 1000.
    t = await testHub({ optimizer: { max_options: 1000 } });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'day', runtime_minutes: 30, deadline_minutes: 24 * 60 });
    const whatIf = (
      await t.hub.app.inject({ method: 'POST', url: '/hub/whatif', payload: { job_id: 'asked', cpu: 1, mem_gb: 1, runtime_minutes: 30, deadline_minutes: 2 * 24 * 60 } })
    ).json();
    expect(whatIf).toMatchObject({
      placed: false,
      reason: 'the next cycle would leave it for a later one: the jobs that must start before it fill optimizer.max_options (1000 candidate starts)',
      schedule: { jobs_deferred: 1 },
    });
    expect(deferralWarnings(t)).toEqual([]);
    await submit(t, { job_id: 'asked', runtime_minutes: 30, deadline_minutes: 2 * 24 * 60 });
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/schedule?dry_run=true' })).json()).toMatchObject({ jobs_deferred: 1 });
    expect(deferralWarnings(t)).toEqual([]);
    const summary = await schedule(t);
    expect(summary.placed.map((p: { job_id: string }) => p.job_id)).toEqual(['day']);
    expect((await t.hub.lifecycle.store.get('asked'))?.phase).toBe('Pending');
    expect(deferralWarnings(t)).toHaveLength(1);
  });
  it('counts a planned job in the one region it may stay in when migration is not allowed, as the optimizer gets it', async () => {
    const rec = recording();
    t = await testHub({ optimizer: { max_options: 1000 }, migration: { allow: false } }, { optimize: rec.optimize });
    await t.hub.loops.carbon.runOnce();
    await submit(t, { job_id: 'day', runtime_minutes: 30, deadline_minutes: 24 * 60 });
    await schedule(t);
    expect((await t.hub.lifecycle.store.get('day'))?.phase).toBe('Planned');
    // 'second' (due in 525 min: 100 starts a region) fits beside 'day' pinned to its region: 283 + 300 = 583 (849 + 300 did not).
    await submit(t, { job_id: 'second', runtime_minutes: 30, deadline_minutes: 525 });
    const summary = await schedule(t);
    expect(optionCount(compileModel(rec.inputs.at(-1)!).model)).toBe(583);
    expect(summary.jobs_deferred).toBe(0);
    expect((await t.hub.lifecycle.store.get('second'))?.phase).toBe('Planned');
  });

  it('takes waiting jobs by latest start: a long run due a little later goes before short ones with a day of slack', async () => {
    t = await testHub({ optimizer: { max_options: 1000 } });
    await t.hub.loops.carbon.runOnce();
    // a1, a2: 30 min due in 24 h (849 starts each). b: 23 h of work due in 24 h 5 min, its latest start in 65 min (39 starts).
    await submit(t, { job_id: 'a1', runtime_minutes: 30, deadline_minutes: 24 * 60 });
    await submit(t, { job_id: 'a2', runtime_minutes: 30, deadline_minutes: 24 * 60 });
    await submit(t, { job_id: 'b', runtime_minutes: 23 * 60, deadline_minutes: 24 * 60 + 5 });
    const first = await schedule(t);
    expect(first.placed.map((p: { job_id: string }) => p.job_id).sort()).toEqual(['a1', 'b']);
    // By deadline, b came after a2, which did not fit, and was left until it could no longer finish.
    expect(first.jobs_deferred).toBe(1);
    expect((await t.hub.lifecycle.store.get('a2'))?.phase).toBe('Pending');
  });

  it('plans every waiting job that must start before the next cycle, and the first of the others, when the jobs that hold room fill the cap', async () => {
    // The schedule period is 5 min and the solve limit 30 s: a later cycle surely runs within 10.5 min. 'due1' and 'due2'
    // (25 min of work due in 35: their latest start in 10 min) cannot wait for it; of 'roomy1' and 'roomy2' (due in 2
    // days) the first goes, the other waits.
    t = await hubWithHeldJobsFillingTheCap();
    for (const id of ['roomy1', 'roomy2']) await submit(t, { job_id: id, runtime_minutes: 30, deadline_minutes: 2 * 24 * 60 });
    for (const id of ['due1', 'due2']) await submit(t, { job_id: id, runtime_minutes: 25, deadline_minutes: 35 });
    const summary = await schedule(t);
    expect(summary.placed.map((p: { job_id: string }) => p.job_id).sort()).toEqual(['day1', 'day2', 'due1', 'due2', 'roomy1']);
    expect(summary.jobs_deferred).toBe(1);
    expect((await t.hub.lifecycle.store.get('roomy2'))?.phase).toBe('Pending');
  });

  it('does not defer a job whose latest start comes before a next cycle that is one tick late (the tick skipped while a cycle ran)', async () => {
    // The cap is full, so only jobs due before a sure next cycle and the first waiting one go.
    t = await hubWithHeldJobsFillingTheCap();
    // 'first' and 'tight': 25 min of work due in 33 min, their latest start 8 min on: past one period, within two.
    await submit(t, { job_id: 'first', runtime_minutes: 25, deadline_minutes: 33 });
    await submit(t, { job_id: 'tight', runtime_minutes: 25, deadline_minutes: 33 });
    for (const id of ['roomy1', 'roomy2']) await submit(t, { job_id: id, runtime_minutes: 30, deadline_minutes: 2 * 24 * 60 });
    const summary = await schedule(t);
    // Deferred, 'tight' would have been failed as unable to finish by a next cycle two periods on.
    expect(summary.placed.map((p: { job_id: string }) => p.job_id).sort()).toEqual(['day1', 'day2', 'first', 'roomy1', 'tight']);
    expect(summary.jobs_deferred).toBe(1);
  });
});
