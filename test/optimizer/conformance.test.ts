import { describe, expect, test } from 'vitest';
import { optimize, parseOptimizeInput, solverNames, validatePlan } from '../../src/optimizer/index.js';
import type { OptimizeInput, OptimizeOutput } from '../../src/optimizer/index.js';
import { seededRandom } from '../../src/domain/random.js';
import { input, job, seedScenario } from '../support/optimizer-builders.js';

/**
 * The contract every registered backend must meet (bullmq style: one suite, every backend). Each backend is
 * run through `optimize()` by name, and each answer is checked by the independent plan validator rather than
 * against a stored plan: feasible, objective recomputed = objective reported, bound <= objective, and where
 * the backend claims optimality, the exact optimum.
 */

const EXACT = 'highs';
/** Generous for the exact reference; the backend under test gets less, as heuristics use all they are given. */
const RUN = { timeLimitSeconds: 20, gapTolerance: 1e-9 };
const UNDER_TEST = { timeLimitSeconds: 3, gapTolerance: 1e-9 };
const REL = 1e-6;

function closeTo(a: number, b: number): boolean {
  return Math.abs(a - b) <= REL * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Runs a backend and applies the checks every answer must pass, whatever the instance. */
async function solveChecked(solver: string, raw: OptimizeInput): Promise<OptimizeOutput> {
  const output = await optimize(raw, { ...UNDER_TEST, solver });
  expect(output.solver, `${solver} fell back: ${JSON.stringify(output)}`).toBe(solver);
  expect(output.solver_status).not.toBe('error');
  const { violations, objectiveGco2 } = validatePlan(parseOptimizeInput(raw), output);
  expect(violations).toEqual([]);
  expect(closeTo(objectiveGco2, output.objective_gco2)).toBe(true);
  return output;
}

/** The exact optimum for placing exactly `jobIds` (a sub-input solved by the exact reference). */
async function optimumFor(raw: OptimizeInput, jobIds: string[]): Promise<number> {
  const keep = new Set(jobIds);
  const output = await optimize({ ...raw, jobs: raw.jobs.filter((j) => keep.has(j.job_id)) }, { ...RUN, solver: EXACT });
  expect(output.solver_status).toBe('optimal');
  expect(output.plans).toHaveLength(jobIds.length);
  return output.objective_gco2;
}

const placedIds = (o: OptimizeOutput) => o.plans.map((p) => p.job_id).sort();

interface KnownCase {
  name: string;
  input: () => OptimizeInput;
  optimum: number;
  /** Jobs every optimal plan places (sorted), when that set is unique. */
  placed?: string[];
  /** How many jobs an optimal plan places, when which ones is a tie. */
  placedCount?: number;
  check?: (o: OptimizeOutput) => void;
}

// One core for one hour draws 0.03 kWh: at 100 gCO2/kWh that is 3 g.
const knownCases: KnownCase[] = [
  {
    name: 'cpu capacity binds: the second job waits for a dearer slot',
    input: () =>
      input()
        .regions('KR', 'JP')
        .horizon(2)
        .capacity('KR', { cpu: 4 })
        .capacity('JP', { cpu: 4 })
        .carbon('KR', [100, 150])
        .carbon('JP', 300)
        .job(job('a').cpu(3).window(0, 1), job('b').cpu(3).window(0, 1))
        .obj(),
    optimum: 9 + 13.5,
    placed: ['a', 'b'],
  },
  {
    name: 'memory capacity binds: one job moves to the dirtier region',
    input: () =>
      input()
        .regions('KR', 'JP')
        .horizon(1)
        .capacity('KR', { cpu: 100, mem: 8 })
        .capacity('JP', { cpu: 100, mem: 8 })
        .carbon('KR', 100)
        .carbon('JP', 200)
        .job(job('a').mem(6).window(0, 0), job('b').mem(6).window(0, 0))
        .obj(),
    optimum: 3 + 6,
    placed: ['a', 'b'],
  },
  {
    name: 'GPU capacity binds (GPU watts counted)',
    input: () =>
      input()
        .regions('KR', 'JP')
        .horizon(1)
        .capacity('KR', { cpu: 16, gpu: 1 })
        .capacity('JP', { cpu: 16, gpu: 1 })
        .carbon('KR', 100)
        .carbon('JP', 200)
        .costs({ watt_gpu: 100 })
        .job(job('a').gpu(1).window(0, 0), job('b').gpu(1).window(0, 0), job('c').cpu(2).window(0, 0))
        .obj(),
    // a, b: 130 W each, one per region; c: 60 W in KR.
    optimum: 13 + 26 + 6,
    placed: ['a', 'b', 'c'],
  },
  {
    name: 'affinity keeps a job out of the cleanest region',
    input: () => seedScenario().job(job('a').cpu(2).window(0, 0).affinity('JP', 'CN')).obj(),
    optimum: 2.25,
    placed: ['a'],
    check: (o) => expect(o.plans[0]!.region).toBe('JP'),
  },
  {
    name: 'the seed at T1: the job goes to KR',
    input: () => seedScenario().job(job('a').cpu(2).window(0, 0)).obj(),
    optimum: 2,
    placed: ['a'],
    check: (o) => expect(o.plans[0]).toMatchObject({ region: 'KR', start_slot: 0, cost_gco2: 2, migration_cost_gco2: 0 }),
  },
  {
    name: 'the seed at T2: the migration charge makes the job stay in KR',
    input: () =>
      seedScenario().carbon('KR', 700).carbon('JP', 300).carbon('CN', 600).job(job('a').cpu(2).data(10).window(0, 0)).prev('a', 'KR').networkCost('KR', 'JP', 0.5).obj(),
    optimum: 3.5,
    placed: ['a'],
    check: (o) => expect(o.migrations).toBe(0),
  },
  {
    name: 'the seed at T2 with a cheap move: the job migrates KR -> JP',
    input: () =>
      seedScenario().carbon('KR', 700).carbon('JP', 300).carbon('CN', 600).costs({ lambda_plan_dev: 1 }).job(job('a').cpu(2).data(10).window(0, 0)).prev('a', 'KR').networkCost('KR', 'JP', 0.05).obj(),
    optimum: 1.5 + 1 + 0.5,
    placed: ['a'],
    check: (o) => {
      expect(o.migrations).toBe(1);
      expect(o.plans[0]).toMatchObject({ region: 'JP', cost_gco2: 1.5, migration_cost_gco2: 1.5 });
    },
  },
  {
    name: 'migration_allow false keeps a job in its dearer previous region',
    input: () => seedScenario().job(job('a').cpu(2).window(0, 0)).prev('a', 'JP').migrationAllow(false).obj(),
    optimum: 2.25,
    placed: ['a'],
    check: (o) => expect(o.plans[0]!.region).toBe('JP'),
  },
  {
    name: 'a big job is left out so that two small ones fit, placed optimally',
    input: () =>
      input()
        .regions('KR')
        .horizon(2)
        .capacity('KR', { cpu: 4 })
        .carbon('KR', [100, 200])
        .job(job('big').cpu(4).runtime(2).window(0, 1), job('s1').cpu(2).window(0, 1), job('s2').cpu(2).window(0, 1))
        .obj(),
    optimum: 6 + 6,
    placed: ['s1', 's2'],
    check: (o) => expect(o.unscheduled).toEqual([expect.objectContaining({ job_id: 'big', code: 'capacity_contention' })]),
  },
  {
    name: 'three jobs, room for two: one left out, the others in the cheapest places',
    input: () =>
      input()
        .regions('KR', 'JP')
        .horizon(1)
        .capacity('KR', { cpu: 4 })
        .capacity('JP', { cpu: 4 })
        .carbon('KR', 100)
        .carbon('JP', 200)
        .job(job('a').cpu(3).window(0, 0), job('b').cpu(3).window(0, 0), job('c').cpu(3).window(0, 0))
        .obj(),
    optimum: 9 + 18,
    placedCount: 2,
  },
  {
    name: 'room for one of two jobs: whichever a backend keeps, its bound covers the cheaper plan',
    // big alone: 4 cores, 12 g; small alone: 3 g. A plan keeping big must still report a bound <= 3.
    input: () =>
      input().regions('KR').horizon(1).capacity('KR', { cpu: 4 }).carbon('KR', 100).job(job('big').cpu(4).window(0, 0), job('small').window(0, 0)).obj(),
    optimum: 3,
    placedCount: 1,
  },
  {
    name: 'unplaceable jobs are reported while the rest is solved',
    input: () =>
      seedScenario()
        .job(job('ok').cpu(2).window(0, 0), job('huge').cpu(64), job('late').runtime(5).window(10, 11))
        .obj(),
    optimum: 2,
    placed: ['ok'],
    check: (o) =>
      expect(o.unscheduled.map((u) => [u.job_id, u.code])).toEqual([
        ['huge', 'no_capacity'],
        ['late', 'empty_window'],
      ]),
  },
];

// Pools: ECO runs 1.5x as long at 0.6x the power, so 0.9x the energy.
const FAST = { name: 'FAST', speed: 1, power: 1 };
const ECO = { name: 'ECO', speed: 1.5, power: 0.6 };

knownCases.push(
  {
    name: 'pools: ECO is chosen when its lower power outweighs the longer run and the deadline allows',
    // FAST: 2 slots x 100 x 0.03 = 6 g; ECO: 3 slots x 100 x 0.018 = 5.4 g.
    input: () => input().regions('KR').horizon(4).capacity('KR', { cpu: 4 }).pools('KR', FAST, ECO).carbon('KR', 100).job(job('a').runtime(2).window(0, 3)).obj(),
    optimum: 5.4,
    placed: ['a'],
    check: (o) => expect(o.plans[0]).toMatchObject({ region: 'KR', pool: 'ECO', start_slot: 0 }),
  },
  {
    name: 'pools: FAST when the deadline leaves no room for the slower ECO run',
    input: () => input().regions('KR').horizon(4).capacity('KR', { cpu: 4 }).pools('KR', FAST, ECO).carbon('KR', 100).job(job('a').runtime(2).window(0, 1)).obj(),
    optimum: 6,
    placed: ['a'],
    check: (o) => expect(o.plans[0]).toMatchObject({ pool: 'FAST', start_slot: 0 }),
  },
  {
    name: 'pools: a job limited to FAST stays off ECO; a full ECO pool sends the other to FAST',
    input: () =>
      input()
        .regions('KR')
        .horizon(3)
        .capacity('KR', { cpu: 4 })
        .pools('KR', FAST, { ...ECO, cap: { cpu: 1 } })
        .carbon('KR', 100)
        .job(job('urgent').runtime(2).window(0, 2).pools('FAST'), job('b').runtime(2).window(0, 2), job('c').runtime(2).window(0, 2))
        .obj(),
    // urgent and one of b/c on FAST: 6 g each; the other on ECO: 5.4 g.
    optimum: 6 + 6 + 5.4,
    placed: ['b', 'c', 'urgent'],
    check: (o) => expect(o.plans.find((p) => p.job_id === 'urgent')?.pool).toBe('FAST'),
  },
  {
    name: 'wait charge above any carbon saving: starts at once despite a far cleaner later slot',
    // Slot 0 at 500: 15 g. Slot 2 at 50 would be 1.5 g + 2 x 1000 of waiting.
    input: () => input().regions('KR').horizon(3).capacity('KR', { cpu: 4 }).carbon('KR', [500, 500, 50]).job(job('a').window(0, 2).wait(1000)).obj(),
    optimum: 15,
    placed: ['a'],
    check: (o) => expect(o).toMatchObject({ plans: [{ start_slot: 0 }], co2_estimate_kg: 0.015 }),
  },
  {
    name: 'no wait charge: the job waits for the dip',
    input: () => input().regions('KR').horizon(3).capacity('KR', { cpu: 4 }).carbon('KR', [500, 500, 50]).job(job('a').window(0, 2)).obj(),
    optimum: 1.5,
    placed: ['a'],
    check: (o) => expect(o.plans[0]?.start_slot).toBe(2),
  },
  {
    name: 'a small wait charge waits only for a clearly cleaner slot',
    // Slot 1 at 90 saves 0.3 g but waiting charges 0.5 g; slot 2 at 20 saves 2.4 g for 1 g of waiting.
    input: () => input().regions('KR').horizon(3).capacity('KR', { cpu: 4 }).carbon('KR', [100, 90, 20]).job(job('a').window(0, 2).wait(0.5)).obj(),
    optimum: 0.6 + 1,
    placed: ['a'],
    check: (o) => {
      expect(o.plans[0]).toMatchObject({ start_slot: 2, wait_cost_gco2: 1 });
      expect(o.plans[0]?.cost_gco2).toBeCloseTo(0.6, 12);
      expect(o.co2_estimate_kg).toBeCloseTo(0.0006, 12);
    },
  },
);

/**
 * A random instance with contended capacity: 2-3 regions, 4-9 slots, 3-9 jobs, some with GPUs, affinities and
 * previous plans; capacity drawn so that the cheapest slots cannot take everyone.
 */
function randomInput(seed: number, withPools = false): OptimizeInput {
  const rnd = seededRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const regions = ['KR', 'JP', 'CN'].slice(0, int(2, 3));
  const horizon = int(4, 9);
  const b = input().regions(...regions).horizon(horizon).slotSeconds(900).migrationAllow(rnd() < 0.8);
  if (rnd() < 0.5) b.costs({ watt_gpu: 200, watt_mem_gb: 0.4, lambda_plan_dev: int(0, 20) });
  for (const r of regions) {
    b.carbon(r, Array.from({ length: horizon }, () => int(50, 700)));
    for (let s = 0; s < horizon; s++) b.capacityAt(r, s, { cpu: int(1, 6), mem: int(4, 16), gpu: int(0, 1) });
    for (const to of regions) if (to !== r && rnd() < 0.5) b.networkCost(r, to, int(0, 5));
    if (withPools && rnd() < 0.7) {
      b.pools(r, { ...FAST, cap: { cpu: int(1, 4), mem: int(4, 12), gpu: int(0, 1) } }, { name: 'ECO', speed: 1 + int(1, 4) / 4, power: int(4, 9) / 10, cap: { cpu: int(1, 4), mem: int(4, 12), gpu: 0 } });
    }
  }
  const jobs = int(4, 10);
  for (let j = 0; j < jobs; j++) {
    const release = int(0, horizon - 1);
    const spec = job(`j${j}`)
      .cpu(int(1, 4))
      .mem(int(1, 8))
      .gpu(rnd() < 0.25 ? 1 : 0)
      .runtime(int(1, 3))
      .window(release, Math.min(horizon + 1, release + int(0, 5)))
      .data(int(0, 20));
    if (rnd() < 0.3) spec.affinity(regions[int(0, regions.length - 1)]!);
    if (withPools && rnd() < 0.5) spec.wait(int(0, 30) / 10);
    if (withPools && rnd() < 0.2) spec.pools('FAST');
    b.job(spec);
    if (rnd() < 0.3) b.prev(`j${j}`, regions[int(0, regions.length - 1)]!);
  }
  return b.obj();
}

/**
 * A GPU-heavy random instance: most jobs want 1, 2 or 4 GPUs and a cell has 4 to 6, so jobs of 4 GPUs
 * exclude each other and most pairs of 4 and 2: the LP relaxation is weakest here, which is where a
 * backend's bound is most likely to be wrong.
 */
function randomGpuInput(seed: number): OptimizeInput {
  const rnd = seededRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const regions = ['KR', 'JP', 'CN'].slice(0, int(2, 3));
  const horizon = int(4, 8);
  const b = input().regions(...regions).horizon(horizon).slotSeconds(1800).costs({ watt_gpu: 250, watt_mem_gb: 0.375 });
  for (const r of regions) {
    b.carbon(r, Array.from({ length: horizon }, () => int(100, 600)));
    for (let s = 0; s < horizon; s++) b.capacityAt(r, s, { cpu: int(12, 32), mem: int(96, 256), gpu: int(4, 6) });
  }
  const jobs = int(5, 9);
  for (let j = 0; j < jobs; j++) {
    const release = int(0, horizon - 1);
    const gpu = [0, 1, 2, 4, 4][int(0, 4)]!;
    const spec = job(`g${j}`)
      .cpu(gpu > 0 ? 8 : int(1, 8))
      .mem(gpu > 0 ? 64 : int(2, 32))
      .gpu(gpu)
      .runtime(int(1, 3))
      .window(release, Math.min(horizon + 1, release + int(1, 5)));
    if (rnd() < 0.2) spec.affinity(regions[int(0, regions.length - 1)]!);
    b.job(spec);
  }
  return b.obj();
}

const SEEDS = Array.from({ length: 25 }, (_, i) => 1000 + i);
/** Random instances with FAST/ECO pools in most regions, waiting charges and FAST-only jobs. */
const POOL_SEEDS = Array.from({ length: 12 }, (_, i) => 2000 + i);
const GPU_SEEDS = Array.from({ length: 10 }, (_, i) => 3000 + i);

type Family = 'plain' | 'pools' | 'gpu';
const RANDOM_CASES: ReadonlyArray<readonly [number, Family]> = [
  ...SEEDS.map((seed) => [seed, 'plain'] as const),
  ...POOL_SEEDS.map((seed) => [seed, 'pools'] as const),
  ...GPU_SEEDS.map((seed) => [seed, 'gpu'] as const),
];

function randomCase(seed: number, family: Family): OptimizeInput {
  return family === 'gpu' ? randomGpuInput(seed) : randomInput(seed, family === 'pools');
}

describe.each(solverNames())('solver %s', (solver) => {
  test.each(knownCases)('$name', async (c) => {
    const raw = c.input();
    const output = await solveChecked(solver, raw);
    if (c.placed) expect(placedIds(output)).toEqual(c.placed);
    if (c.placedCount !== undefined) expect(output.plans).toHaveLength(c.placedCount);
    expect(output.objective_gco2).toBeGreaterThanOrEqual(c.optimum - REL);
    expect(output.lower_bound_gco2 ?? 0).toBeLessThanOrEqual(c.optimum + REL);
    if (output.solver_status === 'optimal') {
      expect(closeTo(output.objective_gco2, c.optimum), `${output.objective_gco2} vs ${c.optimum}`).toBe(true);
      c.check?.(output);
    }
  });

  test('an empty job list is an empty optimal plan', async () => {
    const output = await solveChecked(solver, seedScenario().obj());
    expect(output).toMatchObject({ plans: [], objective_gco2: 0, lower_bound_gco2: 0, gap: 0, solver_status: 'optimal' });
  });

  test.each(RANDOM_CASES)('random instance %i (%s): feasible, bound valid, optimal means optimal', async (seed, family) => {
    const raw = randomCase(seed, family);
    const reference = await optimize(raw, { ...RUN, solver: EXACT });
    const output = await solveChecked(solver, raw);
    // Placing the most jobs comes first: nobody places more than the exact optimum does.
    expect(output.plans.length).toBeLessThanOrEqual(reference.plans.length);
    const optimum = await optimumFor(raw, placedIds(output));
    expect(output.objective_gco2).toBeGreaterThanOrEqual(optimum - REL * Math.max(1, optimum));
    if (output.lower_bound_gco2 !== null) {
      expect(output.lower_bound_gco2).toBeLessThanOrEqual(optimum + REL * Math.max(1, optimum));
      // The bound covers every plan placing at least as many jobs, whichever they are: the reference places
      // at least as many, so its optimum is one of them.
      expect(output.lower_bound_gco2).toBeLessThanOrEqual(reference.objective_gco2 + REL * Math.max(1, reference.objective_gco2));
    }
    if (output.solver_status === 'optimal') {
      expect(output.plans.length).toBe(reference.plans.length);
      expect(closeTo(output.objective_gco2, reference.objective_gco2), `${output.objective_gco2} vs ${reference.objective_gco2}`).toBe(true);
    }
  });
});

test('the exact backends agree on every random instance', async () => {
  for (const [seed, family] of RANDOM_CASES) {
    const raw = randomCase(seed, family);
    const [a, b] = await Promise.all([optimize(raw, { ...RUN, solver: 'jslp' }), optimize(raw, { ...RUN, solver: 'highs' })]);
    expect([a.solver_status, b.solver_status]).toEqual(['optimal', 'optimal']);
    expect(a.plans.length).toBe(b.plans.length);
    expect(closeTo(a.objective_gco2, b.objective_gco2), `seed ${seed}: ${a.objective_gco2} vs ${b.objective_gco2}`).toBe(true);
  }
});

test('the GPU-heavy instances are integral-hard: the LP relaxation is below the optimum on several', async () => {
  let gaps = 0;
  for (const seed of GPU_SEEDS) {
    const raw = randomGpuInput(seed);
    const [exact, relaxed] = await Promise.all([optimize(raw, { ...RUN, solver: EXACT }), optimize(raw, { timeLimitSeconds: 2, gapTolerance: 1e-9, solver: 'lagrangian' })]);
    if (exact.plans.length === relaxed.plans.length && (relaxed.lower_bound_gco2 ?? 0) < exact.objective_gco2 * (1 - 1e-3)) gaps++;
  }
  expect(gaps).toBeGreaterThan(2);
});

test('the random instances are contended: several leave a job out', async () => {
  let leftOut = 0;
  for (const seed of SEEDS) {
    const output = await optimize(randomInput(seed), { ...RUN, solver: EXACT });
    if (output.unscheduled.some((u) => u.code === 'capacity_contention')) leftOut++;
  }
  expect(leftOut).toBeGreaterThan(2);
});
