/** The metric names that SPEC.md requires, as the seed's dashboards and runbooks query them in Prometheus. */
export const SPEC_METRICS = [
  'grid_carbon_intensity_gco2_per_kwh',
  'appwrappers_total',
  'appwrappers_running',
  'clusters_total',
  'clusters_ready',
  'migrations_total',
  'migration_data_transferred_gb',
  'migrations_in_progress',
  'migration_cost_gco2',
] as const;
export type SpecMetric = (typeof SPEC_METRICS)[number];

/**
 * The SPEC metrics whose names break Prometheus naming: the hub exposes them under these conventional
 * names (bytes rather than GB) and prometheus-rules.yml records them back under the SPEC's (README "Metrics").
 */
export const RECORDED_SPEC_METRICS = {
  migration_data_transferred_gb: { exposedAs: 'caspian_migration_data_transferred_bytes_total', exposedPerSpecUnit: 1e9 },
  migration_cost_gco2: { exposedAs: 'caspian_migration_cost_gco2_total', exposedPerSpecUnit: 1 },
} as const satisfies Partial<Record<SpecMetric, { exposedAs: string; exposedPerSpecUnit: number }>>;

/** The name under which the hub's /metrics exposes a SPEC metric. */
export function exposedName(name: SpecMetric): string {
  return name in RECORDED_SPEC_METRICS ? RECORDED_SPEC_METRICS[name as keyof typeof RECORDED_SPEC_METRICS].exposedAs : name;
}

/** What /metrics must expose for the SPEC metrics to exist in Prometheus. */
export const EXPOSED_SPEC_METRICS = SPEC_METRICS.map(exposedName);
