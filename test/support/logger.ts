import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export interface CapturedLogger {
  logger: Logger;
  /** Every JSON line written so far. */
  lines: Record<string, unknown>[];
  /** The `msg` of every line. */
  messages(): string[];
}

/** A real pino logger whose lines are kept for assertions instead of printed. */
export function captureLogger(level = 'debug'): CapturedLogger {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = pino({ level }, sink);
  return { logger, lines, messages: () => lines.map((l) => String(l.msg)) };
}
