import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { csvTable } from '../domain/csv.js';
import type { BenchResult } from './bench.js';
import type { StrategyKpis } from './kpi.js';
import { barChart, lineChart, type Series } from './svg.js';

/** The columns of `results.json`'s rows, in the order (also `results.csv`'s header). */
export const KPI_COLUMNS = [
  'name',
  'co2_kg',
  'energy_kwh',
  'avg_ci',
  'savings_vs_fcfs_pct',
  'turnaround_mean_s',
  'turnaround_p95_s',
  'deadline_misses',
  'migrations',
  'data_moved_gb',
  'scheduler_cpu_s',
] as const satisfies readonly (keyof StrategyKpis)[];

const HEADINGS: Record<(typeof KPI_COLUMNS)[number], string> = {
  name: 'strategy',
  co2_kg: 'CO2 kg',
  energy_kwh: 'energy kWh',
  avg_ci: 'avg gCO2/kWh',
  savings_vs_fcfs_pct: 'vs FCFS %',
  turnaround_mean_s: 'turnaround mean h',
  turnaround_p95_s: 'turnaround p95 h',
  deadline_misses: 'deadline misses',
  migrations: 'migrations',
  data_moved_gb: 'data moved GB',
  scheduler_cpu_s: 'scheduler CPU s',
};

function cells(row: StrategyKpis): string[] {
  const fixed = (v: number, d: number) => v.toFixed(d);
  return [
    row.name,
    fixed(row.co2_kg, 1),
    fixed(row.energy_kwh, 1),
    fixed(row.avg_ci, 1),
    row.savings_vs_fcfs_pct === null ? '-' : fixed(row.savings_vs_fcfs_pct, 2),
    fixed(row.turnaround_mean_s / 3600, 2),
    fixed(row.turnaround_p95_s / 3600, 2),
    String(row.deadline_misses),
    String(row.migrations),
    fixed(row.data_moved_gb, 1),
    fixed(row.scheduler_cpu_s, 2),
  ];
}

/** The strategy table as aligned text, for stdout. */
export function textTable(rows: readonly StrategyKpis[]): string {
  const table = [KPI_COLUMNS.map((c) => HEADINGS[c]), ...rows.map(cells)];
  const widths = KPI_COLUMNS.map((_, i) => Math.max(...table.map((r) => (r[i] as string).length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return `${line(table[0] as string[])}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${table.slice(1).map(line).join('\n')}\n`;
}

/** The strategy table as Markdown, for bench/RESULTS.md. */
export function markdownTable(rows: readonly StrategyKpis[]): string {
  const head = KPI_COLUMNS.map((c) => HEADINGS[c]);
  const align = KPI_COLUMNS.map((c) => (c === 'name' ? '---' : '---:'));
  return [head, align, ...rows.map(cells)].map((r) => `| ${r.join(' | ')} |`).join('\n') + '\n';
}

/** File name of a strategy's files: its name is already a safe word. */
const fileSafe = (name: string) => name.replace(/[^a-z0-9-]/gi, '_');

/**
 * Writes the run's files into `outDir`: `results.json` (exactly `{workload, seed, strategies}`),
 * `results.csv`, `workload.csv` (the jobs as submitted), `co2-by-strategy.svg`, `cumulative-co2.svg`,
 * `carbon-intensity.svg` (the trace the run was played against) and `region-load-<strategy>.svg`. The hubs
 * wrote `decisions-<strategy>.csv` there themselves. Resolves with the names written.
 */
export async function writeReport(outDir: string, bench: BenchResult): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const files: [string, string][] = [];
  const rows = bench.results.strategies;
  files.push(['results.json', `${JSON.stringify(bench.results, null, 2)}\n`]);
  files.push(['results.csv', csvTable(KPI_COLUMNS, rows)]);
  files.push([
    'workload.csv',
    csvTable(
      ['job_id', 'arrival_s', 'cpu', 'mem_gb', 'gpu', 'runtime_minutes', 'deadline_minutes', 'data_gb', 'affinity_regions', 'origin'] as const,
      bench.setup.workload.jobs.map((j) => ({ ...j, arrival_s: j.arrival_ms / 1000, affinity_regions: j.affinity_regions.join(' ') })),
    ),
  ]);
  files.push([
    'co2-by-strategy.svg',
    barChart({ title: `CO2 by strategy (${bench.setup.workload.jobs.length} jobs, ${bench.results.workload})`, yLabel: 'kg CO2', bars: rows.map((r) => ({ label: r.name, value: r.co2_kg, highlight: r.name === 'caspian' })) }),
  ]);
  const stepHours = (bench.details[0]?.slotMs ?? 3_600_000) / 3_600_000;
  files.push([
    'cumulative-co2.svg',
    lineChart({ title: 'Cumulative CO2 over the run', yLabel: 'kg CO2', xStepHours: stepHours, series: bench.details.map((d) => ({ name: d.kpis.name, values: d.cumulativeCo2Kg })) }),
  ]);
  const { trace, startMs, config } = bench.setup;
  const slots = Math.max(0, ...bench.details.map((d) => d.cumulativeCo2Kg.length));
  files.push([
    'carbon-intensity.svg',
    lineChart({
      title: `Grid carbon intensity (${trace.name})`,
      yLabel: 'gCO2/kWh',
      xStepHours: stepHours,
      series: config.regions.map((r) => ({ name: `${r.name} (${r.zone})`, values: Array.from({ length: slots }, (_, s) => trace.at(r.zone, startMs + s * stepHours * 3_600_000)) })),
    }),
  ]);
  bench.details.forEach((d) => {
    const series: Series[] = [...d.regionLoad].map(([region, values]) => ({ name: region, values }));
    const capacities = new Set(bench.setup.config.regions.map((r) => r.capacity.cpu));
    for (const r of bench.setup.config.regions) {
      // One line when every region has the same capacity (they would be drawn on top of one another).
      if (capacities.size === 1 && r !== bench.setup.config.regions[0]) continue;
      series.push({ name: capacities.size === 1 ? 'capacity (each)' : `${r.name} capacity`, values: new Array<number>(d.cumulativeCo2Kg.length).fill(r.capacity.cpu), dashed: true });
    }
    files.push([`region-load-${fileSafe(d.kpis.name)}.svg`, lineChart({ title: `Cores in use per region: ${d.kpis.name}`, yLabel: 'cores', xStepHours: stepHours, series, yMin: 0 })]);
  });
  for (const [name, text] of files) await writeFile(join(outDir, name), text, 'utf8');
  return files.map(([name]) => name);
}
