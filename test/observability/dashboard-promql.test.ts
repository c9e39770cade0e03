import { execFile, spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { freePort, waitForLine } from '../support/child-process.js';
import { RECORDED_SPEC_METRICS, SPEC_METRICS } from '../support/spec-metrics.js';

/**
 * The Grafana dashboard is only worth its queries: a real hub (from source, in a child process) schedules,
 * dispatches and migrates work, Debian's real Prometheus scrapes it every second, and every PromQL
 * expression of dashboards/carbon-hub-dashboard.json must parse and return data through /api/v1/query.
 * Prometheus runs the repository's prometheus.yml (pointed at that hub, scraping every second), so its
 * recording rules give the SPEC's metric names back, and those are queried too.
 * Outside CI a machine without Prometheus skips this; in CI it is an error (`scripts/ensure-tool.sh promtool prometheus`
 * installs it).
 */

const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'src/cli/main.ts');
const DASHBOARD = join(ROOT, 'dashboards/carbon-hub-dashboard.json');
const PROMETHEUS_CONFIG = join(ROOT, 'prometheus.yml');
const PROMETHEUS_RULES = join(ROOT, 'prometheus-rules.yml');
const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const available = existsSync(PROMETHEUS) && existsSync(PROMTOOL);
const inCi = process.env.CI === 'true';
/** What Grafana puts for `$__rate_interval`; at least four of this test's 1 s scrapes. */
const RATE_INTERVAL = '1m';

const run = promisify(execFile);

/** The parts of the dashboard this test reads; dashboard-schema.test.ts validates the whole of it. */
interface Dashboard {
  panels: { title: string; targets: { refId: string; expr: string }[] }[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const expressions = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr })));

/** The alerting rules of prometheus-rules.yml. */
const alerts = (parseYaml(readFileSync(PROMETHEUS_RULES, 'utf8')) as { groups: { rules: { alert?: string; expr: string }[] }[] }).groups
  .flatMap((g) => g.rules)
  .flatMap((r) => (r.alert ? [{ alert: r.alert, expr: r.expr }] : []));
/** Series Prometheus makes itself, which an alert may name beside the hub's. */
const PROMETHEUS_OWN = new Set(['up']);

/** Metric names an expression refers to: identifiers that are not functions, operators, grouping labels or numbers. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\{[^}]*\}/g, ' ');
  const names = [...stripped.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1] as string);
  return names.filter((n) => !['or', 'and', 'unless', 'bool', 'offset'].includes(n));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every `intervalMs` until it returns a value, at most `attempts` times; then throws `what`. */
async function poll<T>(what: string, probe: () => Promise<T | undefined>, attempts = 120, intervalMs = 250): Promise<T> {
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`gave up waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

describe.skipIf(!available && !inCi)('every PromQL expression of the Grafana dashboard against a real Prometheus and hub', () => {
  let dir: string;
  let hub: ChildProcessWithoutNullStreams | undefined;
  let prometheus: ChildProcess | undefined;
  let prometheusLog = '';
  let hubUrl: string;
  let promUrl: string;

  const api = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const response = await fetch(`${hubUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as Record<string, unknown>;
  };
  const carbonOf = async (cluster: string): Promise<number | undefined> => {
    const { clusters } = (await api('GET', '/hub/clusters')) as { clusters: { name: string; carbon: { gco2_per_kwh: number } | null }[] };
    return clusters.find((c) => c.name === cluster)?.carbon?.gco2_per_kwh;
  };
  const query = async (expr: string): Promise<{ status: string; error?: string; data?: { resultType: string; result: unknown[] } }> => {
    const response = await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`);
    return (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown[] } };
  };
  const lastScrape = async (): Promise<{ health: string; lastScrape: number; lastError: string }> => {
    const body = (await (await fetch(`${promUrl}/api/v1/targets`)).json()) as {
      data: { activeTargets: { labels: { job: string }; health: string; lastScrape: string; lastError: string }[] };
    };
    const target = body.data.activeTargets.find((t) => t.labels.job === 'caspian-hub');
    if (!target) throw new Error('no caspian-hub target yet');
    return { health: target.health, lastScrape: Date.parse(target.lastScrape), lastError: target.lastError };
  };
  /** Resolves once Prometheus has started `count` scrapes after `sinceMs`. */
  const scrapesAfter = async (sinceMs: number, count: number): Promise<void> => {
    let seen = sinceMs;
    for (let i = 0; i < count; i++) {
      const previous = seen;
      seen = await poll(`a scrape after ${new Date(previous).toISOString()}`, async () => {
        const t = await lastScrape();
        return t.health === 'up' && t.lastScrape > previous ? t.lastScrape : undefined;
      });
    }
  };

  beforeAll(async () => {
    if (!available) {
      throw new Error(`${PROMETHEUS} or ${PROMTOOL} is not installed: CI=true needs them for this test; run scripts/ensure-tool.sh promtool prometheus as root`);
    }
    dir = mkdtempSync(join(tmpdir(), 'caspian-prometheus-'));

    // The hub: the seed's carbon scenario, flipping every 20 s so that a migration happens within the test;
    // FAST and ECO pools everywhere, KR's FAST scaled down at T2 (700 gCO2/kWh).
    const hubConfig = join(dir, 'hub.json');
    const pools = [{ name: 'FAST', share: 0.5 }, { name: 'ECO', share: 0.5, speed_factor: 1.5, power_factor: 0.6 }];
    const region = (name: string, zone: string) => ({ name, cluster: `carbon-${name.toLowerCase()}`, context: `kind-carbon-${name.toLowerCase()}`, zone, capacity: { cpu: 16, mem_gb: 64, gpu: 2 }, pools });
    const regions = [{ ...region('KR', 'KR'), fast_scale_down: { threshold_gco2_per_kwh: 500, capacity_factor: 0.5 } }, region('JP', 'JP-TK'), region('CN', 'CN')];
    writeFileSync(hubConfig, JSON.stringify({ regions, carbon: { mock: { scenario: 'seed-migration', step_seconds: 20 } } }));
    hub = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve'], {
      env: {
        ...process.env,
        CASPIAN_CONFIG: hubConfig,
        CASPIAN_PORT: '0',
        CASPIAN_HOST: '127.0.0.1',
        CASPIAN_STORE: 'sqlite',
        CASPIAN_DATA_DIR: join(dir, 'data'),
        CASPIAN_MOCK_SCENARIO: 'seed-migration',
        CASPIAN_CARBON_PERIOD_SECONDS: '10',
        CASPIAN_DISPATCH_PERIOD_SECONDS: '10',
        CASPIAN_LOG_LEVEL: 'info',
      },
    });
    hub.stderr.on('data', () => undefined);
    const listening = await waitForLine(hub, (l) => l.msg === 'CASPIAN hub listening');
    hubUrl = listening.address as string;
    const hubTarget = new URL(hubUrl).host;

    // Prometheus: the repository's configuration (its job, its rule files), scraping that hub every second
    // into a throw-away TSDB.
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    const promConfig = join(dir, 'prometheus.yml');
    const config = parseYaml(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as {
      global: Record<string, unknown>;
      rule_files?: string[];
      scrape_configs: { job_name: string; scrape_interval?: string; scrape_timeout?: string; static_configs: { targets: string[] }[] }[];
    };
    Object.assign(config.global, { scrape_interval: '1s', evaluation_interval: '1s' });
    config.rule_files = (config.rule_files ?? []).map((file) => join(ROOT, file));
    const job = config.scrape_configs.find((c) => c.job_name === 'caspian-hub');
    if (!job) throw new Error(`${PROMETHEUS_CONFIG} has no caspian-hub scrape job`);
    Object.assign(job, { scrape_interval: '1s', scrape_timeout: '1s', static_configs: [{ targets: [hubTarget] }] });
    writeFileSync(promConfig, stringifyYaml(config));
    prometheus = spawn(PROMETHEUS, [
      `--config.file=${promConfig}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ]);
    prometheus.stdout?.on('data', (d: Buffer) => (prometheusLog += d.toString()));
    prometheus.stderr?.on('data', (d: Buffer) => (prometheusLog += d.toString()));
    try {
      await poll('the caspian-hub target to be up', async () => ((await lastScrape()).health === 'up' ? true : undefined));
    } catch (error) {
      throw new Error(`${String(error)}\nprometheus log:\n${prometheusLog.slice(-2000)}`);
    }
    // A scrape of the idle hub, so that every counter's rate has a "before".
    await scrapesAfter(Date.now(), 1);

    // Work in T1 (KR cleanest): the big job goes to KR, small ones wherever they fit.
    await poll('carbon step T1 (KR 400 gCO2/kWh)', async () => ((await carbonOf('carbon-kr')) === 400 ? true : undefined), 160);
    await api('POST', '/hub/appwrappers', { job_id: 'dash-migrating', cpu: 8, mem_gb: 4, data_gb: 10, runtime_minutes: 240, deadline_minutes: 600 });
    for (const id of ['dash-a', 'dash-b']) {
      await api('POST', '/hub/appwrappers', { job_id: id, cpu: 1, mem_gb: 1, runtime_minutes: 30, deadline_minutes: 600 });
    }
    await api('POST', '/hub/schedule');
    await api('POST', '/hub/dispatch');
    await api('POST', '/hub/dispatch');
    await scrapesAfter(Date.now(), 1);

    // T2 (KR 700, JP 300): the big job migrates KR -> JP, and the dispatcher moves it.
    await poll('carbon step T2 (KR 700 gCO2/kWh)', async () => ((await carbonOf('carbon-kr')) === 700 ? true : undefined), 160);
    const second = (await api('POST', '/hub/schedule')) as { migrations: unknown[] };
    if (second.migrations.length === 0) throw new Error(`no migration at T2: ${JSON.stringify(second)}`);
    await api('POST', '/hub/dispatch');
    await api('POST', '/hub/appwrappers', { job_id: 'dash-c', cpu: 1, mem_gb: 1, runtime_minutes: 30, deadline_minutes: 600, urgency: 'urgent' });
    await api('POST', '/hub/schedule');
    await api('POST', '/hub/dispatch');
    // A running job cancelled: it finishes with its carbon account. A dry run and a what-if plan without applying.
    const cancelled = await fetch(`${hubUrl}/hub/appwrappers/dash-a`, { method: 'DELETE' });
    if (cancelled.status !== 200) throw new Error(`cancel dash-a: ${cancelled.status} ${await cancelled.text()}`);
    await api('POST', '/hub/schedule?dry_run=true');
    await api('POST', '/hub/whatif', { cpu: 1, mem_gb: 1, runtime_minutes: 30, deadline_minutes: 600, urgency: 'flexible' });

    // Two scrapes after the last activity: every counter has moved between two samples in the rate window.
    await scrapesAfter(Date.now(), 2);
  }, 180_000);

  afterAll(async () => {
    await stop(prometheus);
    await stop(hub);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('names only metrics the hub exports', async () => {
    const exposition = await (await fetch(`${hubUrl}/metrics`)).text();
    const exported = new Set([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
      type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name as string],
    ));
    const unknown = expressions.flatMap(({ panel, expr }) => metricNames(expr).filter((n) => !exported.has(n)).map((n) => `${panel}: ${n}`));
    expect(unknown).toEqual([]);
    expect(expressions.flatMap(({ expr }) => metricNames(expr)).length).toBeGreaterThanOrEqual(expressions.length);
  });

  it.each(expressions)('$panel ($refId) returns data: $expr', async ({ expr }) => {
    const promql = expr.replaceAll('$__rate_interval', RATE_INTERVAL);
    const answer = await poll(`data for ${promql}`, async () => {
      const body = await query(promql);
      if (body.status !== 'success') return body; // a parse error will not go away: report it at once
      return body.data && body.data.result.length > 0 ? body : undefined;
    }, 20, 250);
    expect(answer.error, promql).toBeUndefined();
    expect(answer.status, promql).toBe('success');
    expect(answer.data?.result.length, promql).toBeGreaterThan(0);
  });

  it.each(expressions.filter(({ expr }) => /\bby\s*\(/.test(expr)))('$panel ($refId): every series carries the labels it is grouped by', async ({ expr }) => {
    const grouped = [...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) => (m[1] as string).split(',').map((l) => l.trim())).filter((l) => l !== 'le');
    const body = await query(expr.replaceAll('$__rate_interval', RATE_INTERVAL));
    const series = (body.data?.result ?? []) as { metric: Record<string, string> }[];
    expect(series.length, expr).toBeGreaterThan(0);
    // A histogram quantile keeps only the labels besides `le`; a label-less series is a stray fallback.
    const stray = series.filter((s) => grouped.some((l) => !(l in s.metric)));
    expect(stray, expr).toEqual([]);
  });

  it('promtool check config passes on the repository prometheus.yml', async () => {
    const { stdout } = await run(PROMTOOL, ['check', 'config', join(ROOT, 'prometheus.yml')]);
    expect(stdout).toContain('SUCCESS');
  });

  it('promtool check rules passes on the recording rules prometheus.yml loads', async () => {
    expect((parseYaml(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as { rule_files: string[] }).rule_files).toEqual(['prometheus-rules.yml']);
    const { stdout } = await run(PROMTOOL, ['check', 'rules', PROMETHEUS_RULES]);
    expect(stdout).toContain(`SUCCESS: ${2 + alerts.length} rules found`);
  });

  it('the alerting rules name only metrics the hub exports (or up), and Prometheus evaluates each without error on the live hub, none firing', async () => {
    const exposition = await (await fetch(`${hubUrl}/metrics`)).text();
    const exported = new Set([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
      type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name as string],
    ));
    const unknown = alerts.flatMap(({ alert, expr }) => metricNames(expr).filter((n) => !exported.has(n) && !PROMETHEUS_OWN.has(n)).map((n) => `${alert}: ${n}`));
    expect(unknown).toEqual([]);
    type Rule = { type: string; name: string; health: string; lastError?: string; state?: string };
    const rules = await poll('every alerting rule evaluated', async () => {
      const body = (await (await fetch(`${promUrl}/api/v1/rules?type=alert`)).json()) as { data: { groups: { rules: Rule[] }[] } };
      const all = body.data.groups.flatMap((g) => g.rules);
      return all.length === alerts.length && all.every((r) => r.health !== 'unknown') ? all : undefined;
    });
    expect(rules.map((r) => [r.name, r.health, r.lastError ?? ''])).toEqual(alerts.map((a) => [a.alert, 'ok', '']));
    // The hub of this test is healthy: its clusters answer, its cycles succeed, its disk is fast.
    expect(rules.filter((r) => r.state !== 'inactive').map((r) => r.name)).toEqual([]);
  });

  it('promtool test rules: the recording rules turn the exposed counters into the SPEC names and units, and each alert fires when it should', async () => {
    const { stdout } = await run(PROMTOOL, ['test', 'rules', join(import.meta.dirname, 'prometheus-rules.test.yml')]);
    expect(stdout).toContain('SUCCESS');
  });

  it.each(SPEC_METRICS)('the SPEC metric %s is queryable in Prometheus', async (name) => {
    const answer = await poll(`data for ${name}`, async () => {
      const body = await query(name);
      return body.status === 'success' && body.data && body.data.result.length > 0 ? body : undefined;
    }, 20, 250);
    expect(answer.data?.result.length).toBeGreaterThan(0);
  });

  it('the recorded SPEC migration counters equal the exposed ones, in GB and gCO2, by route', async () => {
    type Sample = { metric: Record<string, string>; value: [number, string] };
    const samples = async (expr: string): Promise<Sample[]> => ((await query(expr)).data?.result ?? []) as Sample[];
    const route = (m: Record<string, string>) => `${m.from_cluster} -> ${m.to_cluster}`;
    /** What differs between the recorded and the exposed series of one SPEC name (empty when they agree). */
    const differences = async (specName: string, exposedAs: string, exposedPerSpecUnit: number): Promise<string[]> => {
      const recorded = new Map((await samples(specName)).map((r) => [route(r.metric), Number(r.value[1])]));
      const exposed = new Map((await samples(exposedAs)).map((e) => [route(e.metric), Number(e.value[1]) / exposedPerSpecUnit]));
      if (recorded.size === 0) return [`no ${specName} series`];
      const routes = new Set([...recorded.keys(), ...exposed.keys()]);
      return [...routes].filter((r) => Math.abs((recorded.get(r) ?? NaN) - (exposed.get(r) ?? NaN)) > 1e-6).map((r) => `${specName} ${r}: ${recorded.get(r)} vs ${exposed.get(r)}`);
    };
    // The test's big job moved 10 GB from KR to JP. A recording lags its input by up to one evaluation (1 s), hence the polls.
    await poll('10 GB recorded for carbon-kr -> carbon-jp', async () => {
      const gb = (await samples('migration_data_transferred_gb{from_cluster="carbon-kr",to_cluster="carbon-jp"}'))[0];
      return gb && Number(gb.value[1]) >= 10 ? true : undefined;
    }, 20, 250);
    for (const [specName, { exposedAs, exposedPerSpecUnit }] of Object.entries(RECORDED_SPEC_METRICS)) {
      let last: string[] = [];
      const agreed = await poll(`${specName} to agree with ${exposedAs}`, async () => {
        last = await differences(specName, exposedAs, exposedPerSpecUnit);
        return last.length === 0 ? true : undefined;
      }, 20, 250).catch(() => false);
      expect(agreed ? [] : last).toEqual([]);
    }
  });

  it('promtool check metrics passes on /metrics with no finding at all', async () => {
    const exposition = await (await fetch(`${hubUrl}/metrics`)).text();
    const child = spawn(PROMTOOL, ['check', 'metrics']);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.stdin.end(exposition);
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(out.trim()).toBe('');
    expect(code).toBe(0);
  });
});
