import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `./start-caspian.sh --compose` and `./stop-caspian.sh --compose` against a stand-in `docker` first on
 * PATH: one without the compose plugin, one whose engine does not answer, and one that works and records
 * what it was asked. Then against this machine's own Docker, whatever it is: exit 0 only where compose
 * works, else exit 1 with the reason. Neither script may fall back to something else when compose is asked for.
 */

const ROOT = join(import.meta.dirname, '../..');
const START = join(ROOT, 'start-caspian.sh');
const STOP = join(ROOT, 'stop-caspian.sh');
const execFileAsync = promisify(execFile);

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function script(path: string, args: string[], env: Record<string, string | undefined>): Promise<Outcome> {
  const clean = Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined)) as Record<string, string>;
  try {
    const { stdout, stderr } = await execFileAsync(path, args, { env: clean, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Whether this machine's Docker can run compose (then the "real Docker" case expects success). */
async function composeWorksHere(): Promise<boolean> {
  try {
    await execFileAsync('docker', ['compose', 'version'], { timeout: 10_000 });
    await execFileAsync('docker', ['info'], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

describe('start-caspian.sh / stop-caspian.sh --compose', () => {
  let dir: string;
  let calls: string;
  /** A PATH whose `docker` answers `compose version` and `info` as told and logs every call. */
  const fakeDocker = (name: string, behaviour: { compose: boolean; engine: boolean }): string => {
    const bin = join(dir, name);
    const script = [
      '#!/usr/bin/env bash',
      `echo "docker $* | CASPIAN_SPOKES=\${CASPIAN_SPOKES:-} CASPIAN_KUBECONFIG=\${CASPIAN_KUBECONFIG:-}" >> ${JSON.stringify(calls)}`,
      'case "$1 $2" in',
      `  "compose "*) ${behaviour.compose ? '' : 'echo "docker: \'compose\' is not a docker command." >&2; exit 1'} ;;`,
      `  "info "*) ${behaviour.engine ? '' : 'echo "Cannot connect to the Docker daemon" >&2; exit 1'} ;;`,
      'esac',
      'exit 0',
      '',
    ].join('\n');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'docker'), script);
    chmodSync(join(bin, 'docker'), 0o755);
    return `${bin}:${process.env.PATH ?? ''}`;
  };
  const dockerCalls = (): string[] => {
    try {
      return readFileSync(calls, 'utf8').trim().split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'caspian-compose-scripts-'));
    calls = join(dir, 'docker-calls.log');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    { what: 'the compose plugin is missing', behaviour: { compose: false, engine: true }, says: /--compose needs Docker with its compose plugin: the compose plugin is missing/ },
    { what: 'the Docker engine does not answer', behaviour: { compose: true, engine: false }, says: /--compose needs Docker with its compose plugin: the Docker engine does not answer/ },
  ])('start and stop exit 1, saying so, when $what; nothing is built or started', async ({ behaviour, says }) => {
    const PATH = fakeDocker(`bin-${behaviour.compose}-${behaviour.engine}`, behaviour);
    rmSync(calls, { force: true });
    const start = await script(START, ['--compose'], { PATH, CASPIAN_SPOKES: undefined });
    expect(start.code).toBe(1);
    expect(start.stderr).toMatch(says);
    expect(start.stdout).not.toMatch(/installing|building|starting the hub/);
    const stop = await script(STOP, ['--compose'], { PATH });
    expect(stop.code).toBe(1);
    expect(stop.stderr).toMatch(says);
    expect(dockerCalls().filter((c) => / (up|down|build)\b/.test(c))).toEqual([]);
  });

  it('start runs docker compose up --build and prints the hub, Prometheus and Grafana URLs; stop runs docker compose down', async () => {
    const PATH = fakeDocker('bin-working', { compose: true, engine: true });
    rmSync(calls, { force: true });
    const start = await script(START, ['--compose'], { PATH, CASPIAN_SPOKES: 'simulated', CASPIAN_KUBECONFIG: undefined });
    expect(start.stderr).toBe('');
    expect(start.code).toBe(0);
    for (const url of ['http://localhost:8080', 'http://localhost:9090', 'http://localhost:3000/d/caspian-hub']) expect(start.stdout).toContain(url);
    expect(dockerCalls().find((c) => c.includes(' up '))).toBe('docker compose -f docker-compose.yml up -d --build | CASPIAN_SPOKES=simulated CASPIAN_KUBECONFIG=');

    rmSync(calls, { force: true });
    const stop = await script(STOP, ['--compose', '--keep-clusters'], { PATH });
    expect(stop.code).toBe(0);
    expect(dockerCalls().find((c) => c.includes(' down'))).toMatch(/^docker compose -f docker-compose.yml down \|/);
  });

  it('hands a kubeconfig named relative to the caller to compose as an absolute path', async () => {
    const PATH = fakeDocker('bin-working', { compose: true, engine: true });
    rmSync(calls, { force: true });
    const start = await script(START, ['--compose'], { PATH, CASPIAN_SPOKES: 'kubernetes', CASPIAN_KUBECONFIG: 'kind/../kind/carbon-kr.yaml' });
    expect(start.code).toBe(0);
    expect(dockerCalls().find((c) => c.includes(' up '))).toContain(`CASPIAN_SPOKES=kubernetes CASPIAN_KUBECONFIG=${join(ROOT, 'kind/carbon-kr.yaml')}`);
  });

  it('mounts the config file and the traces in the hub container, named there by the variables; a missing one is refused', async () => {
    const PATH = fakeDocker('bin-working', { compose: true, engine: true });
    const config = join(dir, 'my config.json');
    writeFileSync(config, '{}');
    writeFileSync(join(dir, 'kr.csv'), 'zone,datetime,gco2_per_kwh\n');
    writeFileSync(join(dir, 'jp$1.csv'), 'zone,datetime,gco2_per_kwh\n');
    rmSync(calls, { force: true });
    const start = await execFileAsync(START, ['--compose'], {
      cwd: dir,
      env: { ...process.env, PATH, CASPIAN_SPOKES: 'simulated', CASPIAN_CONFIG: 'my config.json', CASPIAN_CARBON_FILE: 'kr.csv, jp$1.csv' },
      timeout: 30_000,
    });
    expect(start.stderr).toBe('');
    expect(dockerCalls().find((c) => c.includes(' up '))).toMatch(/^docker compose -f docker-compose.yml -f .caspian\/compose.files.yml up -d --build \|/);
    const overlay = readFileSync(join(ROOT, '.caspian/compose.files.yml'), 'utf8');
    expect(overlay).toContain('      - "CASPIAN_CONFIG=/etc/caspian/files/config.json"\n');
    expect(overlay).toContain('      - "CASPIAN_CARBON_FILE=/etc/caspian/files/trace-1-kr.csv,/etc/caspian/files/trace-2-jp$$1.csv"\n');
    expect(overlay).toContain(`      - "${config}:/etc/caspian/files/config.json:ro"\n`);
    expect(overlay).toContain(`      - "${join(dir, 'kr.csv')}:/etc/caspian/files/trace-1-kr.csv:ro"\n`);
    expect(overlay).toContain(`      - "${join(dir, 'jp$$1.csv')}:/etc/caspian/files/trace-2-jp$$1.csv:ro"\n`);

    rmSync(calls, { force: true });
    const missing = await script(START, ['--compose'], { PATH, CASPIAN_SPOKES: 'simulated', CASPIAN_CONFIG: undefined, CASPIAN_CARBON_FILE: join(dir, 'nowhere.csv') });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`start-caspian.sh: CASPIAN_CARBON_FILE: no such file: ${join(dir, 'nowhere.csv')}`);
    expect(dockerCalls().filter((c) => c.includes(' up '))).toEqual([]);
  });

  it('refuses CASPIAN_SPOKES=kubernetes without a kubeconfig to mount (exit 2), before asking compose for anything', async () => {
    const PATH = fakeDocker('bin-working', { compose: true, engine: true });
    rmSync(calls, { force: true });
    const start = await script(START, ['--compose'], { PATH, CASPIAN_SPOKES: 'kubernetes', CASPIAN_KUBECONFIG: undefined });
    expect(start.code).toBe(2);
    expect(start.stderr).toContain('CASPIAN_SPOKES=kubernetes with --compose needs CASPIAN_KUBECONFIG');
    expect(dockerCalls().filter((c) => c.includes(' up '))).toEqual([]);
  });

  it("with this machine's own Docker: fails cleanly unless compose really works here", async () => {
    if (await composeWorksHere()) return; // a machine with a working compose would start containers: not in a unit test
    const start = await script(START, ['--compose'], {});
    expect(start.code).toBe(1);
    expect(start.stderr).toMatch(/^start-caspian\.sh: --compose needs Docker with its compose plugin: .+/);
    const stop = await script(STOP, ['--compose'], {});
    expect(stop.code).toBe(1);
    expect(stop.stderr).toMatch(/^stop-caspian\.sh: --compose needs Docker with its compose plugin: .+/);
  });

  it('still rejects unknown options with exit 2', async () => {
    expect((await script(START, ['--bogus'], {})).code).toBe(2);
    expect((await script(STOP, ['--bogus'], {})).code).toBe(2);
  });
});
