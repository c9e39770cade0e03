import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import type { ClusterStatus } from '../../src/domain/cluster.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';
import { twoRegions } from '../support/two-regions.js';
import { metricValue } from '../support/metric-value.js';
import type { OptimizeFn } from '../../src/scheduler/schedule-cycle.js';
import { AdapterError } from '../../src/domain/errors.js';
import { tempDirs } from '../support/temp-dir.js';

const tempDir = tempDirs('caspian-migration-edges-');

/** A simulated cluster that reports its kinds of node, as a Kubernetes spoke does. */
class NodeSizedSpoke extends SimulatedSpoke {
  constructor(cluster: string, cpu: number, memGb: number, clock: FakeClock, private readonly nodeSizes: ClusterStatus['nodeSizes']) {
    super(cluster, { cpu, memGb, gpu: 0 }, clock);
  }
  override async status(): Promise<ClusterStatus> {
    return { ...(await super.status()), nodeSizes: this.nodeSizes };
  }
}

describe('migrations end to end', () => {
  let t: TestHub;
  afterEach(() => t?.hub.stop());

  const get = async (id: string) => (await t.hub.app.inject({ method: 'GET', url: `/hub/appwrappers/${id}` })).json();
  const schedule = async () => (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json();
  const dispatch = () => t.hub.loops.dispatch.runOnce();

  it('a running job is not moved to a cluster none of whose nodes can hold its pod', async () => {
    const clock = new FakeClock();
    // KR has 16-core nodes; JP has as many cores in all, but on 2-core nodes: an 8-core pod can never start there.
    const spokes: Spoke[] = [
      { info: { name: 'carbon-kr', region: 'KR', zone: 'KR' }, client: new NodeSizedSpoke('carbon-kr', 32, 64, clock, [{ cpu: 16, memGb: 32, gpu: 0 }]) },
      { info: { name: 'carbon-jp', region: 'JP', zone: 'JP-TK' }, client: new NodeSizedSpoke('carbon-jp', 32, 64, clock, [{ cpu: 2, memGb: 4, gpu: 0 }]) },
    ];
    const regions = [
      { name: 'KR', cluster: 'carbon-kr', context: 'kind-carbon-kr', zone: 'KR', capacity: { cpu: 32, mem_gb: 64 } },
      { name: 'JP', cluster: 'carbon-jp', context: 'kind-carbon-jp', zone: 'JP-TK', capacity: { cpu: 32, mem_gb: 64 } },
    ];
    t = await testHub({ regions, carbon: { mock: { scenario: 'seed-migration', step_seconds: 300 } } }, { clock, spokes });
    await t.hub.loops.carbon.runOnce();
    await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id: 'big', cpu: 8, mem_gb: 4, data_gb: 1, runtime_minutes: 240, deadline_minutes: 600 } });
    // A new job of this size is never planned on JP: larger than every node there.
    expect((await schedule()).placed).toEqual([expect.objectContaining({ job_id: 'big', cluster: 'carbon-kr' })]);
    await dispatch();
    await dispatch();
    expect(await get('big')).toMatchObject({ phase: 'Running', job: { cluster: 'carbon-kr' } });

    // JP becomes much cleaner: moving the running job there would be a move to where its pod never starts.
    clock.advanceMinutes(5);
    await t.hub.loops.carbon.runOnce();
    const second = await schedule();
    expect(second.migrations).toEqual([]);
    expect(await get('big')).toMatchObject({ target_cluster: 'carbon-kr', migrating: false });
  });

  describe('with the plan steered by the test', () => {
    let clock: FakeClock;
    let spokes: Spoke[];
    const sim = (i: number) => spokes[i]?.client as SimulatedSpoke;
    /** The optimizer sends every job to `target.region` at slot 0; the test decides. */
    const target = { region: 'KR', costGco2: 1 };
    const steer: OptimizeFn = async (input) => ({
      plans: input.jobs.map((j) => ({ job_id: j.job_id, region: target.region, pool: 'FAST', start_slot: 0, cost_gco2: target.costGco2, migration_cost_gco2: 150 })),
      co2_estimate_kg: 0, solver_status: 'optimal', migrations: 0, objective_gco2: 0, lower_bound_gco2: null, gap: null, unscheduled: [], solver: 'steered', solve_seconds: 0,
    });
    const submit = (body: Record<string, unknown>) =>
      t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 600, ...body } });

    /** A hub on KR and JP (4 cores each) planned by `steer`; 'm' submitted, planned on KR and running there from the clock's start. */
    async function runningOnKr(body: Record<string, unknown> = {}): Promise<void> {
      const world = twoRegions(4, 16);
      ({ clock, spokes } = world);
      t = await testHub({ regions: world.regions, migration: { network_gco2_per_gb: {} } }, { clock, spokes, optimize: steer });
      await t.hub.loops.carbon.runOnce();
      target.region = 'KR';
      target.costGco2 = 1;
      await submit({ job_id: 'm', ...body });
      await schedule();
      await dispatch();
      await dispatch();
      expect(await get('m')).toMatchObject({ phase: 'Running', job: { cluster: 'carbon-kr', name: 'm' } });
    }

    it('a job requeued off its lost cluster with a move pending does not keep the metadata of the move that never happened', async () => {
      await runningOnKr();
      // A move to JP is decided; KR stops answering before the dispatcher carries it out.
      clock.advanceMinutes(5);
      target.region = 'JP';
      expect((await schedule()).migrations).toHaveLength(1);
      sim(0).setReachable(false);
      await dispatch();
      clock.advanceMinutes(15);
      await t.hub.loops.carbon.runOnce();
      expect((await dispatch()).requeued).toEqual([{ job_id: 'm', cluster: 'carbon-kr' }]);
      expect(await metricValue(t.hub.metrics, 'caspian_migrations_dropped_total', { from_cluster: 'carbon-kr', to_cluster: 'carbon-jp', reason: 'cluster_lost' })).toBe(1);

      // KR answers again and the next plan puts the job back there: it was never moved away from KR.
      sim(0).setReachable(true);
      target.region = 'KR';
      clock.advanceMinutes(1);
      await t.hub.loops.carbon.runOnce();
      await dispatch();
      await schedule();
      await dispatch();
      await dispatch();
      const back = await get('m');
      expect(back).toMatchObject({ phase: 'Running', job: { cluster: 'carbon-kr' } });
      // README: metadata.migrated_from is the cluster the job was last moved away from; a move given up leaves it as it was.
      expect(back.metadata.migrated_from).not.toBe('carbon-kr');
    });

    it('a migration does not adopt a Job that already failed on the target and delete the healthy Job the job runs in', async () => {
      await runningOnKr();
      // T+5: the move to JP is decided; the create makes m-g2 there but its answer is lost (a time-out). That Job
      // then fails on JP (here its deadline is cut to 10 s, standing for a pod that crashes or cannot pull its image).
      clock.advanceMinutes(5);
      target.region = 'JP';
      await schedule();
      const create = sim(1).createJob.bind(sim(1));
      vi.spyOn(sim(1), 'createJob').mockImplementationOnce(async (request) => {
        await create({ ...request, activeDeadlineSeconds: 10 });
        throw new AdapterError(`create Job ${request.jobName} timed out`, true);
      });
      expect((await dispatch()).failed).toHaveLength(1);
      clock.advanceMinutes(1);
      // The hub reads both clusters in the next cycle: m-g2 has failed on JP, m runs on KR.
      expect((await sim(1).listJobs()).map((j) => [j.jobName, j.phase])).toEqual([['m-g2', 'Failed']]);
      expect((await sim(0).listJobs()).map((j) => [j.jobName, j.phase])).toEqual([['m', 'Running']]);
      await dispatch();
      await dispatch();
      // The job was running fine on KR: a dead Job on the target is no reason to kill it and fail the job.
      expect((await sim(0).listJobs()).map((j) => j.jobName)).toEqual(['m']);
      expect((await get('m')).phase).not.toBe('Failed');
    });

    it('a move decided before a restart is not carried out by a hub restarted with migration.allow false', async () => {
      const world = twoRegions(4, 16);
      ({ clock, spokes } = world);
      const dir = tempDir();
      const hub = async (migration: Record<string, unknown>) => {
        const started = await testHub({ store: { kind: 'sqlite', data_dir: dir }, regions: world.regions, migration: { network_gco2_per_gb: {}, ...migration } }, { clock, spokes, optimize: steer });
        await started.hub.start();
        return started;
      };
      t = await hub({});
      target.region = 'KR';
      await submit({ job_id: 'm' });
      await schedule();
      await dispatch();
      await dispatch();
      clock.advanceMinutes(5);
      target.region = 'JP';
      expect((await schedule()).migrations).toHaveLength(1);
      await t.hub.stop();

      // The operator turns migrations off and restarts the hub; its dispatch loop (30 s) ticks before the schedule loop (5 min).
      t = await hub({ allow: false });
      await dispatch();
      // README: migration.allow false: a running job does not change cluster.
      expect(await sim(1).listJobs()).toEqual([]);
      expect(await get('m')).toMatchObject({ job: { cluster: 'carbon-kr', name: 'm' }, migrating: false });
    });
  });
});
