import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer } from 'node:net';

/** Resolves with the first JSON log line of `child` that satisfies `match`; rejects if it exits first. */
export function waitForLine(child: ChildProcessWithoutNullStreams, match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const text = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const line = JSON.parse(text) as Record<string, unknown>;
          if (match(line)) resolve(line);
        } catch {
          // not a log line
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`exited with ${code} before the expected log line`)));
  });
}

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
