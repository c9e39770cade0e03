/**
 * Load benchmark of the hub (issue 9), on loopback:
 *  1. a bare Fastify hello-world (GET, and a POST that parses a JSON body), the ceiling on this machine,
 *     and the same POST made durable in the least a server can do: the body appended to a file opened
 *     with O_DSYNC (one write that returns once the data is on the disk: one trip to libuv's pool, where
 *     a write then an fdatasync take two and measured slower), with every body that arrives during a
 *     flush gathered into the next one (group commit, off the event loop). That is the ceiling of any
 *     server that acknowledges a write only once it is on this machine's disk;
 *  2. the hub's `POST /hub/appwrappers` (unique ids) and `GET /hub/appwrappers` (100 stored) beside it;
 *  3. the hub's RSS with 10,000 and 100,000 AppWrappers stored;
 *  4. one schedule cycle over 1,000 pending jobs x 3 regions x 96 slots.
 * The hub is the built `caspian serve` in a child process, with its default logging (to /dev/null).
 *
 * Submissions are measured on both stores (SQLite commits every acknowledged write before answering),
 * SQLite with `store.synchronous` full (the default: the log flushed before answering) and normal; the rest runs on the
 * default SQLite store.
 *
 * The POST comparison runs in rounds, each a bare Fastify run followed at once by a run of each hub
 * variant, and reports the median of the rounds: the two cores are shared with autocannon (and, on a busy
 * machine, with other work), and a ratio taken within one round is not skewed by the load drifting
 * between a bare run at the start and a hub run minutes later.
 *
 * Each measured run follows a warm-up with the same requests (`--warmup` seconds, figures dropped): without
 * it a fresh hub was measured cold while the bare server's POST came after its GET run.
 *
 *   npm run bench:load [-- --duration 10 --connections 10 --rounds 3 --warmup 3]
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, freemem, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
  },
});
const DURATION_S = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const ROUNDS = Number(args.rounds);
const WARMUP_S = Number(args.warmup);
const ROOT = join(import.meta.dirname, '../..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

interface Server {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function waitUntilUp(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not come up`);
}

async function start(command: string[], env: Record<string, string>, port: number): Promise<Server> {
  const child = spawn(process.execPath, command, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilUp(url, child);
  return {
    url,
    child,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

const BARE_FASTIFY = `
import Fastify from 'fastify';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
const app = Fastify();
app.get('/health', async () => ({ status: 'ok' }));
app.get('/', async () => ({ hello: 'world' }));
app.post('/', async (request, reply) => reply.status(201).send(request.body));
const log = await open(process.env.LOG_FILE, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC);
let waiting = [];
let flushing = false;
async function flush() {
  flushing = true;
  while (waiting.length > 0) {
    const batch = waiting;
    waiting = [];
    await log.write(batch.map((entry) => entry.line).join(''));
    for (const entry of batch) entry.done();
  }
  flushing = false;
}
app.post('/durable', async (request, reply) => {
  await new Promise((done) => {
    waiting.push({ line: JSON.stringify(request.body) + '\\n', done });
    if (!flushing) void flush();
  });
  return reply.status(201).send(request.body);
});
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
`;

async function startBareFastify(): Promise<Server> {
  const port = await freePort();
  const logFile = join(mkdtempSync(join(tmpdir(), 'caspian-bench-bare-')), 'log');
  return start(['--input-type=module', '-e', BARE_FASTIFY], { PORT: String(port), LOG_FILE: logFile }, port);
}

async function startHub(env: Record<string, string>, store = 'sqlite'): Promise<Server> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'caspian-bench-'));
  return start(['dist/cli/main.js', 'serve'], {
    CASPIAN_PORT: String(port),
    CASPIAN_HOST: '127.0.0.1',
    CASPIAN_STORE: store,
    CASPIAN_DATA_DIR: dataDir,
    // Cycles only when the benchmark asks for them.
    CASPIAN_SCHEDULE_PERIOD_SECONDS: '86400',
    CASPIAN_DISPATCH_PERIOD_SECONDS: '3600',
    ...env,
  }, port);
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/**
 * One measured run, after a warm-up of `WARMUP_S` seconds with the same requests whose figures are dropped:
 * every server is measured warm (its JIT and heap settled), whichever run came before it.
 */
async function cannon(options: autocannon.Options): Promise<Figures> {
  if (WARMUP_S > 0) await autocannon({ connections: CONNECTIONS, ...options, duration: WARMUP_S });
  const result = await autocannon({ connections: CONNECTIONS, duration: DURATION_S, ...options });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.non2xx + result.errors };
}

let submitted = 0;
function submission(extra: Record<string, unknown> = {}): string {
  submitted++;
  return JSON.stringify({ job_id: `bench-${submitted}`, cpu: 1 + (submitted % 4), mem_gb: 2, runtime_minutes: 15 + (submitted % 8) * 15, deadline_minutes: 24 * 60, ...extra });
}

/**
 * A fresh submission per request (the hub refuses a repeated id). The bare server gets the same requests,
 * so that the client (on the same two cores) does the same work in both runs and the ratio compares servers.
 */
function submissions(path: string): autocannon.Request[] {
  return [{ method: 'POST', path, headers: { 'content-type': 'application/json' }, setupRequest: (request) => ({ ...request, body: submission() }) }];
}
const submitRequests = submissions('/hub/appwrappers');

async function rssMb(hub: Server): Promise<number> {
  const text = await (await fetch(`${hub.url}/metrics`)).text();
  const match = /^process_resident_memory_bytes (\S+)$/m.exec(text);
  return match ? Number(match[1]) / 2 ** 20 : NaN;
}

async function fill(hub: Server, count: number): Promise<void> {
  const result = await autocannon({ url: hub.url, connections: CONNECTIONS, amount: count, requests: submitRequests });
  if (result.non2xx + result.errors > 0) throw new Error(`filling: ${result.non2xx} non-2xx, ${result.errors} errors`);
}

/** The run with the median `key` (the upper one of an even count). */
function medianBy<T>(runs: T[], key: (run: T) => number): T {
  return [...runs].sort((a, b) => key(a) - key(b))[Math.floor(runs.length / 2)]!;
}

function row(cells: (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}

const fmt = (n: number, digits = 0) => n.toFixed(digits);

async function main(): Promise<void> {
  const lines: string[] = [];
  const log = (line: string) => {
    lines.push(line);
    process.stderr.write(`${line}\n`);
  };
  log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${fmt(totalmem() / 2 ** 30, 1)} GiB (${fmt(freemem() / 2 ** 30, 1)} free), Node ${process.version}`);
  log(`autocannon: ${CONNECTIONS} connections, ${DURATION_S} s per run after ${WARMUP_S} s of warm-up, ${ROUNDS} rounds of bare Fastify then each hub variant`);

  // 1-2. Rounds: the ceiling (bare Fastify), then the hub beside it.
  const stores: { label: string; store: string; env: Record<string, string> }[] = [
    { label: 'memory store', store: 'memory', env: {} },
    { label: 'sqlite store, synchronous full', store: 'sqlite', env: {} },
    { label: 'sqlite store, synchronous normal', store: 'sqlite', env: { CASPIAN_STORE_SYNCHRONOUS: 'normal' } },
  ];
  const bareGets: Figures[] = [];
  const barePosts: Figures[] = [];
  const durableFloor: { figures: Figures; ratio: number }[] = [];
  const hubPosts = new Map<string, { figures: Figures; ratio: number }[]>(stores.map((s) => [s.label, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    const bare = await startBareFastify();
    bareGets.push(await cannon({ url: `${bare.url}/` }));
    const barePost = await cannon({ url: bare.url, requests: submissions('/') });
    barePosts.push(barePost);
    const durable = await cannon({ url: bare.url, requests: submissions('/durable') });
    durableFloor.push({ figures: durable, ratio: durable.rps / barePost.rps });
    await bare.stop();
    log(`round ${round}: bare POST flushed to disk ${fmt(durable.rps)} req/s, bare POST ${fmt(barePost.rps)} req/s: ${fmt(100 * (durable.rps / barePost.rps), 1)}%`);
    for (const { label, store, env } of stores) {
      const hub = await startHub(env, store);
      const figures = await cannon({ url: hub.url, requests: submitRequests });
      hubPosts.get(label)!.push({ figures, ratio: figures.rps / barePost.rps });
      await hub.stop();
      log(`round ${round}: ${label} ${fmt(figures.rps)} req/s, bare POST ${fmt(barePost.rps)} req/s: ${fmt(100 * (figures.rps / barePost.rps), 1)}%`);
    }
  }
  const bareGet = medianBy(bareGets, (f) => f.rps);
  const barePost = medianBy(barePosts, (f) => f.rps);
  const lister = await startHub({});
  await fill(lister, 100);
  const hubGet = await cannon({ url: `${lister.url}/hub/appwrappers` });
  await lister.stop();

  lines.push('');
  lines.push(row(['endpoint', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'vs bare Fastify']));
  lines.push(row(['---', '---:', '---:', '---:', '---:', '---:']));
  lines.push(row([`bare Fastify \`GET /\` (median of ${ROUNDS})`, fmt(bareGet.rps), bareGet.p50, bareGet.p99, bareGet.errors, '']));
  lines.push(row([`bare Fastify \`POST /\` (JSON body, median of ${ROUNDS})`, fmt(barePost.rps), barePost.p50, barePost.p99, barePost.errors, '']));
  const againstBarePost = (endpoint: string, runs: { figures: Figures; ratio: number }[]) => {
    const figures = medianBy(runs.map((r) => r.figures), (f) => f.rps);
    const ratios = runs.map((r) => r.ratio).sort((a, b) => a - b);
    const median = ratios[Math.floor(ratios.length / 2)]!;
    lines.push(row([endpoint, fmt(figures.rps), figures.p50, figures.p99, figures.errors, `${fmt(100 * median)}% of POST (rounds ${ratios.map((r) => fmt(100 * r)).join(', ')}%)`]));
  };
  againstBarePost('bare Fastify `POST /durable` (each body on disk before the answer, group commit)', durableFloor);
  for (const [store, runs] of hubPosts) againstBarePost(`hub \`POST /hub/appwrappers\` (${store})`, runs);
  lines.push(row(['hub `GET /hub/appwrappers` (100 stored)', fmt(hubGet.rps), hubGet.p50, hubGet.p99, hubGet.errors, `${fmt((100 * hubGet.rps) / bareGet.rps)}% of GET`]));

  // 3. Memory with many AppWrappers stored.
  const big = await startHub({});
  const idle = await rssMb(big);
  await fill(big, 10_000);
  const rss10k = await rssMb(big);
  await fill(big, 90_000);
  const rss100k = await rssMb(big);
  await big.stop();
  lines.push('');
  lines.push(row(['AppWrappers stored', 'hub RSS MB']));
  lines.push(row(['---:', '---:']));
  lines.push(row([0, fmt(idle)]));
  lines.push(row(['10,000', fmt(rss10k)]));
  lines.push(row(['100,000', fmt(rss100k)]));

  // 4. One schedule cycle: 1,000 pending jobs, 3 regions, 96 slots of 15 minutes.
  const dir = mkdtempSync(join(tmpdir(), 'caspian-bench-config-'));
  const config = join(dir, 'config.json');
  const region = (name: string, zone: string) => ({ name, cluster: `carbon-${name.toLowerCase()}`, context: `kind-carbon-${name.toLowerCase()}`, zone, capacity: { cpu: 256, mem_gb: 1024, gpu: 8 } });
  writeFileSync(config, JSON.stringify({ slot_seconds: 900, horizon_hours: 24, regions: [region('KR', 'KR'), region('JP', 'JP-TK'), region('CN', 'CN')] }));
  const scheduler = await startHub({ CASPIAN_CONFIG: config });
  await fill(scheduler, 1000);
  const started = performance.now();
  const summary = (await (await fetch(`${scheduler.url}/hub/schedule`, { method: 'POST' })).json()) as {
    solver: string;
    status: string;
    duration_seconds: number;
    gap: number | null;
    placed: unknown[];
    unschedulable: unknown[];
  };
  const wall = (performance.now() - started) / 1000;
  await scheduler.stop();
  lines.push('');
  lines.push(row(['schedule cycle', 'solver', 'status', 'gap %', 'placed', 'unschedulable', 'cycle s', 'request s']));
  lines.push(row(['---', '---', '---', '---:', '---:', '---:', '---:', '---:']));
  lines.push(row(['1,000 pending x 3 regions x 96 slots', summary.solver, summary.status, summary.gap === null ? '-' : fmt(summary.gap * 100, 2), summary.placed.length, summary.unschedulable.length, fmt(summary.duration_seconds, 2), fmt(wall, 2)]));

  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
