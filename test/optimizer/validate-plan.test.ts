import { describe, expect, test } from 'vitest';
import { optimize, parseOptimizeInput, validatePlan } from '../../src/optimizer/index.js';
import type { OptimizeInput, OptimizeOutput } from '../../src/optimizer/index.js';
import { job, seedScenario } from '../support/optimizer-builders.js';

/** A solved instance to tamper with: a (2 cores, 2 slots, moves JP -> KR), b (GPU, affinity JP), c too big. */
async function solved(): Promise<{ input: OptimizeInput; output: OptimizeOutput }> {
  const raw = seedScenario()
    .capacity('KR', { cpu: 4, mem: 32, gpu: 0 })
    .job(job('a').cpu(2).runtime(2).window(0, 5).data(3), job('b').gpu(1).affinity('JP').window(2, 4), job('c').cpu(64))
    .prev('a', 'JP')
    .networkCost('JP', 'KR', 0.1)
    .costs({ lambda_plan_dev: 0.1 })
    .obj();
  const input = parseOptimizeInput(raw);
  return { input, output: await optimize(input, { solver: 'highs' }) };
}

describe('validatePlan', () => {
  test('accepts a solver’s plan and recomputes its objective', async () => {
    const { input, output } = await solved();
    const result = validatePlan(input, output);
    expect(result.violations).toEqual([]);
    expect(result.objectiveGco2).toBeCloseTo(output.objective_gco2, 9);
    // Two slots in KR save 2 x 0.25 g over JP; the move costs 0.1 + 0.1 x 3 GB = 0.4 g.
    expect(output.plans.find((p) => p.job_id === 'a')).toMatchObject({ region: 'KR' });
    expect(output.plans.find((p) => p.job_id === 'a')!.migration_cost_gco2).toBeCloseTo(0.4, 12);
  });

  const tamperings: { name: string; tamper: (o: OptimizeOutput) => void; kind: string }[] = [
    { name: 'a start before release', tamper: (o) => (o.plans.find((p) => p.job_id === 'b')!.start_slot = 1), kind: 'window' },
    { name: 'a run past the deadline', tamper: (o) => (o.plans.find((p) => p.job_id === 'b')!.start_slot = 5), kind: 'window' },
    { name: 'a region outside the affinity', tamper: (o) => (o.plans.find((p) => p.job_id === 'b')!.region = 'CN'), kind: 'affinity' },
    { name: 'an unknown region', tamper: (o) => (o.plans[0]!.region = 'US'), kind: 'region' },
    { name: 'a GPU job where there is no GPU', tamper: (o) => Object.assign(o.plans.find((p) => p.job_id === 'b')!, { region: 'KR' }), kind: 'capacity' },
    { name: 'an understated run cost', tamper: (o) => (o.plans[0]!.cost_gco2 *= 0.9), kind: 'cost' },
    { name: 'a forgotten migration charge', tamper: (o) => (o.plans.find((p) => p.job_id === 'a')!.migration_cost_gco2 = 0), kind: 'cost' },
    { name: 'a wrong objective', tamper: (o) => (o.objective_gco2 += 1), kind: 'objective' },
    { name: 'a wrong kg estimate', tamper: (o) => (o.co2_estimate_kg *= 2), kind: 'objective' },
    { name: 'a wrong migration count', tamper: (o) => (o.migrations = 0), kind: 'migrations' },
    { name: 'a bound above the objective', tamper: (o) => Object.assign(o, { lower_bound_gco2: o.objective_gco2 * 2, gap: -1 }), kind: 'bound' },
    { name: 'a gap that does not match the bound', tamper: (o) => (o.gap = 0.5), kind: 'bound' },
    { name: 'a job planned twice', tamper: (o) => o.plans.push({ ...o.plans[0]! }), kind: 'duplicate' },
    { name: 'a job dropped silently', tamper: (o) => (o.unscheduled = []), kind: 'missing' },
    { name: 'a false no_capacity claim', tamper: (o) => (o.unscheduled = [{ job_id: 'c', code: 'no_capacity', reason: 'job "c"' }, { job_id: 'b', code: 'no_capacity', reason: 'job "b" ...' }]), kind: 'reason' },
  ];

  test.each(tamperings)('reports $name as $kind', async ({ tamper, kind }) => {
    const { input, output } = await solved();
    tamper(output);
    const kinds = validatePlan(input, output).violations.map((v) => v.kind);
    expect(kinds).toContain(kind);
  });

  test('reports a start after the latest_start_slot as window, though the run ends by the deadline', async () => {
    const input = parseOptimizeInput(seedScenario().job(job('r').cpu(1).window(0, 5).latestStart(0)).obj());
    const output = await optimize(input, { solver: 'highs' });
    expect(output.plans).toMatchObject([{ job_id: 'r', start_slot: 0 }]);
    expect(validatePlan(input, output).violations).toEqual([]);
    output.plans[0]!.start_slot = 2;
    expect(validatePlan(input, output).violations).toContainEqual(expect.objectContaining({ kind: 'window', message: 'job "r" starts at slot 2, after its latest_start_slot 0' }));
  });

  test('compares capacity with the slack the planner uses (1e-9), not the cost tolerance: a no_capacity claim 5e-7 over it stands', async () => {
    const raw = seedScenario().capacity('KR', { cpu: 1 }).job(job('a').cpu(1.0000005).affinity('KR').window(0, 0)).obj();
    const parsed = parseOptimizeInput(raw);
    const output = await optimize(parsed, { solver: 'greedy' });
    expect(output.unscheduled).toEqual([expect.objectContaining({ job_id: 'a', code: 'no_capacity' })]);
    expect(validatePlan(parsed, output).violations).toEqual([]);
    // A plan that puts it there anyway overflows the capacity.
    const forced = { ...output, plans: [{ job_id: 'a', region: 'KR', start_slot: 0, cost_gco2: 0, migration_cost_gco2: 0 }], unscheduled: [] };
    expect(validatePlan(parsed, forced as OptimizeOutput).violations.map((v) => v.kind)).toContain('capacity');
  });

  test('moving a job with migration_allow false is a violation', async () => {
    const { input, output } = await solved();
    expect(validatePlan({ ...input, migration_allow: false }, output).violations.map((v) => v.kind)).toContain('migration');
  });
});
