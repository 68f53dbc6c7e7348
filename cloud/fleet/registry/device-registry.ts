import { EdgekdError } from '../../../shared/errors';
import { DeviceId } from '../../../shared/protocol/messages/common';
import { createParser } from '../../../shared/contracts/parse';
import { parseTrustedKeys, type TrustedKey, type TrustedKeys } from '../../../shared/package/trusted-keys';
import type { Principal } from '../../broker/device-acl';
import type { DeviceRecord, FleetStore } from '../store/fleet-store';
import type { RolloutTarget } from '../rollout/rollout-spec';
import { hashPassword, newDevicePassword, passwordMatches } from './credentials';

const deviceIdParser = createParser(DeviceId, 'device id', 'EDGEKD_INVALID_ARGUMENT');
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._:=-]{0,63}$/;

export interface ProvisionRequest {
  deviceId: string;
  tags?: string[];
  groups?: string[];
}

/** What a new device is given once: its MQTT credentials and the signing keys it must trust. */
export interface ProvisionedDevice {
  deviceId: string;
  /** MQTT username (= device id; the broker ACL keys on it). */
  username: string;
  /** Shown once; only a hash is stored. */
  password: string;
  trustedKeys: TrustedKeys;
}

export type PublicDevice = Omit<DeviceRecord, 'passwordHash'>;

function labels(kind: string, values: readonly string[] | undefined): string[] {
  const out = [...new Set(values ?? [])];
  for (const v of out) if (!LABEL.test(v)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `${kind} '${v}' must match ${LABEL}`);
  return out.sort();
}

/**
 * Device registry: provisioning (id, generated credentials, tags, groups), the trusted signing
 * keys every device gets, authentication for the embedded broker, and target resolution for
 * rollouts. A successful hash check is cached in memory (keyed by the stored hash) so a
 * reconnect storm costs one row lookup per connect, not one hash. Revoked devices keep their row
 * and never authenticate again.
 */
export class DeviceRegistry {
  private readonly verified = new Map<string, { hash: string; password: string }>();

  constructor(
    private readonly store: FleetStore,
    private readonly now: () => number,
    private readonly service?: { username: string; password: string },
  ) {}

  async provision(req: ProvisionRequest): Promise<ProvisionedDevice> {
    deviceIdParser.parse(req.deviceId);
    if (this.service && req.deviceId === this.service.username) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `'${req.deviceId}' is the cloud's own MQTT user`);
    const password = newDevicePassword();
    const inserted = await this.store.insertDevice({
      deviceId: req.deviceId, passwordHash: hashPassword(password), tags: labels('tag', req.tags), groups: labels('group', req.groups), createdAt: this.now(),
    });
    if (!inserted) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `device '${req.deviceId}' is already provisioned (rotate its credentials instead)`);
    return { deviceId: req.deviceId, username: req.deviceId, password, trustedKeys: await this.trustedKeys() };
  }

  /** New credentials for a device; the old password stops working at once. Refused once revoked. */
  async rotateCredentials(deviceId: string): Promise<{ deviceId: string; username: string; password: string }> {
    const password = newDevicePassword();
    this.verified.delete(deviceId);
    if (!(await this.store.updateDevicePassword(deviceId, hashPassword(password)))) {
      const d = await this.store.getDevice(deviceId);
      throw d ? revokedDevice(deviceId) : unknownDevice(deviceId);
    }
    return { deviceId, username: deviceId, password };
  }

  /**
   * Refuses the device from now on: authentication fails, rollouts no longer target it, its
   * credentials cannot be rotated. The row stays (reports and rollouts name it). Revoking twice
   * keeps the first time and is not an error, so a caller can safely retry what follows.
   */
  async revoke(deviceId: string): Promise<PublicDevice> {
    this.verified.delete(deviceId);
    await this.store.revokeDevice(deviceId, this.now());
    const d = await this.store.getDevice(deviceId);
    if (!d) throw unknownDevice(deviceId);
    return strip(d);
  }

  async setLabels(deviceId: string, update: { tags?: string[]; groups?: string[] }): Promise<PublicDevice> {
    const d = await this.store.getDevice(deviceId);
    if (!d) throw unknownDevice(deviceId);
    const tags = update.tags ? labels('tag', update.tags) : d.tags;
    const groups = update.groups ? labels('group', update.groups) : d.groups;
    await this.store.updateDeviceLabels(deviceId, tags, groups);
    return strip({ ...d, tags, groups });
  }

  async remove(deviceId: string): Promise<void> {
    if (!(await this.store.deleteDevice(deviceId))) throw unknownDevice(deviceId);
    this.verified.delete(deviceId);
  }

  async get(deviceId: string): Promise<PublicDevice | null> {
    const d = await this.store.getDevice(deviceId);
    return d ? strip(d) : null;
  }

  async list(): Promise<PublicDevice[]> {
    return (await this.store.listDevices()).map(strip);
  }

  /** What an external broker's password file needs: every device that may connect (not revoked) and its stored hash. */
  async brokerAccounts(): Promise<Array<{ username: string; passwordHash: string }>> {
    return (await this.store.listDevices()).filter((d) => d.revokedAt === null).map((d) => ({ username: d.deviceId, passwordHash: d.passwordHash }));
  }

  /** For the embedded broker: a device (username = device id) or the cloud's service account. */
  async authenticate(username: string | undefined, password: Buffer | undefined): Promise<Principal | null> {
    if (!username || !password) return null;
    const pw = password.toString('utf8');
    if (this.service && username === this.service.username) {
      return pw === this.service.password ? { kind: 'service', name: username } : null;
    }
    // The row is read on every connect (one primary-key lookup), so a revocation or rotation made
    // by another process (`edgekd devices --data`) holds from the next connect; only the hash
    // check is cached, per stored hash.
    const d = await this.store.getDevice(username);
    if (!d || d.revokedAt !== null) return null;
    const seen = this.verified.get(username);
    if (seen && seen.hash === d.passwordHash && seen.password === pw) return { kind: 'device', deviceId: username };
    if (!passwordMatches(d.passwordHash, pw)) return null;
    this.verified.set(username, { hash: d.passwordHash, password: pw });
    return { kind: 'device', deviceId: username };
  }

  async addTrustedKey(entry: TrustedKey): Promise<void> {
    const [checked] = parseTrustedKeys({ schemaVersion: 1, keys: [entry] }).keys;
    await this.store.putTrustedKey(checked!.keyId, checked, this.now());
  }

  async trustedKeys(): Promise<TrustedKeys> {
    return parseTrustedKeys({ schemaVersion: 1, keys: await this.store.listTrustedKeys() });
  }

  /**
   * Devices a rollout targets: the explicit `devices`, plus every device that is in one of `groups`
   * (when given) and carries all `tags` (when given). Sorted, unique. Unknown explicit ids fail.
   */
  async resolveTarget(target: RolloutTarget): Promise<string[]> {
    const all = await this.store.listDevices();
    const known = new Set(all.map((d) => d.deviceId));
    const out = new Set<string>();
    const revoked = new Set(all.filter((d) => d.revokedAt !== null).map((d) => d.deviceId));
    for (const id of target.devices ?? []) {
      if (!known.has(id)) throw unknownDevice(id);
      if (revoked.has(id)) throw revokedDevice(id);
      out.add(id);
    }
    const groups = target.groups ?? [];
    const tags = target.tags ?? [];
    if (groups.length > 0 || tags.length > 0) {
      for (const d of all) {
        if (d.revokedAt !== null) continue;
        const inGroup = groups.length === 0 || d.groups.some((g) => groups.includes(g));
        const hasTags = tags.every((t) => d.tags.includes(t));
        if (inGroup && hasTags) out.add(d.deviceId);
      }
    }
    if (groups.length === 0 && tags.length === 0 && (target.devices ?? []).length === 0) {
      throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'a rollout target needs at least one of groups, tags or devices');
    }
    return [...out].sort();
  }
}

function strip(d: DeviceRecord): PublicDevice {
  const { passwordHash: _omit, ...rest } = d;
  return rest;
}

function revokedDevice(id: string): EdgekdError {
  return new EdgekdError('EDGEKD_DEVICE_REVOKED', `device '${id}' was revoked`);
}

function unknownDevice(id: string): EdgekdError {
  return new EdgekdError('EDGEKD_UNKNOWN_DEVICE', `device '${id}' is not provisioned`);
}
