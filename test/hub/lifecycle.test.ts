import { beforeEach, describe, expect, it } from 'vitest';
import type { AppWrapper, JobSpec, Phase } from '../../src/domain/app-wrapper.js';
import { ConflictError, NotFoundError } from '../../src/domain/errors.js';
import { Lifecycle } from '../../src/hub/lifecycle.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLogger, type CapturedLogger } from '../support/logger.js';
import { metricValue } from '../support/metric-value.js';

let clock: FakeClock;
let store: MemoryStore;
let metrics: Metrics;
let log: CapturedLogger;
let lifecycle: Lifecycle;

const spec: JobSpec = { cpu: 2, memGb: 4, gpu: 0, runtimeMinutes: 30, deadlineMinutes: 120, dataGb: 1, affinityRegions: [], urgency: 'normal', checkpointing: true };

beforeEach(() => {
  clock = new FakeClock();
  store = new MemoryStore();
  metrics = new Metrics({ defaultMetrics: false });
  log = captureLogger();
  lifecycle = new Lifecycle({ store, metrics, logger: log.logger, clock });
});

function transitions(from: Phase | 'new', to: Phase): Promise<number | undefined> {
  return metricValue(metrics, 'caspian_phase_transitions_total', { from, to });
}

function transitionLines(): string[] {
  return log.messages().filter((m) => / -> /.test(m));
}

function moveTo(phase: Phase, extra: Partial<AppWrapper> = {}): (cur: AppWrapper) => AppWrapper {
  return (cur) => ({ ...cur, ...extra, phase });
}

describe('submit', () => {
  it('stores a Pending AppWrapper stamped with now and its deadline, counts it and logs it', async () => {
    const now = clock.now();
    const aw = await lifecycle.submit('job-1', spec);
    const want: AppWrapper = {
      jobId: 'job-1',
      spec,
      submittedAt: now,
      deadlineAt: now + 120 * 60_000,
      phase: 'Pending',
      gateOpen: false,
      migrating: false,
      staleJobs: [],
      metadata: {},
      updatedAt: now,
    };
    expect(aw).toEqual(want);
    expect(await store.get('job-1')).toEqual(want);
    expect(lifecycle.store).toBe(store);
    expect(await metricValue(metrics, 'appwrappers_total')).toBe(1);
    expect(await transitions('new', 'Pending')).toBe(1);
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({ msg: 'AppWrapper submitted', jobId: 'job-1', cpu: 2, memGb: 4, gpu: 0, deadlineMinutes: 120 });
  });

  it('rejects a duplicate id with ConflictError and counts and logs nothing more', async () => {
    await lifecycle.submit('job-1', spec);
    await expect(lifecycle.submit('job-1', { ...spec, cpu: 8 })).rejects.toBeInstanceOf(ConflictError);
    expect((await store.get('job-1'))?.spec.cpu).toBe(2);
    expect(await metricValue(metrics, 'appwrappers_total')).toBe(1);
    expect(await transitions('new', 'Pending')).toBe(1);
    expect(log.lines).toHaveLength(1);
  });
});

describe('change', () => {
  it('logs "AppWrapper x: A -> B" exactly once per phase change and counts it', async () => {
    await lifecycle.submit('a', spec);
    const path: { to: Phase; extra?: Partial<AppWrapper> }[] = [
      { to: 'Planned', extra: { targetCluster: 'carbon-kr' } },
      { to: 'Dispatched' },
      { to: 'Running' },
      { to: 'Dispatched', extra: { targetCluster: 'carbon-jp', migrating: false } },
      { to: 'Running' },
      { to: 'Succeeded' },
    ];
    let from: Phase = 'Pending';
    for (const { to, extra } of path) {
      clock.advance(60_000);
      const before = log.lines.length;
      const stored = await lifecycle.change('a', moveTo(to, extra));
      expect(stored.phase).toBe(to);
      expect(stored.updatedAt).toBe(clock.now());
      const lines = log.lines.slice(before);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 30, msg: `AppWrapper a: ${from} -> ${to}`, jobId: 'a', from, to, cluster: stored.targetCluster });
      from = to;
    }
    expect(transitionLines()).toEqual([
      'AppWrapper a: Pending -> Planned',
      'AppWrapper a: Planned -> Dispatched',
      'AppWrapper a: Dispatched -> Running',
      'AppWrapper a: Running -> Dispatched',
      'AppWrapper a: Dispatched -> Running',
      'AppWrapper a: Running -> Succeeded',
    ]);
    const counted: [Phase, Phase, number][] = [
      ['Pending', 'Planned', 1],
      ['Planned', 'Dispatched', 1],
      ['Dispatched', 'Running', 2],
      ['Running', 'Dispatched', 1],
      ['Running', 'Succeeded', 1],
    ];
    for (const [f, t, n] of counted) expect(await transitions(f, t), `${f} -> ${t}`).toBe(n);
  });

  it('writes a change within a phase, stamping updatedAt, without logging or counting a transition', async () => {
    await lifecycle.submit('a', spec);
    await lifecycle.change('a', moveTo('Planned', { targetCluster: 'carbon-kr' }));
    const before = log.lines.length;
    clock.advance(1_000);
    const stored = await lifecycle.change('a', moveTo('Planned', { targetCluster: 'carbon-cn' }));
    expect(stored).toMatchObject({ phase: 'Planned', targetCluster: 'carbon-cn', updatedAt: clock.now() });
    expect(log.lines.length).toBe(before);
    expect(await transitions('Planned', 'Planned')).toBeUndefined();
  });

  it('moves updatedAt on with every change, also several within one millisecond (a cycle detects changes by it)', async () => {
    await lifecycle.submit('a', spec);
    const seen = [(await store.get('a'))!.updatedAt];
    for (const cluster of ['carbon-kr', 'carbon-jp', 'carbon-cn']) seen.push((await lifecycle.change('a', moveTo('Planned', { targetCluster: cluster }))).updatedAt);
    expect(seen).toEqual([clock.now(), clock.now() + 1, clock.now() + 2, clock.now() + 3]);
    clock.advance(1_000);
    expect((await lifecycle.change('a', moveTo('Planned', { targetCluster: 'carbon-kr' }))).updatedAt).toBe(clock.now());
  });

  const noOps: { name: string; next: (cur: AppWrapper) => AppWrapper | undefined }[] = [
    { name: 'returning undefined', next: () => undefined },
    { name: 'returning the current value', next: (cur) => cur },
  ];
  for (const { name, next } of noOps) {
    it(`leaves the AppWrapper untouched when next is a no-op (${name})`, async () => {
      await lifecycle.submit('a', spec);
      const before = await store.get('a');
      clock.advance(1_000);
      const stored = await lifecycle.change('a', next);
      expect(stored).toEqual(before);
      expect(await store.get('a')).toEqual(before);
      expect(stored.updatedAt).toBe(before?.updatedAt);
      expect(log.lines).toHaveLength(1);
    });
  }

  const refused: { from: Phase; to: Phase }[] = [
    { from: 'Pending', to: 'Running' },
    { from: 'Pending', to: 'Dispatched' },
    { from: 'Planned', to: 'Pending' },
    { from: 'Planned', to: 'Running' },
    { from: 'Running', to: 'Planned' },
    { from: 'Succeeded', to: 'Running' },
    { from: 'Failed', to: 'Pending' },
    { from: 'Cancelled', to: 'Planned' },
  ];
  for (const { from, to } of refused) {
    it(`refuses ${from} -> ${to} with ConflictError and writes, logs and counts nothing`, async () => {
      await store.insert(appWrapper('a').phase(from).obj());
      const before = await store.get('a');
      const error = await lifecycle.change('a', moveTo(to)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as Error).message).toBe(`AppWrapper "a" cannot move from ${from} to ${to}`);
      expect(await store.get('a')).toEqual(before);
      expect(log.lines).toEqual([]);
      expect(await transitions(from, to)).toBeUndefined();
    });
  }

  it('rejects an unknown id with NotFoundError', async () => {
    await expect(lifecycle.change('nope', moveTo('Planned'))).rejects.toBeInstanceOf(NotFoundError);
    expect(log.lines).toEqual([]);
  });

  it('logs the stored reason, or the reason given to change when the AppWrapper has none', async () => {
    await lifecycle.submit('a', spec);
    await lifecycle.submit('b', spec);
    await lifecycle.change('a', moveTo('Unschedulable', { reason: 'no cluster has 2 cpu free' }), 'schedule cycle');
    await lifecycle.change('b', moveTo('Cancelled'), 'cancelled by the user');
    expect(log.lines.filter((l) => / -> /.test(String(l.msg))).map((l) => [l.jobId, l.reason])).toEqual([
      ['a', 'no cluster has 2 cpu free'],
      ['b', 'cancelled by the user'],
    ]);
  });

  it('judges the move against the value current at write time, not an older read', async () => {
    await lifecycle.submit('a', spec);
    const results = await Promise.all([
      lifecycle.change('a', (cur) => (cur.phase === 'Pending' ? { ...cur, phase: 'Planned', targetCluster: 'carbon-kr' } : undefined)),
      lifecycle.change('a', (cur) => (cur.phase === 'Pending' ? { ...cur, phase: 'Planned', targetCluster: 'carbon-jp' } : undefined)),
    ]);
    expect(results.map((r) => r.targetCluster)).toEqual(['carbon-kr', 'carbon-kr']);
    expect(transitionLines()).toEqual(['AppWrapper a: Pending -> Planned']);
    expect(await transitions('Pending', 'Planned')).toBe(1);
  });

  it('keeps the phase counts of the store in step with the moves', async () => {
    await lifecycle.submit('a', spec);
    await lifecycle.submit('b', spec);
    await lifecycle.change('a', moveTo('Planned'));
    await lifecycle.change('b', moveTo('Cancelled'));
    const { byPhase } = await store.counts();
    expect([byPhase.Pending, byPhase.Planned, byPhase.Cancelled]).toEqual([0, 1, 1]);
  });
});
