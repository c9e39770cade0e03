/**
 * The optimizer benchmark: generates each family's instance (seeded, written to bench/out/), solves it with
 * each solver in its own child process and prints one markdown table.
 *
 *   npm run bench:optimizer -- [--families tiny,small,...] [--solvers jslp,highs,greedy,lagrangian,hybrid,auto]
 *                              [--time-limit SECONDS] [--seeds 15,25,...]
 *
 * Family and solver names match by prefix. Without --time-limit each family gets its target budget
 * (60 s for the 6000 x 288 family, 20 s for the others). --seeds generates each family once per seed
 * instead of with its own seed (rows are then named `family@seed`).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { FAMILIES, generate } from './generate.js';
import type { Family } from './generate.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, '..', 'out');

/** Solvers that cannot handle a family (by its number of jobs) and why; they are reported, not run. */
const LIMITS: Record<string, { maxJobs: number; why: string }> = {
  jslp: { maxJobs: 60, why: 'skipped: dense tableau, past 100 s at 300 x 48' },
  highs: { maxJobs: 1500, why: 'skipped: the model does not fit the 2 GiB wasm heap' },
};

interface Row {
  family: string;
  solver: string;
  result?: {
    solver: string;
    status: string;
    objective: number;
    lowerBound: number | null;
    gap: number | null;
    placed: number;
    unscheduled: number;
    contention: number;
    solveSeconds: number;
    wallSeconds: number;
    maxRssMb: number;
    violations: number;
  };
  note?: string;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function selected<T>(all: readonly T[], names: string | undefined, key: (t: T) => string): T[] {
  if (!names) return [...all];
  const wanted = names.split(',');
  return all.filter((t) => wanted.some((w) => key(t).startsWith(w)));
}

async function solveOne(file: string, solver: string, timeLimit: number): Promise<Row['result'] | string> {
  try {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', join(here, 'solve-one.ts'), file, solver, String(timeLimit)],
      { maxBuffer: 1 << 20, timeout: (timeLimit + 120) * 1000 },
    );
    return JSON.parse(stdout.trim().split('\n').pop()!) as Row['result'];
  } catch (error) {
    return `failed: ${(error as Error).message.split('\n')[0]}`;
  }
}

function fmt(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined ? '-' : value.toFixed(digits);
}

function table(rows: Row[]): string {
  const head =
    '| family | solver | status | objective gCO2 | lower bound | gap % | placed | unscheduled (contention) | wall s | peak RSS MB | plan check |';
  const rule = '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|';
  const lines = rows.map((row) => {
    const r = row.result;
    if (!r) return `| ${row.family} | ${row.solver} | ${row.note} | | | | | | | | |`;
    const used = r.solver === row.solver ? r.solver : `${row.solver} (${r.solver})`;
    const check = r.violations === 0 ? 'valid' : `${r.violations} violations`;
    return (
      `| ${row.family} | ${used} | ${r.status} | ${fmt(r.objective, 1)} | ${fmt(r.lowerBound, 1)} | ` +
      `${r.gap === null ? '-' : fmt(r.gap * 100, 3)} | ${r.placed} | ${r.unscheduled} (${r.contention}) | ` +
      `${fmt(r.wallSeconds, 1)} | ${fmt(r.maxRssMb, 0)} | ${check} |`
    );
  });
  return [head, rule, ...lines].join('\n');
}

async function main(): Promise<void> {
  const families = selected(FAMILIES, arg('families'), (f: Family) => f.name);
  const solvers = selected(['jslp', 'highs', 'greedy', 'lagrangian', 'hybrid', 'auto'], arg('solvers'), (s) => s);
  const fixedLimit = arg('time-limit');
  const seeds = arg('seeds')?.split(',').map(Number);
  const instances = seeds ? families.flatMap((f) => seeds.map((seed) => ({ ...f, name: `${f.name}@${seed}`, seed }))) : families;
  mkdirSync(outDir, { recursive: true });
  const rows: Row[] = [];
  for (const family of instances) {
    const file = join(outDir, `${family.name}.json`);
    writeFileSync(file, JSON.stringify(generate(family)));
    const timeLimit = fixedLimit ? Number(fixedLimit) : family.jobs >= 6000 ? 60 : 20;
    for (const solver of solvers) {
      const limit = LIMITS[solver];
      if (limit && family.jobs > limit.maxJobs) {
        rows.push({ family: family.name, solver, note: limit.why });
        continue;
      }
      const result = await solveOne(file, solver, timeLimit);
      const row: Row = typeof result === 'string' ? { family: family.name, solver, note: result } : { family: family.name, solver, result };
      rows.push(row);
      console.error(`${family.name} ${solver}: ${typeof result === 'string' ? result : JSON.stringify(result)}`);
    }
  }
  console.log(table(rows));
}

await main();
