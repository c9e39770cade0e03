/**
 * Large-neighbourhood search with exact sub-MIPs: free some jobs, keep every other job where it is, and let
 * HiGHS re-place the freed jobs optimally in the capacity the others leave, starting from where they are.
 * The plan can only get better: HiGHS keeps the start as its first incumbent, and a sub-plan is taken only
 * when it places more jobs or costs less. Two kinds of neighbourhood, half the time each:
 * - the biggest jobs of one resource (the jobs of 4 GPUs, say), which compete for the same scarce capacity
 *   and which one-job moves cannot reorder;
 * - the jobs running in a random window of time, in one site or in all.
 *
 * The exchange moves of the local search change one or two jobs at a time; a sub-MIP re-packs dozens at
 * once, which is what a plan stuck a fraction of a percent above the optimum needs.
 */
import { better, expired } from '../heuristics.js';
import type { Deadline, Packing } from '../heuristics.js';
import { CAPACITY_EPS, optionCount, optionRuntime } from '../model.js';
import type { ModelJob, PlacementModel, SolverResult } from '../types.js';
import { solveMilp } from './highs.js';

export interface NeighbourhoodSettings {
  /** Jobs freed by the first sub-MIP; later sizes adapt to how fast the sub-MIPs solve. */
  initialJobs: number;
  minJobs: number;
  maxJobs: number;
  /** Seconds one sub-MIP may take. */
  subMipSeconds: number;
  /** Stop after this many sub-MIPs, even with time left (tests use it instead of the clock). */
  maxMoves: number;
  /** Stop once the plan costs this much or less (a bound plus the gap tolerance). */
  stopBelow: number;
}

/** Relative gap a sub-MIP stops at: its objective is a part of the plan's, so this is finer than needed. */
const SUB_MIP_GAP = 1e-6;
/** A sub-MIP is not started with less time left than this. */
const MIN_SUB_MIP_SECONDS = 0.05;

export const DEFAULT_NEIGHBOURHOOD_SETTINGS: Readonly<NeighbourhoodSettings> = Object.freeze({
  initialJobs: 40,
  minJobs: 8,
  maxJobs: 400,
  subMipSeconds: 2,
  maxMoves: Number.MAX_SAFE_INTEGER,
  stopBelow: -Infinity,
});

export interface NeighbourhoodReport {
  moves: number;
  improvements: number;
  /** Sub-MIPs HiGHS proved optimal. */
  solved: number;
  /**
   * The lower bound of a sub-MIP that freed every job and was proven optimal: a solve of the whole model, so it
   * holds for every plan, and no plan places more jobs than the search's (its objective charges each left out).
   */
  wholeBound?: number;
}

/** The freed jobs as a model of their own: each keeps the options that fit the capacity the others leave. */
interface SubModel {
  model: PlacementModel;
  /** Per freed job, its original index and the original index of each option it kept. */
  jobs: Int32Array;
  options: Int32Array[];
  /** Where the freed jobs were, as sub-model options (-1: unplaced). */
  start: Int32Array;
  /** Where the freed jobs were, as original options. */
  was: Int32Array;
}

/** Lifts the `free` jobs out of `packing` and builds their sub-model. */
function liftOut(packing: Packing, free: readonly number[]): SubModel {
  const model = packing.model;
  const H = model.horizonSlots;
  const was = Int32Array.from(free, (j) => packing.choice[j]!);
  for (const j of free) if (packing.choice[j]! >= 0) packing.unplace(j);
  const residual = {
    cpu: model.capacity.cpu.map((c, i) => c - packing.usedCpu[i]!),
    memGb: model.capacity.memGb.map((c, i) => c - packing.usedMem[i]!),
    gpu: model.capacity.gpu.map((c, i) => c - packing.usedGpu[i]!),
  };
  const jobs: ModelJob[] = [];
  const options: Int32Array[] = [];
  for (const j of free) {
    const job = model.jobs[j]!;
    const kept: number[] = [];
    for (let k = 0; k < job.optionCost.length; k++) {
      const first = job.optionRegion[k]! * H + job.optionStart[k]!;
      const end = first + optionRuntime(job, k);
      let fits = true;
      for (let c = first; c < end && fits; c++) {
        fits =
          job.cpu <= residual.cpu[c]! + CAPACITY_EPS &&
          job.memGb <= residual.memGb[c]! + CAPACITY_EPS &&
          job.gpu <= residual.gpu[c]! + CAPACITY_EPS;
      }
      if (fits) kept.push(k);
    }
    options.push(Int32Array.from(kept));
    jobs.push({
      ...job,
      optionRegion: Int32Array.from(kept, (k) => job.optionRegion[k]!),
      optionStart: Int32Array.from(kept, (k) => job.optionStart[k]!),
      optionCost: Float64Array.from(kept, (k) => job.optionCost[k]!),
    });
  }
  // The old option fits what the others leave (the plan was feasible), so it is always kept.
  const start = Int32Array.from(free, (_, i) => (was[i]! >= 0 ? options[i]!.indexOf(was[i]!) : -1));
  return { model: { ...model, jobs, capacity: residual }, jobs: Int32Array.from(free), options, start, was };
}

/**
 * Jobs placed in a random window of H/16 to 5H/16 slots (all sites, or one at random), plus the unplaced
 * jobs; at most `size`, picked at random.
 */
function pickWindow(packing: Packing, random: () => number, size: number): number[] {
  const model = packing.model;
  const H = model.horizonSlots;
  const width = Math.max(1, Math.round((H / 16) * (1 + 4 * random())));
  const from = Math.floor(random() * H) - Math.floor(width / 2);
  const to = from + width;
  const oneSite = random() < 0.5 ? Math.floor(random() * model.regions.length) : -1;
  const found = new Set<number>();
  for (let r = 0; r < model.regions.length; r++) {
    if (oneSite >= 0 && r !== oneSite) continue;
    for (const j of packing.overlapping(r, Math.max(0, from), Math.min(H, to))) found.add(j);
  }
  for (let j = 0; j < model.jobs.length; j++) if (packing.choice[j]! < 0) found.add(j);
  return shuffled([...found], random).slice(0, size);
}

/**
 * The `size` biggest jobs by one measure, picked at random: one resource some job needs, or the dominant
 * share (each job's largest demand relative to that resource's mean capacity), which mixes the jobs that
 * compete for different scarce resources. Among jobs of equal size, a random few.
 */
function pickBig(packing: Packing, random: () => number, size: number): number[] {
  const model = packing.model;
  const resources = (['cpu', 'memGb', 'gpu'] as const).filter((res) => model.jobs.some((job) => job[res] > 0));
  const pick = Math.floor(random() * (resources.length + 1));
  const mean = (a: Float64Array) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length) || 1;
  const scale = { cpu: mean(model.capacity.cpu), memGb: mean(model.capacity.memGb), gpu: mean(model.capacity.gpu) };
  const measure =
    pick < resources.length
      ? (job: ModelJob) => job[resources[pick]!]
      : (job: ModelJob) => Math.max(...resources.map((res) => job[res] / scale[res]));
  const size_ = model.jobs.map(measure);
  const order = shuffled(
    model.jobs.flatMap((_, j) => (size_[j]! > 0 ? [j] : [])),
    random,
  );
  // Stable: the shuffle decides among equals.
  order.sort((a, b) => size_[b]! - size_[a]!);
  return order.slice(0, size);
}

function shuffled<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const r = Math.floor(random() * (i + 1));
    [items[i], items[r]] = [items[r]!, items[i]!];
  }
  return items;
}

/** What one sub-MIP did, for tests and experiments. */
export interface NeighbourhoodMove {
  kind: 'big' | 'window';
  jobs: number;
  options: number;
  status: SolverResult['status'];
  /** Jobs placed and cost of the plan before and after the move (the same when it was not taken). */
  before: { placed: number; cost: number };
  after: { placed: number; cost: number };
}

/**
 * Improves `packing` in place with sub-MIPs until the deadline, `settings.maxMoves` or `settings.stopBelow`.
 * Sizes adapt: a sub-MIP proved optimal well within its time grows the next neighbourhood, one that ran out
 * shrinks it.
 */
export async function mipNeighbourhoodSearch(
  packing: Packing,
  deadline: Deadline,
  random: () => number,
  settings: NeighbourhoodSettings = DEFAULT_NEIGHBOURHOOD_SETTINGS,
  onMove?: (move: NeighbourhoodMove) => void,
): Promise<NeighbourhoodReport> {
  const report: NeighbourhoodReport = { moves: 0, improvements: 0, solved: 0 };
  // Each kind adapts its own size: a window of small jobs solves fast at sizes where the biggest jobs do not.
  const sizes = { big: settings.initialJobs, window: settings.initialJobs };
  while (report.moves < settings.maxMoves && !expired(deadline) && packing.cost > settings.stopBelow) {
    const seconds = Math.min(settings.subMipSeconds, (deadline.at - deadline.now()) / 1000);
    if (seconds <= MIN_SUB_MIP_SECONDS) break;
    report.moves++;
    const kind = random() < 0.5 ? 'big' : 'window';
    const size = Math.round(sizes[kind]);
    const free = kind === 'big' ? pickBig(packing, random, size) : pickWindow(packing, random, size);
    if (free.length === 0) continue;
    const before = { placed: packing.placed, cost: packing.cost };
    const sub = liftOut(packing, free);
    const started = deadline.now();
    const result = await solveMilp(sub.model, { timeLimitSeconds: seconds, gapTolerance: SUB_MIP_GAP, start: sub.start });
    const took = (deadline.now() - started) / 1000;
    const taken = result.status !== 'error' && place(packing, sub, result.choice) && better(packing, before);
    if (taken) {
      report.improvements++;
    } else {
      for (const j of free) if (packing.choice[j]! >= 0) packing.unplace(j);
      free.forEach((j, i) => {
        if (sub.was[i]! >= 0) packing.place(j, sub.was[i]!);
      });
    }
    onMove?.({ kind, jobs: free.length, options: optionCount(sub.model), status: result.status, before, after: { placed: packing.placed, cost: packing.cost } });
    if (result.status === 'optimal') report.solved++;
    // Every job was free and the sub-MIP was proven: nothing is left to find.
    if (result.status === 'optimal' && free.length === packing.model.jobs.length) {
      if (result.lowerBoundGco2 !== null) report.wholeBound = result.lowerBoundGco2;
      break;
    }
    if (result.status === 'optimal' && took < seconds / 4) sizes[kind] = Math.min(settings.maxJobs, sizes[kind] * 1.25);
    else if (result.status !== 'optimal') sizes[kind] = Math.max(settings.minJobs, sizes[kind] * 0.8);
  }
  packing.exactCost();
  return report;
}

/** Places the freed jobs as the sub-plan says; false when one does not fit (the caller puts them back). */
function place(packing: Packing, sub: SubModel, choice: Int32Array): boolean {
  for (let i = 0; i < sub.jobs.length; i++) {
    const j = sub.jobs[i]!;
    const k = choice[i]!;
    if (k < 0) continue;
    const original = sub.options[i]![k]!;
    if (!packing.fits(j, original)) return false;
    packing.place(j, original);
  }
  return true;
}
