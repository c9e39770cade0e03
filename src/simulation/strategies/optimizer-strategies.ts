import { horizonSlots } from '../../config/config.js';
import { optimize, type OptimizeInput, type OptimizeJob, type OptimizeOutput } from '../../optimizer/index.js';
import { PlanBuilder } from './plan-builder.js';
import { HOUR_MS } from '../workload.js';
import type { RunSetup, StrategyFactory } from './types.js';

/** CASPIAN itself: the hub's optimizer with the hub's solver settings, re-planning every cycle with migration costs. */
export const caspian: StrategyFactory = {
  name: 'caspian',
  description: "CASPIAN: the MILP optimizer with the hub's settings, rolling horizon, migration cost",
  create: () => ({
    name: 'caspian',
    async plan(input, options) {
      const output = await optimize(input, options);
      return { ...output, solver: `caspian:${output.solver}` };
    },
  }),
};

export interface OracleOptions {
  /** Time limit of the one offline solve, seconds. */
  timeLimitSeconds: number;
  gapTolerance: number;
}

export const DEFAULT_ORACLE_OPTIONS: Readonly<OracleOptions> = Object.freeze({ timeLimitSeconds: 60, gapTolerance: 1e-4 });

/** The offline problem: the whole run as one placement problem, on the run's slot grid from its start. */
export function offlineInput(run: RunSetup): OptimizeInput {
  const { config, workload, trace, startMs } = run;
  const slotMs = config.slot_seconds * 1000;
  const jobs: OptimizeJob[] = workload.jobs.map((j) => {
    const runtimeMs = j.runtime_minutes * 60_000;
    const runtimeSlots = Math.ceil(runtimeMs / slotMs);
    // Known from its arrival: the first schedule cycle at or after it, as the hub's cycles see it.
    const release = Math.ceil(j.arrival_ms / slotMs);
    const latestStart = Math.floor((j.arrival_ms + j.deadline_minutes * 60_000 - runtimeMs) / slotMs);
    return {
      job_id: j.job_id,
      cpu: j.cpu,
      mem_gb: j.mem_gb,
      gpu: j.gpu,
      runtime_slots: runtimeSlots,
      release_slot: release,
      deadline_slot: Math.max(0, latestStart + runtimeSlots - 1),
      data_gb: j.data_gb,
      affinity_regions: j.affinity_regions,
    };
  });
  const slots = Math.max(horizonSlots(config), ...jobs.map((j) => j.deadline_slot + 1));
  const regions = config.regions.map((r) => r.name);
  return {
    jobs,
    regions,
    capacities: config.regions.flatMap((r) =>
      Array.from({ length: slots }, (_, slot) => ({ region: r.name, slot, cpu_cap: r.capacity.cpu, mem_gb_cap: r.capacity.mem_gb, gpu_cap: r.capacity.gpu })),
    ),
    // Each slot's time-average, as the hub's carbon feed reads its forecast.
    carbons: config.regions.flatMap((r) =>
      Array.from({ length: slots }, (_, slot) => {
        const from = startMs + slot * slotMs;
        return { region: r.name, slot, ci_gco2_per_kwh: trace.integral(r.zone, from, from + slotMs) / (slotMs / HOUR_MS) };
      }),
    ),
    slot_seconds: config.slot_seconds,
    horizon_slots: slots,
    costs: { ...config.energy, lambda_plan_dev: config.migration.lambda_plan_dev },
    network_costs: config.migration.network_gco2_per_gb,
    migration_allow: config.migration.allow,
    prev_plan: {},
  };
}

/**
 * The oracle: one offline solve of the whole run with every arrival and the true carbon known in advance
 * (release slot = arrival), made when the run starts; each cycle then hands the hub the oracle's placement of
 * every job it is asked about, on the cycle's slot grid. Its plans are capacity-feasible for the whole run, so
 * the hub runs them as planned; a job the offline solve left out (or a start a cycle cannot take) gets the
 * earliest start that fits. The offline plan is a lower bound on every online strategy's carbon only up to
 * the solve's own gap (reported as `offline` on the strategy).
 */
export function oracle(options: Partial<OracleOptions> = {}): StrategyFactory {
  const o = { ...DEFAULT_ORACLE_OPTIONS, ...options };
  return {
    name: 'oracle',
    description: 'the offline MILP over the whole run, every arrival and the true carbon known in advance: the bound online strategies cannot beat',
    async create({ run, clock }) {
      const offline = await optimize(offlineInput(run), { solver: 'auto', timeLimitSeconds: o.timeLimitSeconds, gapTolerance: o.gapTolerance });
      const planned = new Map(offline.plans.map((p) => [p.job_id, p]));
      const slotMs = run.config.slot_seconds * 1000;
      return {
        name: 'oracle',
        offline,
        async plan(input: OptimizeInput): Promise<OptimizeOutput> {
          const now = Math.round((clock.now() - run.startMs) / slotMs);
          const b = new PlanBuilder(input);
          for (const job of input.jobs) {
            const prev = b.previous(job);
            if (b.isPinned(job) && prev !== undefined && b.fits(job, prev, 0)) b.place(job, prev, 0);
          }
          for (const job of input.jobs) {
            if (b.isPlaced(job.job_id)) continue;
            const target = planned.get(job.job_id);
            const w = b.window(job);
            if (target) {
              const start = Math.min(Math.max(target.start_slot - now, w.first), w.last);
              if (b.fits(job, target.region, start)) {
                b.place(job, target.region, start);
                continue;
              }
            }
            const fallback = b.earliest(job, target ? [target.region, ...b.allowed(job).filter((r) => r !== target.region)] : b.allowed(job));
            if (fallback) b.place(job, fallback.region, fallback.start);
          }
          return b.output('oracle');
        },
      };
    },
  };
}
