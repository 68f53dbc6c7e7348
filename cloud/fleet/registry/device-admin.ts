import { EdgekdError } from '../../../shared/errors';
import type { Logger } from '../../../shared/log/logger';
import type { BrokerAccess } from './broker-access';
import type { DeviceRegistry, ProvisionRequest, ProvisionedDevice, PublicDevice } from './device-registry';

/** A device as provisioning shows it: labels and state, never a secret or a hash. */
export interface DeviceSummary {
  deviceId: string;
  groups: string[];
  tags: string[];
  createdAt: number;
  revokedAt: number | null;
  presence: 'online' | 'offline' | 'unknown';
  lastSeen: number | null;
}

export function summarize(d: PublicDevice): DeviceSummary {
  return { deviceId: d.deviceId, groups: d.groups, tags: d.tags, createdAt: d.createdAt, revokedAt: d.revokedAt, presence: d.presence, lastSeen: d.lastSeen };
}

/** New credentials after a rotation: shown once, like those of `add`. */
export interface RotatedCredentials {
  deviceId: string;
  username: string;
  password: string;
}

/**
 * Provisioning as an operator sees it (`edgekd devices`, the admin API, the console): every change
 * is made in the registry first, then each broker is told so it agrees (sessions ended, auth data
 * rewritten or pushed). The API, the CLI's local mode and the console all go through this.
 */
export interface DeviceAdmin {
  add(req: ProvisionRequest, by?: string): Promise<ProvisionedDevice>;
  list(): Promise<DeviceSummary[]>;
  revoke(deviceId: string, by?: string): Promise<DeviceSummary>;
  rotate(deviceId: string, by?: string): Promise<RotatedCredentials>;
}

export interface DeviceAdminOptions {
  registry: DeviceRegistry;
  /** Whatever brokers this cloud keeps in step (embedded, Mosquitto files, dynamic security); may be none. */
  brokers?: readonly BrokerAccess[];
  log?: Logger;
}

export function createDeviceAdmin(opts: DeviceAdminOptions): DeviceAdmin {
  const brokers = opts.brokers ?? [];
  const { registry, log } = opts;

  /**
   * The registry change is already committed when a broker fails; the error says how to finish
   * (revoking again is idempotent; a lost password is replaced by rotating).
   */
  const tellBrokers = async (kind: 'added' | 'rotated' | 'revoked', deviceId: string, retry: string): Promise<void> => {
    for (const broker of brokers) {
      try {
        await broker.deviceChanged({ kind, deviceId });
      } catch (e) {
        log?.error({ err: e, deviceId, kind }, 'broker did not take a device change');
        throw new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', `device '${deviceId}' was ${kind} in the registry, but the broker did not take the change (${(e as Error).message}); ${retry}`, { cause: e });
      }
    }
  };

  return {
    async add(req, by) {
      const device = await registry.provision(req);
      log?.info({ deviceId: device.deviceId, groups: req.groups ?? [], by }, 'device added');
      await tellBrokers('added', device.deviceId, `rotate its credentials once the broker is reachable (edgekd devices rotate ${device.deviceId})`);
      return device;
    },
    list: async () => (await registry.list()).map(summarize),
    async revoke(deviceId, by) {
      const device = await registry.revoke(deviceId);
      log?.info({ deviceId, by }, 'device revoked');
      await tellBrokers('revoked', deviceId, `revoke it again once the broker is reachable (edgekd devices revoke ${deviceId})`);
      return summarize(device);
    },
    async rotate(deviceId, by) {
      const creds = await registry.rotateCredentials(deviceId);
      log?.info({ deviceId, by }, 'device credentials rotated');
      await tellBrokers('rotated', deviceId, `rotate again once the broker is reachable (edgekd devices rotate ${deviceId})`);
      return creds;
    },
  };
}
