import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { benchStrategiesCommand } from '../../src/cli/bench-strategies-command.js';
import { KPI_COLUMNS } from '../../src/simulation/report.js';

const dir = mkdtempSync(join(tmpdir(), 'caspian-bench-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], stderrIsTty = false) {
  let stdout = '';
  let stderr = '';
  const code = await benchStrategiesCommand(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), stderrIsTty });
  return { code, stdout, stderr };
}

describe('caspian bench strategies', () => {
  it('runs the strategies, prints the table and writes results, decision logs and charts', async () => {
    const out = join(dir, 'out');
    const { code, stdout, stderr } = await run(['--jobs', '12', '--days', '0.25', '--seed', '2', '--strategies', 'fcfs,greenest-now', '--out', out]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^workload synthetic: 12 jobs over 0.25 days, seed 2/);
    expect(stdout).toMatch(/^fcfs\s+[\d.]+/m);
    expect(stdout).toMatch(/^greenest-now\s+[\d.]+/m);
    expect(stderr).toContain('bench: strategy 1/2 fcfs: 0%\n');
    expect(stderr).toContain('bench: strategy 2/2 greenest-now: 100%\n');
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(Object.keys(results)).toEqual(['workload', 'seed', 'strategies']);
    expect(results).toMatchObject({ workload: 'synthetic', seed: 2 });
    expect(results.strategies.map((s: { name: string }) => s.name)).toEqual(['fcfs', 'greenest-now']);
    for (const row of results.strategies) expect(Object.keys(row)).toEqual([...KPI_COLUMNS]);
    expect(results.strategies[0].savings_vs_fcfs_pct).toBe(0);
    expect(readFileSync(join(out, 'results.csv'), 'utf8').split('\n')[0]).toBe(KPI_COLUMNS.join(','));
    for (const file of ['workload.csv', 'decisions-fcfs.csv', 'decisions-greenest-now.csv', 'co2-by-strategy.svg', 'cumulative-co2.svg', 'region-load-fcfs.svg', 'region-load-greenest-now.svg']) {
      expect(existsSync(join(out, file)), file).toBe(true);
    }
    const svg = readFileSync(join(out, 'co2-by-strategy.svg'), 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<\/svg>\n$/);
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('draws a progress bar when stderr is a terminal', async () => {
    const { code, stderr } = await run(['--jobs', '5', '--days', '0.1', '--strategies', 'fcfs'], true);
    expect(code).toBe(0);
    expect(stderr).toContain(`\r[${'#'.repeat(30)}] 100%  strategy 1/1 fcfs`);
    expect(stderr.endsWith('\n')).toBe(true);
  });

  it.each([
    [['--jobs', '0'], '--jobs must be a whole number > 0, got "0"'],
    [['--jobs', '1.5'], '--jobs must be a whole number > 0, got "1.5"'],
    // Refused before the run: a billion jobs would run the process out of memory instead.
    [['--jobs', '1000000000'], '--jobs must be at most 100000, got "1000000000"'],
    [['--jobs', '100001'], '--jobs must be at most 100000, got "100001"'],
    [['--days', 'many'], '--days must be a number of days in (0, 30], got "many"'],
    [['--seed', 'x'], '--seed must be a whole number from 0 to 4294967295, got "x"'],
    // The generators keep 32 bits: 2^32 + 1 would repeat seed 1's run, -1 seed 4294967295's.
    [['--seed', '4294967297'], '--seed must be a whole number from 0 to 4294967295, got "4294967297"'],
    [['--seed=-1'], '--seed must be a whole number from 0 to 4294967295, got "-1"'],
    [['--strategies', 'fcfs,nope'], '--strategies: unknown strategy "nope"; known: fcfs, round-robin'],
    [['--strategies', 'fcfs,fcfs'], '--strategies: a strategy is named twice'],
    [['--workload', 'azure:trace.csv'], '--workload must be synthetic, alibaba:FILE or google:FILE, got "azure:trace.csv"'],
    [['--frobnicate'], "Unknown option '--frobnicate'"],
    [['--jobs'], "Option '--jobs <value>' argument missing"],
  ])('%j exits 2 naming the flag', async (args, message) => {
    const { code, stdout, stderr } = await run(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
    expect(stderr).toContain('usage: caspian bench strategies');
  });

  it('exits 2 naming the file, line and field of a bad trace', async () => {
    const bad = join(dir, 'batch_task.csv');
    writeFileSync(bad, 'M1,1,j_1,1,Terminated,100,160,50.0,0.2\nM1,1,j_2,1,Terminated,abc,160,50.0,0.2\n');
    const malformed = await run(['--workload', `alibaba:${bad}`, '--strategies', 'fcfs']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toBe(`caspian bench strategies: --workload: ${bad}: line 2: start_time: is not a number\n`);
    const missing = await run(['--workload', `google:${join(dir, 'absent.json')}`, '--strategies', 'fcfs']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`--workload: ${join(dir, 'absent.json')}: cannot read`);
  });

  it('exits 2 naming the directory when reading the trace fails after it opened', async () => {
    const directory = join(dir, 'a-directory');
    mkdirSync(directory, { recursive: true });
    const { code, stdout, stderr } = await run(['--workload', `alibaba:${directory}`, '--strategies', 'fcfs']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(`caspian bench strategies: --workload: ${directory}: cannot read: EISDIR: illegal operation on a directory, read\n`);
  });

  it('runs a trace whose rows the hub would refuse without them, counting them as skipped', async () => {
    const trace = join(dir, 'refused_batch_task.csv');
    writeFileSync(trace, 'M1,1,j_1,1,Terminated,100,700,50,0.5\nM1,1,j_2,1,Terminated,100,700,0.3,0.5\nM1,1,j_3,1,Terminated,100,700000,50,0.5\n');
    const { code, stdout } = await run(['--workload', `alibaba:${trace}`, '--days', '1', '--strategies', 'fcfs']);
    expect(code).toBe(0);
    expect(stdout).toContain(': 1 jobs over 1 days, seed 1 (trace rows skipped: 1 cpu rounds to 0, 1 too long for a deadline within 10080 min)');
  });

  it('checks --out before the run: exits 2 naming it when it cannot be a directory', async () => {
    const notADirectory = join(dir, 'a-file');
    writeFileSync(notADirectory, 'x');
    const { code, stdout, stderr } = await run(['--jobs', '3', '--days', '0.05', '--strategies', 'fcfs', '--out', notADirectory]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(`caspian bench strategies: --out: cannot write the report to ${notADirectory}: EEXIST`);
    expect(stderr).toContain('usage: caspian bench strategies');
    expect(stderr).not.toContain('bench: strategy');
  });

  it('exits 1 naming --out when the report cannot be written there after the run', async () => {
    const out = join(dir, 'blocked');
    // A directory where results.json should go.
    mkdirSync(join(out, 'results.json'), { recursive: true });
    const { code, stdout, stderr } = await run(['--jobs', '3', '--days', '0.05', '--strategies', 'fcfs', '--out', out]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^fcfs\s+[\d.]+/m);
    expect(stderr).toContain(`caspian bench strategies: --out: cannot write the report to ${out}: EISDIR`);
  });

  it('exits 2 through the real entry point, for a bad flag and an unknown benchmark', async () => {
    const cli = join(import.meta.dirname, '../../src/cli/main.ts');
    for (const [args, message] of [
      [['bench', 'strategies', '--days', '0'], '--days must be a number of days in (0, 30], got "0"'],
      [['bench', 'load'], 'caspian bench: unknown benchmark "load"'],
    ] as const) {
      const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args]);
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toContain(message);
    }
  }, 30_000);

  it('prints its usage and exits 0 for --help, through the real entry point, at every level', async () => {
    const cli = join(import.meta.dirname, '../../src/cli/main.ts');
    for (const [args, usage] of [
      [['optimize', '--help'], 'usage: caspian optimize INPUT.json'],
      [['optimize', 'in.json', '-h'], 'usage: caspian optimize INPUT.json'],
      [['bench', '--help'], 'Usage: caspian <command> [options]'],
      [['bench', 'strategies', '--help'], 'usage: caspian bench strategies'],
    ] as const) {
      const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args]);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code, args.join(' ')).toBe(0);
      expect(stdout, args.join(' ')).toContain(usage);
      expect(stderr, args.join(' ')).toBe('');
    }
  }, 30_000);
});
