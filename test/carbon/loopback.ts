import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a route answers: a status with a JSON (or raw text) body and headers, or nothing ever. */
/** `hang`: never answers; `reset`: drops the connection without an answer. */
export type Answer = { status?: number; json?: unknown; text?: string; headers?: Record<string, string> } | 'hang' | 'reset';

export interface Request {
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
}

export type Scripted = Answer | ((request: Request) => Answer);

/**
 * A real HTTP server on 127.0.0.1 (port 0) answering each path from a queue of scripted answers (the last
 * one repeats), recording every request. Providers talk to it through the global fetch, as in production.
 */
export class Loopback {
  readonly requests: Request[] = [];
  private readonly routes = new Map<string, Scripted[]>();
  private readonly hanging = new Set<ServerResponse>();
  private server: Server | undefined;
  url = '';

  /** Answers for `path`, in order; the last one repeats. A function answers from the request, as an API that checks its parameters. */
  on(path: string, ...answers: Scripted[]): this {
    this.routes.set(path, answers);
    return this;
  }

  count(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const request = { path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers };
      this.requests.push(request);
      const queue = this.routes.get(url.pathname);
      const scripted = queue && queue.length > 1 ? (queue.shift() as Scripted) : queue?.[0];
      const answer = typeof scripted === 'function' ? scripted(request) : scripted;
      if (answer === 'hang') {
        this.hanging.add(res);
        return;
      }
      if (answer === 'reset') {
        res.socket?.destroy();
        return;
      }
      if (!answer) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `no route ${url.pathname}` }));
        return;
      }
      const body = answer.text ?? JSON.stringify(answer.json ?? {});
      res.writeHead(answer.status ?? 200, { 'content-type': answer.text === undefined ? 'application/json' : 'text/plain', ...answer.headers }).end(body);
    });
    await new Promise<void>((resolve) => (this.server as Server).listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
