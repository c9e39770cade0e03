/** The metric names that SPEC.md requires, as the seed's dashboards and runbooks query them. */
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
