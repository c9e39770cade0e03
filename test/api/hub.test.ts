import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { testHub, type TestHub } from '../support/hub.js';

describe('hub API', () => {
  let t: TestHub;
  beforeEach(async () => {
    t = await testHub();
    await t.hub.loops.carbon.runOnce();
  });
  afterEach(() => t.hub.stop());

  const submit = (job_id: string, extra: object = {}) =>
    t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id, cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240, ...extra } });

  it('POST /hub/schedule runs a cycle and returns its summary', async () => {
    await submit('a');
    await submit('b', { affinity_regions: ['CN'] });
    await submit('huge', { cpu: 1000 });
    const res = await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    expect(res.statusCode).toBe(200);
    const summary = res.json();
    expect(summary).toMatchObject({ status: expect.any(String), solver: expect.any(String), jobs_considered: 3, migrations: [], failed: [] });
    expect(summary.placed.map((p: { job_id: string }) => p.job_id).sort()).toEqual(['a', 'b']);
    expect(summary.placed.find((p: { job_id: string }) => p.job_id === 'b').cluster).toBe('carbon-cn');
    expect(summary.unschedulable).toEqual([{ job_id: 'huge', reason: expect.any(String) }]);
    expect(summary.objective_gco2).toBeGreaterThan(0);
    expect(summary.co2_estimate_kg).toBeCloseTo(summary.objective_gco2 / 1000, 9);
    expect(summary.duration_seconds).toBeGreaterThanOrEqual(0);
    const huge = (await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/huge' })).json();
    expect(huge).toMatchObject({ phase: 'Unschedulable', reason: expect.any(String) });
  });

  it('POST /hub/dispatch creates Jobs whose start has come and reports them', async () => {
    await submit('a');
    await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    const planned = (await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/a' })).json();
    t.clock.advance(Math.max(0, Date.parse(planned.planned_start) - t.clock.now()));
    const res = await t.hub.app.inject({ method: 'POST', url: '/hub/dispatch' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ created: [{ job_id: 'a', cluster: planned.target_cluster, job_name: 'a', adopted: false }], deleted: [], failed: [] });
  });

  it('POST /hub/whatif without a job_id answers even when a job named whatif is stored; naming a stored job is 409', async () => {
    const job = { cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240 };
    await submit('whatif');
    const unnamed = await t.hub.app.inject({ method: 'POST', url: '/hub/whatif', payload: job });
    expect(unnamed.statusCode).toBe(200);
    expect(unnamed.json().job_id).not.toBe('whatif');
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/whatif', payload: { ...job, job_id: 'whatif' } })).statusCode).toBe(409);
    expect((await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers' })).json().count).toBe(1);
  });

  it('GET /hub/stats reports phases, clusters with capacity and carbon, and the last cycles', async () => {
    await submit('a');
    await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    await t.hub.app.inject({ method: 'POST', url: '/hub/dispatch' });
    const stats = (await t.hub.app.inject({ method: 'GET', url: '/hub/stats' })).json();
    expect(stats.appwrappers.total).toBe(1);
    expect(stats.appwrappers.by_phase.Pending + stats.appwrappers.by_phase.Planned + stats.appwrappers.by_phase.Dispatched + stats.appwrappers.by_phase.Running).toBe(1);
    expect(stats.clusters_total).toBe(3);
    expect(stats.clusters_ready).toBe(3);
    expect(stats.clusters.map((c: { name: string }) => c.name)).toEqual(['carbon-kr', 'carbon-jp', 'carbon-cn']);
    expect(stats.clusters[0]).toMatchObject({ region: 'KR', zone: 'KR', ready: true, allocatable: { cpu: 16, mem_gb: 64, gpu: 2 }, carbon: { gco2_per_kwh: expect.any(Number), source: 'mock:diurnal', age_seconds: 0, stale: false } });
    expect(stats.carbon_provider).toBe('mock');
    expect(stats.last_schedule.placed).toHaveLength(1);
    expect(stats.last_dispatch).not.toBeNull();
  });

  it('GET /hub/clusters shows a cluster that stopped answering as not ready, and the plan avoids it', async () => {
    const spokes = t.config.regions.map((r) => ({ info: { name: r.cluster, region: r.name, zone: r.zone }, client: new SimulatedSpoke(r.cluster, { cpu: 16, memGb: 64, gpu: 0 }, t.clock) }));
    await t.hub.stop();
    t = await testHub({}, { spokes });
    await t.hub.loops.carbon.runOnce();
    (spokes[0]?.client as SimulatedSpoke).setReachable(false);
    await submit('a', { affinity_regions: ['KR', 'JP'] });
    const summary = (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json();
    expect(summary.placed).toEqual([expect.objectContaining({ job_id: 'a', cluster: 'carbon-jp' })]);
    const clusters = (await t.hub.app.inject({ method: 'GET', url: '/hub/clusters' })).json().clusters;
    expect(clusters[0]).toMatchObject({ name: 'carbon-kr', ready: false, message: 'cluster carbon-kr is not reachable' });
    expect(clusters[1]).toMatchObject({ name: 'carbon-jp', ready: true });
  });

  it('GET /health is ok while the store works; GET /ready needs a ready cluster with carbon data', async () => {
    expect((await t.hub.app.inject({ method: 'GET', url: '/health' })).json()).toEqual({ status: 'ok' });
    const before = await t.hub.app.inject({ method: 'GET', url: '/ready' });
    expect(before.statusCode).toBe(503);
    await t.hub.loops.dispatch.runOnce();
    const after = await t.hub.app.inject({ method: 'GET', url: '/ready' });
    expect(after.statusCode).toBe(200);
    expect(after.json()).toEqual({ ready: true, clusters_ready: ['carbon-kr', 'carbon-jp', 'carbon-cn'] });
  });

  it.each(['/health?ts=1700000000', '/metrics?format=text', '/ready?probe=lb'])('GET %s answers as without the query: probes ignore it', async (url) => {
    await t.hub.loops.dispatch.runOnce();
    expect((await t.hub.app.inject({ method: 'GET', url })).statusCode).toBe(200);
  });

  it('GET /metrics serves the Prometheus exposition', async () => {
    await submit('a');
    const res = await t.hub.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain('appwrappers_total 1');
    expect(res.body).toContain('caspian_appwrappers{phase="Pending"} 1');
    expect(res.body).toMatch(/grid_carbon_intensity_gco2_per_kwh\{zone="KR"\} \d+/);
  });

  it('times every request by route pattern, never by raw URL', async () => {
    await submit('secret-job-id');
    await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/secret-job-id' });
    await t.hub.app.inject({ method: 'GET', url: '/no/such/route' });
    const text = await t.hub.metrics.registry.getSingleMetricAsString('caspian_http_request_duration_seconds');
    expect(text).toContain('caspian_http_request_duration_seconds_count{method="POST",route="/hub/appwrappers",status="201"} 1');
    expect(text).toContain('caspian_http_request_duration_seconds_count{method="GET",route="/hub/appwrappers/:id",status="200"} 1');
    expect(text).toContain('caspian_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1');
    expect(text).not.toContain('secret-job-id');
  });
});

describe('parameters a route does not take', () => {
  let t: TestHub;
  beforeEach(async () => {
    t = await testHub();
    await t.hub.loops.carbon.runOnce();
  });
  afterEach(() => t.hub.stop());

  const submit = (job_id: string) =>
    t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id, cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240 } });
  const phaseOf = async (id: string) => (await t.hub.app.inject({ method: 'GET', url: `/hub/appwrappers/${id}` })).json().phase as string;

  it('POST /hub/dispatch?dry_run=true is refused, naming dry_run, and creates no Job', async () => {
    await submit('a');
    await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    const planned = (await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/a' })).json();
    t.clock.advance(Math.max(0, Date.parse(planned.planned_start) - t.clock.now()));
    const res = await t.hub.app.inject({ method: 'POST', url: '/hub/dispatch?dry_run=true' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'Bad Request', message: expect.stringContaining('dry_run'), details: [{ field: 'dry_run', message: 'unknown field' }] });
    expect(await phaseOf('a')).toBe('Planned');
  });

  it('POST /hub/schedule with a body is refused and plans nothing; DELETE with a query cancels nothing', async () => {
    await submit('a');
    const schedule = await t.hub.app.inject({ method: 'POST', url: '/hub/schedule', payload: { dry_run: true } });
    expect(schedule.statusCode).toBe(400);
    expect(schedule.json().details).toEqual([{ field: 'dry_run', message: 'unknown field' }]);
    const cancel = await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/a?x=1' });
    expect(cancel.statusCode).toBe(400);
    expect(cancel.json().details).toEqual([{ field: 'x', message: 'unknown field' }]);
    expect(await phaseOf('a')).toBe('Pending');
  });

  it.each([
    ['POST', '/hub/appwrappers?dry_run=true', 'dry_run', { job_id: 'q', cpu: 1, mem_gb: 1, runtime_minutes: 5, deadline_minutes: 60 }],
    ['GET', '/hub/appwrappers/a?verbose=1', 'verbose', undefined],
    ['DELETE', '/hub/appwrappers/a?force=true', 'force', undefined],
    ['POST', '/hub/schedule?force=true', 'force', undefined],
    ['POST', '/hub/schedule', 'dry_run', { dry_run: true }],
    ['POST', '/hub/whatif?job_id=x', 'job_id', { cpu: 1, mem_gb: 1, runtime_minutes: 5, deadline_minutes: 60 }],
    ['POST', '/hub/dispatch?dry_run=true', 'dry_run', undefined],
    ['POST', '/hub/dispatch', 'cluster', { cluster: 'carbon-kr' }],
    ['GET', '/hub/clusters?region=KR', 'region', undefined],
    ['GET', '/hub/stats?verbose=1', 'verbose', undefined],
  ] as const)('%s %s is refused with 400 naming %s', async (method, url, field, payload) => {
    await submit('a');
    const res = await t.hub.app.inject({ method, url, ...(payload && { payload }) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'Bad Request', message: expect.stringContaining(field), details: [{ field, message: 'unknown field' }] });
  });
});
