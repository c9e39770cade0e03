import { lastSite, URGENCIES, type AppWrapper, type CarbonAccount } from '../domain/app-wrapper.js';
import { csvTable } from '../domain/csv.js';

/** Sums of the carbon accounts of a group of finished jobs: energy in kWh, CO2 in grams. */
export interface ReportSums {
  jobs: number;
  energy_kwh: number;
  planned_g: number;
  actual_g: number;
  counterfactual_g: number;
  saved_g: number;
}

export interface CarbonReport {
  generated_at: string;
  /** The first and last UTC day of finish included (`YYYY-MM-DD`); null = unbounded. */
  from: string | null;
  to: string | null;
  totals: ReportSums;
  by_cluster: ({ cluster: string } & ReportSums)[];
  by_urgency: ({ urgency: string } & ReportSums)[];
  by_day: ({ day: string } & ReportSums)[];
}

export interface ReportOptions {
  generatedAtMs: number;
  /** UTC days, `YYYY-MM-DD`, inclusive. */
  fromDay?: string;
  toDay?: string;
}

const empty = (): ReportSums => ({ jobs: 0, energy_kwh: 0, planned_g: 0, actual_g: 0, counterfactual_g: 0, saved_g: 0 });

function add(sums: ReportSums, account: CarbonAccount): void {
  sums.jobs++;
  sums.energy_kwh += account.energyKwh;
  sums.planned_g += account.plannedG;
  sums.actual_g += account.actualG;
  sums.counterfactual_g += account.counterfactualG;
  sums.saved_g += account.savedG;
}

const round = (value: number, digits: number): number => Number(value.toFixed(digits));

function rounded(sums: ReportSums): ReportSums {
  return {
    jobs: sums.jobs,
    energy_kwh: round(sums.energy_kwh, 6),
    planned_g: round(sums.planned_g, 3),
    actual_g: round(sums.actual_g, 3),
    counterfactual_g: round(sums.counterfactual_g, 3),
    saved_g: round(sums.saved_g, 3),
  };
}

function sumBy(groups: Map<string, ReportSums>, key: string, account: CarbonAccount): void {
  let sums = groups.get(key);
  if (!sums) groups.set(key, (sums = empty()));
  add(sums, account);
}

/** UTC day of an instant, `YYYY-MM-DD`. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * Sums the carbon accounts of the finished jobs among `appWrappers` in total, per cluster (where the job
 * ran), per urgency and per UTC day of finish, keeping the days in [fromDay, toDay]. Jobs without an
 * account (never ran, or finished before accounting) are left out.
 */
export function carbonReport(appWrappers: Iterable<AppWrapper>, options: ReportOptions): CarbonReport {
  const totals = empty();
  const byCluster = new Map<string, ReportSums>();
  const byUrgency = new Map<string, ReportSums>();
  const byDay = new Map<string, ReportSums>();
  for (const aw of appWrappers) {
    const account = aw.carbonAccount;
    if (!account) continue;
    const day = utcDay(aw.finishedAt ?? aw.updatedAt);
    if ((options.fromDay !== undefined && day < options.fromDay) || (options.toDay !== undefined && day > options.toDay)) continue;
    add(totals, account);
    // A cancel clears the placement; the plan's cluster is where the job was running then.
    sumBy(byCluster, lastSite(aw)?.cluster ?? 'unknown', account);
    sumBy(byUrgency, aw.spec.urgency, account);
    sumBy(byDay, day, account);
  }
  const urgencyOrder = (u: string) => (URGENCIES as readonly string[]).indexOf(u);
  return {
    generated_at: new Date(options.generatedAtMs).toISOString(),
    from: options.fromDay ?? null,
    to: options.toDay ?? null,
    totals: rounded(totals),
    by_cluster: [...byCluster].sort(([a], [b]) => a.localeCompare(b)).map(([cluster, sums]) => ({ cluster, ...rounded(sums) })),
    by_urgency: [...byUrgency].sort(([a], [b]) => urgencyOrder(a) - urgencyOrder(b)).map(([urgency, sums]) => ({ urgency, ...rounded(sums) })),
    by_day: [...byDay].sort(([a], [b]) => a.localeCompare(b)).map(([day, sums]) => ({ day, ...rounded(sums) })),
  };
}

export const REPORT_CSV_COLUMNS = ['group', 'key', 'jobs', 'energy_kwh', 'planned_g', 'actual_g', 'counterfactual_g', 'saved_g'] as const;

/** The report as CSV: one row for the totals (`total,all`), then one per cluster, urgency and day. */
export function carbonReportCsv(report: CarbonReport): string {
  return csvTable(REPORT_CSV_COLUMNS, [
    { group: 'total', key: 'all', ...report.totals },
    ...report.by_cluster.map(({ cluster, ...sums }) => ({ group: 'cluster', key: cluster, ...sums })),
    ...report.by_urgency.map(({ urgency, ...sums }) => ({ group: 'urgency', key: urgency, ...sums })),
    ...report.by_day.map(({ day, ...sums }) => ({ group: 'day', key: day, ...sums })),
  ]);
}
