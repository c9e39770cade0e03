import { describe, expect, it } from 'vitest';
import { constructBest, deadlineAfter, sortOptionsByCost } from '../../src/optimizer/heuristics.js';
import type { Packing } from '../../src/optimizer/heuristics.js';
import { compileModel, parseOptimizeInput } from '../../src/optimizer/index.js';
import { choiceCost, placedCount } from '../../src/optimizer/model.js';
import { combine, createHybridSolver, DEFAULT_HYBRID_SETTINGS, hybridSolver } from '../../src/optimizer/solvers/hybrid.js';
import { createLagrangianSolver } from '../../src/optimizer/solvers/lagrangian.js';
import { DEFAULT_NEIGHBOURHOOD_SETTINGS, mipNeighbourhoodSearch } from '../../src/optimizer/solvers/mip-neighbourhood.js';
import type { NeighbourhoodMove } from '../../src/optimizer/solvers/mip-neighbourhood.js';
import type { PlacementModel } from '../../src/optimizer/types.js';
import { seededRandom } from '../../src/domain/random.js';
import { enumerate, oneSlotModel, optimumPlacingAtLeast, overflows, placedSet, planCost, randomModel } from './lagrangian-support.js';

/** More jobs placed, or as many at no higher cost. */
function expectNotWorse(model: PlacementModel, plan: Int32Array, reference: Int32Array, label: string): void {
  expect(placedCount(plan), label).toBeGreaterThanOrEqual(placedCount(reference));
  if (placedCount(plan) === placedCount(reference)) {
    expect(planCost(model, plan), label).toBeLessThanOrEqual(planCost(model, reference) + 1e-9);
  }
}

/** A plan with room to improve: the greedy construction, no search. */
function greedyPacking(model: PlacementModel): Packing {
  return constructBest(model, sortOptionsByCost(model), deadlineAfter(5), { ejectionOptions: 0, exchangeOptions: 0 });
}

describe('mipNeighbourhoodSearch', () => {
  it('keeps the plan feasible and never makes it worse, move by move', async () => {
    for (let seed = 1; seed <= 8; seed++) {
      const model = randomModel(seed, { jobs: 24, regions: 3, slots: 10, maxCpu: 5, withGpu: seed % 2 === 0 });
      const packing = greedyPacking(model);
      const start = Int32Array.from(packing.choice);
      const moves: NeighbourhoodMove[] = [];
      const report = await mipNeighbourhoodSearch(
        packing,
        deadlineAfter(30),
        seededRandom(seed),
        { ...DEFAULT_NEIGHBOURHOOD_SETTINGS, initialJobs: 6, maxMoves: 12 },
        (move) => moves.push(move),
      );
      expect(report.moves).toBeLessThanOrEqual(12);
      expect(moves.length).toBeLessThanOrEqual(report.moves);
      for (const { before, after } of moves) {
        expect(after.placed).toBeGreaterThanOrEqual(before.placed);
        if (after.placed === before.placed) expect(after.cost).toBeLessThanOrEqual(before.cost + 1e-9);
      }
      expect(overflows(model, packing.choice), `seed ${seed}`).toEqual([]);
      expectNotWorse(model, packing.choice, start, `seed ${seed}`);
      // The bookkeeping matches the plan.
      expect(packing.cost).toBeCloseTo(planCost(model, packing.choice), 6);
      expect(packing.placed).toBe(placedCount(packing.choice));
    }
  });

  it('finds the optimum of a small model once a neighbourhood frees every job', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const model = randomModel(seed, { jobs: 6, slots: 5, maxCpu: 4 });
      const exact = enumerate(model);
      const packing = greedyPacking(model);
      const settings = { ...DEFAULT_NEIGHBOURHOOD_SETTINGS, initialJobs: 6, maxMoves: 50 };
      await mipNeighbourhoodSearch(packing, deadlineAfter(30), seededRandom(seed), settings);
      // A "biggest jobs" neighbourhood of 6 frees them all; the plan is then the optimum for its placed set.
      expect(packing.cost, `seed ${seed}`).toBeCloseTo(exact.optimum.get(placedSet(packing.choice))!, 6);
    }
  });

  it('stops once the plan costs no more than stopBelow', async () => {
    const model = randomModel(3, { jobs: 20, regions: 3, slots: 8, maxCpu: 5 });
    const packing = greedyPacking(model);
    const report = await mipNeighbourhoodSearch(packing, deadlineAfter(30), seededRandom(1), {
      ...DEFAULT_NEIGHBOURHOOD_SETTINGS,
      stopBelow: Infinity,
    });
    expect(report.moves).toBe(0);
  });
});

describe('combine', () => {
  const model = randomModel(2, { jobs: 3, maxCpu: 9 });
  const all = Int32Array.of(0, 0, 0);
  const cost = planCost(model, all);

  it('keeps the better plan and the larger bound when both place as many jobs', () => {
    const a = { choice: all, placed: 3, cost, bound: cost - 5 };
    const b = { choice: all, placed: 3, cost: cost + 1, bound: cost - 2 };
    expect(combine(a, b)).toMatchObject({ cost, bound: cost - 2 });
    expect(combine(b, a)).toMatchObject({ cost, bound: cost - 2 });
  });

  it('carries over the bound of a plan placing fewer jobs: it covers every plan placing at least that many', () => {
    const fewer = Int32Array.of(0, 0, -1);
    const a = { choice: all, placed: 3, cost, bound: cost - 5 };
    const b = { choice: fewer, placed: 2, cost: 1, bound: cost - 1 };
    expect(combine(a, b)).toMatchObject({ placed: 3, bound: cost - 1 });
    expect(combine({ ...a, bound: null }, b)).toMatchObject({ placed: 3, bound: cost - 1 });
    expect(combine(a, { ...b, bound: null })).toMatchObject({ placed: 3, bound: cost - 5 });
  });
});

describe('hybridSolver', () => {
  it('is never worse than its Lagrangian part, feasible, with a bound no higher than the optimum', async () => {
    const lagrangianSettings = { maxIterations: 60 };
    // Every stage, as on a model too big for HiGHS outright.
    const hybrid = createHybridSolver({
      directExactOptions: 0,
      lagrangian: lagrangianSettings,
      neighbourhood: { ...DEFAULT_NEIGHBOURHOOD_SETTINGS, initialJobs: 4, maxMoves: 6 },
    });
    const lagrangian = createLagrangianSolver(lagrangianSettings);
    const options = { timeLimitSeconds: 30, gapTolerance: 1e-9 };
    for (let seed = 1; seed <= 12; seed++) {
      const model = randomModel(seed, { jobs: 6, slots: 5, maxCpu: 4, withGpu: seed % 3 === 0 });
      const exact = enumerate(model);
      const [mixed, alone] = [await hybrid.solve(model, options), await lagrangian.solve(model, options)];
      expect(overflows(model, mixed.choice), `seed ${seed}`).toEqual([]);
      expectNotWorse(model, mixed.choice, alone.choice, `seed ${seed}`);
      expect(placedCount(mixed.choice)).toBe(exact.maxPlaced);
      const optimum = exact.optimum.get(placedSet(mixed.choice))!;
      expect(mixed.lowerBoundGco2!, `seed ${seed}`).toBeLessThanOrEqual(optimumPlacingAtLeast(exact.optimum, exact.maxPlaced) + 1e-6);
      if (mixed.status === 'optimal') expect(planCost(model, mixed.choice)).toBeCloseTo(optimum, 6);
    }
  });

  it('reports a plan that must leave a job out optimal once HiGHS proves it', async () => {
    // One 4-core slot, three jobs of 2, 2 and 3 cores: at most two fit, and the two 2-core jobs are the
    // only pair that does.
    const model = oneSlotModel(4, [
      ['a', 2, 10],
      ['b', 2, 20],
      ['c', 3, 1],
    ]);
    for (const directExactOptions of [0, DEFAULT_HYBRID_SETTINGS.directExactOptions]) {
      const result = await createHybridSolver({ directExactOptions, lagrangian: { maxIterations: 30 } }).solve(model, { timeLimitSeconds: 30, gapTolerance: 1e-6 });
      expect(Array.from(result.choice), `directExactOptions ${directExactOptions}`).toEqual([0, 0, -1]);
      expect(result.status).toBe('optimal');
      expect(result.lowerBoundGco2).toBeCloseTo(30, 6);
    }
  });

  it('solves a small model with HiGHS outright, without the Lagrangian, to the optimum', async () => {
    const options = { timeLimitSeconds: 30, gapTolerance: 1e-9 };
    for (let seed = 1; seed <= 6; seed++) {
      const model = randomModel(seed, { jobs: 6, slots: 5, maxCpu: 4, withGpu: seed % 3 === 0 });
      const exact = enumerate(model);
      const result = await hybridSolver.solve(model, options);
      expect(result.detail, `seed ${seed}`).not.toContain('lagrangian');
      expect(result.status, `seed ${seed}`).toBe('optimal');
      expect(placedCount(result.choice)).toBe(exact.maxPlaced);
      expect(planCost(model, result.choice)).toBeCloseTo(exact.optimum.get(placedSet(result.choice))!, 6);
    }
  });

  it('reports optimal, with that bound, once a sub-MIP freeing every job proved the plan optimal', async () => {
    // Three one-core jobs for two one-core slots (100 and 300 gCO2/kWh): one must be left out; optimum 3 + 9 = 12 g.
    const raw = {
      jobs: ['a', 'b', 'c'].map((id) => ({ job_id: id, cpu: 1, mem_gb: 0, runtime_slots: 1, release_slot: 0, deadline_slot: 1 })),
      capacities: [0, 1].map((slot) => ({ region: 'A', slot, cpu_cap: 1, mem_gb_cap: 0, gpu_cap: 0 })),
      carbons: [
        { region: 'A', slot: 0, ci_gco2_per_kwh: 100 },
        { region: 'A', slot: 1, ci_gco2_per_kwh: 300 },
      ],
      regions: ['A'],
      slot_seconds: 3600,
      horizon_slots: 2,
    };
    const { model } = compileModel(parseOptimizeInput(raw));
    // The path the hybrid takes on a model beyond its exact stage: the Lagrangian, then sub-MIPs; the
    // neighbourhoods are large enough to free every job at once.
    const solver = createHybridSolver({
      maxExactOptions: 0,
      lagrangian: { maxIterations: 3 },
      neighbourhood: { ...DEFAULT_NEIGHBOURHOOD_SETTINGS, initialJobs: 100, maxMoves: 6 },
    });
    const result = await solver.solve(model, { timeLimitSeconds: 3, gapTolerance: 1e-4 });
    const cost = choiceCost(model, result.choice);
    expect(cost).toBeCloseTo(12, 9);
    expect(result.detail).toMatch(/sub-MIPs/);
    expect({ status: result.status, lowerBoundGco2: Number(result.lowerBoundGco2!.toFixed(6)) }).toEqual({ status: 'optimal', lowerBoundGco2: 12 });
  });

  it('has pinned defaults and a registry name', () => {
    expect(hybridSolver.name).toBe('hybrid');
    expect(DEFAULT_HYBRID_SETTINGS).toMatchObject({ lagrangianShare: 0.15, boundShare: 0.5, maxExactOptions: 25_000, directExactOptions: 600 });
    expect(DEFAULT_NEIGHBOURHOOD_SETTINGS).toMatchObject({ initialJobs: 40, subMipSeconds: 2 });
  });
});
