import type { FastifyPluginAsync } from 'fastify';
import type { HubDeps } from '../deps.js';

export function probeRoutes(deps: HubDeps): FastifyPluginAsync {
  return async (app) => {
    /** Liveness: the process serves requests. */
    app.get('/health', async () => ({ status: 'ok' }));

    /** Readiness: at least one cluster answers and has carbon data, so submitted work can be planned. */
    app.get('/ready', async (_request, reply) => {
      const usable = deps.clusters.snapshot().filter((c) => c.ready && deps.carbon.get(c.zone));
      const body = { ready: usable.length > 0, clusters_ready: usable.map((c) => c.name) };
      return reply.status(body.ready ? 200 : 503).send(body);
    });

    app.get('/metrics', async (_request, reply) => {
      const text = await deps.metrics.render();
      return reply.type(deps.metrics.contentType).send(text);
    });
  };
}
