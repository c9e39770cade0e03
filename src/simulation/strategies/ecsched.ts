import type { OptimizeInput, OptimizeJob, OptimizeOutput } from '../../optimizer/index.js';
import { FlowNetwork } from './min-cost-flow.js';
import { PlanBuilder } from './plan-builder.js';
import type { StrategyFactory } from './types.js';

export interface EcschedOptions {
  /** Arcs kept per job: its cheapest (cluster, slot) starts. */
  arcsPerJob: number;
  /** Flow rounds per cycle: jobs the exact capacity check turns away go into the next round. */
  rounds: number;
}

export const DEFAULT_ECSCHED_OPTIONS: Readonly<EcschedOptions> = Object.freeze({ arcsPerJob: 16, rounds: 4 });

/** Cost of leaving a job out of a round: above any carbon a placement can cost, so the flow places all it can. */
const UNPLACED_COST = 1e12;

interface Arc {
  region: string;
  start: number;
  /** Integral cost (mgCO2), so that the flow's arithmetic is exact. */
  cost: number;
}

/**
 * ECSched (Hu et al., Euro-Par 2018) made carbon-aware: each cycle is a min-cost flow on the bipartite graph of
 * pending jobs and (cluster, start slot) nodes. source -> job (capacity 1) -> (cluster, slot) (capacity 1,
 * cost D_j . C_(r,t): the job's energy per slot dotted with the intensities of the slots it would run in, plus
 * the migration charge when it leaves its previous cluster) -> sink, with each (cluster, slot) node's capacity
 * the number of average pending jobs its free capacity holds; every job may also take an "unplaced" arc of
 * prohibitive cost, so the flow places as many as the estimate allows at least carbon. Flow capacities are
 * one-dimensional and per start slot, so the assignment is checked against the real cpu/memory/GPU grid over
 * each job's whole run, the most urgent job (earliest latest start) first; jobs it turns away go into another
 * round on the capacity that is left, and what no round places takes its cheapest start that still fits.
 */
export function ecsched(options: Partial<EcschedOptions> = {}): StrategyFactory {
  const o = { ...DEFAULT_ECSCHED_OPTIONS, ...options };
  return {
    name: 'ecsched',
    description: 'ECSched: a min-cost flow from jobs to (cluster, slot) with a dot-product carbon cost, checked against real capacity',
    create: () => ({
      name: 'ecsched',
      async plan(input: OptimizeInput): Promise<OptimizeOutput> {
        const b = new PlanBuilder(input);
        for (const job of input.jobs) {
          const prev = b.previous(job);
          if (b.isPinned(job) && prev !== undefined && b.fits(job, prev, 0)) b.place(job, prev, 0);
        }
        let pending = input.jobs.filter((j) => !b.isPlaced(j.job_id));
        const arcsOf = (job: OptimizeJob): Arc[] => {
          const arcs: Arc[] = [];
          const w = b.window(job);
          for (const region of b.allowed(job)) {
            for (let t = w.first; t <= w.last; t++) {
              if (b.fits(job, region, t)) arcs.push({ region, start: t, cost: Math.round((b.runCost(job, region, t) + b.migrationCost(job, region)) * 1000) });
            }
          }
          return arcs.sort((x, y) => x.cost - y.cost || x.start - y.start).slice(0, o.arcsPerJob);
        };
        for (let round = 0; round < o.rounds && pending.length; round++) {
          const candidates = pending.map((job) => ({ job, arcs: arcsOf(job) })).filter((c) => c.arcs.length);
          if (!candidates.length) break;
          const assignment = solveRound(b, candidates);
          let placed = 0;
          // The most urgent first (the latest start soonest), so that a job with one start left gets it.
          const lastStart = (job: OptimizeJob) => b.window(job).last;
          for (const { job, arc } of assignment.sort((x, y) => lastStart(x.job) - lastStart(y.job) || x.arc.cost - y.arc.cost)) {
            if (b.fits(job, arc.region, arc.start)) {
              b.place(job, arc.region, arc.start);
              placed++;
            }
          }
          pending = pending.filter((j) => !b.isPlaced(j.job_id));
          if (!placed) break;
        }
        for (const job of pending) {
          const [best] = arcsOf(job);
          if (best) b.place(job, best.region, best.start);
        }
        return b.output('ecsched');
      },
    }),
  };
}

/** One round's min-cost flow; returns the arc each placed job's unit of flow took. */
function solveRound(b: PlanBuilder, candidates: { job: OptimizeJob; arcs: Arc[] }[]): { job: OptimizeJob; arc: Arc }[] {
  const slotNodes = new Map<string, number>();
  const slotKey = (a: Arc) => `${a.region}\u0000${a.start}`;
  const jobs = candidates.length;
  for (const c of candidates) for (const a of c.arcs) if (!slotNodes.has(slotKey(a))) slotNodes.set(slotKey(a), slotNodes.size);
  // Nodes: source, jobs, (cluster, slot)s, unplaced, sink.
  const source = 0;
  const jobNode = (i: number) => 1 + i;
  const slotNode = (k: number) => 1 + jobs + k;
  const unplaced = 1 + jobs + slotNodes.size;
  const sink = unplaced + 1;
  const net = new FlowNetwork(sink + 1);

  // A (cluster, slot) holds as many jobs as its free capacity holds average pending jobs, in its scarcest resource.
  const mean = { cpu: 0, memGb: 0, gpu: 0 };
  for (const { job } of candidates) {
    mean.cpu += job.cpu / jobs;
    mean.memGb += job.mem_gb / jobs;
    mean.gpu += job.gpu / jobs;
  }
  for (const [key, k] of slotNodes) {
    const [region, start] = key.split('\u0000') as [string, string];
    const free = b.freeAt(region, Number(start));
    const holds = Math.min(
      mean.cpu > 0 ? Math.floor(free.cpu / mean.cpu + 1e-9) : jobs,
      mean.memGb > 0 ? Math.floor(free.memGb / mean.memGb + 1e-9) : jobs,
      mean.gpu > 0 ? Math.floor(free.gpu / mean.gpu + 1e-9) : jobs,
    );
    // Every arc into it fits alone, so it holds at least one.
    net.addArc(slotNode(k), sink, Math.max(1, holds), 0);
  }
  const arcIds: { job: OptimizeJob; arc: Arc; id: number }[] = [];
  candidates.forEach(({ job, arcs }, i) => {
    net.addArc(source, jobNode(i), 1, 0);
    net.addArc(jobNode(i), unplaced, 1, UNPLACED_COST);
    for (const arc of arcs) arcIds.push({ job, arc, id: net.addArc(jobNode(i), slotNode(slotNodes.get(slotKey(arc)) as number), 1, arc.cost) });
  });
  net.addArc(unplaced, sink, jobs, 0);
  net.minCostFlow(source, sink, jobs);
  return arcIds.filter((a) => net.flow(a.id) > 0.5).map(({ job, arc }) => ({ job, arc }));
}
