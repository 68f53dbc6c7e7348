import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../route-context';
import { errorResponses, unavailable } from '../errors';
import { caller } from '../route-access';
import { DeviceCreate, DeviceCredentials, IdParams, RegisteredDevice } from '../schemas';
import type { DeviceAdminPort } from '../ports';

/**
 * Provisioning, admin only. Credentials are in the response once and never again (only a hash is
 * stored); `no-store` keeps them out of caches. Reading devices is `GET /api/devices` (fleet).
 */
export function registerDeviceAdminRoutes(app: FastifyInstance, { deps }: RouteContext): void {
  const devices = (): DeviceAdminPort => deps.devices ?? (() => { throw unavailable('device provisioning'); })();

  app.post<{ Body: DeviceCreate }>('/api/devices', {
    config: { access: 'admin' },
    schema: { tags: ['fleet'], summary: 'Provision a device with groups and tags; answers its MQTT credentials once', body: DeviceCreate, response: { 201: DeviceCredentials, ...errorResponses } },
  }, async (req, reply) => {
    const created = await devices().add(req.body, caller(req).name);
    return reply.status(201).header('cache-control', 'no-store').send(created);
  });

  app.post<{ Params: IdParams }>('/api/devices/:id/rotate', {
    config: { access: 'admin' },
    schema: { tags: ['fleet'], summary: 'New credentials for a device (the old ones stop working); answered once', params: IdParams, response: { 200: DeviceCredentials, ...errorResponses } },
  }, async (req, reply) => reply.header('cache-control', 'no-store').send(await devices().rotate(req.params.id, caller(req).name)));

  app.post<{ Params: IdParams }>('/api/devices/:id/revoke', {
    config: { access: 'admin' },
    schema: { tags: ['fleet'], summary: 'Refuse a device from now on and end its broker session (idempotent)', params: IdParams, response: { 200: RegisteredDevice, ...errorResponses } },
  }, async (req) => devices().revoke(req.params.id, caller(req).name));
}
