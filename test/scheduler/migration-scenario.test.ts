import { afterEach, describe, expect, it } from 'vitest';
import { testHub, type TestHub } from '../support/hub.js';

/**
 * The seed's migration guide (seed 003): at T1 KR 400, JP 450, CN 550 gCO2/kWh and the job goes to KR;
 * five minutes later KR 700, JP 300, CN 600 and it migrates KR -> JP.
 */
describe('seed migration scenario', () => {
  let t: TestHub;
  afterEach(() => t.hub.stop());

  async function metric(name: string): Promise<string> {
    return t.hub.metrics.registry.getSingleMetricAsString(name);
  }

  it('places the job in KR at T1 and migrates it to JP at T2, with log line, metadata and metrics', async () => {
    t = await testHub({ carbon: { mock: { scenario: 'seed-migration', step_seconds: 300 } } });
    const api = t.hub.app;
    await t.hub.loops.carbon.runOnce();

    // Big enough that moving to JP saves more than the migration charge: 8 cores x 30 W for 4 h.
    const job = { job_id: 'track-migration-1', cpu: 8, mem_gb: 4, data_gb: 10, runtime_minutes: 240, deadline_minutes: 600 };
    expect((await api.inject({ method: 'POST', url: '/hub/appwrappers', payload: job })).statusCode).toBe(201);

    // T1
    const first = (await api.inject({ method: 'POST', url: '/hub/schedule' })).json();
    expect(first.placed).toEqual([expect.objectContaining({ job_id: 'track-migration-1', cluster: 'carbon-kr', planned_start: new Date(t.clock.now()).toISOString() })]);
    expect(first.migrations).toEqual([]);
    const dispatched = (await api.inject({ method: 'POST', url: '/hub/dispatch' })).json();
    expect(dispatched.created).toEqual([{ job_id: 'track-migration-1', cluster: 'carbon-kr', job_name: 'track-migration-1', adopted: false }]);
    await api.inject({ method: 'POST', url: '/hub/dispatch' });
    expect((await api.inject({ method: 'GET', url: '/hub/appwrappers/track-migration-1' })).json()).toMatchObject({ phase: 'Running', target_cluster: 'carbon-kr' });

    // T2, five minutes later
    t.clock.advanceMinutes(5);
    await t.hub.loops.carbon.runOnce();
    const second = (await api.inject({ method: 'POST', url: '/hub/schedule' })).json();
    // 100 gCO2 plan deviation + 5 gCO2/GB x 10 GB from KR to JP (the default network matrix).
    expect(second.migrations).toEqual([{ job_id: 'track-migration-1', from_cluster: 'carbon-kr', to_cluster: 'carbon-jp', data_gb: 10, cost_gco2: 150 }]);
    expect(t.log.messages()).toContain('MIGRATION detected for track-migration-1: carbon-kr -> carbon-jp, data=10.00GB, cost=150.00gCO2');
    // The moved job starts its new Job now, in the summary and in the decision log, not at its first start.
    const now = new Date(t.clock.now()).toISOString();
    expect(second.placed).toEqual([expect.objectContaining({ job_id: 'track-migration-1', cluster: 'carbon-jp', planned_start: now })]);
    const decisions = (await api.inject({ method: 'GET', url: '/hub/decisions?job_id=track-migration-1' })).json().items;
    expect(decisions.at(-1)).toMatchObject({ time: now, cluster: 'carbon-jp', planned_start: now, migration_from: 'carbon-kr', migration_to: 'carbon-jp' });

    const moved = (await api.inject({ method: 'GET', url: '/hub/appwrappers/track-migration-1' })).json();
    expect(moved).toMatchObject({ target_cluster: 'carbon-jp', migrating: true, metadata: { migrated_from: 'carbon-kr', migration_time: (t.clock.now() / 1000).toFixed(3) } });

    const route = '{from_cluster="carbon-kr",to_cluster="carbon-jp"}';
    expect(await metric('migrations_total')).toContain(`migrations_total${route} 1`);
    // 10 GB in bytes, the base unit; Prometheus records it back in GB as migration_data_transferred_gb.
    expect((await metric('caspian_migration_data_transferred_bytes_total')).split('\n')).toContain(`caspian_migration_data_transferred_bytes_total${route} 10000000000`);
    expect((await metric('caspian_migration_cost_gco2_total')).split('\n')).toContain(`caspian_migration_cost_gco2_total${route} 150`);
    expect(await metric('migrations_in_progress')).toContain('migrations_in_progress 1');

    // The dispatcher completes the move: a new Job in JP, then the old one deleted in KR.
    const move = (await api.inject({ method: 'POST', url: '/hub/dispatch' })).json();
    expect(move.created).toEqual([{ job_id: 'track-migration-1', cluster: 'carbon-jp', job_name: 'track-migration-1-g2', adopted: false }]);
    expect(move.deleted).toEqual([{ job_id: 'track-migration-1', cluster: 'carbon-kr', job_name: 'track-migration-1' }]);
    expect(await metric('migrations_in_progress')).toContain('migrations_in_progress 0');
    const after = (await api.inject({ method: 'GET', url: '/hub/appwrappers/track-migration-1' })).json();
    expect(after).toMatchObject({ phase: 'Dispatched', migrating: false, job: { cluster: 'carbon-jp', name: 'track-migration-1-g2', generation: 2 } });

    // A later cycle with the same carbon keeps it where it is: no second migration.
    const third = (await api.inject({ method: 'POST', url: '/hub/schedule' })).json();
    expect(third.migrations).toEqual([]);
    expect(await metric('migrations_total')).toContain(`migrations_total${route} 1`);
  });

  /**
   * Places a big job at T1 and dispatches it (`running`: until its Job runs), then re-plans at T2 after the
   * seed's carbon shift.
   */
  async function replanAfterShift(config: Record<string, unknown>, jobId: string, job: Record<string, unknown> = {}, running = false) {
    t = await testHub({ carbon: { mock: { scenario: 'seed-migration', step_seconds: 300 } }, ...config });
    const api = t.hub.app;
    await t.hub.loops.carbon.runOnce();
    await api.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id: jobId, cpu: 8, mem_gb: 4, data_gb: 10, runtime_minutes: 240, deadline_minutes: 600, ...job } });
    await api.inject({ method: 'POST', url: '/hub/schedule' });
    await api.inject({ method: 'POST', url: '/hub/dispatch' });
    if (running) await api.inject({ method: 'POST', url: '/hub/dispatch' });
    t.clock.advanceMinutes(5);
    await t.hub.loops.carbon.runOnce();
    return (await api.inject({ method: 'POST', url: '/hub/schedule' })).json();
  }

  it('does not migrate when the saving is below the migration charge', async () => {
    const second = await replanAfterShift({ migration: { lambda_plan_dev: 5000 } }, 'stay');
    expect(second.migrations).toEqual([]);
    expect(second.placed).toEqual([expect.objectContaining({ job_id: 'stay', cluster: 'carbon-kr' })]);
    expect(t.log.messages().some((m) => m.startsWith('MIGRATION detected'))).toBe(false);
  });

  it('never moves a live job when migration is not allowed', async () => {
    const second = await replanAfterShift({ migration: { allow: false } }, 'pinned');
    expect(second.migrations).toEqual([]);
    expect(second.placed).toEqual([expect.objectContaining({ job_id: 'pinned', cluster: 'carbon-kr' })]);
  });

  describe('a job that cannot resume elsewhere (checkpointing false)', () => {
    it('is never moved once it runs: moving would start it over', async () => {
      const second = await replanAfterShift({}, 'no-checkpoints', { checkpointing: false }, true);
      expect((await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/no-checkpoints' })).json()).toMatchObject({ phase: 'Running', spec: { checkpointing: false } });
      expect(second.migrations).toEqual([]);
      expect(second.placed).toEqual([expect.objectContaining({ job_id: 'no-checkpoints', cluster: 'carbon-kr' })]);
    });

    it('is moved like any job while its Job has not started', async () => {
      const second = await replanAfterShift({}, 'not-started', { checkpointing: false });
      expect(second.migrations).toEqual([expect.objectContaining({ job_id: 'not-started', from_cluster: 'carbon-kr', to_cluster: 'carbon-jp' })]);
    });

    it('stays where it is when it started running after the plan moved it, and the move is logged as dropped', async () => {
      await replanAfterShift({}, 'raced', { checkpointing: false });
      // This dispatch sees the Job running in KR before it would create the new one in JP.
      const move = (await t.hub.app.inject({ method: 'POST', url: '/hub/dispatch' })).json();
      expect(move.created).toEqual([]);
      expect(move.deleted).toEqual([]);
      const kept = (await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/raced' })).json();
      expect(kept).toMatchObject({ phase: 'Running', target_cluster: 'carbon-kr', migrating: false, job: { cluster: 'carbon-kr', generation: 1 } });
      expect(t.log.messages()).toContain('not moving raced to carbon-jp: it started running on carbon-kr and cannot resume elsewhere (checkpointing false)');
      expect(await metric('migrations_in_progress')).toContain('migrations_in_progress 0');
      expect((await metric('caspian_migrations_dropped_total')).split('\n')).toContain(
        'caspian_migrations_dropped_total{from_cluster="carbon-kr",to_cluster="carbon-jp",reason="cannot_resume"} 1',
      );
      // The next plan knows it runs and keeps it there.
      const third = (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json();
      expect(third.migrations).toEqual([]);
    });
  });
});
