import { request as httpRequest, Agent } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OptimizeFn } from '../../src/scheduler/schedule-cycle.js';
import { optimize } from '../../src/optimizer/index.js';
import { deferred } from '../support/deferred.js';
import { testHub, type TestHub } from '../support/hub.js';

/** The hub's stop with requests in flight: SIGTERM must end within its bound, the store closed. */

const JOB = { job_id: 'a', cpu: 1, mem_gb: 1, runtime_minutes: 10, deadline_minutes: 600 };

/** An optimizer whose first solve waits for `gate` (`solving` resolves when it is held); later ones run at once. */
function heldSolve() {
  const gate = deferred();
  const solving = deferred();
  let solves = 0;
  const held: OptimizeFn = async (input, options) => {
    if (++solves === 1) {
      solving.resolve();
      await gate.promise;
    }
    return optimize(input, options);
  };
  return { gate, solving, held, solves: () => solves };
}

/** POST over a keep-alive connection (as undici's fetch, Go's net/http and Prometheus use): status, Connection header, body. */
function post(address: string, path: string, agent: Agent): Promise<{ status: number; connection: string | undefined; body: string }> {
  const url = new URL(path, address);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST', agent }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('hub stop', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    // Whatever the test left open, so that the stop below cannot wait out a keep-alive timeout.
    t?.hub.app.server.closeAllConnections();
    await t?.hub.stop();
    t = undefined;
  });

  it('stops without waiting for the keep-alive connection of a request answered while it stops', { timeout: 20_000 }, async () => {
    const { gate, solving, held } = heldSolve();
    t = await testHub({}, { optimize: held });
    const address = await t.hub.start();
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: JOB })).statusCode).toBe(201);
    const agent = new Agent({ keepAlive: true });
    // A dry run is in flight (its solve held) when SIGTERM comes.
    const dryRun = post(address, '/hub/schedule?dry_run=true', agent);
    await solving.promise;
    const stopping = t.hub.stop();
    await vi.waitFor(() => expect(t!.hub.app.server.listening).toBe(false));
    gate.resolve();
    const answer = await dryRun;
    expect(answer.status).toBe(200);
    // server.close() only ends connections idle when it is called: this one, answered afterwards, would stay
    // open until the client drops it (Node's fetch after 70 s, Go clients such as Prometheus 90 s or more),
    // past the hub's 30 s shutdown bound (exit 1, store never closed). The hub closes it once it is idle: the
    // stop ends, and the client finds its connection closed.
    await stopping;
    await vi.waitFor(() => expect(Object.keys(agent.freeSockets)).toEqual([]));
    agent.destroy();
  });

  it('starts no new cycle once the stop began: a POST /hub/schedule meanwhile gets 503 with the error body, not a second cycle to wait for', async () => {
    const { gate, solving, held, solves } = heldSolve();
    t = await testHub({}, { optimize: held });
    await t.hub.loops.carbon.runOnce();
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: JOB })).statusCode).toBe(201);
    // The 5-minute cycle is solving when SIGTERM comes; the server still answers while it finishes.
    const running = t.hub.loops.schedule.runOnce();
    await solving.promise;
    const stopping = t.hub.stop();
    const late = t.hub.app.inject({ method: 'POST', url: '/hub/schedule' });
    gate.resolve();
    await running;
    await stopping;
    const answer = await late;
    // A client asking for cycles while the hub stops would otherwise add one each, past the 30 s shutdown bound.
    expect(solves()).toBe(1);
    expect(answer.statusCode).toBe(503);
    expect(answer.json()).toEqual({ error: 'Service Unavailable', message: 'the hub is stopping: no new schedule cycle starts; ask again once it is back', details: [] });
    expect(t.log.lines).toContainEqual(expect.objectContaining({ level: 30, msg: 'request rejected', status: 503, url: '/hub/schedule' }));
    expect(t.log.lines.filter((l) => l.msg === 'request failed')).toEqual([]);
  });

  it('answers a request that reaches it while it drains as any other, then closes that connection', { timeout: 20_000 }, async () => {
    const { gate, solving, held } = heldSolve();
    t = await testHub({}, { optimize: held });
    const address = new URL(await t.hub.start());
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: JOB })).statusCode).toBe(201);
    // A keep-alive connection with a dry run in flight (its solve held) when SIGTERM comes...
    const socket = connect(Number(address.port), address.hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write('POST /hub/schedule?dry_run=true HTTP/1.1\r\nHost: hub\r\nContent-Length: 0\r\n\r\n');
    await solving.promise;
    const stopping = t.hub.stop();
    await vi.waitFor(() => expect(t!.hub.app.server.listening).toBe(false));
    // ...and the client's next request on it, sent while the hub drains (received before the dry run answers).
    let received = 0;
    t.hub.app.server.on('request', () => received++);
    socket.write('GET /hub/stats HTTP/1.1\r\nHost: hub\r\n\r\n');
    await vi.waitFor(() => expect(received).toBe(1));
    gate.resolve();
    await stopping;
    await closed;

    const [first, second] = Buffer.concat(chunks).toString('utf8').split(/(?=HTTP\/1\.1 \d{3} )/);
    expect(first).toMatch(/^HTTP\/1\.1 200 /);
    // Fastify's default answered this one itself, a 503 whose body was not the API's, past its hooks and metrics.
    expect(second).toMatch(/^HTTP\/1\.1 200 /);
    expect(second).toMatch(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(second!.slice(second!.indexOf('\r\n\r\n') + 4))).toHaveProperty('appwrappers');
  });
});
