import { readFile } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import { optimizeCommand } from '../../src/cli/optimize-command.js';
import { input, job, seedScenario } from '../support/optimizer-builders.js';

/** Runs the command against an in-memory file system and captures what it prints. */
async function run(args: string[], files: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await optimizeCommand(args, {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    readFile: async (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT: no such file, open '${path}'`);
      return text;
    },
  });
  return { code, stdout, stderr };
}

const valid = JSON.stringify(seedScenario().job(job('a').cpu(2).window(0, 0), job('huge').cpu(99)).obj());

describe('caspian optimize', () => {
  test('prints the plan as JSON and exits 0, also for a partial plan', async () => {
    const { code, stdout, stderr } = await run(['in.json', '--solver', 'highs', '--time-limit', '5'], { 'in.json': valid });
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const output = JSON.parse(stdout);
    expect(output).toMatchObject({ solver: 'highs', objective_gco2: 2, plans: [{ job_id: 'a', region: 'KR' }] });
    expect(output.unscheduled).toEqual([expect.objectContaining({ job_id: 'huge', code: 'no_capacity' })]);
  });

  test('exits 0 for a region called hasOwnProperty beside a region with pools', async () => {
    const raw = input()
      .regions('KR', 'hasOwnProperty')
      .horizon(1)
      .capacity('KR', { cpu: 1 })
      .capacity('hasOwnProperty', { cpu: 1 })
      .pools('KR', { name: 'FAST', speed: 1, power: 1 })
      .job(job('a').window(0, 0))
      .obj();
    const { code, stdout, stderr } = await run(['in.json'], { 'in.json': JSON.stringify(raw) });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout).plans).toHaveLength(1);
  });

  test("the README's example input (examples/optimize-input.json) is solved optimally, every job placed", async () => {
    const example = await readFile(new URL('../../examples/optimize-input.json', import.meta.url), 'utf8');
    const { code, stdout, stderr } = await run(['examples/optimize-input.json'], { 'examples/optimize-input.json': example });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const output = JSON.parse(stdout);
    expect(output).toMatchObject({ solver_status: 'optimal', unscheduled: [] });
    expect(output.plans).toHaveLength(JSON.parse(example).jobs.length);
  });

  test('the solver defaults to auto', async () => {
    const { code, stdout } = await run(['in.json'], { 'in.json': valid });
    expect(code).toBe(0);
    expect(JSON.parse(stdout).solver).toBe('hybrid');
  });

  test.each<{ name: string; args: string[]; files: Record<string, string>; message: RegExp }>([
    { name: 'no input file', args: [], files: {}, message: /expected one INPUT.json, got 0/ },
    { name: 'two input files', args: ['a.json', 'b.json'], files: {}, message: /got 2 arguments/ },
    { name: 'an unknown option', args: ['in.json', '--fast'], files: { 'in.json': valid }, message: /--fast/ },
    { name: 'an unknown solver', args: ['in.json', '--solver', 'cplex'], files: { 'in.json': valid }, message: /unknown solver "cplex"/ },
    { name: 'a bad time limit', args: ['in.json', '--time-limit', 'soon'], files: { 'in.json': valid }, message: /--time-limit must be a number of seconds > 0, got "soon"/ },
    { name: 'a missing file', args: ['gone.json'], files: {}, message: /gone.json cannot be read: ENOENT/ },
    { name: 'broken JSON', args: ['in.json'], files: { 'in.json': '{"jobs": [' }, message: /in.json is not valid JSON/ },
    {
      name: 'an invalid input',
      args: ['in.json'],
      files: { 'in.json': JSON.stringify(seedScenario().job(job('a').window(5, 2)).obj()) },
      message: /jobs\[0\]\.deadline_slot \(job "a"\): deadline slot 2 is before release slot 5/,
    },
  ])('exits 2 on $name, naming the problem on stderr', async ({ args, files, message }) => {
    const { code, stdout, stderr } = await run(args, files);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
  });
});
