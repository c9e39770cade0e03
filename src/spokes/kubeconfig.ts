import { KubeConfig } from '@kubernetes/client-node';
import { delimiter } from 'node:path';
import { errorMessage } from '../domain/errors.js';

/** The kubeconfig cannot serve the configured clusters: a start-up error, never retried. */
export class KubeconfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface KubeconfigSource {
  /**
   * A kubeconfig file, or several joined by the path delimiter (`:`; `;` on Windows) as in `KUBECONFIG`,
   * merged as kubectl merges them. Relative certificate paths in a file resolve against its folder.
   */
  kubeconfigPath?: string;
  /** A kubeconfig's YAML text; takes precedence over the path. */
  kubeconfigYaml?: string;
}

/** Loads the kubeconfig from the YAML, the file(s), or else where kubectl would look (`KUBECONFIG`, `~/.kube/config`). */
export function loadKubeconfig(source: KubeconfigSource): KubeConfig {
  if (source.kubeconfigYaml === undefined && source.kubeconfigPath !== undefined) {
    // kubectl skips the empty entries of a list (`a.yaml::b.yaml`).
    const files = source.kubeconfigPath.split(delimiter).filter(Boolean);
    if (files.length === 0) throw new KubeconfigError(`the kubeconfig path "${source.kubeconfigPath}" names no file`);
    return loadFiles(files);
  }
  const config = new KubeConfig();
  const from = source.kubeconfigYaml !== undefined ? 'the given kubeconfig YAML' : 'the default kubeconfig';
  try {
    if (source.kubeconfigYaml !== undefined) config.loadFromString(source.kubeconfigYaml);
    else config.loadFromDefault();
  } catch (error) {
    throw new KubeconfigError(`cannot load ${from}: ${errorMessage(error)}`, { cause: error });
  }
  return config;
}

/** `have`, then the items of `add` whose name `have` lacks: the first to define a name keeps it. */
function firstOfName<T extends { name: string }>(have: readonly T[], add: readonly T[]): T[] {
  return [...have, ...add.filter((item) => !have.some((h) => h.name === item.name))];
}

/**
 * Merges kubeconfig files by kubectl's rules: the first file to define a cluster, user or context name
 * wins it, and so does the first to set the current context. Unlike kubectl, a file that cannot be read
 * is refused rather than skipped: a mistyped path would otherwise surface only as a missing context.
 */
function loadFiles(files: readonly string[]): KubeConfig {
  const merged = new KubeConfig();
  merged.loadFromOptions({ clusters: [], users: [], contexts: [], currentContext: undefined });
  for (const file of files) {
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (error) {
      throw new KubeconfigError(`cannot load ${file}: ${errorMessage(error)}`, { cause: error });
    }
    merged.loadFromOptions({
      clusters: firstOfName(merged.clusters, one.clusters),
      users: firstOfName(merged.users, one.users),
      contexts: firstOfName(merged.contexts, one.contexts),
      currentContext: merged.currentContext || one.currentContext,
    });
  }
  return merged;
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
