import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitForLine } from '../support/child-process.js';

const CLI = join(import.meta.dirname, '../../src/cli/main.ts');

/** Runs the CLI from source in a child process (tsx compiles it on the fly). */
function caspian(args: string[], env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env } });
}

async function finish(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('caspian command line', () => {
  let child: ChildProcessWithoutNullStreams | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
  });

  it('--help lists every subcommand', async () => {
    const { code, stdout } = await finish(caspian(['--help']));
    expect(code).toBe(0);
    for (const command of ['serve', 'optimize', 'help']) expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
  });

  it('an unknown command exits 2 with the usage on stderr', async () => {
    const { code, stderr } = await finish(caspian(['frobnicate']));
    expect(code).toBe(2);
    expect(stderr).toContain('unknown command "frobnicate"');
    expect(stderr).toContain('Usage: caspian');
  });

  it('serve refuses a bad config file, naming the key, with exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'caspian-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ slot_seconds: 'five minutes', periods: { dispatch_seconds: 7 } }));
    const { code, stderr } = await finish(caspian(['serve'], { CASPIAN_CONFIG: file }));
    expect(code).toBe(2);
    expect(stderr).toContain('slot_seconds');
    expect(stderr).toContain('periods.dispatch_seconds');
  });

  it('serve listens on CASPIAN_PORT and stops gracefully on SIGTERM', async () => {
    // A fresh data directory: the default SQLite store would otherwise keep cli-job from the last run.
    const dataDir = mkdtempSync(join(tmpdir(), 'caspian-data-'));
    child = caspian(['serve'], { CASPIAN_PORT: '0', CASPIAN_HOST: '127.0.0.1', CASPIAN_DATA_DIR: dataDir });
    const listening = await waitForLine(child, (l) => l.msg === 'CASPIAN hub listening');
    const address = listening.address as string;
    const ready = await fetch(`${address}/ready`);
    expect(ready.status).toBe(200);
    const submitted = await fetch(`${address}/hub/appwrappers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ job_id: 'cli-job', cpu: 1, mem_gb: 1, runtime_minutes: 5, deadline_minutes: 60 }),
    });
    expect(submitted.status).toBe(201);

    const stopped = waitForLine(child, (l) => l.msg === 'CASPIAN hub stopped');
    const exited = once(child, 'exit') as Promise<[number | null]>;
    child.kill('SIGTERM');
    await stopped;
    const [code] = await exited;
    expect(code).toBe(0);
  });
});
