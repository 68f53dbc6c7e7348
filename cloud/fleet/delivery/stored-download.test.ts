import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqlite } from '../../store/sqlite-db';
import { createFsArtifactStore } from '../../scale/fs-artifact-store';
import { FleetStore } from '../store/fleet-store';
import { applyEvent, createRolloutState } from '../rollout/rollout-engine';
import { withDefaults } from '../rollout/rollout-spec';
import { issueDownloadToken } from './download-token';
import { downloadPath } from './http-download';
import { storedDownloadPlugin } from './stored-download';

const root = mkdtempSync(join(tmpdir(), 'edgekd-stored-dl-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const model = new Uint8Array(50_000).map((_, i) => (i * 13) & 0xff);
const sha = createHash('sha256').update(model).digest('hex');

describe('package downloads served from the shared store (any process)', () => {
  const db = openSqlite(':memory:');
  const app = Fastify();
  let secret: Buffer;
  let clock = 1_000;

  beforeAll(async () => {
    // The fleet leader's side: the package in the artifact store, a rollout snapshot with cam-1 offered.
    const leader = await FleetStore.open(db, { artifacts: createFsArtifactStore(root) });
    await leader.insertPackage({ packageId: 'm@1', name: 'm', version: 1, sha256: sha, sizeBytes: model.length, manifest: {}, signature: {}, createdAt: 1, model });
    const s = createRolloutState('ro-1', withDefaults({ packageId: 'm@1', target: { devices: ['cam-1', 'cam-2'] }, waves: { canaryDevices: 1 } }), ['cam-1', 'cam-2'], 1);
    applyEvent(s, { type: 'start' }, 1);
    s.devices['cam-2']!.state = 'failed';
    await leader.saveRollout(s, 0);
    secret = await leader.downloadSecret(1);
    // Another process: its own store handle on the same database and artifact path.
    const other = await FleetStore.open(db, { artifacts: createFsArtifactStore(root) });
    await app.register(storedDownloadPlugin({ store: other, now: () => clock }));
  });
  afterAll(async () => {
    await app.close();
    await db.close();
  });

  const get = (deploymentId: string, token: string, range?: string) =>
    app.inject({ method: 'GET', url: downloadPath(deploymentId), headers: { authorization: `Bearer ${token}`, ...(range ? { range } : {}) } });

  it('serves the whole file and a resumed range of an offered deployment, with the leader\'s token', async () => {
    const token = issueDownloadToken(secret, 'ro-1:cam-1', clock + 60_000);
    const whole = await get('ro-1:cam-1', token);
    expect(whole.statusCode).toBe(200);
    expect(whole.headers['x-edgekd-sha256']).toBe(sha);
    expect(whole.rawPayload.equals(Buffer.from(model))).toBe(true);
    const part = await get('ro-1:cam-1', token, 'bytes=40000-');
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 40000-49999/${model.length}`);
    expect(part.rawPayload.equals(Buffer.from(model.subarray(40_000)))).toBe(true);
  });

  it('refuses a token from another key, an expired one, and a deployment that has ended', async () => {
    expect((await get('ro-1:cam-1', issueDownloadToken(Buffer.alloc(32, 1), 'ro-1:cam-1', clock + 60_000))).statusCode).toBe(401);
    const soon = issueDownloadToken(secret, 'ro-1:cam-1', clock + 10);
    clock += 20;
    expect((await get('ro-1:cam-1', soon)).statusCode).toBe(401);
    const ended = await get('ro-1:cam-2', issueDownloadToken(secret, 'ro-1:cam-2', clock + 60_000));
    expect(ended.statusCode).toBe(404);
    expect(ended.json()).toMatchObject({ code: 'EDGEKD_NOT_FOUND' });
  });
});
