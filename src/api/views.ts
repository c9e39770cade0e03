import type { AppWrapper, CarbonAccount } from '../domain/app-wrapper.js';
import type { ClusterView } from '../hub/cluster-monitor.js';
import type { CarbonStatus, ZoneCarbon } from '../hub/carbon-feed.js';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** A finished job's carbon account: grams of CO2, energy in kWh. */
export function carbonAccountView(account: CarbonAccount) {
  return {
    planned_g: account.plannedG,
    actual_g: account.actualG,
    counterfactual_g: account.counterfactualG,
    saved_g: account.savedG,
    energy_kwh: account.energyKwh,
    basis: account.basis,
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
    updated_at: iso(aw.updatedAt),
    metadata: aw.metadata,
    carbon: aw.carbonAccount ? carbonAccountView(aw.carbonAccount) : null,
  };
}

export function clusterView(view: ClusterView, carbon: ZoneCarbon | undefined, status: CarbonStatus | undefined) {
  return {
    name: view.name,
    region: view.region,
    zone: view.zone,
    ready: view.ready,
    message: view.message ?? null,
    allocatable: { cpu: view.allocatable.cpu, mem_gb: view.allocatable.memGb, gpu: view.allocatable.gpu },
    foreign_usage: { cpu: view.foreignUsage.cpu, mem_gb: view.foreignUsage.memGb, gpu: view.foreignUsage.gpu },
    checked_at: iso(view.checkedAt),
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
