import { writeSync } from 'node:fs';

/** Waits this long, at most `EAGAIN_WAITS` times per flush, while a full pipe (EAGAIN) drains. */
const EAGAIN_WAIT_MS = 10;
const EAGAIN_WAITS = 100;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * A pino destination: log lines gathered and written to a file descriptor in one synchronous write once they
 * reach `minBytes` (a write per line was a tenth of the hub's CPU under load), or when flushed. Logging never
 * blocks the hub for long and never throws into it: a full pipe gets a second at most, then that batch is
 * dropped; a reader that has gone (EPIPE, as when `| jq` is stopped with Ctrl-C) or any other write error
 * drops every line from then on. (pino's own sonic-boom retries EPIPE in `flushSync` forever, which blocked
 * the hub's event loop, its shutdown bound included.)
 */
export class LineBuffer {
  private lines: string[] = [];
  private size = 0;
  private broken = false;

  constructor(
    private readonly fd: number,
    private readonly minBytes: number,
    private readonly write_: (fd: number, data: Buffer) => number = writeSync,
  ) {}

  write(line: string): void {
    if (this.broken) return;
    this.lines.push(line);
    // String length, not byte length: a threshold for a batch, not a count of what is written.
    this.size += line.length;
    if (this.size >= this.minBytes) this.flushSync();
  }

  /** Writes every line gathered so far, now. */
  flushSync(): void {
    if (this.broken || this.lines.length === 0) return;
    let data = Buffer.from(this.lines.join(''), 'utf8');
    this.lines = [];
    this.size = 0;
    let waits = 0;
    while (data.length > 0) {
      try {
        data = data.subarray(this.write_(this.fd, data));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') {
          this.broken = true;
          return;
        }
        if (++waits > EAGAIN_WAITS) return;
        sleepSync(EAGAIN_WAIT_MS);
      }
    }
  }
}
