import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { decode, encode } from '../../shared/protocol/codec';
import { isoTime } from '../../shared/protocol/messages/common';
import type { DeploymentState, StatusReport } from '../../shared/protocol/messages/status';
import { openSqlite } from '../../cloud/store/sqlite-db';
import { FleetStore } from '../../cloud/fleet/store/fleet-store';
import { ingestFilters } from '../../cloud/fleet/ingest/ingest-filters';
import { mosquittoAuthPaths, startMosquittoWithFiles, type MosquittoProcess } from './helpers/mosquitto';
import { until } from './helpers/fleet-world';

/*
 * Shared-subscription ingest on a real Mosquitto (MQTT 5, the deploy config with authentication
 * and ACL): the same status report stream, duplicates included, consumed by one process and by
 * two processes in one share group, ends in the same stored reports (dedup on the idempotency
 * key in the store, not in the consumer) and the same per-device state (highest seq wins).
 * The consumers are the ingest half of the fleet controller: its subscription filters
 * (ingestFilters) and the store's logReport; the rollout engine is not driven here.
 */

let hasMosquitto = true;
try {
  execFileSync('which', ['mosquitto'], { stdio: 'ignore' });
} catch {
  hasMosquitto = false;
}
if (!hasMosquitto && process.env.EDGEKD_REQUIRE_SERVICES === '1') throw new Error('the mosquitto binary is required (EDGEKD_REQUIRE_SERVICES=1)');

const STATES: DeploymentState[] = ['offered', 'downloading', 'verifying', 'staging', 'warming', 'activating', 'baking', 'committed'];
// The deploy config sets use_username_as_clientid, so each cloud process needs its own account
// (one account twice would knock the other session off): the second consumer is edgekd-cloud-b,
// granted in the ACL exactly what edgekd-cloud is.
const CLOUDS = [
  { username: 'edgekd-cloud', password: randomBytes(12).toString('hex') },
  { username: 'edgekd-cloud-b', password: randomBytes(12).toString('hex') },
];
const tag = randomBytes(3).toString('hex');
const DEVICES = Array.from({ length: 4 }, (_, i) => `ingest-${tag}-${i}`);
const devicePassword = Object.fromEntries(DEVICES.map((d) => [d, randomBytes(12).toString('hex')]));
const rolloutId = `r-${tag}`;

function reportsOf(deviceId: string): StatusReport[] {
  return STATES.map((state, seq) => ({
    schema: 'edgekd.status/1', deviceId, bootId: 'boot-1', seq, idempotencyKey: `${deviceId}:boot-1:${seq}`,
    ts: isoTime(1_700_000_000_000 + seq * 1_000), deploymentId: `${rolloutId}:${deviceId}`, rolloutId, state,
  }));
}

interface Outcome {
  rows: string[];
  stateByDevice: Record<string, string>;
  deliveredPerConsumer: number[];
  duplicatesSeen: number;
}

(hasMosquitto ? describe : describe.skip)('shared-subscription ingest on Mosquitto', () => {
  let broker: MosquittoProcess;
  beforeAll(async () => {
    const files = mosquittoAuthPaths();
    const users: Record<string, string> = { ...Object.fromEntries(CLOUDS.map((c) => [c.username, c.password])), ...devicePassword };
    Object.entries(users).forEach(([u, p], i) => execFileSync('mosquitto_passwd', i === 0 ? ['-b', '-c', files.passwordFile, u, p] : ['-b', files.passwordFile, u, p], { stdio: 'ignore' }));
    chmodSync(files.passwordFile, 0o600);
    const deployAcl = readFileSync(resolve(import.meta.dirname, '../../deploy/mosquitto/acl'), 'utf8');
    writeFileSync(files.aclFile, deployAcl.replace('# every other user', 'user edgekd-cloud-b\ntopic readwrite edgekd/v1/devices/#\n\n# every other user'));
    broker = await startMosquittoWithFiles(files);
  }, 30_000);
  afterAll(async () => { await broker?.stop(); });

  async function ingestRun(consumerCount: number): Promise<Outcome> {
    const store = await FleetStore.open(openSqlite(':memory:'));
    const group = `edgekd-ingest-${tag}-${consumerCount}`;
    const delivered = Array.from({ length: consumerCount }, () => 0);
    let duplicatesSeen = 0;
    const consumers = await Promise.all(delivered.map(async (_, i) => {
      const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5, ...CLOUDS[i]!, reconnectPeriod: 0 });
      c.on('message', (topic, payload) => {
        delivered[i]!++;
        const d = decode(topic, payload);
        if (d.kind !== 'status') return;
        const r = d.message as StatusReport;
        void store.logReport({ idempotencyKey: r.idempotencyKey, deviceId: d.deviceId, rolloutId: r.rolloutId ?? null, kind: 'status', body: r, receivedAt: Date.now() })
          .then((seq) => { if (seq === null) duplicatesSeen++; });
      });
      const granted = await c.subscribeAsync(ingestFilters('shared', group));
      expect(granted.every((g) => g.qos === 1)).toBe(true);
      return c;
    }));
    // Every device publishes its reports in order; every second report is sent twice (an outbox
    // resend after a lost ack), so a duplicate may reach the other consumer.
    let published = 0;
    await Promise.all(DEVICES.map(async (deviceId) => {
      const dev = await mqtt.connectAsync(broker.url, { protocolVersion: 5, username: deviceId, password: devicePassword[deviceId], reconnectPeriod: 0 });
      for (const r of reportsOf(deviceId)) {
        const out = encode('status', deviceId, r, { protocolVersion: 5 });
        for (let k = 0; k < (r.seq % 2 === 1 ? 2 : 1); k++) {
          await dev.publishAsync(out.topic, Buffer.from(out.payload), { qos: 1, ...(out.properties ? { properties: out.properties } : {}) });
          published++;
        }
      }
      await dev.endAsync();
    }));
    const unique = DEVICES.length * STATES.length;
    await until(async () => (await store.countReports()) === unique && delivered.reduce((a, b) => a + b, 0) === published, 15_000, 'all reports ingested');
    await until(() => duplicatesSeen === published - unique, 5_000, 'duplicates recognised');
    for (const c of consumers) await c.endAsync();

    const rows: string[] = [];
    const stateByDevice: Record<string, string> = {};
    for (const deviceId of DEVICES) {
      const logged = await store.reportsAfter(rolloutId, 0);
      const mine = logged.filter((s) => s.deviceId === deviceId).map((s) => s.body as StatusReport);
      for (const r of mine) rows.push(`${deviceId}|${r.idempotencyKey}|${r.seq}|${r.state}`);
      // Per-device order comes from the report's seq, not from arrival order across consumers.
      stateByDevice[deviceId] = mine.reduce((a, b) => (b.seq > a.seq ? b : a)).state;
    }
    return { rows: rows.sort(), stateByDevice, deliveredPerConsumer: delivered, duplicatesSeen };
  }

  it('two consumers in the share group and one consumer store the same reports and reach the same device state', async () => {
    const one = await ingestRun(1);
    const two = await ingestRun(2);
    expect(one.rows).toHaveLength(DEVICES.length * STATES.length);
    expect(two.rows).toEqual(one.rows);
    expect(two.stateByDevice).toEqual(one.stateByDevice);
    for (const d of DEVICES) expect(one.stateByDevice[d]).toBe('committed');
    // The broker really split the stream, and duplicates really arrived and were refused by the store.
    expect(two.deliveredPerConsumer.every((n) => n > 0)).toBe(true);
    expect(one.duplicatesSeen).toBe(DEVICES.length * STATES.length / 2);
    expect(two.duplicatesSeen).toBe(one.duplicatesSeen);
  }, 60_000);
});
