import type { FastifyPluginAsync } from 'fastify';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import type { HubDeps } from '../deps.js';
import { jobIdParamSchema, listQuerySchema, parse, submissionSchema, toJobSpec } from '../schemas.js';
import { appWrapperListSchema, appWrapperView, appWrapperViewSchema } from '../views.js';

export function appWrapperRoutes(deps: HubDeps): FastifyPluginAsync {
  const views = deps.clusters.snapshot();
  const submission = submissionSchema([...new Set(views.map((v) => v.region))]);
  const listQuery = listQuerySchema(views.map((v) => v.name));

  return async (app) => {
    app.post('/', { schema: { response: { 201: appWrapperViewSchema } } }, async (request, reply) => {
      const body = parse(submission, request.body, 'AppWrapper');
      const stored = await deps.lifecycle.submit(body.job_id, toJobSpec(body));
      return reply.status(201).send(appWrapperView(stored));
    });

    app.get('/', { schema: { response: { 200: appWrapperListSchema } } }, async (request) => {
      const { limit, after, ...filter } = parse(listQuery, request.query, 'query');
      const matches = await deps.lifecycle.store.list(filter);
      let start = 0;
      if (after !== undefined) {
        const at = matches.findIndex((aw) => aw.jobId === after);
        if (at < 0) throw new ValidationError(`invalid query: after: "${after}" is not among the matches`, [{ field: 'after', message: 'not among the matches' }]);
        start = at + 1;
      }
      const page = matches.slice(start, limit === undefined ? undefined : start + limit);
      const more = start + page.length < matches.length;
      return { count: page.length, items: page.map(appWrapperView), next: more ? (page.at(-1)?.jobId ?? null) : null };
    });

    app.get('/:id', { schema: { response: { 200: appWrapperViewSchema } } }, async (request) => {
      const { id } = parse(jobIdParamSchema, request.params, 'AppWrapper id');
      const aw = await deps.lifecycle.store.get(id);
      if (!aw) throw new NotFoundError(`AppWrapper "${id}" not found`);
      return appWrapperView(aw);
    });

    app.delete('/:id', { schema: { response: { 200: appWrapperViewSchema } } }, async (request) => {
      const { id } = parse(jobIdParamSchema, request.params, 'AppWrapper id');
      return appWrapperView(await deps.cancel(id));
    });
  };
}
