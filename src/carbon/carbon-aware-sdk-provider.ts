import { z } from 'zod';
import { MAX_GCO2_PER_KWH } from '../domain/carbon-integral.js';
import { apiUrl, CarbonFetchError, epochMs, getJson, parseAnswer, readingsOf, ResponseCache, type HttpDeps, type Series, type SeriesPoint } from './http.js';
import { clip, indexAt } from './series.js';
import type { CarbonProvider, CarbonReading } from './types.js';

export interface CarbonAwareSdkOptions {
  /** Where the self-hosted Carbon Aware SDK web API listens, e.g. `http://carbon-aware-sdk:8080`. */
  baseUrl: string;
  /** Hub zone -> SDK location (e.g. `koreacentral`, `japaneast`); zones not listed are passed as they are. */
  zones: Readonly<Record<string, string>>;
  timeoutMs: number;
  cacheSeconds: number;
}

// The SDK reports every value in gCO2/kWh (its EmissionsData `rating`, its forecast `value`).
const dataPointSchema = z.object({ location: z.string(), timestamp: z.string(), duration: z.number(), value: z.number().nonnegative().max(MAX_GCO2_PER_KWH) });
const forecastsSchema = z.array(
  z.object({
    location: z.string(),
    generatedAt: z.string().optional(),
    requestedAt: z.string().optional(),
    dataStartAt: z.string().nullable().optional(),
    dataEndAt: z.string().nullable().optional(),
    windowSize: z.number().optional(),
    forecastData: z.array(dataPointSchema),
  }),
);
const emissionsSchema = z.array(z.object({ location: z.string(), time: z.string(), rating: z.number().nonnegative().max(MAX_GCO2_PER_KWH), duration: z.union([z.string(), z.number()]).optional() }));

const HOUR_MS = 3_600_000;
/** How far back `current()` looks for the latest observed value. */
const CURRENT_LOOKBACK_MS = 3 * HOUR_MS;
const MINUTE_MS = 60_000;

/** Green Software Foundation Carbon Aware SDK web API: `/emissions/forecasts/current` and `/emissions/bylocations`. */
export class CarbonAwareSdkProvider implements CarbonProvider {
  readonly name = 'carbon-aware-sdk';
  private readonly cache: ResponseCache<Series>;

  constructor(
    private readonly options: CarbonAwareSdkOptions,
    private readonly deps: HttpDeps,
  ) {
    this.cache = new ResponseCache(deps.clock, options.cacheSeconds * 1000);
  }

  /** The answer's points, read by `read` before it is cached: an answer `read` refuses is a failure, not remembered. */
  private get(path: string, params: Record<string, string>, read: (body: unknown) => SeriesPoint[]): Promise<Series> {
    const url = apiUrl(this.options.baseUrl, path, params);
    return this.cache.get(url.href, async () => {
      const points = read(await getJson(this.name, url, {}, this.options.timeoutMs, this.deps));
      return { fetchedAt: this.deps.clock.now(), points };
    });
  }

  private location(zone: string): string {
    return this.options.zones[zone] ?? zone;
  }

  private async observed(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    const path = '/emissions/bylocations';
    const params = { location: this.location(zone), time: new Date(fromMs).toISOString(), toTime: new Date(toMs).toISOString() };
    // 204 No Content: the SDK's answer when nothing was observed in the window.
    const series = await this.get(path, params, (answer) =>
      (answer === null ? [] : parseAnswer(this.name, emissionsSchema, answer, path)).map((e) => ({ at: epochMs(this.name, 'time', e.time), gco2PerKwh: e.rating })).sort((a, b) => a.at - b.at),
    );
    return readingsOf(series, zone, this.name, 'measured');
  }

  async current(zone: string): Promise<CarbonReading> {
    const now = this.deps.clock.now();
    // A window that has already happened: the SDK serves one within the last 24 hours from Electricity Maps'
    // recent history, which every plan has, and any other (one ending in the future too) from `past-range`,
    // which plans without it refuse (ElectricityMapsDataSource.GetCarbonIntensityAsync). Aligned (the hour,
    // the minute) so that the refreshes of one minute share an answer.
    const from = Math.floor((now - CURRENT_LOOKBACK_MS) / HOUR_MS) * HOUR_MS;
    const points = await this.observed(zone, from, Math.floor(now / MINUTE_MS) * MINUTE_MS);
    const point = points[indexAt(points, now)];
    if (!point) throw new CarbonFetchError(`${this.name} /emissions/bylocations: no value for location ${this.location(zone)} in the last hours`, 'no_data');
    return point;
  }

  async forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    const path = '/emissions/forecasts/current';
    const location = this.location(zone);
    const series = await this.get(path, { location }, (answer) => {
      const body = parseAnswer(this.name, forecastsSchema, answer, path);
      const forecast = body.find((f) => f.location === location) ?? body[0];
      if (!forecast) throw new CarbonFetchError(`${this.name} ${path}: no forecast for location ${location}`, 'no_data');
      return forecast.forecastData.map((p) => ({ at: epochMs(this.name, 'forecastData.timestamp', p.timestamp), gco2PerKwh: p.value }));
    });
    return clip(readingsOf(series, zone, this.name, 'forecast'), fromMs, toMs);
  }

  history(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    return this.observed(zone, Math.floor(fromMs / HOUR_MS) * HOUR_MS, Math.floor(toMs / HOUR_MS) * HOUR_MS);
  }
}
