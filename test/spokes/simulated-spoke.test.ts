import { beforeEach, describe, expect, it } from 'vitest';
import { AdapterError } from '../../src/domain/errors.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { WHOLE_CLUSTER_POOL } from '../../src/domain/cluster.js';
import type { SpokeJobPhase, SpokeJobStatus } from '../../src/spokes/types.js';
import { FakeClock } from '../support/fake-clock.js';
import { spokeJob } from '../support/spoke-job-builder.js';

const MIN = 60_000;

let clock: FakeClock;
let t0: number;

beforeEach(() => {
  clock = new FakeClock();
  t0 = clock.now();
});

function spoke(cpu = 4, memGb = 16, gpu = 1): SimulatedSpoke {
  return new SimulatedSpoke('carbon-kr', { cpu, memGb, gpu }, clock);
}

/** What the spoke says about one Job, with times in minutes after t0. */
async function statusOf(sim: SimulatedSpoke, jobName: string): Promise<{ phase: SpokeJobPhase; start?: number; end?: number; reason?: string }> {
  const job = (await sim.listJobs()).find((j) => j.jobName === jobName);
  if (!job) throw new Error(`no Job ${jobName}`);
  const out: { phase: SpokeJobPhase; start?: number; end?: number; reason?: string } = { phase: job.phase };
  if (job.startedAt !== undefined) out.start = (job.startedAt - t0) / MIN;
  if (job.finishedAt !== undefined) out.end = (job.finishedAt - t0) / MIN;
  if (job.reason !== undefined) out.reason = job.reason;
  return out;
}

async function expectAdapterError(promise: Promise<unknown>, retryable: boolean, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AdapterError);
  expect((error as AdapterError).retryable).toBe(retryable);
  expect((error as AdapterError).message).toMatch(message);
}

describe('status', () => {
  it('is ready with its allocatable resources and no foreign usage', async () => {
    const sim = spoke(8, 32, 2);
    expect(sim.kind).toBe('simulated');
    expect(sim.cluster).toBe('carbon-kr');
    expect(await sim.status()).toEqual({ ready: true, allocatable: { cpu: 8, memGb: 32, gpu: 2 }, foreignUsage: { cpu: 0, memGb: 0, gpu: 0 } });
  });

  it('hands out copies of its resources', async () => {
    const sim = spoke(8, 32, 2);
    (await sim.status()).allocatable.cpu = 0;
    expect((await sim.status()).allocatable.cpu).toBe(8);
  });
});

describe('running Jobs', () => {
  it('runs a Job that fits at once, and it succeeds after its runtime', async () => {
    const sim = spoke();
    expect(await sim.createJob(spokeJob('a').runtimeSeconds(600).obj())).toBe('created');
    expect(await sim.listJobs()).toEqual([{ jobId: 'a', jobName: 'a', phase: 'Running', startedAt: t0, finishedAt: undefined, reason: undefined, createdAt: t0, pool: 'FAST' }]);

    clock.advance(10 * MIN - 1);
    expect(await statusOf(sim, 'a')).toEqual({ phase: 'Running', start: 0 });
    clock.advance(1);
    expect(await statusOf(sim, 'a')).toEqual({ phase: 'Succeeded', start: 0, end: 10 });
    clock.advance(60 * MIN);
    expect(await statusOf(sim, 'a')).toEqual({ phase: 'Succeeded', start: 0, end: 10 });
  });

  it('runs Jobs side by side while they fit', async () => {
    const sim = spoke(4);
    await sim.createJob(spokeJob('a').cpu(2).runtimeSeconds(600).obj());
    clock.advance(MIN);
    await sim.createJob(spokeJob('b').cpu(2).runtimeSeconds(300).obj());
    expect(await statusOf(sim, 'a')).toEqual({ phase: 'Running', start: 0 });
    expect(await statusOf(sim, 'b')).toEqual({ phase: 'Running', start: 1 });
    clock.advance(20 * MIN);
    expect(await statusOf(sim, 'a')).toEqual({ phase: 'Succeeded', start: 0, end: 10 });
    expect(await statusOf(sim, 'b')).toEqual({ phase: 'Succeeded', start: 1, end: 6 });
  });

  it('runs Jobs that fill it exactly side by side, whatever the rounding of their sum (0.9 + 0.1, 64.2 + 31.8)', async () => {
    for (const [capacity, a, b] of [
      [1, 0.9, 0.1],
      [96, 64.2, 31.8],
    ] as const) {
      const sim = spoke(capacity, 4 * capacity);
      await sim.createJob(spokeJob('a').cpu(a).runtimeSeconds(600).obj());
      await sim.createJob(spokeJob('b').cpu(b).runtimeSeconds(600).obj());
      expect(await statusOf(sim, 'b'), `${a} + ${b} in ${capacity}`).toEqual({ phase: 'Running', start: 0 });
    }
  });

  it('lists the Job id and name it was given', async () => {
    const sim = spoke();
    await sim.createJob(spokeJob('a').jobName('a-g2').obj());
    expect((await sim.listJobs()).map((j: SpokeJobStatus) => [j.jobId, j.jobName])).toEqual([['a', 'a-g2']]);
  });
});

describe('queueing when full', () => {
  // cpu 4: a fills it for 10 min; b (5 min) and c (5 min) wait their turn, first come first served.
  async function fullCluster(): Promise<SimulatedSpoke> {
    const sim = spoke(4);
    await sim.createJob(spokeJob('a').cpu(4).runtimeSeconds(600).obj());
    clock.advance(MIN);
    await sim.createJob(spokeJob('b').cpu(4).runtimeSeconds(300).obj());
    clock.advance(MIN);
    await sim.createJob(spokeJob('c').cpu(3).runtimeSeconds(300).obj());
    return sim;
  }

  const timeline: { atMinute: number; want: Record<string, { phase: SpokeJobPhase; start?: number; end?: number }> }[] = [
    { atMinute: 2, want: { a: { phase: 'Running', start: 0 }, b: { phase: 'Pending' }, c: { phase: 'Pending' } } },
    { atMinute: 10, want: { a: { phase: 'Succeeded', start: 0, end: 10 }, b: { phase: 'Running', start: 10 }, c: { phase: 'Pending' } } },
    { atMinute: 15, want: { a: { phase: 'Succeeded', start: 0, end: 10 }, b: { phase: 'Succeeded', start: 10, end: 15 }, c: { phase: 'Running', start: 15 } } },
    { atMinute: 30, want: { a: { phase: 'Succeeded', start: 0, end: 10 }, b: { phase: 'Succeeded', start: 10, end: 15 }, c: { phase: 'Succeeded', start: 15, end: 20 } } },
  ];

  it('starts each queued Job, in order, when the Job that freed room finishes (checked step by step)', async () => {
    const sim = await fullCluster();
    for (const { atMinute, want } of timeline) {
      clock.advance(t0 + atMinute * MIN - clock.now());
      for (const [name, status] of Object.entries(want)) expect(await statusOf(sim, name), `${name} at ${atMinute} min`).toEqual(status);
    }
  });

  for (const { atMinute, want } of timeline) {
    it(`reaches the same state at minute ${atMinute} when nobody looks in between`, async () => {
      const sim = await fullCluster();
      clock.advance(t0 + atMinute * MIN - clock.now());
      for (const [name, status] of Object.entries(want)) expect(await statusOf(sim, name), name).toEqual(status);
    });
  }

  it('queues on memory and gpus as well as cpu', async () => {
    const cases = [
      { name: 'memory', first: spokeJob('a').cpu(1).memGb(16), second: spokeJob('b').cpu(1).memGb(1) },
      { name: 'gpu', first: spokeJob('a').cpu(1).gpu(1), second: spokeJob('b').cpu(1).gpu(1) },
    ];
    for (const { name, first, second } of cases) {
      clock = new FakeClock();
      t0 = clock.now();
      const sim = spoke(4, 16, 1);
      await sim.createJob(first.runtimeSeconds(600).obj());
      await sim.createJob(second.runtimeSeconds(600).obj());
      expect(await statusOf(sim, 'b'), name).toEqual({ phase: 'Pending' });
      clock.advance(10 * MIN);
      expect(await statusOf(sim, 'b'), name).toEqual({ phase: 'Running', start: 10 });
    }
  });

  it('drains a long queue in creation order, each Job starting when the one before ends, when nobody looks in between', async () => {
    const sim = spoke(4);
    const names = Array.from({ length: 40 }, (_, i) => `j${i}`);
    for (const name of names) await sim.createJob(spokeJob(name).cpu(4).runtimeSeconds(60).obj());
    clock.advance(25 * MIN + 30_000);
    const want = names.map((_, i) => (i < 25 ? { phase: 'Succeeded', start: i, end: i + 1 } : i === 25 ? { phase: 'Running', start: 25 } : { phase: 'Pending' }));
    expect(await Promise.all(names.map((name) => statusOf(sim, name)))).toEqual(want);
    clock.advance(20 * MIN);
    expect(await statusOf(sim, 'j39')).toEqual({ phase: 'Succeeded', start: 39, end: 40 });
  });

  it('queues a Job created again under a deleted name behind the Jobs already waiting', async () => {
    const sim = spoke(4);
    await sim.createJob(spokeJob('a').cpu(4).runtimeSeconds(600).obj());
    await sim.createJob(spokeJob('b').cpu(4).runtimeSeconds(300).obj());
    await sim.createJob(spokeJob('c').cpu(4).runtimeSeconds(300).obj());
    clock.advance(MIN);
    await sim.deleteJob('b', 'b');
    await sim.createJob(spokeJob('b').cpu(4).runtimeSeconds(300).obj());
    clock.advance(30 * MIN);
    expect(await statusOf(sim, 'c')).toEqual({ phase: 'Succeeded', start: 10, end: 15 });
    expect(await statusOf(sim, 'b')).toEqual({ phase: 'Succeeded', start: 15, end: 20 });
    expect((await sim.listJobs()).map((j) => j.jobName)).toEqual(['a', 'c', 'b']);
  });

  it('gives room freed before a new Job arrives to the Job already waiting', async () => {
    const sim = spoke(4);
    await sim.createJob(spokeJob('a').cpu(3).runtimeSeconds(600).obj());
    clock.advance(MIN);
    await sim.createJob(spokeJob('b').cpu(4).runtimeSeconds(600).obj());
    // a finished at minute 10, so b has had the whole cluster since then; c, which came later, waits.
    clock.advance(14 * MIN);
    await sim.createJob(spokeJob('c').cpu(1).runtimeSeconds(60).obj());
    expect(await statusOf(sim, 'b')).toEqual({ phase: 'Running', start: 10 });
    expect(await statusOf(sim, 'c')).toEqual({ phase: 'Pending' });
    clock.advance(10 * MIN);
    expect(await statusOf(sim, 'b')).toEqual({ phase: 'Succeeded', start: 10, end: 20 });
    expect(await statusOf(sim, 'c')).toEqual({ phase: 'Succeeded', start: 20, end: 21 });
  });
});

describe('activeDeadlineSeconds', () => {
  const cases = [
    { name: 'shorter than the runtime: Failed DeadlineExceeded at the deadline', deadline: 120, want: { phase: 'Failed', start: 0, end: 2, reason: 'DeadlineExceeded' } },
    { name: 'equal to the runtime: Succeeded', deadline: 600, want: { phase: 'Succeeded', start: 0, end: 10 } },
    { name: 'longer than the runtime: Succeeded', deadline: 3600, want: { phase: 'Succeeded', start: 0, end: 10 } },
  ] as const;
  for (const { name, deadline, want } of cases) {
    it(name, async () => {
      const sim = spoke();
      await sim.createJob(spokeJob('a').runtimeSeconds(600).activeDeadlineSeconds(deadline).obj());
      clock.advance(30 * MIN);
      expect(await statusOf(sim, 'a')).toEqual(want);
    });
  }

  it('a Job stopped by its deadline frees room for the next', async () => {
    const sim = spoke(4);
    await sim.createJob(spokeJob('a').cpu(4).runtimeSeconds(600).activeDeadlineSeconds(180).obj());
    await sim.createJob(spokeJob('b').cpu(4).runtimeSeconds(60).obj());
    clock.advance(30 * MIN);
    expect(await statusOf(sim, 'a')).toEqual({ phase: 'Failed', start: 0, end: 3, reason: 'DeadlineExceeded' });
    expect(await statusOf(sim, 'b')).toEqual({ phase: 'Succeeded', start: 3, end: 4 });
  });

  it('counts time spent waiting for room, as Kubernetes does: a Job queued past its deadline fails unrun', async () => {
    const sim = spoke(4);
    await sim.createJob(spokeJob('a').cpu(4).runtimeSeconds(600).obj());
    await sim.createJob(spokeJob('b').cpu(4).runtimeSeconds(60).activeDeadlineSeconds(300).obj());
    await sim.createJob(spokeJob('c').cpu(4).runtimeSeconds(400).activeDeadlineSeconds(900).obj());
    clock.advance(30 * MIN);
    expect(await statusOf(sim, 'b')).toEqual({ phase: 'Failed', end: 5, reason: 'DeadlineExceeded' });
    // c starts when a ends at minute 10, and is stopped at minute 15, 900 s after its creation.
    expect(await statusOf(sim, 'c')).toEqual({ phase: 'Failed', start: 10, end: 15, reason: 'DeadlineExceeded' });
  });
});

describe('createJob', () => {
  it('adopts a Job that already exists, without restarting it', async () => {
    const sim = spoke();
    await sim.createJob(spokeJob('a').runtimeSeconds(600).obj());
    clock.advance(5 * MIN);
    expect(await sim.createJob(spokeJob('a').runtimeSeconds(600).obj())).toBe('adopted');
    expect(await sim.listJobs()).toHaveLength(1);
    clock.advance(5 * MIN);
    expect(await statusOf(sim, 'a')).toEqual({ phase: 'Succeeded', start: 0, end: 10 });
    expect(await sim.createJob(spokeJob('a').obj())).toBe('adopted');
  });

  it('refuses, for good, a Job whose name another job\'s Job holds, and leaves that Job alone', async () => {
    const sim = spoke();
    await sim.createJob(spokeJob('x').jobName('x-g2').obj());
    await expectAdapterError(sim.createJob(spokeJob('x-g2').obj()), false, /Job x-g2 already exists on cluster carbon-kr and belongs to CASPIAN job "x", not to "x-g2"/);
    expect((await sim.listJobs()).map((j) => [j.jobId, j.jobName])).toEqual([['x', 'x-g2']]);
  });

  it('refuses, for good, a Job larger than the whole cluster', async () => {
    const sim = spoke(4, 16, 1);
    for (const request of [spokeJob('cpu').cpu(5).obj(), spokeJob('mem').memGb(17).obj(), spokeJob('gpu').gpu(2).obj()]) {
      await expectAdapterError(sim.createJob(request), false, new RegExp(`Job ${request.jobName} requests more than the FAST pool of cluster carbon-kr has`));
    }
    expect(await sim.listJobs()).toEqual([]);
  });
});

describe('worker pools', () => {
  const pools = [
    { ...WHOLE_CLUSTER_POOL, share: 0.5 },
    { name: 'ECO' as const, share: 0.5, speedFactor: 1.5, powerFactor: 0.6, nodeSelector: { 'caspian.io/pool': 'eco' } },
  ];

  it('runs a Job on the pool it names: ECO waits for room in ECO while FAST has room', async () => {
    const sim = new SimulatedSpoke('carbon-kr', { cpu: 8, memGb: 32, gpu: 0 }, clock, pools);
    await sim.createJob(spokeJob('eco-1').cpu(4).runtimeSeconds(600).pool('ECO').obj());
    await sim.createJob(spokeJob('eco-2').cpu(4).runtimeSeconds(600).pool('ECO').obj());
    await sim.createJob(spokeJob('fast').cpu(4).runtimeSeconds(600).pool('FAST').obj());
    expect(await statusOf(sim, 'eco-1')).toEqual({ phase: 'Running', start: 0 });
    expect(await statusOf(sim, 'eco-2')).toEqual({ phase: 'Pending' });
    expect(await statusOf(sim, 'fast')).toEqual({ phase: 'Running', start: 0 });
    clock.advance(10 * MIN);
    expect(await statusOf(sim, 'eco-2')).toEqual({ phase: 'Running', start: 10 });
  });

  it('refuses, for good, a Job larger than its pool or naming a pool the cluster lacks', async () => {
    const sim = new SimulatedSpoke('carbon-kr', { cpu: 8, memGb: 32, gpu: 0 }, clock, pools);
    await expectAdapterError(sim.createJob(spokeJob('big').cpu(5).pool('ECO').obj()), false, /requests more than the ECO pool of cluster carbon-kr has/);
    const fastOnly = spoke(8, 32, 0);
    await expectAdapterError(fastOnly.createJob(spokeJob('eco').pool('ECO').obj()), false, /cluster carbon-kr has no ECO pool/);
  });
});

describe('deleteJob', () => {
  it('deletes a Job, and deleting an absent one is fine', async () => {
    const sim = spoke();
    await sim.createJob(spokeJob('a').obj());
    await sim.deleteJob('a', 'a');
    await sim.deleteJob('a', 'a');
    await sim.deleteJob('never-was', 'never-was');
    expect(await sim.listJobs()).toEqual([]);
  });

  it('frees the room of a running Job at once: a queued Job starts at the deletion', async () => {
    const sim = spoke(4);
    await sim.createJob(spokeJob('a').cpu(4).runtimeSeconds(3600).obj());
    await sim.createJob(spokeJob('b').cpu(4).runtimeSeconds(600).obj());
    clock.advance(10 * MIN);
    await sim.deleteJob('a', 'a');
    clock.advance(5 * MIN);
    expect(await statusOf(sim, 'b')).toEqual({ phase: 'Running', start: 10 });
    clock.advance(5 * MIN);
    expect(await statusOf(sim, 'b')).toEqual({ phase: 'Succeeded', start: 10, end: 20 });
  });

  it('lets a Job be created again under a deleted name', async () => {
    const sim = spoke();
    await sim.createJob(spokeJob('a').obj());
    clock.advance(MIN);
    await sim.deleteJob('a', 'a');
    expect(await sim.createJob(spokeJob('a').obj())).toBe('created');
    expect(await statusOf(sim, 'a')).toEqual({ phase: 'Running', start: 1 });
  });
});

describe('reachability', () => {
  it('answers nothing while unreachable, with retryable AdapterErrors', async () => {
    const sim = spoke();
    await sim.createJob(spokeJob('a').obj());
    sim.setReachable(false);
    const calls: [string, () => Promise<unknown>][] = [
      ['status', () => sim.status()],
      ['createJob', () => sim.createJob(spokeJob('b').obj())],
      ['listJobs', () => sim.listJobs()],
      ['deleteJob', () => sim.deleteJob('a', 'a')],
    ];
    for (const [name, call] of calls) {
      await expect(call(), name).rejects.toBeInstanceOf(AdapterError);
      await expectAdapterError(call(), true, /cluster carbon-kr is not reachable/);
    }
  });

  it('keeps running its Jobs through an outage and shows them when it answers again', async () => {
    const sim = spoke();
    await sim.createJob(spokeJob('a').runtimeSeconds(600).obj());
    sim.setReachable(false);
    clock.advance(20 * MIN);
    sim.setReachable(true);
    expect(await statusOf(sim, 'a')).toEqual({ phase: 'Succeeded', start: 0, end: 10 });
    expect((await sim.listJobs()).map((j) => j.jobName)).toEqual(['a']);
  });
});
