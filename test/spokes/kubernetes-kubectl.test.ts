import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobManifest } from '../../src/spokes/job-manifest.js';
import { createKubernetesSpokes } from '../../src/spokes/kubernetes-spokes.js';
import { startDoubleClusters, writeKubeconfig, type DoubleClusters } from '../support/kube-api-double/index.js';
import { spokeJob } from '../support/spoke-job-builder.js';

const run = promisify(execFile);

function findKubectl(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const kubectlPath = findKubectl();
const inCi = process.env.CI === 'true';

/**
 * The double is only worth what it shares with kube-apiserver: the real kubectl must be able to discover
 * it, authenticate with the kubeconfig it writes, and create, list (by label) and delete a Job on it.
 * Outside CI a machine without kubectl skips this; in CI it is an error (`scripts/ensure-tool.sh kubectl kubernetes-client` installs it).
 */
describe.skipIf(!kubectlPath && !inCi)('the API double speaks to the real kubectl', () => {
  let doubles: DoubleClusters;
  let dir: string;
  let kubeconfig: string;

  /** Runs kubectl against a context; resolves with stdout, or with the failure's stderr and exit code. */
  const kubectl = async (context: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await run(kubectlPath ?? 'kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), '--context', context, ...args], { timeout: 30_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(error) };
    }
  };

  beforeAll(async () => {
    if (!kubectlPath) throw new Error('kubectl is not installed: CI=true needs it for this test; run scripts/ensure-tool.sh kubectl kubernetes-client as root');
    doubles = await startDoubleClusters();
    dir = mkdtempSync(join(tmpdir(), 'caspian-kubectl-'));
    kubeconfig = join(dir, 'kubeconfig');
    writeKubeconfig(kubeconfig, doubles.kubeconfigYaml);
  });
  afterAll(async () => {
    await doubles?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('discovers the server and its resources', async () => {
    const version = await kubectl('kind-carbon-kr', 'version', '-o', 'json');
    expect(version.code).toBe(0);
    expect(JSON.parse(version.stdout).serverVersion).toMatchObject({ major: '1', minor: '32', gitVersion: 'v1.32.2' });
    const resources = await kubectl('kind-carbon-kr', 'api-resources', '-o', 'name');
    expect(resources.stdout.split('\n')).toEqual(expect.arrayContaining(['jobs.batch', 'nodes', 'pods']));
    const nodes = await kubectl('kind-carbon-kr', 'get', 'nodes', '-o', 'json');
    expect(JSON.parse(nodes.stdout).items.map((n: { metadata: { name: string } }) => n.metadata.name)).toEqual(['carbon-kr-worker', 'carbon-kr-worker2']);
  });

  it('creates a CASPIAN Job manifest, refuses a second create, lists it by label and deletes it with Background propagation', async () => {
    const manifest = jobManifest({ ...spokeJob('from-kubectl').obj(), region: 'JP' }, { namespace: 'default', backoffLimit: 2, ttlSecondsAfterFinished: 3600 });
    const file = join(dir, 'job.json');
    writeFileSync(file, JSON.stringify(manifest));
    // The double serves no OpenAPI document, which kubectl's client-side validation would download.
    const created = await kubectl('kind-carbon-jp', 'create', '-f', file, '--validate=false');
    expect(created).toMatchObject({ code: 0, stdout: 'job.batch/from-kubectl created\n' });
    const again = await kubectl('kind-carbon-jp', 'create', '-f', file, '--validate=false');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('Error from server (AlreadyExists)');
    expect(again.stderr).toContain('jobs.batch "from-kubectl" already exists');

    const listed = await kubectl('kind-carbon-jp', 'get', 'jobs', '-l', 'app.kubernetes.io/managed-by=caspian,caspian.io/job-id in (from-kubectl,other)', '-o', 'json');
    const items = JSON.parse(listed.stdout).items as { metadata: { name: string; labels: Record<string, string> }; spec: { selector: unknown } }[];
    expect(items.map((j) => j.metadata.name)).toEqual(['from-kubectl']);
    expect(items[0]?.spec.selector).toEqual({ matchLabels: { 'batch.kubernetes.io/controller-uid': expect.any(String) } });
    expect((await kubectl('kind-carbon-jp', 'get', 'jobs', '-l', 'caspian.io/job-id notin (from-kubectl)', '-o', 'name')).stdout).toBe('');
    expect((await kubectl('kind-carbon-kr', 'get', 'jobs', '-o', 'name')).stdout).toBe('');

    // What kubectl made, CASPIAN's client reads, and the other way round.
    const spokes = createKubernetesSpokes({ kubeconfigYaml: doubles.kubeconfigYaml, namespace: 'default', clusters: [{ name: 'carbon-jp', region: 'JP', zone: 'JP-TK', context: 'kind-carbon-jp' }] });
    expect((await spokes[0]?.client.listJobs())?.map((j) => j.jobId)).toEqual(['from-kubectl']);
    await spokes[0]?.client.createJob({ ...spokeJob('from-client').obj(), region: 'JP' });
    await spokes[0]?.client.close();
    expect((await kubectl('kind-carbon-jp', 'get', 'job', 'from-client', '-o', 'jsonpath={.metadata.labels.caspian\\.io/job-id}')).stdout).toBe('from-client');

    const deleted = await kubectl('kind-carbon-jp', 'delete', 'job', 'from-kubectl');
    expect(deleted).toMatchObject({ code: 0, stdout: 'job.batch "from-kubectl" deleted\n' });
    expect(doubles.byName('carbon-jp').api.requests.filter((r) => r.method === 'DELETE').map((r) => r.propagationPolicy)).toEqual(['Background']);
    const gone = await kubectl('kind-carbon-jp', 'get', 'job', 'from-kubectl');
    expect(gone.stderr).toContain('Error from server (NotFound): jobs.batch "from-kubectl" not found');
  });

  it('says Unauthorized for a wrong token', async () => {
    const file = join(dir, 'bad-kubeconfig');
    writeKubeconfig(file, doubles.kubeconfigYaml.replace(doubles.byName('carbon-cn').api.token, 'wrong'));
    const { stderr, code } = await run(kubectlPath ?? 'kubectl', ['--kubeconfig', file, '--cache-dir', join(dir, 'cache-bad'), '--context', 'kind-carbon-cn', 'get', 'jobs'], { timeout: 30_000 }).then(
      (r) => ({ ...r, code: 0 }),
      (e: { stderr: string; code: number }) => e,
    );
    expect(code).toBe(1);
    expect(stderr).toContain('You must be logged in to the server');
  });
});
