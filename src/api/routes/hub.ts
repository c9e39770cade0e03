import type { FastifyPluginAsync } from 'fastify';
import { newAppWrapper } from '../../domain/app-wrapper.js';
import { ConflictError } from '../../domain/errors.js';
import { answering } from '../../hub/cluster-monitor.js';
import type { Store } from '../../store/types.js';
import type { HubDeps } from '../deps.js';
import { noParametersSchema, parse, scheduleQuerySchema, toJobSpec, WHATIF_JOB_ID, whatIfSchema } from '../schemas.js';
import { clusterView } from '../views.js';

export function hubRoutes(deps: HubDeps): FastifyPluginAsync {
  const clusters = () => deps.clusters.snapshot().map((view) => clusterView(view, deps.carbon.get(view.zone), deps.carbon.status(view.zone)));

  const whatIf = whatIfSchema([...new Set(deps.clusters.snapshot().map((v) => v.region))]);

  return async (app) => {
    app.post('/schedule', async (request) => {
      const query = parse(scheduleQuerySchema, request.query, 'query');
      parse(noParametersSchema, request.body, 'body');
      return query.dry_run === 'true' ? deps.dryRunSchedule() : deps.schedule();
    });

    app.post('/whatif', async (request) => {
      parse(noParametersSchema, request.query, 'query');
      const body = parse(whatIf, request.body, 'what-if job');
      if (body.job_id !== undefined && (await deps.lifecycle.store.get(body.job_id))) {
        throw new ConflictError(`AppWrapper "${body.job_id}" exists; a what-if is for a job not yet submitted (leave job_id out)`);
      }
      if (body.job_id !== undefined) return deps.whatIf(newAppWrapper(body.job_id, toJobSpec(body), deps.clock.now()));
      // The id is the hub's choice: if a job took it while the what-if waited for a running cycle, choose again.
      for (;;) {
        try {
          return await deps.whatIf(newAppWrapper(await unusedWhatIfId(deps.lifecycle.store), toJobSpec(body), deps.clock.now()));
        } catch (error) {
          if (!(error instanceof ConflictError)) throw error;
        }
      }
    });

    app.post('/dispatch', async (request) => {
      parse(noParametersSchema, request.query, 'query');
      parse(noParametersSchema, request.body, 'body');
      return deps.dispatch();
    });

    app.get('/clusters', async (request) => {
      parse(noParametersSchema, request.query, 'query');
      return { clusters: clusters() };
    });

    app.get('/stats', async (request) => {
      parse(noParametersSchema, request.query, 'query');
      // What a client reads here is on disk, as for the list: a count is never of a write that may be lost.
      const counts = await deps.lifecycle.store.counts({ onceDurable: true });
      const total = Object.values(counts.byPhase).reduce((a, b) => a + b, 0);
      const views = clusters();
      return {
        appwrappers: { total, by_phase: counts.byPhase, migrations_in_progress: counts.migrating },
        clusters: views,
        clusters_total: views.length,
        clusters_ready: views.filter(answering).length,
        carbon_provider: deps.carbon.providerName,
        last_schedule: deps.lastSchedule() ?? null,
        last_dispatch: deps.lastDispatch() ?? null,
      };
    });
  };
}

/**
 * The id of a what-if job whose body names none: `whatif`, or the first of `whatif-2`, `whatif-3`... that
 * no stored job has, since the candidate is planned beside the stored jobs and ids must stay unique.
 */
async function unusedWhatIfId(store: Store): Promise<string> {
  for (let n = 1; ; n++) {
    const id = n === 1 ? WHATIF_JOB_ID : `${WHATIF_JOB_ID}-${n}`;
    if (!(await store.get(id))) return id;
  }
}
