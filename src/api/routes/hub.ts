import type { FastifyPluginAsync } from 'fastify';
import type { HubDeps } from '../deps.js';
import { clusterView } from '../views.js';

export function hubRoutes(deps: HubDeps): FastifyPluginAsync {
  const clusters = () => deps.clusters.snapshot().map((view) => clusterView(view, deps.carbon.get(view.zone), deps.carbon.status(view.zone)));

  return async (app) => {
    app.post('/schedule', async () => deps.schedule());

    app.post('/dispatch', async () => deps.dispatch());

    app.get('/clusters', async () => ({ clusters: clusters() }));

    app.get('/stats', async () => {
      const counts = await deps.lifecycle.store.counts();
      const total = Object.values(counts.byPhase).reduce((a, b) => a + b, 0);
      const views = clusters();
      return {
        appwrappers: { total, by_phase: counts.byPhase, migrations_in_progress: counts.migrating },
        clusters: views,
        clusters_total: views.length,
        clusters_ready: views.filter((c) => c.ready).length,
        carbon_provider: deps.carbon.providerName,
        last_schedule: deps.lastSchedule() ?? null,
        last_dispatch: deps.lastDispatch() ?? null,
      };
    });
  };
}
