import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ErrorBody } from './error-handler.js';

/** Methods that change something; reads (including /metrics and the probes) stay open. */
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * Requires `Authorization: Bearer <token>` on every mutating request: 401 (with `WWW-Authenticate`) when
 * the header is missing or not a bearer token, 403 when the token is wrong. Tokens are compared as
 * SHA-256 digests with `timingSafeEqual`, so neither their content nor their length leaks through timing.
 */
export function requireBearerToken(app: FastifyInstance, token: string): void {
  const expected = digest(token);
  app.addHook('onRequest', async (request, reply) => {
    if (!MUTATING.has(request.method)) return;
    // RFC 7235: one or more spaces between the scheme and the credentials.
    const match = /^Bearer +([^\s]+)$/i.exec(request.headers.authorization ?? '');
    if (!match) {
      const body: ErrorBody = { error: 'Unauthorized', message: 'this call needs an "Authorization: Bearer <token>" header', details: [] };
      request.log.info({ url: request.url, method: request.method, status: 401, message: body.message }, 'request rejected');
      return reply.status(401).header('www-authenticate', 'Bearer realm="caspian"').send(body);
    }
    if (!timingSafeEqual(digest(match[1] as string), expected)) {
      request.log.warn({ method: request.method, url: request.url, ip: request.ip }, 'request with a wrong API token refused');
      const body: ErrorBody = { error: 'Forbidden', message: 'the bearer token is not valid for this hub', details: [] };
      return reply.status(403).send(body);
    }
  });
}
