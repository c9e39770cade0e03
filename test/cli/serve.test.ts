import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DB_FILE } from '../../src/store/sqlite-store.js';
import { freePort, waitForLine } from '../support/child-process.js';

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

  const usageErrors: { name: string; args: string[]; says: string }[] = [
    { name: 'an unknown command', args: ['frobnicate'], says: 'unknown command "frobnicate"' },
    { name: 'no command', args: [], says: 'no command given' },
  ];
  for (const { name, args, says } of usageErrors) {
    it(`${name} exits 2 with the usage on stderr, nothing on stdout`, async () => {
      const { code, stdout, stderr } = await finish(caspian(args));
      expect(code).toBe(2);
      expect(stderr).toContain(says);
      expect(stderr).toContain('Usage: caspian');
      expect(stdout).toBe('');
    });
  }

  it('serve takes no arguments: one is refused with exit 2 before any hub starts, --help shows the usage', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'caspian-')), 'data');
    const refused = await finish(caspian(['serve', '--port=9999'], { CASPIAN_DATA_DIR: dataDir, CASPIAN_PORT: '0' }));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('caspian serve: unexpected argument "--port=9999"');
    expect(existsSync(dataDir)).toBe(false);
    const help = await finish(caspian(['serve', '--help'], { CASPIAN_DATA_DIR: dataDir, CASPIAN_PORT: '0' }));
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: caspian');
    expect(existsSync(dataDir)).toBe(false);
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

  describe('serve exits 2 promptly on a configuration error found after the store is open', () => {
    const kubeconfigWithoutTheContexts = () => {
      const file = join(mkdtempSync(join(tmpdir(), 'caspian-kube-')), 'config');
      writeFileSync(file, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
      return file;
    };
    it.each([
      ['a kubeconfig lacking the configured contexts', () => ({ CASPIAN_SPOKES: 'kubernetes', CASPIAN_KUBECONFIG: kubeconfigWithoutTheContexts() }), 'spokes.kubeconfig'],
      ['a missing carbon trace file', () => ({ CASPIAN_CARBON_PROVIDER: 'file', CASPIAN_CARBON_FILE: '/nonexistent.csv' }), 'carbon.file.path'],
    ])('%s', async (_, env, key) => {
      const dataDir = mkdtempSync(join(tmpdir(), 'caspian-data-'));
      child = caspian(['serve'], { CASPIAN_DATA_DIR: dataDir, ...env() });
      // The store's writer thread must not keep the process alive after the message.
      const exited = finish(child);
      const timeout = new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 15_000).unref());
      const outcome = await Promise.race([exited, timeout]);
      expect(outcome).not.toBe('still running');
      const { code, stderr } = outcome as Awaited<typeof exited>;
      expect(stderr).toContain(key);
      expect(code).toBe(2);
    });
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

  it.each([
    { what: 'an address not on this machine', env: { CASPIAN_HOST: '192.0.2.1' }, says: /caspian: host "192\.0\.2\.1" \(CASPIAN_HOST\): cannot listen there: listen EADDRNOTAVAIL/ },
    { what: 'a port in use', env: { CASPIAN_HOST: '127.0.0.1' }, says: /caspian: port \d+ \(CASPIAN_PORT\): cannot listen there: listen EADDRINUSE/ },
  ])('serve exits 2 naming the key when it cannot listen on $what, as for every bad value', async ({ env, says }) => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = String((taken.address() as AddressInfo).port);
    try {
      const { code, stderr } = await finish(caspian(['serve'], { CASPIAN_STORE: 'memory', CASPIAN_PORT: port, ...env }));
      expect(stderr).toMatch(says);
      expect(code).toBe(2);
    } finally {
      taken.close();
    }
  });

  it('serve starts and listens on the memory store while its carbon provider refuses connections (it exited 0 in silence)', async () => {
    const closed = await freePort();
    child = caspian(['serve'], { CASPIAN_STORE: 'memory', CASPIAN_PORT: '0', CASPIAN_HOST: '127.0.0.1', CASPIAN_CARBON_PROVIDER: 'carbon-aware-sdk', CARBON_AWARE_SDK_URL: `http://127.0.0.1:${closed}` });
    const exited = once(child, 'exit') as Promise<[number | null]>;
    // Nothing but the start holds the event loop before the server listens: no store writer thread, and the
    // provider's backoff waits on an unref'd timer.
    const outcome = await Promise.race([waitForLine(child, (l) => l.msg === 'CASPIAN hub listening').then(() => 'listening'), exited.then(([code]) => `exited with code ${code}`)]);
    expect(outcome).toBe('listening');
  });

  it('serve logs where it listens at any log level but silent: supervisors and start-caspian.sh --detach wait for that line', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'caspian-data-'));
    child = caspian(['serve'], { CASPIAN_PORT: '0', CASPIAN_HOST: '127.0.0.1', CASPIAN_DATA_DIR: dataDir, CASPIAN_LOG_LEVEL: 'error' });
    const listening = await waitForLine(child, (l) => l.msg === 'CASPIAN hub listening');
    expect((await fetch(`${listening.address as string}/health`)).status).toBe(200);
  });

  it('serve still stops on SIGTERM once whoever read its stdout has gone (a `| jq` stopped with Ctrl-C)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'caspian-data-'));
    child = caspian(['serve'], { CASPIAN_PORT: '0', CASPIAN_HOST: '127.0.0.1', CASPIAN_DATA_DIR: dataDir });
    await waitForLine(child, (l) => l.msg === 'CASPIAN hub listening');
    // The reader goes: every write to the hub's stdout now fails with EPIPE.
    child.stdout.destroy();
    const exited = once(child, 'exit') as Promise<[number | null]>;
    child.kill('SIGTERM');
    // It used to retry the failed write forever, its event loop (and its 30 s shutdown bound) blocked.
    const [code] = await exited;
    expect(code).toBe(0);
  }, 20_000);

  it('serve refuses a data directory another hub holds, with exit 2, and the first hub goes on', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'caspian-data-'));
    const env = { CASPIAN_PORT: '0', CASPIAN_HOST: '127.0.0.1', CASPIAN_DATA_DIR: dataDir };
    child = caspian(['serve'], env);
    const address = (await waitForLine(child, (l) => l.msg === 'CASPIAN hub listening')).address as string;
    const second = caspian(['serve'], env);
    try {
      const { code, stdout, stderr } = await finish(second);
      expect(code).toBe(2);
      expect(stderr).toContain(`cannot open the store ${join(dataDir, DB_FILE)}: another process holds it`);
      const refusal = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 60);
      expect(refusal).toMatchObject({ msg: 'cannot open the store: the hub does not start', file: join(dataDir, DB_FILE) });
      expect((await fetch(`${address}/ready`)).status).toBe(200);
    } finally {
      second.kill('SIGKILL');
    }
  });

  describe('when the store fails under it', () => {
    /** Starts serve on a fresh data directory, submits one job, then breaks the database as another program could. */
    async function breakStoreUnder(env: Record<string, string>): Promise<{ child: ChildProcessWithoutNullStreams; address: string; submit: (id: string) => Promise<Response> }> {
      const dataDir = mkdtempSync(join(tmpdir(), 'caspian-data-'));
      const started = caspian(['serve'], { CASPIAN_PORT: '0', CASPIAN_HOST: '127.0.0.1', CASPIAN_DATA_DIR: dataDir, ...env });
      child = started;
      const address = (await waitForLine(started, (l) => l.msg === 'CASPIAN hub listening')).address as string;
      const submit = (job_id: string) =>
        fetch(`${address}/hub/appwrappers`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ job_id, cpu: 1, mem_gb: 1, runtime_minutes: 5, deadline_minutes: 60 }),
        });
      expect((await submit('kept')).status).toBe(201);
      const vandal = new Database(join(dataDir, DB_FILE));
      vandal.exec('DROP TABLE appwrappers');
      vandal.close();
      return { child: started, address, submit };
    }

    it('stops and exits 1 by default, so that a supervisor restarts it', async () => {
      const { child: hub, submit } = await breakStoreUnder({});
      const fatal = waitForLine(hub, (l) => l.level === 60);
      const exited = once(hub, 'exit') as Promise<[number | null]>;
      expect((await submit('lost')).status).toBe(503);
      expect(await fatal).toMatchObject({ msg: expect.stringContaining('the store failed: stopping with exit code 1'), reason: expect.stringMatching(/a commit failed/) });
      const [code] = await exited;
      expect(code).toBe(1);
    });

    it('stays up failing GET /health with store.exit_on_failure false', async () => {
      const { child: hub, address, submit } = await breakStoreUnder({ CASPIAN_STORE_EXIT_ON_FAILURE: 'false' });
      const failed = waitForLine(hub, (l) => l.msg === 'store failed: every write is refused until the hub restarts');
      expect((await submit('lost')).status).toBe(503);
      await failed;
      // It answers after the failure: the process did not stop.
      const health = await fetch(`${address}/health`);
      expect(health.status).toBe(503);
      expect(hub.exitCode).toBeNull();
    });
  });
});
