import { writeFileSync } from 'node:fs';
import { KubeApiDouble } from './server.js';

export interface DoubleCluster {
  name: string;
  region: string;
  zone: string;
  context: string;
  api: KubeApiDouble;
}

export interface DoubleClusters {
  clusters: DoubleCluster[];
  /** A kubeconfig with one context per cluster (`kind-carbon-kr`, ...), CA data and token auth, as kind writes it. */
  kubeconfigYaml: string;
  byName(name: string): DoubleCluster;
  close(): Promise<void>;
}

export const DOUBLE_CLUSTERS = [
  { name: 'carbon-kr', region: 'KR', zone: 'KR' },
  { name: 'carbon-jp', region: 'JP', zone: 'JP-TK' },
  { name: 'carbon-cn', region: 'CN', zone: 'CN' },
] as const;

/** A kubeconfig for the given API servers; the context, cluster and user of each are all named `kind-<name>`. */
export function kubeconfigFor(clusters: readonly { name: string; api: KubeApiDouble }[], currentContext?: string): string {
  const ca = (api: KubeApiDouble) => Buffer.from(api.caPem).toString('base64');
  const lines = ['apiVersion: v1', 'kind: Config', 'preferences: {}', 'clusters:'];
  for (const c of clusters) lines.push(`- name: kind-${c.name}`, '  cluster:', `    certificate-authority-data: ${ca(c.api)}`, `    server: ${c.api.url}`);
  lines.push('contexts:');
  for (const c of clusters) lines.push(`- name: kind-${c.name}`, '  context:', `    cluster: kind-${c.name}`, `    user: kind-${c.name}`);
  lines.push(`current-context: ${currentContext ?? `kind-${clusters[0]?.name ?? ''}`}`, 'users:');
  for (const c of clusters) lines.push(`- name: kind-${c.name}`, '  user:', `    token: ${c.api.token}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Starts one API server double per cluster (KR, JP, CN by default), each with two Ready worker nodes of
 * 4 cores and 16Gi unless `nodes` is false, and returns them with their kubeconfig.
 */
export async function startDoubleClusters(options: { now?: () => number; nodes?: boolean; clusters?: readonly { name: string; region: string; zone: string }[] } = {}): Promise<DoubleClusters> {
  const specs = options.clusters ?? DOUBLE_CLUSTERS;
  const clusters = await Promise.all(
    specs.map(async (spec) => {
      const api = await new KubeApiDouble({ name: spec.name, now: options.now }).start();
      if (options.nodes ?? true) {
        for (const worker of ['worker', 'worker2']) {
          api.addNode({ name: `${spec.name}-${worker}`, allocatable: { cpu: '4', memory: '16Gi' }, labels: { 'topology.kubernetes.io/region': spec.region } });
        }
      }
      return { ...spec, context: `kind-${spec.name}`, api };
    }),
  );
  return {
    clusters,
    kubeconfigYaml: kubeconfigFor(clusters),
    byName(name) {
      const cluster = clusters.find((c) => c.name === name);
      if (!cluster) throw new Error(`no double cluster ${name}`);
      return cluster;
    },
    close: async () => {
      await Promise.all(clusters.map((c) => c.api.close()));
    },
  };
}

/** Writes the kubeconfig to a file, for clients (kubectl) that read one. */
export function writeKubeconfig(path: string, yaml: string): void {
  writeFileSync(path, yaml, { mode: 0o600 });
}
