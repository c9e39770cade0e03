import { afterEach, describe, expect, it } from 'vitest';
import { optimize, type OptimizeInput } from '../../src/optimizer/index.js';
import { ThreadedOptimizer } from '../../src/scheduler/threaded-optimize.js';

const input: OptimizeInput = {
  jobs: [{ job_id: 'a', cpu: 2, mem_gb: 1, gpu: 0, runtime_slots: 2, release_slot: 0, deadline_slot: 3, data_gb: 0, affinity_regions: [] }],
  capacities: ['KR', 'JP'].flatMap((region) => [0, 1, 2, 3].map((slot) => ({ region, slot, cpu_cap: 4, mem_gb_cap: 8, gpu_cap: 0 }))),
  carbons: [
    ...[400, 400, 100, 100].map((ci, slot) => ({ region: 'KR', slot, ci_gco2_per_kwh: ci })),
    ...[300, 300, 300, 300].map((ci, slot) => ({ region: 'JP', slot, ci_gco2_per_kwh: ci })),
  ],
  regions: ['KR', 'JP'],
  slot_seconds: 300,
  horizon_slots: 4,
  costs: {},
  network_costs: {},
  migration_allow: true,
  prev_plan: {},
};

describe('optimizer in a worker thread', () => {
  let threaded: ThreadedOptimizer;
  afterEach(() => threaded.close());

  it('returns what the in-process optimizer returns, request after request', async () => {
    threaded = new ThreadedOptimizer(10);
    const expected = await optimize(input, { solver: 'jslp' });
    for (let i = 0; i < 3; i++) {
      const output = await threaded.optimize(input, { solver: 'jslp' });
      expect({ ...output, solve_seconds: 0 }).toEqual({ ...expected, solve_seconds: 0 });
    }
    expect(expected.plans).toEqual([expect.objectContaining({ job_id: 'a', region: 'KR', start_slot: 2 })]);
  });

  it('passes the optimizer error back, and keeps serving after it', async () => {
    threaded = new ThreadedOptimizer(10);
    await expect(threaded.optimize({ ...input, regions: [] } as OptimizeInput, {})).rejects.toThrow(/region/);
    await expect(threaded.optimize(input, {})).resolves.toMatchObject({ plans: [expect.objectContaining({ job_id: 'a' })] });
  });
});
