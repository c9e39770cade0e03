import { KubeConfig } from '@kubernetes/client-node';

/** The kubeconfig cannot serve the configured clusters: a start-up error, never retried. */
export class KubeconfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface KubeconfigSource {
  /** A kubeconfig file; relative certificate paths in it resolve against its folder, as kubectl does. */
  kubeconfigPath?: string;
  /** A kubeconfig's YAML text; takes precedence over the path. */
  kubeconfigYaml?: string;
}

/** Loads the kubeconfig from the YAML, the file, or else where kubectl would look (`KUBECONFIG`, `~/.kube/config`). */
export function loadKubeconfig(source: KubeconfigSource): KubeConfig {
  const config = new KubeConfig();
  const from = source.kubeconfigYaml !== undefined ? 'the given kubeconfig YAML' : (source.kubeconfigPath ?? 'the default kubeconfig');
  try {
    if (source.kubeconfigYaml !== undefined) config.loadFromString(source.kubeconfigYaml);
    else if (source.kubeconfigPath !== undefined) config.loadFromFile(source.kubeconfigPath);
    else config.loadFromDefault();
  } catch (error) {
    throw new KubeconfigError(`cannot load ${from}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return config;
}

/**
 * A kubeconfig of its own for one context: `KubeConfig` keeps the current context as state, so clients of
 * several clusters must not share one.
 */
export function kubeconfigForContext(config: KubeConfig, context: string): KubeConfig {
  const ctx = config.getContextObject(context);
  if (!ctx) {
    const known = config.getContexts().map((c) => c.name);
    throw new KubeconfigError(`kubeconfig has no context "${context}" (it has: ${known.length ? known.join(', ') : 'none'})`);
  }
  if (!config.getCluster(ctx.cluster)) throw new KubeconfigError(`kubeconfig context "${context}" names cluster "${ctx.cluster}", which it does not define`);
  const own = new KubeConfig();
  own.loadFromOptions({ clusters: config.clusters, users: config.users, contexts: config.contexts, currentContext: context });
  return own;
}
