import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { HOLD_AT_MOST_BYTES, sendAnswersTogether } from '../../src/api/answer-batching.js';
import { testHub, type TestHub } from '../support/hub.js';
import { tempDirs } from '../support/temp-dir.js';

/** A turn of the event loop that has run its callbacks, and the microtasks they queued. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('sendAnswersTogether', () => {
  let app: FastifyInstance;
  let releases: (() => void)[];
  afterEach(() => app.close());

  async function appWithHeldAnswers(): Promise<FastifyInstance> {
    releases = [];
    app = Fastify();
    sendAnswersTogether(app, (release) => releases.push(release));
    app.get('/echo/:word', async (request) => ({ word: (request.params as { word: string }).word }));
    app.get('/refused', async (_request, reply) => reply.status(400).send({ error: 'bad_request' }));
    // A header value Node refuses to write: writing this answer throws.
    app.get('/unwritable', async (_request, reply) => reply.header('x-broken', 'a\nb').send({ ok: true }));
    app.get('/large', async () => ({ text: 'x'.repeat(HOLD_AT_MOST_BYTES) }));
    await app.ready();
    return app;
  }

  function settled(requests: Promise<LightMyRequestResponse>[]): boolean[] {
    const done = requests.map(() => false);
    requests.forEach((request, i) => void request.then(() => (done[i] = true)));
    return done;
  }

  it('holds the answers of one turn, whatever their status, and writes them all at its end', async () => {
    await appWithHeldAnswers();
    const requests = [app.inject('/echo/one'), app.inject('/refused'), app.inject('/echo/two')];
    const done = settled(requests);
    await nextTurn();
    await nextTurn();
    expect(done).toEqual([false, false, false]);
    expect(releases).toHaveLength(1);

    releases[0]!();
    const answers = await Promise.all(requests);
    expect(answers.map((a) => [a.statusCode, a.json()])).toEqual([
      [200, { word: 'one' }],
      [400, { error: 'bad_request' }],
      [200, { word: 'two' }],
    ]);
  });

  it('holds the answers of a later turn until a release of their own', async () => {
    await appWithHeldAnswers();
    const first = app.inject('/echo/first');
    await nextTurn();
    releases[0]!();
    expect((await first).json()).toEqual({ word: 'first' });

    const second = app.inject('/echo/second');
    const done = settled([second]);
    await nextTurn();
    expect(done).toEqual([false]);
    expect(releases).toHaveLength(2);
    releases[1]!();
    expect((await second).json()).toEqual({ word: 'second' });
  });

  it('writes the rest of a turn when one answer cannot be written, and that one as a 500 in a later release', async () => {
    await appWithHeldAnswers();
    const broken = app.inject('/unwritable');
    const after = app.inject('/echo/after');
    await nextTurn();
    expect(releases).toHaveLength(1);
    releases[0]!();
    expect((await after).json()).toEqual({ word: 'after' });
    expect(releases).toHaveLength(2);
    releases[1]!();
    expect((await broken).statusCode).toBe(500);
  });

  it('writes a larger answer at once, beside small ones held in the same turn', async () => {
    await appWithHeldAnswers();
    const small = app.inject('/echo/small');
    const large = await app.inject('/large');
    expect(large.json()).toEqual({ text: 'x'.repeat(HOLD_AT_MOST_BYTES) });
    expect(settled([small])).toEqual([false]);
    expect(releases).toHaveLength(1);
    releases[0]!();
    expect((await small).json()).toEqual({ word: 'small' });
  });

  it('answers at once on the real event loop', async () => {
    app = Fastify();
    sendAnswersTogether(app);
    app.get('/', async () => ({ ok: true }));
    const answers = await Promise.all([app.inject('/'), app.inject('/'), app.inject('/')]);
    expect(answers.map((a) => a.json())).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
  });
});

describe('the hub holds small answers with the memory store only', () => {
  const tempDir = tempDirs('caspian-answers-');
  let t: TestHub | undefined;
  afterEach(async () => {
    await t?.hub.stop();
    t = undefined;
  });
  const holdLines = (hub: TestHub) => hub.log.lines.filter((line) => line.hold_at_most_bytes !== undefined);

  it('memory store: says so in its log, with the bound', async () => {
    t = await testHub();
    expect(holdLines(t)).toEqual([expect.objectContaining({ hold_at_most_bytes: HOLD_AT_MOST_BYTES })]);
  });

  it('SQLite store (its answers leave together at each commit): no hold', async () => {
    t = await testHub({ store: { kind: 'sqlite', data_dir: tempDir() } });
    expect(holdLines(t)).toEqual([]);
  });
});
