import { z } from 'zod';
import { PHASES, POOLS, URGENCIES, type AppWrapper } from '../domain/app-wrapper.js';

/**
 * The shape of a stored AppWrapper document, checked on every row read back from disk and on every
 * write, so that the store never writes what it could not read again (JSON turns NaN and Infinity into
 * null). A shape check, not the API's business rules: those were applied when the value was accepted.
 */

const finite = z.number().finite();
const text = z.string();

const jobRefSchema = z.strictObject({ cluster: text, jobName: text });
const metadataSchema = z.strictObject({ migrated_from: text.optional(), migration_time: text.optional() });

const jobSpecSchema = z.strictObject({
  cpu: finite,
  memGb: finite,
  gpu: finite,
  runtimeMinutes: finite,
  deadlineMinutes: finite,
  dataGb: finite,
  affinityRegions: z.array(text),
  // Documents written before urgency classes existed read as the default class.
  urgency: z.enum(URGENCIES).default('normal'),
  // Documents written before the flag existed were planned as jobs that resume.
  checkpointing: z.boolean().default(true),
  image: text.optional(),
  command: z.array(text).optional(),
});

export const appWrapperSchema = z.strictObject({
  jobId: text.min(1),
  spec: jobSpecSchema,
  submittedAt: finite,
  deadlineAt: finite,
  phase: z.enum(PHASES),
  reason: text.optional(),
  targetCluster: text.optional(),
  plannedStartAt: finite.optional(),
  gateOpen: z.boolean(),
  co2EstimateG: finite.optional(),
  targetPool: z.enum(POOLS).optional(),
  // Documents written before worker pools existed ran on the one (FAST) pool; before placements kept their
  // metadata and CO2 estimate, they have neither.
  placement: z
    .strictObject({
      cluster: text,
      jobName: text,
      generation: z.number().int(),
      pool: z.enum(POOLS).default('FAST'),
      createdAt: finite,
      metadata: metadataSchema.optional(),
      co2EstimateG: finite.optional(),
      plannedStartAt: finite.optional(),
    })
    .optional(),
  migrating: z.boolean(),
  staleJobs: z.array(jobRefSchema),
  unconfirmedJobs: z.array(jobRefSchema).optional(),
  startedAt: finite.optional(),
  finishedAt: finite.optional(),
  pastRuns: z.array(z.strictObject({ cluster: text, pool: z.enum(POOLS), startedAt: finite, endedAt: finite, lost: z.literal(true).optional(), co2EstimateG: finite.optional() })).optional(),
  refusedBy: z.array(text).optional(),
  metadata: metadataSchema,
  carbonAccount: z
    .strictObject({
      plannedG: finite,
      actualG: finite,
      counterfactualG: finite,
      savedG: finite,
      energyKwh: finite,
      basis: z.enum(['measured', 'forecast']),
      legs: z.array(z.strictObject({ cluster: text, pool: z.enum(POOLS), actualG: finite })).optional(),
    })
    .optional(),
  updatedAt: finite,
});

/** `true` when A and B are the same type, optional fields included, `never` otherwise. */
type Same<A, B> = [A, keyof A] extends [B, keyof B] ? ([B, keyof B] extends [A, keyof A] ? true : never) : never;
// Checked both ways, so that a field added to AppWrapper and not here (or the reverse) fails to compile.
true satisfies Same<z.infer<typeof appWrapperSchema>, AppWrapper>;
