import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testHub, type TestHub } from '../support/hub.js';
import { EXPOSED_SPEC_METRICS } from '../support/spec-metrics.js';

/**
 * The whole hub over real HTTP: a listening server, simulated spokes on a fake clock (so a 30-minute
 * job takes no real time), submissions, a schedule and dispatch cycle, the jobs' lives, and /metrics.
 */
describe('hub end to end', () => {
  let t: TestHub;
  let base: string;

  beforeAll(async () => {
    // The optimizer in its worker thread, as in production.
    t = await testHub({ carbon: { mock: { scenario: 'seed-migration', step_seconds: 300 } } }, { optimize: undefined });
    base = await t.hub.start();
  });
  afterAll(() => t.hub.stop());

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: () => unknown; text: string }> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) };
  }
  const phases = async () => {
    const list = (await call('GET', '/hub/appwrappers')).json() as { items: { job_id: string; phase: string }[] };
    return Object.fromEntries(list.items.map((i) => [i.job_id, i.phase]));
  };

  it('submits, schedules, dispatches, runs to completion and exposes every SPEC metric', async () => {
    expect((await call('GET', '/ready')).status).toBe(200);
    const jobs = [
      { job_id: 'train-a', cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 120 },
      { job_id: 'train-b', cpu: 4, mem_gb: 8, gpu: 1, runtime_minutes: 60, deadline_minutes: 180, affinity_regions: ['JP', 'CN'] },
      { job_id: 'etl-c', cpu: 1, mem_gb: 2, runtime_minutes: 15, deadline_minutes: 60, data_gb: 5 },
    ];
    for (const job of jobs) expect((await call('POST', '/hub/appwrappers', job)).status).toBe(201);
    expect(await phases()).toEqual({ 'train-a': 'Pending', 'train-b': 'Pending', 'etl-c': 'Pending' });

    const schedule = (await call('POST', '/hub/schedule')).json() as { placed: { job_id: string; cluster: string }[]; unschedulable: unknown[] };
    expect(schedule.placed).toHaveLength(3);
    expect(schedule.unschedulable).toEqual([]);
    // T1 of the seed scenario: KR is cleanest; train-b may not run there and takes JP.
    expect(Object.fromEntries(schedule.placed.map((p) => [p.job_id, p.cluster]))).toEqual({ 'train-a': 'carbon-kr', 'train-b': 'carbon-jp', 'etl-c': 'carbon-kr' });
    expect(await phases()).toEqual({ 'train-a': 'Planned', 'train-b': 'Planned', 'etl-c': 'Planned' });

    const dispatch = (await call('POST', '/hub/dispatch')).json() as { created: unknown[] };
    expect(dispatch.created).toHaveLength(3);
    expect(await phases()).toEqual({ 'train-a': 'Dispatched', 'train-b': 'Dispatched', 'etl-c': 'Dispatched' });

    await call('POST', '/hub/dispatch');
    expect(await phases()).toEqual({ 'train-a': 'Running', 'train-b': 'Running', 'etl-c': 'Running' });
    const running = await call('GET', '/metrics');
    expect(running.text).toContain('appwrappers_running 3');

    t.clock.advanceMinutes(15);
    await call('POST', '/hub/dispatch');
    expect(await phases()).toEqual({ 'train-a': 'Running', 'train-b': 'Running', 'etl-c': 'Succeeded' });
    t.clock.advanceMinutes(45);
    await call('POST', '/hub/dispatch');
    expect(await phases()).toEqual({ 'train-a': 'Succeeded', 'train-b': 'Succeeded', 'etl-c': 'Succeeded' });

    const stats = (await call('GET', '/hub/stats')).json() as { appwrappers: { by_phase: Record<string, number> } };
    expect(stats.appwrappers.by_phase.Succeeded).toBe(3);

    const metrics = await call('GET', '/metrics');
    expect(metrics.status).toBe(200);
    for (const name of EXPOSED_SPEC_METRICS) expect(metrics.text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    expect(metrics.text).toContain('appwrappers_total 3');
    expect(metrics.text).toContain('appwrappers_running 0');
    expect(metrics.text).toContain('clusters_total 3');
    expect(metrics.text).toContain('clusters_ready 3');
    expect(metrics.text).toContain('grid_carbon_intensity_gco2_per_kwh{zone="KR"} 400');
    expect(metrics.text).toContain('caspian_appwrappers{phase="Succeeded"} 3');
    expect(metrics.text).toContain('caspian_dispatch_actions_total{cluster="carbon-kr",action="created"} 2');
    expect(metrics.text).toMatch(/caspian_schedule_cycles_total\{outcome="ok"\} 1/);
  });
});
