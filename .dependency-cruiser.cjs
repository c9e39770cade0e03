/**
 * The architecture of STYLE.md, checked on every test run:
 * domain <- optimizer (pure), domain <- adapters (store, carbon, spokes),
 * scheduler/dispatcher see adapter interfaces only, main.ts wires concrete classes.
 * The strategy simulator (src/simulation) builds whole hubs through main.ts and wires the trace provider as
 * main.ts does; only the command line runs it, and nothing of the hub depends on it.
 */
const adapters = '^src/(store|carbon|spokes)/';
module.exports = {
  forbidden: [
    {
      name: 'domain-imports-nothing-of-ours',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { path: '^src/', pathNot: '^src/domain/' },
    },
    {
      name: 'optimizer-is-pure',
      comment: 'The optimizer takes an input and returns a result: no I/O, clock, logger or metrics.',
      severity: 'error',
      from: { path: '^src/optimizer/' },
      to: { path: '^src/', pathNot: '^src/(optimizer|domain)/' },
    },
    {
      name: 'optimizer-no-io-modules',
      severity: 'error',
      from: { path: '^src/optimizer/' },
      to: { dependencyTypes: ['core'], path: '^(fs|net|http|https|child_process|dgram|node:fs|node:net|node:http|node:https|node:child_process)' },
    },
    {
      name: 'adapters-do-not-import-each-other',
      severity: 'error',
      from: { path: '^src/(store|carbon|spokes)/([^/]+)' },
      to: { path: adapters, pathNot: '^src/$1/' },
    },
    {
      name: 'adapters-know-only-domain',
      severity: 'error',
      from: { path: adapters },
      to: { path: '^src/(api|scheduler|dispatcher|config|cli|main)', },
    },
    {
      name: 'loops-see-adapter-interfaces-only',
      comment: 'The scheduler and dispatcher depend on the Store/SpokeClient/CarbonProvider contracts, never on a concrete adapter.',
      severity: 'error',
      from: { path: '^src/(scheduler|dispatcher)/' },
      to: { path: adapters, pathNot: '^src/(store|carbon|spokes)/types\\.ts$' },
    },
    {
      name: 'api-does-not-pick-adapters',
      severity: 'error',
      from: { path: '^src/api/' },
      to: { path: adapters, pathNot: '^src/(store|carbon|spokes)/types\\.ts$' },
    },
    {
      name: 'only-main-wires',
      comment: 'Concrete adapters are chosen in src/main.ts (and the CLI that starts it, and the simulator that builds hubs), nowhere else.',
      severity: 'error',
      from: { pathNot: '^src/(main\\.ts|cli/|simulation/)|^src/(store|carbon|spokes)/' },
      to: { path: adapters, pathNot: '^src/(store|carbon|spokes)/types\\.ts$|^src/carbon/options\\.ts$' },
    },
    {
      name: 'only-the-cli-runs-simulations',
      comment: 'The hub never depends on the benchmark: the simulator is an entry point like the CLI.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|simulation)/' },
      to: { path: '^src/simulation/' },
    },
    {
      name: 'metrics-library-only-in-metrics',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/metrics/' },
      to: { path: 'node_modules/prom-client' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
