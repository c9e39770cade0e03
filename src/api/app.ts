import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { HubDeps } from './deps.js';
import { HOLD_AT_MOST_BYTES, sendAnswersTogether } from './answer-batching.js';
import { requireBearerToken } from './auth.js';
import { answerClientError, answerFrameworkError, registerErrorHandling, unsupportedContentCoding } from './error-handler.js';
import { appWrapperRoutes } from './routes/appwrappers.js';
import { decisionRoutes } from './routes/decisions.js';
import { hubRoutes } from './routes/hub.js';
import { probeRoutes } from './routes/probes.js';
import { reportRoutes } from './routes/report.js';

/** Largest request body accepted; a submission is a few hundred bytes. */
const BODY_LIMIT_BYTES = 64 * 1024;

export async function buildApp(deps: HubDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // Fastify types its logger against the pino it bundles; ours is the same pino API, one major newer.
    loggerInstance: deps.logger as unknown as FastifyBaseLogger,
    // One line per request, written by the onResponse hook below (quieter for probes and scrapes).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    // A request that arrives while the hub drains (on a keep-alive connection with an answer still in flight) is
    // answered as any other, its connection then closed: the store is still open, and a cycle it would start is
    // refused with the API's own 503 body. Fastify's default answered a 503 body of its own, past the hooks.
    return503OnClosing: false,
    // Job ids are case-sensitive names: /hub/appwrappers/A is not /hub/appwrappers/a.
    routerOptions: { caseSensitive: true, ignoreTrailingSlash: true },
    // The router's refusals skip the hooks: counted here, as every other request is in onResponse.
    frameworkErrors: (error, request, reply) => {
      answerFrameworkError(error, request, reply);
      deps.metrics.observeHttpRequest(request.method, 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    },
    // What Node's HTTP parser refuses never becomes a request: no method, no route, no time taken.
    clientErrorHandler: (error, socket) => answerClientError(error, socket, deps.logger as unknown as FastifyBaseLogger, (status) => deps.metrics.observeHttpRequest('unparsed', 'unmatched', status, 0)),
  });
  // Latency is watched in the histogram; a log line per request would be a third of the hub's writes.
  // Rejections (info) and failures (error) have their own lines from the error handler.
  // A callback hook, not an async one: it runs on every request, and a promise per request is measurable here.
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.observeHttpRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    done();
  });
  // A client that gives up before the answer (a time-out, a scrape past its limit) never gets one, so onResponse
  // never runs for it: the slowest requests would leave no trace at all.
  app.addHook('onRequestAbort', (request, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.recordHttpRequestAbandoned(request.method, route);
    request.log.info({ method: request.method, url: request.url, route }, 'request abandoned: the client closed the connection before the answer');
    done();
  });
  // Counted from 0 for every route (and its method) once it exists, so that the first abandoned request shows.
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) deps.metrics.registerRoute(method, route.url);
  });
  registerErrorHandling(app);
  if (deps.holdSmallAnswers) {
    sendAnswersTogether(app);
    deps.logger.info({ hold_at_most_bytes: HOLD_AT_MOST_BYTES, store: deps.lifecycle.store.name }, 'answers of at most hold_at_most_bytes leave together at the end of their event-loop turn');
  }
  if (deps.apiToken) requireBearerToken(app, deps.apiToken);
  // The API speaks JSON only: any other body is 415, not a string for the schemas to puzzle over.
  app.removeContentTypeParser('text/plain');
  // An empty body labelled JSON (clients that send the header on every call, a DELETE included) is no body,
  // as without the header; anything else goes to Fastify's own parser (prototype poisoning refused).
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    // Fastify does not decode a Content-Encoding: a compressed body would be read as malformed JSON (400), and one
    // labelled compressed but sent plain acted on. Either way it is a coding the hub does not take (RFC 9110: 415).
    const coding = request.headers['content-encoding'];
    if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') return done(unsupportedContentCoding(coding), undefined);
    return body === '' ? done(null, undefined) : json(request, body as string, done);
  });
  await app.register(probeRoutes(deps));
  await app.register(appWrapperRoutes(deps), { prefix: '/hub/appwrappers' });
  await app.register(hubRoutes(deps), { prefix: '/hub' });
  await app.register(reportRoutes(deps), { prefix: '/hub/report' });
  await app.register(decisionRoutes(deps), { prefix: '/hub/decisions' });
  return app;
}
