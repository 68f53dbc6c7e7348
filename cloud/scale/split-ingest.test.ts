import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { describeWithMosquitto, describeWithPostgres, MOSQUITTO_URL, POSTGRES_URL } from '../../test/helpers/services';
import { startScriptedDevice, type ScriptedDevice } from '../../test/fleet/helpers/scripted-device';
import { sizedPackage } from '../../test/fleet/helpers/sized-package';
import { createLogger } from '../../shared/log/logger';
import { encode, topicFor } from '../../shared/protocol/codec';
import type { Heartbeat } from '../../shared/protocol/messages/heartbeat';
import { fakeDriftEnvelope } from '../drift/testing-reports';
import { createFleetController, type FleetController } from '../fleet/fleet-controller';
import { createIngestConsumer, type IngestConsumer } from '../fleet/ingest/ingest-consumer';
import { FleetStore } from '../fleet/store/fleet-store';
import type { SqlDb } from '../store/sql-db';
import { createPgReportNotices } from './pg-report-notices';
import { startCloud } from '../api/start-cloud';
import { DeviceRegistry } from '../fleet/registry/device-registry';
import type { StatusReport } from '../../shared/protocol/messages/status';
import { pgSchema, until } from './postgres-schema.test-helper';

// Runs when both services answer; skipped (or failing, with EDGEKD_REQUIRE_SERVICES=1) otherwise.
const withPg = await describeWithPostgres();
const withMq = await describeWithMosquitto();
const d = withMq === describe ? withPg : withMq;

const logger = createLogger('split-ingest-test', 'silent');
const tag = randomBytes(3).toString('hex');
const N = 12;
const FAILING = 9; // a device of the last wave fails at verifying: the state has more than one outcome
const REPLAYED = [1, 4, 7, 10]; // these devices send every report a second time (an outbox resend after a lost ack)

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface Outcome {
  rollout: { status: string; counts: Record<string, number> };
  /** Per device (by index): rollout state, wave, error code; device row: heartbeat's uptime, agent version, active model. */
  devices: string[];
  statusRowsPerDevice: number[];
  driftEvents: number;
  duplicates: number;
  /** Status reports the leader logged itself, and those the ingest processes logged. */
  loggedByLeader: number;
  loggedByConsumer: number;
  /** Rows in the report log, and reports the leader applied from it (shared ingest: all of them, once). */
  logRows: number;
  appliedFromLog: number;
  allAcked: boolean;
}

/**
 * One report stream, scripted: N protocol-only devices run a rollout (canary 2, waves 4 and 6,
 * no bake; one device fails), then each sends one heartbeat, one sends a drift report, and four
 * resend all their status reports. `consumers` ingest-only processes (each its own store
 * connection pool and MQTT session, as a `--role ingest` process has) join the leader's
 * controller in a private share group on Mosquitto, on a private PostgreSQL schema.
 */
async function run(consumers: number): Promise<Outcome> {
  const pg = pgSchema();
  const group = `ingest-test-${tag}-${consumers}`;
  const prefix = `si${tag}${consumers}-`;
  const ids = Array.from({ length: N }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);
  const open = async (): Promise<SqlDb> => {
    const db = await pg.open();
    cleanups.push(() => db.close());
    return db;
  };
  const db = await open();
  cleanups.push(() => db.exec(`DROP SCHEMA IF EXISTS "${pg.schema}" CASCADE`));
  const leader: FleetController = await createFleetController({
    db, brokerUrl: MOSQUITTO_URL, protocolVersion: 5, ingest: 'shared', ingestGroup: group, mqttClientId: `${prefix}leader`, logger, tickMs: 50, chunkBytes: 4096,
    reportNotices: createPgReportNotices({ db, connectionString: POSTGRES_URL, schema: pg.schema }),
  });
  cleanups.push(() => leader.close());
  let driftEvents = 0;
  leader.events.on('drift', () => driftEvents++);
  const ingest: IngestConsumer[] = [];
  for (let i = 0; i < consumers; i++) {
    const cdb = await open();
    const c = await createIngestConsumer({
      db: cdb, brokerUrl: MOSQUITTO_URL, clientId: `${prefix}ingest-${i}`, group, logger,
      notices: createPgReportNotices({ db: cdb, connectionString: POSTGRES_URL, schema: pg.schema }),
    });
    cleanups.push(() => c.close());
    ingest.push(c);
  }

  const fx = sizedPackage({ targetBytes: 12_000, version: 3, name: 'split-ingest' });
  await leader.addTrustedKey(fx.trustedKeys.keys[0]!);
  const pkg = await leader.registerPackage({ manifest: fx.pkg.manifest, signature: fx.pkg.signature, model: fx.pkg.model });
  const devices: ScriptedDevice[] = [];
  for (const [i, deviceId] of ids.entries()) {
    await leader.provisionDevice({ deviceId, groups: [group] });
    const dev = await startScriptedDevice({ url: MOSQUITTO_URL, deviceId, ...(i === FAILING ? { failWith: 'EDGEKD_HASH_MISMATCH' } : {}) });
    cleanups.push(() => dev.close());
    devices.push(dev);
  }
  const publisher = await mqtt.connectAsync(MOSQUITTO_URL, { protocolVersion: 5, clientId: `${prefix}pub`, reconnectPeriod: 0 });
  cleanups.push(async () => {
    // Terminal devices had their offers cleared by the leader; anything left retained goes too.
    for (const id of ids) await publisher.publishAsync(topicFor('offer', id), '', { qos: 1, retain: true });
    await publisher.endAsync();
  });

  const created = await leader.createRollout({
    packageId: pkg.packageId, target: { groups: [group] }, waves: { canaryDevices: 2, firstWaveDevices: 4, growthFactor: 2 }, bakeMs: 0,
    gates: { abortFailurePercent: 100, minInstallSuccessPercent: 0 },
  });
  await until('the rollout to finish', async () => ['completed', 'rolled_back', 'aborted', 'failed'].includes((await leader.getRollout(created.id))?.status ?? ''), 40_000);

  // After the rollout: a heartbeat from every device, a drift report, and the resent reports.
  for (const [i, deviceId] of ids.entries()) {
    const hb: Heartbeat = {
      schema: 'edgekd.heartbeat/1', deviceId, bootId: 'boot-1', ts: new Date().toISOString(), intervalMs: 30_000, agentVersion: `sim-${i % 3}`, uptimeSec: 100 + i,
      activeModel: i === FAILING ? null : { name: 'split-ingest', version: 3, sha256: pkg.sha256 }, executionProvider: 'cpu', resources: { rssBytes: 1_000_000 + i, loadAvg: [0, 0, 0] }, inference: { count: 10 * i, errors: 0, p50LatencyMs: 1, p95LatencyMs: 2 },
    };
    const out = encode('heartbeat', deviceId, hb, { protocolVersion: 5 });
    await publisher.publishAsync(out.topic, Buffer.from(out.payload), { qos: 1, ...(out.properties ? { properties: out.properties } : {}) });
  }
  await devices[3]!.publishDrift(fakeDriftEnvelope({ deviceId: ids[3]!, key: `drift-${ids[3]}`, p: 1e-6, alarm: true, at: Date.now() }));
  let resent = 0;
  for (const i of REPLAYED) {
    for (const r of devices[i]!.reports) {
      const out = encode('status', ids[i]!, r, { protocolVersion: 5 });
      await publisher.publishAsync(out.topic, Buffer.from(out.payload), { qos: 1, ...(out.properties ? { properties: out.properties } : {}) });
      resent++;
    }
  }

  const store = await FleetStore.open(db);
  const duplicates = (): number => leader.stats().reportsDuplicate + ingest.reduce((a, c) => a + c.stats().reportsDuplicate, 0);
  await until('resent reports refused as duplicates', async () => duplicates() === resent, 20_000);
  await until('the drift report applied', async () => driftEvents > 0, 10_000);
  await until('every report acked', async () => devices.every((dev) => dev.reports.every((r) => dev.acked.has(r.idempotencyKey))), 10_000);
  await until('heartbeats stored', async () => (await store.listDevices()).filter((r) => r.deviceId.startsWith(prefix) && r.heartbeat !== null).length === N, 10_000);
  const logRows = await store.countReports();
  await until('the leader to have applied the whole log', async () => {
    await leader.flush();
    return leader.stats().reportsFromLog === logRows;
  }, 10_000);

  const state = (await leader.getRolloutState(created.id))!;
  const rows = new Map((await store.listDevices()).map((r) => [r.deviceId, r]));
  const log = await store.reportsAfter(created.id, 0);
  const summary = (await leader.getRollout(created.id))!;
  return {
    rollout: { status: summary.status, counts: summary.counts },
    devices: ids.map((id, i) => {
      const dev = state.devices[id]!;
      const row = rows.get(id)!;
      return `${i}|${dev.state}|w${dev.wave}|${dev.errorCode ?? '-'}|${(row.heartbeat as Heartbeat).uptimeSec}|${row.agentVersion}|${JSON.stringify(row.activeModel)}`;
    }),
    statusRowsPerDevice: ids.map((id) => log.filter((r) => r.deviceId === id && r.kind === 'status').length),
    driftEvents,
    duplicates: duplicates(),
    loggedByLeader: leader.stats().reportsApplied,
    loggedByConsumer: ingest.reduce((a, c) => a + c.stats().reportsLogged, 0),
    logRows,
    appliedFromLog: leader.stats().reportsFromLog,
    allAcked: devices.every((dev) => dev.reports.every((r) => dev.acked.has(r.idempotencyKey))),
  };
}

d('ingest split across processes (PostgreSQL, Mosquitto shared subscriptions)', () => {
  it('two ingest consumers and one produce the same device and rollout state from the same report stream', async () => {
    const one = await run(0);
    const two = await run(1);

    expect(one.rollout.status).toBe('completed');
    expect(one.rollout.counts).toMatchObject({ committed: N - 1, failed: 1 });
    expect(one.devices[FAILING]).toMatch(/\|failed\|/);
    expect(two.rollout).toEqual(one.rollout);
    expect(two.devices).toEqual(one.devices);
    expect(two.statusRowsPerDevice).toEqual(one.statusRowsPerDevice);
    // Each device's reports are logged once, resends refused as duplicates, all acked, in both runs.
    expect(one.duplicates).toBe(REPLAYED.reduce((a, i) => a + one.statusRowsPerDevice[i]!, 0));
    expect(two.duplicates).toBe(one.duplicates);
    expect(one.allAcked && two.allAcked).toBe(true);
    // The drift report reached the leader's listeners once, whichever process took it.
    expect(one.driftEvents).toBe(1);
    expect(two.driftEvents).toBe(1);
    // Both members of the group really ingested part of the stream, and the leader applied every
    // logged report from the log exactly once (its own and the other process's).
    const statusRows = one.statusRowsPerDevice.reduce((a, b) => a + b, 0);
    expect(one.logRows).toBe(statusRows + 1); // and the drift report
    expect(one.loggedByLeader).toBe(statusRows);
    expect(two.loggedByLeader).toBeGreaterThan(0);
    expect(two.loggedByConsumer).toBeGreaterThan(0);
    expect(two.loggedByLeader + two.loggedByConsumer).toBe(statusRows);
    expect(two.appliedFromLog).toBe(two.logRows);
    expect(two.logRows).toBe(one.logRows);
  }, 60_000);

  it('edgekd cloud --role ingest logs and acks its share of the reports and counts them on /metrics', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-ingest-role-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const pg = pgSchema();
    const db = await pg.open();
    cleanups.push(() => db.close());
    cleanups.push(() => db.exec(`DROP SCHEMA IF EXISTS "${pg.schema}" CASCADE`));
    const deviceId = `sir${tag}-dev`;
    await new DeviceRegistry(await FleetStore.open(db), Date.now).provision({ deviceId, groups: ['g'] });
    const token = 'adm-' + randomBytes(12).toString('hex');
    const cloud = await startCloud({
      dataDir: dir, db: POSTGRES_URL, dbSchema: pg.schema, role: 'ingest', processId: `sir${tag}`, port: 0, brokerUrl: MOSQUITTO_URL,
      ingestGroup: `ingest-test-${tag}-role`, teacherDir: join(dir, 'none'), logLevel: 'silent', tokens: [{ token, role: 'admin', name: 'admin' }],
    });
    cleanups.push(() => cloud.close());
    expect(cloud.role).toBe('ingest');
    expect(cloud.fleet).toBeNull();
    expect(cloud.absent.fleet).toMatch(/--role ingest logs and acks/);

    // The only member of its share group: it receives the report, logs it and acks it.
    const device = await mqtt.connectAsync(MOSQUITTO_URL, { protocolVersion: 5, clientId: deviceId, reconnectPeriod: 0 });
    cleanups.push(() => device.endAsync());
    const acked = new Set<string>();
    device.on('message', (_t, payload) => {
      for (const k of (JSON.parse(payload.toString()) as { keys: string[] }).keys) acked.add(k);
    });
    await device.subscribeAsync(topicFor('ack', deviceId), { qos: 1 });
    const report: StatusReport = {
      schema: 'edgekd.status/1', deviceId, bootId: 'boot-1', seq: 0, idempotencyKey: randomUUID(), ts: new Date().toISOString(),
      deploymentId: `r-1:${deviceId}`, rolloutId: 'r-1', state: 'downloading',
    };
    const out = encode('status', deviceId, report, { protocolVersion: 5 });
    await device.publishAsync(out.topic, Buffer.from(out.payload), { qos: 1, ...(out.properties ? { properties: out.properties } : {}) });
    await until('the ack', async () => acked.has(report.idempotencyKey), 10_000);
    const logged = await FleetStore.open(db).then((st) => st.reportsAfter('r-1', 0));
    expect(logged.map((r) => r.idempotencyKey)).toEqual([report.idempotencyKey]);
    const metrics = await (await fetch(`${cloud.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(metrics).toMatch(/^edgekd_ingest_reports_logged_total 1$/m);
  }, 30_000);
});
