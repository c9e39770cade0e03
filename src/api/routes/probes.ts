import type { FastifyPluginAsync } from 'fastify';
import { answering } from '../../hub/cluster-monitor.js';
import type { HubDeps } from '../deps.js';

/**
 * Unlike the API routes, the probes and the scrape answer whatever query string they get: a probe that a
 * 400 fails restarts (or unroutes) a healthy hub, and Prometheus appends a scrape config's `params:` and
 * some load balancers a cache-buster. They read nothing from the request, so nothing there can be misread.
 */
export function probeRoutes(deps: HubDeps): FastifyPluginAsync {
  return async (app) => {
    /**
     * Liveness: the process serves requests and can keep what it acknowledges. A store that has failed
     * refuses every change until the hub restarts (and reloads from the disk), so the probe fails and the
     * orchestrator (Docker's healthcheck, a Kubernetes liveness probe) restarts the hub.
     */
    app.get('/health', async (_request, reply) => {
      const fault = deps.storeFault();
      return fault === undefined ? { status: 'ok' } : reply.status(503).send({ status: 'failing', reason: fault });
    });

    /** Readiness: at least one cluster answers and has carbon data, so submitted work can be planned. */
    app.get('/ready', async (_request, reply) => {
      const usable = deps.clusters.snapshot().filter((c) => answering(c) && deps.carbon.get(c.zone));
      const body = { ready: usable.length > 0, clusters_ready: usable.map((c) => c.name) };
      return reply.status(body.ready ? 200 : 503).send(body);
    });

    app.get('/metrics', async (_request, reply) => {
      const text = await deps.metrics.render();
      return reply.type(deps.metrics.contentType).send(text);
    });
  };
}
