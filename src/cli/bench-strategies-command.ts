import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { errorMessage } from '../domain/errors.js';
import { benchConfig, DEFAULT_BENCH_OPTIONS, runBench, type BenchOptions, type WorkloadSource } from '../simulation/bench.js';
import { TraceImportError } from '../simulation/importers.js';
import { writeReport, textTable } from '../simulation/report.js';
import { RefusedJobError } from '../simulation/simulator.js';
import { strategyNames } from '../simulation/strategies/registry.js';

/** Largest `--seed`: the seeded generators keep 32 bits of it. */
const MAX_SEED = 0xffff_ffff;

/** What the command needs from the outside world, so tests can run it without a terminal. */
export interface BenchCommandIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Whether stderr is a terminal: a redrawn progress bar there, plain progress lines otherwise. */
  stderrIsTty: boolean;
}

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

export function benchUsage(): string {
  return `usage: caspian bench strategies [--workload synthetic|alibaba:FILE|google:FILE] [--jobs N] [--days D] [--seed S]
                                [--strategies ${strategyNames().join(',')}] [--out DIR]`;
}

/** A flag the command refuses, named in its message. */
class UsageError extends Error {}

/**
 * The most jobs a run takes: a guard against values no run could finish with. Every strategy's hub keeps
 * each job (the load benchmark measured 100,000 stored AppWrappers at about 240 MB) and every run is kept
 * until the report, so a billion ran the process out of memory instead of refusing the flag.
 */
const MAX_JOBS = 100_000;

function positiveInt(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value <= 0) throw new UsageError(`--${flag} must be a whole number > 0, got "${raw}"`);
  return value;
}

function parseOptions(args: string[]): { options: Omit<BenchOptions, 'onProgress'>; out: string | undefined } {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: {
        workload: { type: 'string', default: 'synthetic' },
        jobs: { type: 'string' },
        days: { type: 'string' },
        seed: { type: 'string' },
        strategies: { type: 'string' },
        out: { type: 'string' },
      },
    });
  } catch (error) {
    // Node names the flag: "Unknown option '--foo'", "Option '--jobs <value>' argument missing".
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  let workload: WorkloadSource;
  const spec = values.workload;
  const match = /^(alibaba|google):(.+)$/.exec(spec);
  if (spec === 'synthetic') workload = { kind: 'synthetic' };
  else if (match) workload = { kind: match[1] as 'alibaba' | 'google', path: match[2] as string };
  else throw new UsageError(`--workload must be synthetic, alibaba:FILE or google:FILE, got "${spec}"`);
  const days = values.days === undefined ? DEFAULT_BENCH_OPTIONS.days : Number(values.days);
  if (!Number.isFinite(days) || days <= 0 || days > 30) throw new UsageError(`--days must be a number of days in (0, 30], got "${values.days}"`);
  let seed = DEFAULT_BENCH_OPTIONS.seed;
  if (values.seed !== undefined) {
    seed = Number(values.seed);
    // The generators take 32 bits: a larger seed would silently repeat a smaller one's run.
    if (!/^\d+$/.test(values.seed.trim()) || !(seed <= MAX_SEED)) throw new UsageError(`--seed must be a whole number from 0 to ${MAX_SEED}, got "${values.seed}"`);
  }
  const known = strategyNames();
  const strategies = values.strategies === undefined ? known : values.strategies.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = strategies.filter((s) => !known.includes(s));
  if (!strategies.length || unknown.length) {
    throw new UsageError(`--strategies: ${unknown.length ? `unknown strategy "${unknown.join('", "')}"` : 'none given'}; known: ${known.join(', ')}`);
  }
  if (new Set(strategies).size !== strategies.length) throw new UsageError('--strategies: a strategy is named twice');
  if (values.out !== undefined && !values.out.trim()) throw new UsageError('--out must name a directory');
  const jobs = positiveInt('jobs', values.jobs, DEFAULT_BENCH_OPTIONS.jobs);
  if (jobs > MAX_JOBS) throw new UsageError(`--jobs must be at most ${MAX_JOBS}, got "${values.jobs}"`);
  return {
    options: { workload, jobs, days, seed, strategies, ...(values.out !== undefined && { decisionsDir: values.out }) },
    out: values.out,
  };
}

/**
 * Makes the `--out` directory (and its parents) and checks that files can be made in it, before the run: a
 * directory that cannot take the report is a bad flag, found at once rather than after hours of runs.
 */
async function prepareOut(out: string): Promise<void> {
  try {
    // Fails with EEXIST when `out` is a file.
    await mkdir(out, { recursive: true });
    await access(out, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new UsageError(`--out: cannot write the report to ${out}: ${errorMessage(error)}`);
  }
}

/** An error of a file-system call (it names the call), as opposed to a bug. */
const isFsError = (error: unknown): error is NodeJS.ErrnoException => error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string';

/** The progress bar on a terminal (redrawn in place), or a plain line per strategy and tenth of its run otherwise. */
function progressReporter(io: BenchCommandIo): BenchOptions['onProgress'] {
  let lastTenth = -1;
  let lastStrategy = '';
  let lastDrawn = 0;
  return ({ strategy, index, total, fraction }) => {
    if (io.stderrIsTty) {
      const now = performance.now();
      if (fraction < 1 && now - lastDrawn < 100) return;
      lastDrawn = now;
      const width = 30;
      const filled = Math.round(fraction * width);
      io.stderr(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}%  strategy ${index + 1}/${total} ${strategy.padEnd(22)}`);
      if (fraction >= 1 && index === total - 1) io.stderr('\n');
      return;
    }
    const tenth = Math.floor(fraction * 10);
    if (strategy === lastStrategy && tenth === lastTenth) return;
    lastStrategy = strategy;
    lastTenth = tenth;
    io.stderr(`bench: strategy ${index + 1}/${total} ${strategy}: ${tenth * 10}%\n`);
  };
}

/**
 * `caspian bench strategies ...`: runs every strategy over one workload and carbon trace in real hubs and
 * prints the table; with `--out DIR` also writes results.json, results.csv, the decision logs and the charts.
 * Exit 0 when it ran (or `--help` printed the usage), 2 for a bad flag (`--out` included: checked before the run) or an unreadable or
 * malformed trace (the message names the flag, or the file, line and field), 1 for anything else (a job the
 * hub refused and a report that could not be written say so in one line).
 */
export async function benchStrategiesCommand(args: string[], io: BenchCommandIo): Promise<number> {
  if (args.some((arg) => arg === '--help' || arg === '-h')) {
    io.stdout(`${benchUsage()}\n`);
    return EXIT_OK;
  }
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(args);
    if (parsed.out !== undefined) await prepareOut(parsed.out);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`caspian bench strategies: ${error.message}\n${benchUsage()}\n`);
    return EXIT_USAGE;
  }
  const { options, out } = parsed;
  const started = performance.now();
  let bench;
  try {
    bench = await runBench({ ...options, onProgress: progressReporter(io) }, benchConfig());
  } catch (error) {
    if (error instanceof TraceImportError) {
      io.stderr(`caspian bench strategies: --workload: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof RefusedJobError) {
      // Mid-run: a progress bar may be on the line.
      io.stderr(`${io.stderrIsTty ? '\n' : ''}caspian bench strategies: ${error.message}\n`);
      return EXIT_FAILED;
    }
    throw error;
  }
  const { workload } = bench.setup;
  const skipped = Object.entries(workload.skipped).map(([why, n]) => `${n} ${why}`);
  const hopeless = bench.details[0]?.hopeless ?? 0;
  io.stdout(
    `workload ${bench.results.workload}: ${workload.jobs.length} jobs over ${options.days} days, seed ${options.seed}` +
      (skipped.length ? ` (trace rows skipped: ${skipped.join(', ')})` : '') +
      `; carbon ${bench.setup.trace.name}; ${bench.setup.config.regions.map((r) => `${r.name} ${r.capacity.cpu} cores`).join(', ')}\n\n`,
  );
  io.stdout(textTable(bench.results.strategies));
  const oracle = bench.runs.find((r) => r.offline)?.offline;
  if (oracle) {
    io.stdout(`\noracle offline solve: ${oracle.solver} ${oracle.solver_status}, ${(oracle.co2_estimate_kg).toFixed(3)} kg planned, bound ${oracle.lower_bound_gco2 === null ? 'none' : `${(oracle.lower_bound_gco2 / 1000).toFixed(3)} kg`}, gap ${oracle.gap === null ? '-' : `${(oracle.gap * 100).toFixed(3)}%`}\n`);
  }
  if (hopeless) io.stdout(`${hopeless} jobs could not meet their deadline under any strategy and are not counted as misses\n`);
  if (out !== undefined) {
    let files: string[];
    try {
      files = await writeReport(out, bench);
    } catch (error) {
      if (!isFsError(error)) throw error;
      io.stderr(`caspian bench strategies: --out: cannot write the report to ${out}: ${error.message}\n`);
      return EXIT_FAILED;
    }
    io.stdout(`\nwrote ${[...files, ...bench.runs.map((r) => `decisions-${r.strategy}.csv`)].length} files to ${out}\n`);
  }
  io.stdout(`done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return EXIT_OK;
}
