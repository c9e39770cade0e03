import type { FastifyPluginAsync } from 'fastify';
import { decisionsCsvText } from '../../scheduler/decisions.js';
import type { HubDeps } from '../deps.js';
import { decisionsQuerySchema, parse } from '../schemas.js';

/** `GET /hub/decisions`: the latest schedule decisions, as JSON or (`?format=csv`) as the log file's CSV. */
export function decisionRoutes(deps: HubDeps): FastifyPluginAsync {
  return async (app) => {
    app.get('/', async (request, reply) => {
      const { limit, format, job_id } = parse(decisionsQuerySchema, request.query, 'query');
      const all = deps.decisions?.recent(Number.MAX_SAFE_INTEGER) ?? [];
      const matching = job_id === undefined ? all : all.filter((d) => d.job_id === job_id);
      const items = matching.slice(Math.max(0, matching.length - limit));
      if (format === 'csv') return reply.type('text/csv; charset=utf-8').send(decisionsCsvText(items));
      return { count: items.length, items };
    });
  };
}
