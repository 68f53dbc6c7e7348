import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../route-context';
import { caller } from '../route-access';
import { errorResponses, unavailable } from '../errors';
import { AbortBody, Device, IdParams, Rollout, RolloutCreate } from '../schemas';
import type { FleetPort } from '../ports';

export function registerFleetRoutes(app: FastifyInstance, { deps }: RouteContext): void {
  const fleet = (): FleetPort => deps.fleet ?? (() => { throw unavailable('the fleet controller'); })();

  app.get('/api/devices', {
    config: { access: 'viewer' },
    schema: { tags: ['fleet'], summary: 'Devices: state, model version, execution provider, last seen', response: { 200: Type.Array(Device), ...errorResponses } },
  }, async () => fleet().listDevices());

  app.get<{ Params: IdParams }>('/api/devices/:id', {
    config: { access: 'viewer' },
    schema: { tags: ['fleet'], params: IdParams, response: { 200: Device, ...errorResponses } },
  }, async (req) => fleet().getDevice(req.params.id));

  app.get('/api/rollouts', {
    config: { access: 'viewer' },
    schema: { tags: ['rollouts'], summary: 'Rollouts, newest first', response: { 200: Type.Array(Rollout), ...errorResponses } },
  }, async () => fleet().listRollouts());

  app.get<{ Params: IdParams }>('/api/rollouts/:id', {
    config: { access: 'viewer' },
    schema: { tags: ['rollouts'], summary: 'One rollout: waves, gate values, device states, rollbacks', params: IdParams, response: { 200: Rollout, ...errorResponses } },
  }, async (req) => fleet().getRollout(req.params.id));

  app.post<{ Body: RolloutCreate }>('/api/rollouts', {
    config: { access: 'operator' },
    schema: { tags: ['rollouts'], summary: 'Start a staged rollout of a package (canary, then waves)', body: RolloutCreate, response: { 201: Rollout, ...errorResponses } },
  }, async (req, reply) => reply.status(201).send(await fleet().createRollout(req.body, caller(req).name)));

  app.post<{ Params: IdParams }>('/api/rollouts/:id/pause', {
    config: { access: 'operator' },
    schema: { tags: ['rollouts'], params: IdParams, response: { 200: Rollout, ...errorResponses } },
  }, async (req) => fleet().pauseRollout(req.params.id, caller(req).name));

  app.post<{ Params: IdParams }>('/api/rollouts/:id/resume', {
    config: { access: 'operator' },
    schema: { tags: ['rollouts'], params: IdParams, response: { 200: Rollout, ...errorResponses } },
  }, async (req) => fleet().resumeRollout(req.params.id, caller(req).name));

  app.post<{ Params: IdParams; Body: { reason?: string } }>('/api/rollouts/:id/abort', {
    config: { access: 'operator' },
    schema: { tags: ['rollouts'], summary: 'Abort and roll back', params: IdParams, body: Type.Optional(AbortBody), response: { 200: Rollout, ...errorResponses } },
  }, async (req) => fleet().abortRollout(req.params.id, req.body?.reason ?? `aborted by ${caller(req).name}`, caller(req).name));
}
