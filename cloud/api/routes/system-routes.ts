import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../route-context';
import { caller } from '../route-access';
import { errorResponses } from '../errors';
import { Health, Me } from '../schemas';

export function registerSystemRoutes(app: FastifyInstance, { deps, options, metrics }: RouteContext): void {
  app.get('/api/health', {
    config: { access: 'public' },
    schema: { tags: ['system'], summary: 'Liveness, and which components this cloud runs', security: [], response: { 200: Health } },
  }, async () => ({
    status: 'ok' as const,
    version: options.version ?? '0.1.0',
    components: {
      jobs: true,
      distill: deps.jobs.kinds.includes('distill'),
      teachers: Boolean(deps.teachers),
      packages: Boolean(deps.packages),
      fleet: Boolean(deps.fleet),
      devices: Boolean(deps.devices),
      drift: Boolean(deps.drift),
      retrain: Boolean(deps.retrain),
    },
  }));

  app.get('/api/me', {
    config: { access: 'viewer' },
    schema: { tags: ['system'], summary: 'The calling token’s name and role', response: { 200: Me, ...errorResponses } },
  }, async (req) => ({ name: caller(req).name, role: caller(req).role }));

  app.get('/metrics', {
    config: { access: 'viewer' },
    schema: { tags: ['system'], summary: 'Prometheus metrics (text exposition format)', response: { 200: Type.String(), ...errorResponses } },
  }, async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
