import type { FastifyInstance, FastifyReply } from 'fastify';

/** Runs `release` once the current turn of the event loop has handled its I/O (setImmediate's check phase). */
export type ScheduleRelease = (release: () => void) => void;

/**
 * Holds every answer until the end of the event loop's turn that produced it, then writes them back to back.
 *
 * Why: under load one turn reads many requests, and a handler that answers at once (the memory store, a
 * refusal) used to write its answer before the next request was even parsed. On loopback (the load bench, a
 * sidecar proxy, a client on the same node) the kernel runs the receiver's side of TCP inside that write and
 * wakes the client, which had gone back to sleep since the previous answer: `perf` put the write at about
 * 25 us per answer against 7.5 us for the bare server, a third of the hub's CPU per submission. Written
 * together, the client is woken once per turn, and submissions on the memory store went from about 15k to
 * 21-25k a second on the same machine. An answer waits at most for the rest of its turn (the requests read
 * with it), which the request-duration histogram includes. Answers that already leave together (the SQLite
 * store's, released by one commit) gain nothing and lose one setImmediate per turn.
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
    if (held.length === 0) schedule(release);
    held.push({ reply, send: () => done(null, payload) });
  });
}
