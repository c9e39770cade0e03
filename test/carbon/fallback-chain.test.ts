import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ElectricityMapsProvider } from '../../src/carbon/electricitymaps-provider.js';
import { FallbackChain, type FallbackChainOptions } from '../../src/carbon/fallback-chain.js';
import { FileTraceProvider } from '../../src/carbon/file-provider.js';
import { WattTimeProvider } from '../../src/carbon/watttime-provider.js';
import { CarbonFetchError } from '../../src/carbon/http.js';
import type { CarbonFaultReason, CarbonProvider, CarbonReading } from '../../src/carbon/types.js';
import { deferred, flushPromises, type Deferred } from '../support/deferred.js';
import { FakeClock } from '../support/fake-clock.js';
import { Loopback } from './loopback.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/carbon/kr-2025-03-hourly.csv', import.meta.url));
const LATEST_PATH = '/v3/carbon-intensity/latest';
const FORECAST_PATH = '/v3/carbon-intensity/forecast';
const PAST_RANGE_PATH = '/v3/carbon-intensity/past-range';
const HOUR = 3_600_000;
const latestBody = (carbonIntensity: number, datetime = '2025-03-05T10:00:00.000Z', zone = 'KR') => ({ zone, carbonIntensity, datetime, updatedAt: '2025-03-05T10:05:00.000Z', isEstimated: false, estimationMethod: null });
const latest = (carbonIntensity: number) => ({ json: latestBody(carbonIntensity) });
const forecastAnswer = { json: { zone: 'KR', forecast: [{ carbonIntensity: 441, datetime: '2025-03-05T11:00:00.000Z' }], updatedAt: '2025-03-05T10:00:00.000Z' } };
const pastRangeAnswer = { json: { zone: 'KR', data: [latestBody(430, '2025-03-05T09:00:00.000Z'), latestBody(436)] } };
// The bodies Electricity Maps answers: a plan without the endpoint gets the gateway's plain text, a bad token its JSON.
const FORBIDDEN = { status: 403, text: 'Access denied' };
const BAD_TOKEN = { status: 401, json: { error: 'Invalid auth-token', message: 'The provided token is invalid. If this token used to work, please visit https://help.electricitymaps.com to get support' } };
const RATE_LIMITED = { status: 429, json: { error: 'Too many requests' }, headers: { 'retry-after': '120' } };

let server: Loopback;
let clock: FakeClock;
let faults: [string, CarbonFaultReason][];
let sleeps: number[];

function chain(options: Partial<FallbackChainOptions> = {}, links = ['electricitymaps', 'file']): FallbackChain {
  // cacheSeconds 0: every call reaches the server, so that each scripted answer is seen.
  const em = new ElectricityMapsProvider({ baseUrl: server.url, apiToken: 't', zones: {}, emissionFactorType: 'lifecycle', timeoutMs: 100, cacheSeconds: 0 }, { clock });
  const file = new FileTraceProvider({ paths: [FIXTURE], loop: true, zones: {}, emissionFactor: 'lifecycle' }, clock);
  const byName = { electricitymaps: em, file };
  return new FallbackChain(
    { links: links.map((l) => byName[l as keyof typeof byName]), maxStalenessMs: HOUR, ...options },
    {
      clock,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      onError: (provider, reason) => faults.push([provider, reason]),
    },
  );
}

beforeEach(async () => {
  server = await new Loopback().start();
  clock = new FakeClock(Date.UTC(2025, 2, 5, 10, 30));
  faults = [];
  sleeps = [];
});
afterEach(() => server.stop());

describe('FallbackChain', () => {
  it('is named after its links and answers from the first that works', async () => {
    server.on(LATEST_PATH, latest(436));
    const c = chain({ constantGco2PerKwh: 500 });
    expect(c.name).toBe('electricitymaps>file>last-known>constant');
    expect(await c.current('KR')).toMatchObject({ gco2PerKwh: 436, source: 'electricitymaps', fetchedAt: clock.now() });
    expect(faults).toEqual([]);
  });

  it('moves on to the file when Electricity Maps fails, reporting the fault and retrying what may heal', async () => {
    server.on(LATEST_PATH, { status: 503, text: 'Service Unavailable' });
    expect(await chain().current('KR')).toMatchObject({ source: 'file', gco2PerKwh: expect.any(Number) });
    expect(faults).toEqual([
      ['electricitymaps', 'http_5xx'],
      ['electricitymaps', 'http_5xx'],
    ]);
    expect(sleeps).toEqual([500]);
  });

  it('does not retry faults that do not heal (auth, units, malformed) within a call', async () => {
    server.on(LATEST_PATH, { status: 401, json: { error: 'Invalid authentication token' } });
    await chain().current('KR');
    expect(faults).toEqual([['electricitymaps', 'auth']]);
    expect(sleeps).toEqual([]);
  });

  it('honours Retry-After: a short one is waited for, a long one rests the link until then', async () => {
    server.on(LATEST_PATH, { status: 429, json: { error: 'Too many requests' }, headers: { 'retry-after': '1' } }, latest(436));
    const c = chain();
    expect((await c.current('KR')).source).toBe('electricitymaps');
    expect(sleeps).toEqual([1000]);

    server.on(LATEST_PATH, { status: 429, json: { error: 'Too many requests' }, headers: { 'retry-after': '120' } }, latest(437));
    expect((await c.current('KR')).source).toBe('file');
    expect(server.count(LATEST_PATH)).toBe(3);
    clock.advance(60_000);
    expect((await c.current('KR')).source).toBe('file');
    expect(server.count(LATEST_PATH)).toBe(3);
    clock.advance(60_000);
    expect(await c.current('KR')).toMatchObject({ source: 'electricitymaps', gco2PerKwh: 437 });
  });

  it('rests a failing link with a growing, capped backoff', async () => {
    server.on(LATEST_PATH, { status: 500, json: { error: 'boom' } });
    const c = chain({ attempts: 1, backoffBaseMs: 10_000, backoffMaxMs: 25_000 });
    const asked: number[] = [];
    for (let i = 0; i < 8; i++) {
      await c.current('KR');
      asked.push(server.count(LATEST_PATH));
      clock.advance(5_000);
    }
    // Failures at t=0 (rest 10 s), t=10 s (rest 20 s), t=30 s (rest 25 s, the cap) ...
    expect(asked).toEqual([1, 1, 2, 2, 2, 2, 3, 3]);
  });

  it('times out a hanging link and still answers', async () => {
    server.on(LATEST_PATH, 'hang');
    expect((await chain({ attempts: 1 }).current('KR')).source).toBe('file');
    expect(faults).toEqual([['electricitymaps', 'timeout']]);
  });

  it('serves the last known value while it is young enough, then flags it stale, then the constant', async () => {
    server.on(LATEST_PATH, latest(436), { status: 500, json: { error: 'boom' } });
    const c = chain({ attempts: 1, backoffBaseMs: 1 }, ['electricitymaps']);
    await c.current('KR');
    clock.advance(30 * 60_000);
    expect(await c.current('KR')).toMatchObject({ gco2PerKwh: 436, source: 'last-known' });
    clock.advance(31 * 60_000);
    expect(await c.current('KR')).toMatchObject({ gco2PerKwh: 436, source: 'last-known', stale: true });
    expect(faults.at(-1)).toEqual(['last-known', 'stale']);

    const withConstant = chain({ attempts: 1, constantGco2PerKwh: 550 }, ['electricitymaps']);
    expect(await withConstant.current('KR')).toMatchObject({ gco2PerKwh: 550, source: 'constant', kind: 'filled', stale: true });
  });

  it('fails only when nothing at all is known', async () => {
    server.on(LATEST_PATH, { text: 'not json' });
    await expect(chain({ attempts: 1 }, ['electricitymaps']).current('KR')).rejects.toThrow(/every link of electricitymaps>last-known failed/);
    expect(faults).toEqual([['electricitymaps', 'malformed']]);
  });

  it('falls back for forecasts too, then to the last forecast it had', async () => {
    server.on('/v3/carbon-intensity/forecast', { json: { zone: 'KR', forecast: [{ carbonIntensity: 441, datetime: '2025-03-05T11:00:00.000Z' }], updatedAt: '2025-03-05T10:00:00.000Z' } }, { status: 500, json: {} });
    const c = chain({ attempts: 1, backoffBaseMs: 1 }, ['electricitymaps']);
    const from = clock.now();
    expect(await c.forecast('KR', from, from + 2 * HOUR)).toMatchObject([{ gco2PerKwh: 441, source: 'electricitymaps' }]);
    clock.advance(10_000);
    expect(await c.forecast('KR', from, from + 2 * HOUR)).toMatchObject([{ gco2PerKwh: 441, source: 'last-known' }]);
  });

  it('an empty forecast is no answer: the next link is asked', async () => {
    // Electricity Maps answers a zone it does not forecast, or points it has no value for, with no points.
    server.on(FORECAST_PATH, { json: { zone: 'KR', forecast: [{ carbonIntensity: null, datetime: '2025-03-05T11:00:00.000Z' }], updatedAt: '2025-03-05T10:00:00.000Z' } });
    const points = await chain({ attempts: 1 }).forecast('KR', clock.now(), clock.now() + 2 * HOUR);
    expect(points.length).toBeGreaterThan(0);
    expect(points.every((p) => p.source === 'file')).toBe(true);
    expect(faults).toEqual([]);
  });

  it('an empty forecast does not replace the last forecast known', async () => {
    server.on(FORECAST_PATH, forecastAnswer, { json: { zone: 'KR', forecast: [], updatedAt: '2025-03-05T10:00:00.000Z' } });
    const c = chain({ attempts: 1 }, ['electricitymaps']);
    const from = clock.now();
    await c.forecast('KR', from, from + 2 * HOUR);
    clock.advance(10_000);
    expect(await c.forecast('KR', from, from + 2 * HOUR)).toMatchObject([{ gco2PerKwh: 441, source: 'last-known' }]);
  });

  it('answers an empty forecast when every link has nothing and nothing is known', async () => {
    server.on(FORECAST_PATH, { json: { zone: 'KR', forecast: [], updatedAt: '2025-03-05T10:00:00.000Z' } });
    expect(await chain({ attempts: 1 }, ['electricitymaps']).forecast('KR', clock.now(), clock.now() + 2 * HOUR)).toEqual([]);
  });

  it('takes history from the next link when the first has none for the range', async () => {
    server.on(PAST_RANGE_PATH, { json: { zone: 'KR', data: [] } });
    const history = await chain({ attempts: 1 }).history('KR', clock.now() - 2 * HOUR, clock.now());
    expect(history.length).toBeGreaterThan(0);
    expect(history.every((p) => p.source === 'file')).toBe(true);
  });

  it('takes history from the first link that has it', async () => {
    server.on('/v3/carbon-intensity/past-range', { status: 403, text: 'Access denied' });
    const history = await chain({ attempts: 1 }).history('KR', clock.now() - 2 * HOUR, clock.now());
    // The value in effect at the start (08:00), then 09:00 and 10:00.
    expect(history.map((p) => [new Date(p.at).getUTCHours(), p.source])).toEqual([
      [8, 'file'],
      [9, 'file'],
      [10, 'file'],
    ]);
  });
});

describe('FallbackChain rest after a fault', () => {
  type Kind = 'current' | 'forecast' | 'history';
  const PATHS: Record<Kind, string> = { current: LATEST_PATH, forecast: FORECAST_PATH, history: PAST_RANGE_PATH };
  const ask = async (c: FallbackChain, kind: Kind) => {
    const now = clock.now();
    if (kind === 'current') return (await c.current('KR')).source;
    const points = kind === 'forecast' ? await c.forecast('KR', now, now + 2 * HOUR) : await c.history('KR', now - 2 * HOUR, now);
    return points.at(-1)?.source;
  };
  const refusals: { name: string; kind: Kind; answer: Parameters<Loopback['on']>[1]; reason: CarbonFaultReason; rests: Kind[] }[] = [
    { name: 'a 403 on past-range (the plan lacks it) rests history only', kind: 'history', answer: FORBIDDEN, reason: 'auth', rests: ['history'] },
    { name: 'a 403 on latest rests current only', kind: 'current', answer: FORBIDDEN, reason: 'auth', rests: ['current'] },
    { name: 'a 403 on forecast rests forecast only', kind: 'forecast', answer: FORBIDDEN, reason: 'auth', rests: ['forecast'] },
    { name: 'a 401 on past-range (bad token) rests everything', kind: 'history', answer: BAD_TOKEN, reason: 'auth', rests: ['current', 'forecast', 'history'] },
    { name: 'a 401 on latest rests everything', kind: 'current', answer: BAD_TOKEN, reason: 'auth', rests: ['current', 'forecast', 'history'] },
    { name: 'a 429 on past-range rests everything', kind: 'history', answer: RATE_LIMITED, reason: 'rate_limited', rests: ['current', 'forecast', 'history'] },
    { name: 'a 503 on past-range rests history only', kind: 'history', answer: { status: 503, text: 'Service Unavailable' }, reason: 'http_5xx', rests: ['history'] },
    { name: 'a 500 on forecast rests forecast only', kind: 'forecast', answer: { status: 500, json: { error: 'boom' } }, reason: 'http_5xx', rests: ['forecast'] },
    { name: 'a malformed latest rests current only', kind: 'current', answer: { status: 200, text: 'not json' }, reason: 'malformed', rests: ['current'] },
    { name: 'a past-range that times out rests history only', kind: 'history', answer: 'hang', reason: 'timeout', rests: ['history'] },
    { name: 'a connection dropped on past-range rests the zone', kind: 'history', answer: 'reset', reason: 'network', rests: ['current', 'forecast', 'history'] },
  ];
  for (const { name, kind, answer, reason, rests } of refusals) {
    it(`${name}, for the rest of the minute`, async () => {
      server.on(LATEST_PATH, latest(436)).on(FORECAST_PATH, forecastAnswer).on(PAST_RANGE_PATH, pastRangeAnswer).on(PATHS[kind], answer);
      const c = chain({ attempts: 1, backoffBaseMs: 60_000 });
      expect(await ask(c, kind)).toBe('file');
      expect(faults).toEqual([['electricitymaps', reason]]);

      clock.advance(30_000);
      // The refused kind last, so that the others' successes have had their chance to lift its rest.
      for (const k of [...(['current', 'forecast', 'history'] as const).filter((k) => k !== kind), kind]) {
        expect({ kind: k, source: await ask(c, k) }).toEqual({ kind: k, source: rests.includes(k) ? 'file' : 'electricitymaps' });
      }
      expect(server.count(PATHS[kind])).toBe(1);
      expect(faults).toHaveLength(1);
    });
  }

  it('rests every kind of request after WattTime refuses the login (a 403 there is bad credentials)', async () => {
    server.on('/login', { status: 403, json: { error: 'Forbidden', message: 'invalid credentials' } });
    const watttime = new WattTimeProvider(
      { baseUrl: server.url, username: 'caspian', password: 'wrong', zones: {}, signalType: 'co2_moer', timeoutMs: 100, cacheSeconds: 0 },
      { clock },
    );
    const file = new FileTraceProvider({ paths: [FIXTURE], loop: true, zones: {}, emissionFactor: 'lifecycle' }, clock);
    const c = new FallbackChain({ links: [watttime, file], maxStalenessMs: HOUR, attempts: 1, backoffBaseMs: 60_000, constantGco2PerKwh: 500 }, { clock, onError: (provider, reason) => faults.push([provider, reason]) });
    expect((await c.current('KR')).source).toBe('file');
    clock.advance(30_000);
    expect((await c.forecast('KR', clock.now(), clock.now() + 2 * HOUR)).at(-1)?.source).toBe('file');
    expect((await c.history('KR', clock.now() - 2 * HOUR, clock.now())).at(-1)?.source).toBe('file');
    expect((await c.current('JP-TK')).source).toBe('constant');
    expect(server.count('/login')).toBe(1);
    expect(faults.filter(([provider]) => provider === 'watttime')).toEqual([['watttime', 'auth']]);
  });

  it('rests a 403 for the zone that got it: another zone is still asked', async () => {
    server.on(LATEST_PATH, (request) => (request.query.zone === 'JP-TK' ? FORBIDDEN : { json: latestBody(436, '2025-03-05T10:00:00.000Z', request.query.zone) }));
    const c = chain({ attempts: 1, backoffBaseMs: 60_000, constantGco2PerKwh: 500 }, ['electricitymaps']);
    expect((await c.current('JP-TK')).source).toBe('constant');
    expect((await c.current('KR')).source).toBe('electricitymaps');
    expect((await c.current('JP-TK')).source).toBe('constant');
    expect(server.count(LATEST_PATH)).toBe(2);
  });
});

/** A link whose current() calls the test settles by hand, or, once `answerAtOnce` is set, that answer at once with it. */
class HeldProvider implements CarbonProvider {
  readonly name = 'electricitymaps';
  readonly calls: { zone: string; answer: Deferred<CarbonReading> }[] = [];
  answerAtOnce: number | undefined;
  current(zone: string): Promise<CarbonReading> {
    const answer = deferred<CarbonReading>();
    this.calls.push({ zone, answer });
    if (this.answerAtOnce !== undefined) answer.resolve({ zone, at: 0, gco2PerKwh: this.answerAtOnce, source: this.name, kind: 'measured' });
    return answer.promise;
  }
  async forecast(): Promise<CarbonReading[]> {
    return [];
  }
}

describe('FallbackChain under concurrent callers', () => {
  it('keeps the account-wide rest of a 429 when a request sent before it succeeds after it', async () => {
    const held = new HeldProvider();
    const file = new FileTraceProvider({ paths: [FIXTURE], loop: true, zones: {}, emissionFactor: 'lifecycle' }, clock);
    const c = new FallbackChain({ links: [held, file], maxStalenessMs: HOUR }, { clock, sleep: async () => undefined });
    // The hub refreshes every zone at once: both requests are in flight together.
    const jp = c.current('JP-TK');
    const kr = c.current('KR');
    await flushPromises();
    // KR is refused first: 429, ask again in 120 s (the whole account is rate limited).
    held.calls[1]?.answer.reject(new CarbonFetchError('electricitymaps answered 429', 'rate_limited', { status: 429, retryAfterMs: 120_000 }));
    expect((await kr).source).toBe('file');
    // JP-TK's request, sent before the 429, answers afterwards.
    held.calls[0]?.answer.resolve({ zone: 'JP-TK', at: clock.now(), gco2PerKwh: 450, source: 'electricitymaps', kind: 'measured' });
    expect((await jp).source).toBe('electricitymaps');
    // 10 s later, well inside Retry-After, the account is not asked again.
    clock.advance(10_000);
    held.answerAtOnce = 999;
    expect((await c.current('KR')).source).toBe('file');
    expect(held.calls).toHaveLength(2);
  });

  it('walks the chain once for simultaneous current() calls of a zone, so a fault is counted once', async () => {
    server.on(LATEST_PATH, { status: 401, json: { error: 'Invalid authentication token' } });
    const c = chain();
    const [a, b] = await Promise.all([c.current('KR'), c.current('KR')]);
    expect(a).toEqual(b);
    expect(faults).toEqual([['electricitymaps', 'auth']]);
    expect(server.count(LATEST_PATH)).toBe(1);
  });
});
