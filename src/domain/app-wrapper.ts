/**
 * The AppWrapper: one batch job submitted to the hub, with its plan and its life on a spoke.
 * Times are epoch milliseconds; sizes carry their unit in the name.
 */

export const PHASES = [
  'Pending',
  'Planned',
  'Dispatched',
  'Running',
  'Succeeded',
  'Failed',
  'Unschedulable',
  'Cancelled',
] as const;
export type Phase = (typeof PHASES)[number];

export const TERMINAL_PHASES: ReadonlySet<Phase> = new Set(['Succeeded', 'Failed', 'Cancelled']);

/** Phases in which a Job may exist on a spoke. */
export const LIVE_PHASES: ReadonlySet<Phase> = new Set(['Dispatched', 'Running']);

/**
 * Allowed moves. `Running -> Dispatched` is a migration (a new Job is created in the target cluster);
 * `Dispatched | Running -> Pending` is a requeue off a cluster that stopped answering; `Planned -> Pending`
 * never happens: a plan is only replaced by another plan.
 */
const TRANSITIONS: Readonly<Record<Phase, readonly Phase[]>> = {
  Pending: ['Planned', 'Unschedulable', 'Failed', 'Cancelled'],
  Unschedulable: ['Planned', 'Unschedulable', 'Failed', 'Cancelled'],
  Planned: ['Planned', 'Dispatched', 'Unschedulable', 'Failed', 'Cancelled'],
  Dispatched: ['Pending', 'Dispatched', 'Running', 'Succeeded', 'Failed', 'Cancelled'],
  Running: ['Pending', 'Dispatched', 'Running', 'Succeeded', 'Failed', 'Cancelled'],
  Succeeded: [],
  Failed: [],
  Cancelled: [],
};

export function canTransition(from: Phase, to: Phase): boolean {
  return TRANSITIONS[from].includes(to);
}

export interface Resources {
  cpu: number;
  memGb: number;
  gpu: number;
}

export const NO_RESOURCES: Readonly<Resources> = Object.freeze({ cpu: 0, memGb: 0, gpu: 0 });

export function addResources(a: Resources, b: Resources): Resources {
  return { cpu: a.cpu + b.cpu, memGb: a.memGb + b.memGb, gpu: a.gpu + b.gpu };
}

export function subtractResources(a: Resources, b: Resources): Resources {
  return { cpu: a.cpu - b.cpu, memGb: a.memGb - b.memGb, gpu: a.gpu - b.gpu };
}

/**
 * Absolute slack when comparing a demand with a capacity, so that 0.1 + 0.2 fits in 0.3: the planner and
 * the clusters that carry out its plans must agree on what fits.
 */
export const CAPACITY_EPS = 1e-9;

/** Whether a load fits a limit: with `CAPACITY_EPS`, plus the float noise of a long sum. */
export function withinCapacity(load: number, limit: number): boolean {
  return load <= limit + CAPACITY_EPS + 1e-12 * Math.abs(limit);
}

export function fits(request: Resources, free: Resources): boolean {
  return request.cpu <= free.cpu + CAPACITY_EPS && request.memGb <= free.memGb + CAPACITY_EPS && request.gpu <= free.gpu + CAPACITY_EPS;
}

/**
 * How urgent a job is. `urgent`: starts as soon as capacity allows, on FAST workers, never deferred for
 * carbon; `normal` (the default): carbon-optimised within its deadline, with a small charge for waiting;
 * `flexible`: may wait up to its deadline for the cleanest slots, waiting costs nothing.
 */
export const URGENCIES = ['urgent', 'normal', 'flexible'] as const;
export type Urgency = (typeof URGENCIES)[number];

/**
 * Worker pools of a cluster: FAST nodes, and ECO nodes that run a job longer at lower power (the AI job
 * orchestrator's design). A cluster without configured pools has one FAST pool.
 */
export const POOLS = ['FAST', 'ECO'] as const;
export type PoolName = (typeof POOLS)[number];

/** What the user asked for. */
export interface JobSpec extends Resources {
  runtimeMinutes: number;
  /** Minutes after submission by which the job must have finished. */
  deadlineMinutes: number;
  /** Data that moves with the job when it migrates, GB. */
  dataGb: number;
  /** Regions the job may run in; empty = any. */
  affinityRegions: string[];
  urgency: Urgency;
  /**
   * Whether the job saves its progress and resumes from it in a new Job (after a migration). False: a new
   * Job starts over, so a running job is never moved (its work would be lost) and a replaced Job's work
   * counts for nothing.
   */
  checkpointing: boolean;
  /** A container image reference (`IMAGE_REFERENCE` of kubernetes-names). */
  image?: string;
  command?: string[];
}

/** A Kubernetes Job on a given cluster. */
export interface JobRef {
  cluster: string;
  jobName: string;
}

/** A Job that exists on a spoke for this AppWrapper. */
export interface Placement extends JobRef {
  /** Kubernetes Job name: the job id, plus `-g<generation>` after a migration. */
  jobName: string;
  generation: number;
  /** Worker pool the Job was sent to. */
  pool: PoolName;
  createdAt: number;
  /**
   * The AppWrapper's `metadata` when the Job was created (its `migrated_from` is the Job's annotation): what
   * the AppWrapper shows again when a move decided after it is given up. Absent in documents written before.
   */
  metadata?: MigrationMetadata;
  /**
   * The estimate of the last plan this Job carries out: the AppWrapper's `co2EstimateG` when the Job was
   * created, updated when a plan keeps it where it runs. What the AppWrapper shows again when a move decided
   * after it is given up (the move's estimate is of a run that never happens). Absent in documents written
   * before.
   */
  co2EstimateG?: number;
  /** The planned start this Job carries out, shown again when a move decided after it is given up. Absent in documents written before. */
  plannedStartAt?: number;
}

/**
 * The carbon a finished job used and saved, grams of CO2, worked out when it finished. `actual` uses the
 * intensity measured while it ran in its cluster and pool; `counterfactual` is the same job run at
 * submission in its first allowed region on FAST workers; `saved = counterfactual - actual`.
 */
export interface CarbonAccount {
  plannedG: number;
  actualG: number;
  counterfactualG: number;
  savedG: number;
  energyKwh: number;
  /** `measured` when every instant of both runs had a measured intensity; else the forecast filled the gaps. */
  basis: 'measured' | 'forecast';
  /** Where `actualG` was emitted: one entry per leg of the run, in order, summing to it. Absent in accounts stored before. */
  legs?: LegAccount[];
}

/** The CO2 one leg of a job's run emitted on its cluster and pool. */
export interface LegAccount {
  cluster: string;
  pool: PoolName;
  actualG: number;
}

/** A stretch of a migrated job's run on one cluster and pool, ended when the job moved on. */
export interface RunLeg {
  cluster: string;
  pool: PoolName;
  startedAt: number;
  endedAt: number;
  /**
   * The leg ended with its cluster lost (it stopped answering and the job was requeued): the job's checkpoint
   * went with it, so no work done up to here carries over. Its carbon still counts.
   */
  lost?: true;
  /** For a lost leg: the estimate of the plan its Job carried out (the job's next plan may never run). */
  co2EstimateG?: number;
}

export interface MigrationMetadata {
  /** Cluster the job was last moved away from. */
  migrated_from?: string;
  /** Epoch seconds (as a string, as the seed writes it) of the last migration decision. */
  migration_time?: string;
}

export interface AppWrapper {
  jobId: string;
  spec: JobSpec;
  submittedAt: number;
  /** submittedAt + deadlineMinutes. */
  deadlineAt: number;
  phase: Phase;
  /** Why the job is Unschedulable or Failed. */
  reason?: string;
  /** Cluster chosen by the last plan. */
  targetCluster?: string;
  /** Worker pool chosen by the last plan. */
  targetPool?: PoolName;
  plannedStartAt?: number;
  /** Closed while Planned; opened by the dispatcher when the planned start has come. */
  gateOpen: boolean;
  /** Planned emissions of the run, gCO2, at the last decision. */
  co2EstimateG?: number;
  /** The Job on a spoke, while one exists. */
  placement?: Placement;
  /** A migration of a live Job is under way: `placement` is in another cluster than `targetCluster`. */
  migrating: boolean;
  /** Jobs left on spokes by a migration or a cancel, still to be deleted (retried until the spoke answers). */
  staleJobs: JobRef[];
  /**
   * Jobs a create may have made without the hub knowing: its answer was lost (a time-out, a connection cut), or
   * the hub died before recording it (a gate's create is written here before it is sent). Kept until a listing
   * of their cluster settles them (adopted, deleted, or not there); a job that ends first has them deleted.
   */
  unconfirmedJobs?: JobRef[];
  /** When the current Job started running (a migration clears it: the next Job starts over). */
  startedAt?: number;
  finishedAt?: number;
  /** The legs run before each migration or requeue, oldest first; absent for a job that never moved while running. */
  pastRuns?: RunLeg[];
  /** Clusters that refused a Job of this job's move there (a refusal is for good): never planned as a move again. */
  refusedBy?: string[];
  metadata: MigrationMetadata;
  /** Set when the job finishes after having run. */
  carbonAccount?: CarbonAccount;
  updatedAt: number;
}

/** A just-submitted AppWrapper: Pending, its deadline counted from `now`. */
export function newAppWrapper(jobId: string, spec: JobSpec, now: number): AppWrapper {
  return {
    jobId,
    spec,
    submittedAt: now,
    deadlineAt: now + spec.deadlineMinutes * 60_000,
    phase: 'Pending',
    gateOpen: false,
    migrating: false,
    staleJobs: [],
    metadata: {},
    updatedAt: now,
  };
}

export function isTerminal(aw: Pick<AppWrapper, 'phase'>): boolean {
  return TERMINAL_PHASES.has(aw.phase);
}

/** Why a job that has not started is Failed once its runtime no longer fits before its deadline. */
export const CANNOT_FINISH = 'DeadlineExceeded: it can no longer finish before its deadline';

/** Name of the Kubernetes Job for a given generation (1 = the first Job). */
export function jobNameFor(jobId: string, generation: number): string {
  return generation <= 1 ? jobId : `${jobId}-g${generation}`;
}

/**
 * The placement of a Job created (or adopted) now for `aw`: it keeps the AppWrapper's metadata and CO2
 * estimate as they are, for a move decided later and given up to restore.
 */
export function placementFor(aw: Pick<AppWrapper, 'metadata' | 'co2EstimateG' | 'plannedStartAt'>, job: Omit<Placement, 'metadata' | 'co2EstimateG' | 'plannedStartAt'>): Placement {
  return { ...job, metadata: aw.metadata, co2EstimateG: aw.co2EstimateG, plannedStartAt: aw.plannedStartAt };
}

/** A move between clusters: where the job's Job runs, and where it goes. */
export interface Move {
  from: string;
  to: string;
}

/**
 * The move decided for the job's live Job and not carried out yet (no new Job in `to` yet), or undefined.
 * The Job still runs where `placement` says; `targetCluster` names where it is to go.
 */
export function pendingMove(aw: Pick<AppWrapper, 'migrating' | 'placement' | 'targetCluster'>): Move | undefined {
  const from = aw.placement?.cluster;
  const to = aw.targetCluster;
  return aw.migrating && from !== undefined && to !== undefined && from !== to ? { from, to } : undefined;
}

/** How far a cluster's clock may be behind the hub's when a Job's creation is compared with a submission. */
const CLOCK_SKEW_MS = 60_000;

/** Whether a Job made at `createdAt` (the cluster's clock) predates a submission at `submittedAt` (the hub's). */
export function madeBefore(createdAt: number | undefined, submittedAt: number): boolean {
  return createdAt !== undefined && createdAt < submittedAt - CLOCK_SKEW_MS;
}

/**
 * The AppWrapper with its pending move given up: it stays with the Job it has, whose cluster, pool, metadata
 * and CO2 estimate are its own again (the move's `migrated_from` would name a move that never happened, and
 * its estimate a run that never happens). A placement stored without its estimate keeps the current one.
 */
export function withoutPendingMove(aw: AppWrapper): AppWrapper {
  if (!aw.migrating) return aw;
  const job = aw.placement;
  if (!job) return { ...aw, migrating: false };
  return {
    ...aw,
    migrating: false,
    targetCluster: job.cluster,
    targetPool: job.pool,
    metadata: job.metadata ?? metadataBefore(aw.metadata, job.cluster),
    co2EstimateG: job.co2EstimateG ?? aw.co2EstimateG,
    plannedStartAt: job.plannedStartAt ?? aw.plannedStartAt,
  };
}

/**
 * For a placement stored before placements kept their metadata: the move's `migrated_from` names the cluster
 * the Job runs on, which is never where that Job came from, so it goes; an earlier origin is not known.
 */
function metadataBefore(metadata: MigrationMetadata, runsOn: string): MigrationMetadata {
  return metadata.migrated_from === runsOn ? {} : metadata;
}

/** Whether moving the job would throw its work away: its Job has started and it cannot resume in a new one. */
export function boundToItsJob(aw: Pick<AppWrapper, 'startedAt'> & { spec: Pick<JobSpec, 'checkpointing'> }): boolean {
  return !aw.spec.checkpointing && aw.startedAt !== undefined;
}

/**
 * Work a job has done by `now` that its next run keeps, in FAST milliseconds. `speedOf` gives a pool's
 * speed factor (a slower pool gets through less work per second). `in-place`: the running Job goes on, so
 * its run counts, and so do the past legs of a job that resumes from checkpoints; `new-job`: a new Job
 * replaces it, which keeps everything done so far only if the job resumes from checkpoints.
 */
export function workDoneMs(
  aw: Pick<AppWrapper, 'pastRuns' | 'startedAt' | 'placement'> & { spec: Pick<JobSpec, 'checkpointing'> },
  now: number,
  speedOf: (cluster: string, pool: PoolName) => number,
  next: 'in-place' | 'new-job' = 'in-place',
): number {
  if (!aw.spec.checkpointing && next === 'new-job') return 0;
  let done = 0;
  // A lost leg took the checkpoint with it: the work starts over after it.
  if (aw.spec.checkpointing) for (const leg of aw.pastRuns ?? []) done = leg.lost ? 0 : done + (leg.endedAt - leg.startedAt) / speedOf(leg.cluster, leg.pool);
  if (aw.startedAt !== undefined && aw.placement) done += Math.max(0, now - aw.startedAt) / speedOf(aw.placement.cluster, aw.placement.pool);
  return done;
}

/**
 * Whether a Planned job's gate Job may exist unseen on its target cluster: a create of it was sent and not
 * answered. Until a listing settles that, the job is neither re-planned nor failed: its Job, perhaps running
 * (or done) since, would then be deleted as not its own.
 */
export function gateJobUnconfirmed(aw: Pick<AppWrapper, 'jobId' | 'phase' | 'targetCluster' | 'unconfirmedJobs'>): boolean {
  const gateJob = jobNameFor(aw.jobId, 1);
  return aw.phase === 'Planned' && (aw.unconfirmedJobs?.some((ref) => ref.cluster === aw.targetCluster && ref.jobName === gateJob) ?? false);
}

/** `aw` without the unconfirmed Jobs `settled` picks (unchanged when it picks none). */
export function withUnconfirmedSettled(aw: AppWrapper, settled: (ref: JobRef) => boolean): AppWrapper {
  const left = (aw.unconfirmedJobs ?? []).filter((ref) => !settled(ref));
  if (left.length === (aw.unconfirmedJobs ?? []).length) return aw;
  return { ...aw, unconfirmedJobs: left.length ? left : undefined };
}

/**
 * The AppWrapper taken off its Job's cluster, which stopped answering at `lostSince`: Pending again, so that
 * the next plan places it on a cluster that answers. Its Job is queued for deletion (when the cluster answers
 * again), a pending move is given up, and its run there stays a leg (its carbon counts) marked lost: the job's
 * checkpoint is on that cluster, so the next Job starts from the beginning.
 */
export function requeuedOffLostCluster(aw: AppWrapper, lostSince: number, reason: string): AppWrapper {
  const job = aw.placement;
  if (!job) return aw;
  const ran = aw.startedAt !== undefined && lostSince > aw.startedAt;
  // A job that had not started there still loses the checkpoint it carried there; a leg of no length says so.
  const carried = (aw.pastRuns?.length ?? 0) > 0;
  const estimate = job.co2EstimateG ?? aw.co2EstimateG;
  const leg: RunLeg[] = ran || carried
    ? [{ cluster: job.cluster, pool: job.pool, startedAt: ran ? aw.startedAt! : lostSince, endedAt: lostSince, lost: true, ...(estimate !== undefined && { co2EstimateG: estimate }) }]
    : [];
  // A move still pending is given up with the cluster: the job keeps the metadata its Job had, not the move's.
  return {
    ...withoutPendingMove(aw),
    phase: 'Pending',
    reason,
    targetCluster: undefined,
    targetPool: undefined,
    plannedStartAt: undefined,
    gateOpen: false,
    placement: undefined,
    migrating: false,
    startedAt: undefined,
    ...(leg.length > 0 && { pastRuns: [...(aw.pastRuns ?? []), ...leg] }),
    staleJobs: [...aw.staleJobs, { cluster: job.cluster, jobName: job.jobName }],
  };
}

/**
 * Where a job ran last, for its account and the report: its last leg's cluster and pool when it has not
 * started since (requeued off a lost cluster, or moved and its new Job not started yet); else its Job's; else
 * its plan's. Undefined for a job with none of these.
 */
export function lastSite(aw: Pick<AppWrapper, 'placement' | 'pastRuns' | 'startedAt' | 'targetCluster' | 'targetPool'>): { cluster: string; pool: PoolName } | undefined {
  const leg = aw.pastRuns?.at(-1);
  if (leg && aw.startedAt === undefined) return { cluster: leg.cluster, pool: leg.pool };
  if (aw.placement) return { cluster: aw.placement.cluster, pool: aw.placement.pool };
  return aw.targetCluster === undefined ? undefined : { cluster: aw.targetCluster, pool: aw.targetPool ?? 'FAST' };
}
