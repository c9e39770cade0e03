import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeconfigError, kubeconfigForContext, loadKubeconfig } from '../../src/spokes/kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'caspian-kubeconfigs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A kubeconfig in a folder of its own, with one cluster, user and context per name, the CA file relative to it. */
function kubeconfig(folder: string, names: string[], server: string, currentContext?: string): string {
  mkdirSync(join(dir, folder), { recursive: true });
  const file = join(dir, folder, 'config');
  const lines = ['apiVersion: v1', 'kind: Config', ...(currentContext ? [`current-context: ${currentContext}`] : [])];
  lines.push('clusters:', ...names.flatMap((n) => [`- name: ${n}`, '  cluster:', `    server: ${server}`, '    certificate-authority: ca.crt']));
  lines.push('users:', ...names.flatMap((n) => [`- name: ${n}`, '  user:', `    token: ${folder}-token`]));
  lines.push('contexts:', ...names.flatMap((n) => [`- name: kind-${n}`, '  context:', `    cluster: ${n}`, `    user: ${n}`]));
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

describe('a kubeconfig path list (KUBECONFIG=a:b, as kubectl reads it)', () => {
  const first = kubeconfig('first', ['carbon-kr', 'shared'], 'https://first.example:6443', 'kind-carbon-kr');
  const second = kubeconfig('second', ['carbon-jp', 'shared'], 'https://second.example:6443', 'kind-carbon-jp');

  it('merges the files: every context of each, the first file winning a name both define and the current context', () => {
    const merged = loadKubeconfig({ kubeconfigPath: [first, '', second].join(delimiter) });
    expect(merged.getContexts().map((c) => c.name).sort()).toEqual(['kind-carbon-jp', 'kind-carbon-kr', 'kind-shared']);
    expect(merged.getCurrentContext()).toBe('kind-carbon-kr');
    expect(merged.getCluster('shared')?.server).toBe('https://first.example:6443');
    expect(merged.getUser('shared')?.token).toBe('first-token');
    // Each file's relative paths resolve against its own folder.
    expect(merged.getCluster('carbon-jp')?.caFile).toBe(join(dir, 'second', 'ca.crt'));
    expect(kubeconfigForContext(merged, 'kind-carbon-jp').getCurrentCluster()?.server).toBe('https://second.example:6443');
  });

  it('refuses a list with a file that cannot be read, naming that file', () => {
    const missing = join(dir, 'nowhere', 'config');
    const load = () => loadKubeconfig({ kubeconfigPath: [first, missing].join(delimiter) });
    expect(load).toThrow(KubeconfigError);
    expect(load).toThrow(`cannot load ${missing}:`);
  });
});
