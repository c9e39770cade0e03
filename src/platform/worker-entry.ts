import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/**
 * The URL of worker-thread entry `name` beside the module at `from` (its `import.meta.url`). Built code
 * runs the compiled `<name>.js`. Run from TypeScript source (the test runner, tsx), the worker gets a
 * bootstrap that registers tsx first: Node 20 workers neither inherit the parent's loader hooks nor
 * honour `--import tsx` in `execArgv`.
 */
export function workerEntry(name: string, from: string): URL {
  if (!from.endsWith('.ts')) return new URL(`./${name}.js`, from);
  // tsx's exports map puts the ESM build of `tsx/esm/api` beside the CommonJS one that require() resolves.
  const tsxApi = pathToFileURL(createRequire(from).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const entry = new URL(`./${name}.ts`, from).href;
  const code = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(entry)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}
