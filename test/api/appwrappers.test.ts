import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { metricValue } from '../support/metric-value.js';
import { testHub, type TestHub } from '../support/hub.js';

const valid = { job_id: 'my-job', cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 120 };

describe('AppWrapper API', () => {
  let t: TestHub;
  beforeEach(async () => {
    t = await testHub();
    await t.hub.loops.carbon.runOnce();
  });
  afterEach(() => t.hub.stop());

  const post = (payload: unknown) => t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: payload as object });

  it('stores a submission and answers 201 with the AppWrapper', async () => {
    const res = await post({ ...valid, gpu: 1, data_gb: 10, affinity_regions: ['JP', 'KR'], image: 'python:3.12', command: ['python', '-c', 'print(1)'] });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({
      job_id: 'my-job',
      phase: 'Pending',
      spec: { cpu: 2, mem_gb: 4, gpu: 1, runtime_minutes: 30, deadline_minutes: 120, data_gb: 10, affinity_regions: ['JP', 'KR'], image: 'python:3.12' },
      target_cluster: null,
      gate_open: false,
      metadata: {},
    });
    expect(Date.parse(body.deadline_at) - Date.parse(body.submitted_at)).toBe(120 * 60_000);
    const got = await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/my-job' });
    expect(got.json()).toEqual(body);
  });

  it('applies defaults for the optional fields', async () => {
    const body = (await post(valid)).json();
    expect(body.spec).toMatchObject({ gpu: 0, data_gb: 0, affinity_regions: [], checkpointing: true, image: null, command: null });
  });

  it('answers 409 for a duplicate id and keeps the first', async () => {
    expect((await post(valid)).statusCode).toBe(201);
    const res = await post({ ...valid, cpu: 8 });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ error: 'Conflict', message: 'AppWrapper "my-job" already exists', details: [] });
    expect((await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/my-job' })).json().spec.cpu).toBe(2);
  });

  it.each([
    ['negative cpu', { cpu: -1 }, ['cpu']],
    ['zero cpu', { cpu: 0 }, ['cpu']],
    ['cpu as a string', { cpu: '2' }, ['cpu']],
    ['negative memory', { mem_gb: -4 }, ['mem_gb']],
    ['fractional gpu', { gpu: 0.5 }, ['gpu']],
    ['deadline shorter than runtime', { deadline_minutes: 10 }, ['deadline_minutes']],
    ['runtime beyond a week', { runtime_minutes: 20000, deadline_minutes: 20000 }, ['runtime_minutes', 'deadline_minutes']],
    // It would plan as zero slots, which the optimizer refuses, and every cycle with it.
    ['runtime under a second', { runtime_minutes: 5e-324, deadline_minutes: 5e-324 }, ['runtime_minutes']],
    ['unknown region', { affinity_regions: ['KR', 'XX'] }, ['affinity_regions.1']],
    ['repeated region', { affinity_regions: ['KR', 'KR'] }, ['affinity_regions']],
    ['upper-case id', { job_id: 'My-Job' }, ['job_id']],
    ['id with underscore', { job_id: 'my_job' }, ['job_id']],
    ['id ending in a dash', { job_id: 'job-' }, ['job_id']],
    ['id too long', { job_id: 'a'.repeat(51) }, ['job_id']],
    ['id naming a migrated job\'s Job', { job_id: 'train-g2' }, ['job_id']],
    ['empty command', { command: [] }, ['command']],
    ['checkpointing as a string', { checkpointing: 'no' }, ['checkpointing']],
    ['unknown field', { priority: 5 }, ['priority']],
    ['several at once', { cpu: -1, mem_gb: 'x', deadline_minutes: 5, affinity_regions: ['MARS'], extra: true }, ['cpu', 'mem_gb', 'deadline_minutes', 'affinity_regions.0', 'extra']],
  ])('answers 400 naming the field for %s', async (_name, change, fields) => {
    const res = await post({ ...valid, ...change });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.error).toBe('Bad Request');
    expect(body.details.map((d: { field: string }) => d.field).sort()).toEqual([...fields].sort());
    for (const field of fields) expect(body.message).toContain(field);
    expect((await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers' })).json().count).toBe(0);
  });

  it.each([
    ['a missing body', undefined],
    ['an array', [valid]],
    ['null', null],
  ])('answers 400 for %s', async (_name, payload) => {
    const res = await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload ?? null) });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('Bad Request');
  });

  it('answers 400 for a number JSON can spell but not hold (1e400 parses to Infinity)', async () => {
    const res = await t.hub.app.inject({
      method: 'POST',
      url: '/hub/appwrappers',
      headers: { 'content-type': 'application/json' },
      payload: '{"job_id":"x","cpu":1e400,"mem_gb":1,"runtime_minutes":1,"deadline_minutes":1}',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().details.map((d: { field: string }) => d.field)).toEqual(['cpu']);
  });

  it('answers 400 for malformed JSON and 415 for another media type', async () => {
    const bad = await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', headers: { 'content-type': 'application/json' }, payload: '{"job_id": ' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'Bad Request', details: [] });
    const text = await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', headers: { 'content-type': 'text/plain' }, payload: 'hello' });
    expect(text.statusCode).toBe(415);
  });

  it.each([
    { coding: 'gzip', payload: () => gzipSync(JSON.stringify(valid)), was: '400 "Body is not valid JSON" for valid JSON' },
    { coding: 'br', payload: () => JSON.stringify(valid), was: 'a plain body labelled Brotli stored (201)' },
  ])('answers 415 for a body in a content coding ($coding), naming it, and stores nothing (was: $was)', async ({ coding, payload }) => {
    const res = await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', headers: { 'content-type': 'application/json', 'content-encoding': coding }, payload: payload() });
    expect(res.statusCode).toBe(415);
    expect(res.headers['accept-encoding']).toBe('identity');
    expect(res.json()).toEqual({ error: 'Unsupported Media Type', message: `Content-Encoding "${coding}" is not accepted: send the JSON body uncompressed (identity)`, details: [] });
    expect(await t.hub.lifecycle.store.list()).toEqual([]);
    const identity = await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', headers: { 'content-type': 'application/json', 'content-encoding': 'identity' }, payload: JSON.stringify(valid) });
    expect(identity.statusCode).toBe(201);
  });

  it('answers 413 for a body over the limit', async () => {
    const res = await post({ ...valid, command: ['x'.repeat(70 * 1024)] });
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toBe('Payload Too Large');
  });

  it('lists in submission order and filters by phase and cluster', async () => {
    for (const id of ['c', 'a', 'b']) await post({ ...valid, job_id: id });
    await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    await post({ ...valid, job_id: 'late' });

    const all = (await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers' })).json();
    expect(all.items.map((i: { job_id: string }) => i.job_id)).toEqual(['c', 'a', 'b', 'late']);
    const pending = (await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers?phase=Pending' })).json();
    expect(pending.items.map((i: { job_id: string }) => i.job_id)).toEqual(['late']);
    const planned = (await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers?phase=Planned' })).json();
    expect(planned.count).toBe(3);
    const cluster = planned.items[0].target_cluster as string;
    const onCluster = (await t.hub.app.inject({ method: 'GET', url: `/hub/appwrappers?cluster=${cluster}` })).json();
    expect(onCluster.items.every((i: { target_cluster: string }) => i.target_cluster === cluster)).toBe(true);
    expect(onCluster.count).toBeGreaterThan(0);
  });

  it('pages through the list with limit and the next cursor, filters included', async () => {
    for (const id of ['a', 'b', 'c', 'd', 'e']) await post({ ...valid, job_id: id });
    const page = async (query: string) => (await t.hub.app.inject({ method: 'GET', url: `/hub/appwrappers?${query}` })).json();
    const first = await page('limit=2');
    expect(first).toMatchObject({ count: 2, next: 'b' });
    expect(first.items.map((i: { job_id: string }) => i.job_id)).toEqual(['a', 'b']);
    const second = await page('limit=2&after=b');
    expect(second.items.map((i: { job_id: string }) => i.job_id)).toEqual(['c', 'd']);
    expect(second.next).toBe('d');
    const last = await page('limit=2&after=d');
    expect(last).toMatchObject({ count: 1, next: null });
    expect((await page('phase=Pending&limit=10')).next).toBeNull();
    expect((await page('')).count).toBe(5);
  });

  it('pages on from a cursor whose job changed phase since it was handed out, and refuses one whose job was forgotten', async () => {
    for (const id of ['p1', 'p2', 'p3', 'p4']) {
      await post({ ...valid, job_id: id });
      t.clock.advance(1000);
    }
    const page = async (query: string) => (await t.hub.app.inject({ method: 'GET', url: `/hub/appwrappers?phase=Pending&limit=1${query}` })).json();
    const ids = (p: { items: { job_id: string }[] }) => p.items.map((i) => i.job_id);
    const first = await page('');
    expect(first.next).toBe('p1');
    // p1 is no longer Pending: the cursor still marks its place in submission order.
    expect((await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/p1' })).statusCode).toBe(200);
    const second = await page('&after=p1');
    expect(ids(second)).toEqual(['p2']);
    expect(second.next).toBe('p2');
    expect(ids(await page('&after=p2'))).toEqual(['p3']);
    // p3 is forgotten (as retention does): its place is gone, and the client is told to start again.
    await t.hub.lifecycle.store.remove(['p3']);
    const gone = await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers?phase=Pending&limit=1&after=p3' });
    expect(gone.statusCode).toBe(400);
    expect(gone.json().details).toEqual([{ field: 'after', message: 'unknown cursor: start again without after' }]);
  });

  it.each([
    ['a zero limit', '?limit=0', 'limit'],
    ['a limit that is not a number', '?limit=ten', 'limit'],
    ['a limit in hexadecimal', '?limit=0x10', 'limit'],
    ['a limit in exponent notation', '?limit=1e3', 'limit'],
    ['a limit with spaces around it', '?limit=%205', 'limit'],
    ['a limit given twice', '?limit=1&limit=2', 'limit'],
    ['a cursor that is not a job id', '?after=Not_An_Id', 'after'],
    ['a cursor that matches nothing', '?after=nope', 'after'],
    ['an unknown phase', '?phase=Sleeping', 'phase'],
    ['an unknown cluster', '?cluster=carbon-mars', 'cluster'],
    ['an unknown parameter', '?sort=asc', 'sort'],
  ])('answers 400 for %s in the query', async (_name, query, field) => {
    const res = await t.hub.app.inject({ method: 'GET', url: `/hub/appwrappers${query}` });
    expect(res.statusCode).toBe(400);
    expect(res.json().details.map((d: { field: string }) => d.field)).toEqual([field]);
  });

  it('answers 404 for an absent AppWrapper and 400 for an id that cannot exist', async () => {
    const missing = await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: 'Not Found', message: 'AppWrapper "nope" not found', details: [] });
    expect((await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/NOPE' })).statusCode).toBe(400);
    expect((await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/nope' })).statusCode).toBe(404);
  });

  it('cancels: the AppWrapper is Cancelled, its spoke Job deleted, and a second cancel is a conflict', async () => {
    await post(valid);
    await t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    const dispatched = (await t.hub.app.inject({ method: 'POST', url: '/hub/dispatch' })).json();
    expect(dispatched.created).toHaveLength(1);
    const cluster = dispatched.created[0].cluster as string;

    const res = await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/my-job' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ phase: 'Cancelled', job: null, reason: 'cancelled by request' });
    const stored = await t.hub.lifecycle.store.get('my-job');
    expect(stored?.staleJobs).toEqual([]);
    expect(t.log.messages()).toContain(`Job my-job deleted from ${cluster}`);

    const again = await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/my-job' });
    expect(again.statusCode).toBe(409);
  });

  it('takes an empty body labelled JSON as no body: a cancel or a cycle works, a submission says what is missing', async () => {
    const json = { 'content-type': 'application/json; charset=utf-8' };
    expect((await post(valid)).statusCode).toBe(201);
    expect((await t.hub.app.inject({ method: 'DELETE', url: '/hub/appwrappers/my-job', headers: json, payload: '' })).json().phase).toBe('Cancelled');
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/schedule', headers: json, payload: '' })).statusCode).toBe(200);
    const empty = await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', headers: json, payload: '' });
    expect(empty.statusCode).toBe(400);
    expect(empty.json()).toMatchObject({ error: 'Bad Request', message: expect.stringContaining('AppWrapper') });
    // Not an empty body: still refused as JSON, prototype poisoning included.
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', headers: json, payload: '{"job_id":' })).statusCode).toBe(400);
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', headers: json, payload: '{"__proto__":{"x":1}}' })).statusCode).toBe(400);
  });

  it('answers 400 with the error body for a path with a bad percent-escape', async () => {
    const res = await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/%zz' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'Bad Request', message: expect.stringContaining('/hub/appwrappers/%zz'), details: [] });
  });

  it('answers 414 with its own status text for a path parameter over the router limit', async () => {
    const res = await t.hub.app.inject({ method: 'GET', url: `/hub/appwrappers/${'a'.repeat(120)}` });
    expect(res.statusCode).toBe(414);
    expect(res.json()).toEqual({ error: 'URI Too Long', message: expect.any(String), details: [] });
  });

  it('counts the requests the router refuses (bad escape, over-long id) in the request histogram, as unmatched', async () => {
    await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/%zz' });
    await t.hub.app.inject({ method: 'GET', url: `/hub/appwrappers/${'a'.repeat(120)}` });
    for (const status of ['400', '414']) {
      expect(await metricValue(t.hub.metrics, 'caspian_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status })).toBe(1);
    }
  });

  it('answers 404 with a JSON body for an unknown route, and logs it as rejected', async () => {
    const res = await t.hub.app.inject({ method: 'GET', url: '/hub/nothing?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'Not Found', message: 'no route GET /hub/nothing', details: [] });
    expect(t.log.lines.filter((l) => l.level === 30 && l.msg === 'request rejected' && l.status === 404)).toHaveLength(1);
  });
});
