import type { FastifyPluginAsync } from 'fastify';
import type { AppWrapper } from '../../domain/app-wrapper.js';
import { matchesFilter, type AppWrapperFilter } from '../../store/types.js';
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
      // The view returned, not `reply.send()`'s reply: an async handler returning the reply (a thenable) has it
      // adopted as a promise, which, with the answer held (answer-batching), waits on the response's end with
      // stream listeners added and removed per request.
      reply.code(201);
      return appWrapperView(stored);
    });

    app.get('/', { schema: { response: { 200: appWrapperListSchema } } }, async (request) => {
      const { limit, after, ...filter } = parse(listQuery, request.query, 'query');
      const { page, more } = after === undefined ? firstPage(await deps.lifecycle.store.list(filter), limit) : pageAfter(await deps.lifecycle.store.list(), after, filter, limit);
      return { count: page.length, items: page.map(appWrapperView), next: more ? (page.at(-1)?.jobId ?? null) : null };
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

function firstPage(matches: readonly AppWrapper[], limit: number | undefined): { page: AppWrapper[]; more: boolean } {
  const page = matches.slice(0, limit);
  return { page, more: page.length < matches.length };
}

/**
 * The matches that come after the cursor `after` in submission order, whatever the filter: the cursor's
 * job may have changed phase or cluster since its page was served. One walk from the cursor, so a page
 * costs its position in the store, not a pass over it per match. A cursor whose job is no longer stored
 * (forgotten after its retention) has no place left: the client starts again.
 */
function pageAfter(all: readonly AppWrapper[], after: string, filter: AppWrapperFilter, limit: number | undefined): { page: AppWrapper[]; more: boolean } {
  const at = all.findIndex((aw) => aw.jobId === after);
  if (at < 0) {
    throw new ValidationError(`invalid query: after: "${after}" is not a stored job`, [{ field: 'after', message: 'unknown cursor: start again without after' }]);
  }
  const page: AppWrapper[] = [];
  for (let i = at + 1; i < all.length; i++) {
    const aw = all[i] as AppWrapper;
    if (!matchesFilter(aw, filter)) continue;
    if (page.length === limit) return { page, more: true };
    page.push(aw);
  }
  return { page, more: false };
}
