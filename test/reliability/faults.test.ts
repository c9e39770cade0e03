import { afterEach, describe, expect, it } from 'vitest';
import { MockCarbonProvider } from '../../src/carbon/mock-provider.js';
import type { CarbonProvider, CarbonReading } from '../../src/carbon/types.js';
import type { Spoke } from '../../src/hub/cluster-monitor.js';
import { optimize } from '../../src/optimizer/index.js';
import type { OptimizeFn } from '../../src/scheduler/schedule-cycle.js';
import { SimulatedSpoke } from '../../src/spokes/simulated-spoke.js';
import { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';

/** The mock provider, except that a zone can be made to hang: its calls never answer. */
class HangingProvider implements CarbonProvider {
  readonly name = 'hanging-mock';
  readonly hanging = new Set<string>();
  constructor(private readonly inner: CarbonProvider) {}
  current(zone: string): Promise<CarbonReading> {
    return this.hanging.has(zone) ? new Promise(() => undefined) : this.inner.current(zone);
  }
  forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    return this.hanging.has(zone) ? new Promise(() => undefined) : this.inner.forecast(zone, fromMs, toMs);
  }
}

/**
 * Faults in one part degrade that part only: a spoke that fails then recovers, a solver that throws, a
 * carbon provider that hangs. Throughout, the hub answers, accepts work and keeps scheduling it.
 */
describe('faults stay local', () => {
  let t: TestHub;
  afterEach(() => t.hub.stop());

  it('keeps serving and scheduling through a spoke outage, a throwing solver and a hanging provider', async () => {
    const clock = new FakeClock();
    const spokes: Spoke[] = [
      ['carbon-kr', 'KR', 'KR'],
      ['carbon-jp', 'JP', 'JP-TK'],
      ['carbon-cn', 'CN', 'CN'],
    ].map(([name, region, zone]) => ({ info: { name: name!, region: region!, zone: zone! }, client: new SimulatedSpoke(name!, { cpu: 16, memGb: 64, gpu: 0 }, clock) }));
    const kr = spokes[0]!.client as SimulatedSpoke;
    const provider = new HangingProvider(new MockCarbonProvider(clock, { scenario: 'seed-migration' }));
    let solverBroken = false;
    const solver: OptimizeFn = async (input, options) => {
      if (solverBroken) throw new Error('solver crashed');
      return optimize(input, options);
    };
    t = await testHub({ carbon: { request_timeout_ms: 100 } }, { clock, spokes, carbonProvider: provider, optimize: solver });
    const api = t.hub.app;
    await t.hub.loops.carbon.runOnce();
    let n = 0;
    const submit = async (extra: object = {}) => {
      const res = await api.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id: `job-${++n}`, cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 600, ...extra } });
      expect(res.statusCode).toBe(201);
      return `job-${n}`;
    };
    const serving = async () => {
      expect((await api.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
      expect((await api.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    };
    const schedule = async () => {
      const res = await api.inject({ method: 'POST', url: '/hub/schedule' });
      expect(res.statusCode).toBe(200);
      return res.json() as { solver: string; placed: { job_id: string; cluster: string }[] };
    };

    // 1. The CN provider hangs: the refresh gives up on it, CN keeps its last values, the rest refresh.
    provider.hanging.add('CN');
    expect(await t.hub.loops.carbon.runOnce()).toEqual(['CN']);
    await serving();

    // 2. KR stops answering: work goes elsewhere, the API goes on.
    kr.setReachable(false);
    const first = await submit();
    let plan = await schedule();
    expect(plan.placed).toEqual([expect.objectContaining({ job_id: first })]);
    expect(plan.placed[0]?.cluster).not.toBe('carbon-kr');
    expect((await api.inject({ method: 'POST', url: '/hub/dispatch' })).json().created).toHaveLength(1);
    const krOnly = await submit({ affinity_regions: ['KR'] });
    plan = await schedule();
    expect(plan.placed.map((p) => p.job_id)).not.toContain(krOnly);
    expect((await t.hub.lifecycle.store.get(krOnly))?.phase).toBe('Unschedulable');
    await serving();

    // 3. The solver throws: the same cycle plans with the fallback.
    solverBroken = true;
    const third = await submit();
    plan = await schedule();
    expect(plan.solver).toBe('greedy');
    expect(plan.placed.map((p) => p.job_id)).toContain(third);
    await serving();

    // 4. Everything recovers: KR answers again and takes its job; the provider answers for CN again.
    solverBroken = false;
    kr.setReachable(true);
    provider.hanging.delete('CN');
    expect(await t.hub.loops.carbon.runOnce()).toEqual([]);
    plan = await schedule();
    expect(plan.placed).toContainEqual(expect.objectContaining({ job_id: krOnly, cluster: 'carbon-kr' }));
    const created = (await api.inject({ method: 'POST', url: '/hub/dispatch' })).json().created as { job_id: string }[];
    expect(created.map((c) => c.job_id)).toContain(krOnly);
    await serving();

    const refreshes = await t.hub.metrics.registry.getSingleMetricAsString('caspian_carbon_refreshes_total');
    expect(refreshes).toContain('outcome="error"} 1');
    expect(await t.hub.metrics.registry.getSingleMetricAsString('caspian_optimizer_failures_total')).toContain('caspian_optimizer_failures_total 1');
  });
});
