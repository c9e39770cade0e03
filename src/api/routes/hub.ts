import type { FastifyPluginAsync } from 'fastify';
import { newAppWrapper } from '../../domain/app-wrapper.js';
import { ConflictError } from '../../domain/errors.js';
import type { HubDeps } from '../deps.js';
import { parse, scheduleQuerySchema, toJobSpec, whatIfSchema } from '../schemas.js';
import { clusterView } from '../views.js';

export function hubRoutes(deps: HubDeps): FastifyPluginAsync {
  const clusters = () => deps.clusters.snapshot().map((view) => clusterView(view, deps.carbon.get(view.zone), deps.carbon.status(view.zone)));

  const whatIf = whatIfSchema([...new Set(deps.clusters.snapshot().map((v) => v.region))]);

  return async (app) => {
    app.post('/schedule', async (request) => {
      const query = parse(scheduleQuerySchema, request.query, 'query');
      return query.dry_run === 'true' ? deps.dryRunSchedule() : deps.schedule();
    });

    app.post('/whatif', async (request) => {
      const body = parse(whatIf, request.body, 'what-if job');
      if (await deps.lifecycle.store.get(body.job_id)) {
        throw new ConflictError(`AppWrapper "${body.job_id}" exists; a what-if is for a job not yet submitted (leave job_id out)`);
      }
      return deps.whatIf(newAppWrapper(body.job_id, toJobSpec(body), deps.clock.now()));
    });

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
