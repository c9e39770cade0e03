import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/domain/random.js';
import { FlowNetwork } from '../../src/simulation/strategies/min-cost-flow.js';

/** Cheapest assignment of each job to a distinct slot (or to nothing at `skip` cost), by enumeration. */
function bruteForceAssignment(costs: (number | undefined)[][], slotCapacity: number[], skip: number): number {
  let best = Infinity;
  const used = slotCapacity.map(() => 0);
  const walk = (j: number, total: number) => {
    if (total >= best) return;
    if (j === costs.length) {
      best = total;
      return;
    }
    walk(j + 1, total + skip);
    costs[j]?.forEach((c, s) => {
      if (c === undefined || (used[s] as number) >= (slotCapacity[s] as number)) return;
      used[s] = (used[s] as number) + 1;
      walk(j + 1, total + c);
      used[s] = (used[s] as number) - 1;
    });
  };
  walk(0, 0);
  return best;
}

describe('min-cost flow (successive shortest paths)', () => {
  it('reroutes earlier flow through a reverse arc when that is cheaper', () => {
    // s=0 a=1 b=2 c=3 d=4 t=5. The first path takes s-a-c-t (0); the second must push a's unit to d so that
    // b can use c: s-b-c-a(reverse)-d-t, for a total of 1 + 5 = 6.
    const net = new FlowNetwork(6);
    net.addArc(0, 1, 1, 0);
    net.addArc(0, 2, 1, 0);
    const ac = net.addArc(1, 3, 1, 0);
    const ad = net.addArc(1, 4, 1, 5);
    const bc = net.addArc(2, 3, 1, 1);
    net.addArc(3, 5, 1, 0);
    net.addArc(4, 5, 1, 0);
    expect(net.minCostFlow(0, 5)).toEqual({ flow: 2, cost: 6 });
    expect([net.flow(ac), net.flow(ad), net.flow(bc)]).toEqual([0, 1, 1]);
  });

  it('solves a transportation problem to its known optimum', () => {
    // Two plants (supply 20, 30) to three markets (demand 10, 25, 15), unit costs [[8, 6, 10], [9, 12, 13]]:
    // optimum 20 x 6 from plant 1 to market 2, and 10 x 9 + 5 x 12 + 15 x 13 from plant 2 = 465.
    const costs = [
      [8, 6, 10],
      [9, 12, 13],
    ];
    const net = new FlowNetwork(7);
    net.addArc(0, 1, 20, 0);
    net.addArc(0, 2, 30, 0);
    costs.forEach((row, p) => row.forEach((c, m) => net.addArc(1 + p, 3 + m, Infinity, c)));
    [10, 25, 15].forEach((d, m) => net.addArc(3 + m, 6, d, 0));
    expect(net.minCostFlow(0, 6)).toEqual({ flow: 50, cost: 465 });
  });

  it('stops at the flow asked for, at its least cost', () => {
    const net = new FlowNetwork(4);
    net.addArc(0, 1, 5, 1);
    net.addArc(0, 2, 5, 3);
    net.addArc(1, 3, 5, 1);
    net.addArc(2, 3, 5, 1);
    expect(net.minCostFlow(0, 3, 7)).toEqual({ flow: 7, cost: 5 * 2 + 2 * 4 });
  });

  it('handles negative arc costs (Bellman-Ford potentials) and reports an unreachable sink as no flow', () => {
    const net = new FlowNetwork(4);
    net.addArc(0, 1, 1, 2);
    net.addArc(1, 2, 1, -5);
    net.addArc(2, 3, 1, 1);
    expect(net.minCostFlow(0, 3)).toEqual({ flow: 1, cost: -2 });
    const cut = new FlowNetwork(3);
    cut.addArc(0, 1, 1, 1);
    expect(cut.minCostFlow(0, 2)).toEqual({ flow: 0, cost: 0 });
  });

  it('matches brute force on random assignment problems', () => {
    const random = seededRandom(7);
    for (let trial = 0; trial < 60; trial++) {
      const jobs = 1 + Math.floor(random() * 5);
      const slots = 1 + Math.floor(random() * 4);
      const skip = 100;
      const capacity = Array.from({ length: slots }, () => 1 + Math.floor(random() * 2));
      const costs = Array.from({ length: jobs }, () => Array.from({ length: slots }, () => (random() < 0.7 ? Math.floor(random() * 50) : undefined)));
      const net = new FlowNetwork(jobs + slots + 3);
      const source = 0;
      const none = jobs + slots + 1;
      const sink = none + 1;
      costs.forEach((row, j) => {
        net.addArc(source, 1 + j, 1, 0);
        net.addArc(1 + j, none, 1, skip);
        row.forEach((c, s) => {
          if (c !== undefined) net.addArc(1 + j, 1 + jobs + s, 1, c);
        });
      });
      capacity.forEach((cap, s) => net.addArc(1 + jobs + s, sink, cap, 0));
      net.addArc(none, sink, jobs, 0);
      const result = net.minCostFlow(source, sink);
      expect(result.flow, `trial ${trial}`).toBe(jobs);
      expect(result.cost, `trial ${trial}`).toBe(bruteForceAssignment(costs, capacity, skip));
    }
  });
});
