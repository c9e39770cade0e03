import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TERMINAL_PHASES, type Phase } from '../../src/domain/app-wrapper.js';
import { seededRandom } from '../../src/domain/random.js';

/**
 * Kills a real hub process with SIGKILL while requests are in flight, restarts it on the same data
 * directory, and checks that nothing it acknowledged was lost. Each round is bounded by a request count
 * (never by a sleep); the kill comes after a random number of requests from a seeded PRNG, so a failing
 * run is replayed with CASPIAN_CRASH_SEED.
 */

const CLI = join(import.meta.dirname, '../../src/cli/main.ts');
const SEED = Number(process.env.CASPIAN_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 32));
const ROUNDS = Number(process.env.CASPIAN_CRASH_ROUNDS ?? 8);
/** Requests in flight at once, so that the kill lands in the middle of some of them. */
const WORKERS = 4;

/**
 * How far along its life an AppWrapper is; a restart may move it forward, never back. Dispatched and
 * Running share a rank: a migration moves a Running AppWrapper back to Dispatched, with its new Job.
 */
const RANK: Record<Phase, number> = { Pending: 0, Planned: 1, Unschedulable: 1, Dispatched: 2, Running: 2, Succeeded: 3, Failed: 3, Cancelled: 3 };

interface Ack {
  /** The spec the 201 answer showed. */
  spec: unknown;
  /** The furthest phase an answer showed it in. */
  phase: Phase;
}

interface View {
  job_id: string;
  phase: Phase;
  spec: unknown;
}

interface ChildHub {
  process: ChildProcess;
  address: string;
  exited: Promise<number | null>;
  /** Log lines seen so far, for the reconcile summary and for diagnostics. */
  lines: Record<string, unknown>[];
  stderr: string[];
}

const dataDirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

/** Starts `caspian serve` from source on `dataDir` with the store's `synchronous`; resolves once it listens. */
function startHub(dataDir: string, synchronous: 'full' | 'normal'): Promise<ChildHub> {
  // Only our variables: nothing from the environment running the tests (a token, real spokes) leaks in.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('CASPIAN_') && key !== 'KUBECONFIG'));
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve'], {
    env: { ...env, CASPIAN_PORT: '0', CASPIAN_HOST: '127.0.0.1', CASPIAN_DATA_DIR: dataDir, CASPIAN_STORE: 'sqlite', CASPIAN_STORE_SYNCHRONOUS: synchronous, CASPIAN_LOG_LEVEL: 'info', CASPIAN_SOLVER: 'greedy' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const text = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text) as Record<string, unknown>;
        } catch {
          continue;
        }
        // Requests log a line each; only the ones the test reads are kept.
        if (line.msg === 'CASPIAN hub listening' || String(line.msg).startsWith('reconciled with the spokes') || Number(line.level) >= 50) lines.push(line);
        if (line.msg === 'CASPIAN hub listening') resolve({ process: child, address: String(line.address), exited, lines, stderr });
      }
    });
    void exited.then((code) => reject(new Error(`hub exited with ${code} before listening:\n${stderr.join('')}`)));
  });
}

type Op = { kind: 'submit'; jobId: string; body: Record<string, unknown> } | { kind: 'cancel'; jobId: string } | { kind: 'schedule' } | { kind: 'dispatch' };

/** Everything the hub acknowledged, across rounds, and every id ever sent. */
class Ledger {
  readonly acked = new Map<string, Ack>();
  readonly sent = new Set<string>();

  /** Records what a 2xx answer showed; phases only move forward, and terminal ones are exact. */
  saw(jobId: string, phase: Phase): void {
    const ack = this.acked.get(jobId);
    if (ack && RANK[phase] > RANK[ack.phase]) ack.phase = phase;
  }

  async record(op: Op, response: Response): Promise<void> {
    if (!response.ok) return;
    const body = (await response.json()) as Record<string, unknown>;
    if (op.kind === 'submit') {
      this.acked.set(op.jobId, { spec: (body as unknown as View).spec, phase: 'Pending' });
    } else if (op.kind === 'cancel') {
      this.saw(op.jobId, 'Cancelled');
    } else if (op.kind === 'schedule') {
      for (const p of body.placed as { job_id: string }[]) this.saw(p.job_id, 'Planned');
      for (const u of body.unschedulable as { job_id: string }[]) this.saw(u.job_id, 'Unschedulable');
      for (const f of body.failed as { job_id: string }[]) this.saw(f.job_id, 'Failed');
    } else {
      for (const c of body.created as { job_id: string }[]) this.saw(c.job_id, 'Dispatched');
      for (const s of body.synced as { job_id: string; phase: Phase }[]) this.saw(s.job_id, s.phase);
    }
  }

  /** What the restarted hub got wrong: missing, changed spec, or moved back. */
  problems(items: View[]): string[] {
    const byId = new Map(items.map((item) => [item.job_id, item]));
    const out: string[] = [];
    for (const [jobId, ack] of this.acked) {
      const item = byId.get(jobId);
      if (!item) out.push(`${jobId}: acknowledged but missing`);
      else if (JSON.stringify(item.spec) !== JSON.stringify(ack.spec)) out.push(`${jobId}: spec ${JSON.stringify(item.spec)}, acknowledged ${JSON.stringify(ack.spec)}`);
      else if (TERMINAL_PHASES.has(ack.phase) ? item.phase !== ack.phase : RANK[item.phase] < RANK[ack.phase]) out.push(`${jobId}: ${item.phase}, acknowledged ${ack.phase}`);
    }
    for (const item of items) if (!this.sent.has(item.job_id)) out.push(`${item.job_id}: never submitted`);
    return out;
  }
}

function chooseOp(random: () => number, ledger: Ledger, round: number, serial: number): Op {
  const r = random();
  const known = [...ledger.acked.keys()];
  if (r < 0.12 && known.length) return { kind: 'cancel', jobId: known[Math.floor(random() * known.length)]! };
  if (r < 0.2) return { kind: 'schedule' };
  if (r < 0.28) return { kind: 'dispatch' };
  const runtime = 5 + Math.floor(random() * 55);
  const jobId = `r${round}-j${serial}`;
  ledger.sent.add(jobId);
  return {
    kind: 'submit',
    jobId,
    body: { job_id: jobId, cpu: 1 + Math.floor(random() * 4), mem_gb: 1 + Math.floor(random() * 8), runtime_minutes: runtime, deadline_minutes: runtime + 60 + Math.floor(random() * 600), data_gb: Math.floor(random() * 10) },
  };
}

function send(address: string, op: Op): Promise<Response> {
  switch (op.kind) {
    case 'submit':
      return fetch(`${address}/hub/appwrappers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(op.body) });
    case 'cancel':
      return fetch(`${address}/hub/appwrappers/${op.jobId}`, { method: 'DELETE' });
    case 'schedule':
      return fetch(`${address}/hub/schedule`, { method: 'POST' });
    case 'dispatch':
      return fetch(`${address}/hub/dispatch`, { method: 'POST' });
  }
}

/**
 * Keeps WORKERS requests in flight and SIGKILLs the hub right after issuing request number `killAt`;
 * the answers that arrived before the kill are the acknowledgements. Resolves once the process is gone.
 */
async function driveUntilKill(hub: ChildHub, random: () => number, ledger: Ledger, round: number, killAt: number): Promise<void> {
  let issued = 0;
  let killed = false;
  const worker = async () => {
    while (!killed) {
      const op = chooseOp(random, ledger, round, issued);
      const answer = send(hub.address, op);
      issued++;
      if (issued === killAt) {
        killed = true;
        hub.process.kill('SIGKILL');
      }
      try {
        await ledger.record(op, await answer);
      } catch {
        // No complete answer: not acknowledged, so the op may or may not have happened.
      }
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  await hub.exited;
}

async function listAll(address: string): Promise<View[]> {
  const response = await fetch(`${address}/hub/appwrappers`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { items: View[] }).items;
}

/**
 * `full` (the default) for every round; `normal` claims to survive a killed process too (not power
 * loss, which no test here can cause), checked with half the rounds.
 */
describe.each([
  { synchronous: 'full' as const, rounds: ROUNDS },
  { synchronous: 'normal' as const, rounds: Math.max(1, Math.ceil(ROUNDS / 2)) },
])(`crash test (seed ${SEED}, store.synchronous $synchronous, $rounds SIGKILLs)`, ({ synchronous, rounds }) => {
  it('keeps every acknowledged AppWrapper, in at least its acknowledged state, across SIGKILLs', { timeout: 600_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'caspian-crash-'));
    dataDirs.push(dataDir);
    const random = seededRandom(SEED);
    const ledger = new Ledger();
    let hub = await startHub(dataDir, synchronous);
    for (let round = 1; round <= rounds; round++) {
      const killAt = 20 + Math.floor(random() * 100);
      await driveUntilKill(hub, random, ledger, round, killAt);

      hub = await startHub(dataDir, synchronous);
      const items = await listAll(hub.address);
      expect(ledger.problems(items), `seed ${SEED}, after kill ${round} (at request ${killAt})`).toEqual([]);
      const summary = hub.lines.find((l) => String(l.msg).startsWith('reconciled with the spokes'));
      expect(summary?.loaded, `seed ${SEED}, round ${round}: the reconcile summary counts what was loaded`).toBe(items.length);
      expect(hub.lines.filter((l) => Number(l.level) >= 50), `seed ${SEED}, round ${round}: no error logged`).toEqual([]);
    }
    // Enough acknowledged work that the rounds tested something, whatever the seed.
    expect(ledger.acked.size).toBeGreaterThanOrEqual(rounds * 5);
    expect([...ledger.acked.values()].some((a) => a.phase === 'Cancelled')).toBe(true);

    hub.process.kill('SIGTERM');
    expect(await hub.exited).toBe(0);
  });
});
