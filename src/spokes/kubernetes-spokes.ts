import { z } from 'zod';
import type { ClusterInfo } from '../domain/cluster.js';
import { DNS_1123_LABEL, INT32_MAX } from '../domain/kubernetes-names.js';
import { kubeconfigForContext, loadKubeconfig } from './kubeconfig.js';
import { KUBERNETES_SPOKE_DEFAULTS, KubernetesSpoke, type KubernetesSpokeDeps } from './kubernetes-spoke.js';
import type { SpokeClient } from './types.js';

/** The Kubernetes spokes as configured: one kubeconfig, one namespace, one context per cluster. */
export const kubernetesSpokesOptionsSchema = z
  .object({
    /** Kubeconfig file; neither this nor `kubeconfigYaml` means kubectl's default (`KUBECONFIG`, `~/.kube/config`). */
    kubeconfigPath: z.string().min(1).optional(),
    kubeconfigYaml: z.string().min(1).optional(),
    namespace: z.string().regex(DNS_1123_LABEL, 'must be a DNS-1123 label').default(KUBERNETES_SPOKE_DEFAULTS.namespace),
    clusters: z
      .array(
        z.strictObject({
          /** Cluster name, e.g. `carbon-kr`. */
          name: z.string().min(1),
          /** Grid region, e.g. `KR`. */
          region: z.string().min(1),
          /** Carbon-data zone, e.g. `KR`. */
          zone: z.string().min(1),
          /** Kubeconfig context, e.g. `kind-carbon-kr`. */
          context: z.string().min(1),
        }),
      )
      .min(1)
      .refine((clusters) => new Set(clusters.map((c) => c.name)).size === clusters.length, 'cluster names must be unique'),
    backoffLimit: z.int().min(0).default(KUBERNETES_SPOKE_DEFAULTS.backoffLimit),
    ttlSecondsAfterFinished: z.int().min(0).max(INT32_MAX).default(KUBERNETES_SPOKE_DEFAULTS.ttlSecondsAfterFinished),
    requestTimeoutMs: z.int().positive().default(KUBERNETES_SPOKE_DEFAULTS.requestTimeoutMs),
    listChunkSize: z.int().positive().default(KUBERNETES_SPOKE_DEFAULTS.listChunkSize),
  })
  .strict();

export type KubernetesSpokesOptions = z.input<typeof kubernetesSpokesOptionsSchema>;

/**
 * One `KubernetesSpoke` per configured cluster, each with its own client for its kubeconfig context.
 * Throws a ZodError for bad options and a `KubeconfigError` when the kubeconfig cannot be read or lacks a
 * context: both are start-up errors. No cluster is contacted here; an unreachable one is NotReady later.
 */
export function createKubernetesSpokes(options: KubernetesSpokesOptions, deps: KubernetesSpokeDeps = {}): { info: ClusterInfo; client: SpokeClient }[] {
  const parsed = kubernetesSpokesOptionsSchema.parse(options);
  const kubeconfig = loadKubeconfig(parsed);
  return parsed.clusters.map(({ name, region, zone, context }) => ({
    info: { name, region, zone },
    client: new KubernetesSpoke(
      name,
      kubeconfigForContext(kubeconfig, context),
      {
        namespace: parsed.namespace,
        backoffLimit: parsed.backoffLimit,
        ttlSecondsAfterFinished: parsed.ttlSecondsAfterFinished,
        requestTimeoutMs: parsed.requestTimeoutMs,
        listChunkSize: parsed.listChunkSize,
      },
      deps,
    ),
  }));
}
