import { describe, expect, it } from 'vitest';
import { optimize, solverNames, validatePlan, type OptimizeInput } from '../../src/optimizer/index.js';

/** Flat carbon everywhere: every start of every job costs the same. */
function flatInput(jobs: number, cpuCap: number): OptimizeInput {
  const H = 12;
  return {
    jobs: Array.from({ length: jobs }, (_, i) => ({ job_id: `j${i}`, cpu: 2, mem_gb: 1, gpu: 0, runtime_slots: 3, release_slot: 0, deadline_slot: H - 1, data_gb: 0, affinity_regions: [] })),
    capacities: Array.from({ length: H }, (_, slot) => ({ region: 'KR', slot, cpu_cap: cpuCap, mem_gb_cap: 64, gpu_cap: 0 })),
    carbons: Array.from({ length: H }, (_, slot) => ({ region: 'KR', slot, ci_gco2_per_kwh: 400 })),
    regions: ['KR'],
    slot_seconds: 300,
    horizon_slots: H,
    costs: {},
    network_costs: {},
    migration_allow: true,
    prev_plan: {},
  };
}

describe.each(solverNames())('solver %s among equally cheap starts', (solver) => {
  it('starts a lone job at once', async () => {
    const out = await optimize(flatInput(1, 8), { solver, timeLimitSeconds: 5 });
    expect(out.plans.map((p) => p.start_slot)).toEqual([0]);
  });

  it('starts jobs as early as capacity lets them, without raising the cost', async () => {
    const input = flatInput(3, 4);
    const out = await optimize(input, { solver, timeLimitSeconds: 5 });
    // Room for two at a time: two start at 0, the third when they end.
    expect(out.plans.map((p) => p.start_slot).sort((a, b) => a - b)).toEqual([0, 0, 3]);
    const check = validatePlan(input, out);
    expect(check.violations).toEqual([]);
    expect(out.objective_gco2).toBeCloseTo(check.objectiveGco2, 9);
  });
});
