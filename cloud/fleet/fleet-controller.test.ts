import { afterEach, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedBroker, type EmbeddedBroker } from '../broker/embedded-broker';
import { openSqlite } from '../store/sqlite-db';
import type { SqlDb } from '../store/sql-db';
import { createFleetController, type FleetController, type FleetEvent } from './fleet-controller';
import type { RolloutState } from './rollout/rollout-engine';
import { sizedPackage } from '../../test/fleet/helpers/sized-package';
import { topicFor } from '../../shared/protocol/codec';
import { startScriptedDevice, type ScriptedDevice } from '../../test/fleet/helpers/scripted-device';
import { createLogger } from '../../shared/log/logger';
import { randomUUID } from 'node:crypto';
import { openPostgres } from '../store/postgres-db';
import { describeWithPostgres, POSTGRES_URL } from '../../test/helpers/services';

const logger = createLogger('fleet-test', 'silent');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface World {
  broker: EmbeddedBroker;
  db: SqlDb;
  dbPath: string;
  cloud: FleetController;
  events: FleetEvent[];
  packageId: string;
  devices: ScriptedDevice[];
}

async function world(n: number, device: (i: number) => Partial<Parameters<typeof startScriptedDevice>[0]> = () => ({}), openDb?: () => Promise<SqlDb>): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-fleet-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const broker = await startEmbeddedBroker({ port: 0 });
  cleanups.push(() => broker.close());
  const dbPath = join(dir, 'fleet.db');
  const db = openDb ? await openDb() : openSqlite(dbPath);
  cleanups.push(() => db.close());
  const cloud = await createFleetController({ db, brokerUrl: broker.url, logger, tickMs: 50, chunkBytes: 1024 });
  cleanups.push(() => cloud.close());
  const events: FleetEvent[] = [];
  cloud.events.on('event', (e: FleetEvent) => events.push(e));
  const fx = sizedPackage({ targetBytes: 20_000, version: 2 });
  await cloud.addTrustedKey(fx.trustedKeys.keys[0]!);
  const pkg = await cloud.registerPackage({ manifest: fx.pkg.manifest, signature: fx.pkg.signature, model: fx.pkg.model });
  const devices: ScriptedDevice[] = [];
  for (let i = 0; i < n; i++) {
    await cloud.provisionDevice({ deviceId: `dev-${i}`, groups: ['lab'], tags: i % 2 ? ['odd'] : [] });
    const d = await startScriptedDevice({ url: broker.url, deviceId: `dev-${i}`, ...device(i) });
    cleanups.push(() => d.close());
    devices.push(d);
  }
  return { broker, db, dbPath, cloud, events, packageId: pkg.packageId, devices };
}

describe('fleet controller over the embedded broker', () => {
  it('rolls a package out to a group, canary first, and acks every report', async () => {
    const w = await world(3);
    const r = await w.cloud.createRollout({ packageId: w.packageId, target: { groups: ['lab'] }, bakeMs: 50 });
    expect(r.waves.map((x) => x.devices)).toEqual([1, 2]);
    await until(async () => (await w.cloud.getRollout(r.id))?.status === 'completed', 15_000, 'completed');
    const s = (await w.cloud.getRollout(r.id))!;
    expect(s.counts.committed).toBe(3);
    await w.cloud.flush();
    for (const d of w.devices) {
      expect(d.bytesReceived()).toBe(w.devices[0]!.bytesReceived());
      await until(() => d.reports.every((x) => d.acked.has(x.idempotencyKey)), 5_000, 'acks');
    }
    const waveStarts = w.events.flatMap((e) => (e.type === 'rollout' && e.notice.kind === 'wave-started' ? [e.notice.wave] : []));
    expect(waveStarts).toEqual([0, 1]);
  });

  it('targets by tag', async () => {
    const w = await world(4);
    const r = await w.cloud.createRollout({ packageId: w.packageId, target: { tags: ['odd'] }, bakeMs: 0 });
    expect(r.devices).toBe(2);
  });

  it('rolls back automatically when the canary fails, offering nothing to the others', async () => {
    const w = await world(3, (i) => (i === 0 ? { failWith: 'EDGEKD_HASH_MISMATCH' } : {}));
    const r = await w.cloud.createRollout({ packageId: w.packageId, target: { groups: ['lab'] }, bakeMs: 0 });
    await until(async () => (await w.cloud.getRollout(r.id))?.status === 'rolled_back', 15_000, 'rolled_back');
    expect(w.devices[1]!.reports).toHaveLength(0);
    const st = (await w.cloud.getRolloutState(r.id))!;
    expect(st.devices['dev-0']).toMatchObject({ state: 'failed', errorCode: 'EDGEKD_HASH_MISMATCH' });
  });

  it('rolls back a canary whose shadow agreement is below the gate, and the device confirms', async () => {
    const w = await world(2, () => ({ shadow: { agreement: 0.3, confidenceShift: -0.2 } }));
    const r = await w.cloud.createRollout({ packageId: w.packageId, target: { groups: ['lab'] }, bakeMs: 0, gates: { minShadowAgreement: 0.9 } });
    await until(async () => (await w.cloud.getRollout(r.id))?.status === 'rolled_back', 15_000, 'rolled_back');
    expect(w.devices[0]!.reports.at(-1)?.state).toBe('rolled_back');
    const failed = (await w.cloud.getRollout(r.id))!.waves[0]!.verdict!.results.find((x) => x.gate === 'shadowAgreement');
    expect(failed).toMatchObject({ outcome: 'fail', value: 0.3 });
  });

  it('logs a redelivered report once and acks it again', async () => {
    const w = await world(1);
    const r = await w.cloud.createRollout({ packageId: w.packageId, target: { devices: ['dev-0'] }, bakeMs: 0 });
    await until(async () => (await w.cloud.getRollout(r.id))?.status === 'completed');
    const before = await w.cloud.store.countReports('dev-0');
    const c = await mqtt.connectAsync(w.broker.url, { protocolVersion: 4 });
    cleanups.push(() => c.endAsync(true));
    const acks: string[] = [];
    await c.subscribeAsync(topicFor('ack', 'dev-0'), { qos: 1 });
    c.on('message', (_t, p) => acks.push(...(JSON.parse(p.toString()) as { keys: string[] }).keys));
    const again = w.devices[0]!.reports[2]!;
    await c.publishAsync(topicFor('status', 'dev-0'), JSON.stringify(again), { qos: 1 });
    await until(() => acks.includes(again.idempotencyKey), 5_000, 'ack of the duplicate');
    expect(await w.cloud.store.countReports('dev-0')).toBe(before);
    expect(w.cloud.stats().reportsDuplicate).toBe(1);
  });

  it('publishes an offer only after a snapshot holding it is stored: none while the store refuses it, the same document once it accepts', async () => {
    // Every snapshot in which dev-1 (the second wave) is offered is refused, as a stale fencing
    // token would be, until `refuse` is lifted.
    let refuse = true;
    let refused = 0;
    const refusing = (inner: SqlDb): SqlDb => ({
      dialect: inner.dialect,
      query: (sql, params) => inner.query(sql, params),
      exec: (sql, params) => {
        if (refuse && sql.includes('INSERT INTO fleet_rollouts') && params?.some((v) => typeof v === 'string' && v.startsWith('{') && (JSON.parse(v) as RolloutState).devices['dev-1']?.state === 'offered')) {
          refused++;
          return Promise.reject(new Error('snapshot refused by the test store'));
        }
        return inner.exec(sql, params);
      },
      transaction: (fn) => inner.transaction((tx) => fn(refusing(tx))),
      close: () => inner.close(),
    });
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-fleet-wal-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const w = await world(2, () => ({}), async () => refusing(openSqlite(join(dir, 'fleet.db'))));
    const c = await mqtt.connectAsync(w.broker.url, { protocolVersion: 4 });
    cleanups.push(() => c.endAsync(true));
    const offers: string[] = [];
    c.on('message', (_t, p) => {
      if (p.length > 0) offers.push(p.toString());
    });
    await c.subscribeAsync(topicFor('offer', 'dev-1'), { qos: 1 });
    const r = await w.cloud.createRollout({ packageId: w.packageId, target: { devices: ['dev-0', 'dev-1'] }, bakeMs: 0, waves: { canaryDevices: 1, firstWaveDevices: 1 } });
    await until(() => refused >= 2, 10_000, 'refused snapshots');
    await new Promise((r) => setTimeout(r, 300));
    expect(offers).toEqual([]);
    const liftedAt = Date.now();
    refuse = false;
    await until(async () => (await w.cloud.getRollout(r.id))?.status === 'completed', 15_000, 'completed');
    expect(new Set(offers).size).toBe(1);
    // The document carries the offer time the engine recorded while the store refused it: it is
    // that offer, sent late, not a new one made when the store came back.
    expect(Date.parse((JSON.parse(offers[0]!) as { issuedAt: string }).issuedAt)).toBeLessThan(liftedAt);
  });

  it('answers malformed and oversized messages with typed errors and keeps working', async () => {
    const w = await world(1);
    const c = await mqtt.connectAsync(w.broker.url, { protocolVersion: 4 });
    cleanups.push(() => c.endAsync(true));
    await c.publishAsync(topicFor('status', 'dev-0'), 'not json', { qos: 1 });
    await c.publishAsync(topicFor('status', 'dev-0'), JSON.stringify({ schema: 'edgekd.status/1', state: 'teleported' }), { qos: 1 });
    await c.publishAsync(topicFor('chunkRequest', 'dev-0'), Buffer.alloc(64 * 1024, 0x7b), { qos: 1 });
    await c.publishAsync('edgekd/v1/devices/dev-0/nonsense', '{}', { qos: 1 }).catch(() => undefined);
    await until(() => w.events.filter((e) => e.type === 'message-rejected').length >= 3, 5_000, 'rejections');
    const codes = w.events.flatMap((e) => (e.type === 'message-rejected' ? [e.error.code] : []));
    expect(codes).toEqual(['EDGEKD_MESSAGE_INVALID', 'EDGEKD_MESSAGE_INVALID', 'EDGEKD_PAYLOAD_TOO_LARGE']);
    const r = await w.cloud.createRollout({ packageId: w.packageId, target: { devices: ['dev-0'] }, bakeMs: 0 });
    await until(async () => (await w.cloud.getRollout(r.id))?.status === 'completed', 10_000, 'completed after bad input');
  });

  it('resumes a rollout after the cloud restarts mid-bake, from the store', async () => {
    const w = await world(3);
    const r = await w.cloud.createRollout({ packageId: w.packageId, target: { groups: ['lab'] }, bakeMs: 1_500 });
    await until(async () => (await w.cloud.getRollout(r.id))?.waves[0]?.phase === 'baking', 10_000, 'canary baking');
    await w.cloud.close();
    const cloud2 = await createFleetController({ db: w.db, brokerUrl: w.broker.url, logger, tickMs: 50 });
    cleanups.push(() => cloud2.close());
    expect((await cloud2.getRollout(r.id))?.status).toBe('running');
    await until(async () => (await cloud2.getRollout(r.id))?.status === 'completed', 15_000, 'completed after restart');
    expect((await cloud2.getRollout(r.id))!.counts.committed).toBe(3);
  });

  it('pauses between waves, resumes, and refuses a second rollout to busy devices', async () => {
    const w = await world(3);
    const r = await w.cloud.createRollout({ packageId: w.packageId, target: { groups: ['lab'] }, bakeMs: 300 });
    await w.cloud.pauseRollout(r.id);
    await expect(w.cloud.createRollout({ packageId: w.packageId, target: { devices: ['dev-0'] } })).rejects.toMatchObject({ code: 'EDGEKD_ROLLOUT_STATE' });
    await until(async () => (await w.cloud.getRollout(r.id))?.waves[0]?.phase === 'passed', 10_000, 'canary passed');
    await new Promise((res) => setTimeout(res, 300));
    expect((await w.cloud.getRollout(r.id))?.counts.queued).toBe(2);
    await w.cloud.resumeRollout(r.id);
    await until(async () => (await w.cloud.getRollout(r.id))?.status === 'completed', 10_000, 'completed');
    await expect(w.cloud.pauseRollout(r.id)).rejects.toMatchObject({ code: 'EDGEKD_ROLLOUT_STATE' });
  });

  it('serves the HTTP download with a token and byte ranges, and refuses a bad token', async () => {
    const w = await world(0);
    await w.cloud.provisionDevice({ deviceId: 'http-1' });
    const http = await w.cloud.listenHttp();
    cleanups.push(() => http.close());
    const offers: unknown[] = [];
    const c = await mqtt.connectAsync(w.broker.url, { protocolVersion: 4 });
    cleanups.push(() => c.endAsync(true));
    c.on('message', (_t, p) => p.length && offers.push(JSON.parse(p.toString())));
    await c.subscribeAsync(topicFor('offer', 'http-1'), { qos: 1 });
    await w.cloud.createRollout({ packageId: w.packageId, target: { devices: ['http-1'] }, delivery: 'http' });
    await until(() => offers.length > 0, 5_000, 'offer');
    const offer = offers[0] as { delivery: { sizeBytes: number; sha256: string; http: { url: string; token: string } } };
    const full = await fetch(offer.delivery.http.url, { headers: { authorization: `Bearer ${offer.delivery.http.token}` } });
    expect(full.status).toBe(200);
    expect((await full.arrayBuffer()).byteLength).toBe(offer.delivery.sizeBytes);
    const part = await fetch(offer.delivery.http.url, { headers: { authorization: `Bearer ${offer.delivery.http.token}`, range: 'bytes=100-' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-${offer.delivery.sizeBytes - 1}/${offer.delivery.sizeBytes}`);
    expect((await part.arrayBuffer()).byteLength).toBe(offer.delivery.sizeBytes - 100);
    const bad = await fetch(offer.delivery.http.url, { headers: { authorization: 'Bearer x.1.y' } });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as { code: string }).code).toBe('EDGEKD_UNAUTHORIZED');
  });

  it('paces MQTT chunk delivery with the per-rollout bandwidth cap', async () => {
    const w = await world(2);
    const size = (await w.cloud.listPackages())[0]!.sizeBytes;
    expect(size).toBeGreaterThan(15_000);
    const rate = Math.ceil(size / 1.5); // two devices × size bytes = 3 s of budget, the first second is the burst
    const t0 = Date.now();
    const r = await w.cloud.createRollout({ packageId: w.packageId, target: { groups: ['lab'] }, bakeMs: 0, bandwidthBytesPerSecond: rate, waves: { canaryDevices: 0, firstWaveDevices: 2 } });
    await until(async () => (await w.cloud.getRollout(r.id))?.status === 'completed', 20_000, 'completed');
    const seconds = (Date.now() - t0) / 1000;
    expect(seconds).toBeGreaterThan((2 * size - rate) / rate - 0.2);
    expect(w.devices[0]!.chunkRequests + w.devices[1]!.chunkRequests).toBeGreaterThan((2 * size) / 1024);
  });
});

describe('fleet controller: broker restart', () => {
  it('finishes a rollout when the embedded broker restarts mid-download (offers republished, chunks re-requested)', async () => {
    const w = await world(3);
    const r = await w.cloud.createRollout({ packageId: w.packageId, target: { groups: ['lab'] }, bakeMs: 0, bandwidthBytesPerSecond: 8_000, waves: { canaryDevices: 0, firstWaveDevices: 3 } });
    await until(async () => (await w.cloud.getRollout(r.id))?.counts.in_progress === 3, 10_000, 'downloads started');
    const port = w.broker.port;
    await w.broker.close();
    await new Promise((res) => setTimeout(res, 500));
    const broker2 = await startEmbeddedBroker({ port });
    cleanups.push(() => broker2.close());
    await until(async () => (await w.cloud.getRollout(r.id))?.status === 'completed', 30_000, 'completed after broker restart');
    expect((await w.cloud.getRollout(r.id))!.counts.committed).toBe(3);
  });
});

const pg = await describeWithPostgres();
pg('fleet controller on PostgreSQL', () => {
  it('rolls out and resumes after a cloud restart with PostgreSQL as the store', async () => {
    const schema = `fleetc_${randomUUID().slice(0, 8)}`;
    const w = await world(2, () => ({}), () => openPostgres(POSTGRES_URL, { schema }));
    const r = await w.cloud.createRollout({ packageId: w.packageId, target: { groups: ['lab'] }, bakeMs: 800 });
    await until(async () => (await w.cloud.getRollout(r.id))?.waves[0]?.phase === 'baking', 10_000, 'canary baking');
    await w.cloud.close();
    const db2 = await openPostgres(POSTGRES_URL, { schema });
    cleanups.push(() => db2.close());
    const cloud2 = await createFleetController({ db: db2, brokerUrl: w.broker.url, logger, tickMs: 50 });
    cleanups.push(() => cloud2.close());
    await until(async () => (await cloud2.getRollout(r.id))?.status === 'completed', 15_000, 'completed after restart');
    expect((await cloud2.getRollout(r.id))!.counts.committed).toBe(2);
  });
});
