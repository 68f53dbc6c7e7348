import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../route-context';
import { caller } from '../route-access';
import { errorResponses, unavailable } from '../errors';
import { UPLOAD_BODY_LIMIT } from '../body-limits';
import { IdParams, Teacher, TeacherUpload } from '../schemas';
import type { TeacherCatalog } from '../ports';

export function registerTeacherRoutes(app: FastifyInstance, { deps, options }: RouteContext): void {
  const teachers = (): TeacherCatalog => deps.teachers ?? (() => { throw unavailable('the teacher catalog'); })();

  app.get('/api/teachers', {
    config: { access: 'viewer' },
    schema: { tags: ['teachers'], summary: 'Teachers available for distillation', response: { 200: Type.Array(Teacher), ...errorResponses } },
  }, async () => teachers().list());

  app.get<{ Params: IdParams }>('/api/teachers/:id', {
    config: { access: 'viewer' },
    schema: { tags: ['teachers'], params: IdParams, response: { 200: Teacher, ...errorResponses } },
  }, async (req) => teachers().get(req.params.id));

  app.post<{ Body: TeacherUpload }>('/api/teachers', {
    config: { access: 'admin' },
    bodyLimit: options.uploadBodyLimitBytes ?? UPLOAD_BODY_LIMIT,
    schema: {
      tags: ['teachers'],
      summary: 'Upload a TensorFlow.js (model.json + weights) or ONNX teacher; ONNX is imported by a job',
      body: TeacherUpload,
      response: { 201: Teacher, ...errorResponses },
    },
  }, async (req, reply) => {
    const t = await teachers().upload(req.body, caller(req).name);
    return reply.status(201).send(t);
  });
}
