import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { startCloud, type RunningCloud } from '../../cloud/api/start-cloud';
import { pgSchema, until } from '../../cloud/scale/postgres-schema.test-helper';
import type { Offer } from '../../shared/protocol/messages/offer';
import { TOPIC_ROOT } from '../../shared/protocol/topics';
import { describeWithMosquitto, describeWithPostgres, MOSQUITTO_URL, POSTGRES_URL } from '../helpers/services';
import { seedFleet } from './multi-process.test-helper';

// Runs when both services answer; skipped (or failing, with EDGEKD_REQUIRE_SERVICES=1) otherwise.
const withPg = await describeWithPostgres();
const withMq = await describeWithMosquitto();
const d = withMq === describe ? withPg : withMq;

d('an api process and a fleet process on PostgreSQL, Mosquitto and one artifact store', () => {
  const pg = pgSchema();
  const dirs: string[] = [];
  const clouds: RunningCloud[] = [];
  const tmp = (name: string): string => {
    const dir = mkdtempSync(join(tmpdir(), `edgekd-${name}-`));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    for (const c of clouds.reverse()) await c.close();
    const db = await pg.open();
    await db.exec(`DROP SCHEMA IF EXISTS "${pg.schema}" CASCADE`);
    await db.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('creates and aborts a rollout through the api process (forwarded to the leader), and the api process serves its HTTP download', async () => {
    const suffix = pg.schema.slice(-8);
    const deviceId = `fwd-${suffix}`;
    const db = await pg.open();
    // The package row is written as before the artifact store (a blob); the leader moves it at start.
    const seeded = await seedFleet(db, { deviceIds: [deviceId], group: `g-${suffix}`, packageBytes: 60_000, name: `fwd-${suffix}` });
    dirs.push(seeded.dir);
    await db.close();
    const artifactsDir = tmp('artifacts');
    const common = { db: POSTGRES_URL, dbSchema: pg.schema, brokerUrl: MOSQUITTO_URL, port: 0, artifactsDir, logLevel: 'silent' } as const;
    const api = await startCloud({ ...common, dataDir: tmp('api'), role: 'api', processId: `api-${suffix}`, teacherDir: join(tmpdir(), 'none') });
    clouds.push(api);
    // Offers name the api process as the download address (on Kubernetes: the api Service).
    const fleet = await startCloud({ ...common, dataDir: tmp('fleet'), role: 'fleet', processId: `fleet-${suffix}`, downloadUrl: api.url, teacherDir: join(tmpdir(), 'none') });
    clouds.push(fleet);
    await until('the fleet process to lead', async () => (await fetch(`${fleet.url}/api/fleet/leader`)).status === 200, 30_000);

    const offers = await mqtt.connectAsync(MOSQUITTO_URL, { clientId: `offer-${suffix}`, clean: true, protocolVersion: 5 });
    const received: Offer[] = [];
    offers.on('message', (_t, payload) => payload.length > 0 && received.push(JSON.parse(payload.toString()) as Offer));
    await offers.subscribeAsync(`${TOPIC_ROOT}/${deviceId}/offer`, { qos: 1 });
    try {
      const call = (path: string, body: unknown) =>
        fetch(`${api.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${api.tokens[0]!.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const created = await call('/api/rollouts', { packageId: seeded.packageId, target: { devices: [deviceId] }, delivery: 'http', waves: { canaryDevices: 1 } });
      expect(created.status).toBe(201);
      const rollout = (await created.json()) as { id: string; status: string };
      expect(rollout.status).toBe('running');

      const offer = await until('the offer', async () => received.find((o) => o.rolloutId === rollout.id), 20_000);
      const http = offer.delivery.http!;
      expect(http.url.startsWith(`${api.url}/v1/fleet/downloads/`)).toBe(true);
      // The api process runs no fleet controller: it serves the file from the store and the artifact store.
      const whole = await fetch(http.url, { headers: { authorization: `Bearer ${http.token}` } });
      expect(whole.status).toBe(200);
      const bytes = Buffer.from(await whole.arrayBuffer());
      expect(bytes.length).toBe(offer.delivery.sizeBytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(offer.delivery.sha256);
      const tail = await fetch(http.url, { headers: { authorization: `Bearer ${http.token}`, range: 'bytes=50000-' } });
      expect(tail.status).toBe(206);
      expect(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(50_000))).toBe(true);
      expect((await fetch(http.url, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);

      const aborted = await call(`/api/rollouts/${rollout.id}/abort`, { reason: 'test' });
      expect(aborted.status).toBe(200);
      expect(['rolling_back', 'aborted']).toContain(((await aborted.json()) as { status: string }).status);
      // A change the leader refuses comes back with the leader's error.
      const again = await call(`/api/rollouts/${rollout.id}/resume`, {});
      expect(again.status).toBe(409);
      expect(((await again.json()) as { code: string }).code).toBe('EDGEKD_ROLLOUT_STATE');
    } finally {
      await offers.endAsync();
    }
  }, 60_000);
});
