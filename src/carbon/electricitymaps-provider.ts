import { z } from 'zod';
import { MAX_GCO2_PER_KWH } from '../domain/carbon-integral.js';
import { apiUrl, CarbonFetchError, epochMs, getJson, parseAnswer, ResponseCache, type HttpDeps } from './http.js';
import { clip } from './series.js';
import type { CarbonProvider, CarbonReading } from './types.js';

export interface ElectricityMapsOptions {
  /** e.g. `https://api.electricitymap.org`; the `/v3/...` paths are appended. */
  baseUrl: string;
  /** Sent as the `auth-token` header. */
  apiToken: string;
  /** Hub zone -> Electricity Maps zone key, for zones whose names differ; others are passed as they are. */
  zones: Readonly<Record<string, string>>;
  /** `lifecycle` (the API's default) or `direct` emission factors. */
  emissionFactorType: 'lifecycle' | 'direct';
  timeoutMs: number;
  /** How long an answer is reused: the API publishes hourly values. */
  cacheSeconds: number;
}

// Response shapes of the v3 API (static.electricitymaps.com/api/docs): fields CASPIAN reads are checked,
// the rest (createdAt, emissionFactorType, ...) pass through unread.
const latestSchema = z.object({
  zone: z.string(),
  carbonIntensity: z.number().nonnegative().max(MAX_GCO2_PER_KWH).nullable(),
  datetime: z.string(),
  updatedAt: z.string(),
  isEstimated: z.boolean().nullable().optional(),
  estimationMethod: z.string().nullable().optional(),
});
const forecastSchema = z.object({
  zone: z.string(),
  forecast: z.array(z.object({ carbonIntensity: z.number().nonnegative().max(MAX_GCO2_PER_KWH).nullable(), datetime: z.string() })),
  updatedAt: z.string(),
});
const pastRangeSchema = z.object({
  zone: z.string(),
  data: z.array(latestSchema),
});

const HOUR_MS = 3_600_000;
/** `past-range` at hourly granularity answers at most 10 days (app.electricitymaps.com/developer-hub/api/reference). */
const MAX_RANGE_HOURS = 240;

/** Electricity Maps API v3: `carbon-intensity/latest`, `/forecast` and `/past-range`, authenticated by `auth-token`. */
export class ElectricityMapsProvider implements CarbonProvider {
  readonly name = 'electricitymaps';
  private readonly cache: ResponseCache<unknown>;

  constructor(
    private readonly options: ElectricityMapsOptions,
    private readonly deps: HttpDeps,
  ) {
    this.cache = new ResponseCache(deps.clock, options.cacheSeconds * 1000);
  }

  /** The answer, checked by `read` before it is cached: an answer `read` refuses is a failure, not remembered. */
  private get<T>(path: string, params: Record<string, string>, read: (body: unknown) => T): Promise<T> {
    const url = apiUrl(this.options.baseUrl, `/v3/carbon-intensity/${path}`, { ...params, emissionFactorType: this.options.emissionFactorType });
    const load = async () => read(await getJson(this.name, url, { 'auth-token': this.options.apiToken }, this.options.timeoutMs, this.deps));
    return this.cache.get(url.href, load) as Promise<T>;
  }

  private zoneKey(zone: string): string {
    return this.options.zones[zone] ?? zone;
  }

  async current(zone: string): Promise<CarbonReading> {
    const fetchedAt = this.deps.clock.now();
    const body = await this.get('latest', { zone: this.zoneKey(zone) }, (answer) => {
      const latest = parseAnswer(this.name, latestSchema, answer, 'latest');
      if (latest.carbonIntensity === null) throw new CarbonFetchError(`${this.name} latest: no carbonIntensity for zone ${latest.zone}`, 'malformed');
      return { ...latest, carbonIntensity: latest.carbonIntensity };
    });
    return { zone, at: epochMs(this.name, 'datetime', body.datetime), gco2PerKwh: body.carbonIntensity, source: this.name, kind: 'measured', fetchedAt };
  }

  async forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    const fetchedAt = this.deps.clock.now();
    const body = await this.get('forecast', { zone: this.zoneKey(zone) }, (answer) => parseAnswer(this.name, forecastSchema, answer, 'forecast'));
    const points = body.forecast.flatMap((p) =>
      p.carbonIntensity === null ? [] : [{ zone, at: epochMs(this.name, 'forecast.datetime', p.datetime), gco2PerKwh: p.carbonIntensity, source: this.name, kind: 'forecast' as const, fetchedAt }],
    );
    return clip(points, fromMs, toMs);
  }

  /**
   * `past-range` serves at most `MAX_RANGE_HOURS` hourly values per request, so a longer history (up to
   * the 28 `history_days` allow) is asked for in consecutive ranges, newest first, and merged by time.
   */
  async history(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    const fetchedAt = this.deps.clock.now();
    // Hour-aligned bounds keep the cache keys stable across refreshes within the hour.
    const start = Math.floor(fromMs / HOUR_MS) * HOUR_MS;
    const end = Math.floor(toMs / HOUR_MS) * HOUR_MS;
    const ranges: [number, number][] = [];
    let to = end;
    do {
      const from = Math.max(start, to - MAX_RANGE_HOURS * HOUR_MS);
      ranges.push([from, to]);
      to = from;
    } while (to > start);
    const bodies = await Promise.all(
      ranges.map(async ([rangeStart, rangeEnd]) => {
        const params = { zone: this.zoneKey(zone), start: new Date(rangeStart).toISOString(), end: new Date(rangeEnd).toISOString() };
        return this.get('past-range', params, (answer) => parseAnswer(this.name, pastRangeSchema, answer, 'past-range'));
      }),
    );
    // Ranges meet at their bounds, and the API may include the end hour: one value per hour.
    const byTime = new Map<number, CarbonReading>();
    for (const p of bodies.flatMap((b) => b.data)) {
      if (p.carbonIntensity === null) continue;
      const at = epochMs(this.name, 'data.datetime', p.datetime);
      byTime.set(at, { zone, at, gco2PerKwh: p.carbonIntensity, source: this.name, kind: 'measured', fetchedAt });
    }
    return [...byTime.values()].sort((a, b) => a.at - b.at);
  }
}
