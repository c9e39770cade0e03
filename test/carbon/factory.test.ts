import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCarbonProvider } from '../../src/carbon/factory.js';
import { MockCarbonProvider } from '../../src/carbon/mock-provider.js';
import { carbonOptionsSchema } from '../../src/carbon/options.js';
import type { CarbonFaultReason } from '../../src/carbon/types.js';
import { FakeClock } from '../support/fake-clock.js';
import { Loopback } from './loopback.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/carbon/kr-2025-03-hourly.csv', import.meta.url));

describe('carbonOptionsSchema', () => {
  it('pins the defaults: the mock provider, nothing to fall back to, expected risk', () => {
    expect(carbonOptionsSchema.parse({})).toEqual({
      provider: 'mock',
      fallback: [],
      max_staleness_seconds: 3600,
      risk: 'expected',
      request_timeout_ms: 3000,
      cache_seconds: 300,
      history_days: 7,
      mock: { scenario: 'diurnal', step_seconds: 300 },
      electricitymaps: { base_url: 'https://api.electricitymap.org', emission_factor: 'lifecycle', zones: {} },
      watttime: { base_url: 'https://api.watttime.org', signal_type: 'co2_moer', zones: {} },
      carbon_aware_sdk: { zones: {} },
      file: { loop: true, emission_factor: 'lifecycle', zones: {} },
    });
  });

  it('names the credential each configured provider lacks, with its environment variable', () => {
    const result = carbonOptionsSchema.safeParse({ provider: 'electricitymaps', fallback: ['watttime', 'file', 'carbon-aware-sdk'] });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'electricitymaps.api_token: required when electricitymaps is the provider or a fallback (set ELECTRICITYMAPS_API_TOKEN)',
      'watttime.username: required when watttime is the provider or a fallback (set WATTTIME_USERNAME)',
      'watttime.password: required when watttime is the provider or a fallback (set WATTTIME_PASSWORD)',
      'carbon_aware_sdk.url: required when carbon-aware-sdk is the provider or a fallback (set CARBON_AWARE_SDK_URL)',
      'file.path: required when file is the provider or a fallback (set CASPIAN_CARBON_FILE)',
    ]);
  });

  it('refuses a fallback that repeats a link, and unknown providers', () => {
    expect(carbonOptionsSchema.safeParse({ provider: 'mock', fallback: ['mock'] }).error?.issues[0]?.path).toEqual(['fallback', 0]);
    expect(carbonOptionsSchema.safeParse({ provider: 'co2signal' }).success).toBe(false);
  });

  it('splits CASPIAN_CARBON_FILE on commas', () => {
    expect(carbonOptionsSchema.parse({ provider: 'file', file: { path: 'kr.csv, jp.csv' } }).file.path).toEqual(['kr.csv', 'jp.csv']);
  });
});

describe('createCarbonProvider', () => {
  let server: Loopback;
  beforeEach(async () => {
    server = await new Loopback().start();
  });
  afterEach(() => server.stop());

  it('gives the mock provider itself by default, behaving as before', async () => {
    const clock = new FakeClock();
    const provider = createCarbonProvider(carbonOptionsSchema.parse({}), { clock });
    expect(provider).toBeInstanceOf(MockCarbonProvider);
    expect(await provider.current('KR')).toEqual(await new MockCarbonProvider(clock).current('KR'));
  });

  it('builds the chain under the horizon filler: a forecast for the whole horizon, faults reported', async () => {
    server.on('/v3/carbon-intensity/latest', { status: 401, json: { error: 'Invalid authentication token' } });
    const clock = new FakeClock(Date.UTC(2025, 2, 9, 12));
    const faults: [string, CarbonFaultReason][] = [];
    const options = carbonOptionsSchema.parse({
      provider: 'electricitymaps',
      fallback: ['file'],
      constant_gco2_per_kwh: 500,
      electricitymaps: { base_url: server.url, api_token: 't' },
      file: { path: FIXTURE, loop: false },
    });
    const provider = createCarbonProvider(options, { clock, onError: (p, r) => faults.push([p, r]) });
    expect(provider.name).toBe('electricitymaps>file>last-known>constant');
    expect((await provider.current('KR')).source).toBe('file');
    expect(faults).toContainEqual(['electricitymaps', 'auth']);

    const forecast = await provider.forecast('KR', clock.now(), clock.now() + 24 * 3_600_000);
    // The trace covers until 2025-03-11 00:00 (36 h ahead): all measured, from the file.
    expect(forecast).toHaveLength(24);
    expect(forecast.every((p) => p.source === 'file' && p.kind === 'measured')).toBe(true);
  });
});
