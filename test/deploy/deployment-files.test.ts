import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import { DockerfileParser, type Instruction, type JSONInstruction } from 'dockerfile-ast';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../support/child-process.js';
import { testHub, type TestHub } from '../support/hub.js';

/**
 * The Dockerfile and the compose files, read the way Docker reads them, checked against the repository:
 * what they copy and mount exists (and .dockerignore lets it through), the image runs what `npm run
 * build` produces, its health check hits the hub's real liveness route, and the compose services find
 * each other by the names prometheus.yml and the Grafana provisioning use. No Docker needed.
 */

const ROOT = join(import.meta.dirname, '../..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const PROMTOOL = '/usr/bin/promtool';
const run = promisify(execFile);

// --- Dockerfile ---------------------------------------------------------------------------------

interface Stage {
  name: string | null;
  image: string;
  instructions: Instruction[];
}

const dockerfile = DockerfileParser.parse(read('Dockerfile'));
const stages: Stage[] = [];
for (const instruction of dockerfile.getInstructions()) {
  if (instruction.getKeyword() === 'FROM') {
    const from = dockerfile.getFROMs()[stages.length];
    stages.push({ name: from?.getBuildStage() ?? null, image: from?.getImage() ?? '', instructions: [] });
  } else {
    stages.at(-1)?.instructions.push(instruction);
  }
}
const finalStage = stages.at(-1) as Stage;
const buildStage = stages[0] as Stage;
const of = (stage: Stage, keyword: string): Instruction[] => stage.instructions.filter((i) => i.getKeyword() === keyword);
const args = (i: Instruction): string[] => i.getArguments().map((a) => a.getValue());
/** An exec-form (JSON) instruction's words. */
const execForm = (i: Instruction): string[] => (i as JSONInstruction).getJSONStrings().map((s) => s.getJSONValue());
const flag = (i: Instruction, name: string): string | undefined =>
  (i as Instruction & { getFlags(): { getName(): string; getValue(): string | null }[] }).getFlags().find((f) => f.getName() === name)?.getValue() ?? undefined;
/** The value of `${NAME}` in a FROM line, from the ARGs before the first FROM. */
const resolveArgs = (text: string): string =>
  text.replace(/\$\{(\w+)\}/g, (_, name: string) => dockerfile.getInitialARGs().find((a) => a.getProperty()?.getName() === name)?.getProperty()?.getValue() ?? '');

/** .dockerignore as Docker applies it: the last matching line wins, `!` lets a path back in. */
function dockerignored(path: string): boolean {
  const rules = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  let ignored = false;
  for (const rule of rules) {
    const negated = rule.startsWith('!');
    const pattern = posix.normalize(negated ? rule.slice(1) : rule).replace(/\/$/, '');
    if (/[?[\]]|\*./.test(pattern) || (pattern.includes('*') && pattern !== '*')) throw new Error(`.dockerignore: this test reads only '*' and plain paths, not ${rule}`);
    const matches = pattern === '*' || path === pattern || path.startsWith(`${pattern}/`);
    if (matches) ignored = !negated;
  }
  return ignored;
}

describe('Dockerfile', () => {
  it("has nothing dockerfile-utils' validator objects to (instructions, flags, arguments)", () => {
    const diagnostics = lintDockerfile(read('Dockerfile')).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    expect(diagnostics).toEqual([]);
  });

  it('builds in one stage and runs in another, from Node.js 20 slim images', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(buildStage.name).toBe('build');
    for (const stage of stages) expect(resolveArgs(stage.image), stage.name ?? '').toMatch(/^node:20[\w.-]*-slim$/);
  });

  it('compiles in the build stage: npm ci, better-sqlite3 built, npm run build, dev dependencies pruned', () => {
    const runs = of(buildStage, 'RUN').map((i) => i.getArgumentsContent() ?? '').join('\n');
    for (const step of ['npm ci', 'npm rebuild better-sqlite3', 'npm run build', 'npm prune --omit=dev']) expect(runs).toContain(step);
    // better-sqlite3 compiles where no prebuilt binary fits: the build stage has the tools, the runtime does not need them.
    expect(runs).toMatch(/apt-get install .*python3 make g\+\+/);
    expect(of(finalStage, 'RUN').map((i) => i.getArgumentsContent() ?? '').join('\n')).not.toMatch(/npm (ci|install)|apt-get install/);
  });

  it('copies from the context only files that exist and .dockerignore lets through', () => {
    const sources = stages.flatMap((s) => of(s, 'COPY').filter((c) => flag(c, 'from') === undefined).flatMap((c) => args(c).slice(0, -1)));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), source).toBe(true);
      expect(dockerignored(posix.normalize(source)), `${source} is excluded by .dockerignore`).toBe(false);
    }
  });

  it('keeps credentials, the store and local builds out of the build context', () => {
    for (const path of ['.kind/kubeconfig', 'data/caspian.db', 'node_modules', 'dist', '.git', 'caspian.log', 'test/support/hub.ts']) {
      expect(dockerignored(path), path).toBe(true);
    }
  });

  it('copies into the runtime stage what the build stage made, from its working directory', () => {
    const workdir = args(of(buildStage, 'WORKDIR').at(-1) as Instruction)[0];
    const fromBuild = of(finalStage, 'COPY').filter((c) => flag(c, 'from') === 'build');
    expect(fromBuild.map((c) => args(c)[0]).sort()).toEqual([`${workdir}/dist`, `${workdir}/node_modules`, `${workdir}/package.json`]);
  });

  it('runs as a user other than root', () => {
    const user = of(finalStage, 'USER').at(-1);
    expect(user, 'USER in the final stage').toBeDefined();
    expect(args(user as Instruction)[0]).not.toMatch(/^(root|0)(:|$)/);
  });

  it('starts the file npm run build produces, the package bin', () => {
    const cmd = execForm(of(finalStage, 'CMD').at(-1) as Instruction);
    expect(cmd).toEqual(['node', 'dist/cli/main.js', 'serve']);
    // tsconfig.build.json compiles src/ into dist/ with the same layout.
    const build = JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { rootDir: string; outDir: string } };
    const entry = (cmd[1] as string).replace(new RegExp(`^${build.compilerOptions.outDir}/`), `${build.compilerOptions.rootDir}/`).replace(/\.js$/, '.ts');
    expect(existsSync(join(ROOT, entry)), entry).toBe(true);
    expect((JSON.parse(read('package.json')) as { bin: Record<string, string> }).bin.caspian).toBe(cmd[1]);
  });

  it('exposes 8080 and keeps CASPIAN_DATA_DIR on a volume', () => {
    expect(of(finalStage, 'EXPOSE').flatMap(args)).toEqual(['8080']);
    const env = of(finalStage, 'ENV').map((i) => i.getArgumentsContent() ?? '').join(' ');
    const dataDir = /CASPIAN_DATA_DIR=(\S+)/.exec(env)?.[1];
    expect(dataDir).toBeDefined();
    expect(of(finalStage, 'VOLUME').flatMap((v) => execForm(v))).toContain(dataDir);
  });

  describe('HEALTHCHECK', () => {
    let t: TestHub;
    let port: string;
    /** `HEALTHCHECK [flags] CMD [...]`: the subcommand, then the exec-form words. */
    const healthcheck = (): string[] => {
      const content = of(finalStage, 'HEALTHCHECK').at(-1)?.getArgumentsContent() ?? '';
      const [, sub, json] = /^(CMD)\s+(\[.*\])\s*$/s.exec(content) ?? [];
      if (!sub || !json) throw new Error(`HEALTHCHECK is not in exec form: ${content}`);
      return [sub, ...(JSON.parse(json) as string[])];
    };
    const probe = async (env: Record<string, string>): Promise<number> => {
      const [command, ...rest] = healthcheck().slice(1); // after the CMD subcommand
      try {
        await run(command === 'node' ? process.execPath : (command as string), rest, { env: { ...process.env, ...env }, timeout: 10_000 });
        return 0;
      } catch (error) {
        return (error as { code?: number }).code ?? -1;
      }
    };

    beforeAll(async () => {
      t = await testHub();
      port = new URL(await t.hub.start()).port;
    });
    afterAll(() => t?.hub.stop());

    it("asks the hub's liveness route with node (no curl in slim images)", () => {
      const [sub, command, flagE, script] = healthcheck();
      expect([sub, command, flagE]).toEqual(['CMD', 'node', '-e']);
      expect(script).toContain('/health');
    });

    it('passes against a running hub, on the port CASPIAN_PORT names', async () => {
      expect(await probe({ CASPIAN_PORT: port })).toBe(0);
    });

    it('fails when nothing answers there', async () => {
      expect(await probe({ CASPIAN_PORT: String(await freePort()) })).toBe(1);
    });
  });
});

// --- docker compose -----------------------------------------------------------------------------

interface Service {
  build?: string | { context: string };
  image?: string;
  ports?: string[];
  environment?: string[];
  volumes?: string[];
  networks?: string[];
}
interface ComposeFile {
  services: Record<string, Service>;
  networks?: Record<string, { external?: boolean }>;
  volumes?: Record<string, unknown>;
}

const compose = parseYaml(read('docker-compose.yml')) as ComposeFile;
const kindOverlay = parseYaml(read('docker-compose.kind.yml')) as ComposeFile;
const service = (name: string): Service => compose.services[name] as Service;

/** A short-syntax volume: source (a host path, `${VAR:-default}`, or a named volume), target and mode. */
function volume(spec: string): { source: string; target: string; readOnly: boolean; bind: boolean } {
  const parts = spec.match(/(\$\{[^}]*\}|[^:]+)/g) as string[];
  const [source, target, mode] = parts as [string, string, string | undefined];
  return { source, target, readOnly: mode === 'ro', bind: /^[./$~]/.test(source) };
}
const published = (s: Service): { host: string; port: number; container: number }[] =>
  (s.ports ?? []).map((p) => {
    const [host, port, container] = p.split(':');
    return { host: host as string, port: Number(port), container: Number(container) };
  });
const envOf = (s: Service): Map<string, string | undefined> =>
  new Map((s.environment ?? []).map((e) => (e.includes('=') ? [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] : [e, undefined])));

describe('docker-compose.yml', () => {
  it('runs the hub, Prometheus and Grafana on 8080, 9090 and 3000, published on loopback', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['grafana', 'hub', 'prometheus']);
    expect(published(service('hub'))).toEqual([{ host: '127.0.0.1', port: 8080, container: 8080 }]);
    expect(published(service('prometheus'))).toEqual([{ host: '127.0.0.1', port: 9090, container: 9090 }]);
    expect(published(service('grafana'))).toEqual([{ host: '127.0.0.1', port: 3000, container: 3000 }]);
  });

  it('builds the hub from this Dockerfile and keeps its data directory on a named volume', () => {
    expect(service('hub').build).toBe('.');
    const dataDir = /CASPIAN_DATA_DIR=(\S+)/.exec(of(finalStage, 'ENV').map((i) => i.getArgumentsContent() ?? '').join(' '))?.[1];
    const data = (service('hub').volumes ?? []).map(volume).find((v) => v.target === dataDir);
    expect(data?.bind).toBe(false);
    expect(Object.keys(compose.volumes ?? {})).toContain(data?.source);
  });

  it('mounts only repository paths that exist', () => {
    const binds = Object.values(compose.services).flatMap((s) => (s.volumes ?? []).map(volume)).filter((v) => v.bind && v.source.startsWith('.'));
    expect(binds.length).toBeGreaterThanOrEqual(4);
    for (const { source } of binds) expect(existsSync(join(ROOT, source)), source).toBe(true);
  });

  it('gives the hub a read-only kubeconfig, CASPIAN_KUBECONFIG from the host or an empty file, and passes CASPIAN_SPOKES through', () => {
    const env = envOf(service('hub'));
    const kube = (service('hub').volumes ?? []).map(volume).find((v) => v.target === env.get('CASPIAN_KUBECONFIG'));
    expect(kube).toEqual({ source: '${CASPIAN_KUBECONFIG:-/dev/null}', target: '/etc/caspian/kubeconfig', readOnly: true, bind: true });
    expect(env.get('CASPIAN_SPOKES')).toBe('${CASPIAN_SPOKES:-simulated}');
    // Secrets pass through from the caller's shell, never with a value in the file.
    for (const name of ['CASPIAN_API_TOKEN', 'ELECTRICITYMAPS_API_TOKEN', 'WATTTIME_PASSWORD']) expect(env.has(name) && env.get(name) === undefined, name).toBe(true);
  });

  it('has Prometheus scrape the hub by its service name and port, as prometheus.yml says', () => {
    const prometheus = parseYaml(read('prometheus.yml')) as { scrape_configs: { job_name: string; metrics_path: string; static_configs: { targets: string[] }[] }[] };
    const job = prometheus.scrape_configs.find((c) => c.job_name === 'caspian-hub');
    const hubPort = published(service('hub'))[0]?.container;
    expect(job?.static_configs.flatMap((c) => c.targets)).toEqual([`hub:${hubPort}`]);
    expect(job?.metrics_path).toBe('/metrics');
  });

  it('mounts prometheus.yml where the image reads it, with its rule files beside it', () => {
    const mounts = (service('prometheus').volumes ?? []).map(volume);
    const config = mounts.find((m) => m.source === './prometheus.yml');
    expect(config?.target).toBe('/etc/prometheus/prometheus.yml');
    const { rule_files: ruleFiles = [] } = parseYaml(read('prometheus.yml')) as { rule_files?: string[] };
    expect(ruleFiles.length).toBeGreaterThan(0);
    for (const file of ruleFiles) {
      expect(mounts.find((m) => m.source === `./${file}`)?.target, file).toBe(posix.join(dirname(config?.target as string), file));
    }
  });

  it('gives Grafana its provisioning and the dashboards where the provider reads them, and a datasource that reaches the prometheus service', () => {
    const mounts = (service('grafana').volumes ?? []).map(volume);
    expect(mounts.find((m) => m.source === './grafana/provisioning')?.target).toBe('/etc/grafana/provisioning');
    const provider = parseYaml(read('grafana/provisioning/dashboards/caspian.yml')) as { providers: { options: { path: string } }[] };
    expect(mounts.find((m) => m.source === './dashboards')?.target).toBe(provider.providers[0]?.options.path);
    const datasource = parseYaml(read('grafana/provisioning/datasources/prometheus.yml')) as { datasources: { url: string }[] };
    expect(datasource.datasources[0]?.url).toBe(`http://prometheus:${published(service('prometheus'))[0]?.container}`);
    const env = envOf(service('grafana'));
    expect(env.get('GF_AUTH_ANONYMOUS_ENABLED')).toBe('true');
    expect(env.get('GF_AUTH_ANONYMOUS_ORG_ROLE')).toBe('Viewer');
    const home = env.get('GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH') as string;
    expect(existsSync(join(ROOT, 'dashboards', posix.relative(provider.providers[0]?.options.path as string, home))), home).toBe(true);
  });

  it('docker-compose.kind.yml only puts the hub on the external kind network', () => {
    expect(Object.keys(kindOverlay.services)).toEqual(['hub']);
    expect(kindOverlay.services.hub?.networks).toEqual(['default', 'kind']);
    expect(kindOverlay.networks).toEqual({ kind: { external: true } });
  });

  describe.skipIf(!existsSync(PROMTOOL) && process.env.CI !== 'true')('promtool on the Prometheus container as compose mounts it', () => {
    let etc: string;
    beforeAll(() => {
      if (!existsSync(PROMTOOL)) throw new Error(`${PROMTOOL} is not installed: run scripts/ensure-tool.sh promtool prometheus as root`);
      etc = mkdtempSync(join(tmpdir(), 'caspian-compose-prometheus-'));
      for (const m of (service('prometheus').volumes ?? []).map(volume).filter((v) => v.bind)) {
        const target = join(etc, m.target);
        mkdirSync(dirname(target), { recursive: true });
        if (statSync(join(ROOT, m.source)).isDirectory()) cpSync(join(ROOT, m.source), target, { recursive: true });
        else copyFileSync(join(ROOT, m.source), target);
      }
    });
    afterAll(() => etc && rmSync(etc, { recursive: true, force: true }));

    it('promtool check config passes and finds the rule files', async () => {
      const { stdout } = await run(PROMTOOL, ['check', 'config', join(etc, '/etc/prometheus/prometheus.yml')]);
      expect(stdout).toContain('SUCCESS: 1 rule files found');
      expect(stdout).toMatch(/SUCCESS: .*prometheus\.yml is valid prometheus config file syntax/);
    });
  });
});
