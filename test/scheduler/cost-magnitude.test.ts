import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';
import { optimize, powerWatts, type OptimizeInput } from '../../src/optimizer/index.js';
import { waitCharge } from '../../src/scheduler/schedule-cycle.js';

/**
 * The cost settings' upper bounds keep every plan the hub can build within what the optimizer adds up exactly
 * (2^50 g): at their maxima, a cycle of 200 jobs at the API's maxima on the dirtiest grid the carbon data admits
 * is still priced and planned. Above them the value is refused at start (the config table), where 1e308 once
 * passed and left every schedule cycle failing.
 */
describe('cost settings at their maxima', () => {
  it('price 200 jobs of 1024 cores, 64 GPUs and 16 TB for half a week, moved with 10^6 GB, on a grid of 100,000 gCO2/kWh', async () => {
    const regions = ['KR', 'JP', 'CN'];
    const everyPair = Object.fromEntries(regions.map((from) => [from, Object.fromEntries(regions.filter((to) => to !== from).map((to) => [to, 10_000]))]));
    const config = parseConfig({
      energy: { watt_cpu: 1000, watt_gpu: 10_000, watt_mem_gb: 100 },
      urgency: { normal_wait_gco2_per_kwh_per_hour: 1000 },
      migration: { lambda_plan_dev: 1e9, network_gco2_per_gb: everyPair },
    });
    const H = 168;
    const costs = { ...config.energy, lambda_plan_dev: config.migration.lambda_plan_dev };
    const size = { cpu: 1024, gpu: 64, mem_gb: 16384 };
    const energyKwh = (powerWatts(costs, size) * 84) / 1000;
    const input: OptimizeInput = {
      jobs: Array.from({ length: 200 }, (_, i) => ({
        job_id: `max-${i}`,
        ...size,
        runtime_slots: 84,
        release_slot: 0,
        deadline_slot: H - 1,
        data_gb: 1e6,
        affinity_regions: regions,
        wait_gco2_per_slot: waitCharge('normal', { energyKwh, slotHours: 1, carbonSpread: 0, migrationCeiling: 0, normalPerKwhHour: config.urgency.normal_wait_gco2_per_kwh_per_hour }),
      })),
      regions,
      capacities: regions.flatMap((region) => Array.from({ length: H }, (_, slot) => ({ region, slot, cpu_cap: 1e6, mem_gb_cap: 1e7, gpu_cap: 1e5 }))),
      carbons: regions.flatMap((region) => Array.from({ length: H }, (_, slot) => ({ region, slot, ci_gco2_per_kwh: 100_000 }))),
      slot_seconds: 3600,
      horizon_slots: H,
      costs,
      network_costs: config.migration.network_gco2_per_gb,
      migration_allow: true,
      // Every other job planned elsewhere before: a move charges the dearest route.
      prev_plan: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`max-${2 * i}`, { region: 'KR' }])),
    };
    const output = await optimize(input, { solver: 'greedy', timeLimitSeconds: 10 });
    expect(output.unscheduled).toEqual([]);
    expect(output.plans).toHaveLength(200);
    expect(Number.isFinite(output.objective_gco2)).toBe(true);
    expect(output.objective_gco2).toBeLessThan(2 ** 50);
  });
});
