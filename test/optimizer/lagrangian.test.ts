import { describe, expect, it } from 'vitest';
import { optionRuntime } from '../../src/optimizer/model.js';
import { LagrangianDual } from '../../src/optimizer/solvers/lagrangian-dual.js';
import { createLagrangianSolver, DEFAULT_LAGRANGIAN_SETTINGS, lagrangianSolver } from '../../src/optimizer/solvers/lagrangian.js';
import type { PlacementModel } from '../../src/optimizer/types.js';
import { seededRandom } from '../../src/domain/random.js';
import { bigOrSmallModel, enumerate, oneSlotModel, optimumPlacingAtLeast, overflows, placedSet, planCost, randomModel } from './lagrangian-support.js';

const SOLVE = { timeLimitSeconds: 10, gapTolerance: 1e-4 };

/** Reduced cost summed cell by cell, without prefix sums. */
function naiveReducedCost(model: PlacementModel, dual: LagrangianDual, j: number, k: number): number {
  const job = model.jobs[j]!;
  const demand = [job.cpu, job.memGb, job.gpu];
  const caps = [model.capacity.cpu, model.capacity.memGb, model.capacity.gpu];
  let value = job.optionCost[k]!;
  for (const res of dual.resources) {
    const d = demand[caps.indexOf(res.cap)]!;
    for (let s = job.optionStart[k]!; s < job.optionStart[k]! + optionRuntime(job, k); s++) {
      value += d * res.u[job.optionRegion[k]! * model.horizonSlots + s]!;
    }
  }
  return value;
}

function randomMultipliers(dual: LagrangianDual, seed: number): void {
  const random = seededRandom(seed);
  for (const res of dual.resources) for (let c = 0; c < res.u.length; c++) res.u[c] = random() < 0.3 ? 0 : random() * 5;
  dual.refreshPrefixes();
}

/** Reads the counters the solver reports in its detail line. */
function counters(detail: string | undefined): { iterations: number; moves: number } {
  const iterations = Number(/(\d+) dual iterations/.exec(detail ?? '')?.[1]);
  const moves = Number(/(\d+) neighbourhood moves/.exec(detail ?? '')?.[1]);
  return { iterations, moves };
}

describe('LagrangianDual pricing', () => {
  it('prices every option with prefix sums exactly as the cell-by-cell sum', () => {
    const model = randomModel(3, { jobs: 12, regions: 3, slots: 10, withGpu: true });
    const dual = new LagrangianDual(model);
    expect(dual.resources.length).toBe(3);
    randomMultipliers(dual, 99);
    model.jobs.forEach((job, j) => {
      for (let k = 0; k < job.optionCost.length; k++) {
        expect(dual.reducedCost(j, k)).toBeCloseTo(naiveReducedCost(model, dual, j, k), 9);
      }
    });
  });

  it('solves each job subproblem and returns L(u) = sum of minima - sum u x cap', () => {
    const model = randomModel(4, { jobs: 10, regions: 2, slots: 8, withGpu: true });
    const dual = new LagrangianDual(model);
    randomMultipliers(dual, 5);
    const argmin = new Int32Array(model.jobs.length);
    const minimum = new Float64Array(model.jobs.length);
    const value = dual.priceJobs(argmin, minimum);
    let expected = 0;
    model.jobs.forEach((job, j) => {
      let best = Infinity;
      for (let k = 0; k < job.optionCost.length; k++) best = Math.min(best, naiveReducedCost(model, dual, j, k));
      expect(minimum[j]).toBeCloseTo(best, 9);
      expect(naiveReducedCost(model, dual, j, argmin[j]!)).toBeCloseTo(best, 9);
      expected += best;
    });
    for (const res of dual.resources) res.u.forEach((u, c) => (expected -= u * res.cap[c]!));
    expect(value).toBeCloseTo(expected, 9);
  });

  it('leaves out resources no job asks for', () => {
    const model = randomModel(5, { jobs: 4, withGpu: false });
    expect(new LagrangianDual(model).resources.length).toBe(2);
  });

  it('gives a subgradient of zero exactly when the relaxed choice is feasible and complementary', () => {
    const model = randomModel(6, { jobs: 3, maxCpu: 9 });
    const dual = new LagrangianDual(model);
    const cheapest = Int32Array.from(model.jobs, (job) => job.optionCost.indexOf(Math.min(...job.optionCost)));
    // With u = 0 the subgradient only has the overflowing rows.
    expect(dual.subgradient(cheapest) === 0).toBe(overflows(model, cheapest).length === 0);
  });
});

describe('lagrangianSolver', () => {
  it('returns feasible plans that place the most jobs possible, with bounds no higher than the optimum', async () => {
    const solver = createLagrangianSolver({ maxIterations: 300 });
    for (let seed = 1; seed <= 25; seed++) {
      const model = randomModel(seed, { jobs: 5, slots: 5, maxCpu: 4, withGpu: seed % 3 === 0 });
      const exact = enumerate(model);
      const result = await solver.solve(model, SOLVE);
      expect(overflows(model, result.choice), `seed ${seed}`).toEqual([]);
      expect(result.choice.filter((k) => k >= 0).length, `seed ${seed}`).toBe(exact.maxPlaced);
      const optimum = exact.optimum.get(placedSet(result.choice))!;
      const cost = planCost(model, result.choice);
      expect(result.lowerBoundGco2!, `seed ${seed}`).toBeLessThanOrEqual(optimumPlacingAtLeast(exact.optimum, exact.maxPlaced) + 1e-6);
      expect(cost).toBeGreaterThanOrEqual(optimum - 1e-9);
      if (result.status === 'optimal') expect(cost).toBeLessThanOrEqual(optimum * (1 + 1e-4) + 1e-9);
    }
  });

  it('bounds a plan that must leave jobs out by the plans placing as many, not by all of them', async () => {
    // One slot of one cpu and three jobs that want it: only one can run. A bound for placing all three
    // would exceed the cost of any plan the solver can return.
    const model = oneSlotModel(1, [
      ['j0', 1, 5],
      ['j1', 1, 7],
      ['j2', 1, 9],
    ]);
    const result = await createLagrangianSolver({ maxIterations: 200 }).solve(model, SOLVE);
    expect(result.choice.filter((k) => k >= 0).length).toBe(1);
    expect(result.lowerBoundGco2!).toBeLessThanOrEqual(5 + 1e-9);
  });

  it('bounds a plan that leaves a cheap job out by the cheapest plan placing as many jobs', async () => {
    const model = bigOrSmallModel();
    const result = await createLagrangianSolver({ maxIterations: 200 }).solve(model, SOLVE);
    expect(result.choice.filter((k) => k >= 0)).toHaveLength(1);
    expect(result.lowerBoundGco2!).toBeLessThanOrEqual(3 + 1e-9);
  });

  it('proves optimality when the relaxed choice is already feasible', async () => {
    const model = randomModel(8, { jobs: 4, maxCpu: 40 });
    const result = await lagrangianSolver.solve(model, SOLVE);
    expect(result.status).toBe('optimal');
    expect(result.lowerBoundGco2).toBeCloseTo(planCost(model, result.choice), 6);
  });

  it('stops after its iteration budget with a feasible plan', async () => {
    const model = randomModel(9, { jobs: 30, regions: 3, slots: 12, maxCpu: 4 });
    const result = await createLagrangianSolver({ maxIterations: 7 }).solve(model, { ...SOLVE, gapTolerance: 0 });
    const { iterations, moves } = counters(result.detail);
    expect(iterations + moves).toBeLessThanOrEqual(7);
    expect(overflows(model, result.choice)).toEqual([]);
  });

  it('stops at the time limit on its clock, still with a feasible plan and a bound', async () => {
    // A fake clock that moves one second per reading: a 5-second limit allows only a few readings.
    let t = 0;
    const now = () => (t += 1000);
    const model = randomModel(10, { jobs: 30, regions: 3, slots: 12, maxCpu: 4 });
    const result = await createLagrangianSolver({ now }).solve(model, { timeLimitSeconds: 5, gapTolerance: 0 });
    const { iterations, moves } = counters(result.detail);
    expect(iterations + moves).toBeLessThanOrEqual(5);
    expect(overflows(model, result.choice)).toEqual([]);
    expect(result.lowerBoundGco2!).toBeLessThanOrEqual(planCost(model, result.choice) + 1e-9);
  });

  it('has pinned defaults and a registry name', () => {
    expect(lagrangianSolver.name).toBe('lagrangian');
    expect(DEFAULT_LAGRANGIAN_SETTINGS).toMatchObject({ repairEvery: 10, patience: 20, dualShare: 0.5, neighbourhoodSize: 40 });
  });
});
