import { describe, expect, it } from 'vitest';
import { compileModel, optimize, OptimizeInputError, parseOptimizeInput, validatePlan } from '../../src/optimizer/index.js';
import type { OptimizeInput } from '../../src/optimizer/index.js';
import { preferEarlierStarts } from '../../src/optimizer/earliest-ties.js';
import { input, job } from '../support/optimizer-builders.js';

/**
 * Cases found by fuzzing every backend against brute-force enumeration and validatePlan on small instances:
 * each once went wrong in the way its test rules out.
 */

/**
 * 15 jobs, 2 regions (JP with FAST/ECO pools), 10 half-hour slots: 118 options, so `auto` hands it to jslp
 * (up to 600 options) when it chose jslp for small models. HiGHS proves the optimum in milliseconds; jslp's
 * branch-and-bound does not finish in minutes.
 */
function fifteenJobs(): OptimizeInput {
  const b = input()
    .regions('KR', 'JP')
    .horizon(10)
    .slotSeconds(1800)
    .pools('JP', { name: 'FAST', speed: 1, power: 1, cap: { cpu: 5, mem: 11, gpu: 1 } }, { name: 'ECO', speed: 1.5, power: 0.5, cap: { cpu: 6, mem: 14, gpu: 0 } })
    .carbon('KR', [229, 234, 330, 103, 677, 332, 649, 596, 628, 90])
    .carbon('JP', [394, 224, 331, 138, 227, 529, 234, 396, 317, 537]);
  const kr: [number, number, number][] = [[4, 30, 2], [2, 13, 2], [3, 16, 0], [5, 28, 0], [9, 15, 2], [7, 11, 1], [8, 25, 0], [10, 28, 2], [8, 11, 1], [9, 25, 1]];
  kr.forEach(([cpu, mem, gpu], slot) => b.capacityAt('KR', slot, { cpu, mem, gpu }));
  // id, cpu, mem, gpu, runtime, release, deadline, data, wait
  const jobs: [string, number, number, number, number, number, number, number, number?][] = [
    ['j0', 3, 2, 0, 1, 6, 11, 8], ['j1', 2, 8, 0, 1, 7, 11, 0], ['j2', 1, 4, 1, 3, 5, 8, 1, 1.9], ['j3', 2, 7, 1, 1, 6, 9, 16, 0.2],
    ['j4', 4, 3, 0, 1, 8, 11, 15], ['j5', 1, 8, 0, 3, 3, 8, 10], ['j6', 2, 6, 0, 1, 1, 2, 5], ['j7', 2, 3, 0, 2, 3, 7, 10, 0.7],
    ['j8', 4, 2, 0, 1, 5, 10, 4], ['j9', 2, 3, 0, 2, 2, 3, 12], ['j10', 2, 4, 0, 3, 3, 7, 0, 2.1], ['j11', 3, 4, 0, 1, 3, 6, 14],
    ['j12', 4, 8, 1, 1, 2, 8, 18, 0.4], ['j13', 3, 5, 0, 3, 3, 7, 2], ['j14', 4, 8, 0, 3, 3, 7, 2],
  ];
  for (const [id, cpu, mem, gpu, runtime, release, deadline, data, wait] of jobs) {
    const spec = job(id).cpu(cpu).mem(mem).gpu(gpu).runtime(runtime).window(release, deadline).data(data);
    if (wait !== undefined) spec.wait(wait);
    b.job(spec);
  }
  for (const [id, region] of [['j0', 'JP'], ['j9', 'JP'], ['j10', 'KR'], ['j14', 'KR']] as const) b.prev(id, region);
  return b.obj();
}

describe('optimizer edge cases', () => {
  it('auto solves a 15-job model to the optimum HiGHS proves (jslp, once chosen for it, ran out of time)', async () => {
    const raw = fifteenJobs();
    const exact = await optimize(raw, { solver: 'highs', timeLimitSeconds: 5, gapTolerance: 1e-9 });
    expect(exact.solver_status).toBe('optimal');

    const auto = await optimize(raw, { timeLimitSeconds: 3 });
    expect(validatePlan(parseOptimizeInput(raw), auto).violations).toEqual([]);
    // jslp spent 80% of the limit, timed out, and the greedy fallback's plan cost 2.5% more.
    expect(auto.objective_gco2).toBeCloseTo(exact.objective_gco2, 6);
    expect(auto.solver_status).toBe('optimal');
  });

  it('moves a job earlier once a job after it in the order has moved out of its way (no deferral for no gain)', async () => {
    // One core per slot, flat carbon: every start of every job costs the same, so each should start as early
    // as the others let it. j3 (slots 1..5) sits at 5 and blocks j0 (5..6) at 6; j3 then moves to 2, freeing 5.
    const raw = input()
      .regions('KR')
      .horizon(8)
      .capacity('KR', { cpu: 1 })
      .carbon('KR', 100)
      .job(job('j0').window(5, 6), job('j1').window(1, 4), job('j2').window(7, 7), job('j3').window(1, 5))
      .obj();
    const { model } = compileModel(parseOptimizeInput(raw));
    const at = (j: number, start: number) => model.jobs[j]!.optionStart.indexOf(start);
    const shifted = preferEarlierStarts(model, Int32Array.from([at(0, 6), at(1, 1), at(2, 7), at(3, 5)]));
    const starts = [...shifted].map((k, j) => model.jobs[j]!.optionStart[k]!);
    expect(starts[3]).toBe(2);
    expect(starts[0]).toBe(5);

    // The same through optimize(): HiGHS returns such a plan and j0 is left at slot 6 with slot 5 empty.
    const out = await optimize(raw, { solver: 'highs', timeLimitSeconds: 5 });
    expect(out.plans.find((p) => p.job_id === 'j0')?.start_slot).toBe(5);
  });

  it.each(['lagrangian', 'hybrid'])('%s returns a feasible optimal plan when one region has a capacity meant as unlimited (1e300)', async (solver) => {
    // JP's 1e300 cores stand for "unlimited". KR has room for one of the three 2-core jobs. A dual scale of the
    // mean capacity (~5e299) once made the overflow in KR square to 0, read as "feasible and complementary".
    const raw = input()
      .regions('KR', 'JP')
      .horizon(2)
      .capacity('KR', { cpu: 2 })
      .capacity('JP', { cpu: 1e300 })
      .carbon('KR', 100)
      .carbon('JP', 500)
      .job(job('a').cpu(2).window(0, 0), job('b').cpu(2).window(0, 0), job('c').cpu(2).window(0, 0))
      .obj();
    const out = await optimize(raw, { solver, timeLimitSeconds: 2 });
    expect(validatePlan(parseOptimizeInput(raw), out).violations).toEqual([]);
    expect(out.solver).toBe(solver);
    expect(out.solver_status).not.toBe('error');
    expect(out.objective_gco2).toBeCloseTo(66, 9);
  });

  it('charges a one-slot job on ECO (1.5x as long, 0.6x the power) for the 1.5 slots it runs, so ECO wins on a flat grid', async () => {
    // README: "ECO when its lower energy (1.5 x 0.6 = 0.9x) outweighs the longer run and the deadline leaves
    // room for it". Flat carbon, a roomy deadline: the run is 1.5 slots at 0.6 of 3 g per slot = 2.7 g, less than
    // FAST's 3 g. Charging the 2 slots it holds at full ECO power (3.6 g) once made FAST win.
    const raw = input()
      .regions('KR')
      .horizon(8)
      .capacity('KR', { cpu: 4 })
      .pools('KR', { name: 'FAST', speed: 1, power: 1 }, { name: 'ECO', speed: 1.5, power: 0.6 })
      .carbon('KR', 100)
      .job(job('a').runtime(1).window(0, 7))
      .obj();
    const out = await optimize(raw, { solver: 'highs', timeLimitSeconds: 5 });
    // The validator recomputes the objective on its own: it charges the same share of the last slot.
    expect(validatePlan(parseOptimizeInput(raw), out).violations).toEqual([]);
    expect(out.plans[0]).toMatchObject({ pool: 'ECO', start_slot: 0 });
    expect(out.plans[0]!.cost_gco2).toBeCloseTo(2.7, 9);
  });
});

/**
 * One region, two one-hour slots (slot 0 clean, slot 1 dirtier), the same capacity in both, and jobs of the
 * given size that may run in either slot: a cell holds two of three "thirds" (their sum overshoots the cap by
 * a few 1e-8, more than CAPACITY_EPS and less than HiGHS's default tolerance), so the optimum places two in
 * slot 0 and one in slot 1.
 */
function thirds(resource: 'cpu' | 'mem', cap: number, size: number): OptimizeInput {
  const b = input()
    .regions('KR')
    .horizon(2)
    .capacity('KR', resource === 'cpu' ? { cpu: cap, mem: 1000 } : { cpu: 100, mem: cap })
    .carbon('KR', [100, 300]);
  for (const id of ['a', 'b', 'c']) b.job(resource === 'cpu' ? job(id).cpu(size).mem(1).window(0, 1) : job(id).cpu(1).mem(size).window(0, 1));
  return b.obj();
}

describe('optimizer edge cases: tolerances and extremes', () => {
  it('three jobs of a third of a core (0.3333334) in one core: HiGHS fits them as the rest of the system does, no solver error', async () => {
    const raw = thirds('cpu', 1, 0.3333334);
    const output = await optimize(raw, { timeLimitSeconds: 5 });
    expect(validatePlan(parseOptimizeInput(raw), output).violations).toEqual([]);
    expect(output).toMatchObject({ solver: 'hybrid', solver_status: 'optimal' });
    expect(output.plans.map((p) => p.start_slot).sort()).toEqual([0, 0, 1]);
  });

  it('a plan never overfills a cell by less than HiGHS\'s default tolerance: three thirds of 256 GB (85.33333334) do not share a slot', async () => {
    const raw = thirds('mem', 256, 85.33333334);
    const output = await optimize(raw, { timeLimitSeconds: 5 });
    expect(validatePlan(parseOptimizeInput(raw), output).violations).toEqual([]);
    expect(output.plans.map((p) => p.start_slot).sort()).toEqual([0, 0, 1]);
  });

  it('an input with no regions and a huge horizon_slots is refused as invalid input, not a RangeError', async () => {
    const raw = {
      jobs: [{ job_id: 'a', cpu: 1, mem_gb: 1, runtime_slots: 1, release_slot: 0, deadline_slot: 3 }],
      capacities: [],
      carbons: [],
      regions: [],
      slot_seconds: 3600,
      horizon_slots: 1e10,
      costs: {},
      network_costs: {},
      migration_allow: true,
      prev_plan: {},
    };
    await expect(optimize(raw, { timeLimitSeconds: 1 })).rejects.toBeInstanceOf(OptimizeInputError);
  });

  it('a job whose power overflows to Infinity (0 x Infinity = NaN grams) is refused, naming it', async () => {
    const raw = input().regions('KR').horizon(2).capacity('KR', { cpu: 100 }).costs({ watt_cpu: 1e308 }).job(job('a').cpu(10).window(0, 1)).obj();
    await expect(optimize(raw, { timeLimitSeconds: 1 })).rejects.toMatchObject({ name: 'OptimizeInputError', message: expect.stringContaining('job "a"') });
  });
});
