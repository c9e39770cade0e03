import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CarbonProvider, CarbonReading } from '../../src/carbon/types.js';
import { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';
import { metricSamples, metricValue } from '../support/metric-value.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

/** KR 500 and CN 900 throughout; JP 100 for the first quarter of an hour, then 300. No forecast: plans hold the current value. */
class StepProvider implements CarbonProvider {
  readonly name = 'step';
  constructor(private readonly clock: FakeClock) {}
  async current(zone: string): Promise<CarbonReading> {
    const now = this.clock.now();
    const gco2PerKwh = zone === 'JP-TK' ? (now < T0 + 15 * MIN ? 100 : 300) : zone === 'KR' ? 500 : 900;
    return { zone, at: now, gco2PerKwh, source: this.name, kind: 'measured' };
  }
  async forecast(): Promise<CarbonReading[]> {
    return [];
  }
}

describe('carbon accounting in the hub, end to end', () => {
  let t: TestHub;
  beforeEach(async () => {
    const clock = new FakeClock(T0);
    t = await testHub({}, { clock, carbonProvider: new StepProvider(clock) });
    await t.hub.loops.carbon.runOnce();
  });
  afterEach(() => t.hub.stop());

  const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) => t.hub.app.inject({ method, url, ...(payload && { payload }) });
  /** Moves the clock on in steps of 5 minutes, refreshing carbon data at each, as the carbon loop would. */
  async function advanceMinutes(minutes: number): Promise<void> {
    for (let m = 0; m < minutes; m += 5) {
      t.clock.advanceMinutes(Math.min(5, minutes - m));
      await t.hub.loops.carbon.runOnce();
    }
  }

  it('accounts a job cancelled while Dispatched whose Job had started unseen (no cycle read it running): the cancel reads it first', async () => {
    expect((await inject('POST', '/hub/appwrappers', { job_id: 'unseen', cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240, affinity_regions: ['KR'], urgency: 'urgent' })).statusCode).toBe(201);
    await inject('POST', '/hub/schedule');
    // One dispatch creates the Job, which starts at once; the next would read it running.
    await inject('POST', '/hub/dispatch');
    await advanceMinutes(10);
    const cancelled = (await inject('DELETE', '/hub/appwrappers/unseen')).json();
    // KR 00:00-00:10, as for a job seen running: 0.061568 kW x (1/6) h x 500 = 5.131 g.
    expect(cancelled).toMatchObject({ phase: 'Cancelled', started_at: new Date(T0).toISOString(), carbon: { actual_g: 5.131, basis: 'measured' } });
    expect(t.log.messages()).toContain('carbon account of unseen: 5.131 g actual, 0 g saved (measured)');
  });

  it('refuses (409) the cancel of a Dispatched job whose Job finished unseen, and records its outcome and account instead', async () => {
    expect((await inject('POST', '/hub/appwrappers', { job_id: 'quick', cpu: 2, mem_gb: 4, runtime_minutes: 1, deadline_minutes: 240, affinity_regions: ['KR'], urgency: 'urgent' })).statusCode).toBe(201);
    await inject('POST', '/hub/schedule');
    // The cycle creates the Job, which starts at once and succeeds a minute later, before any cycle reads it.
    await inject('POST', '/hub/dispatch');
    t.clock.advance(90_000);
    await t.hub.loops.carbon.runOnce();
    const cancel = await inject('DELETE', '/hub/appwrappers/quick');
    expect(cancel.statusCode).toBe(409);
    // KR 00:00-00:01: 0.061568 kW x (1/60) h x 500 = 0.513 g.
    expect((await inject('GET', '/hub/appwrappers/quick')).json()).toMatchObject({ phase: 'Succeeded', carbon: { actual_g: 0.513 } });
  });

  it('accounts a job that ran to completion and one cancelled while running, in the API, the report and the counters', async () => {
    // 2 cores x 30 W + 4 GB x 0.392 W = 61.568 W on FAST (the default pools).
    expect((await inject('POST', '/hub/appwrappers', { job_id: 'clean', cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240, affinity_regions: ['KR', 'JP'] })).statusCode).toBe(201);
    expect((await inject('POST', '/hub/appwrappers', { job_id: 'stopped', cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240, affinity_regions: ['KR'], urgency: 'urgent' })).statusCode).toBe(201);
    await inject('POST', '/hub/schedule');
    const plan = (await inject('GET', '/hub/appwrappers')).json().items.map((i: { job_id: string; target_cluster: string; planned_start: string }) => [i.job_id, i.target_cluster, i.planned_start]);
    expect(plan).toEqual([
      ['clean', 'carbon-jp', new Date(T0).toISOString()],
      ['stopped', 'carbon-kr', new Date(T0).toISOString()],
    ]);
    await inject('POST', '/hub/dispatch');
    await inject('POST', '/hub/dispatch');
    expect((await inject('GET', '/hub/appwrappers?phase=Running')).json().count).toBe(2);

    await advanceMinutes(10);
    expect((await inject('DELETE', '/hub/appwrappers/stopped')).statusCode).toBe(200);
    await advanceMinutes(20);
    await inject('POST', '/hub/dispatch');

    const clean = (await inject('GET', '/hub/appwrappers/clean')).json();
    expect(clean).toMatchObject({ phase: 'Succeeded', urgency: 'normal', pool: 'FAST', carbon: { basis: 'measured' } });
    // Actual, JP 00:00-00:30: 0.061568 kW x (0.25 h x 100 + 0.25 h x 300) = 6.1568 g; energy 0.030784 kWh.
    // Counterfactual, KR (first of its affinity) 00:00-00:30: 0.061568 kW x 0.5 h x 500 = 15.392 g. Saved 9.2352 g.
    expect(clean.carbon.actual_g).toBeCloseTo(6.157, 3);
    expect(clean.carbon.counterfactual_g).toBeCloseTo(15.392, 3);
    expect(clean.carbon.saved_g).toBeCloseTo(9.235, 3);
    expect(clean.carbon.energy_kwh).toBeCloseTo(0.030784, 6);
    // Planned: the plan saw JP at 100 for the whole run, 0.061568 kW x 0.5 h x 100 = 3.0784 g (accounts keep 3 decimals).
    expect(clean.co2_estimate_g).toBeCloseTo(3.0784, 6);
    expect(clean.carbon.planned_g).toBe(3.078);

    const stopped = (await inject('GET', '/hub/appwrappers/stopped')).json();
    // KR 00:00-00:10: 0.061568 kW x (1/6) h x 500 = 5.131 g; the same work at submission in KR is the same run: saved 0.
    expect(stopped).toMatchObject({ phase: 'Cancelled', urgency: 'urgent', carbon: { actual_g: 5.131, counterfactual_g: 5.131, saved_g: 0, basis: 'measured' } });

    const report = (await inject('GET', '/hub/report')).json();
    expect(report.totals).toMatchObject({ jobs: 2, actual_g: 11.288, saved_g: 9.235 });
    expect(report.by_cluster.map((g: { cluster: string; jobs: number }) => [g.cluster, g.jobs])).toEqual([
      ['carbon-jp', 1],
      ['carbon-kr', 1],
    ]);
    expect(report.by_urgency.map((g: { urgency: string }) => g.urgency)).toEqual(['urgent', 'normal']);
    expect(report.by_day).toEqual([expect.objectContaining({ day: '2026-01-05', jobs: 2 })]);

    const metrics = t.hub.metrics;
    expect(await metricValue(metrics, 'caspian_job_co2_grams_total', { cluster: 'carbon-jp', pool: 'FAST', urgency: 'normal' })).toBeCloseTo(6.157, 3);
    expect(await metricValue(metrics, 'caspian_job_co2_grams_total', { cluster: 'carbon-kr', pool: 'FAST', urgency: 'urgent' })).toBeCloseTo(5.131, 3);
    expect(await metricValue(metrics, 'caspian_co2_saved_grams_total', { cluster: 'carbon-jp', urgency: 'normal' })).toBeCloseTo(9.235, 3);
    expect(await metricValue(metrics, 'caspian_co2_saved_grams_total', { cluster: 'carbon-kr', urgency: 'urgent' })).toBe(0);
    expect((await metricSamples(metrics, 'caspian_co2_saved_negative_grams_total')).every((s) => s.value === 0)).toBe(true);
    expect(t.log.messages()).toEqual(expect.arrayContaining(['carbon account of clean: 6.157 g actual, 9.235 g saved (measured)']));
  });
});
