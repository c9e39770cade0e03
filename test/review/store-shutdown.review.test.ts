import { request as httpRequest, Agent } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OptimizeFn } from '../../src/scheduler/schedule-cycle.js';
import { optimize } from '../../src/optimizer/index.js';
import { LineBuffer } from '../../src/platform/line-buffer.js';
import { deferred } from '../support/deferred.js';
import { testHub, type TestHub } from '../support/hub.js';

/**
 * Review of the stores and the hub's start/stop: SqliteStore (writer thread, group commit, failure), createHub's
 * start/stop, the periodic loop and the log line buffer.
 */

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

describe('hub stop (review)', () => {
  let t: TestHub | undefined;
  afterEach(async () => {
    // Whatever the test left open, so that the stop below cannot wait out a keep-alive timeout.
    t?.hub.app.server.closeAllConnections();
    await t?.hub.stop();
    t = undefined;
  });

  it('a request in flight when the hub stops keeps stop() (and so SIGTERM) waiting for its keep-alive connection', { timeout: 20_000 }, async () => {
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
    // The hub answers it and tells the client to keep the connection, then waits for the client to drop it:
    // server.close() only ends connections idle when it is called. Node's fetch keeps it 70 s, Go clients
    // (Prometheus) 90 s or more; the hub's 30 s shutdown bound fires first (exit 1, store never closed).
    expect(answer.connection).toBe('close');
    await stopping;
    agent.destroy();
  });
});

describe('log line buffer (review)', () => {
  /** A file descriptor stand-in: answers each write with the scripted outcome (then takes everything), recording what landed. */
  function fd(script: (number | string)[]) {
    let landed = '';
    const write = (_fd: number, data: Buffer): number => {
      const outcome = script.shift() ?? data.length;
      if (typeof outcome === 'string') throw Object.assign(new Error(outcome), { code: outcome });
      landed += data.subarray(0, outcome).toString('utf8');
      return outcome;
    };
    return { write, landed: () => landed };
  }

  it('a batch given up on a full pipe after part of it was written glues its torn line onto the next line', () => {
    // A pipe or socket with room for 10 bytes, then full for longer than the buffer waits (EAGAIN 101 times).
    const out = fd([10, ...Array.from({ length: 101 }, () => 'EAGAIN')]);
    const buffer = new LineBuffer(1, 1, out.write);
    buffer.write('{"msg":"first line of the dropped batch"}\n');
    buffer.write('{"msg":"kept"}\n');
    buffer.flushSync();
    // Whatever was dropped, every line that reaches the reader must be one whole JSON line: here the reader gets
    // '{"msg":"fi{"msg":"kept"}', and loses the line that was written whole as well.
    const lines = out.landed().split('\n').filter(Boolean);
    expect(lines).toContain('{"msg":"kept"}');
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
  });
});
