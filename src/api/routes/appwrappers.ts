import type { FastifyPluginAsync } from 'fastify';
import type { AppWrapper } from '../../domain/app-wrapper.js';
import { NotFoundError, ValidationError } from '../../domain/errors.js';
import type { HubDeps } from '../deps.js';
import { jobIdParamSchema, listQuerySchema, noParametersSchema, parse, submissionSchema, toJobSpec } from '../schemas.js';
import { appWrapperListSchema, appWrapperView, appWrapperViewSchema } from '../views.js';

export function appWrapperRoutes(deps: HubDeps): FastifyPluginAsync {
  const views = deps.clusters.snapshot();
  const submission = submissionSchema([...new Set(views.map((v) => v.region))]);
  const listQuery = listQuerySchema(views.map((v) => v.name));

  return async (app) => {
    app.post('/', { schema: { response: { 201: appWrapperViewSchema } } }, async (request, reply) => {
      parse(noParametersSchema, request.query, 'query');
      const body = parse(submission, request.body, 'AppWrapper');
      const stored = await deps.lifecycle.submit(body.job_id, toJobSpec(body));
      return reply.status(201).send(appWrapperView(stored));
    });

    app.get('/', { schema: { response: { 200: appWrapperListSchema } } }, async (request) => {
      const { limit, after, ...filter } = parse(listQuery, request.query, 'query');
      // Both read the same moment of the store: no write can land between two calls made in one turn.
      const [all, matches] = await Promise.all([deps.lifecycle.store.list(), deps.lifecycle.store.list(filter)]);
      const following = after === undefined ? matches : matches.filter(submittedAfter(all, after));
      const page = following.slice(0, limit);
      const next = page.length < following.length ? (page.at(-1)?.jobId ?? null) : null;
      return { count: page.length, items: page.map(appWrapperView), next };
    });

    app.get('/:id', { schema: { response: { 200: appWrapperViewSchema } } }, async (request) => {
      const { id } = parse(jobIdParamSchema, request.params, 'AppWrapper id');
      parse(noParametersSchema, request.query, 'query');
      const aw = await deps.lifecycle.store.get(id);
      if (!aw) throw new NotFoundError(`AppWrapper "${id}" not found`);
      return appWrapperView(aw);
    });

    app.delete('/:id', { schema: { response: { 200: appWrapperViewSchema } } }, async (request) => {
      const { id } = parse(jobIdParamSchema, request.params, 'AppWrapper id');
      parse(noParametersSchema, request.query, 'query');
      parse(noParametersSchema, request.body, 'body');
      return appWrapperView(await deps.cancel(id));
    });
  };
}

/**
 * Which AppWrappers come after the cursor `after` in submission order, whatever the filter: the cursor's
 * job may have changed phase or cluster since its page was served. A cursor whose job is no longer stored
 * (forgotten after its retention) has no place left: the client starts again.
 */
function submittedAfter(all: readonly AppWrapper[], after: string): (aw: AppWrapper) => boolean {
  const order = new Map(all.map((aw, i) => [aw.jobId, i]));
  const at = order.get(after);
  if (at === undefined) {
    throw new ValidationError(`invalid query: after: "${after}" is not a stored job`, [{ field: 'after', message: 'unknown cursor: start again without after' }]);
  }
  return (aw) => (order.get(aw.jobId) as number) > at;
}
