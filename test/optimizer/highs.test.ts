import { describe, expect, it } from 'vitest';
import { constructBest, deadlineAfter, sortOptionsByCost } from '../../src/optimizer/heuristics.js';
import { solveMilp } from '../../src/optimizer/solvers/highs.js';
import { enumerate, optimumPlacingAtLeast, overflows, placedSet, planCost, randomModel } from './lagrangian-support.js';

const SOLVE = { timeLimitSeconds: 20, gapTolerance: 1e-9 };

const placedCount = (choice: Int32Array) => choice.filter((k) => k >= 0).length;

/** More jobs placed, or as many at no higher cost. */
function expectNotWorse(model: Parameters<typeof planCost>[0], plan: Int32Array, start: Int32Array): void {
  expect(placedCount(plan)).toBeGreaterThanOrEqual(placedCount(start));
  if (placedCount(plan) === placedCount(start)) expect(planCost(model, plan)).toBeLessThanOrEqual(planCost(model, start) + 1e-9);
}

/** A feasible start for the model: the greedy construction without search. */
function greedyStart(seed: number, model = randomModel(seed, { jobs: 6, slots: 5, maxCpu: 4, withGpu: seed % 2 === 0 })) {
  const packing = constructBest(model, sortOptionsByCost(model), deadlineAfter(5), { ejectionOptions: 0, exchangeOptions: 0 });
  return { model, start: Int32Array.from(packing.choice) };
}

describe('solveMilp from a start plan', () => {
  it('returns a feasible plan never worse than the start, optimal for its placed set, with a valid bound', async () => {
    for (let seed = 1; seed <= 12; seed++) {
      const { model, start } = greedyStart(seed);
      const exact = enumerate(model);
      const result = await solveMilp(model, { ...SOLVE, start });
      expect(overflows(model, result.choice), `seed ${seed}`).toEqual([]);
      expect(placedCount(result.choice), `seed ${seed}`).toBe(exact.maxPlaced);
      expectNotWorse(model, result.choice, start);
      const optimum = exact.optimum.get(placedSet(result.choice))!;
      expect(planCost(model, result.choice), `seed ${seed}`).toBeCloseTo(optimum, 6);
      expect(result.lowerBoundGco2!).toBeLessThanOrEqual(optimumPlacingAtLeast(exact.optimum, exact.maxPlaced) + 1e-6);
      expect(result.status).toBe('optimal');
    }
  });

  it('keeps the start when it has no time to improve it, and the bound still holds', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const { model, start } = greedyStart(seed);
      const result = await solveMilp(model, { timeLimitSeconds: 1e-6, gapTolerance: 0, start });
      if (result.status === 'error') continue;
      expect(overflows(model, result.choice)).toEqual([]);
      if (result.choice.some((k) => k >= 0)) expectNotWorse(model, result.choice, start);
    }
  });

  it('with a start placing every job, bounds exactly the plans that place every job', async () => {
    let checked = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const { model, start } = greedyStart(seed);
      if (start.some((k) => k < 0)) continue;
      checked++;
      const exact = enumerate(model);
      const all = '1'.repeat(model.jobs.length);
      const result = await solveMilp(model, { ...SOLVE, start });
      expect(placedSet(result.choice)).toBe(all);
      expect(result.lowerBoundGco2!).toBeLessThanOrEqual(exact.optimum.get(all)! + 1e-6);
      expect(planCost(model, result.choice)).toBeCloseTo(exact.optimum.get(all)!, 6);
    }
    expect(checked).toBeGreaterThan(3);
  });

  it('in bound-only mode still returns a plan no worse than the start and a valid bound', async () => {
    for (let seed = 21; seed <= 26; seed++) {
      const { model, start } = greedyStart(seed, randomModel(seed, { jobs: 7, regions: 2, slots: 6, maxCpu: 5, withGpu: true }));
      const exact = enumerate(model);
      const result = await solveMilp(model, { ...SOLVE, start, boundOnly: true });
      expect(overflows(model, result.choice)).toEqual([]);
      expectNotWorse(model, result.choice, start);
      expect(result.lowerBoundGco2!).toBeLessThanOrEqual(optimumPlacingAtLeast(exact.optimum, placedCount(result.choice)) + 1e-6);
    }
  });
});
