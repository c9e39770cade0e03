import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { csvField, csvLine } from '../../src/domain/csv.js';
import { DECISION_COLUMNS } from '../../src/scheduler/decisions.js';
import { FakeClock } from '../support/fake-clock.js';
import { testHub, type TestHub } from '../support/hub.js';
import { metricValue } from '../support/metric-value.js';

describe('decision log and GET /hub/decisions', () => {
  let t: TestHub;
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'caspian-decisions-'));
  });
  afterEach(async () => {
    await t.hub.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (path: string) => {
    t = await testHub({ decisions: { path } });
    await t.hub.loops.carbon.runOnce();
  };
  const submit = (job_id: string, extra: object = {}) =>
    t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id, cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240, ...extra } });
  const get = (query = '') => t.hub.app.inject({ method: 'GET', url: `/hub/decisions${query}` });

  it('records each new or moved plan once, with its CI score and estimate, and serves it as JSON', async () => {
    await start(join(dir, 'decisions.csv'));
    await submit('a');
    await submit('b', { affinity_regions: ['CN'] });
    const summary = (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json();
    // The same plan again is a confirmation, not a decision.
    await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    const res = await get();
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.count).toBe(2);
    const b = body.items.find((d: { job_id: string }) => d.job_id === 'b');
    const placed = summary.placed.find((p: { job_id: string }) => p.job_id === 'b');
    expect(b).toEqual({
      time: new Date(t.clock.now()).toISOString(),
      job_id: 'b',
      cluster: 'carbon-cn',
      region: 'CN',
      planned_start: placed.planned_start,
      strategy: summary.solver,
      ci_score_gco2_per_kwh: expect.any(Number),
      co2_estimate_g: expect.closeTo(placed.co2_gco2, 2),
      migration_from: '',
      migration_to: '',
    });
    // CI score x energy = the estimate: 2 cores x 30 W + 4 GB x 0.392 W for half an hour.
    const kwh = ((2 * 30 + 4 * 0.392) * 0.5) / 1000;
    expect(b.ci_score_gco2_per_kwh * kwh).toBeCloseTo(b.co2_estimate_g, 1);
    expect(await metricValue(t.hub.metrics, 'caspian_decisions_total')).toBe(2);
    expect((await get('?limit=1&job_id=a')).json()).toMatchObject({ count: 1, items: [{ job_id: 'a' }] });
  });

  it('serves CSV with ?format=csv, the same text the file gets', async () => {
    const path = join(dir, 'nested', 'decisions.csv');
    await start(path);
    await submit('a');
    await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    const res = await get('?format=csv');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const lines = res.body.trim().split('\n');
    expect(lines[0]).toBe(DECISION_COLUMNS.join(','));
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^[^,]+,a,carbon-/);
    await t.hub.decisions.close();
    expect(readFileSync(path, 'utf8')).toBe(res.body);
  });

  it('answers 400 naming the field for a bad query', async () => {
    await start(join(dir, 'decisions.csv'));
    for (const [query, field] of [
      ['?limit=0', 'limit'],
      ['?limit=abc', 'limit'],
      ['?limit=0x10', 'limit'],
      ['?limit=2.0', 'limit'],
      ['?format=xml', 'format'],
      ['?job_id=Bad_Id', 'job_id'],
      ['?since=1', 'since'],
    ] as const) {
      const res = await get(query);
      expect(res.statusCode, query).toBe(400);
      expect(res.json().details.map((d: { field: string }) => d.field), query).toContain(field);
    }
  });

  it('answers any query string with a 200 or a 4xx naming what is wrong, never a 5xx', async () => {
    await start(join(dir, 'decisions.csv'));
    await submit('a');
    await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    const key = fc.oneof(fc.constantFrom('limit', 'format', 'job_id', '__proto__'), fc.string());
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(key, fc.string({ unit: 'binary' })), { maxLength: 4 }), async (pairs) => {
        const query = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
        const res = await get(`?${query}`);
        expect(res.statusCode, query).toBeLessThan(500);
        if (res.statusCode !== 200) expect(res.json().details.length, query).toBeGreaterThan(0);
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it('keeps the cycle going when the file cannot be written, and says so', async () => {
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, 'x');
    await start(join(blocker, 'decisions.csv'));
    await submit('a');
    const res = await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    expect(res.statusCode).toBe(200);
    expect(res.json().placed).toHaveLength(1);
    await t.hub.decisions.close();
    expect(t.log.messages().some((m) => m.startsWith(`decision log: cannot append to ${join(blocker, 'decisions.csv')}`))).toBe(true);
    expect(await metricValue(t.hub.metrics, 'caspian_decision_log_failures_total')).toBe(1);
    expect((await get()).json().count).toBe(1);
  });
});

describe('CSV fields', () => {
  it('quotes commas, quotes and line breaks, and nothing else', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\r')).toBe('"cr\r"');
    expect(csvField(1.5)).toBe('1.5');
    expect(csvField(Number.NaN)).toBe('');
    expect(csvField(undefined)).toBe('');
    expect(csvLine(['a', 'b,c', 3])).toBe('a,"b,c",3\n');
  });
});

describe('decisions seen from cycles that read the clock a little after their tick', () => {
  let t: TestHub;
  afterEach(() => t.hub.stop());
  const submit = (body: Record<string, unknown>) =>
    t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 240, ...body } });
  const schedule = async (t: TestHub) => (await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' })).json();
  const JP_TK = { name: 'JP', cluster: 'carbon-jp', context: 'kind-carbon-jp', zone: 'JP-TK', capacity: { cpu: 16, mem_gb: 64 } };

  it('a job re-planned to the same slot by a cycle that started a few milliseconds late is not logged as a new decision', async () => {
    // The schedule loop ticks on the 5-minute mark; each cycle reads the clock a few ms after it.
    const clock = new FakeClock(Date.UTC(2026, 0, 5, 10, 0, 0) + 12);
    t = await testHub({ regions: [JP_TK] }, { clock });
    await t.hub.loops.carbon.runOnce();
    await submit({ job_id: 'flex', urgency: 'flexible', runtime_minutes: 60, deadline_minutes: 24 * 60 });
    const starts: string[] = [];
    for (const jitterMs of [12, 37, 5]) {
      clock.advanceTo(Date.UTC(2026, 0, 5, 10, 5 * starts.length, 0) + jitterMs);
      await t.hub.loops.carbon.runOnce();
      starts.push((await schedule(t)).placed[0].planned_start);
    }
    // The plan never changed: the same cluster, the slot of the same evening dip (to the millisecond of cycle jitter).
    expect(new Set(starts.map((s) => Math.round(Date.parse(s) / 1000))).size).toBe(1);
    const decisions = (await t.hub.app.inject({ method: 'GET', url: '/hub/decisions?job_id=flex' })).json();
    // README: "a job planned once and left alone appears once".
    expect(decisions.count).toBe(1);
  });
});
