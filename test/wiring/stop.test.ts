import { request as httpRequest, Agent } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OptimizeFn } from '../../src/scheduler/schedule-cycle.js';
import { optimize } from '../../src/optimizer/index.js';
import { deferred } from '../support/deferred.js';
import { testHub, type TestHub } from '../support/hub.js';

/** The hub's stop with requests in flight: SIGTERM must end within its bound, the store closed. */

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
    const gate = deferred();
    const solving = deferred();
    const held: OptimizeFn = async (input, options) => {
      solving.resolve();
      await gate.promise;
      return optimize(input, options);
    };
    t = await testHub({}, { optimize: held });
    const address = await t.hub.start();
    expect((await t.hub.app.inject({ method: 'POST', url: '/hub/appwrappers', payload: { job_id: 'a', cpu: 1, mem_gb: 1, runtime_minutes: 10, deadline_minutes: 600 } })).statusCode).toBe(201);
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
});
