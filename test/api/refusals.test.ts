import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { testHub, type TestHub } from '../support/hub.js';

/** What the API refuses before or beside its schemas, answered in its documented shape. */

const valid = { job_id: 'my-job', cpu: 2, mem_gb: 4, runtime_minutes: 30, deadline_minutes: 120 };

/** Listens on a free loopback port and returns it. */
async function listen(t: TestHub): Promise<number> {
  await t.hub.app.listen({ port: 0, host: '127.0.0.1' });
  return (t.hub.app.server.address() as { port: number }).port;
}

/** Sends raw bytes on one connection (as curl puts them on the wire) and resolves with the status and body. */
function rawRequest(port: number, request: Buffer): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      const text = Buffer.concat(chunks).toString('utf8');
      const at = text.indexOf('\r\n\r\n');
      const head = at < 0 ? text : text.slice(0, at);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head, body: at < 0 ? '' : text.slice(at + 4) });
    };
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', (error) => (chunks.length ? finish() : reject(error)));
    socket.write(request);
  });
}

describe('API refusals', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
  });

  it.each([
    { name: 'a query string over the header limit', request: `GET /hub/appwrappers?after=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n`, status: 431 },
    { name: 'bytes that are not HTTP', request: 'HELLO\r\n\r\n', status: 400 },
  ])('$name: $status with the documented {error, message, details} body, a log line and a count', async ({ request, status }) => {
    t = await testHub();
    const port = await listen(t);
    const res = await rawRequest(port, Buffer.from(request));
    expect(res.status).toBe(status);
    // Fastify's default answered {error, message, statusCode}, logged at trace level only, and counted nothing.
    expect(Object.keys(JSON.parse(res.body) as object).sort()).toEqual(['details', 'error', 'message']);
    expect(t.log.lines.filter((l) => l.msg === 'request rejected' && l.status === status)).toHaveLength(1);
    expect(await t.hub.metrics.render()).toMatch(new RegExp(`^caspian_http_request_duration_seconds_count\\{method="unparsed",route="unmatched",status="${status}"\\} 1$`, 'm'));
  });

  it('a body with two unknown fields gets one details entry per field, each naming its field', async () => {
    t = await testHub();
    const res = await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { ...valid, priority: 5, owner: 'me' } });
    expect(res.statusCode).toBe(400);
    // It used to be one entry for the field "priority, owner", which no client can look up.
    const fields = (res.json() as { details: { field: string }[] }).details.map((d) => d.field).sort();
    expect(fields).toEqual(['owner', 'priority']);
  });

  it('a query with two unknown parameters gets one details entry per parameter', async () => {
    t = await testHub();
    const res = await t.hub.app.inject({ method: 'GET', url: '/hub/stats?verbose=1&since=2026-01-01' });
    expect(res.statusCode).toBe(400);
    const fields = (res.json() as { details: { field: string }[] }).details.map((d) => d.field).sort();
    expect(fields).toEqual(['since', 'verbose']);
  });

  it.each([
    ['a trailing space', 'busybox:1.36 '],
    ['a leading space', ' busybox:1.36'],
    ['a trailing newline', 'busybox:1.36\n'],
    ['a space inside', 'busy box:1.36'],
  ])('an image with %s is refused at submission, not stored for Kubernetes to refuse its pods', async (_name, image) => {
    t = await testHub();
    await t.hub.loops.carbon.runOnce();
    const res = await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { ...valid, image } });
    // kube-apiserver refuses an image with white space around it (pkg/apis/core/validation), the kubelet one with
    // white space inside (InvalidImageName): the Job's pods never run and the job waits for its deadline.
    expect(res.statusCode).toBe(400);
    expect((res.json() as { details: { field: string }[] }).details.map((d) => d.field)).toEqual(['image']);
    expect(await t.hub.lifecycle.store.get('my-job')).toBeUndefined();
  });
});

describe('methods a route does not take', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
  });

  it('answer 405 with Allow on a path that exists, and 404 on one that does not', async () => {
    t = await testHub();
    await t.hub.loops.carbon.runOnce();
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: valid })).statusCode).toBe(201);
    // They used to answer 404 "no route": a client read "the job does not exist".
    const put = await t.hub.app.inject({ method: 'PUT', url: '/hub/appwrappers/my-job', payload: valid });
    expect(put.statusCode).toBe(405);
    expect(put.headers.allow).toBe('DELETE, GET, HEAD');
    expect(put.json()).toEqual({ error: 'Method Not Allowed', message: 'PUT is not allowed on /hub/appwrappers/my-job; allowed: DELETE, GET, HEAD', details: [] });
    const get = await t.hub.app.inject({ method: 'GET', url: '/hub/schedule/' });
    expect(get.statusCode).toBe(405);
    expect(get.headers.allow).toMatch(/\bPOST\b/);
    const missing = await t.hub.app.inject({ method: 'GET', url: '/hub/appwrappers/my-job/logs' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers.allow).toBeUndefined();
    expect(t.log.lines.filter((l) => l.msg === 'request rejected').map((l) => l.status)).toEqual([405, 405, 404]);
  });

  it('answers 405 on a percent-encoded path that routes when decoded, as the router decodes it (it answered 404)', async () => {
    t = await testHub();
    // The router takes GET /hub/%61ppwrappers as GET /hub/appwrappers.
    expect((await t.hub.app.inject({ method: 'GET', url: '/hub/%61ppwrappers' })).statusCode).toBe(200);
    const put = await t.hub.app.inject({ method: 'PUT', url: '/hub/%61ppwrappers' });
    expect(put.statusCode).toBe(405);
    expect(put.headers.allow).toBe('GET, HEAD, POST');
    // A malformed escape is a bad URL, before any route is looked for.
    expect((await t.hub.app.inject({ method: 'PUT', url: '/hub/%E0%A4%A' })).statusCode).toBe(400);
  });
});
