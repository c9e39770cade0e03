import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import type { CarbonReading } from '../../src/carbon/types.js';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import type { SpokeJobRequest } from '../../src/spokes/types.js';
import { appWrapper } from '../support/app-wrapper-builder.js';
import { FakeClock } from '../support/fake-clock.js';
import { dispatch, FlatProvider, region, schedule, submit, view } from '../support/flat-hub.js';
import { testHub, type TestHub } from '../support/hub.js';
import { metricValue } from '../support/metric-value.js';
import { tempDirs } from '../support/temp-dir.js';

const START = join(import.meta.dirname, '../../start-caspian.sh');
const tempDir = tempDirs('caspian-fix-edges-');

/**
 * Runs start-caspian.sh from `cwd` against stand-in `node` and `npm` (as test/deploy/start-script-config.test.ts
 * does): nothing is built or started; the stand-in `node` records the hub's cwd and CASPIAN_* environment.
 */
async function startScriptHubEnv(cwd: string, env: Record<string, string>): Promise<Record<string, string>> {
  const dir = tempDir();
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const envFile = join(dir, 'hub-env.txt');
  const write = (name: string, lines: string[]) => {
    writeFileSync(join(bin, name), ['#!/usr/bin/env bash', ...lines, ''].join('\n'));
    chmodSync(join(bin, name), 0o755);
  };
  write('node', [`case "$1" in -p|-e) exec ${JSON.stringify(process.execPath)} "$@" ;; esac`, `{ echo "PWD=$(pwd -P)"; env | grep -E '^(CASPIAN_|KUBECONFIG=)'; } > ${JSON.stringify(envFile)}`, 'exit 0']);
  write('npm', ['exit 0']);
  const base = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !k.startsWith('CASPIAN_') && k !== 'KUBECONFIG' && k !== 'PWD')) as Record<string, string>;
  await promisify(execFile)(START, [], { cwd, env: { ...base, PATH: `${bin}:${process.env.PATH ?? ''}`, ...env }, timeout: 30_000 });
  return Object.fromEntries(
    readFileSync(envFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

const MINUTE = 60_000;
const FAST_AND_ECO = [
  { name: 'FAST', share: 0.5 },
  { name: 'ECO', share: 0.5, speed_factor: 1.5, power_factor: 0.6 },
];

describe('edges of the session-11 fixes', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
  });

  it('a FAST pool scaled down for a dirty grid does not shrink the ECO pool beside it', async () => {
    // KR: 16 cores, half FAST, half ECO; FAST cut to half of itself above 500 gCO2/kWh.
    const clock = new FakeClock();
    const provider = new FlatProvider(clock, { KR: 400 });
    t = await testHub({ regions: [{ ...region('KR', FAST_AND_ECO, 16), fast_scale_down: { threshold_gco2_per_kwh: 500, capacity_factor: 0.5 } }] }, { clock, carbonProvider: provider });
    await t.hub.loops.carbon.runOnce();
    // A 6-core urgent job runs on FAST (8 cores while the grid is clean).
    await submit(t, { job_id: 'fast', cpu: 6, mem_gb: 4, runtime_minutes: 120, deadline_minutes: 600, urgency: 'urgent' });
    expect((await schedule(t)).placed).toEqual([expect.objectContaining({ job_id: 'fast', pool: 'FAST' })]);
    await dispatch(t);
    await dispatch(t);
    expect((await view(t, 'fast')).phase).toBe('Running');

    // The grid turns dirty: FAST is cut to 4 cores for new work, and 'fast' keeps its 6 there. Nothing runs on the
    // ECO nodes: their 8 cores are all free (6 + 8 = 14 of the cluster's 16 free cores).
    clock.advanceMinutes(5);
    provider.values.KR = 600;
    await t.hub.loops.carbon.runOnce();
    await schedule(t);
    expect(await metricValue(t.hub.metrics, 'caspian_pool_capacity', { cluster: 'carbon-kr', pool: 'FAST', resource: 'cpu' })).toBe(6);
    expect(await metricValue(t.hub.metrics, 'caspian_pool_capacity', { cluster: 'carbon-kr', pool: 'ECO', resource: 'cpu' })).toBe(8);
  });

  it('a gate that opens too late for its pool creates no Job for a job re-planned elsewhere meanwhile', async () => {
    const clock = new FakeClock();
    const pools = FAST_AND_ECO.map((p) => ({ name: p.name as 'FAST' | 'ECO', share: p.share, speedFactor: p.speed_factor ?? 1, powerFactor: p.power_factor ?? 1, nodeSelector: {} }));
    const kr = new SimulatedSpoke('carbon-kr', { cpu: 16, memGb: 64, gpu: 0 }, clock, pools);
    const jp = new SimulatedSpoke('carbon-jp', { cpu: 16, memGb: 64, gpu: 0 }, clock, pools);
    const spokes: Spoke[] = [
      { info: { name: 'carbon-kr', region: 'KR', zone: 'KR', pools }, client: kr },
      { info: { name: 'carbon-jp', region: 'JP', zone: 'JP', pools }, client: jp },
    ];
    t = await testHub({ regions: [region('KR', FAST_AND_ECO), region('JP', FAST_AND_ECO)], migration: { network_gco2_per_gb: {} } }, { clock, spokes });
    const store = t.hub.lifecycle.store;
    const planned = (id: string, deadlineMinutes: number) => ({
      ...appWrapper(id).cpu(2).phase('Planned').target('carbon-kr').obj(),
      targetPool: 'ECO' as const,
      submittedAt: clock.now(),
      deadlineAt: clock.now() + deadlineMinutes * MINUTE,
      plannedStartAt: clock.now(),
      updatedAt: clock.now(),
    });
    await store.insert(planned('first', 180));
    // 30 minutes of work: 45 on ECO, past its deadline in 40; 30 on FAST fit.
    await store.insert(planned('late', 40));
    const created: string[] = [];
    const create = kr.createJob.bind(kr);
    vi.spyOn(kr, 'createJob').mockImplementation(async (request: SpokeJobRequest) => {
      created.push(request.jobName);
      // While 'first' is being created, a plan moves 'late' to carbon-jp (the next cycle judges it there).
      if (request.jobName === 'first') await t!.hub.lifecycle.change('late', (cur) => ({ ...cur, targetCluster: 'carbon-jp', targetPool: 'FAST' }));
      return create(request);
    });
    const summary = await t.hub.loops.dispatch.runOnce();
    // "Decided on the listed value: a plan applied since (another pool, another cluster) is left to the next cycle."
    expect(created).toEqual(['first']);
    expect(summary.deleted).toEqual([]);
    expect(await store.get('late')).toMatchObject({ phase: 'Planned', targetCluster: 'carbon-jp' });
  });

  it('a what-if places a job that runs elsewhere even when its first region has no carbon data', async () => {
    /** Carbon for JP only: KR's feed has never answered. */
    class NoKrProvider extends FlatProvider {
      override async current(zone: string): Promise<CarbonReading> {
        if (zone === 'KR') throw new Error('no data for KR');
        return super.current(zone);
      }
      override async forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
        if (zone === 'KR') throw new Error('no data for KR');
        return super.forecast(zone, fromMs, toMs);
      }
    }
    const clock = new FakeClock();
    t = await testHub({ regions: [region('KR'), region('JP')] }, { clock, carbonProvider: new NoKrProvider(clock, { JP: 300 }) });
    await t.hub.loops.carbon.runOnce().catch(() => undefined);
    const answer = (await t.hub.app.inject({ method: 'POST', url: '/hub/whatif', payload: { cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240 } })).json();
    // The schedule of the same answer places it in JP...
    expect(answer.schedule.placed).toEqual([expect.objectContaining({ job_id: 'whatif', region: 'JP' })]);
    // ...and a submission now would run there: the answer must not say it would not run.
    expect(answer).toMatchObject({ placed: true, region: 'JP' });
  });

  /** Answers its status; its Job list times out. */
  class ListFailingSpoke extends SimulatedSpoke {
    override async listJobs(): Promise<never> {
      throw new Error(`list Jobs on ${this.cluster} timed out`);
    }
  }
  /** A hub over KR alone, whose Job list has failed once and whose status has answered since. */
  const listFailedHub = async () => {
    const clock = new FakeClock();
    const spokes: Spoke[] = [{ info: { name: 'carbon-kr', region: 'KR', zone: 'KR' }, client: new ListFailingSpoke('carbon-kr', { cpu: 16, memGb: 64, gpu: 0 }, clock) }];
    t = await testHub({ regions: [region('KR')] }, { clock, spokes });
    await t.hub.loops.dispatch.runOnce();
    // The next status check answers (a schedule cycle, or the next dispatch cycle's refresh).
    await schedule(t);
    return t;
  };

  it('caspian_cluster_ready and clusters_ready are documented as what they now count (a status check answered is not enough)', async () => {
    const hub = await listFailedHub();
    // Its last status check answered...
    const kr = (await hub.hub.app.inject({ method: 'GET', url: '/hub/clusters' })).json().clusters[0];
    expect(kr.checked_at).not.toBeNull();
    // ...yet the gauges say 0, as the plan treats it.
    expect(await metricValue(hub.hub.metrics, 'caspian_cluster_ready', { cluster: 'carbon-kr' })).toBe(0);
    expect(await metricValue(hub.hub.metrics, 'clusters_ready')).toBe(0);
    // Their help still says "whether a spoke cluster answered its last status check": a dashboard reader is told KR answered.
    const help = (name: string) => (hub.hub.metrics.registry.getSingleMetric(name) as unknown as { help: string }).help;
    expect.soft(help('caspian_cluster_ready')).not.toContain('answered its last status check');
    expect.soft(help('clusters_ready')).not.toContain('answered their last status check');
    // Likewise caspian_jobs_outside_plan: it now also counts running jobs the optimizer left out to place others
    // (held, and the plan made again), which its help does not name.
    expect.soft(help('caspian_jobs_outside_plan')).toMatch(/other jobs/);
  });

  it('GET /hub/clusters says why a cluster whose Job list fails is not ready', async () => {
    const hub = await listFailedHub();
    const kr = (await hub.hub.app.inject({ method: 'GET', url: '/hub/clusters' })).json().clusters[0];
    expect(kr.ready).toBe(false);
    expect(kr.message).toEqual(expect.stringContaining('list Jobs'));
  });

  it('start-caspian.sh keeps a CASPIAN_CARBON_FILE list written with a space after each comma readable', async () => {
    // The hub trims each item of the list ("one path, several separated by commas"); the script resolves them first.
    const caller = realpathSync(tempDir());
    mkdirSync(join(caller, 'traces'));
    for (const name of ['kr.csv', 'jp.csv']) writeFileSync(join(caller, 'traces', name), 'zone,datetime,gco2_per_kwh\nKR,2026-01-05T00:00:00Z,400\n');
    const env = await startScriptHubEnv(caller, { CASPIAN_SPOKES: 'simulated', CASPIAN_CARBON_PROVIDER: 'file', CASPIAN_CARBON_FILE: 'traces/kr.csv, traces/jp.csv' });
    const paths = loadConfig(env).carbon.file.path ?? [];
    expect(paths).toHaveLength(2);
    for (const path of paths) expect(existsSync(resolve(env.PWD!, path)), `${path} exists`).toBe(true);
  });
});
