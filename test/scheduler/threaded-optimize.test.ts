import { afterEach, describe, expect, it, vi } from 'vitest';
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
  afterEach(() => {
    vi.useRealTimers();
    return threaded.close();
  });

  it('returns what the in-process optimizer returns, request after request', async () => {
    threaded = new ThreadedOptimizer(10);
    const expected = await optimize(input, { solver: 'jslp' });
    for (let i = 0; i < 3; i++) {
      const output = await threaded.optimize(input, { solver: 'jslp' });
      expect({ ...output, solve_seconds: 0 }).toEqual({ ...expected, solve_seconds: 0 });
    }
    expect(expected.plans).toEqual([expect.objectContaining({ job_id: 'a', region: 'KR', start_slot: 2 })]);
  });

  it('a request it cannot send leaves no timer behind that would later replace the worker under a healthy request', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    threaded = new ThreadedOptimizer(30);
    // A request postMessage cannot clone: rejected at once (DataCloneError).
    const unclonable = { ...input, note: () => 'x' } as unknown as OptimizeInput;
    await expect(threaded.optimize(unclonable, { timeLimitSeconds: 1 })).rejects.toThrow(/could not be cloned/);
    // A healthy request with a longer limit (30 s + 15 s grace) is now in flight...
    const healthy = threaded.optimize(input, { solver: 'jslp', timeLimitSeconds: 30 });
    // ...when the refused request's own time-out (1 s + 15 s grace) comes due.
    vi.advanceTimersByTime(16_001);
    vi.useRealTimers();
    await expect(healthy).resolves.toMatchObject({ plans: [expect.objectContaining({ job_id: 'a' })] });
  }, 30_000);

  it('rejects a solve in flight when closed (its caller falls back at once, not after the limit), and every later one', async () => {
    // The request's own time-out (60 s + 15 s grace) never fires here: only close() can settle it.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    threaded = new ThreadedOptimizer(60);
    const inFlight = expect(threaded.optimize(input, { solver: 'lagrangian', timeLimitSeconds: 60 })).rejects.toThrow('the optimizer is closed: the hub is stopping');
    await threaded.close();
    await inFlight;
    await expect(threaded.optimize(input, {})).rejects.toThrow('the optimizer is closed');
  });

  it('passes the optimizer error back, and keeps serving after it', async () => {
    threaded = new ThreadedOptimizer(10);
    await expect(threaded.optimize({ ...input, regions: [] } as OptimizeInput, {})).rejects.toThrow(/region/);
    await expect(threaded.optimize(input, {})).resolves.toMatchObject({ plans: [expect.objectContaining({ job_id: 'a' })] });
  });
});
