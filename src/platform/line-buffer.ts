import { writeSync } from 'node:fs';

/** Waits this long, at most `EAGAIN_WAITS` times per flush, while a full pipe (EAGAIN) drains. */
const EAGAIN_WAIT_MS = 10;
const EAGAIN_WAITS = 100;
/** Write errors after which nothing written to the descriptor can arrive again. */
const GONE = new Set(['EPIPE', 'EBADF']);
const NEWLINE = 0x0a;

/** Why log lines were lost: a pipe full for longer than the buffer waits, another write error, or a reader gone for good. */
export const LOG_DROP_REASONS = ['pipe_full', 'write_error', 'reader_gone'] as const;
export type LogDropReason = (typeof LOG_DROP_REASONS)[number];

/** Told of lines lost (a batch, or a line written after the reader went); they cannot be logged, so it is counted. */
export type LogDropHook = (reason: LogDropReason, lines: number) => void;

function countLines(data: Buffer): number {
  let lines = 0;
  for (let at = data.indexOf(NEWLINE); at >= 0; at = data.indexOf(NEWLINE, at + 1)) lines++;
  return lines;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * A pino destination: log lines gathered and written to a file descriptor in one synchronous write once they
 * reach `minBytes` (a write per line was a tenth of the hub's CPU under load), or when flushed. Logging never
 * blocks the hub for long and never throws into it: a full pipe gets a second at most, then that batch is
 * dropped (whole lines: the rest of a line half written goes first next time); any other write error drops
 * the batch, and a reader that has gone (EPIPE, as when `| jq` is stopped with Ctrl-C, or a closed
 * descriptor) every line from then on, while a full disk (ENOSPC) passes. (pino's own sonic-boom retries
 * EPIPE in `flushSync` forever, which blocked the hub's event loop, its shutdown bound included.) Every line
 * lost is told to `onDrop`.
 */
export class LineBuffer {
  private lines: string[] = [];
  private size = 0;
  private broken = false;
  /** The end of a line a dropped batch had begun to write: written first, so that no line is torn. */
  private carry: Buffer | undefined;

  constructor(
    private readonly fd: number,
    private readonly minBytes: number,
    private readonly write_: (fd: number, data: Buffer) => number = writeSync,
    private readonly onDrop: LogDropHook = () => undefined,
  ) {}

  write(line: string): void {
    if (this.broken) {
      this.onDrop('reader_gone', 1);
      return;
    }
    this.lines.push(line);
    // String length, not byte length: a threshold for a batch, not a count of what is written.
    this.size += line.length;
    if (this.size >= this.minBytes) this.flushSync();
  }

  /** Writes every line gathered so far, now. */
  flushSync(): void {
    if (this.broken || (this.lines.length === 0 && !this.carry)) return;
    const joined = Buffer.from(this.lines.join(''), 'utf8');
    let data = this.carry ? Buffer.concat([this.carry, joined]) : joined;
    const batch = data.length;
    this.lines = [];
    this.size = 0;
    this.carry = undefined;
    let waits = 0;
    while (data.length > 0) {
      try {
        data = data.subarray(this.write_(this.fd, data));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? '';
        if (GONE.has(code)) {
          this.broken = true;
          this.onDrop('reader_gone', countLines(data));
          return;
        }
        if (code === 'EAGAIN' && ++waits <= EAGAIN_WAITS) {
          sleepSync(EAGAIN_WAIT_MS);
          continue;
        }
        // Dropped, but whole lines only: a line begun keeps its end for the next write.
        if (data.length < batch) this.carry = Buffer.from(data.subarray(0, data.indexOf(NEWLINE) + 1));
        this.onDrop(code === 'EAGAIN' ? 'pipe_full' : 'write_error', countLines(data) - (this.carry ? 1 : 0));
        return;
      }
    }
  }
}
