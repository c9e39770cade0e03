import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config.js';
import { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';
import { jobStatuses, startDoubleClusters, writeKubeconfig, type DoubleClusters } from '../support/kube-api-double/index.js';

/** `spokes.kind: kubernetes` reaches real Kubernetes API calls: the hub against three API server doubles. */
describe('Kubernetes spokes wired into the hub', () => {
  let doubles: DoubleClusters;
  let kubeconfig: string;
  let t: TestHub | undefined;
  const clock = new FakeClock();

  beforeEach(async () => {
    doubles = await startDoubleClusters({ now: () => clock.now() });
    kubeconfig = join(mkdtempSync(join(tmpdir(), 'caspian-kube-')), 'config');
    writeKubeconfig(kubeconfig, doubles.kubeconfigYaml);
  });
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
    await doubles.close();
  });

  it('dispatches a planned job as a Job on its cluster and follows it to Succeeded', async () => {
    t = await testHub({ spokes: { kind: 'kubernetes', kubeconfig }, carbon: { mock: { scenario: 'seed-migration' } } }, { clock });
    await t.hub.loops.carbon.runOnce();
    await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id: 'train', cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 120 } });

    const summary = (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json();
    expect(summary.placed).toEqual([expect.objectContaining({ job_id: 'train', cluster: 'carbon-kr' })]);
    const clusters = (await t.hub.app.inject({ method: 'GET', url: '/hub/clusters' })).json().clusters;
    // Two worker nodes of 4 cores and 16Gi in each double.
    expect(clusters[0]).toMatchObject({ name: 'carbon-kr', ready: true, allocatable: { cpu: 8, mem_gb: 32, gpu: 0 } });

    const dispatched = (await t.hub.app.inject({ method: 'POST', url: '/hub/dispatch' })).json();
    expect(dispatched.created).toEqual([{ job_id: 'train', cluster: 'carbon-kr', job_name: 'train', adopted: false }]);
    const job = doubles.byName('carbon-kr').api.job('train') as { metadata: { labels: Record<string, string> } };
    expect(job.metadata.labels['caspian.io/job-id']).toBe('train');
    expect(doubles.byName('carbon-jp').api.jobNames()).toEqual([]);

    doubles.byName('carbon-kr').api.setJobStatus('train', jobStatuses.succeeded(clock.now(), clock.now() + 30 * 60_000));
    const synced = (await t.hub.app.inject({ method: 'POST', url: '/hub/dispatch' })).json();
    expect(synced.synced).toEqual([{ job_id: 'train', phase: 'Succeeded' }]);
  });

  it('reports unschedulable, with a reason, a job larger than every node of every cluster (their sums would take it)', async () => {
    // Each double cluster: two Ready workers of 4 cores and 16Gi. No node can ever run a 6-core pod.
    t = await testHub({ spokes: { kind: 'kubernetes', kubeconfig }, carbon: { mock: { scenario: 'seed-migration' } } }, { clock });
    await t.hub.loops.carbon.runOnce();
    await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id: 'wide', cpu: 6, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 120 } });
    await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id: 'narrow', cpu: 4, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 120 } });

    const summary = (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json();
    expect(summary.placed.map((p: { job_id: string }) => p.job_id)).toEqual(['narrow']);
    const reason = 'larger than every node of its clusters (carbon-kr, carbon-jp, carbon-cn): needs 6 cpu, 4 GB of memory and 0 GPU on one node';
    expect(summary.unschedulable).toEqual([{ job_id: 'wide', reason }]);
    await t.hub.app.inject({ method: 'POST', url: '/hub/dispatch' });
    expect(doubles.clusters.flatMap((c) => c.api.jobNames())).toEqual(['narrow']);
    expect((await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/wide' })).json()).toMatchObject({ phase: 'Unschedulable', reason });
  });

  it('names the kubeconfig it read in its start-up line (a KUBECONFIG in the shell does not override the configured one)', async () => {
    t = await testHub({ spokes: { kind: 'kubernetes', kubeconfig } }, { clock });
    await t.hub.start();
    const listening = t.log.lines.find((l) => l.msg === 'CASPIAN hub listening');
    expect(listening).toMatchObject({ spokes: ['kubernetes', 'kubernetes', 'kubernetes'], kubeconfig });
  });

  it('refuses to start when the kubeconfig lacks a configured context, naming the key', async () => {
    const attempt = testHub({
      spokes: { kind: 'kubernetes', kubeconfig },
      regions: [{ name: 'EU', cluster: 'carbon-eu', context: 'kind-carbon-eu', zone: 'DE', capacity: { cpu: 1, mem_gb: 1 } }],
    });
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(attempt).rejects.toThrow(/spokes\.kubeconfig: .*kind-carbon-eu/);
  });
});
