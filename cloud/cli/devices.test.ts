import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../bin/edgekd-main';
import { openSqlite } from '../store/sqlite-db';
import type { SqlDb } from '../store/sql-db';
import { createJobRunner, type JobRunner } from '../jobs/job-runner';
import { FleetStore } from '../fleet/store/fleet-store';
import { DeviceRegistry } from '../fleet/registry/device-registry';
import { createDeviceAdmin } from '../fleet/registry/device-admin';
import type { FleetController } from '../fleet/fleet-controller';
import { buildApp, type App } from '../api/build-app';
import { fleetPortOf } from '../api/fleet-adapter';

const SPIN = fileURLToPath(new URL('../jobs/fixtures/spin-job.ts', import.meta.url));

let dir: string;

/** Runs `edgekd …` in this process and returns its exit code and what it printed. */
async function edgekd(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

async function registryOn(path: string): Promise<{ registry: DeviceRegistry; db: SqlDb }> {
  const db = openSqlite(path);
  return { registry: new DeviceRegistry(await FleetStore.open(db), Date.now), db };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgekd-devices-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.EDGEKD_API_TOKEN;
});

describe('edgekd devices on a store (--data)', () => {
  it('adds, lists, rotates and revokes; credentials appear once and never in the list', async () => {
    const data = join(dir, 'local');
    const added = await edgekd('devices', 'add', 'cli-cam-1', '--group', 'yard', '--tag', 'cam', '--tag', 'eu', '--data', data, '--json');
    expect(added.code).toBe(0);
    const creds = JSON.parse(added.out) as { deviceId: string; username: string; password: string; trustedKeys: unknown };
    expect(creds).toMatchObject({ deviceId: 'cli-cam-1', username: 'cli-cam-1', password: expect.any(String), trustedKeys: { schemaVersion: 1 } });

    const human = await edgekd('devices', 'add', 'cli-cam-2', '--data', data);
    expect(human.out).toMatch(/username {2}cli-cam-2\n {2}password {2}\S{32}/);

    const list = await edgekd('devices', 'list', '--data', data);
    expect(list.out.split('\n')).toHaveLength(3);
    expect(list.out).toMatch(/cli-cam-1\s+unknown\s+yard\s+cam,eu/);
    expect(list.out).not.toContain(creds.password);
    expect(list.out).not.toContain('sha256$');
    const listJson = JSON.parse((await edgekd('devices', 'list', '--data', data, '--json')).out) as Array<Record<string, unknown>>;
    expect(Object.keys(listJson[0]!).sort()).toEqual(['createdAt', 'deviceId', 'groups', 'lastSeen', 'presence', 'revokedAt', 'tags']);

    const rotated = JSON.parse((await edgekd('devices', 'rotate', 'cli-cam-1', '--data', data, '--json')).out) as { password: string };
    const revoked = await edgekd('devices', 'revoke', 'cli-cam-2', '--data', data);
    expect(revoked.code).toBe(0);
    expect(revoked.out).toContain('next connect');

    const { registry, db } = await registryOn(join(data, 'cloud.db'));
    expect(await registry.authenticate('cli-cam-1', Buffer.from(creds.password))).toBeNull();
    expect(await registry.authenticate('cli-cam-1', Buffer.from(rotated.password))).not.toBeNull();
    const cam2 = await registry.get('cli-cam-2');
    expect(cam2?.revokedAt).toEqual(expect.any(Number));
    await db.close();
    expect((await edgekd('devices', 'list', '--data', data)).out).toMatch(/cli-cam-2\s+revoked/);
  });

  it('answers bad usage with a typed input error and exit code 2', async () => {
    const data = join(dir, 'usage');
    for (const argv of [['devices'], ['devices', 'remove', 'x'], ['devices', 'add'], ['devices', 'list', 'x'], ['devices', 'revoke', 'x', '--group', 'g'], ['devices', 'add', '../x'], ['devices', 'add', 'x', '--group', 'a b'], ['devices', 'list', '--api', 'http://127.0.0.1:1', '--data', data]]) {
      const r = await edgekd(...argv, ...(argv.includes('--api') ? [] : ['--data', data]));
      expect([argv.join(' '), r.code]).toEqual([argv.join(' '), 2]);
      expect(r.err).toContain('EDGEKD_INVALID_ARGUMENT');
    }
    const missing = await edgekd('devices', 'list', '--data', join(dir, 'no-such-cloud'));
    expect([missing.code, missing.err]).toEqual([1, expect.stringContaining('EDGEKD_NOT_FOUND')]);
    expect(existsSync(join(dir, 'no-such-cloud'))).toBe(false);
    await edgekd('devices', 'add', 'usage-1', '--data', data);
    const unknown = await edgekd('devices', 'revoke', 'ghost', '--data', data);
    expect([unknown.code, unknown.err]).toEqual([1, expect.stringContaining('EDGEKD_UNKNOWN_DEVICE')]);
  });
});

describe('edgekd devices on a running cloud (--api)', () => {
  let db: SqlDb;
  let jobs: JobRunner;
  let app: App;
  let url: string;
  let registry: DeviceRegistry;
  const changes: string[] = [];

  beforeAll(async () => {
    db = openSqlite(join(dir, 'api.db'));
    jobs = createJobRunner({ db, kinds: { distill: { module: SPIN } }, concurrency: 1, dataDir: join(dir, 'jobs'), owner: 'devices-cli-test', pollMs: 50 });
    registry = new DeviceRegistry(await FleetStore.open(db), Date.now);
    const devices = createDeviceAdmin({ registry, brokers: [{ deviceChanged: async (c) => { changes.push(`${c.kind} ${c.deviceId}`); } }] });
    // The fleet port's device list comes from the registry, as in the real controller.
    const fleet = fleetPortOf({ listDevices: () => registry.list() } as unknown as FleetController);
    ({ app } = await buildApp({ jobs, devices, fleet, tokens: [{ token: 'cli-admin-token', role: 'admin', name: 'ops' }, { token: 'cli-viewer-token', role: 'viewer', name: 'eye' }] }, { logLevel: 'silent' }));
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app?.close();
    await jobs?.stop();
    await db?.close();
  });

  it('adds, lists, rotates and revokes through the API, and the broker hears of each change', async () => {
    process.env.EDGEKD_API_TOKEN = 'cli-admin-token';
    const creds = JSON.parse((await edgekd('devices', 'add', 'api-cli-1', '--group', 'dock', '--api', url, '--json')).out) as { password: string };
    expect(await registry.authenticate('api-cli-1', Buffer.from(creds.password))).not.toBeNull();
    const list = await edgekd('devices', 'list', '--api', url);
    expect(list.out).toMatch(/api-cli-1\s+unknown\s+dock/);
    const rotated = JSON.parse((await edgekd('devices', 'rotate', 'api-cli-1', '--api', url, '--json')).out) as { password: string };
    expect(await registry.authenticate('api-cli-1', Buffer.from(creds.password))).toBeNull();
    const revoked = await edgekd('devices', 'revoke', 'api-cli-1', '--api', url);
    expect(revoked.out).not.toContain('next connect');
    expect(await registry.authenticate('api-cli-1', Buffer.from(rotated.password))).toBeNull();
    expect(changes).toEqual(['added api-cli-1', 'rotated api-cli-1', 'revoked api-cli-1']);
    expect((await edgekd('devices', 'list', '--api', url)).out).toMatch(/api-cli-1\s+revoked/);
  });

  it('needs the token in the environment, passes on the API\u2019s typed errors, and says when the API is down', async () => {
    expect((await edgekd('devices', 'list', '--api', url)).err).toContain('EDGEKD_API_TOKEN');
    process.env.EDGEKD_API_TOKEN = 'cli-viewer-token';
    const forbidden = await edgekd('devices', 'add', 'api-cli-2', '--api', url);
    expect([forbidden.code, forbidden.err]).toEqual([1, expect.stringContaining('EDGEKD_FORBIDDEN')]);
    const down = await edgekd('devices', 'list', '--api', 'http://127.0.0.1:9');
    expect([down.code, down.err]).toEqual([1, expect.stringContaining('EDGEKD_API_UNAVAILABLE')]);
  });
});

describe('edgekd devices keeps Mosquitto in step (--mosquitto-*)', () => {
  it('regenerates the password file and ACL from the registry on add, rotate and revoke', async () => {
    const data = join(dir, 'mosq');
    const passwd = join(dir, 'mosq-passwd');
    const acl = join(dir, 'mosq-acl');
    const pid = join(dir, 'mosq-not-running.pid'); // absent: Mosquitto is not running, files only
    const cloudPassword = join(dir, 'cloud-broker-password');
    writeFileSync(cloudPassword, 'cloud-secret-1\n');
    const flags = ['--data', data, '--mosquitto-passwd', passwd, '--mosquitto-acl', acl, '--mosquitto-pid', pid, '--broker-user', 'edgekd-cloud', '--broker-password-file', cloudPassword];

    const added = await edgekd('devices', 'add', 'mq-cam-1', '--json', ...flags);
    expect(added.code).toBe(0);
    await edgekd('devices', 'add', 'mq-cam-2', ...flags);
    const lines = () => readFileSync(passwd, 'utf8').trim().split('\n');
    const users = () => lines().map((l) => l.split(':')[0]);
    expect(users()).toEqual(['edgekd-cloud', 'mq-cam-1', 'mq-cam-2']);
    // Hashes only: neither the cloud's nor a device's password is in the file.
    const creds = JSON.parse(added.out) as { password: string };
    expect(readFileSync(passwd, 'utf8')).not.toContain(creds.password);
    expect(readFileSync(passwd, 'utf8')).not.toContain('cloud-secret-1');
    expect(lines().every((l) => /^[^:]+:\$6\$/.test(l))).toBe(true);
    expect(readFileSync(acl, 'utf8')).toContain('edgekd-cloud');

    const before = lines().find((l) => l.startsWith('mq-cam-1:'));
    expect((await edgekd('devices', 'rotate', 'mq-cam-1', ...flags)).code).toBe(0);
    expect(lines().find((l) => l.startsWith('mq-cam-1:'))).not.toBe(before);

    const revoked = await edgekd('devices', 'revoke', 'mq-cam-2', ...flags);
    expect(revoked.code).toBe(0);
    expect(users()).toEqual(['edgekd-cloud', 'mq-cam-1']);
  });

  it('refuses incomplete Mosquitto flags and the flags with --api', async () => {
    const data = join(dir, 'mosq-bad');
    const partial = await edgekd('devices', 'add', 'mq-x', '--data', data, '--mosquitto-passwd', join(dir, 'p'));
    expect(partial.code).not.toBe(0);
    expect(partial.err).toMatch(/go together/);
    process.env.EDGEKD_API_TOKEN = 't';
    process.env.EDGEKD_BROKER_PASSWORD = 'p';
    try {
      const withApi = await edgekd('devices', 'list', '--api', 'http://127.0.0.1:9', '--mosquitto-passwd', 'a', '--mosquitto-acl', 'b', '--mosquitto-pid', 'c', '--broker-user', 'u');
      expect(withApi.code).not.toBe(0);
      expect(withApi.err).toMatch(/go with --data\/--db/);
    } finally {
      delete process.env.EDGEKD_BROKER_PASSWORD;
    }
  });
});
