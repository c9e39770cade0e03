import type { z } from 'zod';
import type { Clock } from '../domain/clock.js';
import { AdapterError } from '../domain/errors.js';
import type { CarbonFaultReason, CarbonReading } from './types.js';
import { parseTimestamp } from '../domain/iso-time.js';

/** A provider fault with the word the hub counts it under and, for 429, when to ask again. */
export class CarbonFetchError extends AdapterError {
  constructor(
    message: string,
    readonly reason: CarbonFaultReason,
    options: { retryable?: boolean; retryAfterMs?: number; status?: number; refusal?: AuthRefusal; cause?: unknown } = {},
  ) {
    super(message, options.retryable ?? RETRYABLE[reason], { cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
    this.refusal = options.refusal;
  }

  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;
  /**
   * What an `auth` refusal concerns, when the provider's answer says so: every request of the account (refused
   * credentials), or this request alone (a zone or endpoint outside the account's plan). Unset: read from the
   * status (401 the account's, 403 the request's).
   */
  readonly refusal: AuthRefusal | undefined;
}

export type AuthRefusal = 'account' | 'request';

const RETRYABLE: Record<CarbonFaultReason, boolean> = {
  timeout: true,
  network: true,
  http_5xx: true,
  rate_limited: true,
  stale: true,
  // Same request, same answer: a wrong token, zone or unit does not heal by asking again.
  auth: false,
  http_4xx: false,
  malformed: false,
  // The provider has no value for the zone now: the next refresh asks again, an immediate retry would not help.
  no_data: false,
  units: false,
};

/** What an HTTP provider needs from the outside world, replaceable in tests. */
export interface HttpDeps {
  fetch?: typeof fetch;
  clock: Clock;
}

/** Reads `Retry-After` (seconds or an HTTP date) as milliseconds from now. */
export function parseRetryAfter(header: string | null, nowMs: number): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (header.trim() !== '' && Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** The message a provider put in its error body (`{"error": ...}`, `{"message": ...}`, `{"detail": ...}`, `{"title": ...}`) or its text. */
function errorMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    for (const key of ['message', 'error', 'detail', 'title']) {
      const value = parsed[key];
      if (typeof value === 'string' && value) return value;
    }
  } catch {
    // Not JSON: the text itself is the message (Electricity Maps answers a bad token with plain "Access denied").
  }
  return body.slice(0, 200);
}

/**
 * GET `url` and parse JSON, with a per-request timeout. Every failure becomes a `CarbonFetchError` whose
 * `reason` says what went wrong: timeout, network, auth (401/403), rate_limited (429, with
 * `Retry-After`), http_4xx, http_5xx or malformed (not JSON). `refusalOf` reads what an auth refusal concerns
 * from the provider's message, when the provider says so (`CarbonFetchError.refusal`).
 */
export async function getJson(
  provider: string,
  url: URL,
  headers: Record<string, string>,
  timeoutMs: number,
  deps: HttpDeps,
  refusalOf: (message: string) => AuthRefusal | undefined = () => undefined,
): Promise<unknown> {
  const doFetch = deps.fetch ?? fetch;
  const what = `${provider} ${url.pathname}`;
  let response: Response;
  let text: string;
  try {
    response = await doFetch(url, { headers: { accept: 'application/json', ...headers }, signal: AbortSignal.timeout(timeoutMs) });
    text = await response.text();
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new CarbonFetchError(`${what} timed out after ${timeoutMs} ms`, 'timeout', { cause: error });
    }
    throw new CarbonFetchError(`${what} failed: ${(error as Error).message}`, 'network', { cause: error });
  }
  if (!response.ok) {
    const status = response.status;
    const message = `${what} answered ${status}: ${errorMessage(text)}`;
    if (status === 401 || status === 403) throw new CarbonFetchError(message, 'auth', { status, refusal: refusalOf(message) });
    if (status === 429) {
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), deps.clock.now());
      throw new CarbonFetchError(message, 'rate_limited', { status, retryAfterMs });
    }
    throw new CarbonFetchError(message, status >= 500 ? 'http_5xx' : 'http_4xx', { status });
  }
  // No Content: an answer with nothing in it (the Carbon Aware SDK's for a window without observations).
  if (response.status === 204) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CarbonFetchError(`${what} answered ${response.status} with a body that is not JSON`, 'malformed', { cause: error });
  }
}

/** `path` under `baseUrl` (a trailing slash on the base is fine), with `params` as the query string. */
export function apiUrl(baseUrl: string, path: string, params: Record<string, string> = {}): URL {
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}${path}`);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url;
}

/** Validates a provider's answer against its documented shape, or throws a `malformed` fault naming the first bad field. */
export function parseAnswer<T>(provider: string, schema: z.ZodType<T>, body: unknown, path: string): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new CarbonFetchError(`${provider} ${path}: ${issue?.path.join('.') || '(body)'}: ${issue?.message}`, 'malformed');
}

/** Parses a provider's ISO 8601 timestamp to epoch ms (as trace files are read), or throws a `malformed` fault naming the field. */
export function epochMs(provider: string, field: string, value: string): number {
  const ms = parseTimestamp(value);
  if (Number.isNaN(ms)) throw new CarbonFetchError(`${provider}: ${field} "${value}" is not a timestamp`, 'malformed');
  return ms;
}

/** A point of a carbon series: when, and gCO2/kWh. */
export interface SeriesPoint {
  at: number;
  gco2PerKwh: number;
}

/**
 * An answer as it is cached: its points, read in full before it is (a timestamp or a value the hub cannot
 * read refuses the whole answer, which is then never cached), and when it arrived, which a refresh served from
 * the cache keeps: the data is as old as the answer.
 */
export interface Series {
  fetchedAt: number;
  points: SeriesPoint[];
}

/** The readings of a cached series for `zone` (one answer may serve several zones of the same key). */
export function readingsOf(series: Series, zone: string, source: string, kind: 'measured' | 'forecast'): CarbonReading[] {
  return series.points.map((p) => ({ zone, at: p.at, gco2PerKwh: p.gco2PerKwh, source, kind, fetchedAt: series.fetchedAt }));
}

/**
 * Remembers answers for `ttlMs` so that the hub's 10 s refresh does not turn into 360 requests an hour per
 * zone: the sources publish hourly (Electricity Maps) or every five minutes (WattTime). A failed request
 * is not remembered. History URLs change key every hour, so expired answers are dropped, in one sweep at
 * most once per `ttlMs`, instead of waiting for their key to be asked again (which it never is).
 */
export class ResponseCache<T> {
  private readonly entries = new Map<string, { at: number; value: Promise<T> }>();
  private nextSweepAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {}

  /** Answers held, live or expired but not yet swept: at most those asked for in the last two `ttlMs`. */
  get size(): number {
    return this.entries.size;
  }

  get(key: string, load: () => Promise<T>): Promise<T> {
    const now = this.clock.now();
    this.sweep(now);
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    const value = load();
    this.entries.set(key, { at: now, value });
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    return value;
  }

  private sweep(now: number): void {
    if (now < this.nextSweepAt) return;
    this.nextSweepAt = now + this.ttlMs;
    for (const [key, entry] of this.entries) {
      if (now - entry.at >= this.ttlMs) this.entries.delete(key);
    }
  }
}
