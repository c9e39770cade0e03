import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * scripts/hub-pid.sh, which start-caspian.sh and stop-caspian.sh source: a `.caspian.pid` names this
 * checkout's hub only if that process runs `dist/cli/main.js serve` from this directory. A stale pid file
 * whose pid now belongs to another process must never get the hub's SIGTERM.
 */

const SCRIPT = resolve(__dirname, '../../scripts/hub-pid.sh');

/** Runs `hub_pid` in `cwd`; `withoutProc` makes `[ -r /proc/... ]` false, as on macOS and the BSDs. */
function hubPid(cwd: string, withoutProc = false): Promise<{ code: number; stdout: string }> {
  const noProc = withoutProc ? `[() { case "$2" in /proc/*) return 1 ;; esac; builtin [ "$@"; }; ` : '';
  return new Promise((done) => {
    execFile('bash', ['-c', `. '${SCRIPT}'; ${noProc}hub_pid`], { cwd }, (error, stdout) => done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout: stdout.trim() }));
  });
}

describe('hub_pid', () => {
  let dir: string;
  let mine: string;
  let theirs: string;
  const children: ChildProcess[] = [];

  /** A stand-in hub (`node dist/cli/main.js serve`) running from `checkout`. */
  async function hubIn(checkout: string): Promise<number> {
    mkdirSync(join(checkout, 'dist/cli'), { recursive: true });
    writeFileSync(join(checkout, 'dist/cli/main.js'), 'setInterval(() => {}, 1000);\n');
    const child = spawn('node', ['dist/cli/main.js', 'serve'], { cwd: checkout, stdio: 'ignore' });
    children.push(child);
    await new Promise((ready) => setTimeout(ready, 200));
    return child.pid!;
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'caspian-hub-pid-'));
    mine = join(dir, 'mine');
    theirs = join(dir, 'theirs');
    mkdirSync(mine);
    mkdirSync(theirs);
  });
  afterEach(() => {
    for (const child of children.splice(0)) child.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("names this checkout's hub, and fails without a pid file or for a pid that is gone", async () => {
    const pid = await hubIn(mine);
    expect(await hubPid(mine)).toEqual({ code: 1, stdout: '' });
    writeFileSync(join(mine, '.caspian.pid'), `${pid}\n`);
    expect(await hubPid(mine)).toEqual({ code: 0, stdout: String(pid) });
    writeFileSync(join(mine, '.caspian.pid'), '999999999\n');
    expect((await hubPid(mine)).code).not.toBe(0);
  });

  it("refuses a pid now held by another process, or by another checkout's hub, with or without /proc", async () => {
    const sleeper = spawn('sleep', ['30'], { cwd: mine, stdio: 'ignore' });
    children.push(sleeper);
    writeFileSync(join(mine, '.caspian.pid'), `${sleeper.pid}\n`);
    expect(await hubPid(mine)).toEqual({ code: 1, stdout: '' });

    writeFileSync(join(mine, '.caspian.pid'), `${await hubIn(theirs)}\n`);
    expect(await hubPid(mine)).toEqual({ code: 1, stdout: '' });
    expect(await hubPid(mine, true)).toEqual({ code: 1, stdout: '' });
  });
});
