import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * Larger answers leave at once. Their client spends longer on each, and holding a turn's worth of them made
 * it wait idle for the batch and the hub wait idle for the client: 100 stored AppWrappers listed (70 kB an
 * answer) ran at a third of the rate when held, 25 of them (17 kB) 15-25% slower, while 600-byte answers
 * ran 40% faster held. A stream's size is unknown: it leaves at once.
 */
export const HOLD_AT_MOST_BYTES = 4096;

function sizeOf(payload: unknown): number {
  if (payload === null || payload === undefined) return 0;
  if (typeof payload === 'string' || Buffer.isBuffer(payload)) return payload.length;
  return Number.POSITIVE_INFINITY;
}

/** Runs `release` once the current turn of the event loop has handled its I/O (setImmediate's check phase). */
export type ScheduleRelease = (release: () => void) => void;

/**
 * Holds every small answer (HOLD_AT_MOST_BYTES) until the end of the event loop's turn that produced it, then
 * writes them back to back.
 *
 * Why: under load one turn reads many requests, and a handler that answers at once (the memory store, a
 * refusal) used to write its answer before the next request was even parsed. On loopback (the load bench, a
 * sidecar proxy, a client on the same node) the kernel runs the receiver's side of TCP inside that write and
 * wakes the client, which had gone back to sleep since the previous answer: `perf` put the write at about
 * 25 us per answer against 7.5 us for the bare server, a third of the hub's CPU per submission. Written
 * together, the client is woken once per turn, and submissions on the memory store went from about 15k to
 * 21-25k a second on the same machine. An answer waits at most for the rest of its turn (the requests read
 * with it), which the request-duration histogram includes. The wiring leaves it out with the SQLite store,
 * whose answers already leave together, released by one commit.
 */
export function sendAnswersTogether(app: FastifyInstance, schedule: ScheduleRelease = setImmediate): void {
  let held: { reply: FastifyReply; send: () => void }[] = [];
  const release = () => {
    const answers = held;
    held = [];
    for (const { reply, send } of answers) {
      try {
        send();
      } catch (error) {
        // What Fastify does when writing an answer throws in the handler's turn (Node refusing a header value):
        // the error goes to the error handler, whose 500 is held for the next release. The rest still leave.
        reply.send(error);
      }
    }
  };
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (sizeOf(payload) > HOLD_AT_MOST_BYTES) {
      done(null, payload);
      return;
    }
    if (held.length === 0) schedule(release);
    held.push({ reply, send: () => done(null, payload) });
  });
}
