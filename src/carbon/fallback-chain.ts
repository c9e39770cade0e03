import type { Clock } from '../domain/clock.js';
import { AdapterError } from '../domain/errors.js';
import { CarbonFetchError } from './http.js';
import { clip } from './series.js';
import type { CarbonFaultHook, CarbonFaultReason, CarbonProvider, CarbonReading } from './types.js';

export interface FallbackChainOptions {
  /** Providers asked in order; the first that answers wins. */
  links: readonly CarbonProvider[];
  /** How old the last known value may be and still be served as good, ms. Older, the zone is flagged `stale`. */
  maxStalenessMs: number;
  /** Served (flagged `stale`) when no link answers and nothing recent is known; none: the call fails. */
  constantGco2PerKwh?: number;
  /** Tries per link and call for faults that may heal (timeouts, network, 5xx, 429). */
  attempts: number;
  /** Backoff between tries and before a failed link is asked again: base * 2^(failures-1), capped. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Longest wait within a call (a longer `Retry-After` skips the link until then instead). */
  maxWaitInCallMs: number;
}

export const DEFAULT_CHAIN_OPTIONS: Readonly<Omit<FallbackChainOptions, 'links'>> = Object.freeze({
  maxStalenessMs: 3_600_000,
  attempts: 2,
  backoffBaseMs: 500,
  backoffMaxMs: 600_000,
  maxWaitInCallMs: 2_000,
});

export interface FallbackChainDeps {
  clock: Clock;
  /** Waits between tries; tests pass one that only records. */
  sleep?: (ms: number) => Promise<void>;
  /** Every fault a link had, whether or not a later link answered. */
  onError?: CarbonFaultHook;
}

/** The requests a link answers, each of which a provider may refuse or fail on its own. */
type RequestKind = 'current' | 'forecast' | 'history';
type RestKeys = { account: string; zone: string; request: string };

/** The source name of the last known value the chain serves when no link answers. */
export const LAST_KNOWN = 'last-known';
const CONSTANT = 'constant';

function reasonOf(error: unknown): CarbonFaultReason {
  if (error instanceof CarbonFetchError) return error.reason;
  if (error instanceof AdapterError && /timed out/.test(error.message)) return 'timeout';
  return 'network';
}

const hasPoints = (points: readonly CarbonReading[]): boolean => points.length > 0;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * A `CarbonProvider` over several, per zone: each link in order, then the last value any link gave (while
 * younger than `maxStalenessMs`), then a configured constant. Every value keeps its `source` (the link that
 * answered, `last-known` or `constant`). Faults never escape while something later answers: each is
 * reported through `onError`, retried within the call when it may heal, and the link rests for a capped,
 * growing backoff (or the `Retry-After` of a 429) before it is asked again.
 */
export class FallbackChain implements CarbonProvider {
  readonly name: string;
  private readonly options: FallbackChainOptions;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Per link (or zone, or zone and kind of request: see `restFor`), when it may be asked again and how often it failed in a row. */
  private readonly rest = new Map<string, { until: number; failures: number; seq: number }>();
  /** Numbers the rests in the order they were set, so that an answer lifts only those set before it was asked for. */
  private restSeq = 0;
  private readonly lastCurrent = new Map<string, CarbonReading>();
  private readonly lastForecast = new Map<string, { fetchedAt: number; points: CarbonReading[] }>();
  private readonly inflight = new Map<string, Promise<CarbonReading>>();

  constructor(
    options: Partial<FallbackChainOptions> & Pick<FallbackChainOptions, 'links'>,
    private readonly deps: FallbackChainDeps,
  ) {
    this.options = { ...DEFAULT_CHAIN_OPTIONS, ...options };
    this.sleep = deps.sleep ?? defaultSleep;
    const names = [...this.options.links.map((l) => l.name), LAST_KNOWN, ...(this.options.constantGco2PerKwh === undefined ? [] : [CONSTANT])];
    this.name = names.join('>');
  }

  /** The rests that keep a request of this kind for this zone from the link (see `restFor`). */
  private restKeys(link: CarbonProvider, kind: RequestKind, zone: string): RestKeys {
    return { account: link.name, zone: `${link.name}|${zone}`, request: `${link.name}|${zone}|${kind}` };
  }

  /**
   * Which of them a fault sets:
   * - the account: a rate limit (429), a refused token (401), or a refusal the provider says is account-wide
   *   (WattTime's 403 to a login);
   * - the zone: a connection that fails (refused, reset, no such host): every kind of request would meet it;
   * - the zone and kind of request that got it: any other answer (another 403, a 401 the provider says is
   *   this request's, a 5xx, a malformed body) and a timeout. Electricity Maps refuses a zone or an endpoint
   *   outside the plan (a free plan has one zone and no `past-range`) while the others still work, WattTime
   *   refuses a region not in the plan, and one endpoint failing or slow says nothing of the others.
   */
  private restFor(keys: RestKeys, error: unknown): string {
    const reason = reasonOf(error);
    if (reason === 'rate_limited') return keys.account;
    if (reason === 'auth') {
      const refusal = error instanceof CarbonFetchError ? (error.refusal ?? (error.status === 403 ? 'request' : 'account')) : 'account';
      return refusal === 'request' ? keys.request : keys.account;
    }
    return reason === 'network' ? keys.zone : keys.request;
  }

  private backoff(failures: number): number {
    return Math.min(this.options.backoffMaxMs, this.options.backoffBaseMs * 2 ** Math.max(0, failures - 1));
  }

  /**
   * Asks the links in order. A link that answers with nothing (`hasData` false: an empty series) is no
   * fault, but the next link is asked; its empty answer is returned only when no later link has data.
   * Undefined when no link answered at all.
   */
  private async ask<T>(kind: RequestKind, zone: string, call: (link: CarbonProvider) => Promise<T> | undefined, hasData: (value: T) => boolean = () => true): Promise<T | undefined> {
    let empty: T | undefined;
    for (const link of this.options.links) {
      const keys = this.restKeys(link, kind, zone);
      const now = this.deps.clock.now();
      if (Object.values(keys).some((key) => (this.rest.get(key)?.until ?? 0) > now)) continue;
      for (let attempt = 1; attempt <= this.options.attempts; attempt++) {
        const askedAfter = this.restSeq;
        try {
          const pending = call(link);
          if (!pending) break;
          const value = await pending;
          // Lifts only the rests this request was subject to (another kind may still be refused), and only
          // those set before it was sent: a 429 another zone met meanwhile still holds for the account.
          for (const key of Object.values(keys)) if ((this.rest.get(key)?.seq ?? Infinity) <= askedAfter) this.rest.delete(key);
          if (hasData(value)) return value;
          empty = value;
          break;
        } catch (error) {
          const reason = reasonOf(error);
          this.deps.onError?.(link.name, reason, error);
          const key = this.restFor(keys, error);
          const failures = (this.rest.get(key)?.failures ?? 0) + 1;
          const retryAfterMs = error instanceof CarbonFetchError ? error.retryAfterMs : undefined;
          const wait = Math.max(this.backoff(attempt), retryAfterMs ?? 0);
          const retryable = error instanceof AdapterError ? error.retryable : true;
          if (retryable && attempt < this.options.attempts && wait <= this.options.maxWaitInCallMs) {
            await this.sleep(wait);
            continue;
          }
          this.rest.set(key, { until: this.deps.clock.now() + Math.max(this.backoff(failures), retryAfterMs ?? 0), failures, seq: ++this.restSeq });
          break;
        }
      }
    }
    return empty;
  }

  private isFresh(fetchedAt: number): boolean {
    return this.deps.clock.now() - fetchedAt <= this.options.maxStalenessMs;
  }

  /** Reports that the last known `what` (value or forecast) of `zone` is past `maxStalenessMs`. */
  private reportStale(what: string, zone: string, fetchedAt: number): void {
    const age = Math.round((this.deps.clock.now() - fetchedAt) / 1000);
    this.deps.onError?.(LAST_KNOWN, 'stale', new AdapterError(`last known ${what} for zone ${zone} is ${age} s old`, true));
  }

  /**
   * One walk down the chain per zone at a time: the hub asks for the current value and the horizon filler
   * asks again for its forecast, and a fault must be tried, and counted, once.
   */
  current(zone: string): Promise<CarbonReading> {
    const pending = this.inflight.get(zone);
    if (pending) return pending;
    const walk = this.walkCurrent(zone).finally(() => this.inflight.delete(zone));
    this.inflight.set(zone, walk);
    return walk;
  }

  private async walkCurrent(zone: string): Promise<CarbonReading> {
    const answer = await this.ask('current', zone, (link) => link.current(zone));
    if (answer) {
      const reading = { ...answer, fetchedAt: answer.fetchedAt ?? this.deps.clock.now() };
      this.lastCurrent.set(zone, reading);
      return reading;
    }
    const known = this.lastCurrent.get(zone);
    if (known && this.isFresh(known.fetchedAt as number)) return { ...known, source: LAST_KNOWN };
    if (known) this.reportStale('value', zone, known.fetchedAt as number);
    if (this.options.constantGco2PerKwh !== undefined) {
      // The stand-in is no delivery: the data's age still counts from the last value that arrived.
      const constant: CarbonReading = { zone, at: this.deps.clock.now(), gco2PerKwh: this.options.constantGco2PerKwh, source: CONSTANT, kind: 'filled', stale: true };
      return known ? { ...constant, fetchedAt: known.fetchedAt } : constant;
    }
    if (known) return { ...known, source: LAST_KNOWN, stale: true };
    throw new AdapterError(`no carbon data for zone ${zone}: every link of ${this.name} failed`, true);
  }

  async forecast(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    const answer = await this.ask('forecast', zone, (link) => link.forecast(zone, fromMs, toMs), hasPoints);
    if (answer && hasPoints(answer)) {
      this.lastForecast.set(zone, { fetchedAt: this.deps.clock.now(), points: answer });
      return answer;
    }
    // The last forecast still says something about the hours it covered (an empty answer does not replace
    // it), while it is as young as a last known current value may be. Older, it no longer stands for the
    // present: the hours it predicted are known better by the current value and history, which the horizon
    // filler falls back to (there is no constant forecast).
    const known = this.lastForecast.get(zone);
    if (known && this.isFresh(known.fetchedAt)) return clip(known.points, fromMs, toMs).map((p) => ({ ...p, source: LAST_KNOWN }));
    if (known) this.reportStale('forecast', zone, known.fetchedAt);
    if (answer) return answer;
    throw new AdapterError(`no carbon forecast for zone ${zone}: every link of ${this.name} failed`, true);
  }

  async history(zone: string, fromMs: number, toMs: number): Promise<CarbonReading[]> {
    const answer = await this.ask('history', zone, (link) => link.history?.(zone, fromMs, toMs), hasPoints);
    if (answer) return answer;
    if (this.options.links.some((l) => l.history)) throw new AdapterError(`no carbon history for zone ${zone}: every link of ${this.name} failed`, true);
    return [];
  }
}
