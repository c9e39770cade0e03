import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config.js';
import { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';
import { metricSamples } from '../support/metric-value.js';

const TRACE = join(import.meta.dirname, '../fixtures/carbon/kr-2025-03-hourly.csv');
const KR_ONLY = [{ name: 'KR', cluster: 'carbon-kr', context: 'kind-carbon-kr', zone: 'KR', capacity: { cpu: 16, mem_gb: 64 } }];

/** The configured carbon provider reaches the schedule: a hub on a recorded trace, and one refused at start. */
describe('carbon configuration wired into the hub', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
  });

  it('plans on a trace file, showing the source in /hub/clusters and the metrics', async () => {
    const clock = new FakeClock(Date.UTC(2025, 2, 5, 12, 0, 0));
    t = await testHub({ regions: KR_ONLY, carbon: { provider: 'file', file: { path: TRACE } } }, { clock });
    await t.hub.loops.carbon.runOnce();
    const cluster = (await t.hub.app.inject({ method: 'GET', url: '/hub/clusters' })).json().clusters[0];
    expect(cluster.carbon).toMatchObject({ gco2_per_kwh: expect.any(Number), stale: false });
    expect(cluster.carbon.source).toMatch(/file/);
    await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id: 'a', cpu: 2, mem_gb: 4, runtime_minutes: 60, deadline_minutes: 600 } });
    const summary = (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json();
    expect(summary.placed).toEqual([expect.objectContaining({ job_id: 'a', cluster: 'carbon-kr' })]);
    const source = await t.hub.metrics.registry.getSingleMetricAsString('caspian_carbon_source_info');
    expect(source).toMatch(/caspian_carbon_source_info\{zone="KR",source="[^"]*file[^"]*"\} 1/);
  });

  it('plans every default region on the example trace the README names (examples/carbon-kr-jp-cn.csv)', async () => {
    const example = join(import.meta.dirname, '../../examples/carbon-kr-jp-cn.csv');
    t = await testHub({ carbon: { provider: 'file', file: { path: example } } });
    await t.hub.loops.carbon.runOnce();
    const clusters = (await t.hub.app.inject({ method: 'GET', url: '/hub/clusters' })).json().clusters;
    expect(clusters.map((c: { region: string }) => c.region).sort()).toEqual(['CN', 'JP', 'KR']);
    for (const cluster of clusters) expect(cluster.carbon, cluster.region).toMatchObject({ gco2_per_kwh: expect.any(Number), stale: false, source: expect.stringMatching(/file/) });
  });

  it('starts the fault counters of the configured providers, and the refresh counters of the chain, at 0', async () => {
    t = await testHub({ regions: KR_ONLY, carbon: { provider: 'file', file: { path: TRACE }, fallback: ['mock'] } });
    const faults = await metricSamples(t.hub.metrics, 'caspian_carbon_fetch_errors_total');
    expect(new Set(faults.map((s) => s.labels.provider))).toEqual(new Set(['file', 'mock', 'last-known']));
    // Every reason of each configured provider (timeout, auth, rate_limited, http_4xx, http_5xx, malformed, no_data,
    // units, network, stale); the chain's last known value only goes stale.
    expect(faults).toHaveLength(2 * 10 + 1);
    expect(faults.find((s) => s.labels.provider === 'last-known')?.labels.reason).toBe('stale');
    expect(faults.every((s) => s.value === 0)).toBe(true);
    const refreshes = await metricSamples(t.hub.metrics, 'caspian_carbon_refreshes_total');
    expect(refreshes.map((s) => [s.labels.provider, s.labels.outcome, s.value])).toEqual([
      ['file>mock>last-known', 'ok', 0],
      ['file>mock>last-known', 'error', 0],
    ]);
  });

  it('refuses to start on an unusable trace file, naming the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'caspian-trace-'));
    const file = join(dir, 'bad.csv');
    writeFileSync(file, 'zone,datetime,gco2_per_kwh\nKR,not-a-date,400\n');
    const attempt = testHub({ regions: KR_ONLY, carbon: { provider: 'file', file: { path: file } } });
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(attempt).rejects.toThrow(/carbon\.file\.path: .*bad\.csv/);
  });
});
