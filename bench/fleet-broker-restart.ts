/**
 * The broker-restart scenario of bench:fleet: N real agents (edge/sim, light engine, own MQTT
 * connection and SQLite outbox each, authenticated with their provisioned credentials) are online
 * and in the middle of a rollout when the broker restarts. Measured:
 * - allOnlineSeconds: from the broker listening again until every agent is connected and every
 *   outbox is empty (all reports written while the broker was away have been acked);
 * - peakConnectsPerSecond: the most TCP connections that reached the broker in any one second
 *   (counted by a loopback proxy in front of it that, like the broker, listens only while the
 *   broker is up);
 * - reportsLost: reports the agents wrote to their outboxes (outbox high-water mark) that the
 *   cloud never stored and that are no longer in an outbox either (a report still waiting in an
 *   outbox is late, not lost: it is counted as `reportsPending`), once the rollout ends.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import os from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startEmbeddedBroker, type EmbeddedBroker } from '../cloud/broker/embedded-broker';
import { createMosquittoAccess } from '../cloud/broker/mosquitto-access';
import { openSqlite } from '../cloud/store/sqlite-db';
import { createFleetController, type FleetController } from '../cloud/fleet/fleet-controller';
import { isTerminal } from '../cloud/fleet/rollout/rollout-engine';
import { startSimulatedFleet, type SimulatedFleet } from '../edge/sim/fleet';
import type { Logger } from '../shared/log/logger';
import { freePort } from '../shared/net/free-port';
import { sizedPackage } from '../test/fleet/helpers/sized-package';
import { mosquittoAuthPaths, startMosquittoWithFiles, type MosquittoProcess } from '../test/fleet/helpers/mosquitto';

export interface BrokerRestartRow {
  scenario: 'broker-restart';
  broker: 'embedded' | 'mosquitto';
  agents: number;
  /** The agents' first backoff window (mqtt.reconnectPeriodMs); the cap is 30 s. */
  reconnectBaseMs: number;
  /** Broker listening again → every agent connected and every outbox empty; null if not within the timeout. */
  allOnlineSeconds: number | null;
  peakConnectsPerSecond: number;
  /**
   * Connections per second from the broker's return until all were back, in order (the shape of
   * the storm: a lone spike of accepts after a gap is the bench process's event loop catching up,
   * not devices knocking together).
   */
  connectsPerSecondSeries: number[];
  /** Connections that reached the broker from its return until all were back (incl. refused ones). */
  connectsAfterRestart: number;
  reportsLost: number;
  reportsWritten: number;
  /** Still in outboxes when the run ended (not delivered yet, not lost). */
  reportsPending: number;
  /** How long the broker was away. */
  downSeconds: number;
  rolloutCommitted: number;
  loadAverage1m: number;
}

/**
 * A TCP proxy that counts accepted connections per second and listens only while told the upstream
 * is up. It runs in its own process (bench/counting-proxy-process.ts) so that a busy bench process
 * (cloud, embedded broker) cannot turn its own stalls into bursts of counted connections.
 */
function countingProxy(port: number) {
  const child = fork(join(import.meta.dirname, '../bin/run-ts.mjs'), [join(import.meta.dirname, 'counting-proxy-process.ts')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`counting proxy exited (${code})`)));
  });
  const ask = <T>(m: object): Promise<T> =>
    ready.then(() => new Promise((resolve, reject) => {
      child.once('message', (r) => ((r as { ok?: boolean; error?: string }).ok === false ? reject(new Error((r as { error: string }).error)) : resolve(r as T)));
      child.send(m);
    }));
  return {
    async up(to: number): Promise<void> {
      await ask({ op: 'up', listen: port, upstream: to });
    },
    /** Stops listening and drops every connection (what the broker's own exit does). */
    async down(): Promise<void> {
      await ask({ op: 'down' });
    },
    async connectsBetween(fromMs: number, toMs: number): Promise<{ total: number; peak: number; series: number[] }> {
      const perSecond = new Map((await ask<{ counts: Array<[number, number]> }>({ op: 'counts' })).counts);
      const series: number[] = [];
      for (let sec = Math.floor(fromMs / 1000); sec * 1000 <= toMs; sec++) series.push(perSecond.get(sec) ?? 0);
      return { total: series.reduce((a, b) => a + b, 0), peak: Math.max(0, ...series), series };
    },
    close(): void {
      child.disconnect();
    },
  };
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runBrokerRestart(o: { broker: 'embedded' | 'mosquitto'; agents: number; reconnectBaseMs: number; processes: number; downMs: number; timeoutS: number; log: Logger }): Promise<BrokerRestartRow> {
  const work = mkdtempSync(join(tmpdir(), 'edgekd-bench-restart-'));
  const db = openSqlite(join(work, 'fleet.db'));
  const service = { username: 'edgekd-cloud', password: randomBytes(18).toString('base64url') };
  const prefix = `rst${Date.now().toString(36)}`;
  let embedded: EmbeddedBroker | null = null;
  let mosquitto: MosquittoProcess | null = null;
  let fleet: SimulatedFleet | null = null;
  let cloud: FleetController | null = null;
  const proxyPort = await freePort();
  const proxy = countingProxy(proxyPort);
  try {
    // Provision first (the registry writes Mosquitto's files from the same hashes).
    const { FleetStore } = await import('../cloud/fleet/store/fleet-store');
    const { DeviceRegistry } = await import('../cloud/fleet/registry/device-registry');
    const registry = new DeviceRegistry(await FleetStore.open(db), Date.now, service);
    const credentials: Record<string, string> = {};
    const ids: string[] = [];
    for (let i = 0; i < o.agents; i++) {
      const id = `${prefix}${String(i + 1).padStart(5, '0')}`;
      credentials[id] = (await registry.provision({ deviceId: id })).password;
      ids.push(id);
    }
    const startBroker = async (): Promise<number> => {
      if (o.broker === 'embedded') {
        embedded = await startEmbeddedBroker({ port: 0, authenticate: (u, p) => (cloud ?? { registry }).registry.authenticate(u, p) });
        return embedded.port;
      }
      if (!mosquitto) {
        const paths = mosquittoAuthPaths();
        await createMosquittoAccess({ ...paths, service, accounts: () => registry.brokerAccounts() }).sync({ reload: false });
        mosquitto = await startMosquittoWithFiles(paths);
      } else await mosquitto.restart();
      return mosquitto.port;
    };
    await proxy.up(await startBroker());
    const url = `mqtt://127.0.0.1:${proxyPort}`;
    cloud = await createFleetController({
      db, brokerUrl: url, logger: o.log, tickMs: 100, mqttUsername: service.username, mqttPassword: service.password,
      mqttClientId: service.username, protocolVersion: o.broker === 'mosquitto' ? 5 : 4,
    });
    const pkg = sizedPackage({ targetBytes: 20_000, version: 1, name: 'restart-model' });
    await cloud.addTrustedKey(pkg.trustedKeys.keys[0]!);
    const trustedKeysFile = join(work, 'trusted-keys.json');
    writeFileSync(trustedKeysFile, JSON.stringify(pkg.trustedKeys));
    fleet = startSimulatedFleet({
      agents: o.agents, processes: o.processes, idPrefix: prefix, brokerUrl: url, trustedKeysFile, stateDir: join(work, 'agents'),
      engine: 'light', protocolVersion: 4, heartbeatIntervalMs: 60_000, startConcurrency: 25, credentials,
      // A loaded 2-core machine answers 1,000 CONNECTs slowly; a 10 s CONNACK timeout there turns
      // slow answers into retries (bench/fleet-agent-process.ts uses 30 s for the same reason).
      connectTimeoutMs: 30_000,
      reconnectPeriodMs: o.reconnectBaseMs,
    });
    await fleet.ready();
    const registered = await cloud.registerPackage({ manifest: pkg.pkg.manifest, signature: pkg.pkg.signature, model: pkg.pkg.model });
    const r = await cloud.createRollout({
      packageId: registered.packageId, target: { devices: ids }, waves: { canaryDevices: 0, firstWaveDevices: o.agents, growthFactor: 1 }, bakeMs: 0,
      gates: { abortFailurePercent: 100, minInstallSuccessPercent: 0 }, timeouts: { offeredMs: o.timeoutS * 1000, stepMs: o.timeoutS * 1000, rollbackMs: 10_000 },
    });
    // Restart in the middle of the rollout: once some devices have reported, before all have.
    const started = Date.now();
    for (;;) {
      const st = (await cloud.getRolloutState(r.id))!;
      const moved = Object.values(st.devices).filter((d) => d.state !== 'offered' && d.state !== 'queued').length;
      if (moved >= o.agents * 0.2 || Date.now() - started > 20_000) break;
      await sleep(50);
    }
    const load = os.loadavg()[0]!;
    await proxy.down();
    if (o.broker === 'embedded') await embedded!.close();
    const downAt = Date.now();
    await sleep(o.downMs);
    const port = await startBroker();
    await proxy.up(port);
    const upAt = Date.now();
    const downSeconds = (upAt - downAt) / 1000;
    let allOnlineAt: number | null = null;
    while (Date.now() - upAt < o.timeoutS * 1000) {
      const s = await fleet.status();
      if (s.connected === o.agents && s.outboxPending === 0) {
        allOnlineAt = Date.now();
        break;
      }
      await sleep(100);
    }
    const connects = await proxy.connectsBetween(upAt, allOnlineAt ?? Date.now());
    // Let the rollout finish (or time out) so every report the agents will write is written.
    let st = (await cloud.getRolloutState(r.id))!;
    while (!isTerminal(st.status) && Date.now() - upAt < o.timeoutS * 1000) {
      await sleep(200);
      st = (await cloud.getRolloutState(r.id))!;
    }
    for (let i = 0; i < 50 && (await fleet.status()).outboxPending > 0; i++) await sleep(200);
    await cloud.flush();
    const written = await fleet.reportsWritten();
    const pending = (await fleet.status()).outboxPending;
    let missing = 0;
    let total = 0;
    for (const id of ids) {
      const w = written[id] ?? 0;
      total += w;
      missing += Math.max(0, w - (await cloud.store.countReports(id)));
    }
    const lost = Math.max(0, missing - pending);
    return {
      scenario: 'broker-restart', broker: o.broker, agents: o.agents, reconnectBaseMs: o.reconnectBaseMs,
      allOnlineSeconds: allOnlineAt === null ? null : round((allOnlineAt - upAt) / 1000),
      peakConnectsPerSecond: connects.peak, connectsPerSecondSeries: connects.series, connectsAfterRestart: connects.total,
      reportsLost: lost, reportsWritten: total, reportsPending: pending, downSeconds: round(downSeconds),
      rolloutCommitted: Object.values(st.devices).filter((d) => d.state === 'committed').length,
      loadAverage1m: round(load),
    };
  } finally {
    await fleet?.stop().catch(() => undefined);
    await cloud?.close().catch(() => undefined);
    await proxy.down().catch(() => undefined);
    proxy.close();
    await (embedded as EmbeddedBroker | null)?.close().catch(() => undefined);
    await (mosquitto as MosquittoProcess | null)?.stop().catch(() => undefined);
    await db.close();
    rmSync(work, { recursive: true, force: true });
  }
}
