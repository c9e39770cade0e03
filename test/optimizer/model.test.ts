import { describe, expect, test } from 'vitest';
import { compileModel, OptimizeInputError, parseOptimizeInput } from '../../src/optimizer/index.js';
import { candidateStarts, capacityRows, findOverflow, leastSumOverAtLeast } from '../../src/optimizer/model.js';
import type { ModelJob, OptimizeInput } from '../../src/optimizer/types.js';
import { input, job, seedScenario } from '../support/optimizer-builders.js';

function compile(raw: OptimizeInput) {
  return compileModel(parseOptimizeInput(raw));
}

/** The options of a model job as readable tuples. */
function options(mj: ModelJob, regions: string[]): [string, number, number][] {
  return [...mj.optionCost].map((cost, k) => [regions[mj.optionRegion[k]!]!, mj.optionStart[k]!, cost]);
}

describe('compileModel costs', () => {
  test('the seed scenario: 2 cores for one 5-minute slot cost ci x 60 W x 1/12 h / 1000', () => {
    const { model } = compile(seedScenario().horizon(1).job(job('a').cpu(2).window(0, 0)).obj());
    // 400 gCO2/kWh x 0.060 kW x (300/3600) h = 2 g; JP 450 -> 2.25 g; CN 550 -> 2.75 g.
    expect(options(model.jobs[0]!, model.regions)).toEqual([
      ['KR', 0, 2],
      ['JP', 0, 2.25],
      ['CN', 0, 2.75],
    ]);
  });

  test('sums intensity over every slot the job runs in', () => {
    const raw = input()
      .regions('KR')
      .horizon(4)
      .capacity('KR', { cpu: 4 })
      .carbon('KR', [100, 200, 300, 400])
      .job(job('a').cpu(1).runtime(2).window(0, 3))
      .obj();
    const { model } = compile(raw);
    // 1 core x 30 W x 1 h / 1000 = 0.03 kWh per slot.
    const expected = [0.03 * 300, 0.03 * 500, 0.03 * 700];
    expect([...model.jobs[0]!.optionStart]).toEqual([0, 1, 2]);
    [...model.jobs[0]!.optionCost].forEach((c, k) => expect(c).toBeCloseTo(expected[k]!, 12));
  });

  test('gpu and memory watts count when given, and are free by default', () => {
    const base = input().regions('KR').horizon(1).capacity('KR', { cpu: 8, mem: 64, gpu: 2 }).carbon('KR', 500);
    const a = job('a').cpu(2).mem(16).gpu(1).window(0, 0);
    expect(compile(base.job(a).obj()).model.jobs[0]!.optionCost[0]).toBeCloseTo(500 * 0.06, 12);
    const weighted = base.costs({ watt_gpu: 250, watt_mem_gb: 0.5, watt_cpu: 10 }).obj();
    // (2 x 10 + 1 x 250 + 16 x 0.5) W = 278 W for one hour at 500 g/kWh.
    expect(compile(weighted).model.jobs[0]!.optionCost[0]).toBeCloseTo(500 * 0.278, 12);
  });

  test('a region with no carbon data costs nothing to run in', () => {
    const raw = input().regions('KR', 'JP').horizon(1).capacity('KR', { cpu: 1 }).capacity('JP', { cpu: 1 }).carbon('KR', 300).job(job('a').window(0, 0)).obj();
    expect(options(compile(raw).model.jobs[0]!, ['KR', 'JP'])).toEqual([
      ['KR', 0, 9],
      ['JP', 0, 0],
    ]);
  });

  test('leaving the previous region adds lambda_plan_dev + network cost x data; staying adds nothing', () => {
    const raw = seedScenario()
      .horizon(1)
      .carbon('KR', 700)
      .carbon('JP', 300)
      .carbon('CN', 600)
      .job(job('a').cpu(2).data(10).window(0, 0))
      .prev('a', 'KR')
      .networkCost('KR', 'JP', 0.5)
      .obj();
    const { model } = compile(raw);
    expect(options(model.jobs[0]!, model.regions)).toEqual([
      ['KR', 0, 3.5],
      ['JP', 0, 1.5 + 100 + 5],
      ['CN', 0, 3 + 100],
    ]);
    const cheapMove = compile({ ...raw, costs: { lambda_plan_dev: 1 } });
    expect(cheapMove.model.jobs[0]!.optionCost[1]).toBeCloseTo(1.5 + 1 + 5, 12);
  });
});

describe('compileModel cost magnitude', () => {
  test('refuses costs too large to add up exactly, naming the dearest job: finite inputs can multiply into them', () => {
    // 1e12 cores x 30 W x 1e5 g/kWh for an hour: 3e15 g, past 2^50 (1.1e15), near where adding the "left out" penalty's 1 changes nothing.
    const raw = input().regions('KR').horizon(1).capacity('KR', { cpu: 1e12 }).carbon('KR', 1e5).job(job('small').window(0, 0), job('huge').cpu(1e12).window(0, 0)).obj();
    let error: unknown;
    try {
      compile(raw);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OptimizeInputError);
    expect((error as OptimizeInputError).issues).toEqual([{ path: 'jobs[1] (job "huge")', message: expect.stringMatching(/^a placement of it costs 3000000000000000 gCO2: the costs of all jobs must stay below 2\^50 g/) }]);
    // The same job at a sane size compiles.
    expect(compile({ ...raw, jobs: raw.jobs.map((j) => ({ ...j, cpu: 2 })) }).model.jobs).toHaveLength(2);
  });
});

describe('compileModel options', () => {
  const grid = () =>
    input()
      .regions('KR', 'JP')
      .horizon(6)
      .capacity('KR', { cpu: 4, mem: 8, gpu: 1 })
      .capacity('JP', { cpu: 4, mem: 8, gpu: 1 })
      .carbon('KR', 100)
      .carbon('JP', 200);

  test('starts run from release to deadline - runtime + 1, clipped to the horizon', () => {
    const { model } = compile(grid().job(job('a').affinity('KR').runtime(2).window(1, 40)).obj());
    expect([...model.jobs[0]!.optionStart]).toEqual([1, 2, 3, 4]);
  });

  test('affinity limits the regions', () => {
    const { model } = compile(grid().job(job('a').affinity('JP').window(0, 0)).obj());
    expect(options(model.jobs[0]!, model.regions).map((o) => o[0])).toEqual(['JP']);
  });

  test('migration_allow false pins a job with a previous plan to its region', () => {
    const { model } = compile(grid().job(job('a').window(0, 0), job('b').window(0, 0)).prev('a', 'JP').migrationAllow(false).obj());
    expect(options(model.jobs[0]!, model.regions).map((o) => o[0])).toEqual(['JP']);
    expect(options(model.jobs[1]!, model.regions).map((o) => o[0])).toEqual(['KR', 'JP']);
  });

  test('starts whose slots lack room for the job alone are dropped, per resource', () => {
    const raw = grid()
      .capacityAt('KR', 2, { cpu: 1, mem: 8, gpu: 1 })
      .capacityAt('JP', 3, { cpu: 4, mem: 2, gpu: 1 })
      .capacityAt('JP', 0, { cpu: 4, mem: 8, gpu: 0 })
      .job(job('a').cpu(2).mem(4).gpu(1).runtime(2).window(0, 5))
      .obj();
    const { model } = compile(raw);
    expect(options(model.jobs[0]!, model.regions).map(([r, t]) => `${r}${t}`)).toEqual(['KR0', 'KR3', 'KR4', 'JP1', 'JP4']);
  });

  test('dense capacity arrays are indexed region * horizon + slot; missing cells have none', () => {
    const raw = input().regions('KR', 'JP').horizon(3).capacityAt('JP', 2, { cpu: 5, mem: 6, gpu: 7 }).obj();
    const { model } = compile(raw);
    expect([...model.capacity.cpu]).toEqual([0, 0, 0, 0, 0, 5]);
    expect([...model.capacity.memGb]).toEqual([0, 0, 0, 0, 0, 6]);
    expect([...model.capacity.gpu]).toEqual([0, 0, 0, 0, 0, 7]);
  });
});

describe('candidateStarts: the options compileModel makes for a job before it checks capacity', () => {
  // KR has a FAST pool and an ECO pool at 1.5x, JP one FAST pool; room for every job everywhere.
  const grid = () =>
    input()
      .regions('KR', 'JP')
      .horizon(12)
      .pools('KR', { name: 'FAST', speed: 1, power: 1 }, { name: 'ECO', speed: 1.5, power: 0.6 })
      .pools('JP', { name: 'FAST', speed: 1, power: 1 })
      .capacity('KR', { cpu: 100, mem: 1000, gpu: 10 })
      .capacity('JP', { cpu: 100, mem: 1000, gpu: 10 })
      .carbon('KR', 100)
      .carbon('JP', 200);
  const cases = [
    // KR/FAST starts 0-8, KR/ECO (3 slots) 0-7, JP/FAST 0-8.
    { name: 'every start on every site, a slower pool leaving fewer', raw: () => grid().job(job('a').runtime(2).window(0, 9)), want: 26 },
    { name: 'from the release slot', raw: () => grid().job(job('a').runtime(2).window(4, 9)), want: 14 },
    { name: 'a deadline past the horizon clipped to it (starts 0-10, 0-9 and 0-10)', raw: () => grid().job(job('a').runtime(2).window(0, 40)), want: 32 },
    { name: 'only the regions of its affinity', raw: () => grid().job(job('a').runtime(2).window(0, 9).affinity('JP')), want: 9 },
    { name: 'only the pools it names', raw: () => grid().job(job('a').runtime(2).window(0, 9).pools('FAST')), want: 18 },
    { name: 'only its previous region when it may not move', raw: () => grid().job(job('a').runtime(2).window(0, 9)).prev('a', 'JP').migrationAllow(false), want: 9 },
    { name: 'none on a pool too slow for its window', raw: () => grid().job(job('a').runtime(8).window(0, 9).affinity('KR')), want: 3 },
    { name: 'none when even its fastest run misses the window', raw: () => grid().job(job('a').runtime(11).window(0, 9)), want: 0 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const raw = parseOptimizeInput(c.raw().obj());
      expect(candidateStarts(raw, raw.jobs[0]!)).toBe(c.want);
      // What the model holds for it, with room everywhere.
      expect(compileModel(raw).model.jobs[0]?.optionCost.length ?? 0).toBe(c.want);
    });
  }
});

test('latest_start_slot cuts the starts its window leaves, on every site whatever its speed', () => {
  const raw = input()
    .regions('KR')
    .horizon(8)
    .pools('KR', { name: 'FAST', speed: 1, power: 1, cap: { cpu: 4 } }, { name: 'ECO', speed: 2, power: 0.5, cap: { cpu: 4 } })
    .carbon('KR', 100)
    .job(job('r').runtime(2).window(0, 7).latestStart(0), job('w').runtime(2).window(0, 7).latestStart(3))
    .obj();
  const { model } = compile(raw);
  const starts = (id: string) => [...model.jobs.find((j) => j.jobId === id)!.optionStart];
  // FAST (2 slots) and ECO (4 slots): 'r' starts at 0 only, on both; 'w' at 0..3 on both (ECO's window allows 0..4).
  expect(starts('r')).toEqual([0, 0]);
  expect(starts('w')).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
  expect(candidateStarts(parseOptimizeInput(raw), raw.jobs[0]!)).toBe(2);
});

describe('compileModel unscheduled jobs', () => {
  const base = () => input().regions('KR', 'JP').horizon(6).capacity('KR', { cpu: 4, mem: 8 }).capacity('JP', { cpu: 2, mem: 8, gpu: 1 }).carbon('KR', 100);

  test.each([
    { name: 'window shorter than the runtime', spec: job('w').runtime(3).window(2, 3), code: 'empty_window', reason: /needs 3 slots but only slots 2..3/ },
    { name: 'released after the horizon', spec: job('w').window(9, 12), code: 'empty_window', reason: /after the horizon ends at slot 5/ },
    { name: 'deadline clipped by the horizon', spec: job('w').runtime(3).window(4, 30), code: 'empty_window', reason: /clipped/ },
    { name: 'latest start before the release', spec: job('w').window(2, 5).latestStart(1), code: 'empty_window', reason: /must start by slot 1 \(its latest_start_slot\), before its release at slot 2/ },
    { name: 'more cpu than any region has', spec: job('c').cpu(6), code: 'no_capacity', reason: /needs 6 cpu .* no allowed region \(KR, JP\)/ },
    { name: 'a GPU where the cpu is short', spec: job('g').cpu(3).gpu(1), code: 'no_capacity', reason: /3 cpu, 1 GB of memory and 1 GPU at the same time/ },
    { name: 'a GPU outside its affinity', spec: job('g').gpu(1).affinity('KR'), code: 'no_capacity', reason: /needs 1 GPU .*\(KR\)/ },
    { name: 'memory', spec: job('m').mem(9), code: 'no_capacity', reason: /9 GB of memory/ },
  ])('$name -> $code', ({ spec, code, reason }) => {
    const { model, unscheduled } = compile(base().job(spec, job('ok')).obj());
    expect(model.jobs.map((j) => j.jobId)).toEqual(['ok']);
    expect(unscheduled).toHaveLength(1);
    expect(unscheduled[0]!.code).toBe(code);
    expect(unscheduled[0]!.reason).toMatch(reason);
    expect(unscheduled[0]!.reason).toContain(`job "${spec.obj().job_id}"`);
  });

  // ECO runs a job twice as long: 2 slots at full speed hold it for 4.
  const ecoOnly = () => input().regions('KR').horizon(6).pools('KR', { name: 'ECO', speed: 2, power: 0.5, cap: { cpu: 2 } }).carbon('KR', 100);

  test.each([
    {
      name: 'window fits the nominal runtime but not the stretched one',
      spec: job('w').runtime(2).window(0, 2),
      code: 'empty_window',
      reason: /needs 4 slots on KR\/ECO, its fastest allowed pool \(2 at full speed\), but only slots 0..2 \(3\) lie/,
    },
    {
      name: 'no room for the stretched run',
      spec: job('c').cpu(3).runtime(2).window(0, 5),
      code: 'no_capacity',
      reason: /needs 3 cpu for 4 consecutive slots on KR\/ECO, its fastest allowed pool \(2 at full speed\), starting in slots 0..2/,
    },
  ])('only a slow pool allowed: $name -> $code, with the stretched runtime', ({ spec, code, reason }) => {
    const { unscheduled } = compile(ecoOnly().job(spec).obj());
    expect(unscheduled).toEqual([{ job_id: spec.obj().job_id, code, reason: expect.stringMatching(reason) }]);
  });

  test('pinned by migration_allow false to a region outside its affinity -> no_region', () => {
    const raw = base().job(job('p').affinity('KR')).prev('p', 'JP').migrationAllow(false).obj();
    const { unscheduled } = compile(raw);
    expect(unscheduled).toEqual([
      { job_id: 'p', code: 'no_region', reason: expect.stringMatching(/previous region JP .* allow only KR/) },
    ]);
  });
});

describe('leastSumOverAtLeast', () => {
  test.each([
    { perJob: [5, 1, 3], count: 0, least: 0 },
    { perJob: [5, 1, 3], count: 2, least: 4 },
    { perJob: [5, 1, 3], count: 3, least: 9 },
    // Negative values beyond the count lower the sum further: taking more jobs is allowed.
    { perJob: [4, -1, -3], count: 1, least: -4 },
    { perJob: [4, -1, -3], count: 0, least: -4 },
    { perJob: [4, -1, -3], count: 3, least: 0 },
  ])('over $perJob, at least $count: $least', ({ perJob, count, least }) => {
    expect(leastSumOverAtLeast(Float64Array.from(perJob), count)).toBe(least);
  });
});

describe('capacity rows and overflow check', () => {
  test('only cells that some combination of jobs can overflow get a row', () => {
    const raw = input()
      .regions('KR')
      .horizon(3)
      .capacity('KR', { cpu: 4, mem: 100, gpu: 1 })
      .job(job('a').cpu(3).window(0, 0), job('b').cpu(2).window(0, 1), job('c').cpu(1).gpu(1).window(2, 2))
      .obj();
    const { model } = compile(raw);
    const rows = capacityRows(model);
    // Slot 0: a + b = 5 > 4. Slot 1: only b. Slot 2: only c. Memory never binds.
    expect(rows.count).toBe(1);
    expect(rows.rowOf.cpu[0]).toBe(0);
    expect(findOverflow(model, Int32Array.from([0, 0, 0]))).toMatch(/cpu in KR slot 0: 5 used of 4/);
    expect(findOverflow(model, Int32Array.from([0, 1, 0]))).toBeNull();
  });
});

test('compiles a production-size input (6000 jobs x 288 slots x 3 regions) into millions of options', () => {
  const regions = ['KR', 'JP', 'CN'];
  const builder = input().regions(...regions).horizon(288).slotSeconds(300);
  regions.forEach((r, i) => builder.capacity(r, { cpu: 400, mem: 1600, gpu: 16 }).carbon(r, Array.from({ length: 288 }, (_, s) => 300 + 100 * i + 80 * Math.sin(s / 40))));
  for (let j = 0; j < 6000; j++) {
    const release = j % 100;
    builder.job(job(`j${j}`).cpu(1 + (j % 4)).mem(2).runtime(1 + (j % 12)).window(release, release + 150));
  }
  const { model, unscheduled } = compile(builder.obj());
  expect(unscheduled).toEqual([]);
  let total = 0;
  for (const mj of model.jobs) total += mj.optionCost.length;
  expect(total).toBeGreaterThan(2_000_000);
});
