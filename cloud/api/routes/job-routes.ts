import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../route-context';
import { errorResponses } from '../errors';
import { EventsQuery, IdParams, Job, JobEvent } from '../schemas';
import { JobState } from '../../jobs/job-types';

const ListQuery = Type.Object({
  kind: Type.Optional(Type.String()),
  state: Type.Optional(JobState),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});

export function registerJobRoutes(app: FastifyInstance, { deps }: RouteContext): void {
  app.get<{ Querystring: { kind?: string; state?: JobState; limit?: number } }>('/api/jobs', {
    config: { access: 'viewer' },
    schema: { tags: ['jobs'], summary: 'Background jobs (distillation, export, teacher import), newest first', querystring: ListQuery, response: { 200: Type.Array(Job), ...errorResponses } },
  }, async (req) => deps.jobs.list(req.query));

  app.get<{ Params: IdParams }>('/api/jobs/:id', {
    config: { access: 'viewer' },
    schema: { tags: ['jobs'], params: IdParams, response: { 200: Job, ...errorResponses } },
  }, async (req) => deps.jobs.get(req.params.id));

  app.get<{ Params: IdParams; Querystring: { after?: number; type?: string; limit?: number } }>('/api/jobs/:id/events', {
    config: { access: 'viewer' },
    schema: { tags: ['jobs'], summary: 'Stored progress events after a sequence number', params: IdParams, querystring: EventsQuery, response: { 200: Type.Array(JobEvent), ...errorResponses } },
  }, async (req) => {
    await deps.jobs.get(req.params.id);
    return deps.jobs.events(req.params.id, req.query.after ?? 0, { limit: req.query.limit, type: req.query.type });
  });

  app.post<{ Params: IdParams }>('/api/jobs/:id/cancel', {
    config: { access: 'operator' },
    schema: { tags: ['jobs'], params: IdParams, response: { 200: Job, ...errorResponses } },
  }, async (req) => deps.jobs.cancel(req.params.id));

  app.post<{ Params: IdParams }>('/api/jobs/:id/resume', {
    config: { access: 'operator' },
    schema: { tags: ['jobs'], params: IdParams, response: { 200: Job, ...errorResponses } },
  }, async (req) => deps.jobs.resume(req.params.id));
}
