import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqlite } from '../store/sqlite-db';
import type { SqlDb } from '../store/sql-db';
import { createJobRunner, type JobRunner } from '../jobs/job-runner';
import { FleetStore } from '../fleet/store/fleet-store';
import { DeviceRegistry } from '../fleet/registry/device-registry';
import { createDeviceAdmin } from '../fleet/registry/device-admin';
import { buildApp, type App } from './build-app';

const SPIN = fileURLToPath(new URL('../jobs/fixtures/spin-job.ts', import.meta.url));
const TOKENS = [
  { token: 'op-token-1', role: 'operator' as const, name: 'otto' },
  { token: 'admin-token-1', role: 'admin' as const, name: 'ada' },
];
const admin = { authorization: 'Bearer admin-token-1' };

let dir: string;
let db: SqlDb;
let jobs: JobRunner;
let registry: DeviceRegistry;
let app: App;
const changes: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgekd-devadmin-'));
  db = openSqlite(join(dir, 'cloud.db'));
  jobs = createJobRunner({ db, kinds: { distill: { module: SPIN } }, concurrency: 1, dataDir: join(dir, 'jobs'), owner: 'devadmin-test', pollMs: 50 });
  registry = new DeviceRegistry(await FleetStore.open(db), Date.now);
  const devices = createDeviceAdmin({ registry, brokers: [{ deviceChanged: async (c) => { changes.push(`${c.kind} ${c.deviceId}`); } }] });
  ({ app } = await buildApp({ jobs, devices, tokens: TOKENS }, { logLevel: 'silent' }));
});

afterAll(async () => {
  await app?.close();
  await jobs?.stop();
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('device provisioning API', () => {
  it('adds a device for an admin, answers its credentials once with no-store, and stores only a hash', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/devices', headers: admin, payload: { deviceId: 'api-cam-1', groups: ['yard'], tags: ['cam'] } });
    expect(r.statusCode).toBe(201);
    expect(r.headers['cache-control']).toBe('no-store');
    const creds = r.json() as { deviceId: string; username: string; password: string; trustedKeys: unknown };
    expect(creds).toMatchObject({ deviceId: 'api-cam-1', username: 'api-cam-1', password: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/), trustedKeys: { schemaVersion: 1, keys: [] } });
    expect(await registry.authenticate('api-cam-1', Buffer.from(creds.password))).not.toBeNull();
    const row = await db.query<{ password_hash: string }>('SELECT password_hash FROM fleet_devices WHERE device_id = ?', ['api-cam-1']);
    expect(row[0]!.password_hash).not.toContain(creds.password);
    expect(changes.at(-1)).toBe('added api-cam-1');
  });

  it('rotates: the old password stops working, the new one is answered once', async () => {
    const before = (await app.inject({ method: 'POST', url: '/api/devices', headers: admin, payload: { deviceId: 'api-cam-2' } })).json().password as string;
    const r = await app.inject({ method: 'POST', url: '/api/devices/api-cam-2/rotate', headers: admin });
    expect([r.statusCode, r.headers['cache-control']]).toEqual([200, 'no-store']);
    expect(await registry.authenticate('api-cam-2', Buffer.from(before))).toBeNull();
    expect(await registry.authenticate('api-cam-2', Buffer.from(r.json().password))).not.toBeNull();
    expect(changes.at(-1)).toBe('rotated api-cam-2');
  });

  it('revokes: the device is refused from then on, the answer holds no secret, and a second revoke is harmless', async () => {
    const pw = (await app.inject({ method: 'POST', url: '/api/devices', headers: admin, payload: { deviceId: 'api-cam-3', groups: ['yard'] } })).json().password as string;
    const r = await app.inject({ method: 'POST', url: '/api/devices/api-cam-3/revoke', headers: admin });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ deviceId: 'api-cam-3', groups: ['yard'], tags: [], createdAt: expect.any(Number), revokedAt: expect.any(Number), presence: 'unknown', lastSeen: null });
    expect(await registry.authenticate('api-cam-3', Buffer.from(pw))).toBeNull();
    expect(changes.at(-1)).toBe('revoked api-cam-3');
    expect((await app.inject({ method: 'POST', url: '/api/devices/api-cam-3/revoke', headers: admin })).statusCode).toBe(200);
    const rot = await app.inject({ method: 'POST', url: '/api/devices/api-cam-3/rotate', headers: admin });
    expect([rot.statusCode, rot.json().code]).toEqual([409, 'EDGEKD_DEVICE_REVOKED']);
  });

  it('answers typed errors: unknown device 404, bad id or label 400, duplicate 400, operator 403', async () => {
    const unknown = await app.inject({ method: 'POST', url: '/api/devices/ghost/revoke', headers: admin });
    expect([unknown.statusCode, unknown.json().code]).toEqual([404, 'EDGEKD_UNKNOWN_DEVICE']);
    for (const payload of [{ deviceId: '../x' }, { deviceId: 'ok-1', groups: ['bad group'] }, { deviceId: 'ok-2', password: 'chosen' }]) {
      const r = await app.inject({ method: 'POST', url: '/api/devices', headers: admin, payload });
      expect([JSON.stringify(payload), r.statusCode, r.json().category]).toEqual([JSON.stringify(payload), 400, 'input']);
    }
    const dup = await app.inject({ method: 'POST', url: '/api/devices', headers: admin, payload: { deviceId: 'api-cam-1' } });
    expect([dup.statusCode, dup.json().code]).toEqual([400, 'EDGEKD_INVALID_ARGUMENT']);
    const op = await app.inject({ method: 'POST', url: '/api/devices', headers: { authorization: 'Bearer op-token-1' }, payload: { deviceId: 'by-operator' } });
    expect([op.statusCode, op.json().code]).toEqual([403, 'EDGEKD_FORBIDDEN']);
    expect(await registry.get('by-operator')).toBeNull();
  });
});
