import { describe, expect, it } from 'vitest';
import {
  deadlineAfter,
  greedySolver,
  improve,
  Packing,
  placeGreedily,
  sortOptionsByCost,
} from '../../src/optimizer/heuristics.js';
import type { PlacementModel } from '../../src/optimizer/types.js';
import { bigOrSmallModel, enumerate, optimumPlacingAtLeast, overflows, placedSet, planCost, randomModel } from './lagrangian-support.js';

const SOLVE = { timeLimitSeconds: 10, gapTolerance: 1e-4 };

/** One region, `slots` slots of capacity `cap` cpu; each job [cpu, runtime, costs per start]. */
function lineModel(slots: number, cap: number, jobs: Array<[number, number, number[]]>): PlacementModel {
  return {
    regions: ['R0'],
    horizonSlots: slots,
    jobs: jobs.map(([cpu, runtime, costs], j) => ({
      jobId: `j${j}`,
      cpu,
      memGb: 0,
      gpu: 0,
      siteRuntime: Int32Array.of(runtime),
      optionRegion: new Int32Array(costs.length),
      optionStart: Int32Array.from(costs.keys()),
      optionCost: Float64Array.from(costs),
    })),
    capacity: {
      cpu: new Float64Array(slots).fill(cap),
      memGb: new Float64Array(slots),
      gpu: new Float64Array(slots),
    },
  };
}

describe('Packing', () => {
  it('tracks usage, cost and the jobs overlapping a window as jobs come and go', () => {
    const model = randomModel(7, { jobs: 6, maxCpu: 9 });
    const packing = new Packing(model);
    const byCost = sortOptionsByCost(model);
    placeGreedily(packing, Int32Array.from(model.jobs.keys()), byCost);
    expect(overflows(model, packing.choice)).toEqual([]);
    expect(packing.cost).toBeCloseTo(planCost(model, packing.choice), 9);

    const j = packing.choice.findIndex((k) => k >= 0);
    const k = packing.choice[j]!;
    const job = model.jobs[j]!;
    const region = job.optionRegion[k]!;
    const start = job.optionStart[k]!;
    expect(packing.overlapping(region, start, start + 1)).toContain(j);
    packing.unplace(j);
    expect(packing.overlapping(region, start, start + 1)).not.toContain(j);
    expect(packing.fits(j, k)).toBe(true);
    expect(packing.cost).toBeCloseTo(planCost(model, packing.choice), 9);
  });

  it('refuses an option that would overflow any slot it spans', () => {
    const model = lineModel(3, 4, [
      [3, 1, [1, 1, 1]],
      [2, 2, [1, 1]],
    ]);
    const packing = new Packing(model);
    packing.place(0, 1);
    expect(packing.fits(1, 0)).toBe(false);
    expect(packing.fits(1, 1)).toBe(false);
    packing.unplace(0);
    packing.place(0, 0);
    expect(packing.fits(1, 1)).toBe(true);
  });
});

describe('improve', () => {
  it('never drops a placed job and never raises the cost', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const model = randomModel(seed, { jobs: 8, slots: 8, maxCpu: 6 });
      const byCost = sortOptionsByCost(model);
      const packing = new Packing(model);
      // Worst start: every job at its most expensive option that fits.
      model.jobs.forEach((_, j) => {
        for (const k of [...byCost[j]!].reverse()) {
          if (packing.fits(j, k)) {
            packing.place(j, k);
            break;
          }
        }
      });
      const before = { placed: packing.placed, cost: packing.cost };
      improve(packing, byCost, { deadline: deadlineAfter(10), maxPasses: 100, ejectionOptions: 8, exchangeOptions: 8 });
      expect(overflows(model, packing.choice)).toEqual([]);
      expect(packing.placed).toBeGreaterThanOrEqual(before.placed);
      expect(packing.cost).toBeLessThanOrEqual(before.cost + 1e-9);
    }
  });

  it('makes room for an unplaced job by moving one placed job out of its way', () => {
    // Job 0 sits in slot 0, the only slot job 1 can use; job 0 could just as well run in slot 1.
    const model = lineModel(2, 1, [
      [1, 1, [1, 2]],
      [1, 1, [5]],
    ]);
    const packing = new Packing(model);
    packing.place(0, 0);
    improve(packing, sortOptionsByCost(model), { deadline: deadlineAfter(10), maxPasses: 10, ejectionOptions: 4, exchangeOptions: 0 });
    expect(Array.from(packing.choice)).toEqual([1, 0]);
  });

  it('trades one placed job for two unplaced ones when the room it frees takes both', () => {
    // Job 0 spans both slots; jobs 1 and 2 each need one of them and have nowhere else to go.
    const model = lineModel(2, 1, [
      [1, 2, [1]],
      [1, 1, [1]],
      [1, 1, [9, 1]],
    ]);
    const packing = new Packing(model);
    packing.place(0, 0);
    improve(packing, sortOptionsByCost(model), { deadline: deadlineAfter(10), maxPasses: 10, ejectionOptions: 4, exchangeOptions: 0 });
    expect(packing.placed).toBe(2);
    expect(Array.from(packing.choice)).toEqual([-1, 0, 1]);
    expect(overflows(model, packing.choice)).toEqual([]);
  });
});

describe('improve stops its ejection searches between two options once the deadline has passed', () => {
  /** A deadline that passes at the `reads`-th clock read: each read stands for the work done since the last. */
  const passingAtRead = (reads: number) => {
    let read = 0;
    return { at: reads, now: () => ++read };
  };

  // Slots 0-2 of one core (slot 0 is never free for job 2). Job 0 can only run in slot 0; job 2 runs in slot 1 and could move to slot 2. Job 1,
  // unplaced, fits slot 0 (cheaper) or 1: the search tries slot 0 first (job 0 cannot move), then slot 1.
  // Clock reads: the pass (1), the unplaced job (2), then one per option tried (3: slot 0, 4: slot 1).
  const insertion = () => lineModel(3, 1, [[1, 1, [1]], [1, 1, [1, 2]], [1, 1, [9, 1, 2]]]);
  // Job 0 runs in slot 2 (cost 5); slot 0 (1) is job 1's only slot, slot 1 (2) is job 2's, which could move to slot 2.
  // Clock reads: the pass (1), the plain moves (2), the exchanges (3), then one per option of job 0 (4: slot 0, 5: slot 1).
  const exchange = () => lineModel(3, 1, [[1, 1, [1, 2, 5]], [1, 1, [1]], [1, 1, [9, 1, 3]]]);

  const cases = [
    { name: 'an insertion, given the time', model: insertion, place: [[0, 0], [2, 1]], search: { ejectionOptions: 4, exchangeOptions: 0 }, at: 1e9, want: [0, 1, 2] },
    { name: 'an insertion, the deadline passing after its first option', model: insertion, place: [[0, 0], [2, 1]], search: { ejectionOptions: 4, exchangeOptions: 0 }, at: 4, want: [0, -1, 1] },
    { name: 'an exchange, given the time', model: exchange, place: [[0, 2], [1, 0], [2, 1]], search: { ejectionOptions: 0, exchangeOptions: 4 }, at: 1e9, want: [1, 0, 2] },
    { name: 'an exchange, the deadline passing after its first option', model: exchange, place: [[0, 2], [1, 0], [2, 1]], search: { ejectionOptions: 0, exchangeOptions: 4 }, at: 5, want: [2, 0, 1] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const model = c.model();
      const packing = new Packing(model);
      for (const [j, k] of c.place) packing.place(j!, k!);
      improve(packing, sortOptionsByCost(model), { deadline: passingAtRead(c.at), maxPasses: 1, ...c.search });
      expect(Array.from(packing.choice)).toEqual(c.want);
    });
  }
});

describe('greedySolver', () => {
  it('places the most jobs any plan can place, feasibly, with a bound no higher than the optimum', async () => {
    for (let seed = 1; seed <= 25; seed++) {
      const model = randomModel(seed, { jobs: 5, slots: 5, maxCpu: 4, withGpu: seed % 3 === 0 });
      const exact = enumerate(model);
      const result = await greedySolver.solve(model, SOLVE);
      expect(overflows(model, result.choice), `seed ${seed}`).toEqual([]);
      expect(result.choice.filter((k) => k >= 0).length, `seed ${seed}`).toBe(exact.maxPlaced);
      const optimum = exact.optimum.get(placedSet(result.choice))!;
      expect(result.lowerBoundGco2!).toBeLessThanOrEqual(optimumPlacingAtLeast(exact.optimum, exact.maxPlaced) + 1e-9);
      expect(planCost(model, result.choice)).toBeGreaterThanOrEqual(optimum - 1e-9);
    }
  });

  it('bounds a plan that leaves a cheap job out by the cheapest plan placing as many jobs', async () => {
    const model = bigOrSmallModel();
    const result = await greedySolver.solve(model, SOLVE);
    expect(result.choice.filter((k) => k >= 0)).toHaveLength(1);
    expect(result.lowerBoundGco2!).toBeLessThanOrEqual(3);
  });

  it('places a big job first rather than let small ones fragment the room it needs', async () => {
    // Taken in input order, the three small jobs would fill slot 0 (their cheapest) and shut out the
    // 3-slot job; there is room for all when each small job takes a slot of its own.
    const model = lineModel(3, 3, [
      [1, 1, [1, 1, 1]],
      [1, 1, [1, 1, 1]],
      [1, 1, [1, 1, 1]],
      [2, 3, [10]],
    ]);
    const result = await greedySolver.solve(model, SOLVE);
    expect(overflows(model, result.choice)).toEqual([]);
    expect(result.choice.every((k) => k >= 0)).toBe(true);
  });

  it('leaves out only what cannot fit and names itself', async () => {
    const model = lineModel(1, 1, [
      [1, 1, [3]],
      [1, 1, [4]],
    ]);
    const result = await greedySolver.solve(model, SOLVE);
    expect(greedySolver.name).toBe('greedy');
    expect(Array.from(result.choice).sort()).toEqual([-1, 0]);
    expect(result.lowerBoundGco2).toBeLessThanOrEqual(planCost(model, result.choice));
  });
});
