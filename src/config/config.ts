import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { delimiter, dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { carbonOptionsSchema } from '../carbon/options.js';
import { POOLS } from '../domain/app-wrapper.js';
import { deepFreeze } from '../domain/frozen.js';
import { DNS_1123_LABEL, IMAGE_REFERENCE, INT32_MAX, isLabelKey, isLabelValue, VISIBLE_ASCII } from '../domain/kubernetes-names.js';
import { withoutBom } from '../domain/bom.js';
import { solverNames } from '../optimizer/solvers/registry.js';

/**
 * The hub's configuration: exported defaults, overlaid by a JSON file (`CASPIAN_CONFIG`), overlaid by
 * `CASPIAN_*` environment variables. This module is the only reader of `process.env`.
 */

const nonNegative = z.number().finite().nonnegative();

/** A host name of DNS labels (letters, digits, "-"), dot-separated, at most 253 characters. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** What the server can listen on: an IP address or a host name; a URL or `host:port` fails only at listen, naming neither. */
const listenHost = z.string().refine((host) => isIP(host) !== 0 || HOST_NAME.test(host), 'must be an IP address (0.0.0.0, ::, 127.0.0.1) or a host name, without a scheme, port or brackets');
/** 1,000 t of CO2 a move: far past any real charge, and far below the sums the optimizer must add up exactly (2^50 g). */
const MAX_LAMBDA_PLAN_DEV = 1e9;
/**
 * Upper bounds of the cost settings, each far past any real value (a core draws 10-50 W, a GPU 70-700 W, a GB of
 * memory 0.4 W; a GB crosses a network for a few grams), so that a job at the API's maxima (1024 cores, 64 GPUs,
 * 16 TB, a week, 10^6 GB) on the dirtiest grid the carbon data admits costs at most about 2e11 g a placement: a
 * plan of thousands of such jobs still adds up exactly (below 2^50 g). Without them a value such as 1e308 passed,
 * and every schedule cycle then failed on an input the optimizer cannot price.
 */
const MAX_WATT_CPU = 1000;
const MAX_WATT_GPU = 10_000;
const MAX_WATT_MEM_GB = 100;
const MAX_NORMAL_WAIT_GCO2_PER_KWH_PER_HOUR = 1000;
const MAX_NETWORK_GCO2_PER_GB = 10_000;
const atMost = (max: number, unit: string) => nonNegative.max(max, `must be at most ${max} ${unit}`);
const positiveInt = z.number().int().positive();
const name = z.string().regex(DNS_1123_LABEL, 'must be a DNS-1123 label (at most 63 lowercase letters, digits, "-")');

const resourcesSchema = z.strictObject({
  cpu: nonNegative,
  mem_gb: nonNegative,
  gpu: nonNegative.default(0),
});

/**
 * A worker pool of a cluster. Its capacity is `share` of the cluster's free capacity; a job on it runs
 * `speed_factor` times as long and draws `power_factor` times the power. `node_selector` is put on the
 * Job's pod so that Kubernetes runs it on the pool's nodes (empty: any node).
 */
const poolSchema = z.strictObject({
  name: z.enum(POOLS),
  share: z.number().finite().gt(0).max(1),
  speed_factor: z.number().finite().min(1).max(10).default(1),
  power_factor: z.number().finite().gt(0).max(1).default(1),
  node_selector: z
    .record(z.string(), z.string())
    // Per entry, so that the message names the key (zod's own record key errors do not say why).
    .superRefine((selector, ctx) => {
      for (const [key, value] of Object.entries(selector)) {
        if (!isLabelKey(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'must be a label key: [prefix/]name, the name at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit' });
        else if (!isLabelValue(value)) ctx.addIssue({ code: 'custom', path: [key], message: 'must be a label value: empty, or at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit' });
      }
    })
    .default({}),
});

/** The pools of a cluster whose configuration names none: all of it, FAST, on any node. */
function defaultPools(): z.infer<typeof poolSchema>[] {
  return [{ name: 'FAST', share: 1, speed_factor: 1, power_factor: 1, node_selector: {} }];
}

/**
 * When the grid of a region is dirtier than `threshold_gco2_per_kwh` in a slot, its FAST pool offers only
 * `capacity_factor` of its capacity in that slot (the orchestrator's "scale fast workers down" case).
 */
const fastScaleDownSchema = z.strictObject({
  threshold_gco2_per_kwh: z.number().finite().positive(),
  capacity_factor: z.number().finite().min(0).max(1),
});

const regionSchema = z.strictObject({
  /** Grid region name, e.g. `KR`. */
  // It is the value of the Jobs' `caspian.io/region` label, which must start and end with a letter or digit.
  name: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9_-]{0,30}[A-Za-z0-9])?$/, 'must be 1-32 letters, digits, "_" or "-", starting and ending with a letter or digit'),
  /** Spoke cluster of the region. */
  cluster: name,
  /** kubeconfig context of the cluster. */
  context: z.string().min(1),
  /** Carbon-data zone id. */
  zone: z.string().min(1),
  /** Allocatable resources of the simulated spoke (a Kubernetes spoke reports its own). */
  capacity: resourcesSchema,
  pools: z
    .array(poolSchema)
    .min(1)
    .max(POOLS.length)
    .default(defaultPools)
    .refine((pools) => new Set(pools.map((p) => p.name)).size === pools.length, 'must not repeat a pool')
    .refine((pools) => pools.some((p) => p.name === 'FAST'), 'must include a FAST pool (urgent jobs run there)')
    .refine((pools) => pools.reduce((sum, p) => sum + p.share, 0) <= 1 + 1e-9, 'shares must add up to at most 1'),
  fast_scale_down: fastScaleDownSchema.optional(),
});

/**
 * Loop periods must tile a minute, an hour or a day so that ticks fall on wall-clock boundaries (the
 * schedule cycle then starts at slot boundaries); node-cron expresses them that way.
 */
const periodSeconds = positiveInt.refine(
  (s) => (s < 60 && 60 % s === 0) || (s % 60 === 0 && s < 3600 && 3600 % s === 0) || (s % 3600 === 0 && 86400 % s === 0),
  'must divide 60 s, or be whole minutes dividing an hour, or whole hours dividing a day',
);

/** Network charge between the default regions: about 0.01 kWh per GB carried at ~500 gCO2/kWh. */
export const DEFAULT_NETWORK_GCO2_PER_GB: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  KR: { JP: 5, CN: 5 },
  JP: { KR: 5, CN: 7 },
  CN: { KR: 5, JP: 7 },
};

/** The default matrix restricted to configured regions, so that custom regions do not trip over KR/JP/CN. */
function defaultNetworkFor(regions: ReadonlySet<string>): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [from, row] of Object.entries(DEFAULT_NETWORK_GCO2_PER_GB)) {
    if (!regions.has(from)) continue;
    const kept = Object.entries(row).filter(([to]) => regions.has(to));
    if (kept.length) out[from] = Object.fromEntries(kept);
  }
  return out;
}

export const configSchema = z
  .strictObject({
    port: z.number().int().min(0).max(65535).default(8080),
    host: listenHost.default('0.0.0.0'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Bearer token required by mutating API calls; unset = open (start-up warns). */
    // Visible ASCII only: header values are bytes (Node reads them as latin1, curl sends UTF-8), so any other
    // character would make the configured token one no client can present.
    api_token: z.string().min(16, 'must be at least 16 characters').regex(VISIBLE_ASCII, 'must be visible ASCII characters, no white space').optional(),
    regions: z
      .array(regionSchema)
      .min(1)
      .default(() => [
        { name: 'KR', cluster: 'carbon-kr', context: 'kind-carbon-kr', zone: 'KR', capacity: { cpu: 16, mem_gb: 64, gpu: 2 }, pools: defaultPools() },
        { name: 'JP', cluster: 'carbon-jp', context: 'kind-carbon-jp', zone: 'JP-TK', capacity: { cpu: 16, mem_gb: 64, gpu: 2 }, pools: defaultPools() },
        { name: 'CN', cluster: 'carbon-cn', context: 'kind-carbon-cn', zone: 'CN', capacity: { cpu: 16, mem_gb: 64, gpu: 2 }, pools: defaultPools() },
      ]),
    /** Length of one planning slot. */
    slot_seconds: positiveInt.min(60).max(3600).default(300),
    /** How far ahead the optimizer plans. */
    horizon_hours: z.number().positive().max(168).default(24),
    periods: z
      .strictObject({
        carbon_seconds: periodSeconds.default(10),
        schedule_seconds: periodSeconds.default(300),
        dispatch_seconds: periodSeconds.default(30),
      })
      .prefault({}),
    /** Power model: watts per CPU core, per GPU and per GB of memory. */
    energy: z
      .strictObject({
        watt_cpu: atMost(MAX_WATT_CPU, 'W per core').default(30),
        // A data-centre GPU under batch load (between a T4's 70 W and an A100's 400 W).
        watt_gpu: atMost(MAX_WATT_GPU, 'W per GPU').default(250),
        // Cloud Carbon Footprint's coefficient for memory: 0.392 W per GB.
        watt_mem_gb: atMost(MAX_WATT_MEM_GB, 'W per GB').default(0.392),
      })
      .prefault({}),
    urgency: z
      .strictObject({
        /**
         * What an hour of waiting costs a `normal` job, in gCO2/kWh of its energy: it waits an hour only to
         * run on a grid at least this much cleaner. `flexible` jobs wait for free; `urgent` ones never wait
         * for carbon.
         */
        normal_wait_gco2_per_kwh_per_hour: atMost(MAX_NORMAL_WAIT_GCO2_PER_KWH_PER_HOUR, 'gCO2/kWh per hour').default(5),
      })
      .prefault({}),
    migration: z
      .strictObject({
        allow: z.boolean().default(true),
        /**
         * Fixed gCO2 charged for moving a job away from its previous plan. Bounded so that the optimizer can still
         * add up every job's costs exactly; "never move" is `allow: false`.
         */
        lambda_plan_dev: nonNegative.max(MAX_LAMBDA_PLAN_DEV, `must be at most ${MAX_LAMBDA_PLAN_DEV} gCO2; to never move a job, set migration.allow to false`).default(100),
        /**
         * gCO2 per GB moved, by `from` region then `to` region; missing pairs cost 0. Default: the pairs of
         * `DEFAULT_NETWORK_GCO2_PER_GB` between configured regions.
         */
        network_gco2_per_gb: z.record(z.string(), z.record(z.string(), atMost(MAX_NETWORK_GCO2_PER_GB, 'gCO2 per GB'))).optional(),
      })
      .prefault({}),
    optimizer: z
      .strictObject({
        /** `auto` or a solver name (see `caspian optimize --help`). */
        solver: z
          .string()
          .default('auto')
          .refine((name) => name === 'auto' || solverNames().includes(name), { error: (issue) => `unknown solver "${String(issue.input)}"; one of auto, ${solverNames().join(', ')}` }),
        time_limit_seconds: z.number().positive().max(3600).default(30),
        /** Relative gap to the proven bound at which a solve may stop: planning need not prove the last 0.01%. */
        gap_tolerance: z.number().min(0).max(0.5).default(0.005),
        /**
         * Most candidate starts (job x start x pool) one schedule cycle plans: past it, jobs not yet planned wait
         * for a later cycle, the latest start (deadline less run) first. Measured on 2 cores (bench family cap-15000x288:
         * 15,000 jobs of 200 starts on average; a 30-minute job due in a day has 849 on three regions): all placed within
         * 1.02% of the bound in 30 s and 228 MB.
         */
        max_options: z.number().int().min(1000).max(100_000_000).default(3_000_000),
      })
      .prefault({}),
    /** Carbon-data provider, fallbacks, credentials and risk: the schema lives with the providers. */
    carbon: carbonOptionsSchema.prefault({}),
    spokes: z
      .strictObject({
        /** `simulated`: in-process clusters (the default); `kubernetes`: real clusters from kubeconfig contexts. */
        kind: z.enum(['simulated', 'kubernetes']).default('simulated'),
        /** Kubeconfig file for `kubernetes` (default: kubectl's own lookup, `~/.kube/config`). */
        kubeconfig: z.string().min(1).optional(),
        namespace: name.default('default'),
        /** Retries of a failed pod before Kubernetes marks the Job Failed. */
        backoff_limit: z.number().int().min(0).max(100).default(2),
        /**
         * How long a finished Job stays on its cluster. The hub must read its outcome before it goes (else the
         * job is Failed as disappeared), so this outlasts a long hub or network outage; a finished Job holds
         * no resources.
         */
        ttl_seconds_after_finished: z.number().int().min(0).max(INT32_MAX).default(86_400),
        /** Per request to a cluster's API (a call retries transient failures up to three times). */
        request_timeout_ms: z.number().int().positive().max(60_000).default(2500),
        /** Items per request when listing a cluster's nodes, pods and Jobs (the API server answers in chunks). */
        list_chunk_size: z.number().int().min(1).max(10_000).default(500),
        /**
         * A cluster that has not answered for this long is lost: its Dispatched and Running jobs go back to
         * Pending and run again, from the start, where the next plan puts them (Kueue's MultiKueue waits 15
         * minutes for a lost worker cluster, too). 0: never; they wait for their cluster.
         */
        lost_after_seconds: z.number().int().min(0).default(900),
      })
      .prefault({}),
    store: z
      .strictObject({
        /** `sqlite`: durable, in `data_dir` (the default); `memory`: lost on restart (tests, demos). */
        kind: z.enum(['memory', 'sqlite']).default('sqlite'),
        /** Directory of the SQLite file `caspian.db`, created if absent. */
        data_dir: z.string().min(1).default('./data'),
        /**
         * `full`: every acknowledged write is fsynced (survives power loss); `normal`: it survives the hub
         * being killed, not the machine losing power, and a submission skips the disk's flush latency.
         */
        synchronous: z.enum(['full', 'normal']).default('full'),
        /**
         * After a failed commit the store refuses every change until the hub restarts and reloads the file.
         * `true`: `caspian serve` then stops and exits 1, so that any supervisor (Docker's restart policy,
         * systemd, Kubernetes) restarts it; `false`: it stays up, answers 503 to what needs the store and
         * fails `GET /health` (a liveness probe restarts it).
         */
        exit_on_failure: z.boolean().default(true),
        /** How long a finished (Succeeded, Failed, Cancelled) AppWrapper is kept; 0 keeps it forever. */
        retention_hours: z.number().min(0).max(24 * 365).default(168),
      })
      .prefault({}),
    /** The schedule decision log (README: Decision log). */
    decisions: z
      .strictObject({
        /** CSV file the decisions are appended to. Default: `decisions.csv` in `store.data_dir` with the sqlite store, no file with the memory store. */
        path: z.string().min(1).optional(),
        /** How many of the latest decisions `GET /hub/decisions` can serve (kept in memory). */
        memory_limit: z.number().int().min(1).max(1_000_000).default(10_000),
      })
      .prefault({}),
    jobs: z
      .strictObject({
        default_image: z.string().min(1).max(IMAGE_REFERENCE.maxLength).regex(IMAGE_REFERENCE.pattern, IMAGE_REFERENCE.message).default('busybox:1.36'),
        /** Command run when a submission names none: sleeps for the job's runtime. */
        default_command: z.array(z.string()).min(1).default(() => ['sh', '-c', 'sleep "$CASPIAN_RUNTIME_SECONDS"']),
      })
      .prefault({}),
  })
  .superRefine((cfg, ctx) => {
    const regionNames = new Set<string>();
    const clusterNames = new Set<string>();
    const contexts = new Set<string>();
    cfg.regions.forEach((r, i) => {
      if (regionNames.has(r.name)) ctx.addIssue({ code: 'custom', path: ['regions', i, 'name'], message: `duplicate region "${r.name}"` });
      if (clusterNames.has(r.cluster)) ctx.addIssue({ code: 'custom', path: ['regions', i, 'cluster'], message: `duplicate cluster "${r.cluster}"` });
      // Each spoke takes every CASPIAN Job in its namespace for its own: two on one cluster would delete each other's.
      if (contexts.has(r.context)) ctx.addIssue({ code: 'custom', path: ['regions', i, 'context'], message: `duplicate context "${r.context}": one cluster cannot be two regions` });
      regionNames.add(r.name);
      clusterNames.add(r.cluster);
      contexts.add(r.context);
    });
    for (const [from, row] of Object.entries(cfg.migration.network_gco2_per_gb ?? {})) {
      for (const to of [from, ...Object.keys(row)]) {
        if (!regionNames.has(to)) {
          ctx.addIssue({ code: 'custom', path: ['migration', 'network_gco2_per_gb', from], message: `unknown region "${to}"` });
        }
      }
    }
    // A provider's zone ids are keyed by the hub's zones (regions[].zone): any other key is never looked up.
    const zones = new Set(cfg.regions.map((r) => r.zone));
    for (const provider of ['electricitymaps', 'watttime', 'carbon_aware_sdk', 'file'] as const) {
      for (const zone of Object.keys(cfg.carbon[provider].zones)) {
        if (!zones.has(zone)) {
          ctx.addIssue({ code: 'custom', path: ['carbon', provider, 'zones', zone], message: `unknown zone "${zone}": the keys are regions[].zone (${[...zones].join(', ')})` });
        }
      }
    }
    if (cfg.horizon_hours * 3600 < cfg.slot_seconds) {
      ctx.addIssue({ code: 'custom', path: ['horizon_hours'], message: 'must cover at least one slot' });
    }
    // The dispatch cycle reads a finished Job's outcome; a Job deleted before any cycle saw it is recorded Failed.
    const ttlFloor = 2 * cfg.periods.dispatch_seconds;
    if (cfg.spokes.ttl_seconds_after_finished < ttlFloor) {
      ctx.addIssue({
        code: 'custom',
        path: ['spokes', 'ttl_seconds_after_finished'],
        message: `must be at least two dispatch periods (${ttlFloor} s with periods.dispatch_seconds ${cfg.periods.dispatch_seconds}), so that the hub reads a finished Job's outcome before Kubernetes deletes it`,
      });
    }
  })
  .transform((cfg) => ({
    ...cfg,
    migration: {
      ...cfg.migration,
      network_gco2_per_gb: cfg.migration.network_gco2_per_gb ?? defaultNetworkFor(new Set(cfg.regions.map((r) => r.name))),
    },
  }));

export type Config = Readonly<z.infer<typeof configSchema>>;
export type RegionConfig = Config['regions'][number];

/** Environment variables and the config key each one sets. */
export const ENV_KEYS = {
  CASPIAN_PORT: ['port', 'int'],
  CASPIAN_HOST: ['host', 'string'],
  CASPIAN_LOG_LEVEL: ['log_level', 'string'],
  CASPIAN_API_TOKEN: ['api_token', 'string'],
  CASPIAN_SLOT_SECONDS: ['slot_seconds', 'int'],
  CASPIAN_HORIZON_HOURS: ['horizon_hours', 'number'],
  CASPIAN_CARBON_PERIOD_SECONDS: ['periods.carbon_seconds', 'int'],
  CASPIAN_SCHEDULE_PERIOD_SECONDS: ['periods.schedule_seconds', 'int'],
  CASPIAN_DISPATCH_PERIOD_SECONDS: ['periods.dispatch_seconds', 'int'],
  CASPIAN_NORMAL_WAIT_GCO2_PER_KWH_PER_HOUR: ['urgency.normal_wait_gco2_per_kwh_per_hour', 'number'],
  CASPIAN_MIGRATION_ALLOW: ['migration.allow', 'boolean'],
  CASPIAN_LAMBDA_PLAN_DEV: ['migration.lambda_plan_dev', 'number'],
  CASPIAN_SOLVER: ['optimizer.solver', 'string'],
  CASPIAN_SOLVER_TIME_LIMIT_SECONDS: ['optimizer.time_limit_seconds', 'number'],
  CASPIAN_SOLVER_GAP_TOLERANCE: ['optimizer.gap_tolerance', 'number'],
  CASPIAN_SOLVER_MAX_OPTIONS: ['optimizer.max_options', 'int'],
  CASPIAN_CARBON_PROVIDER: ['carbon.provider', 'string'],
  CASPIAN_CARBON_FALLBACK: ['carbon.fallback', 'list'],
  CASPIAN_CARBON_RISK: ['carbon.risk', 'string'],
  CASPIAN_CARBON_CONSTANT: ['carbon.constant_gco2_per_kwh', 'number'],
  CASPIAN_MOCK_SCENARIO: ['carbon.mock.scenario', 'string'],
  ELECTRICITYMAPS_API_TOKEN: ['carbon.electricitymaps.api_token', 'string'],
  ELECTRICITYMAPS_BASE_URL: ['carbon.electricitymaps.base_url', 'string'],
  WATTTIME_USERNAME: ['carbon.watttime.username', 'string'],
  WATTTIME_PASSWORD: ['carbon.watttime.password', 'string'],
  WATTTIME_BASE_URL: ['carbon.watttime.base_url', 'string'],
  CARBON_AWARE_SDK_URL: ['carbon.carbon_aware_sdk.url', 'string'],
  CASPIAN_CARBON_FILE: ['carbon.file.path', 'string'],
  CASPIAN_SPOKES: ['spokes.kind', 'string'],
  // Ambient (see AMBIENT_VARIABLES); CASPIAN_KUBECONFIG comes after it so that it wins when both are set.
  KUBECONFIG: ['spokes.kubeconfig', 'string'],
  CASPIAN_KUBECONFIG: ['spokes.kubeconfig', 'string'],
  CASPIAN_NAMESPACE: ['spokes.namespace', 'string'],
  CASPIAN_CLUSTER_LOST_AFTER_SECONDS: ['spokes.lost_after_seconds', 'int'],
  // Beside CASPIAN_DISPATCH_PERIOD_SECONDS, which it must outlast twice.
  CASPIAN_JOB_TTL_SECONDS: ['spokes.ttl_seconds_after_finished', 'int'],
  CASPIAN_JOB_IMAGE: ['jobs.default_image', 'string'],
  CASPIAN_STORE: ['store.kind', 'string'],
  CASPIAN_DATA_DIR: ['store.data_dir', 'string'],
  CASPIAN_RETENTION_HOURS: ['store.retention_hours', 'number'],
  CASPIAN_STORE_SYNCHRONOUS: ['store.synchronous', 'string'],
  CASPIAN_STORE_EXIT_ON_FAILURE: ['store.exit_on_failure', 'boolean'],
  CASPIAN_DECISIONS_PATH: ['decisions.path', 'string'],
} as const satisfies Record<string, readonly [string, EnvType]>;

/**
 * Variables a shell sets for other programs (kubectl reads KUBECONFIG): they fill a key the config file leaves
 * unset but do not override it, as `kubectl --kubeconfig` beats KUBECONFIG. A file naming the hub's kubeconfig
 * is the operator's choice for this hub; a KUBECONFIG left in the shell that starts it is not.
 */
const AMBIENT_VARIABLES: ReadonlySet<string> = new Set(['KUBECONFIG']);

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function formatIssues(source: string, error: z.ZodError, envOfPath: ReadonlyMap<string, string>): string {
  // The variable that set the key or a key above it (CASPIAN_CARBON_FALLBACK sets carbon.fallback, whose item 1 is wrong).
  const name = (path: readonly PropertyKey[]) => {
    const key = path.length ? path.join('.') : '(root)';
    for (let length = path.length; length > 0; length--) {
      const variable = envOfPath.get(path.slice(0, length).join('.'));
      if (variable) return `${key} (from ${variable})`;
    }
    return key;
  };
  const lines = error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys' ? issue.keys.map((key) => `  ${name([...issue.path, key])}: unknown key`) : [`  ${name(issue.path)}: ${issue.message}`],
  );
  return `invalid configuration (${source}):\n${lines.join('\n')}`;
}

type EnvType = 'int' | 'number' | 'boolean' | 'string' | 'list';

function coerceEnv(variable: string, raw: string, type: EnvType): unknown {
  if (type === 'string') return raw;
  if (type === 'list') return raw.split(',').map((item) => item.trim()).filter(Boolean);
  if (type === 'boolean') {
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new ConfigError(`invalid configuration (environment):\n  ${variable}: expected true or false, got "${raw}"`);
  }
  // Decimal only, as an operator writes it: Number() would also take "0x1F90", "0b1" or "1e3" for a port.
  const decimal = type === 'int' ? /^\s*[+-]?\d+\s*$/ : /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
  const value = Number(raw);
  if (!decimal.test(raw) || !Number.isFinite(value) || (type === 'int' && !Number.isSafeInteger(value))) {
    throw new ConfigError(`invalid configuration (environment):\n  ${variable}: expected ${type === 'int' ? 'an integer' : 'a number'}, got "${raw}"`);
  }
  return value;
}

/**
 * Sets `path` in `target`, creating the objects on the way. A value on the way that is not an object
 * (a file's `"store": "x"` or `null`) is left as it is, and the variable unapplied: replacing it would hide the
 * file's mistake, which the schema then reports.
 */
function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (node[key] === undefined) node[key] = {};
    const next = node[key];
    if (typeof next !== 'object' || next === null) return;
    node = next as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = value;
}

/**
 * Validates a raw object (file contents with env overrides applied) into a frozen Config. `envOfPath`
 * maps a key to the variable that set it, so that errors name the variable the operator wrote.
 */
export function parseConfig(raw: unknown, source = 'configuration', envOfPath: ReadonlyMap<string, string> = new Map()): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(source, result.error, envOfPath));
  return deepFreeze(result.data);
}

/** The value at a dotted `path` of `raw`, or undefined when a key on the way is missing or not an object. */
function valueAt(raw: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined), raw);
}

/**
 * Makes the relative paths a config file holds relative to the file's own directory, as kubectl reads a
 * kubeconfig's: a hub started from elsewhere (a service manager's working directory is often `/`) reads
 * what the file's author meant. Values of the wrong type are left for the schema to name.
 */
function resolvePathsAgainst(raw: Record<string, unknown>, dir: string): void {
  const absolute = (p: string) => (p === '' || isAbsolute(p) ? p : resolve(dir, p));
  const rewrite = (path: string, change: (value: string) => string) => {
    const value = valueAt(raw, path);
    if (typeof value === 'string') setPath(raw, path, change(value));
  };
  // A kubeconfig path list, as in KUBECONFIG.
  rewrite('spokes.kubeconfig', (v) => v.split(delimiter).map(absolute).join(delimiter));
  rewrite('store.data_dir', absolute);
  rewrite('decisions.path', absolute);
  // One path, several separated by commas, or a list (see the carbon options).
  rewrite('carbon.file.path', (v) => v.split(',').map((p) => absolute(p.trim())).join(','));
  const traces = valueAt(raw, 'carbon.file.path');
  if (Array.isArray(traces)) setPath(raw, 'carbon.file.path', traces.map((p: unknown) => (typeof p === 'string' ? absolute(p) : p)));
}

/** Reads the config file named by `CASPIAN_CONFIG` (if any) and the `CASPIAN_*` variables. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let raw: Record<string, unknown> = {};
  const file = env.CASPIAN_CONFIG;
  const source = file ? `file ${file} and environment` : 'environment';
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    try {
      raw = JSON.parse(withoutBom(text)) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ConfigError(`config file ${file} must hold a JSON object`);
    }
    resolvePathsAgainst(raw, dirname(resolve(file)));
  }
  const envOfPath = new Map<string, string>();
  for (const [variable, [path, type]] of Object.entries(ENV_KEYS)) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    if (AMBIENT_VARIABLES.has(variable) && valueAt(raw, path) !== undefined) continue;
    setPath(raw, path, coerceEnv(variable, value, type));
    envOfPath.set(path, variable);
  }
  return parseConfig(raw, source, envOfPath);
}

/** Number of slots in the planning horizon. */
export function horizonSlots(config: Config): number {
  return Math.floor((config.horizon_hours * 3600) / config.slot_seconds);
}
