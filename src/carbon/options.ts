import { z } from 'zod';
import { MAX_GCO2_PER_KWH } from '../domain/carbon-integral.js';

/**
 * The `carbon` block of the hub configuration: which provider, how to reach it, what to fall back to.
 * Only zod here, so that the config module can embed it. Secrets and URLs come from the environment
 * variables named in TSDoc (the config module maps them onto these keys).
 */

export const PROVIDER_NAMES = ['mock', 'electricitymaps', 'watttime', 'carbon-aware-sdk', 'file'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

const positive = z.number().finite().positive();
/** Hub zone (`regions[].zone`) -> the provider's own id for it; zones not listed are sent as they are. */
const zoneMap = z.record(z.string().min(1), z.string().min(1)).default(() => ({}));
/** A provider's address: http or https only (`carbon-aware-sdk:8080` would parse as a URL of scheme `carbon-aware-sdk`). */
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL with its scheme, e.g. http://carbon-aware-sdk:8080' });

export const carbonOptionsSchema = z
  .strictObject({
    /** `CASPIAN_CARBON_PROVIDER`. */
    provider: z.enum(PROVIDER_NAMES).default('mock'),
    /** Providers asked, in order, when the primary one fails (then the last known value, then `constant_gco2_per_kwh`). */
    fallback: z.array(z.enum(PROVIDER_NAMES)).default(() => []),
    /** How old the last known value may be before the zone is flagged stale. */
    max_staleness_seconds: positive.default(3600),
    /** Served (flagged stale) when nothing answers and nothing recent is known. */
    constant_gco2_per_kwh: z.number().finite().nonnegative().max(MAX_GCO2_PER_KWH).optional(),
    /** Plan against the central value (`expected`) or the high end of its band (`pessimistic`). */
    risk: z.enum(['expected', 'pessimistic']).default('expected'),
    /** Per HTTP request. */
    request_timeout_ms: z.number().int().positive().max(60_000).default(3000),
    /** How long an HTTP answer is reused. */
    cache_seconds: z.number().int().nonnegative().default(300),
    /** Days of history behind the forecast filler. */
    history_days: z.number().int().min(1).max(28).default(7),
    mock: z
      .strictObject({
        /** `diurnal`: a deterministic daily curve per zone; `seed-migration`: the seed's two-step scenario. `CASPIAN_MOCK_SCENARIO`. */
        scenario: z.enum(['diurnal', 'seed-migration']).default('diurnal'),
        /** `seed-migration`: how long each step lasts. */
        step_seconds: z.number().int().positive().default(300),
      })
      .prefault({}),
    electricitymaps: z
      .strictObject({
        /** `ELECTRICITYMAPS_BASE_URL`. */
        base_url: httpUrl.default('https://api.electricitymap.org'),
        /** `ELECTRICITYMAPS_API_TOKEN`. */
        api_token: z.string().min(1).optional(),
        emission_factor: z.enum(['lifecycle', 'direct']).default('lifecycle'),
        zones: zoneMap,
      })
      .prefault({}),
    watttime: z
      .strictObject({
        /** `WATTTIME_BASE_URL`. */
        base_url: httpUrl.default('https://api.watttime.org'),
        /** `WATTTIME_USERNAME`. */
        username: z.string().min(1).optional(),
        /** `WATTTIME_PASSWORD`. */
        password: z.string().min(1).optional(),
        signal_type: z.enum(['co2_moer', 'co2_aoer']).default('co2_moer'),
        /** WattTime regions (e.g. `{"KR": "..."}`): its region names are not Electricity Maps zones. */
        zones: zoneMap,
      })
      .prefault({}),
    carbon_aware_sdk: z
      .strictObject({
        /** `CARBON_AWARE_SDK_URL`. */
        url: httpUrl.optional(),
        /** SDK locations (e.g. `{"KR": "koreacentral", "JP-TK": "japaneast"}`). */
        zones: zoneMap,
      })
      .prefault({}),
    file: z
      .strictObject({
        /** `CASPIAN_CARBON_FILE`: one path, several separated by commas, or a list. */
        path: z
          .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
          .transform((p) => (Array.isArray(p) ? p : p.split(',').map((s) => s.trim()).filter(Boolean)))
          .optional(),
        /** Replay the trace forever, its span being the period. */
        loop: z.boolean().default(true),
        emission_factor: z.enum(['lifecycle', 'direct']).default('lifecycle'),
        zones: zoneMap,
      })
      .prefault({}),
  })
  .superRefine((o, ctx) => {
    const used = new Set([o.provider, ...o.fallback]);
    const need = (when: ProviderName, path: string[], present: unknown, variable: string) => {
      if (used.has(when) && !present) ctx.addIssue({ code: 'custom', path, message: `required when ${when} is the provider or a fallback (set ${variable})` });
    };
    need('electricitymaps', ['electricitymaps', 'api_token'], o.electricitymaps.api_token, 'ELECTRICITYMAPS_API_TOKEN');
    need('watttime', ['watttime', 'username'], o.watttime.username, 'WATTTIME_USERNAME');
    need('watttime', ['watttime', 'password'], o.watttime.password, 'WATTTIME_PASSWORD');
    need('carbon-aware-sdk', ['carbon_aware_sdk', 'url'], o.carbon_aware_sdk.url, 'CARBON_AWARE_SDK_URL');
    need('file', ['file', 'path'], o.file.path?.length, 'CASPIAN_CARBON_FILE');
    o.fallback.forEach((name, i) => {
      if (name === o.provider || o.fallback.indexOf(name) !== i) ctx.addIssue({ code: 'custom', path: ['fallback', i], message: `"${name}" is already in the chain` });
    });
  });

export type CarbonOptions = z.infer<typeof carbonOptionsSchema>;
