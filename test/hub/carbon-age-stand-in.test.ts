/**
 * A zone fed only by the configured stand-in (`carbon.constant_gco2_per_kwh`), as with an Electricity Maps token
 * refused from the start, never had a value delivered: it has no data age, rather than one reset to 0 by every
 * refresh (which the "Carbon data age" panel read as a freshly fed zone).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FallbackChain } from '../../src/carbon/fallback-chain.js';
import { HorizonProvider } from '../../src/carbon/horizon-provider.js';
import type { CarbonProvider } from '../../src/carbon/types.js';
import { AdapterError } from '../../src/domain/errors.js';
import { FakeClock } from '../support/fake-clock.js';
import { region } from '../support/flat-hub.js';
import { testHub, type TestHub } from '../support/hub.js';
import { metricValue } from '../support/metric-value.js';

/** A provider that never answers (a refused token, an unreachable API). */
class DeadProvider implements CarbonProvider {
  readonly name = 'electricitymaps';
  async current(): Promise<never> {
    throw new AdapterError('connection refused', true);
  }
  async forecast(): Promise<never> {
    throw new AdapterError('connection refused', true);
  }
}

describe('caspian_carbon_data_age_seconds for a zone fed only by the constant stand-in', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
  });

  it('does not read as freshly delivered while hours pass without any delivery', async () => {
    const clock = new FakeClock();
    const chain = new FallbackChain({ links: [new DeadProvider()], constantGco2PerKwh: 450, attempts: 1 }, { clock, sleep: async () => undefined });
    const provider = new HorizonProvider(chain, clock, { historyDays: 1 });
    t = await testHub({ regions: [region('KR')] }, { clock, carbonProvider: provider });
    await t.hub.start();
    // Two hours of carbon refreshes, none of which gets a value from any provider.
    for (let i = 0; i < 12; i++) {
      clock.advance(600_000);
      await t.hub.loops.carbon.runOnce();
    }
    // The zone does run on the stand-in, flagged stale (so the hub did get a "value").
    expect(await metricValue(t.hub.metrics, 'caspian_carbon_source_info', { zone: 'KR', source: 'constant' })).toBe(1);
    expect(await metricValue(t.hub.metrics, 'caspian_carbon_stale', { zone: 'KR' })).toBe(1);
    const age = await metricValue(t.hub.metrics, 'caspian_carbon_data_age_seconds', { zone: 'KR' });
    expect(age).toBeUndefined();
    const clusters = (await t.hub.app.inject({ method: 'GET', url: '/hub/clusters' })).json() as { clusters: { carbon: { source: string; age_seconds: number | null } }[] };
    expect(clusters.clusters[0]?.carbon).toMatchObject({ source: 'constant', age_seconds: null });
  });
});
