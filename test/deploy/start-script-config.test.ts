import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { optimizeCommand } from '../../src/cli/optimize-command.js';
import { loadConfig } from '../../src/config/config.js';
import { tempDirs } from '../support/temp-dir.js';

/**
 * Configuration, command line and scripts as a newcomer uses them.
 *
 * The scripts are run for real, but against stand-in `node`, `npm` and `docker` commands first on PATH: no
 * build, no hub, no container and no kind cluster is started. The stand-in `node` records the directory and
 * the CASPIAN_* environment the hub would have been started with, then exits.
 */

const ROOT = join(import.meta.dirname, '../..');
const START = join(ROOT, 'start-caspian.sh');
const EXAMPLE = join(ROOT, 'examples/optimize-input.json');
const execFileAsync = promisify(execFile);
const tempDir = tempDirs('caspian-start-paths-');

interface StandIns {
  /** PATH with the stand-ins first. */
  PATH: string;
  /** File the stand-in `node` writes `PWD=...` and the hub's CASPIAN_* environment to. */
  hubEnvFile: string;
  /** File the stand-in `docker` logs its calls to. */
  dockerCalls: string;
  /** File the stand-in `kubectl` logs its calls to. */
  kubectlCalls: string;
}

/**
 * Stand-in `node` (Node 20; `serve` records its cwd and environment), `npm` (does nothing), `docker`, and
 * `kind` whose three clusters exist already (so scripts/kind-up.sh only exports their contexts) with `kubectl`
 * (logs its calls, finds no namespace).
 */
function standIns(docker: { engine: boolean }): StandIns {
  const dir = tempDir();
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const hubEnvFile = join(dir, 'hub-env.txt');
  const dockerCalls = join(dir, 'docker-calls.log');
  const write = (name: string, lines: string[]) => {
    writeFileSync(join(bin, name), ['#!/usr/bin/env bash', ...lines, ''].join('\n'));
    chmodSync(join(bin, name), 0o755);
  };
  write('node', [
    // One-liners (the version check, a setting read from the config file) run on the real Node.
    `case "$1" in -p|-e) exec ${JSON.stringify(process.execPath)} "$@" ;; esac`,
    `{ echo "PWD=$(pwd -P)"; env | grep -E '^(CASPIAN_|KUBECONFIG=)'; } > ${JSON.stringify(hubEnvFile)}`,
    'exit 0',
  ]);
  write('npm', ['exit 0']);
  write('docker', [
    `echo "docker $* | CASPIAN_KUBECONFIG=\${CASPIAN_KUBECONFIG:-}" >> ${JSON.stringify(dockerCalls)}`,
    docker.engine ? 'exit 0' : 'case "$1" in info) echo "Cannot connect to the Docker daemon" >&2; exit 1 ;; esac; exit 0',
  ]);
  const kubectlCalls = join(dir, 'kubectl-calls.log');
  write('kind', ['case "$1" in get) printf "carbon-kr\\ncarbon-jp\\ncarbon-cn\\n" ;; esac', 'exit 0']);
  write('kubectl', [`echo "kubectl $*" >> ${JSON.stringify(kubectlCalls)}`, 'case "$*" in *" get namespace "*) exit 1 ;; esac', 'exit 0']);
  return { PATH: `${bin}:${process.env.PATH ?? ''}`, hubEnvFile, dockerCalls, kubectlCalls };
}

/** Runs a script from `cwd` with the machine's environment less every CASPIAN_ variable, KUBECONFIG and PWD, plus `env`. */
async function runScript(path: string, args: string[], cwd: string, env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !k.startsWith('CASPIAN_') && k !== 'KUBECONFIG' && k !== 'PWD')) as Record<string, string>;
  try {
    const { stdout, stderr } = await execFileAsync(path, args, { cwd, env: { ...base, ...env }, timeout: timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The environment the stand-in `node` recorded for `serve` (PWD included). */
function hubEnv(file: string): Record<string, string> {
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const);
  return Object.fromEntries(entries);
}

describe('start-caspian.sh: paths named relative to the caller', () => {
  it('--compose mounts a relative CASPIAN_KUBECONFIG from the directory it was run in, not from the checkout', async () => {
    const caller = realpathSync(tempDir());
    writeFileSync(join(caller, 'kube.yaml'), 'apiVersion: v1\nkind: Config\n');
    const tools = standIns({ engine: true });
    const start = await runScript(START, ['--compose'], caller, { PATH: tools.PATH, CASPIAN_SPOKES: 'kubernetes', CASPIAN_KUBECONFIG: 'kube.yaml' });
    expect(start.code).toBe(0);
    const up = readFileSync(tools.dockerCalls, 'utf8').split('\n').find((c) => c.includes(' up '));
    // It used to be resolved after the script's `cd "$(dirname "$0")"`, against the checkout.
    expect(up).toContain(`CASPIAN_KUBECONFIG=${join(caller, 'kube.yaml')}`);
  });

  it('a relative CASPIAN_CONFIG is read from the directory the script was run in, not from the checkout', async () => {
    const caller = realpathSync(tempDir());
    writeFileSync(join(caller, 'caspian.json'), JSON.stringify({ port: 9000 }));
    const tools = standIns({ engine: false });
    const start = await runScript(START, [], caller, { PATH: tools.PATH, CASPIAN_SPOKES: 'simulated', CASPIAN_CONFIG: 'caspian.json' });
    expect(start.code).toBe(0);
    const env = hubEnv(tools.hubEnvFile);
    // The hub opens CASPIAN_CONFIG relative to its own working directory.
    expect(resolve(env.PWD!, env.CASPIAN_CONFIG!)).toBe(join(caller, 'caspian.json'));
  });
});

describe('start-caspian.sh: spokes configured in the CASPIAN_CONFIG file', () => {
  it('a config file naming Kubernetes spokes is not overridden by simulated spokes when Docker is unusable', async () => {
    const dir = tempDir();
    const file = join(dir, 'caspian.json');
    writeFileSync(file, JSON.stringify({ spokes: { kind: 'kubernetes', kubeconfig: '/etc/caspian/kubeconfig', namespace: 'batch' } }));
    const tools = standIns({ engine: false });
    const start = await runScript(START, [], dir, { PATH: tools.PATH, CASPIAN_CONFIG: file });
    expect(start.code).toBe(0);
    // What the hub would load: the file asks for real clusters. The script used to export CASPIAN_SPOKES=simulated,
    // which wins over the file: jobs "ran" in-process and ended Succeeded without ever running.
    const config = loadConfig(hubEnv(tools.hubEnvFile));
    expect(config.spokes.kind).toBe('kubernetes');
  });

  it("the file's spokes.namespace is kept, and made on the kind clusters, when the script points the hub at them", async () => {
    const dir = tempDir();
    const file = join(dir, 'caspian.json');
    writeFileSync(file, JSON.stringify({ spokes: { namespace: 'batch-jobs' } }));
    const tools = standIns({ engine: true });
    // CASPIAN_KUBECONFIG only keeps kind-up.sh from writing .kind/ into the checkout.
    const start = await runScript(START, [], dir, { PATH: tools.PATH, CASPIAN_CONFIG: file, CASPIAN_KUBECONFIG: join(dir, 'kubeconfig') });
    expect(start.code).toBe(0);
    const config = loadConfig(hubEnv(tools.hubEnvFile));
    expect(config.spokes).toMatchObject({ kind: 'kubernetes', namespace: 'batch-jobs' });
    const creates = readFileSync(tools.kubectlCalls, 'utf8').split('\n').filter((c) => c.includes('create namespace'));
    expect(creates.map((c) => c.split(' --context ')[1])).toEqual(['kind-carbon-kr create namespace batch-jobs', 'kind-carbon-jp create namespace batch-jobs', 'kind-carbon-cn create namespace batch-jobs']);
  });
});

describe('files with a UTF-8 byte order mark', () => {
  it('a CASPIAN_CONFIG file saved with a UTF-8 BOM is read', () => {
    const file = join(tempDir(), 'caspian.json');
    writeFileSync(file, `\uFEFF${JSON.stringify({ port: 9000 })}\n`);
    expect(loadConfig({ CASPIAN_CONFIG: file }).port).toBe(9000);
  });

  it('caspian optimize reads an input file saved with a UTF-8 BOM', async () => {
    let stderr = '';
    const code = await optimizeCommand(['input.json', '--solver', 'greedy'], {
      stdout: () => undefined,
      stderr: (s) => (stderr += s),
      readFile: async () => `\uFEFF${readFileSync(EXAMPLE, 'utf8')}`,
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('start-caspian.sh --detach: reports the hub up only once it says it listens', () => {
  /**
   * A copy of the script and the pid helper in a checkout of their own (the pid file and the log are written
   * there, not in this one), with a stand-in `node` whose `serve` logs `listening` when told to, then idles.
   */
  function checkout(hub: 'listens' | 'stays silent'): { dir: string; PATH: string } {
    const dir = tempDir();
    mkdirSync(join(dir, 'scripts'));
    copyFileSync(START, join(dir, 'start-caspian.sh'));
    copyFileSync(join(ROOT, 'scripts/hub-pid.sh'), join(dir, 'scripts/hub-pid.sh'));
    mkdirSync(join(dir, 'node_modules'));
    const tools = standIns({ engine: false });
    const bin = dirname(tools.hubEnvFile);
    const node = join(bin, 'serve-node', 'node');
    mkdirSync(dirname(node));
    const listening = JSON.stringify({ level: 30, msg: 'CASPIAN hub listening', address: 'http://127.0.0.1:1' });
    writeFileSync(
      node,
      [
        '#!/usr/bin/env bash',
        `case "$1" in -p|-e) exec ${JSON.stringify(process.execPath)} "$@" ;; esac`,
        hub === 'listens' ? `echo '${listening}'` : ':',
        'exec sleep 60',
        '',
      ].join('\n'),
    );
    chmodSync(node, 0o755);
    return { dir, PATH: `${dirname(node)}:${tools.PATH}` };
  }

  /** Stops the stand-in hub the script left running, if any. */
  function stopHub(dir: string): void {
    const pidFile = join(dir, '.caspian.pid');
    if (existsSync(pidFile)) spawnSync('pkill', ['-P', readFileSync(pidFile, 'utf8').trim()]);
    if (existsSync(pidFile)) spawnSync('kill', [readFileSync(pidFile, 'utf8').trim()]);
  }

  it('says it runs in the background once the hub logs that it listens', async () => {
    const { dir, PATH } = checkout('listens');
    try {
      const start = await runScript(join(dir, 'start-caspian.sh'), ['--detach'], dir, { PATH, CASPIAN_SPOKES: 'simulated' });
      expect(start.code).toBe(0);
      expect(start.stdout).toContain('running in the background');
    } finally {
      stopHub(dir);
    }
  });

  it('exits 1, leaving the hub to finish starting, when it has not said so within CASPIAN_START_TIMEOUT_SECONDS (it said "running")', async () => {
    const { dir, PATH } = checkout('stays silent');
    try {
      const start = await runScript(join(dir, 'start-caspian.sh'), ['--detach'], dir, { PATH, CASPIAN_SPOKES: 'simulated', CASPIAN_START_TIMEOUT_SECONDS: '1' });
      expect(start.code).toBe(1);
      expect(start.stdout).not.toContain('running in the background');
      expect(start.stderr).toMatch(/has not said it listens after 1 s; it may still be starting/);
      expect(existsSync(join(dir, '.caspian.pid'))).toBe(true);
    } finally {
      stopHub(dir);
    }
  });

  it('refuses a CASPIAN_START_TIMEOUT_SECONDS that is not a whole number of seconds from 1 to a day, before starting anything', async () => {
    const { dir, PATH } = checkout('listens');
    // The 20-digit values passed a digits-only check, then wrapped round to a negative wait: "not listening" at once.
    for (const bad of ['0', '1.5', 'soon', '86401', '99999999999999999999', '9223372036854775807']) {
      const start = await runScript(join(dir, 'start-caspian.sh'), ['--detach'], dir, { PATH, CASPIAN_SPOKES: 'simulated', CASPIAN_START_TIMEOUT_SECONDS: bad });
      expect(start.code, bad).toBe(2);
      expect(start.stderr, bad).toContain(`CASPIAN_START_TIMEOUT_SECONDS must be a whole number of seconds from 1 to 86400, got "${bad}"`);
      expect(existsSync(join(dir, '.caspian.pid')), bad).toBe(false);
    }
  });

  it('waits as long as a day when told to, and ignores the value when not detaching', async () => {
    const { dir, PATH } = checkout('listens');
    try {
      const long = await runScript(join(dir, 'start-caspian.sh'), ['--detach'], dir, { PATH, CASPIAN_SPOKES: 'simulated', CASPIAN_START_TIMEOUT_SECONDS: '86400' });
      expect(long.code).toBe(0);
      expect(long.stdout).toContain('running in the background');
    } finally {
      stopHub(dir);
    }
    // In the foreground the stand-in hub logs, idles and is stopped by the test's time-out: only the check matters here.
    const foreground = await runScript(join(dir, 'start-caspian.sh'), [], dir, { PATH, CASPIAN_SPOKES: 'simulated', CASPIAN_START_TIMEOUT_SECONDS: 'soon' }, 3000);
    expect(foreground.stderr).not.toContain('CASPIAN_START_TIMEOUT_SECONDS');
    expect(foreground.stdout).toContain('starting the hub');
  });
});
