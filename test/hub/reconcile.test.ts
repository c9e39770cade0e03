import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AppWrapper } from '../../src/domain/app-wrapper.js';
import { ClusterMonitor } from '../../src/hub/cluster-monitor.js';
import { Lifecycle } from '../../src/hub/lifecycle.js';
import { reconcile } from '../../src/hub/reconcile.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { track } from '../support/deferred.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLogger } from '../support/logger.js';
import { metricValue } from '../support/metric-value.js';
import { spokeJob } from '../support/spoke-job-builder.js';

/** Two simulated clusters, a memory store holding `initial`, and the clusters already checked. */
async function world(initial: AppWrapper[]) {
  const clock = new FakeClock();
  const log = captureLogger();
  const metrics = new Metrics({ defaultMetrics: false });
  const kr = new SimulatedSpoke('carbon-kr', { cpu: 16, memGb: 64, gpu: 0 }, clock);
  const jp = new SimulatedSpoke('carbon-jp', { cpu: 16, memGb: 64, gpu: 0 }, clock);
  const clusters = new ClusterMonitor(
    [
      { info: { name: 'carbon-kr', region: 'KR', zone: 'KR' }, client: kr },
      { info: { name: 'carbon-jp', region: 'JP', zone: 'JP-TK' }, client: jp },
    ],
    { metrics, logger: log.logger, clock, timeoutMs: 1000 },
  );
  const store = new MemoryStore({ initial });
  const lifecycle = new Lifecycle({ store, metrics, logger: log.logger, clock });
  const run = async () => {
    await clusters.refresh();
    return reconcile({ lifecycle, clusters, logger: log.logger, metrics, clock, spokeTimeoutMs: 1000, gateLeadMs: 30_000 });
  };
  return { clock, log, kr, jp, store, metrics, clusters, lifecycle, run };
}

const planned = (id: string, cluster: string) => ({ ...appWrapper(id).phase('Planned').target(cluster).obj(), plannedStartAt: Date.UTC(2026, 0, 5) });

describe('reconcile on start', () => {
  it('adopts the Job of an AppWrapper stored as Planned: the hub died between creating it and recording it', async () => {
    const w = await world([{ ...planned('a', 'carbon-kr'), co2EstimateG: 42 }, planned('b', 'carbon-kr')]);
    await w.kr.createJob(spokeJob('a').obj());
    const summary = await w.run();
    expect(summary.adopted).toEqual([{ job_id: 'a', cluster: 'carbon-kr', job_name: 'a' }]);
    expect(await w.store.get('a')).toMatchObject({
      phase: 'Dispatched',
      gateOpen: true,
      placement: { cluster: 'carbon-kr', jobName: 'a', generation: 1, pool: 'FAST', createdAt: w.clock.now(), co2EstimateG: 42 },
    });
    // No Job: still Planned, for the dispatch cycle to open its gate.
    expect((await w.store.get('b'))?.phase).toBe('Planned');
    expect(w.log.messages()).toContain('AppWrapper a: Planned -> Dispatched');
    // Counted and logged as the dispatch cycle's adoptions are: crash recovery shows on the Dispatch outcomes panel.
    expect(await metricValue(w.metrics, 'caspian_dispatch_actions_total', { cluster: 'carbon-kr', action: 'adopted' })).toBe(1);
    expect(w.log.messages()).toContain('Job a found on carbon-kr adopted: its create had not been answered');
  });

  it('logs one summary line: loaded N AppWrappers, adopted M Jobs', async () => {
    const w = await world([planned('a', 'carbon-kr'), appWrapper('p').obj(), appWrapper('q').obj()]);
    await w.kr.createJob(spokeJob('a').obj());
    await w.run();
    const line = w.log.lines.find((l) => String(l.msg).startsWith('reconciled with the spokes'));
    expect(line?.msg).toBe('reconciled with the spokes: loaded 3 AppWrappers, adopted 1 Jobs');
    expect(line).toMatchObject({ loaded: 3, adopted: 1, stale: 0, deleted: 0, unknown: 0, unreachable: [] });
  });

  it('queues for deletion a Job its AppWrapper no longer wants: cancelled, or planned elsewhere or later meanwhile', async () => {
    const cancelled = { ...appWrapper('c').phase('Cancelled').obj(), reason: 'cancelled by request' };
    const later = { ...planned('l', 'carbon-kr'), plannedStartAt: Date.UTC(2026, 0, 5, 3) };
    const w = await world([cancelled, planned('m', 'carbon-jp'), later]);
    await w.kr.createJob(spokeJob('c').obj());
    await w.kr.createJob(spokeJob('m').obj());
    // The gate of 'l' opened and its Job was made; before that was recorded, a plan moved its start 3 hours on.
    await w.kr.createJob(spokeJob('l').obj());
    const summary = await w.run();
    expect(summary.stale).toEqual([
      { job_id: 'c', cluster: 'carbon-kr', job_name: 'c' },
      { job_id: 'm', cluster: 'carbon-kr', job_name: 'm' },
      { job_id: 'l', cluster: 'carbon-kr', job_name: 'l' },
    ]);
    expect(await w.store.get('c')).toMatchObject({ phase: 'Cancelled', staleJobs: [{ cluster: 'carbon-kr', jobName: 'c' }] });
    expect(await w.store.get('m')).toMatchObject({ phase: 'Planned', targetCluster: 'carbon-jp', staleJobs: [{ cluster: 'carbon-kr', jobName: 'm' }] });
    expect(await w.store.get('l')).toMatchObject({ phase: 'Planned', gateOpen: false, staleJobs: [{ cluster: 'carbon-kr', jobName: 'l' }] });
  });

  it('leaves alone the Jobs the store already accounts for, a migration under way, and a live AppWrapper whose Job is gone', async () => {
    const running = appWrapper('r').phase('Running').target('carbon-kr').placement({ cluster: 'carbon-kr', jobName: 'r', generation: 1, pool: 'FAST' }).obj();
    const moving = appWrapper('v').phase('Running').target('carbon-jp').placement({ cluster: 'carbon-kr', jobName: 'v', generation: 1, pool: 'FAST' }).migrating().obj();
    const staleAlready = { ...appWrapper('s').phase('Cancelled').obj(), staleJobs: [{ cluster: 'carbon-jp', jobName: 's' }] };
    const gone = appWrapper('g').phase('Dispatched').target('carbon-jp').placement({ cluster: 'carbon-jp', jobName: 'g', generation: 1, pool: 'FAST' }).obj();
    const initial = [running, moving, staleAlready, gone];
    const w = await world(initial);
    await w.kr.createJob(spokeJob('r').obj());
    await w.kr.createJob(spokeJob('v').obj());
    await w.jp.createJob(spokeJob('v').jobName('v-g2').obj());
    await w.jp.createJob(spokeJob('s').obj());
    const summary = await w.run();
    expect(summary).toMatchObject({ loaded: 4, adopted: [], stale: [], deleted: [], unknown: [] });
    expect(await w.store.list()).toEqual(initial);
  });

  it('deletes a finished Job whose job id no AppWrapper has, and leaves an unfinished one with a warning', async () => {
    const w = await world([]);
    await w.kr.createJob(spokeJob('done').runtimeSeconds(60).obj());
    w.clock.advanceMinutes(2);
    await w.kr.createJob(spokeJob('busy').runtimeSeconds(3600).obj());
    const summary = await w.run();
    expect(summary.deleted).toEqual([{ job_id: 'done', cluster: 'carbon-kr', job_name: 'done' }]);
    expect(summary.unknown).toEqual([{ job_id: 'busy', cluster: 'carbon-kr', job_name: 'busy' }]);
    expect((await w.kr.listJobs()).map((j) => j.jobName)).toEqual(['busy']);
    expect(await metricValue(w.metrics, 'caspian_dispatch_actions_total', { cluster: 'carbon-kr', action: 'deleted' })).toBe(1);
    expect(w.log.messages()).toContain('finished Job done of an unknown AppWrapper deleted from carbon-kr');
    expect(w.log.lines).toContainEqual(expect.objectContaining({ level: 40, msg: expect.stringContaining('Job busy on carbon-kr carries our label but no AppWrapper "busy" exists') }));
  });

  it('counts a failed delete of a finished Job no AppWrapper has as a failed dispatch action, and logs it', async () => {
    const w = await world([]);
    await w.kr.createJob(spokeJob('done').runtimeSeconds(60).obj());
    w.clock.advanceMinutes(2);
    w.kr.deleteJob = async () => {
      throw new Error('connection reset');
    };
    const summary = await w.run();
    expect(summary.deleted).toEqual([]);
    expect(await metricValue(w.metrics, 'caspian_dispatch_actions_total', { cluster: 'carbon-kr', action: 'failed' })).toBe(1);
    expect(summary.undeleted).toEqual([{ job_id: 'done', cluster: 'carbon-kr', job_name: 'done' }]);
    expect(w.log.lines).toContainEqual(expect.objectContaining({ level: 40, msg: 'deleting finished Job done of an unknown AppWrapper failed; no more are deleted from carbon-kr until the next start' }));
  });

  it('skips a cluster that does not answer, naming it, and changes none of its AppWrappers', async () => {
    const w = await world([planned('a', 'carbon-jp'), planned('b', 'carbon-kr')]);
    await w.jp.createJob(spokeJob('a').obj());
    await w.kr.createJob(spokeJob('b').obj());
    w.jp.setReachable(false);
    const summary = await w.run();
    expect(summary.unreachable).toEqual(['carbon-jp']);
    expect(summary.adopted.map((j) => j.job_id)).toEqual(['b']);
    expect((await w.store.get('a'))?.phase).toBe('Planned');
  });
});

describe('reconcile at start with a spoke that lists its Jobs and then stops answering', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives up deleting on that spoke after one timed-out call instead of waiting out a time-out per leftover Job', async () => {
    const SPOKE_TIMEOUT_MS = 10_000;
    const w = await world([]);
    // Twenty finished Jobs of AppWrappers forgotten after their retention, on KR.
    for (let i = 0; i < 20; i++) await w.kr.createJob(spokeJob(`old-${i}`).runtimeSeconds(60).obj());
    w.clock.advanceMinutes(2);
    // JP holds the Job of a job the store has as Planned (the hub died between creating it and recording it).
    await w.store.insert({ ...appWrapper('p').phase('Planned').target('carbon-jp').obj(), plannedStartAt: w.clock.now() });
    await w.jp.createJob(spokeJob('p').obj());
    // KR's list answers; from then on its API hangs (every delete waits until the call's time-out).
    const deletes = vi.spyOn(w.kr, 'deleteJob').mockImplementation(() => new Promise<boolean>(() => undefined));
    await w.clusters.refresh();

    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const run = track(reconcile({ lifecycle: w.lifecycle, clusters: w.clusters, logger: w.log.logger, metrics: w.metrics, clock: w.clock, spokeTimeoutMs: SPOKE_TIMEOUT_MS, gateLeadMs: 30_000 }));
    // The hub does not listen until reconcile is done: KR costs it one time-out, not one per Job.
    await vi.advanceTimersByTimeAsync(SPOKE_TIMEOUT_MS + 1);
    expect(run.done).toBe(true);
    const summary = await run.promise;
    expect(deletes).toHaveBeenCalledTimes(1);
    expect(summary.deleted).toEqual([]);
    expect(summary.undeleted).toHaveLength(20);
    // JP, after KR in the loop, is still reconciled.
    expect(summary.adopted).toEqual([{ job_id: 'p', cluster: 'carbon-jp', job_name: 'p' }]);
    expect((await w.store.get('p'))?.phase).toBe('Dispatched');
  });
});
