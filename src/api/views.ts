import type { AppWrapper, CarbonAccount } from '../domain/app-wrapper.js';
import { answering, type ClusterView } from '../hub/cluster-monitor.js';
import type { CarbonStatus, ZoneCarbon } from '../hub/carbon-feed.js';
import { isoTime } from '../domain/iso-time.js';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : isoTime(ms));

/** A finished job's carbon account: grams of CO2, energy in kWh. */
export function carbonAccountView(account: CarbonAccount) {
  return {
    planned_g: account.plannedG,
    actual_g: account.actualG,
    counterfactual_g: account.counterfactualG,
    saved_g: account.savedG,
    energy_kwh: account.energyKwh,
    basis: account.basis,
    // Accounts stored before legs were kept show none.
    legs: (account.legs ?? []).map((leg) => ({ cluster: leg.cluster, pool: leg.pool, actual_g: leg.actualG })),
  };
}

/** The AppWrapper as the API shows it: snake_case, times as ISO 8601. */
export function appWrapperView(aw: AppWrapper) {
  return {
    job_id: aw.jobId,
    phase: aw.phase,
    reason: aw.reason ?? null,
    spec: {
      cpu: aw.spec.cpu,
      mem_gb: aw.spec.memGb,
      gpu: aw.spec.gpu,
      runtime_minutes: aw.spec.runtimeMinutes,
      deadline_minutes: aw.spec.deadlineMinutes,
      data_gb: aw.spec.dataGb,
      affinity_regions: aw.spec.affinityRegions,
      checkpointing: aw.spec.checkpointing,
      image: aw.spec.image ?? null,
      command: aw.spec.command ?? null,
    },
    urgency: aw.spec.urgency,
    target_cluster: aw.targetCluster ?? null,
    /** The pool of its Job while one exists, else the plan's. */
    pool: aw.placement?.pool ?? aw.targetPool ?? null,
    planned_start: iso(aw.plannedStartAt),
    gate_open: aw.gateOpen,
    co2_estimate_g: aw.co2EstimateG ?? null,
    job: aw.placement ? { cluster: aw.placement.cluster, name: aw.placement.jobName, generation: aw.placement.generation } : null,
    migrating: aw.migrating,
    submitted_at: iso(aw.submittedAt),
    deadline_at: iso(aw.deadlineAt),
    started_at: iso(aw.startedAt),
    finished_at: iso(aw.finishedAt),
    /** The legs run before each migration or requeue (`lost`: its cluster stopped answering); the current one is `job` from `started_at`. */
    past_runs: (aw.pastRuns ?? []).map((leg) => ({ cluster: leg.cluster, pool: leg.pool, started_at: iso(leg.startedAt), ended_at: iso(leg.endedAt), lost: leg.lost === true })),
    /** Clusters that refused a Job of this job's move there: the plan no longer moves it to them. */
    refused_by: aw.refusedBy ?? [],
    updated_at: iso(aw.updatedAt),
    metadata: aw.metadata,
    carbon: aw.carbonAccount ? carbonAccountView(aw.carbonAccount) : null,
  };
}

const nullable = (type: string) => ({ type: [type, 'null'] });

/**
 * JSON Schema of `appWrapperView`, for Fastify's response serializer: fast-json-stringify compiles it and
 * writes a 100-item page in about 40% of JSON.stringify's time (49 vs 131 µs measured here with a
 * loaded machine). A field missing here would be dropped
 * from answers: test/api/views.test.ts checks that every view serializes to exactly what JSON.stringify
 * gives.
 */
export const appWrapperViewSchema = {
  type: 'object',
  properties: {
    job_id: { type: 'string' },
    phase: { type: 'string' },
    reason: nullable('string'),
    spec: {
      type: 'object',
      properties: {
        cpu: { type: 'number' },
        mem_gb: { type: 'number' },
        gpu: { type: 'number' },
        runtime_minutes: { type: 'number' },
        deadline_minutes: { type: 'number' },
        data_gb: { type: 'number' },
        affinity_regions: { type: 'array', items: { type: 'string' } },
        checkpointing: { type: 'boolean' },
        image: nullable('string'),
        command: { type: ['array', 'null'], items: { type: 'string' } },
      },
    },
    urgency: { type: 'string' },
    target_cluster: nullable('string'),
    pool: nullable('string'),
    planned_start: nullable('string'),
    gate_open: { type: 'boolean' },
    co2_estimate_g: nullable('number'),
    job: {
      type: ['object', 'null'],
      properties: { cluster: { type: 'string' }, name: { type: 'string' }, generation: { type: 'number' } },
    },
    migrating: { type: 'boolean' },
    submitted_at: nullable('string'),
    deadline_at: nullable('string'),
    started_at: nullable('string'),
    finished_at: nullable('string'),
    past_runs: {
      type: 'array',
      items: {
        type: 'object',
        properties: { cluster: { type: 'string' }, pool: { type: 'string' }, started_at: nullable('string'), ended_at: nullable('string'), lost: { type: 'boolean' } },
      },
    },
    refused_by: { type: 'array', items: { type: 'string' } },
    updated_at: nullable('string'),
    metadata: { type: 'object', properties: { migrated_from: { type: 'string' }, migration_time: { type: 'string' } } },
    carbon: {
      type: ['object', 'null'],
      properties: {
        planned_g: { type: 'number' },
        actual_g: { type: 'number' },
        counterfactual_g: { type: 'number' },
        saved_g: { type: 'number' },
        energy_kwh: { type: 'number' },
        basis: { type: 'string' },
        legs: {
          type: 'array',
          items: { type: 'object', properties: { cluster: { type: 'string' }, pool: { type: 'string' }, actual_g: { type: 'number' } } },
        },
      },
    },
  },
} as const;

/** `GET /hub/appwrappers`: a page of views. */
export const appWrapperListSchema = {
  type: 'object',
  properties: { count: { type: 'number' }, items: { type: 'array', items: appWrapperViewSchema }, next: nullable('string') },
} as const;

export function clusterView(view: ClusterView, carbon: ZoneCarbon | undefined, status: CarbonStatus | undefined) {
  return {
    name: view.name,
    region: view.region,
    zone: view.zone,
    // Answering in full: a cluster whose Jobs cannot be listed is planned nothing, whatever its status says.
    ready: answering(view),
    message: view.message ?? null,
    allocatable: { cpu: view.allocatable.cpu, mem_gb: view.allocatable.memGb, gpu: view.allocatable.gpu },
    foreign_usage: { cpu: view.foreignUsage.cpu, mem_gb: view.foreignUsage.memGb, gpu: view.foreignUsage.gpu },
    checked_at: iso(view.checkedAt),
    unready_since: iso(view.unreadySince),
    carbon: carbon
      ? {
          gco2_per_kwh: carbon.current.gco2PerKwh,
          source: carbon.current.source,
          kind: status?.kind ?? null,
          at: iso(carbon.current.at),
          fetched_at: iso(carbon.fetchedAt),
          age_seconds: status?.ageSeconds ?? null,
          stale: status?.stale ?? false,
        }
      : null,
  };
}
