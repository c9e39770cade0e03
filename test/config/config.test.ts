import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_NETWORK_GCO2_PER_GB, ENV_KEYS, horizonSlots, loadConfig, parseConfig, type Config } from '../../src/config/config.js';
import { carbonOptionsSchema } from '../../src/carbon/options.js';

const dir = mkdtempSync(join(tmpdir(), 'caspian-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function configFile(contents: string): string {
  const path = join(dir, `config-${files++}.json`);
  writeFileSync(path, contents);
  return path;
}

function region(name: string, cluster: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, cluster, context: `kind-${cluster}`, zone: name, capacity: { cpu: 4, mem_gb: 16 }, ...extra };
}

/** The ConfigError thrown by `fn`; fails the test if it does not throw one. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const FAST_ONLY = [{ name: 'FAST' as const, share: 1, speed_factor: 1, power_factor: 1, node_selector: {} }];

describe('defaults', () => {
  it('pins every default', () => {
    expect(parseConfig({})).toEqual({
      port: 8080,
      host: '0.0.0.0',
      log_level: 'info',
      regions: [
        { name: 'KR', cluster: 'carbon-kr', context: 'kind-carbon-kr', zone: 'KR', capacity: { cpu: 16, mem_gb: 64, gpu: 2 }, pools: FAST_ONLY },
        { name: 'JP', cluster: 'carbon-jp', context: 'kind-carbon-jp', zone: 'JP-TK', capacity: { cpu: 16, mem_gb: 64, gpu: 2 }, pools: FAST_ONLY },
        { name: 'CN', cluster: 'carbon-cn', context: 'kind-carbon-cn', zone: 'CN', capacity: { cpu: 16, mem_gb: 64, gpu: 2 }, pools: FAST_ONLY },
      ],
      slot_seconds: 300,
      horizon_hours: 24,
      periods: { carbon_seconds: 10, schedule_seconds: 300, dispatch_seconds: 30 },
      energy: { watt_cpu: 30, watt_gpu: 250, watt_mem_gb: 0.392 },
      urgency: { normal_wait_gco2_per_kwh_per_hour: 5 },
      migration: {
        allow: true,
        lambda_plan_dev: 100,
        network_gco2_per_gb: { KR: { JP: 5, CN: 5 }, JP: { KR: 5, CN: 7 }, CN: { KR: 5, JP: 7 } },
      },
      optimizer: { solver: 'auto', time_limit_seconds: 30, gap_tolerance: 0.005, max_options: 3_000_000 },
      // Pinned in test/carbon/factory.test.ts, next to the providers they configure.
      carbon: carbonOptionsSchema.parse({}),
      spokes: { kind: 'simulated', namespace: 'default', backoff_limit: 2, ttl_seconds_after_finished: 86_400, request_timeout_ms: 2500, list_chunk_size: 500, lost_after_seconds: 900 },
      store: { kind: 'sqlite', data_dir: './data', synchronous: 'full', exit_on_failure: true, retention_hours: 168 },
      decisions: { memory_limit: 10_000 },
      jobs: { default_image: 'busybox:1.36', default_command: ['sh', '-c', 'sleep "$CASPIAN_RUNTIME_SECONDS"'] },
    } satisfies Config);
  });

  it('loadConfig with an empty environment gives the defaults', () => {
    expect(loadConfig({})).toEqual(parseConfig({}));
  });

  it('fills the defaults of a section given in part', () => {
    const config = parseConfig({ periods: { schedule_seconds: 600 }, energy: { watt_gpu: 70 }, carbon: { mock: { scenario: 'seed-migration' } } });
    expect(config.periods).toEqual({ carbon_seconds: 10, schedule_seconds: 600, dispatch_seconds: 30 });
    expect(config.energy).toEqual({ watt_cpu: 30, watt_gpu: 70, watt_mem_gb: 0.392 });
    expect(config.carbon.provider).toBe('mock');
    expect(config.carbon.mock).toEqual({ scenario: 'seed-migration', step_seconds: 300 });
  });

  it('defaults a region gpu capacity to 0', () => {
    expect(parseConfig({ regions: [region('EU', 'carbon-eu')] }).regions[0]?.capacity).toEqual({ cpu: 4, mem_gb: 16, gpu: 0 });
  });

  it('keeps only the default network pairs between configured regions', () => {
    const cases: { regions: string[]; want: Record<string, Record<string, number>> }[] = [
      { regions: ['EU', 'US'], want: {} },
      { regions: ['KR', 'JP'], want: { KR: { JP: 5 }, JP: { KR: 5 } } },
      { regions: ['CN', 'EU', 'JP'], want: { JP: { CN: 7 }, CN: { JP: 7 } } },
    ];
    for (const { regions, want } of cases) {
      const config = parseConfig({ regions: regions.map((r) => region(r, `carbon-${r.toLowerCase()}`)) });
      expect(config.migration.network_gco2_per_gb, regions.join(',')).toEqual(want);
    }
  });

  it('does not let a parse mutate the exported default matrix', () => {
    parseConfig({ regions: [region('KR', 'carbon-kr')] });
    expect(DEFAULT_NETWORK_GCO2_PER_GB).toEqual({ KR: { JP: 5, CN: 5 }, JP: { KR: 5, CN: 7 }, CN: { KR: 5, JP: 7 } });
  });

  it('returns a deeply frozen config', () => {
    const config = parseConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.regions)).toBe(true);
    expect(Object.isFrozen(config.regions[0]?.capacity)).toBe(true);
    expect(Object.isFrozen(config.migration.network_gco2_per_gb.KR)).toBe(true);
    expect(Object.isFrozen(config.jobs.default_command)).toBe(true);
  });

  it('horizonSlots is the whole number of slots in the horizon', () => {
    const cases = [
      { horizon_hours: 24, slot_seconds: 300, want: 288 },
      { horizon_hours: 1, slot_seconds: 3600, want: 1 },
      { horizon_hours: 1.5, slot_seconds: 3600, want: 1 },
      { horizon_hours: 0.25, slot_seconds: 60, want: 15 },
    ];
    for (const { want, ...raw } of cases) expect(horizonSlots(parseConfig(raw)), JSON.stringify(raw)).toBe(want);
  });
});

describe('validation', () => {
  const cases: { name: string; raw: Record<string, unknown>; key: string; message?: RegExp }[] = [
    { name: 'port out of range', raw: { port: 70000 }, key: 'port' },
    { name: 'port not a number', raw: { port: '80' }, key: 'port' },
    { name: 'unknown log level', raw: { log_level: 'verbose' }, key: 'log_level' },
    // listen() would fail on these with "getaddrinfo ENOTFOUND http://0.0.0.0", naming neither the key nor the variable.
    { name: 'host written as a URL', raw: { host: 'http://0.0.0.0' }, key: 'host', message: /IP address .* or a host name, without a scheme, port or brackets/ },
    { name: 'host with a port', raw: { host: 'localhost:8080' }, key: 'host' },
    { name: 'IPv6 host in brackets', raw: { host: '[::1]' }, key: 'host' },
    { name: 'unknown top-level key', raw: { prot: 80 }, key: 'prot', message: /prot: unknown key/ },
    { name: 'unknown nested key', raw: { periods: { carbon: 10 } }, key: 'periods.carbon', message: /periods\.carbon: unknown key/ },
    { name: 'two unknown keys', raw: { energy: { watts: 1, cpu: 2 } }, key: 'energy.watts', message: /energy\.cpu: unknown key/ },
    { name: 'slot shorter than a minute', raw: { slot_seconds: 30 }, key: 'slot_seconds' },
    { name: 'slot longer than an hour', raw: { slot_seconds: 7200 }, key: 'slot_seconds' },
    { name: 'horizon shorter than a slot', raw: { slot_seconds: 3600, horizon_hours: 0.5 }, key: 'horizon_hours', message: /at least one slot/ },
    { name: 'horizon over a week', raw: { horizon_hours: 169 }, key: 'horizon_hours' },
    { name: 'no regions', raw: { regions: [] }, key: 'regions' },
    {
      name: 'a provider zone keyed by a region name (JP) instead of its zone (JP-TK)',
      raw: { carbon: { provider: 'carbon-aware-sdk', carbon_aware_sdk: { url: 'http://carbon-aware-sdk:8080', zones: { KR: 'koreacentral', JP: 'japaneast' } } } },
      key: 'carbon.carbon_aware_sdk.zones.JP',
      message: /unknown zone "JP": the keys are regions\[\]\.zone \(KR, JP-TK, CN\)/,
    },
    { name: 'a provider URL without its scheme', raw: { carbon: { provider: 'carbon-aware-sdk', carbon_aware_sdk: { url: 'carbon-aware-sdk:8080' } } }, key: 'carbon.carbon_aware_sdk.url', message: /http\(s\) URL/ },
    { name: 'a migration charge past what the optimizer adds up exactly', raw: { migration: { lambda_plan_dev: 2e15 } }, key: 'migration.lambda_plan_dev', message: /migration\.allow to false/ },
    { name: 'cluster not a DNS label', raw: { regions: [region('KR', 'Carbon_KR')] }, key: 'regions.0.cluster', message: /DNS-1123/ },
    { name: 'bad region name', raw: { regions: [region('K R', 'carbon-kr')] }, key: 'regions.0.name' },
    { name: 'two regions on one context', raw: { regions: [region('KR', 'carbon-kr'), { ...region('JP', 'carbon-jp'), context: 'kind-carbon-kr' }] }, key: 'regions.1.context', message: /one cluster cannot be two regions/ },
    { name: 'region name that is no label value (it labels the Jobs)', raw: { regions: [region('KR_', 'carbon-kr')] }, key: 'regions.0.name', message: /starting and ending with a letter or digit/ },
    { name: 'negative capacity', raw: { regions: [region('KR', 'carbon-kr', { capacity: { cpu: -1, mem_gb: 1 } })] }, key: 'regions.0.capacity.cpu' },
    { name: 'unknown pool', raw: { regions: [region('KR', 'carbon-kr', { pools: [{ name: 'SLOW', share: 1 }] })] }, key: 'regions.0.pools.0.name' },
    {
      name: 'pool repeated',
      raw: { regions: [region('KR', 'carbon-kr', { pools: [{ name: 'FAST', share: 0.5 }, { name: 'FAST', share: 0.5 }] })] },
      key: 'regions.0.pools',
      message: /must not repeat a pool/,
    },
    { name: 'no FAST pool', raw: { regions: [region('KR', 'carbon-kr', { pools: [{ name: 'ECO', share: 1 }] })] }, key: 'regions.0.pools', message: /FAST/ },
    {
      name: 'pool shares over 1',
      raw: { regions: [region('KR', 'carbon-kr', { pools: [{ name: 'FAST', share: 0.6 }, { name: 'ECO', share: 0.6 }] })] },
      key: 'regions.0.pools',
      message: /add up to at most 1/,
    },
    { name: 'pool faster than FAST', raw: { regions: [region('KR', 'carbon-kr', { pools: [{ name: 'FAST', share: 1, speed_factor: 0.5 }] })] }, key: 'regions.0.pools.0.speed_factor' },
    { name: 'pool power above 1', raw: { regions: [region('KR', 'carbon-kr', { pools: [{ name: 'FAST', share: 1, power_factor: 2 }] })] }, key: 'regions.0.pools.0.power_factor' },
    {
      name: 'scale-down factor above 1',
      raw: { regions: [region('KR', 'carbon-kr', { fast_scale_down: { threshold_gco2_per_kwh: 500, capacity_factor: 1.5 } })] },
      key: 'regions.0.fast_scale_down.capacity_factor',
    },
    { name: 'negative normal wait charge', raw: { urgency: { normal_wait_gco2_per_kwh_per_hour: -1 } }, key: 'urgency.normal_wait_gco2_per_kwh_per_hour' },
    // Past these, a plan of jobs at the API's maxima no longer adds up exactly: every schedule cycle would fail.
    { name: 'normal wait charge past its maximum', raw: { urgency: { normal_wait_gco2_per_kwh_per_hour: 1e308 } }, key: 'urgency.normal_wait_gco2_per_kwh_per_hour', message: /at most 1000 gCO2\/kWh per hour/ },
    { name: 'core power past its maximum', raw: { energy: { watt_cpu: 1001 } }, key: 'energy.watt_cpu', message: /at most 1000 W per core/ },
    { name: 'GPU power past its maximum', raw: { energy: { watt_gpu: 1e308 } }, key: 'energy.watt_gpu', message: /at most 10000 W per GPU/ },
    { name: 'memory power past its maximum', raw: { energy: { watt_mem_gb: 101 } }, key: 'energy.watt_mem_gb', message: /at most 100 W per GB/ },
    { name: 'network charge past its maximum', raw: { migration: { network_gco2_per_gb: { KR: { JP: 1e308 } } } }, key: 'migration.network_gco2_per_gb.KR.JP', message: /at most 10000 gCO2 per GB/ },
    {
      name: 'duplicate region',
      raw: { regions: [region('KR', 'carbon-a'), region('KR', 'carbon-b')], migration: { network_gco2_per_gb: {} } },
      key: 'regions.1.name',
      message: /duplicate region "KR"/,
    },
    {
      name: 'duplicate cluster',
      raw: { regions: [region('KR', 'carbon-a'), region('JP', 'carbon-a')], migration: { network_gco2_per_gb: {} } },
      key: 'regions.1.cluster',
      message: /duplicate cluster "carbon-a"/,
    },
    {
      name: 'unknown destination in the network matrix',
      raw: { migration: { network_gco2_per_gb: { KR: { XX: 1 } } } },
      key: 'migration.network_gco2_per_gb.KR',
      message: /unknown region "XX"/,
    },
    {
      name: 'unknown source in the network matrix',
      raw: { migration: { network_gco2_per_gb: { XX: { KR: 1 } } } },
      key: 'migration.network_gco2_per_gb.XX',
      message: /unknown region "XX"/,
    },
    { name: 'negative network cost', raw: { migration: { network_gco2_per_gb: { KR: { JP: -1 } } } }, key: 'migration.network_gco2_per_gb.KR.JP' },
    { name: 'unknown carbon provider', raw: { carbon: { provider: 'co2signal' } }, key: 'carbon.provider' },
    { name: 'electricitymaps without its token', raw: { carbon: { provider: 'electricitymaps' } }, key: 'carbon.electricitymaps.api_token' },
    // Header values are bytes: Node reads them as latin1 and curl sends UTF-8, so no client could present it.
    { name: 'API token that is not visible ASCII', raw: { api_token: 'пароль-пароль-пароль' }, key: 'api_token', message: /visible ASCII/ },
    { name: 'API token with a zero-width space', raw: { api_token: 'abcdefgh\u200bijklmnop' }, key: 'api_token', message: /visible ASCII/ },
    { name: 'unknown mock scenario', raw: { carbon: { mock: { scenario: 'chaos' } } }, key: 'carbon.mock.scenario' },
    { name: 'empty default command', raw: { jobs: { default_command: [] } }, key: 'jobs.default_command' },
    { name: 'solver time limit over an hour', raw: { optimizer: { time_limit_seconds: 3601 } }, key: 'optimizer.time_limit_seconds' },
    // Refused by Kubernetes on every Job (or by the Kubernetes spokes at start-up, as a crash): refused here, by key.
    { name: 'namespace over 63 characters', raw: { spokes: { namespace: 'a'.repeat(64) } }, key: 'spokes.namespace', message: /at most 63/ },
    { name: 'Job TTL beyond an int32', raw: { spokes: { ttl_seconds_after_finished: 2 ** 31 } }, key: 'spokes.ttl_seconds_after_finished' },
    // Deleted before a dispatch cycle read it, a finished Job would be recorded Failed whatever its outcome.
    { name: 'Job TTL of 0', raw: { spokes: { ttl_seconds_after_finished: 0 } }, key: 'spokes.ttl_seconds_after_finished', message: /at least two dispatch periods \(60 s/ },
    {
      name: 'Job TTL under two dispatch periods',
      raw: { periods: { dispatch_seconds: 600 }, spokes: { ttl_seconds_after_finished: 1199 } },
      key: 'spokes.ttl_seconds_after_finished',
      message: /1200 s with periods.dispatch_seconds 600/,
    },
    {
      name: 'node selector value that is no label value',
      raw: { regions: [region('KR', 'carbon-kr', { pools: [{ name: 'FAST', share: 1, node_selector: { 'caspian.io/pool': 'fast pool' } }] })] },
      key: 'regions.0.pools.0.node_selector.caspian.io/pool',
      message: /must be a label value/,
    },
    {
      name: 'node selector key that is no label key',
      raw: { regions: [region('KR', 'carbon-kr', { pools: [{ name: 'FAST', share: 1, node_selector: { 'pool type': 'fast' } }] })] },
      key: 'regions.0.pools.0.node_selector.pool type',
      message: /must be a label key/,
    },
    {
      name: 'node selector key with a bad prefix',
      raw: { regions: [region('KR', 'carbon-kr', { pools: [{ name: 'FAST', share: 1, node_selector: { 'Caspian.IO/pool': 'eco' } }] })] },
      key: 'regions.0.pools.0.node_selector.Caspian.IO/pool',
      message: /must be a label key/,
    },
  ];
  for (const { name, raw, key, message } of cases) {
    it(`rejects ${name}, naming ${key}`, () => {
      const error = configError(() => parseConfig(raw));
      expect(error.message).toMatch(/^invalid configuration \(configuration\):\n/);
      expect(error.message).toContain(`  ${key}: `);
      if (message) expect(error.message).toMatch(message);
    });
  }

  it('lists every issue, one line each', () => {
    const error = configError(() => parseConfig({ port: -1, host: '' }));
    expect(error.message.split('\n').slice(1)).toEqual([expect.stringMatching(/^ {2}port: /), expect.stringMatching(/^ {2}host: /)]);
  });
});

describe('loop periods', () => {
  const valid = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  const invalid = [0, 7, 45, 90, 420, 2400, 3000, 5400, 18000, 172800, 2.5];
  for (const key of ['carbon_seconds', 'schedule_seconds', 'dispatch_seconds']) {
    it(`accepts ${key} that tile a minute, an hour or a day`, () => {
      // A finished Job must outlast two dispatch periods (checked below): a daily dispatch needs a longer TTL than the default day.
      const spokes = { ttl_seconds_after_finished: 2 * 86_400 };
      for (const seconds of valid) expect(parseConfig({ periods: { [key]: seconds }, spokes }).periods[key as keyof Config['periods']], String(seconds)).toBe(seconds);
    });
    it(`rejects ${key} that do not, naming periods.${key}`, () => {
      for (const seconds of invalid) {
        expect(() => parseConfig({ periods: { [key]: seconds } }), String(seconds)).toThrow(`periods.${key}: `);
      }
    });
  }
});

describe('environment', () => {
  /** A value for each variable and what it sets; `with` names the variables it needs beside it to be valid. */
  const samples: Record<keyof typeof ENV_KEYS, { raw: string; want: unknown; with?: Record<string, string> }> = {
    CASPIAN_PORT: { raw: '9090', want: 9090 },
    CASPIAN_HOST: { raw: '127.0.0.1', want: '127.0.0.1' },
    CASPIAN_LOG_LEVEL: { raw: 'debug', want: 'debug' },
    CASPIAN_API_TOKEN: { raw: 'a-long-enough-secret', want: 'a-long-enough-secret' },
    CASPIAN_SLOT_SECONDS: { raw: '600', want: 600 },
    CASPIAN_HORIZON_HOURS: { raw: '1.5', want: 1.5 },
    CASPIAN_NORMAL_WAIT_GCO2_PER_KWH_PER_HOUR: { raw: '12.5', want: 12.5 },
    CASPIAN_CARBON_PERIOD_SECONDS: { raw: '30', want: 30 },
    CASPIAN_SCHEDULE_PERIOD_SECONDS: { raw: '600', want: 600 },
    CASPIAN_DISPATCH_PERIOD_SECONDS: { raw: '15', want: 15 },
    CASPIAN_MIGRATION_ALLOW: { raw: 'false', want: false },
    CASPIAN_LAMBDA_PLAN_DEV: { raw: '12.5', want: 12.5 },
    CASPIAN_SOLVER: { raw: 'highs', want: 'highs' },
    CASPIAN_SOLVER_TIME_LIMIT_SECONDS: { raw: '2.5', want: 2.5 },
    CASPIAN_SOLVER_GAP_TOLERANCE: { raw: '0.001', want: 0.001 },
    CASPIAN_SOLVER_MAX_OPTIONS: { raw: '500000', want: 500_000 },
    CASPIAN_CARBON_PROVIDER: { raw: 'file', want: 'file', with: { CASPIAN_CARBON_FILE: '/data/trace.csv' } },
    CASPIAN_CARBON_FALLBACK: { raw: 'file, watttime', want: ['file', 'watttime'], with: { CASPIAN_CARBON_FILE: '/t.csv', WATTTIME_USERNAME: 'u', WATTTIME_PASSWORD: 'p' } },
    CASPIAN_CARBON_RISK: { raw: 'pessimistic', want: 'pessimistic' },
    CASPIAN_CARBON_CONSTANT: { raw: '450', want: 450 },
    CASPIAN_MOCK_SCENARIO: { raw: 'seed-migration', want: 'seed-migration' },
    ELECTRICITYMAPS_API_TOKEN: { raw: 'em-token', want: 'em-token' },
    ELECTRICITYMAPS_BASE_URL: { raw: 'http://127.0.0.1:9999', want: 'http://127.0.0.1:9999' },
    WATTTIME_USERNAME: { raw: 'user', want: 'user' },
    WATTTIME_PASSWORD: { raw: 'secret', want: 'secret' },
    WATTTIME_BASE_URL: { raw: 'http://127.0.0.1:9998', want: 'http://127.0.0.1:9998' },
    CARBON_AWARE_SDK_URL: { raw: 'http://sdk.local:8080', want: 'http://sdk.local:8080' },
    CASPIAN_CARBON_FILE: { raw: 'a.csv, b.json', want: ['a.csv', 'b.json'] },
    CASPIAN_SPOKES: { raw: 'kubernetes', want: 'kubernetes' },
    KUBECONFIG: { raw: '/home/u/.kube/config', want: '/home/u/.kube/config' },
    CASPIAN_KUBECONFIG: { raw: '/etc/caspian/kubeconfig', want: '/etc/caspian/kubeconfig' },
    CASPIAN_NAMESPACE: { raw: 'batch', want: 'batch' },
    CASPIAN_CLUSTER_LOST_AFTER_SECONDS: { raw: '600', want: 600 },
    CASPIAN_JOB_TTL_SECONDS: { raw: '3600', want: 3600 },
    CASPIAN_JOB_IMAGE: { raw: 'alpine:3.20', want: 'alpine:3.20' },
    CASPIAN_STORE: { raw: 'memory', want: 'memory' },
    CASPIAN_DATA_DIR: { raw: '/var/lib/caspian', want: '/var/lib/caspian' },
    CASPIAN_RETENTION_HOURS: { raw: '24', want: 24 },
    CASPIAN_STORE_SYNCHRONOUS: { raw: 'normal', want: 'normal' },
    CASPIAN_STORE_EXIT_ON_FAILURE: { raw: 'false', want: false },
    CASPIAN_DECISIONS_PATH: { raw: '/var/log/caspian/decisions.csv', want: '/var/log/caspian/decisions.csv' },
  };

  function at(config: Config, path: string): unknown {
    return path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], config);
  }

  for (const [variable, [path]] of Object.entries(ENV_KEYS)) {
    it(`${variable} sets ${path}`, () => {
      const sample = samples[variable as keyof typeof ENV_KEYS];
      expect(at(loadConfig({ ...sample.with, [variable]: sample.raw }), path)).toEqual(sample.want);
    });
  }

  it('takes CASPIAN_KUBECONFIG over KUBECONFIG', () => {
    expect(loadConfig({ KUBECONFIG: '/a', CASPIAN_KUBECONFIG: '/b' }).spokes.kubeconfig).toBe('/b');
  });

  it('accepts 1/0 and true/false for booleans', () => {
    const cases = [
      { raw: 'true', want: true },
      { raw: '1', want: true },
      { raw: 'false', want: false },
      { raw: '0', want: false },
    ];
    for (const { raw, want } of cases) expect(loadConfig({ CASPIAN_MIGRATION_ALLOW: raw }).migration.allow, raw).toBe(want);
  });

  it('reads decimal numbers as written, signs, spaces and exponents of real numbers included', () => {
    expect(loadConfig({ CASPIAN_PORT: ' 8081 ' }).port).toBe(8081);
    expect(loadConfig({ CASPIAN_HORIZON_HOURS: '1.5' }).horizon_hours).toBe(1.5);
    expect(loadConfig({ CASPIAN_LAMBDA_PLAN_DEV: '2.5e2' }).migration.lambda_plan_dev).toBe(250);
    expect(loadConfig({ CASPIAN_LAMBDA_PLAN_DEV: '.5' }).migration.lambda_plan_dev).toBe(0.5);
  });

  it('ignores empty and unrelated variables', () => {
    expect(loadConfig({ CASPIAN_PORT: '', CASPIAN_NOT_A_KEY: '1', PORT: '1' })).toEqual(parseConfig({}));
  });

  const bad: { env: Record<string, string>; key: string; message: RegExp }[] = [
    { env: { CASPIAN_PORT: 'eighty' }, key: 'CASPIAN_PORT', message: /expected an integer, got "eighty"/ },
    { env: { CASPIAN_PORT: '80.5' }, key: 'CASPIAN_PORT', message: /expected an integer/ },
    { env: { CASPIAN_PORT: ' ' }, key: 'CASPIAN_PORT', message: /expected an integer/ },
    { env: { CASPIAN_PORT: '0x1F90' }, key: 'CASPIAN_PORT', message: /expected an integer, got "0x1F90"/ },
    { env: { CASPIAN_PORT: '8e3' }, key: 'CASPIAN_PORT', message: /expected an integer/ },
    { env: { CASPIAN_SOLVER_TIME_LIMIT_SECONDS: '0b11' }, key: 'CASPIAN_SOLVER_TIME_LIMIT_SECONDS', message: /expected a number, got "0b11"/ },
    { env: { CASPIAN_JOB_IMAGE: '  ' }, key: 'jobs.default_image (from CASPIAN_JOB_IMAGE)', message: /visible ASCII/ },
    { env: { CASPIAN_JOB_IMAGE: 'busybox :1.36' }, key: 'jobs.default_image (from CASPIAN_JOB_IMAGE)', message: /visible ASCII/ },
    { env: { CASPIAN_HORIZON_HOURS: 'NaN' }, key: 'CASPIAN_HORIZON_HOURS', message: /expected a number/ },
    { env: { CASPIAN_LAMBDA_PLAN_DEV: 'Infinity' }, key: 'CASPIAN_LAMBDA_PLAN_DEV', message: /expected a number/ },
    { env: { CASPIAN_MIGRATION_ALLOW: 'yes' }, key: 'CASPIAN_MIGRATION_ALLOW', message: /expected true or false, got "yes"/ },
    { env: { CASPIAN_PORT: '70000' }, key: 'port (from CASPIAN_PORT)', message: /./ },
    { env: { CASPIAN_LOG_LEVEL: 'verbose' }, key: 'log_level (from CASPIAN_LOG_LEVEL)', message: /./ },
    { env: { CASPIAN_CARBON_PERIOD_SECONDS: '7' }, key: 'periods.carbon_seconds (from CASPIAN_CARBON_PERIOD_SECONDS)', message: /must divide 60 s/ },
    { env: { CASPIAN_MOCK_SCENARIO: 'chaos' }, key: 'carbon.mock.scenario (from CASPIAN_MOCK_SCENARIO)', message: /./ },
    { env: { CASPIAN_DISPATCH_PERIOD_SECONDS: '86400', CASPIAN_JOB_TTL_SECONDS: '100000' }, key: 'spokes.ttl_seconds_after_finished (from CASPIAN_JOB_TTL_SECONDS)', message: /172800 s/ },
    { env: { CASPIAN_SOLVER: 'cplex' }, key: 'optimizer.solver (from CASPIAN_SOLVER)', message: /unknown solver "cplex"; one of auto, .*hybrid/ },
    // An item of a list: the variable that set the whole list is named.
    { env: { CASPIAN_CARBON_FALLBACK: 'mock,wattime' }, key: 'carbon.fallback.1 (from CASPIAN_CARBON_FALLBACK)', message: /watttime/ },
  ];
  for (const { env, key, message } of bad) {
    it(`rejects ${JSON.stringify(env)}, naming ${key}`, () => {
      const error = configError(() => loadConfig(env));
      expect(error.message).toMatch(/^invalid configuration \(environment\):\n/);
      expect(error.message).toContain(`  ${key}: `);
      expect(error.message).toMatch(message);
    });
  }
});

describe('config file', () => {
  describe('relative paths in the file are relative to its directory, those in variables to the working directory', () => {
    const file = configFile(
      JSON.stringify({
        spokes: { kubeconfig: ['kube/a', '/etc/kube/b'].join(delimiter) },
        store: { data_dir: 'state' },
        decisions: { path: '../logs/decisions.csv' },
        carbon: { file: { path: 'traces/kr.csv, /srv/jp.csv' } },
      }),
    );
    const config = loadConfig({ CASPIAN_CONFIG: file });
    const cases: [string, unknown, unknown][] = [
      ['spokes.kubeconfig', config.spokes.kubeconfig, [join(dir, 'kube/a'), '/etc/kube/b'].join(delimiter)],
      ['store.data_dir', config.store.data_dir, join(dir, 'state')],
      ['decisions.path', config.decisions.path, join(dir, '../logs/decisions.csv')],
      ['carbon.file.path', config.carbon.file.path, [join(dir, 'traces/kr.csv'), '/srv/jp.csv']],
    ];
    for (const [key, got, want] of cases) it(key, () => expect(got).toEqual(want));

    it('carbon.file.path as a list', () => {
      const list = configFile(JSON.stringify({ carbon: { file: { path: ['kr.csv', '/srv/jp.csv'] } } }));
      expect(loadConfig({ CASPIAN_CONFIG: list }).carbon.file.path).toEqual([join(dir, 'kr.csv'), '/srv/jp.csv']);
    });

    it('a variable over the file, and the defaults, stay as given', () => {
      const overridden = loadConfig({ CASPIAN_CONFIG: file, CASPIAN_DATA_DIR: 'here', CASPIAN_CARBON_FILE: 'kr.csv' });
      expect([overridden.store.data_dir, overridden.carbon.file.path]).toEqual(['here', ['kr.csv']]);
      expect(loadConfig({ CASPIAN_CONFIG: configFile('{}') }).store.data_dir).toBe('./data');
    });

    it('a path of the wrong type is named by the schema, not rewritten', () => {
      expect(() => loadConfig({ CASPIAN_CONFIG: configFile(JSON.stringify({ store: { data_dir: 7 } })) })).toThrow(/store\.data_dir: /);
    });
  });

  it('takes an IP address or a host name as host', () => {
    for (const host of ['::', '::1', '127.0.0.1', 'localhost', 'caspian-hub.caspian.svc.cluster.local']) expect(parseConfig({ host }).host).toBe(host);
  });

  it('reads CASPIAN_CONFIG and merges it over the defaults', () => {
    const file = configFile(JSON.stringify({ port: 9000, regions: [region('EU', 'carbon-eu')], migration: { allow: false } }));
    const config = loadConfig({ CASPIAN_CONFIG: file });
    expect(config.port).toBe(9000);
    expect(config.regions.map((r) => r.name)).toEqual(['EU']);
    expect(config.migration).toEqual({ allow: false, lambda_plan_dev: 100, network_gco2_per_gb: {} });
    expect(config.host).toBe('0.0.0.0');
  });

  it('lets environment variables override the file, key by key', () => {
    const file = configFile(JSON.stringify({ port: 9000, periods: { carbon_seconds: 5, schedule_seconds: 600 } }));
    const config = loadConfig({ CASPIAN_CONFIG: file, CASPIAN_PORT: '9100', CASPIAN_SCHEDULE_PERIOD_SECONDS: '900' });
    expect(config.port).toBe(9100);
    expect(config.periods).toEqual({ carbon_seconds: 5, schedule_seconds: 900, dispatch_seconds: 30 });
  });

  it('lets the ambient KUBECONFIG fill a kubeconfig the file does not name, never override it (as kubectl --kubeconfig beats it)', () => {
    const naming = configFile(JSON.stringify({ spokes: { kubeconfig: '/etc/caspian/kubeconfig' } }));
    const silent = configFile(JSON.stringify({ port: 9000 }));
    const cases = [
      { name: 'the file names one, KUBECONFIG set', env: { CASPIAN_CONFIG: naming, KUBECONFIG: '/home/u/.kube/config' }, want: '/etc/caspian/kubeconfig' },
      { name: 'the file names none, KUBECONFIG set', env: { CASPIAN_CONFIG: silent, KUBECONFIG: '/home/u/.kube/config' }, want: '/home/u/.kube/config' },
      { name: 'CASPIAN_KUBECONFIG beats the file', env: { CASPIAN_CONFIG: naming, KUBECONFIG: '/a', CASPIAN_KUBECONFIG: '/b' }, want: '/b' },
      { name: 'no file, KUBECONFIG set', env: { KUBECONFIG: '/home/u/.kube/config' }, want: '/home/u/.kube/config' },
    ];
    for (const c of cases) expect(loadConfig(c.env).spokes.kubeconfig, c.name).toBe(c.want);
  });

  it('reports a file value that is not an object even when a variable sets a key below it', () => {
    const file = configFile(JSON.stringify({ store: 'x' }));
    const error = configError(() => loadConfig({ CASPIAN_CONFIG: file, CASPIAN_DATA_DIR: '/var/lib/caspian' }));
    expect(error.message).toMatch(/\n {2}store: /);
  });

  it('names the file and the key of an invalid value', () => {
    const file = configFile(JSON.stringify({ slot_seconds: 10 }));
    const error = configError(() => loadConfig({ CASPIAN_CONFIG: file }));
    expect(error.message).toMatch(new RegExp(`^invalid configuration \\(file ${file} and environment\\):\\n {2}slot_seconds: `));
  });

  const broken: { name: string; contents?: string; message: RegExp }[] = [
    { name: 'a missing file', message: /^cannot read config file .*missing\.json/ },
    { name: 'invalid JSON', contents: '{ "port": ', message: /is not valid JSON/ },
    { name: 'a JSON array', contents: '[1, 2]', message: /must hold a JSON object/ },
    { name: 'JSON null', contents: 'null', message: /must hold a JSON object/ },
    { name: 'a JSON string', contents: '"port"', message: /must hold a JSON object/ },
  ];
  for (const { name, contents, message } of broken) {
    it(`rejects ${name}, naming the file`, () => {
      const file = contents === undefined ? join(dir, 'missing.json') : configFile(contents);
      const error = configError(() => loadConfig({ CASPIAN_CONFIG: file }));
      expect(error.message).toMatch(message);
      expect(error.message).toContain(file);
    });
  }
});
