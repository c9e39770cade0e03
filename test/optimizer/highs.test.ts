import { describe, expect, it } from 'vitest';
import { constructBest, deadlineAfter, sortOptionsByCost } from '../../src/optimizer/heuristics.js';
import { placedCount } from '../../src/optimizer/model.js';
import { solveMilp } from '../../src/optimizer/solvers/highs.js';
import type { ModelJob, PlacementModel } from '../../src/optimizer/types.js';
import { enumerate, optimumPlacingAtLeast, overflows, placedSet, planCost, randomModel } from './lagrangian-support.js';

const SOLVE = { timeLimitSeconds: 20, gapTolerance: 1e-9 };

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

  it('does not call a plan leaving a job out optimal when one more job placed is worth less than its gap', async () => {
    // One region, slot 0 of 20 cores and slots 1-2 of 10. z (20 cores) fits only slot 0, at 100 g; six
    // small jobs cost 0 there and 100 in slots 1-2, where they all fit. Placing all seven costs 700 g;
    // leaving z out costs 0 g plus the penalty (sum of the dearest options + 1 = 701): within 0.5%.
    const sizes = [5, 4, 4, 3, 2, 2];
    const job = (jobId: string, cpu: number, options: [number, number][]): ModelJob => ({
      jobId,
      cpu,
      memGb: 0,
      gpu: 0,
      siteRuntime: Int32Array.of(1),
      optionRegion: Int32Array.from(options, () => 0),
      optionStart: Int32Array.from(options, ([slot]) => slot),
      optionCost: Float64Array.from(options, ([, cost]) => cost),
    });
    const model: PlacementModel = {
      regions: ['R0'],
      horizonSlots: 3,
      jobs: [job('z', 20, [[0, 100]]), ...sizes.map((cpu, i) => job(`j${i}`, cpu, [[0, 0], [1, 100], [2, 100]]))],
      capacity: { cpu: Float64Array.of(20, 10, 10), memGb: Float64Array.of(0, 0, 0), gpu: Float64Array.of(0, 0, 0) },
    };
    const result = await solveMilp(model, { timeLimitSeconds: 10, gapTolerance: 0.005, start: Int32Array.from([-1, ...sizes.map(() => 0)]), boundOnly: true });
    if (placedCount(result.choice) < 7) expect(result.status).not.toBe('optimal');
    expect(result.lowerBoundGco2!).toBeLessThanOrEqual(700 + 1e-6);
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
