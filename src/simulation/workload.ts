import { seededRandom } from '../domain/random.js';

/**
 * A workload for the strategy benchmark: the jobs of a run, each known to the hub only from its arrival,
 * submitted through `POST /hub/appwrappers` with these fields.
 */
export interface WorkloadJob {
  /** DNS-1123 label, as the API wants it. */
  job_id: string;
  /** Arrival, ms after the start of the run. */
  arrival_ms: number;
  cpu: number;
  mem_gb: number;
  gpu: number;
  runtime_minutes: number;
  /** Minutes after arrival by which the job must have finished. */
  deadline_minutes: number;
  data_gb: number;
  affinity_regions: string[];
  /** Where the job came from (a trace's own names), for the reader of workload.csv. */
  origin: string;
}

export interface Workload {
  /** `synthetic`, `alibaba:FILE` or `google:FILE`: how to make it again. */
  name: string;
  /** Ascending by arrival. */
  jobs: WorkloadJob[];
  /** Trace rows left out, by why (a trace holds rows that are not batch jobs CASPIAN could run). */
  skipped: Record<string, number>;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/**
 * Deadline slack (minutes beyond the runtime) of the three urgency bands every workload uses: the synthetic
 * generator draws its deadlines from it, and the trace importers give their jobs (the traces carry none)
 * deadlines the same way. Every band leaves at least `minSlackMinutes`, so a job that arrives just after a
 * schedule cycle can still make its deadline when the next cycle starts it.
 */
export interface SlackBands {
  /** Share of tight jobs: 15-60 min of slack. */
  tight: number;
  /** Share of normal jobs: 2-8 h. The rest are loose: 12 h up to the deadline cap. */
  normal: number;
}

export const DEFAULT_SLACK_BANDS: Readonly<SlackBands> = Object.freeze({ tight: 0.3, normal: 0.4 });

/** Deadlines stay within a day of arrival: the hub plans 24 h ahead, so every start it may choose is in its horizon. */
export const MAX_DEADLINE_MINUTES = 24 * 60;

/** Draws a deadline for a job of `runtimeMinutes`, in whole minutes: at least `minSlackMinutes` beyond the runtime, at most `MAX_DEADLINE_MINUTES` when the runtime leaves room. */
export function drawDeadlineMinutes(random: () => number, runtimeMinutes: number, minSlackMinutes: number, bands: SlackBands = DEFAULT_SLACK_BANDS): number {
  const u = random();
  const v = random();
  let slack: number;
  if (u < bands.tight) slack = 15 + v * 45;
  else if (u < bands.tight + bands.normal) slack = 120 + v * 360;
  else slack = 720 + v * Math.max(0, MAX_DEADLINE_MINUTES - runtimeMinutes - 720);
  slack = Math.min(Math.max(slack, minSlackMinutes), Math.max(MAX_DEADLINE_MINUTES - runtimeMinutes, minSlackMinutes));
  return Math.ceil(runtimeMinutes + slack);
}

/**
 * The latest deadline `drawDeadlineMinutes` can draw for a job of `runtimeMinutes`: a day, or the runtime
 * plus the least slack when that is longer.
 */
export function latestDeadlineMinutes(runtimeMinutes: number, minSlackMinutes: number): number {
  return Math.max(MAX_DEADLINE_MINUTES, Math.ceil(runtimeMinutes + minSlackMinutes));
}

/** A seeded Fisher-Yates shuffle. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export interface SyntheticOptions {
  jobs: number;
  days: number;
  seed: number;
  /** Regions a job may be pinned to by its affinity. */
  regions: readonly string[];
  /** Runtimes are whole multiples of this, the planning slot, so that slot plans and measured runs agree. */
  runtimeStepMinutes: number;
  /** Share of medium and large jobs that ask for one GPU. */
  gpuShare: number;
  /** Share of jobs restricted to one or two regions. */
  affinityShare: number;
  /** Peak-to-mean swing of the arrival rate over the day (0 = a homogeneous Poisson process). */
  diurnalSwing: number;
  slack: SlackBands;
}

export const DEFAULT_SYNTHETIC_OPTIONS: Readonly<Omit<SyntheticOptions, 'jobs' | 'days' | 'seed' | 'regions'>> = Object.freeze({
  runtimeStepMinutes: 15,
  gpuShare: 0.1,
  affinityShare: 0.3,
  diurnalSwing: 0.4,
  slack: DEFAULT_SLACK_BANDS,
});

/** UTC hour of the busiest arrivals: 03:00 UTC is noon in Seoul and Tokyo. */
const ARRIVAL_PEAK_HOUR_UTC = 3;

/**
 * A seeded synthetic workload: `jobs` arrivals of a Poisson process over `days` whose rate follows the
 * working day (thinned from a homogeneous one, then sorted: the order statistics of a Poisson process with a
 * known count), in three size classes (small 55%: 1 core, 15-60 min; medium 35%: 2-4 cores, 30 min-3 h;
 * large 10%: 8 cores, 1-6 h), deadline slack from `slack`, a GPU for `gpuShare` of the medium and large,
 * data to carry when migrating, and an affinity to one or two regions for `affinityShare` of the jobs.
 * Arrival times are relative to the run's start, which is midnight UTC.
 */
export function syntheticWorkload(options: Pick<SyntheticOptions, 'jobs' | 'days' | 'seed' | 'regions'> & Partial<SyntheticOptions>): Workload {
  const o: SyntheticOptions = { ...DEFAULT_SYNTHETIC_OPTIONS, ...options };
  const random = seededRandom(o.seed);
  const spanMs = o.days * DAY_MS;
  const rate = (t: number) => 1 + o.diurnalSwing * Math.cos((2 * Math.PI * ((t / HOUR_MS) % 24 - ARRIVAL_PEAK_HOUR_UTC)) / 24);
  const maxRate = 1 + o.diurnalSwing;
  const arrivals: number[] = [];
  while (arrivals.length < o.jobs) {
    const t = random() * spanMs;
    if (random() * maxRate <= rate(t)) arrivals.push(Math.floor(t));
  }
  arrivals.sort((a, b) => a - b);

  const step = o.runtimeStepMinutes;
  const steps = (lo: number, hi: number) => step * Math.max(1, Math.round((lo + random() * (hi - lo)) / step));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const width = String(o.jobs).length;
  const jobs = arrivals.map((arrival, i): WorkloadJob => {
    const u = random();
    const size = u < 0.55 ? 'small' : u < 0.9 ? 'medium' : 'large';
    const cpu = size === 'small' ? 1 : size === 'medium' ? pick([2, 4]) : 8;
    const runtime = size === 'small' ? steps(15, 60) : size === 'medium' ? steps(30, 180) : steps(60, 360);
    const memGb = size === 'small' ? pick([2, 4]) : size === 'medium' ? pick([8, 16]) : 32;
    const gpu = size !== 'small' && random() < o.gpuShare ? 1 : 0;
    const dataGb = Math.round((size === 'small' ? random() * 2 : size === 'medium' ? 1 + random() * 19 : 10 + random() * 90) * 10) / 10;
    let affinity: string[] = [];
    if (o.regions.length > 1 && random() < o.affinityShare) {
      affinity = shuffled(o.regions, random).slice(0, random() < 2 / 3 ? 1 : 2);
    }
    return {
      job_id: `s-${String(i + 1).padStart(width, '0')}`,
      arrival_ms: arrival,
      cpu,
      mem_gb: memGb,
      gpu,
      runtime_minutes: runtime,
      deadline_minutes: drawDeadlineMinutes(random, runtime, step, o.slack),
      data_gb: dataGb,
      affinity_regions: affinity,
      origin: `synthetic:${size}`,
    };
  });
  return { name: 'synthetic', jobs, skipped: {} };
}
