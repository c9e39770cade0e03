import { z } from 'zod';
import { MAX_GCO2_PER_KWH } from '../domain/carbon-integral.js';
import { apiUrl, CarbonFetchError, epochMs, getJson, parseAnswer, readingsOf, ResponseCache, type HttpDeps, type Series } from './http.js';
import { clip, indexAt } from './series.js';
import type { CarbonProvider, CarbonReading } from './types.js';

export interface WattTimeOptions {
  /** e.g. `https://api.watttime.org`; `/login` and `/v3/...` are appended. */
  baseUrl: string;
  username: string;
  password: string;
  /** Hub zone -> WattTime region (e.g. `CAISO_NORTH`); zones not listed are passed as they are. */
  zones: Readonly<Record<string, string>>;
  /** `co2_moer` (marginal) or `co2_aoer` (average). */
  signalType: string;
  timeoutMs: number;
  /** How long an answer is reused: WattTime publishes every five minutes. */
  cacheSeconds: number;
}

/** Units WattTime reports CO2 signals in, and the factor to gCO2/kWh. Anything else is refused, not guessed. */
const TO_GCO2_PER_KWH: Readonly<Record<string, number>> = {
  // 1 lb = 453.59237 g; 1 MWh = 1000 kWh.
  lbs_co2_per_mwh: 453.59237 / 1000,
  kg_co2_per_mwh: 1,
  g_co2_per_kwh: 1,
};

// `/v3/forecast` and `/v3/historical` answer `{data: [{point_time, value}], meta: {units, data_point_period_seconds, ...}}`.
const dataSchema = z.object({
  data: z.array(z.object({ point_time: z.string(), value: z.number().nonnegative() })),
  meta: z.object({
    units: z.string(),
    region: z.string().optional(),
    signal_type: z.string().optional(),
    data_point_period_seconds: z.number().positive().optional(),
    generated_at: z.string().optional(),
  }),
});
const loginSchema = z.object({ token: z.string().min(1) });

/** WattTime's tokens last 30 minutes; renew a little before. */
const TOKEN_LIFETIME_MS = 25 * 60_000;
const MAX_FORECAST_HOURS = 72;

/** WattTime API v3: a token from `/login` (HTTP basic auth), then `/v3/forecast` and `/v3/historical` with it. */
export class WattTimeProvider implements CarbonProvider {
  readonly name = 'watttime';
  private readonly cache: ResponseCache<Series>;
  private token: { value: string; until: number } | undefined;
  /** The login under way: requests that need a token meanwhile wait for it instead of logging in too. */
  private loggingIn: Promise<string> | undefined;

  constructor(
    private readonly options: WattTimeOptions,
    private readonly deps: HttpDeps,
  ) {
    this.cache = new ResponseCache(deps.clock, options.cacheSeconds * 1000);
  }

  private url(path: string, params: Record<string, string> = {}): URL {
    return apiUrl(this.options.baseUrl, path, params);
  }

  /** A refused login is refused credentials: every request of the account fails until they are fixed. */
  private async login(): Promise<string> {
    const basic = Buffer.from(`${this.options.username}:${this.options.password}`).toString('base64');
    const body = await getJson(this.name, this.url('/login'), { authorization: `Basic ${basic}` }, this.options.timeoutMs, this.deps, () => 'account');
    const parsed = loginSchema.safeParse(body);
    if (!parsed.success) throw new CarbonFetchError(`${this.name} /login: no token in the answer`, 'malformed');
    this.token = { value: parsed.data.token, until: this.deps.clock.now() + TOKEN_LIFETIME_MS };
    return parsed.data.token;
  }

  /**
   * A token that is not `refused`: the one held while it lasts, else one login shared by every request that
   * needs it meanwhile (the zones of a refresh are asked at once).
   */
  private validToken(refused?: string): Promise<string> {
    if (this.token && this.token.until > this.deps.clock.now() && this.token.value !== refused) return Promise.resolve(this.token.value);
    this.loggingIn ??= this.login().finally(() => {
      this.loggingIn = undefined;
    });
    return this.loggingIn;
  }

  /** GET with the bearer token; a 401 (expired or revoked token) logs in again once. */
  private async authorized(url: URL): Promise<z.infer<typeof dataSchema>> {
    const token = await this.validToken();
    let body: unknown;
    try {
      body = await getJson(this.name, url, { authorization: `Bearer ${token}` }, this.options.timeoutMs, this.deps);
    } catch (error) {
      if (!(error instanceof CarbonFetchError && error.status === 401)) throw error;
      body = await getJson(this.name, url, { authorization: `Bearer ${await this.validToken(token)}` }, this.options.timeoutMs, this.deps);
    }
    return parseAnswer(this.name, dataSchema, body, url.pathname);
  }

  /**
   * The answer at `url`, fetched or cached. It is read in full before it is cached (units known, values within
   * any grid, timestamps readable), so that a refused answer is asked for again at the next refresh, not refused
   * from the cache.
   */
  private checked(url: URL): Promise<Series> {
    return this.cache.get(url.href, async () => {
      const body = await this.authorized(url);
      const factor = TO_GCO2_PER_KWH[body.meta.units];
      if (factor === undefined) throw new CarbonFetchError(`${this.name} ${url.pathname}: unknown units "${body.meta.units}"`, 'units');
      const wild = body.data.find((p) => p.value * factor > MAX_GCO2_PER_KWH);
      if (wild) throw new CarbonFetchError(`${this.name} ${url.pathname}: ${wild.value * factor} gCO2/kWh is beyond any grid (at most ${MAX_GCO2_PER_KWH})`, 'malformed');
      const points = body.data.map((p) => ({ at: epochMs(this.name, 'point_time', p.point_time), gco2PerKwh: Math.round(p.value * factor * 100) / 100 }));
      return { fetchedAt: this.deps.clock.now(), points: points.sort((a, b) => a.at - b.at) };
    });
  }

  private async readings(zone: string, url: URL, kind: 'measured' | 'forecast'): Promise<CarbonReading[]> {
    return readingsOf(await this.checked(url), zone, this.name, kind);
  }

  private region(zone: string): string {
    return this.options.zones[zone] ?? zone;
  }

  private async latestForecast(zone: string, hours: number): Promise<CarbonReading[]> {
    const url = this.url('/v3/forecast', { region: this.region(zone), signal_type: this.options.signalType, horizon_hours: String(hours) });
    return this.readings(zone, url, 'forecast');
  }

  /** WattTime's real-time value is the first point of its latest forecast (the current five minutes). */
  async current(zone: string): Promise<CarbonReading> {
    const now = this.deps.clock.now();
    const points = await this.latestForecast(zone, 24);
    const point = points[Math.max(0, indexAt(points, now))];
    if (!point) throw new CarbonFetchError(`${this.name} /v3/forecast: no data for region ${this.region(zone)}`, 'no_data');
    return { ...point, kind: 'measured' };
  }

  async forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    const hours = Math.min(MAX_FORECAST_HOURS, Math.max(24, Math.ceil((toMs - this.deps.clock.now()) / 3_600_000)));
    return clip(await this.latestForecast(zone, hours), fromMs, toMs);
  }

  async history(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    // Bounds on the hour keep the cache key stable across refreshes.
    const hour = 3_600_000;
    const url = this.url('/v3/historical', {
      region: this.region(zone),
      start: new Date(Math.floor(fromMs / hour) * hour).toISOString(),
      end: new Date(Math.floor(toMs / hour) * hour).toISOString(),
      signal_type: this.options.signalType,
    });
    return this.readings(zone, url, 'measured');
  }
}
