import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testHub, type TestHub } from '../support/hub.js';

/**
 * Property-based fuzzing of every route with malformed input: whatever arrives, the answer is a 4xx
 * with the JSON error body (never a 5xx, never a crash), and the store is exactly as it was. The store
 * holds only finished AppWrappers, so that the schedule and dispatch calls among the inputs have nothing
 * legitimate to change either.
 */
const valid = { job_id: 'fuzz-job', cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 120 };
const FIELDS = ['job_id', 'cpu', 'mem_gb', 'gpu', 'runtime_minutes', 'deadline_minutes', 'data_gb', 'affinity_regions', 'image', 'command'] as const;
const SEED = 20261123;

/** Values that are wrong for every field of a submission (any non-empty string is a valid image, so none here). */
const wrongForEveryField = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.constant(-1),
  fc.constant(''),
  fc.record({ nested: fc.anything() }),
  fc.array(fc.integer(), { minLength: 65 }),
);

/** A submission that is invalid in at least one way: a field made wrong, a field removed, or a field added. */
const brokenSubmission = fc.oneof(
  fc.tuple(fc.constantFrom(...FIELDS), wrongForEveryField).map(([field, value]) => ({ ...valid, [field]: value })),
  fc.constantFrom('job_id', 'cpu', 'mem_gb', 'runtime_minutes', 'deadline_minutes').map((field) => {
    const body: Record<string, unknown> = { ...valid };
    delete body[field];
    return body;
  }),
  // JSON values only: an `undefined` would vanish in JSON.stringify and leave a valid body.
  fc.tuple(fc.string({ minLength: 1 }).filter((k) => !(FIELDS as readonly string[]).includes(k) && k !== '__proto__'), fc.jsonValue()).map(([key, value]) => ({ ...valid, [key]: value })),
  fc.anything().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
);

describe('fuzzing every route', () => {
  let t: TestHub;
  let before: string;

  beforeAll(async () => {
    t = await testHub();
    await t.hub.loops.carbon.runOnce();
    for (const id of ['done-a', 'done-b']) {
      await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { ...valid, job_id: id } });
      await t.hub.app.inject({ method: 'DELETE', url: `/hub/appwrappers/${id}` });
    }
    before = JSON.stringify(await t.hub.lifecycle.store.list());
  });
  afterAll(() => t.hub.stop());

  async function expectRejected(res: { statusCode: number; json: () => unknown }, context: string): Promise<void> {
    expect(res.statusCode, context).toBeGreaterThanOrEqual(400);
    expect(res.statusCode, context).toBeLessThan(500);
    expect(res.json(), context).toMatchObject({ error: expect.any(String), message: expect.any(String), details: expect.any(Array) });
    expect(JSON.stringify(await t.hub.lifecycle.store.list()), context).toBe(before);
  }

  it('rejects broken submissions', async () => {
    await fc.assert(
      fc.asyncProperty(brokenSubmission, async (body) => {
        const res = await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) ?? 'undefined' });
        await expectRejected(res, JSON.stringify(body));
      }),
      { numRuns: 1500, seed: SEED },
    );
  });

  it('rejects raw bodies that are not JSON objects, whatever the content type says', async () => {
    const contentType = fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'application/json; charset=latin1', 'multipart/form-data; boundary=x');
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary' }), contentType, async (payload, type) => {
        fc.pre(!/^\s*\{/.test(payload));
        const res = await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', headers: { 'content-type': type }, payload });
        await expectRejected(res, `${type}: ${JSON.stringify(payload)}`);
      }),
      { numRuns: 800, seed: SEED },
    );
  });

  it('answers every query string on the list route without a 5xx', async () => {
    const key = fc.oneof(fc.constantFrom('phase', 'cluster', 'limit', '__proto__', 'constructor'), fc.string());
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(key, fc.string({ unit: 'binary' })), { maxLength: 4 }), async (pairs) => {
        const query = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
        const res = await t.hub.app.inject({ method: 'GET', url: `/hub/appwrappers?${query}` });
        expect(res.statusCode, query).toBeLessThan(500);
        if (res.statusCode !== 200) await expectRejected(res, query);
      }),
      { numRuns: 500, seed: SEED },
    );
  });

  it('answers every path and method without a 5xx, with the error body on every 4xx, changing nothing', async () => {
    const segment = fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom('..', '%', '%00', 'done-a', 'DONE-A', 'a'.repeat(300), '%2e%2e'));
    // Sent as they are, not encoded: bad percent-escapes reach the router, which refuses them itself.
    const rawSegment = fc.string({ unit: fc.constantFrom('%', '%zz', '%2', '%00', '%ff', '%C0', '%E2%82', '%2F', 'z', 'A', '0', '.', '-', '~', ';', ':', '@', '/', '+', '=') });
    const path = fc.oneof(segment.map(encodeURIComponent), rawSegment);
    const method = fc.constantFrom('GET', 'DELETE', 'POST', 'PUT', 'PATCH');
    const base = fc.constantFrom('/hub/appwrappers/', '/hub/', '/', '/metrics/', '/hub/schedule/', '/hub/clusters/');
    await fc.assert(
      fc.asyncProperty(method, base, path, async (m, prefix, seg) => {
        const url = `${prefix}${seg}`;
        const res = await t.hub.app.inject({ method: m, url });
        expect(res.statusCode, `${m} ${url}`).toBeLessThan(500);
        if (res.statusCode >= 400) expect(Object.keys(res.json() as object).sort(), `${m} ${url}`).toEqual(['details', 'error', 'message']);
        // The finished AppWrappers may be read or refused a second cancel; nothing may change.
        expect(JSON.stringify(await t.hub.lifecycle.store.list()), `${m} ${url}`).toBe(before);
      }),
      { numRuns: 800, seed: SEED },
    );
  });

  it('takes any body on the cycle routes without a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/hub/schedule', '/hub/dispatch'), fc.anything(), async (url, body) => {
        const res = await t.hub.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) ?? '' });
        expect(res.statusCode, `${url} ${JSON.stringify(body)}`).toBeLessThan(500);
        expect(JSON.stringify(await t.hub.lifecycle.store.list())).toBe(before);
      }),
      { numRuns: 200, seed: SEED },
    );
  });
});
