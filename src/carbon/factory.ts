import type { Clock } from '../domain/clock.js';
import { CarbonAwareSdkProvider } from './carbon-aware-sdk-provider.js';
import { ElectricityMapsProvider } from './electricitymaps-provider.js';
import { FallbackChain } from './fallback-chain.js';
import { FileTraceProvider } from './file-provider.js';
import { HorizonProvider } from './horizon-provider.js';
import { MockCarbonProvider } from './mock-provider.js';
import type { CarbonOptions, ProviderName } from './options.js';
import type { CarbonFaultHook, CarbonProvider } from './types.js';
import { WattTimeProvider } from './watttime-provider.js';

export interface CarbonProviderDeps {
  clock: Clock;
  /** Every provider fault, also those a fallback answered for: the hub counts them. */
  onError?: CarbonFaultHook;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  readFile?: (path: string) => string;
}

function single(name: ProviderName, o: CarbonOptions, deps: CarbonProviderDeps): CarbonProvider {
  const http = { clock: deps.clock, fetch: deps.fetch };
  const common = { timeoutMs: o.request_timeout_ms, cacheSeconds: o.cache_seconds };
  // The schema has checked that what each provider needs is there.
  switch (name) {
    case 'mock':
      return new MockCarbonProvider(deps.clock, { scenario: o.mock.scenario, stepSeconds: o.mock.step_seconds });
    case 'electricitymaps':
      return new ElectricityMapsProvider(
        { ...common, baseUrl: o.electricitymaps.base_url, apiToken: o.electricitymaps.api_token as string, zones: o.electricitymaps.zones, emissionFactorType: o.electricitymaps.emission_factor },
        http,
      );
    case 'watttime':
      return new WattTimeProvider(
        { ...common, baseUrl: o.watttime.base_url, username: o.watttime.username as string, password: o.watttime.password as string, zones: o.watttime.zones, signalType: o.watttime.signal_type },
        http,
      );
    case 'carbon-aware-sdk':
      return new CarbonAwareSdkProvider({ ...common, baseUrl: o.carbon_aware_sdk.url as string, zones: o.carbon_aware_sdk.zones }, http);
    case 'file':
      return new FileTraceProvider({ paths: o.file.path ?? [], loop: o.file.loop, zones: o.file.zones, emissionFactor: o.file.emission_factor }, deps.clock, deps.readFile);
  }
}

/**
 * The configured carbon provider. The default (`mock` with no fallback) is the mock provider itself, as
 * before. Anything else is a fallback chain (the provider, the fallbacks, the last known value, the
 * constant) under the horizon filler, so that `forecast()` covers the whole horizon with tagged values.
 * Throws `TraceFileError` for an unusable trace file.
 */
export function createCarbonProvider(options: CarbonOptions, deps: CarbonProviderDeps): CarbonProvider {
  if (options.provider === 'mock' && options.fallback.length === 0 && options.constant_gco2_per_kwh === undefined) {
    return single('mock', options, deps);
  }
  const chain = new FallbackChain(
    {
      links: [options.provider, ...options.fallback].map((name) => single(name, options, deps)),
      maxStalenessMs: options.max_staleness_seconds * 1000,
      constantGco2PerKwh: options.constant_gco2_per_kwh,
    },
    { clock: deps.clock, sleep: deps.sleep, onError: deps.onError },
  );
  return new HorizonProvider(chain, deps.clock, { historyDays: options.history_days });
}
