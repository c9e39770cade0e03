import { z } from 'zod';
import { MAX_GCO2_PER_KWH } from '../domain/carbon-integral.js';
import { apiUrl, CarbonFetchError, epochMs, getJson, parseAnswer, readingsOf, ResponseCache, type HttpDeps, type Series, type SeriesPoint } from './http.js';
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
/**
 * How the API words a 401 for a zone or an endpoint the token's plan does not cover (a free plan has one zone
 * and no `past-range`): `{"error": "Request unauthorized for zoneKey=DK-DK2,requestType=past,...", "message":
 * "You do not have access to this specific endpoint for this specific zone..."}`. A bad token's 401 says
 * "Invalid auth-token" instead.
 */
const PLAN_REFUSAL = /Request unauthorized for zoneKey=|do not have access to this specific endpoint/i;
/** `past-range` at hourly granularity answers at most 10 days (app.electricitymaps.com/developer-hub/api/reference). */
const MAX_RANGE_HOURS = 240;

/** Electricity Maps API v3: `carbon-intensity/latest`, `/forecast` and `/past-range`, authenticated by `auth-token`. */
export class ElectricityMapsProvider implements CarbonProvider {
  readonly name = 'electricitymaps';
  private readonly cache: ResponseCache<Series>;

  constructor(
    private readonly options: ElectricityMapsOptions,
    private readonly deps: HttpDeps,
  ) {
    this.cache = new ResponseCache(deps.clock, options.cacheSeconds * 1000);
  }

  /** The answer's points, read by `read` before it is cached: an answer `read` refuses is a failure, not remembered. */
  private get(path: string, zone: string, params: Record<string, string>, read: (body: unknown) => SeriesPoint[]): Promise<Series> {
    const url = apiUrl(this.options.baseUrl, `/v3/carbon-intensity/${path}`, { zone: this.zoneKey(zone), ...params, emissionFactorType: this.options.emissionFactorType });
    return this.cache.get(url.href, async () => {
      // A plan's refusal of one zone or endpoint is that request's: the token still works for the others.
      const body = await getJson(this.name, url, { 'auth-token': this.options.apiToken }, this.options.timeoutMs, this.deps, (message) =>
        PLAN_REFUSAL.test(message) ? 'request' : undefined,
      );
      return { fetchedAt: this.deps.clock.now(), points: read(body) };
    });
  }

  private zoneKey(zone: string): string {
    return this.options.zones[zone] ?? zone;
  }

  /** An answer for another zone (the API may answer for the caller's location when it has no data for the one asked) is refused. */
  private sameZone(path: string, zone: string, answered: string): void {
    if (answered.toUpperCase() !== this.zoneKey(zone).toUpperCase()) {
      throw new CarbonFetchError(`${this.name} ${path}: answered for zone ${answered}, not ${this.zoneKey(zone)}`, 'malformed');
    }
  }

  async current(zone: string): Promise<CarbonReading> {
    const series = await this.get('latest', zone, {}, (answer) => {
      const latest = parseAnswer(this.name, latestSchema, answer, 'latest');
      this.sameZone('latest', zone, latest.zone);
      if (latest.carbonIntensity === null) throw new CarbonFetchError(`${this.name} latest: no carbonIntensity for zone ${latest.zone}`, 'no_data');
      return [{ at: epochMs(this.name, 'datetime', latest.datetime), gco2PerKwh: latest.carbonIntensity }];
    });
    return readingsOf(series, zone, this.name, 'measured')[0]!;
  }

  async forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    const series = await this.get('forecast', zone, {}, (answer) => {
      const body = parseAnswer(this.name, forecastSchema, answer, 'forecast');
      this.sameZone('forecast', zone, body.zone);
      return body.forecast.flatMap((p) => (p.carbonIntensity === null ? [] : [{ at: epochMs(this.name, 'forecast.datetime', p.datetime), gco2PerKwh: p.carbonIntensity }]));
    });
    return clip(readingsOf(series, zone, this.name, 'forecast'), fromMs, toMs);
  }

  /**
   * `past-range` serves at most `MAX_RANGE_HOURS` hourly values per request, so a longer history (up to
   * the 28 `history_days` allow) is asked for in consecutive ranges, newest first, and merged by time.
   */
  async history(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
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
    const answers = await Promise.all(
      ranges.map(([rangeStart, rangeEnd]) =>
        this.get('past-range', zone, { start: new Date(rangeStart).toISOString(), end: new Date(rangeEnd).toISOString() }, (answer) => {
          const body = parseAnswer(this.name, pastRangeSchema, answer, 'past-range');
          this.sameZone('past-range', zone, body.zone);
          return body.data.flatMap((p) => (p.carbonIntensity === null ? [] : [{ at: epochMs(this.name, 'data.datetime', p.datetime), gco2PerKwh: p.carbonIntensity }]));
        }),
      ),
    );
    // Ranges meet at their bounds, and the API may include the end hour: one value per hour.
    const byTime = new Map<number, CarbonReading>();
    for (const reading of answers.flatMap((series) => readingsOf(series, zone, this.name, 'measured'))) byTime.set(reading.at, reading);
    return [...byTime.values()].sort((a, b) => a.at - b.at);
  }
}
