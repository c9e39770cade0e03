import { describe, expect, test } from 'vitest';
import { OptimizeInputError, parseOptimizeInput } from '../../src/optimizer/index.js';
import { input, job, seedScenario } from '../support/optimizer-builders.js';

/** A valid input to break one field at a time. */
function valid(): Record<string, unknown> {
  return seedScenario()
    .job(job('a').cpu(2), job('b').affinity('JP'))
    .prev('a', 'KR')
    .networkCost('KR', 'JP', 1)
    .obj() as unknown as Record<string, unknown>;
}

function issuesOf(raw: unknown): { path: string; message: string }[] {
  try {
    parseOptimizeInput(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(OptimizeInputError);
    return (error as OptimizeInputError).issues;
  }
  throw new Error('expected the input to be rejected');
}

type Mutation = (raw: Record<string, any>) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('parseOptimizeInput', () => {
  test('accepts a valid input and fills the defaults', () => {
    const parsed = parseOptimizeInput({
      jobs: [{ job_id: 'a', cpu: 1, mem_gb: 2, runtime_slots: 1, release_slot: 0, deadline_slot: 3 }],
      capacities: [],
      carbons: [],
      regions: ['KR'],
      slot_seconds: 300,
      horizon_slots: 4,
    });
    expect(parsed.jobs[0]).toMatchObject({ gpu: 0, data_gb: 0, affinity_regions: [] });
    expect(parsed).toMatchObject({ costs: {}, network_costs: {}, migration_allow: true, prev_plan: {} });
  });

  test('accepts the builders’ inputs unchanged', () => {
    expect(parseOptimizeInput(valid())).toEqual(valid());
  });

  const cases: { name: string; mutate: Mutation; path: string; message: RegExp }[] = [
    { name: 'negative cpu', mutate: (r) => (r.jobs[0].cpu = -1), path: 'jobs[0].cpu (job "a")', message: />= 0/ },
    { name: 'infinite memory', mutate: (r) => (r.jobs[1].mem_gb = Infinity), path: 'jobs[1].mem_gb (job "b")', message: /finite/ },
    { name: 'fractional runtime', mutate: (r) => (r.jobs[0].runtime_slots = 1.5), path: 'jobs[0].runtime_slots (job "a")', message: /integer/ },
    { name: 'runtime below one slot', mutate: (r) => (r.jobs[0].runtime_slots = 0), path: 'jobs[0].runtime_slots (job "a")', message: /at least 1/ },
    {
      name: 'deadline before release',
      mutate: (r) => Object.assign(r.jobs[1], { release_slot: 5, deadline_slot: 3 }),
      path: 'jobs[1].deadline_slot (job "b")',
      message: /before release slot 5/,
    },
    { name: 'unknown affinity region', mutate: (r) => (r.jobs[1].affinity_regions = ['XX']), path: 'jobs[1].affinity_regions[0] (job "b")', message: /unknown region "XX"/ },
    { name: 'duplicate job id', mutate: (r) => (r.jobs[1].job_id = 'a'), path: 'jobs[1].job_id (job "a")', message: /duplicate job_id/ },
    { name: 'unknown job key', mutate: (r) => (r.jobs[0].cpus = 2), path: 'jobs[0] (job "a")', message: /cpus/ },
    { name: 'unknown top-level key', mutate: (r) => (r.solver = 'x'), path: '', message: /solver/ },
    { name: 'missing job id', mutate: (r) => delete r.jobs[0].job_id, path: 'jobs[0].job_id', message: /string/ },
    { name: 'pools of an unknown region', mutate: (r) => (r.region_pools = { XX: [{ name: 'FAST', speed_factor: 1, power_factor: 1 }] }), path: 'region_pools.XX', message: /unknown region "XX"/ },
    {
      name: 'pool faster than full speed',
      mutate: (r) => (r.region_pools = { KR: [{ name: 'FAST', speed_factor: 0.5, power_factor: 1 }] }),
      path: 'region_pools.KR[0].speed_factor',
      message: />= 1/,
    },
    {
      name: 'pool repeated in a region',
      mutate: (r) => (r.region_pools = { JP: [{ name: 'FAST', speed_factor: 1, power_factor: 1 }, { name: 'FAST', speed_factor: 1, power_factor: 1 }] }),
      path: 'region_pools.JP[1].name',
      message: /duplicate pool "FAST"/,
    },
    {
      name: 'capacity without its pool in a region with pools',
      mutate: (r) => (r.region_pools = { KR: [{ name: 'FAST', speed_factor: 1, power_factor: 1 }] }),
      path: 'capacities[0].pool',
      message: /region "KR" has pools \(FAST\): name one/,
    },
    { name: 'capacity naming a pool in a region without pools', mutate: (r) => (r.capacities[0].pool = 'ECO'), path: 'capacities[0].pool', message: /has no pools/ },
    { name: 'job limited to an unknown pool', mutate: (r) => (r.jobs[0].pools = ['SLOW']), path: 'jobs[0].pools[0] (job "a")', message: /unknown pool "SLOW"/ },
    { name: 'negative wait charge', mutate: (r) => (r.jobs[0].wait_gco2_per_slot = -1), path: 'jobs[0].wait_gco2_per_slot (job "a")', message: />= 0/ },
    { name: 'capacity in unknown region', mutate: (r) => (r.capacities[0].region = 'XX'), path: 'capacities[0].region', message: /unknown region "XX"/ },
    { name: 'capacity slot past the horizon', mutate: (r) => (r.capacities[0].slot = 12), path: 'capacities[0].slot', message: /outside the horizon 0..11/ },
    { name: 'duplicate capacity cell', mutate: (r) => (r.capacities[1].slot = 0), path: 'capacities[1]', message: /duplicate entry/ },
    { name: 'negative capacity', mutate: (r) => (r.capacities[0].gpu_cap = -2), path: 'capacities[0].gpu_cap', message: />= 0/ },
    { name: 'carbon in unknown region', mutate: (r) => (r.carbons[3].region = 'US'), path: 'carbons[3].region', message: /unknown region "US"/ },
    { name: 'negative slot', mutate: (r) => (r.carbons[0].slot = -1), path: 'carbons[0].slot', message: />= 0/ },
    // A value this large swamps the slots after it in the summed intensities the costs are taken from.
    { name: 'intensity beyond any grid', mutate: (r) => (r.carbons[0].ci_gco2_per_kwh = 1e17), path: 'carbons[0].ci_gco2_per_kwh', message: /<= 100000 gCO2\/kWh/ },
    { name: 'prev plan in unknown region', mutate: (r) => (r.prev_plan.a.region = 'XX'), path: 'prev_plan.a.region', message: /unknown region/ },
    { name: 'network cost from unknown region', mutate: (r) => (r.network_costs.XX = {}), path: 'network_costs.XX', message: /unknown region/ },
    { name: 'network cost to unknown region', mutate: (r) => (r.network_costs.KR.YY = 1), path: 'network_costs.KR.YY', message: /unknown region "YY"/ },
    {
      // As JSON.parse makes it: an own key, not the prototype.
      name: 'network cost from an unknown region called __proto__',
      mutate: (r) => Object.defineProperty(r.network_costs, '__proto__', { value: {}, enumerable: true }),
      path: 'network_costs.__proto__',
      message: /unknown region "__proto__"/,
    },
    { name: 'zero slot length', mutate: (r) => (r.slot_seconds = 0), path: 'slot_seconds', message: /> 0/ },
    { name: 'zero horizon', mutate: (r) => (r.horizon_slots = 0), path: 'horizon_slots', message: /at least 1/ },
    { name: 'absurd horizon', mutate: (r) => (r.horizon_slots = 1e8), path: 'horizon_slots', message: /exceeds/ },
    { name: 'duplicate region', mutate: (r) => (r.regions = ['KR', 'JP', 'CN', 'KR']), path: 'regions[3]', message: /duplicate region/ },
    { name: 'unknown cost key', mutate: (r) => (r.costs = { watt_tpu: 3 }), path: 'costs', message: /watt_tpu/ },
    { name: 'migration flag not boolean', mutate: (r) => (r.migration_allow = 'no'), path: 'migration_allow', message: /true or false/ },
  ];

  test.each(cases)('rejects $name, naming $path', ({ mutate, path, message }) => {
    const raw = valid();
    mutate(raw);
    const issues = issuesOf(raw);
    const hit = issues.find((i) => i.path === path);
    expect(hit, JSON.stringify(issues)).toBeDefined();
    expect(hit!.message).toMatch(message);
  });

  test('reports every issue at once and summarises them in the message', () => {
    const raw = input().job(job('a').cpu(-1), job('b').window(4, 2)).obj();
    try {
      parseOptimizeInput(raw);
      throw new Error('expected a rejection');
    } catch (error) {
      expect(error).toBeInstanceOf(OptimizeInputError);
      // Shapes first: the cross-field rules run once the fields themselves are valid.
      expect((error as Error).message).toContain('jobs[0].cpu (job "a")');
    }
    const fixed = input().job(job('a'), job('b').window(4, 2), job('c').affinity('XX')).obj();
    expect(issuesOf(fixed).map((i) => i.path)).toEqual(['jobs[1].deadline_slot (job "b")', 'jobs[2].affinity_regions[0] (job "c")']);
  });

  test('rejects what is not an object', () => {
    expect(issuesOf(null)[0]!.message).toMatch(/object/);
    expect(issuesOf([])[0]!.message).toMatch(/object/);
  });

  test('a previous plan for a job no longer submitted is accepted', () => {
    expect(() => parseOptimizeInput(input().prev('gone', 'JP').obj())).not.toThrow();
  });
});
