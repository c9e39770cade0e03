import { afterEach, describe, expect, test, vi } from 'vitest';
import { FAMILIES, generate } from '../../bench/optimizer/generate.js';
import {
  compileModel,
  DEFAULT_COSTS,
  DEFAULT_OPTIMIZE_OPTIONS,
  OptimizeInputError,
  optimize,
  parseOptimizeInput,
  validatePlan,
} from '../../src/optimizer/index.js';
import { optionCount } from '../../src/optimizer/model.js';
import { fallbackReserveSeconds, optimizeWith } from '../../src/optimizer/optimize.js';
import { JSLP_MAX_STARTED_OPTIONS, jslpSolver } from '../../src/optimizer/solvers/jslp.js';
import { autoSolver, DEFAULT_CATALOG, getSolver } from '../../src/optimizer/solvers/registry.js';
import type { SolverCatalog } from '../../src/optimizer/solvers/registry.js';
import type { OptimizeInput, PlacementModel, Solver, SolverResult, SolveOptions } from '../../src/optimizer/types.js';
import { input, job, seedScenario } from '../support/optimizer-builders.js';

/** Each job at its cheapest option, capacity ignored: optimal on uncontended inputs. */
function cheapestChoice(model: PlacementModel): Int32Array {
  return Int32Array.from(model.jobs, (j) => {
    let best = 0;
    j.optionCost.forEach((c, k) => {
      if (c < j.optionCost[best]!) best = k;
    });
    return best;
  });
}

function fake(name: string, solve: (model: PlacementModel, options: SolveOptions) => SolverResult, maxOptions = 1e9): Solver & { calls: SolveOptions[] } {
  const calls: SolveOptions[] = [];
  return {
    name,
    maxOptions,
    calls,
    async solve(model, options) {
      calls.push(options);
      return solve(model, options);
    },
  };
}

const exactFake = () => fake('exact', (m) => ({ status: 'optimal', choice: cheapestChoice(m), lowerBoundGco2: 0 }));
/** Spreads jobs over the regions (job j in region j): feasible where each region has room for one job. */
const rescue = () => fake('rescue', (m) => ({ status: 'feasible', choice: Int32Array.from(m.jobs, (_, j) => j), lowerBoundGco2: null }));

function catalog(primary: Solver, fallback?: Solver): SolverCatalog {
  return { solvers: fallback ? [primary, fallback] : [primary], autoOrder: [primary.name], fallback: fallback?.name };
}

/** Two jobs, each best in KR, room for both: the optimum is 2 + 2 = 4 g. */
const easy = (): OptimizeInput => seedScenario().job(job('a').cpu(2).window(0, 0), job('b').cpu(2).window(0, 0)).obj();

describe('defaults', () => {
  test('options and cost weights are pinned', () => {
    expect(DEFAULT_OPTIMIZE_OPTIONS).toEqual({ solver: 'auto', timeLimitSeconds: 30, gapTolerance: 1e-4 });
    expect(DEFAULT_COSTS).toEqual({ watt_cpu: 30, watt_gpu: 0, watt_mem_gb: 0, lambda_plan_dev: 100 });
  });

  test('the product catalog: the hybrid up to what HiGHS holds, the scale path next, greedy as the fallback', () => {
    expect(DEFAULT_CATALOG.autoOrder).toEqual(['hybrid', 'lagrangian']);
    expect(DEFAULT_CATALOG.fallback).toBe('greedy');
    const [hybrid, highs] = ['hybrid', 'highs'].map((n) => DEFAULT_CATALOG.solvers.find((s) => s.name === n)!);
    expect(autoSolver(10).name).toBe('hybrid');
    expect(hybrid!.maxOptions).toBe(highs!.maxOptions);
    expect(autoSolver(hybrid!.maxOptions + 1).name).toBe('lagrangian');
  });
});

describe('optimize', () => {
  test('maps the choice to plan items with costs, objective, bound and gap', async () => {
    const output = await optimize(easy());
    expect(output).toMatchObject({
      plans: [
        { job_id: 'a', region: 'KR', start_slot: 0, cost_gco2: 2, migration_cost_gco2: 0 },
        { job_id: 'b', region: 'KR', start_slot: 0, cost_gco2: 2, migration_cost_gco2: 0 },
      ],
      objective_gco2: 4,
      co2_estimate_kg: 0.004,
      lower_bound_gco2: 4,
      gap: 0,
      solver_status: 'optimal',
      migrations: 0,
      unscheduled: [],
      solver: 'hybrid',
    });
    expect(output.solve_seconds).toBeGreaterThanOrEqual(0);
  });

  test('an empty job list returns an empty optimal plan', async () => {
    expect(await optimize(seedScenario().obj())).toMatchObject({ plans: [], objective_gco2: 0, lower_bound_gco2: 0, gap: 0, solver_status: 'optimal', unscheduled: [] });
  });

  test('jobs that cannot run at all are reported and the plan is still optimal', async () => {
    const output = await optimize(seedScenario().job(job('huge').cpu(99)).obj());
    expect(output).toMatchObject({ plans: [], solver_status: 'optimal', unscheduled: [{ job_id: 'huge', code: 'no_capacity' }] });
  });

  test('unscheduled jobs are listed in input order', async () => {
    const raw = seedScenario().job(job('z').cpu(99), job('ok').window(0, 0), job('a').runtime(3).window(11, 11)).obj();
    expect((await optimize(raw)).unscheduled.map((u) => u.job_id)).toEqual(['z', 'a']);
  });

  test('takes parsed input too (parsing is idempotent)', async () => {
    expect((await optimize(parseOptimizeInput(easy()))).objective_gco2).toBe(4);
  });

  test.each([
    [{ solver: 'cplex' }, 'options.solver', /unknown solver "cplex"/],
    [{ timeLimitSeconds: 0 }, 'options.timeLimitSeconds', /> 0/],
    [{ gapTolerance: -1 }, 'options.gapTolerance', />= 0/],
  ])('rejects bad options %j', async (options, path, message) => {
    const error = await optimize(easy(), options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OptimizeInputError);
    expect((error as OptimizeInputError).issues).toEqual([{ path, message: expect.stringMatching(message) }]);
  });

  test('rejects bad input with OptimizeInputError', async () => {
    await expect(optimize({ jobs: 'none' })).rejects.toBeInstanceOf(OptimizeInputError);
  });

  test('passes the time limit and gap tolerance on to the backend, keeping a share for the fallback', async () => {
    const primary = exactFake();
    await optimizeWith(catalog(primary, rescue()), easy(), { timeLimitSeconds: 10, gapTolerance: 0.01 });
    expect(primary.calls).toHaveLength(1);
    expect(primary.calls[0]!.gapTolerance).toBe(0.01);
    expect(primary.calls[0]!.timeLimitSeconds).toBeLessThanOrEqual(8);
    expect(primary.calls[0]!.timeLimitSeconds).toBeGreaterThan(0);
  });

  test('an anytime backend gets the whole limit: it returns its best plan at the limit, a reserve would be wasted', async () => {
    const primary = exactFake();
    const anytime: SolverCatalog = { ...catalog(primary, rescue()), anytime: [primary.name] };
    await optimizeWith(anytime, easy(), { timeLimitSeconds: 10 });
    expect(primary.calls[0]!.timeLimitSeconds).toBeGreaterThan(9.5);
    expect(DEFAULT_CATALOG.anytime).toEqual(['lagrangian', 'hybrid', 'greedy']);
  });

  test('the fallback reserve of an exact backend is a fifth of the limit, at most 5 s', async () => {
    const primary = exactFake();
    await optimizeWith(catalog(primary, rescue()), easy(), { timeLimitSeconds: 60 });
    expect(primary.calls[0]!.timeLimitSeconds).toBeGreaterThan(54.5);
    expect(primary.calls[0]!.timeLimitSeconds).toBeLessThanOrEqual(55);
    expect(fallbackReserveSeconds(DEFAULT_CATALOG, getSolver('highs')!, 20)).toBe(4);
    expect(fallbackReserveSeconds(DEFAULT_CATALOG, getSolver('lagrangian')!, 60)).toBe(0);
    expect(fallbackReserveSeconds(DEFAULT_CATALOG, getSolver('hybrid')!, 20)).toBe(0);
    expect(fallbackReserveSeconds(DEFAULT_CATALOG, getSolver('greedy')!, 60)).toBe(0);
  });

  test('with no fallback the backend gets the whole limit', async () => {
    const primary = exactFake();
    await optimizeWith(catalog(primary), easy(), { timeLimitSeconds: 10 });
    expect(primary.calls[0]!.timeLimitSeconds).toBeGreaterThan(8);
  });
});

describe('fallback', () => {
  const failures: { name: string; solve: (m: PlacementModel) => SolverResult; status: string }[] = [
    { name: 'throws', solve: () => { throw new Error('boom'); }, status: 'error' },
    { name: 'returns an error', solve: (m) => ({ status: 'error', choice: new Int32Array(m.jobs.length).fill(-1), lowerBoundGco2: null }), status: 'error' },
    { name: 'times out without a plan', solve: (m) => ({ status: 'timedout', choice: new Int32Array(m.jobs.length).fill(-1), lowerBoundGco2: null }), status: 'timedout' },
    { name: 'returns a plan that overflows capacity', solve: (m) => ({ status: 'optimal', choice: new Int32Array(m.jobs.length).fill(0), lowerBoundGco2: 0 }), status: 'error' },
    { name: 'returns the wrong number of choices', solve: () => ({ status: 'optimal', choice: new Int32Array(1), lowerBoundGco2: 0 }), status: 'error' },
  ];

  test.each(failures)('a backend that $name falls back to the fallback plan', async ({ solve, status }) => {
    const raw = seedScenario().capacity('KR', { cpu: 2 }).job(job('a').cpu(2).window(0, 0), job('b').cpu(2).window(0, 0)).obj();
    const output = await optimizeWith(catalog(fake('broken', solve), rescue()), raw);
    expect(output.solver).toBe('rescue');
    expect(output.solver_status).toBe(status);
    expect(output.plans).toHaveLength(2);
    expect(validatePlan(parseOptimizeInput(raw), output).violations).toEqual([]);
  });

  test('a backend that overruns the whole limit still gets the fallback plan', async () => {
    const raw = seedScenario().capacity('KR', { cpu: 2 }).job(job('a').cpu(2).window(0, 0), job('b').cpu(2).window(0, 0)).obj();
    const overrun = fake('overrun', (m) => {
      // A synchronous backend cannot be interrupted: it returns after the limit has passed.
      const until = performance.now() + 30;
      while (performance.now() < until);
      return { status: 'timedout', choice: new Int32Array(m.jobs.length).fill(-1), lowerBoundGco2: null };
    });
    const rescuer = rescue();
    const output = await optimizeWith(catalog(overrun, rescuer), raw, { timeLimitSeconds: 0.01 });
    expect(output).toMatchObject({ solver: 'rescue', solver_status: 'timedout' });
    expect(output.plans).toHaveLength(2);
    expect(rescuer.calls).toHaveLength(1);
  });

  test('a timed-out plan better than the fallback one is kept', async () => {
    const timedOut = fake('slow', (m) => ({ status: 'timedout', choice: cheapestChoice(m), lowerBoundGco2: 3 }));
    const worse = fake('worse', (m) => ({ status: 'feasible', choice: Int32Array.from(m.jobs, () => 2), lowerBoundGco2: null }));
    const output = await optimizeWith(catalog(timedOut, worse), easy());
    expect(output).toMatchObject({ solver: 'slow', solver_status: 'timedout', objective_gco2: 4, lower_bound_gco2: 4, gap: 0 });
  });

  test('a fallback plan placing the same jobs keeps the better of the two bounds', async () => {
    const timedOut = fake('slow', (m) => ({ status: 'timedout', choice: Int32Array.from(m.jobs, () => 2), lowerBoundGco2: 4.5 }));
    const rescuer = fake('rescue', (m) => ({ status: 'feasible', choice: Int32Array.from(m.jobs, () => 1), lowerBoundGco2: 1 }));
    const output = await optimizeWith(catalog(timedOut, rescuer), easy());
    // Both jobs in JP (2.25 g each); the first backend proved 4.5 for the same two jobs.
    expect(output).toMatchObject({ solver: 'rescue', objective_gco2: 4.5, lower_bound_gco2: 4.5, gap: 0 });
  });

  test('a fallback plan placing more jobs keeps the first bound: it covers every plan placing at least as many', async () => {
    // One 1-core job fits in KR (3 g), two in JP (30 g each): the best plan placing two jobs costs 33 g.
    const raw = input()
      .regions('KR', 'JP')
      .horizon(1)
      .capacity('KR', { cpu: 1 })
      .capacity('JP', { cpu: 2 })
      .carbon('KR', 100)
      .carbon('JP', 1000)
      .job(job('a').window(0, 0), job('b').window(0, 0), job('c').window(0, 0))
      .obj();
    const timedOut = fake('slow', () => ({ status: 'timedout', choice: Int32Array.of(0, 1, -1), lowerBoundGco2: 33 }));
    const rescuer = fake('rescue', () => ({ status: 'feasible', choice: Int32Array.of(0, 1, 1), lowerBoundGco2: null }));
    const output = await optimizeWith(catalog(timedOut, rescuer), raw);
    expect(output.solver).toBe('rescue');
    expect(output.objective_gco2).toBeCloseTo(63, 9);
    // Each job at its cheapest option would give only 9 g.
    expect(output.lower_bound_gco2).toBeCloseTo(33, 9);
  });

  test('without a fallback, a failed backend leaves the jobs out with a reason naming it', async () => {
    const broken = fake('broken', () => {
      throw new Error('boom');
    });
    const output = await optimizeWith(catalog(broken), easy());
    expect(output).toMatchObject({ solver: 'broken', solver_status: 'error', plans: [], lower_bound_gco2: null, gap: null });
    expect(output.unscheduled.map((u) => u.code)).toEqual(['capacity_contention', 'capacity_contention']);
    expect(output.unscheduled[0]!.reason).toMatch(/job "a" .*broken solver ended \(error\)/);
  });

  test('the bound is raised to the cheapest-options bound and never above the objective', async () => {
    const loose = fake('loose', (m) => ({ status: 'feasible', choice: Int32Array.from(m.jobs, () => 1), lowerBoundGco2: 0 }));
    const output = await optimizeWith(catalog(loose), easy());
    // Plan: both in JP (4.5 g); each job alone could run in KR for 2 g.
    expect(output).toMatchObject({ objective_gco2: 4.5, lower_bound_gco2: 4 });
    expect(output.gap).toBeCloseTo(0.5 / 4.5, 12);
    const noisy = fake('noisy', (m) => ({ status: 'optimal', choice: cheapestChoice(m), lowerBoundGco2: 4 + 1e-9 }));
    expect((await optimizeWith(catalog(noisy), easy())).lower_bound_gco2).toBe(4);
  });
});

describe('job and region names equal to built-in object keys', () => {
  type Case = { name: string; json: string; plan: { job_id: string; region: string; pool?: string }; migrations: number; objective: number };
  /** Job a leaves region A (which has pools, and no network costs) for the only room, in region `region`. */
  const moveToRegionCalled = (region: string, name: string): Case => ({
    name,
    json: `{"jobs":[{"job_id":"a","cpu":1,"mem_gb":0,"runtime_slots":1,"release_slot":0,"deadline_slot":0,"data_gb":1}],
        "capacities":[{"region":"A","pool":"p","slot":0,"cpu_cap":0,"mem_gb_cap":0,"gpu_cap":0},{"region":"${region}","slot":0,"cpu_cap":1,"mem_gb_cap":0,"gpu_cap":0}],
        "carbons":[],"regions":["A","${region}"],"slot_seconds":3600,"horizon_slots":1,
        "region_pools":{"A":[{"name":"p","speed_factor":1,"power_factor":1}]},"network_costs":{"A":{}},"prev_plan":{"a":{"region":"A"}}}`,
    plan: { job_id: 'a', region },
    migrations: 1,
    objective: 100,
  });
  // Raw JSON as the hub and the command line read it: there `__proto__` is an ordinary own key.
  const cases: Case[] = [
    {
      name: 'a job called constructor, without a previous plan, is no migration',
      json: `{"jobs":[{"job_id":"constructor","cpu":1,"mem_gb":0,"runtime_slots":1,"release_slot":0,"deadline_slot":0}],
        "capacities":[{"region":"A","slot":0,"cpu_cap":1,"mem_gb_cap":0,"gpu_cap":0}],
        "carbons":[{"region":"A","slot":0,"ci_gco2_per_kwh":10}],"regions":["A"],"slot_seconds":3600,"horizon_slots":1}`,
      plan: { job_id: 'constructor', region: 'A' },
      migrations: 0,
      objective: 0.3,
    },
    moveToRegionCalled('toString', 'a move to a region called toString costs lambda plus a missing (zero) network cost'),
    moveToRegionCalled('hasOwnProperty', 'a region called hasOwnProperty beside a region with pools'),
    {
      name: 'a job called __proto__ keeps its previous plan: migration_allow false pins it to the dearer region',
      json: `{"jobs":[{"job_id":"__proto__","cpu":1,"mem_gb":0,"runtime_slots":1,"release_slot":0,"deadline_slot":0}],
        "capacities":[{"region":"A","slot":0,"cpu_cap":1,"mem_gb_cap":0,"gpu_cap":0},{"region":"B","slot":0,"cpu_cap":1,"mem_gb_cap":0,"gpu_cap":0}],
        "carbons":[{"region":"A","slot":0,"ci_gco2_per_kwh":10},{"region":"B","slot":0,"ci_gco2_per_kwh":500}],"regions":["A","B"],
        "slot_seconds":3600,"horizon_slots":1,"migration_allow":false,"prev_plan":{"__proto__":{"region":"B"}}}`,
      plan: { job_id: '__proto__', region: 'B' },
      migrations: 0,
      objective: 15,
    },
    {
      name: 'a region called __proto__ keeps its pools and its network costs',
      json: `{"jobs":[{"job_id":"a","cpu":1,"mem_gb":0,"runtime_slots":1,"release_slot":0,"deadline_slot":0,"data_gb":1}],
        "capacities":[{"region":"__proto__","pool":"p","slot":0,"cpu_cap":0,"mem_gb_cap":0,"gpu_cap":0},{"region":"A","slot":0,"cpu_cap":1,"mem_gb_cap":0,"gpu_cap":0}],
        "carbons":[],"regions":["__proto__","A"],"slot_seconds":3600,"horizon_slots":1,
        "region_pools":{"__proto__":[{"name":"p","speed_factor":1,"power_factor":1}]},"network_costs":{"__proto__":{"A":2}},"prev_plan":{"a":{"region":"__proto__"}}}`,
      plan: { job_id: 'a', region: 'A' },
      migrations: 1,
      objective: 102,
    },
    {
      name: 'a job runs on a pool of a region called __proto__',
      json: `{"jobs":[{"job_id":"a","cpu":1,"mem_gb":0,"runtime_slots":1,"release_slot":0,"deadline_slot":0}],
        "capacities":[{"region":"__proto__","pool":"p","slot":0,"cpu_cap":1,"mem_gb_cap":0,"gpu_cap":0}],
        "carbons":[{"region":"__proto__","slot":0,"ci_gco2_per_kwh":100}],"regions":["__proto__"],"slot_seconds":3600,"horizon_slots":1,
        "region_pools":{"__proto__":[{"name":"p","speed_factor":1,"power_factor":0.5}]}}`,
      plan: { job_id: 'a', region: '__proto__', pool: 'p' },
      migrations: 0,
      objective: 1.5,
    },
  ];

  test.each(cases)('$name', async ({ json, plan, migrations, objective }) => {
    const raw: unknown = JSON.parse(json);
    const output = await optimize(raw, { timeLimitSeconds: 10 });
    expect(output.plans).toEqual([expect.objectContaining(plan)]);
    expect(output.migrations).toBe(migrations);
    expect(output.objective_gco2).toBeCloseTo(objective, 9);
    // The independent check agrees, on the parsed input and on it as plain JSON objects alike.
    const parsed = parseOptimizeInput(raw);
    expect(validatePlan(parsed, output).violations).toEqual([]);
    expect(validatePlan(JSON.parse(JSON.stringify(parsed)) as OptimizeInput, output).violations).toEqual([]);
  });
});

test('auto picks by model size over the catalog', async () => {
  const small = fake('small', (m) => ({ status: 'optimal', choice: cheapestChoice(m), lowerBoundGco2: 0 }), 3);
  const large = fake('large', (m) => ({ status: 'optimal', choice: cheapestChoice(m), lowerBoundGco2: 0 }), 100);
  const both: SolverCatalog = { solvers: [small, large], autoOrder: ['small', 'large'] };
  // One job in a 12-slot window across 3 regions: 36 options.
  const raw = input().regions('KR', 'JP', 'CN').horizon(12).capacity('KR', { cpu: 1 }).capacity('JP', { cpu: 1 }).capacity('CN', { cpu: 1 }).job(job('a').window(0, 11)).obj();
  expect((await optimizeWith(both, raw)).solver).toBe('large');
  expect((await optimizeWith(both, seedScenario().horizon(1).job(job('a').window(0, 0)).obj())).solver).toBe('small');
});

/** A contended 5-job, 2-region, 5-slot instance (found by random search): branch-and-cut takes several nodes. */
function contended(): OptimizeInput {
  return parseOptimizeInput({
    jobs: [
      { job_id: 'j0', cpu: 1, mem_gb: 1, gpu: 0, runtime_slots: 1, release_slot: 1, deadline_slot: 4, data_gb: 5, affinity_regions: [] },
      { job_id: 'j1', cpu: 3, mem_gb: 4, gpu: 1, runtime_slots: 3, release_slot: 2, deadline_slot: 6, data_gb: 0, affinity_regions: [] },
      { job_id: 'j2', cpu: 1, mem_gb: 1, gpu: 0, runtime_slots: 3, release_slot: 2, deadline_slot: 6, data_gb: 10, affinity_regions: [] },
      { job_id: 'j3', cpu: 3, mem_gb: 1, gpu: 0, runtime_slots: 1, release_slot: 2, deadline_slot: 4, data_gb: 5, affinity_regions: [] },
      { job_id: 'j4', cpu: 1, mem_gb: 2, gpu: 0, runtime_slots: 1, release_slot: 2, deadline_slot: 4, data_gb: 10, affinity_regions: [] },
    ],
    capacities: [
      { region: 'KR', slot: 0, cpu_cap: 2, mem_gb_cap: 8, gpu_cap: 0 },
      { region: 'KR', slot: 1, cpu_cap: 3, mem_gb_cap: 2, gpu_cap: 2 },
      { region: 'KR', slot: 2, cpu_cap: 3, mem_gb_cap: 4, gpu_cap: 1 },
      { region: 'KR', slot: 3, cpu_cap: 2, mem_gb_cap: 8, gpu_cap: 0 },
      { region: 'KR', slot: 4, cpu_cap: 2, mem_gb_cap: 4, gpu_cap: 2 },
      { region: 'JP', slot: 0, cpu_cap: 2, mem_gb_cap: 8, gpu_cap: 2 },
      { region: 'JP', slot: 1, cpu_cap: 3, mem_gb_cap: 4, gpu_cap: 1 },
      { region: 'JP', slot: 2, cpu_cap: 1, mem_gb_cap: 4, gpu_cap: 2 },
    ],
    carbons: [
      { region: 'KR', slot: 0, ci_gco2_per_kwh: 300 },
      { region: 'KR', slot: 1, ci_gco2_per_kwh: 150 },
      { region: 'KR', slot: 2, ci_gco2_per_kwh: 100 },
      { region: 'KR', slot: 3, ci_gco2_per_kwh: 400 },
      { region: 'KR', slot: 4, ci_gco2_per_kwh: 350 },
      { region: 'JP', slot: 0, ci_gco2_per_kwh: 200 },
      { region: 'JP', slot: 1, ci_gco2_per_kwh: 100 },
      { region: 'JP', slot: 2, ci_gco2_per_kwh: 100 },
      { region: 'JP', slot: 3, ci_gco2_per_kwh: 450 },
      { region: 'JP', slot: 4, ci_gco2_per_kwh: 350 },
    ],
    regions: ['KR', 'JP'],
    slot_seconds: 300,
    horizon_slots: 5,
    costs: { watt_gpu: 200, watt_mem_gb: 3, lambda_plan_dev: 100 },
    network_costs: {},
    migration_allow: true,
    prev_plan: { j4: { region: 'KR' } },
  });
}

describe('jslp and the wall clock', () => {
  afterEach(() => vi.restoreAllMocks());

  test('a wall clock stepped forward during branch-and-cut reads as timed out, never as a proven optimum', async () => {
    const exact = await optimize(contended(), { solver: 'jslp', timeLimitSeconds: 2, gapTolerance: 1e-9 });
    expect(exact).toMatchObject({ solver: 'jslp', solver_status: 'optimal' });
    const realNow = Date.now.bind(Date);
    // The library times its search with Date.now(): an NTP step or a resumed VM stops it after a few nodes.
    for (let stepAfter = 2; stepAfter <= 8; stepAfter++) {
      let calls = 0;
      vi.spyOn(Date, 'now').mockImplementation(() => realNow() + (++calls > stepAfter ? 1e9 : 0));
      const out = await optimize(contended(), { solver: 'jslp', timeLimitSeconds: 2, gapTolerance: 1e-9 });
      vi.restoreAllMocks();
      if (out.solver !== 'jslp' || out.solver_status !== 'optimal') continue;
      expect(out.plans.length, `step after ${stepAfter} calls`).toBe(exact.plans.length);
      expect(out.objective_gco2, `step after ${stepAfter} calls`).toBeCloseTo(exact.objective_gco2, 9);
    }
  });
});

describe('jslp and model size', () => {
  test('declines a model beyond what it is started on, and the fallback plans it', async () => {
    // Its root LP cannot be cut short: 120 jobs of the GPU family (about 4,000 options) took 18-21 s with a 1 s limit.
    const family = FAMILIES.find((f) => f.name === 'gpu-200x48')!;
    const full = generate(family);
    const input = parseOptimizeInput({ ...full, jobs: full.jobs.slice(0, 120), prev_plan: {} });
    const { model } = compileModel(input);
    expect(optionCount(model)).toBeGreaterThan(JSLP_MAX_STARTED_OPTIONS);
    const declined = await jslpSolver.solve(model, { timeLimitSeconds: 60, gapTolerance: 1e-4 });
    expect(declined).toMatchObject({ status: 'error', lowerBoundGco2: null, detail: expect.stringContaining('more than it is started on') });
    const out = await optimize(input, { solver: 'jslp', timeLimitSeconds: 1 });
    expect(out.solver).not.toBe('jslp');
    expect(out.plans.length + out.unscheduled.length).toBe(120);
    expect(validatePlan(input, out).violations).toEqual([]);
  });

  test('still solves a model at its ceiling', async () => {
    const family = FAMILIES.find((f) => f.name === 'gpu-200x48')!;
    const full = generate(family);
    const input = parseOptimizeInput({ ...full, jobs: full.jobs.slice(0, 20), prev_plan: {} });
    expect(optionCount(compileModel(input).model)).toBeLessThanOrEqual(JSLP_MAX_STARTED_OPTIONS);
    expect(await optimize(input, { solver: 'jslp', timeLimitSeconds: 10 })).toMatchObject({ solver: 'jslp', solver_status: 'optimal' });
  });
});
