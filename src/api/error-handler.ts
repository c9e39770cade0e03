import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConflictError, HubStoppingError, NotFoundError, StoreUnavailableError, ValidationError, type FieldIssue } from '../domain/errors.js';

export interface ErrorBody {
  error: string;
  message: string;
  details: FieldIssue[];
}

/** The status text of a code (`Bad Request`, `URI Too Long`...), as Node's HTTP server writes it. */
const statusText = (status: number): string => STATUS_CODES[status] ?? (status < 500 ? 'Client Error' : 'Server Error');

/** A request body in a content coding (gzip, br...): the hub reads plain JSON only. */
class UnsupportedContentCodingError extends Error {
  readonly statusCode = 415;
}

export function unsupportedContentCoding(coding: string): Error {
  return new UnsupportedContentCodingError(`Content-Encoding "${coding}" is not accepted: send the JSON body uncompressed (identity)`);
}

/** What a client is told when the store has failed; the cause (a file, an SQLite error) is in the hub log. */
const STORE_UNAVAILABLE = 'the store refuses every change until the hub restarts; GET /health says why';

/** What a 5xx says: what the client can act on, never its cause (that is in the hub log). */
function serverErrorBody(error: unknown): ErrorBody {
  if (error instanceof StoreUnavailableError) return { error: statusText(503), message: STORE_UNAVAILABLE, details: [] };
  if (error instanceof HubStoppingError) return { error: statusText(503), message: `${error.message}; ask again once it is back`, details: [] };
  return { error: statusText(500), message: 'internal error; see the hub log', details: [] };
}

function statusOf(error: unknown): number {
  if (error instanceof ValidationError) return 400;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof ConflictError) return 409;
  if (error instanceof StoreUnavailableError || error instanceof HubStoppingError) return 503;
  const code = (error as FastifyError).statusCode;
  return typeof code === 'number' && code >= 400 && code < 600 ? code : 500;
}

/**
 * For Fastify's `frameworkErrors`: what its router refuses before any route or hook runs (a path with a
 * bad percent-escape, a parameter over the length limit) gets the same body as every other 4xx; the
 * error handler never sees these.
 */
export function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = statusOf(error);
  const body: ErrorBody = { error: statusText(status), message: error.message, details: [] };
  request.log.info({ url: request.url, method: request.method, status, code: error.code, message: body.message }, 'request rejected');
  void reply.status(status).send(body);
}

/** What Node's HTTP parser refuses before Fastify sees a request: why, as its status and message. */
function clientErrorOf(code: string | undefined): { status: number; message: string } {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, message: 'the request did not arrive in time' };
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, message: 'the request line and headers are over the size limit (16 KiB)' };
  return { status: 400, message: 'not a valid HTTP request' };
}

/**
 * For Fastify's `clientErrorHandler`: a request Node's parser refuses (headers over the size limit, a request
 * that does not arrive in time, bytes that are not HTTP) gets the same body as every other 4xx, a log line
 * and its count (`observe`); Fastify's default wrote its own body and logged at trace level only.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket, log: FastifyBaseLogger, observe: (status: number) => void): void {
  // A connection reset by the client: nobody is left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const { status, message } = clientErrorOf(error.code);
  const body = JSON.stringify({ error: statusText(status), message, details: [] } satisfies ErrorBody);
  log.info({ status, code: error.code, message }, 'request rejected');
  observe(status);
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}

/** One error handler: 4xx errors say what was wrong, 5xx errors are logged and say nothing of their cause. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const status = statusOf(error);
    const body: ErrorBody =
      status < 500
        ? {
            error: statusText(status),
            message: (error as Error).message,
            details: error instanceof ValidationError ? error.details : [],
          }
        : serverErrorBody(error);
    // A hub shutting down is doing as it should: its refusals are no failures.
    if (status >= 500 && !(error instanceof HubStoppingError)) request.log.error({ err: error, url: request.url, method: request.method }, 'request failed');
    else request.log.info({ url: request.url, method: request.method, status, message: body.message }, 'request rejected');
    // RFC 9110, 415 for a content coding: Accept-Encoding says which codings a request may use.
    if (error instanceof UnsupportedContentCodingError) void reply.header('accept-encoding', 'identity');
    return reply.status(status).send(body);
  });
  // Every route's method and path, to tell a path no route has (404) from a method its route does not take (405).
  const routes: { method: string; path: RegExp }[] = [];
  app.addHook('onRoute', (route) => {
    // `/hub/appwrappers/:id` matches one segment where the parameter is; a trailing slash is ignored, as by the router.
    const source = route.url.replace(/[.*+?^$()|[\]\\{}]/g, '\\$&').replace(/:[^/]+/g, '[^/]+').replace(/\/$/, '');
    const path = new RegExp(`^${source}/?$`);
    for (const method of [route.method].flat()) routes.push({ method, path });
  });
  app.setNotFoundHandler((request, reply) => {
    const path = decodedPath(request.url.split('?')[0] ?? '');
    const allow = [...new Set(routes.filter((r) => r.path.test(path)).map((r) => r.method))].sort();
    const status = allow.length ? 405 : 404;
    const message = allow.length ? `${request.method} is not allowed on ${path}; allowed: ${allow.join(', ')}` : `no route ${request.method} ${path}`;
    const body: ErrorBody = { error: statusText(status), message, details: [] };
    request.log.info({ url: request.url, method: request.method, status, message }, 'request rejected');
    if (allow.length) void reply.header('allow', allow.join(', '));
    return reply.status(status).send(body);
  });
}

/**
 * The path as the router matches it: percent escapes decoded (`/hub/%61ppwrappers` is `/hub/appwrappers`), those
 * of reserved characters such as `%2F` kept. A path with a malformed escape is taken as it is.
 */
function decodedPath(raw: string): string {
  try {
    return decodeURI(raw);
  } catch {
    return raw;
  }
}
