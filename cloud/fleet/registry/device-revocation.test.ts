import { afterAll, beforeAll, describe as plainDescribe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { describeWithPostgres, POSTGRES_URL } from '../../../test/helpers/services';
import { openSqlite } from '../../store/sqlite-db';
import { openPostgres } from '../../store/postgres-db';
import { migrate, type SqlDb } from '../../store/sql-db';
import { FleetStore } from '../store/fleet-store';
import { fleetMigrations } from '../store/migrations';
import { DeviceRegistry } from './device-registry';
import { createDeviceAdmin } from './device-admin';
import type { BrokerAccess } from './broker-access';

const pw = (s: string): Buffer => Buffer.from(s, 'utf8');

function suite(name: string, open: () => Promise<SqlDb>, d: typeof plainDescribe | typeof plainDescribe.skip): void {
  d(`device revocation and rotation on ${name}`, () => {
    let db: SqlDb;
    let registry: DeviceRegistry;
    let t = 1_000;
    beforeAll(async () => {
      db = await open();
      registry = new DeviceRegistry(await FleetStore.open(db), () => ++t);
    });
    afterAll(async () => db?.close());

    it('refuses the old password after a rotation and accepts the new one', async () => {
      const dev = await registry.provision({ deviceId: 'rot-1', groups: ['lab'] });
      expect(await registry.authenticate('rot-1', pw(dev.password))).toEqual({ kind: 'device', deviceId: 'rot-1' });
      const fresh = await registry.rotateCredentials('rot-1');
      expect(fresh.password).not.toBe(dev.password);
      expect(await registry.authenticate('rot-1', pw(dev.password))).toBeNull();
      expect(await registry.authenticate('rot-1', pw(fresh.password))).toEqual({ kind: 'device', deviceId: 'rot-1' });
    });

    it('refuses a revoked device for good, keeps its row and the first revocation time, and refuses to rotate it', async () => {
      const dev = await registry.provision({ deviceId: 'rev-1', groups: ['lab'], tags: ['cam'] });
      expect(await registry.authenticate('rev-1', pw(dev.password))).not.toBeNull();
      const revoked = await registry.revoke('rev-1');
      expect(revoked).toMatchObject({ deviceId: 'rev-1', groups: ['lab'], tags: ['cam'], revokedAt: expect.any(Number) });
      expect(revoked).not.toHaveProperty('passwordHash');
      expect(await registry.authenticate('rev-1', pw(dev.password))).toBeNull();
      expect((await registry.revoke('rev-1')).revokedAt).toBe(revoked.revokedAt);
      await expect(registry.rotateCredentials('rev-1')).rejects.toMatchObject({ code: 'EDGEKD_DEVICE_REVOKED' });
      await expect(registry.revoke('never-was')).rejects.toMatchObject({ code: 'EDGEKD_UNKNOWN_DEVICE' });
      await expect(registry.provision({ deviceId: 'rev-1' })).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
    });

    it('keeps the revocation across a restart and across processes sharing the store', async () => {
      const dev = await registry.provision({ deviceId: 'rev-2' });
      const other = new DeviceRegistry(await FleetStore.open(db), () => ++t);
      expect(await other.authenticate('rev-2', pw(dev.password))).not.toBeNull();
      // Revoked through the first instance: the second, which cached a successful check, refuses too.
      await registry.revoke('rev-2');
      expect(await other.authenticate('rev-2', pw(dev.password))).toBeNull();
      expect((await other.get('rev-2'))?.revokedAt).toEqual(expect.any(Number));
    });

    it('leaves revoked devices out of group targets and refuses them as explicit targets', async () => {
      await registry.provision({ deviceId: 'grp-a', groups: ['yard'] });
      await registry.provision({ deviceId: 'grp-b', groups: ['yard'] });
      await registry.revoke('grp-b');
      expect(await registry.resolveTarget({ groups: ['yard'] })).toEqual(['grp-a']);
      await expect(registry.resolveTarget({ devices: ['grp-b'] })).rejects.toMatchObject({ code: 'EDGEKD_DEVICE_REVOKED' });
    });

    it('tells every broker after each change, in order, and reports a broker that fails with the registry change kept', async () => {
      const seen: string[] = [];
      const ok: BrokerAccess = { deviceChanged: async (c) => { seen.push(`${c.kind} ${c.deviceId}`); } };
      const admin = createDeviceAdmin({ registry, brokers: [ok] });
      const added = await admin.add({ deviceId: 'adm-1', groups: ['g1'], tags: ['t1'] });
      const rotated = await admin.rotate('adm-1');
      expect(await registry.authenticate('adm-1', pw(added.password))).toBeNull();
      expect(await registry.authenticate('adm-1', pw(rotated.password))).not.toBeNull();
      await admin.revoke('adm-1');
      expect(await registry.authenticate('adm-1', pw(rotated.password))).toBeNull();
      expect(seen).toEqual(['added adm-1', 'rotated adm-1', 'revoked adm-1']);
      const listed = (await admin.list()).find((x) => x.deviceId === 'adm-1');
      expect(listed).toEqual({ deviceId: 'adm-1', groups: ['g1'], tags: ['t1'], createdAt: expect.any(Number), revokedAt: expect.any(Number), presence: 'unknown', lastSeen: null });

      const down: BrokerAccess = { deviceChanged: async () => { throw new Error('connection refused'); } };
      const failing = createDeviceAdmin({ registry, brokers: [down] });
      const dev = await registry.provision({ deviceId: 'adm-2' });
      await expect(failing.revoke('adm-2')).rejects.toMatchObject({ code: 'EDGEKD_BROKER_UNAVAILABLE', retryable: true, message: expect.stringContaining('edgekd devices revoke adm-2') });
      expect(await registry.authenticate('adm-2', pw(dev.password))).toBeNull();
    });
  });
}

suite('SQLite', async () => openSqlite(':memory:'), plainDescribe);
const pg = await describeWithPostgres();
suite('PostgreSQL', async () => openPostgres(POSTGRES_URL, { schema: `fleet_rev_${randomUUID().slice(0, 8)}` }), pg);

plainDescribe('the revocation migration', () => {
  it('adds the column to a store made before it, leaving existing devices active', async () => {
    const db = openSqlite(':memory:');
    await migrate(db, fleetMigrations.filter((m) => m.id === 'fleet-001'));
    await db.exec(`INSERT INTO fleet_devices (device_id, password_hash, tags, groups_json, created_at, presence, presence_boot_seq, presence_session_seq) VALUES ('old-1', 'sha256$00$00', '[]', '[]', 1, 'unknown', -1, -1)`);
    const store = await FleetStore.open(db);
    expect((await store.getDevice('old-1'))?.revokedAt).toBeNull();
    expect(await store.revokeDevice('old-1', 5)).toBe(true);
    expect(await store.revokeDevice('old-1', 6)).toBe(false);
    expect((await store.getDevice('old-1'))?.revokedAt).toBe(5);
    await db.close();
  });
});
