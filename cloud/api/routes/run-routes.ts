import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import { EdgekdError } from '../../../shared/errors';
import type { RouteContext } from '../route-context';
import { caller } from '../route-access';
import { errorResponses, unavailable } from '../errors';
import { EventsQuery, IdParams, JobEvent, Run, RunCreate, StreamQuery } from '../schemas';
import { streamJob } from '../sse';
import { jobParamsOrNull, submitJob, type JobKind } from '../../jobs/job-kinds';
import type { JobRecord } from '../../jobs/job-types';

export const RUN_KIND = 'distill' satisfies JobKind;

export function toRun(job: JobRecord): Run {
  const p = jobParamsOrNull(job, RUN_KIND);
  return {
    id: job.id,
    state: job.state,
    teacherId: p?.teacherId ?? null,
    student: p?.student ?? null,
    method: p?.method ?? null,
    params: job.params,
    progress: job.progress,
    result: job.result,
    error: job.error,
    attempt: job.attempt,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}

/**
 * Distillation runs are jobs of kind `distill`. Creating one checks the teacher first (a typed
 * 404/409 instead of a job that fails later); the engine validates its own settings in the job.
 */
export function registerRunRoutes(app: FastifyInstance, { deps, options, metrics }: RouteContext): void {
  const getRun = async (id: string): Promise<JobRecord> => {
    const job = await deps.jobs.get(id);
    if (job.kind !== RUN_KIND) throw new EdgekdError('EDGEKD_NOT_FOUND', `no distillation run ${id}`);
    return job;
  };

  app.get('/api/runs', {
    config: { access: 'viewer' },
    schema: { tags: ['runs'], summary: 'Distillation runs, newest first', response: { 200: Type.Array(Run), ...errorResponses } },
  }, async () => (await deps.jobs.list({ kind: RUN_KIND })).map(toRun));

  app.post<{ Body: RunCreate }>('/api/runs', {
    config: { access: 'operator' },
    schema: { tags: ['runs'], summary: 'Start a data-free distillation run (queued as a job)', body: RunCreate, response: { 201: Run, ...errorResponses } },
  }, async (req, reply) => {
    if (!deps.jobs.kinds.includes(RUN_KIND)) throw unavailable('distillation (the distill engine)');
    if (!deps.teachers) throw unavailable('the teacher catalog');
    const teacher = await deps.teachers.get(req.body.teacherId);
    if (teacher.status !== 'ready') throw new EdgekdError('EDGEKD_JOB_STATE', `teacher ${teacher.id} is ${teacher.status}, not ready`);
    const job = await submitJob(deps.jobs, RUN_KIND, {
      ...req.body,
      method: req.body.method ?? 'ssdkd',
      teacherPath: teacher.path,
      teacherSha256: teacher.sha256,
      requestedBy: caller(req).name,
    });
    return reply.status(201).send(toRun(job));
  });

  app.get<{ Params: IdParams }>('/api/runs/:id', {
    config: { access: 'viewer' },
    schema: { tags: ['runs'], params: IdParams, response: { 200: Run, ...errorResponses } },
  }, async (req) => toRun(await getRun(req.params.id)));

  app.get<{ Params: IdParams; Querystring: { after?: number; type?: string; limit?: number } }>('/api/runs/:id/events', {
    config: { access: 'viewer' },
    schema: { tags: ['runs'], summary: 'Stored progress events (loss terms, buffer histogram, priorities, accuracy)', params: IdParams, querystring: EventsQuery, response: { 200: Type.Array(JobEvent), ...errorResponses } },
  }, async (req) => {
    await getRun(req.params.id);
    return deps.jobs.events(req.params.id, req.query.after ?? 0, { limit: req.query.limit, type: req.query.type });
  });

  app.get<{ Params: IdParams; Querystring: { after?: number; follow?: boolean } }>('/api/runs/:id/stream', {
    config: { access: 'viewer', sse: true },
    schema: {
      tags: ['runs'],
      summary: 'Live progress as Server-Sent Events (replays stored events first; honours Last-Event-ID)',
      params: IdParams,
      querystring: StreamQuery,
      produces: ['text/event-stream'],
      response: { 200: Type.String({ description: 'text/event-stream' }), ...errorResponses },
    },
  }, async (req, reply) => {
    const job = await getRun(req.params.id);
    const lastId = Number(req.headers['last-event-id']);
    await streamJob(req, reply, deps.jobs, job, {
      after: req.query.after ?? (Number.isFinite(lastId) ? lastId : 0),
      follow: req.query.follow ?? true,
      heartbeatMs: options.sseHeartbeatMs ?? 15_000,
      onOpen: () => metrics.sseClients.inc(),
      onClose: () => metrics.sseClients.dec(),
    });
  });

  app.get<{ Params: IdParams }>('/api/runs/:id/samples', {
    config: { access: 'viewer' },
    schema: {
      tags: ['runs'],
      summary: 'The latest gallery of synthetic samples from the replay buffer (PNG data URLs with labels)',
      params: IdParams,
      response: { 200: Type.Union([JobEvent, Type.Null()]), ...errorResponses },
    },
  }, async (req) => {
    await getRun(req.params.id);
    const all = await deps.jobs.events(req.params.id, 0, { type: 'samples', limit: 10000 });
    return all.at(-1) ?? null;
  });

  app.post<{ Params: IdParams }>('/api/runs/:id/cancel', {
    config: { access: 'operator' },
    schema: { tags: ['runs'], summary: 'Cancel a queued or running run (keeps its checkpoint)', params: IdParams, response: { 200: Run, ...errorResponses } },
  }, async (req) => {
    await getRun(req.params.id);
    return toRun(await deps.jobs.cancel(req.params.id));
  });

  app.post<{ Params: IdParams }>('/api/runs/:id/resume', {
    config: { access: 'operator' },
    schema: { tags: ['runs'], summary: 'Resume a cancelled or failed run from its checkpoint', params: IdParams, response: { 200: Run, ...errorResponses } },
  }, async (req) => {
    await getRun(req.params.id);
    return toRun(await deps.jobs.resume(req.params.id));
  });
}
