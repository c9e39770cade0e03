import { z } from 'zod';
import { PHASES, URGENCIES, type JobSpec } from '../domain/app-wrapper.js';
import { ValidationError, type FieldIssue } from '../domain/errors.js';
import { parseTimestamp } from '../domain/iso-time.js';
import { DNS_1123_LABEL, IMAGE_REFERENCE } from '../domain/kubernetes-names.js';

/**
 * Job ids become Kubernetes Job names and `job-name` label values (at most 63 characters). A migrated
 * Job's name carries a `-g<generation>` suffix, so ids stop at 50 characters to leave room for it.
 */
const JOB_ID_MAX_LENGTH = 50;
/** The suffix of a migrated job's Job name (`train-g2`): an id ending so would name another job's Job. */
const GENERATION_SUFFIX = /-g\d+$/;
const WEEK_MINUTES = 7 * 24 * 60;
/** One second: below it a run is no run (and would plan as zero slots). */
const MIN_RUNTIME_MINUTES = 1 / 60;

const boundedNumber = (max: number) => z.number().finite().max(max);

/**
 * A page size in a query string: decimal digits only. (`z.coerce.number` took `0x10`, `1e3` and ` 5 ` as
 * numbers: a client's typo read as some other size instead of refused.)
 */
const queryLimit = z
  .string()
  .regex(/^[0-9]{1,6}$/, 'must be a whole number in decimal digits')
  .transform(Number)
  .pipe(z.number().int().min(1).max(10_000));

const jobIdSchema = z
  .string()
  .max(JOB_ID_MAX_LENGTH, `must be at most ${JOB_ID_MAX_LENGTH} characters (it names Kubernetes Jobs, with room for a generation suffix)`)
  .regex(DNS_1123_LABEL, 'must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit')
  .refine((id) => !GENERATION_SUFFIX.test(id), 'must not end in "-g" and a number: that names the Job of a migrated job');

/** A submission body whose `job_id` is checked by `jobId` (required, or optional for a what-if). */
function jobBodySchema<Id extends z.ZodType>(regions: readonly string[], jobId: Id) {
  return z
    .strictObject({
      job_id: jobId,
      cpu: boundedNumber(1024).positive(),
      mem_gb: boundedNumber(16384).nonnegative(),
      gpu: z.number().int().min(0).max(64).default(0),
      runtime_minutes: boundedNumber(WEEK_MINUTES).min(MIN_RUNTIME_MINUTES, 'must be at least one second (1/60 minute)'),
      deadline_minutes: boundedNumber(WEEK_MINUTES).positive(),
      data_gb: boundedNumber(1_000_000).nonnegative().default(0),
      affinity_regions: z
        .array(z.string().refine((r) => regions.includes(r), { message: `unknown region; known regions: ${regions.join(', ')}` }))
        .max(regions.length)
        .refine((list) => new Set(list).size === list.length, 'must not repeat a region')
        .default([]),
      urgency: z.enum(URGENCIES).default('normal'),
      checkpointing: z.boolean().default(true),
      // Kubernetes refuses an image with white space around it, and the kubelet one with white space inside.
      image: z.string().min(1).max(IMAGE_REFERENCE.maxLength).regex(IMAGE_REFERENCE.pattern, IMAGE_REFERENCE.message).optional(),
      command: z.array(z.string().max(4096)).min(1).max(64).optional(),
    })
    .refine((body) => body.deadline_minutes >= body.runtime_minutes, {
      path: ['deadline_minutes'],
      message: 'must be at least runtime_minutes',
      // Checked even when other fields are bad, so that one answer names every problem.
      when: ({ value }) => {
        const body = value as { runtime_minutes?: unknown; deadline_minutes?: unknown };
        return typeof body?.runtime_minutes === 'number' && typeof body?.deadline_minutes === 'number';
      },
    });
}

export function submissionSchema(regions: readonly string[]) {
  return jobBodySchema(regions, jobIdSchema);
}

export type Submission = z.infer<ReturnType<typeof submissionSchema>>;

/** The id of a what-if job whose body names none (or the first of `whatif-2`, `whatif-3`... not stored). */
export const WHATIF_JOB_ID = 'whatif';

/** A what-if body: a submission whose job_id may be left out. */
export function whatIfSchema(regions: readonly string[]) {
  return jobBodySchema(regions, jobIdSchema.optional());
}

/**
 * The query or the body of a route that takes none: every key is refused by name, so that a parameter the
 * route does not know (`POST /hub/dispatch?dry_run=true`) is an error instead of being ignored while the
 * route does the real thing.
 */
export const noParametersSchema = z.strictObject({});

export const scheduleQuerySchema = z.strictObject({
  /** `true`: work out the plan the next cycle would apply and return it without applying it. */
  dry_run: z.enum(['true', 'false']).optional(),
});

export function toJobSpec(body: Omit<Submission, 'job_id'>): JobSpec {
  return {
    cpu: body.cpu,
    memGb: body.mem_gb,
    gpu: body.gpu,
    runtimeMinutes: body.runtime_minutes,
    deadlineMinutes: body.deadline_minutes,
    dataGb: body.data_gb,
    affinityRegions: body.affinity_regions,
    urgency: body.urgency,
    checkpointing: body.checkpointing,
    ...(body.image !== undefined && { image: body.image }),
    ...(body.command !== undefined && { command: body.command }),
  };
}

export function listQuerySchema(clusters: readonly string[]) {
  return z.strictObject({
    phase: z.enum(PHASES).optional(),
    cluster: z
      .string()
      .refine((c) => clusters.includes(c), { message: `unknown cluster; known clusters: ${clusters.join(', ')}` })
      .optional(),
    /** Page size; absent = every match. */
    limit: queryLimit.optional(),
    /** Cursor: the `next` of the previous page (a job id); the page starts after it. */
    after: z.string().max(JOB_ID_MAX_LENGTH).regex(DNS_1123_LABEL, 'must be a job id (the next of a previous page)').optional(),
  });
}

export const decisionsQuerySchema = z.strictObject({
  /** How many of the latest decisions, oldest first. */
  limit: queryLimit.default(100),
  format: z.enum(['json', 'csv']).default('json'),
  /** Only this job's decisions. */
  job_id: z.string().max(JOB_ID_MAX_LENGTH).regex(DNS_1123_LABEL, 'must be a DNS-1123 label').optional(),
});

/** A calendar day, `YYYY-MM-DD`, that exists (no 2026-02-30). */
const utcDay = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a day, YYYY-MM-DD')
  .refine((day) => !Number.isNaN(parseTimestamp(day)), 'must be a day that exists');

export const reportQuerySchema = z
  .strictObject({
    format: z.enum(['json', 'csv']).default('json'),
    /** First UTC day of finish to include. */
    from: utcDay.optional(),
    /** Last UTC day of finish to include. */
    to: utcDay.optional(),
  })
  .refine((q) => q.from === undefined || q.to === undefined || q.from <= q.to, { path: ['to'], message: 'must not be before from' });

export const jobIdParamSchema = z.strictObject({
  id: z.string().max(JOB_ID_MAX_LENGTH).regex(DNS_1123_LABEL, 'must be a DNS-1123 label'),
});

/** Parses `value` or throws a ValidationError listing every bad field. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const details: FieldIssue[] = result.error.issues.flatMap((issue) => {
    // One entry per unknown field, each named as a client would look it up.
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ field: [...issue.path, key].join('.'), message: 'unknown field' }));
    return [{ field: issue.path.length ? issue.path.join('.') : '(body)', message: issue.message }];
  });
  throw new ValidationError(`invalid ${what}: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`, details);
}
