import type { Logger } from 'pino';
import { lastSite, type AppWrapper, type CarbonAccount, type LegAccount, type PoolName, type Resources, type RunLeg } from '../domain/app-wrapper.js';
import type { CarbonIntegral } from '../domain/carbon-integral.js';
import { poolOf, type ClusterInfo } from '../domain/cluster.js';
import type { Metrics } from '../metrics/metrics.js';
import type { CarbonAccounting } from './lifecycle.js';

/** Watts a job draws per unit of what it requests (`energy.*` of the configuration). */
export interface PowerModel {
  wattCpu: number;
  wattGpu: number;
  wattMemGb: number;
}

/** Grams of CO2 of `powerW` over [fromMs, toMs) in a zone; undefined without carbon data (`CarbonFeed.emissions`). */
export type EmissionsFn = (zone: string, powerW: number, fromMs: number, toMs: number) => CarbonIntegral | undefined;

export interface AccountingContext {
  /** The configured clusters, in configuration order: the first stands for a job without affinity. */
  clusters: readonly ClusterInfo[];
  power: PowerModel;
  emissions: EmissionsFn;
}

/** Where a finished job ran: the cluster and pool its account is labelled with. */
export interface FinishedRun {
  cluster: string;
  pool: PoolName;
}

/** Why a job could not be accounted; the job finishes without an account. */
export class AccountingError extends Error {
  override readonly name = 'AccountingError';
}

const round = (value: number, digits: number): number => Number(value.toFixed(digits));

/** Power a job draws on FAST workers, W. */
export function fastPowerW(request: Resources, power: PowerModel): number {
  return request.cpu * power.wattCpu + request.gpu * power.wattGpu + request.memGb * power.wattMemGb;
}

/**
 * Where a finishing job ran (see `lastSite`); a cancel clears the placement in the change that finishes the
 * job, so the one before it counts.
 */
export function finishedRun(previous: AppWrapper, finished: AppWrapper): FinishedRun | undefined {
  return lastSite({ ...finished, placement: finished.placement ?? previous.placement });
}

function emissionsOrThrow(ctx: AccountingContext, zone: string, powerW: number, fromMs: number, toMs: number): CarbonIntegral {
  const integral = ctx.emissions(zone, powerW, fromMs, toMs);
  if (!integral) throw new AccountingError(`no carbon data for zone ${zone}`);
  return integral;
}

/**
 * The legs a finished job ran: those before each migration, then its last Job's from `startedAt` to
 * `finishedAt` (`nowMs` when absent), if that Job started.
 */
function legsOf(finished: AppWrapper, run: FinishedRun, nowMs: number): RunLeg[] {
  const legs = [...(finished.pastRuns ?? [])];
  if (finished.startedAt !== undefined) {
    legs.push({ cluster: run.cluster, pool: run.pool, startedAt: finished.startedAt, endedAt: Math.max(finished.startedAt, finished.finishedAt ?? nowMs) });
  }
  return legs;
}

/**
 * The carbon account of a job that finished after having run (see `CarbonAccount`, with the grams of each
 * leg), and where it finished. Each leg of its run (a migrated job has several) counts in its own cluster's zone,
 * at the job's FAST power times that pool's power factor. The counterfactual runs the same work (the legs'
 * length in FAST time after the last leg lost with its cluster, which is `runtime_minutes` for a job that
 * ran to completion as declared) from
 * submission, in the job's first allowed region (else the first configured cluster's) on its FAST pool.
 * Throws `AccountingError` when a cluster or the carbon data is unknown.
 */
export function carbonAccountOf(
  previous: AppWrapper,
  finished: AppWrapper,
  ctx: AccountingContext,
  nowMs: number,
): { account: CarbonAccount; run: FinishedRun } {
  const run = finishedRun(previous, finished);
  if (!run) throw new AccountingError('it has no cluster');
  const basePowerW = fastPowerW(finished.spec, ctx.power);
  const legs: { cluster: string; pool: PoolName; grams: number }[] = [];
  let actualGrams = 0;
  let energyWattMs = 0;
  let fastWorkMs = 0;
  let measured = true;
  for (const leg of legsOf(finished, run, nowMs)) {
    const cluster = ctx.clusters.find((c) => c.name === leg.cluster);
    if (!cluster) throw new AccountingError(`cluster ${leg.cluster} is not configured`);
    const pool = poolOf(cluster, leg.pool);
    const powerW = basePowerW * pool.powerFactor;
    const integral = emissionsOrThrow(ctx, cluster.zone, powerW, leg.startedAt, leg.endedAt);
    legs.push({ cluster: leg.cluster, pool: leg.pool, grams: integral.grams });
    actualGrams += integral.grams;
    energyWattMs += powerW * (leg.endedAt - leg.startedAt);
    // A lost leg's work was lost with its cluster: its carbon counts, its work is done again after it.
    fastWorkMs = leg.lost ? 0 : fastWorkMs + (leg.endedAt - leg.startedAt) / pool.speedFactor;
    measured &&= integral.basis === 'measured';
  }

  const region = finished.spec.affinityRegions[0];
  const home = region === undefined ? ctx.clusters[0] : ctx.clusters.find((c) => c.region === region);
  if (!home) throw new AccountingError(region === undefined ? 'no cluster is configured' : `region ${region} has no configured cluster`);
  const fast = poolOf(home, 'FAST');
  const counterfactual = emissionsOrThrow(ctx, home.zone, basePowerW * fast.powerFactor, finished.submittedAt, finished.submittedAt + fastWorkMs * fast.speedFactor);

  const actualG = round(actualGrams, 3);
  const counterfactualG = round(counterfactual.grams, 3);
  return {
    account: {
      plannedG: round(plannedEstimate(previous, finished) ?? 0, 3),
      actualG,
      counterfactualG,
      savedG: round(counterfactualG - actualG, 3),
      energyKwh: round(energyWattMs / 3_600_000 / 1000, 6),
      basis: measured && counterfactual.basis === 'measured' ? 'measured' : 'forecast',
      legs: legAccounts(legs, actualG),
    },
    run,
  };
}

/**
 * The estimate of the last plan carried out: the job's, unless it was requeued off a lost cluster and no Job
 * of a later plan was made (its estimate then is that of a plan never run): the lost leg's.
 */
function plannedEstimate(previous: AppWrapper, finished: AppWrapper): number | undefined {
  const leg = finished.pastRuns?.at(-1);
  const jobSince = finished.startedAt !== undefined || (finished.placement ?? previous.placement) !== undefined;
  return leg?.lost && !jobSince ? (leg.co2EstimateG ?? finished.co2EstimateG) : finished.co2EstimateG;
}

/**
 * Each leg's grams to the milligram, summing to `actualG` (the rounded total): every leg rounded down, then the
 * milligrams left over given to the legs with the largest remainders. No leg moves by a milligram or more, so
 * none goes negative (putting the whole rounding on the last leg did, for an empty last leg).
 */
function legAccounts(legs: readonly { cluster: string; pool: PoolName; grams: number }[], actualG: number): LegAccount[] {
  const milligrams = legs.map((leg) => leg.grams * 1000);
  const shares = milligrams.map((mg) => Math.floor(mg));
  let left = Math.round(actualG * 1000) - shares.reduce((sum, mg) => sum + mg, 0);
  const byRemainder = milligrams.map((mg, i) => ({ i, remainder: mg - shares[i]! })).sort((a, b) => b.remainder - a.remainder);
  for (const { i } of byRemainder) {
    if (left <= 0) break;
    shares[i]!++;
    left--;
  }
  return legs.map((leg, i) => ({ cluster: leg.cluster, pool: leg.pool, actualG: shares[i]! / 1000 }));
}

/** The Lifecycle's carbon accounting: the account of every job that finishes after having run, logged and counted. */
export class CarbonAccountant implements CarbonAccounting {
  constructor(private readonly deps: AccountingContext & { metrics: Metrics; logger: Logger; now: () => number }) {}

  account(previous: AppWrapper, finished: AppWrapper): { account: CarbonAccount; record(): void } {
    const { account, run } = carbonAccountOf(previous, finished, this.deps, this.deps.now());
    return { account, record: () => this.record(finished, account, run) };
  }

  private record(finished: AppWrapper, account: CarbonAccount, run: FinishedRun): void {
    const urgency = finished.spec.urgency;
    this.deps.metrics.recordCarbonAccount(urgency, run, account);
    this.deps.logger.info(
      {
        jobId: finished.jobId,
        cluster: run.cluster,
        pool: run.pool,
        urgency,
        plannedG: account.plannedG,
        actualG: account.actualG,
        counterfactualG: account.counterfactualG,
        savedG: account.savedG,
        energyKwh: account.energyKwh,
        basis: account.basis,
        legs: account.legs,
      },
      `carbon account of ${finished.jobId}: ${account.actualG} g actual, ${account.savedG} g saved (${account.basis})`,
    );
  }
}
