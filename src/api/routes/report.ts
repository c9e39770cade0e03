import type { FastifyPluginAsync } from 'fastify';
import { carbonReport, carbonReportCsv } from '../carbon-report.js';
import type { HubDeps } from '../deps.js';
import { parse, reportQuerySchema } from '../schemas.js';

/**
 * `GET /hub/report`: the carbon accounts of the finished jobs still in the store, summed in total, per
 * cluster, per urgency and per UTC day of finish; JSON, or CSV with `?format=csv`.
 */
export function reportRoutes(deps: HubDeps): FastifyPluginAsync {
  return async (app) => {
    app.get('/', async (request, reply) => {
      const { format, from, to } = parse(reportQuerySchema, request.query, 'query');
      const finished = (await deps.lifecycle.store.list()).filter((aw) => aw.carbonAccount !== undefined);
      const report = carbonReport(finished, { generatedAtMs: deps.clock.now(), ...(from !== undefined && { fromDay: from }), ...(to !== undefined && { toDay: to }) });
      if (format === 'csv') return reply.type('text/csv; charset=utf-8').header('content-disposition', 'inline; filename="caspian-report.csv"').send(carbonReportCsv(report));
      return report;
    });
  };
}
