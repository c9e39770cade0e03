import { z } from 'zod';
import { MAX_GCO2_PER_KWH } from '../domain/carbon-integral.js';
import { OptimizeInputError } from './errors.js';
import type { InputIssue } from './errors.js';
import type { OptimizeInput } from './types.js';

/**
 * The seed's `OptimizeInput` as a zod schema: snake_case JSON, unknown keys rejected, defaults filled in.
 * Field checks live on the fields; checks that relate fields (windows, region names, duplicates) run once the
 * shapes are right, so every message can name the job and field it is about.
 */

/** Dense per-(region, slot) arrays are allocated from these; a typo like `horizon_slots: 1e9` must not OOM. */
const MAX_REGION_SLOT_CELLS = 10_000_000;

const quantity = () => z.number({ error: 'must be a finite number' }).nonnegative({ error: 'must be >= 0' });
const slot = () => z.number({ error: 'must be an integer slot number' }).int({ error: 'must be an integer slot number' }).nonnegative({ error: 'must be >= 0' });
const name = () => z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' });

const jobSchema = z.strictObject({
  job_id: name(),
  cpu: quantity(),
  mem_gb: quantity(),
  gpu: quantity().default(0),
  runtime_slots: z
    .number({ error: 'must be an integer number of slots' })
    .int({ error: 'must be an integer number of slots' })
    .min(1, { error: 'must be at least 1 slot' }),
  release_slot: slot(),
  deadline_slot: slot(),
  latest_start_slot: slot().optional(),
  data_gb: quantity().default(0),
  affinity_regions: z.array(name()).default([]),
  pools: z.array(name()).optional(),
  wait_gco2_per_slot: quantity().optional(),
});

const poolSchema = z.strictObject({
  name: name(),
  speed_factor: z.number({ error: 'must be a finite number' }).min(1, { error: 'must be >= 1 (a pool is never faster than full speed)' }).max(100, { error: 'must be <= 100' }),
  power_factor: z.number({ error: 'must be a finite number' }).positive({ error: 'must be > 0' }).max(1, { error: 'must be <= 1' }),
});

const capacitySchema = z.strictObject({
  region: name(),
  pool: name().optional(),
  slot: slot(),
  cpu_cap: quantity(),
  mem_gb_cap: quantity(),
  gpu_cap: quantity(),
});

const carbonSchema = z.strictObject({
  region: name(),
  slot: slot(),
  // A larger value would swamp the slots after it in the summed intensities the costs are taken from.
  ci_gco2_per_kwh: quantity().max(MAX_GCO2_PER_KWH, { error: `must be <= ${MAX_GCO2_PER_KWH} gCO2/kWh` }),
});

const costsSchema = z.strictObject({
  watt_cpu: quantity().optional(),
  watt_gpu: quantity().optional(),
  watt_mem_gb: quantity().optional(),
  lambda_plan_dev: quantity().optional(),
});

/**
 * A JSON object keyed by job or region names (`prev_plan`, `network_costs`, `region_pools`). `z.record` drops
 * a `__proto__` key, which would silently lose, say, the previous plan of a job called `__proto__`; read as
 * a Map and back, every name stays an ordinary own key (`Object.fromEntries` defines keys, it never sets a
 * prototype). Lookups go through `ownEntry`, so names like `constructor` find only their own entry.
 */
function nameRecord<T extends z.ZodType>(value: T) {
  const entriesOf = (raw: unknown) =>
    typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? new Map(Object.entries(raw)) : raw;
  return z
    .preprocess(entriesOf, z.map(z.string(), value, { error: 'must be an object' }))
    .transform((entries) => Object.fromEntries(entries) as Record<string, z.output<T>>);
}

const baseSchema = z.strictObject({
  jobs: z.array(jobSchema),
  capacities: z.array(capacitySchema),
  carbons: z.array(carbonSchema),
  regions: z.array(name()),
  slot_seconds: z.number({ error: 'must be a finite number' }).positive({ error: 'must be > 0' }),
  horizon_slots: z
    .number({ error: 'must be an integer number of slots' })
    .int({ error: 'must be an integer number of slots' })
    .min(1, { error: 'must be at least 1 slot' }),
  costs: costsSchema.default({}),
  network_costs: nameRecord(nameRecord(quantity())).default({}),
  migration_allow: z.boolean({ error: 'must be true or false' }).default(true),
  prev_plan: nameRecord(z.strictObject({ region: name() })).default({}),
  region_pools: nameRecord(z.array(poolSchema).min(1, { error: 'must list at least one pool' })).optional(),
});

type Issue = { path: (string | number)[]; message: string };

/** The cross-field rules, as issues; empty when the input is consistent. */
function crossFieldIssues(input: z.output<typeof baseSchema>): Issue[] {
  const issues: Issue[] = [];
  const known = new Set<string>();
  input.regions.forEach((region, i) => {
    if (known.has(region)) issues.push({ path: ['regions', i], message: `duplicate region "${region}"` });
    known.add(region);
  });
  const regionList = input.regions.join(', ') || 'none';
  const unknownRegion = (region: string) => `unknown region "${region}" (regions: ${regionList})`;
  const poolsOf = new Map<string, Set<string>>();
  for (const [region, pools] of Object.entries(input.region_pools ?? {})) {
    if (!known.has(region)) issues.push({ path: ['region_pools', region], message: unknownRegion(region) });
    const names = new Set<string>();
    pools.forEach((pool, i) => {
      if (names.has(pool.name)) issues.push({ path: ['region_pools', region, i, 'name'], message: `duplicate pool "${pool.name}" in region "${region}"` });
      names.add(pool.name);
    });
    poolsOf.set(region, names);
  }
  const allPools = new Set([...poolsOf.values()].flatMap((names) => [...names]));
  const sites = input.regions.reduce((n, r) => n + (poolsOf.get(r)?.size || 1), 0);
  // At least one site: the grid is built slot by slot even without regions.
  if (Math.max(sites, 1) * input.horizon_slots > MAX_REGION_SLOT_CELLS) {
    issues.push({
      path: ['horizon_slots'],
      message: `${sites} regions and pools x ${input.horizon_slots} slots exceeds ${MAX_REGION_SLOT_CELLS} region-slots`,
    });
  }
  const lastSlot = input.horizon_slots - 1;

  const seenJobs = new Map<string, number>();
  input.jobs.forEach((job, i) => {
    const first = seenJobs.get(job.job_id);
    if (first !== undefined) issues.push({ path: ['jobs', i, 'job_id'], message: `duplicate job_id, first used by jobs[${first}]` });
    else seenJobs.set(job.job_id, i);
    if (job.deadline_slot < job.release_slot) {
      issues.push({
        path: ['jobs', i, 'deadline_slot'],
        message: `deadline slot ${job.deadline_slot} is before release slot ${job.release_slot}`,
      });
    }
    job.affinity_regions.forEach((region, k) => {
      if (!known.has(region)) issues.push({ path: ['jobs', i, 'affinity_regions', k], message: unknownRegion(region) });
    });
    job.pools?.forEach((pool, k) => {
      if (!allPools.has(pool)) issues.push({ path: ['jobs', i, 'pools', k], message: `unknown pool "${pool}" (pools: ${[...allPools].join(', ') || 'none'})` });
    });
  });

  const checkCell = (list: 'capacities' | 'carbons', seen: Set<string>, region: string, slotNo: number, i: number, pool?: string) => {
    if (!known.has(region)) issues.push({ path: [list, i, 'region'], message: unknownRegion(region) });
    if (slotNo > lastSlot) issues.push({ path: [list, i, 'slot'], message: `slot ${slotNo} is outside the horizon 0..${lastSlot}` });
    const key = `${region}\u0000${pool ?? ''}\u0000${slotNo}`;
    const where = pool === undefined ? `region "${region}"` : `region "${region}" pool "${pool}"`;
    if (seen.has(key)) issues.push({ path: [list, i], message: `duplicate entry for ${where} slot ${slotNo}` });
    seen.add(key);
  };
  const capacityCells = new Set<string>();
  input.capacities.forEach((c, i) => {
    checkCell('capacities', capacityCells, c.region, c.slot, i, c.pool);
    const pools = poolsOf.get(c.region);
    if (pools && c.pool === undefined) issues.push({ path: ['capacities', i, 'pool'], message: `region "${c.region}" has pools (${[...pools].join(', ')}): name one` });
    if (!pools && c.pool !== undefined && known.has(c.region)) issues.push({ path: ['capacities', i, 'pool'], message: `region "${c.region}" has no pools in region_pools` });
    if (pools && c.pool !== undefined && !pools.has(c.pool)) issues.push({ path: ['capacities', i, 'pool'], message: `unknown pool "${c.pool}" in region "${c.region}" (pools: ${[...pools].join(', ')})` });
  });
  const carbonCells = new Set<string>();
  input.carbons.forEach((c, i) => checkCell('carbons', carbonCells, c.region, c.slot, i));

  for (const [from, row] of Object.entries(input.network_costs)) {
    if (!known.has(from)) issues.push({ path: ['network_costs', from], message: unknownRegion(from) });
    for (const to of Object.keys(row)) {
      if (!known.has(to)) issues.push({ path: ['network_costs', from, to], message: unknownRegion(to) });
    }
  }
  // A previous plan for a job that is no longer submitted is harmless history; only its region must be real.
  for (const [jobId, prev] of Object.entries(input.prev_plan)) {
    if (!known.has(prev.region)) issues.push({ path: ['prev_plan', jobId, 'region'], message: unknownRegion(prev.region) });
  }
  return issues;
}

/** `['jobs', 3, 'deadline_slot']` -> `jobs[3].deadline_slot (job "a")`, naming the job from the raw input. */
function formatPath(path: readonly PropertyKey[], raw: unknown): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text ? `.${String(segment)}` : String(segment);
  }
  if (path[0] === 'jobs' && typeof path[1] === 'number') {
    const jobs = (raw as { jobs?: unknown } | null)?.jobs;
    const jobId = Array.isArray(jobs) ? (jobs[path[1]] as { job_id?: unknown } | undefined)?.job_id : undefined;
    if (typeof jobId === 'string') text += ` (job "${jobId}")`;
  }
  return text;
}

/** Validates raw JSON (already parsed) into an `OptimizeInput`; throws `OptimizeInputError` naming each bad field. */
export function parseOptimizeInput(raw: unknown): OptimizeInput {
  const parsed = baseSchema.safeParse(raw);
  let problems: Issue[];
  if (parsed.success) {
    problems = crossFieldIssues(parsed.data);
    if (problems.length === 0) return parsed.data;
  } else {
    problems = parsed.error.issues.map((issue) => ({ path: issue.path as (string | number)[], message: issue.message }));
  }
  const issues: InputIssue[] = problems.map((p) => ({ path: formatPath(p.path, raw), message: p.message }));
  throw new OptimizeInputError(issues);
}
