import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConflictError, NotFoundError, StoreUnavailableError, ValidationError, type FieldIssue } from '../domain/errors.js';

export interface ErrorBody {
  error: string;
  message: string;
  details: FieldIssue[];
}

/** The status text of a code (`Bad Request`, `URI Too Long`...), as Node's HTTP server writes it. */
const statusText = (status: number): string => STATUS_CODES[status] ?? (status < 500 ? 'Client Error' : 'Server Error');

/** What a client is told when the store has failed; the cause (a file, an SQLite error) is in the hub log. */
const STORE_UNAVAILABLE = 'the store refuses every change until the hub restarts; GET /health says why';

function statusOf(error: unknown): number {
  if (error instanceof ValidationError) return 400;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof ConflictError) return 409;
  if (error instanceof StoreUnavailableError) return 503;
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
        : error instanceof StoreUnavailableError
          ? { error: statusText(503), message: STORE_UNAVAILABLE, details: [] }
          : { error: statusText(500), message: 'internal error; see the hub log', details: [] };
    if (status >= 500) request.log.error({ err: error, url: request.url, method: request.method }, 'request failed');
    else request.log.info({ url: request.url, method: request.method, status, message: body.message }, 'request rejected');
    return reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const body: ErrorBody = { error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}`, details: [] };
    request.log.info({ url: request.url, method: request.method, status: 404, message: body.message }, 'request rejected');
    return reply.status(404).send(body);
  });
}
