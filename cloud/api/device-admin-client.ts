import { EdgekdError, parseErrorCode } from '../../shared/errors';
import type { DeviceAdmin, DeviceSummary } from '../fleet/registry/device-admin';
import type { Device } from './schemas';

/**
 * The device admin of a running cloud, through its API (`edgekd devices --api URL`): the same
 * interface as the local one, so the command does not care which it has. Going through the API is
 * what ends a revoked device's live session, since only the running cloud holds the broker.
 */
export function deviceAdminClient(baseUrl: string, token: string, fetchImpl: typeof fetch = fetch): DeviceAdmin {
  const base = baseUrl.replace(/\/+$/, '');
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let res: Response;
    try {
      res = await fetchImpl(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new EdgekdError('EDGEKD_API_UNAVAILABLE', `cannot reach the cloud API at ${base}: ${(e as Error).message}`, { cause: e });
    }
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!res.ok) {
      const b = (parsed ?? {}) as { code?: string; message?: string };
      const code = typeof b.code === 'string' ? parseErrorCode(b.code, 'EDGEKD_INTERNAL') : 'EDGEKD_INTERNAL';
      throw new EdgekdError(code, b.message ?? `HTTP ${res.status} from ${method} ${path}`);
    }
    return parsed as T;
  };
  const id = (deviceId: string): string => encodeURIComponent(deviceId);
  return {
    add: (req) => call('POST', '/api/devices', req),
    rotate: (deviceId) => call('POST', `/api/devices/${id(deviceId)}/rotate`),
    revoke: (deviceId) => call('POST', `/api/devices/${id(deviceId)}/revoke`),
    async list() {
      const devices = await call<Array<Device & { groups?: string[]; tags?: string[]; createdAt?: number; revokedAt?: number | null; presence?: string }>>('GET', '/api/devices');
      return devices.map((d): DeviceSummary => ({
        deviceId: d.id,
        groups: d.groups ?? [],
        tags: d.tags ?? [],
        createdAt: d.createdAt ?? 0,
        revokedAt: d.revokedAt ?? null,
        presence: d.presence === 'online' || d.presence === 'offline' ? d.presence : 'unknown',
        lastSeen: d.lastSeen,
      }));
    },
  };
}
