import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { startSimulatedFleet, type SimulatedFleet } from '../../edge/sim/fleet';
import { DeviceRegistry } from '../../cloud/fleet/registry/device-registry';
import { FleetStore } from '../../cloud/fleet/store/fleet-store';
import { openPostgres } from '../../cloud/store/postgres-db';
import type { SqlDb } from '../../cloud/store/sql-db';
import { topicFilter } from '../../shared/protocol/codec';
import { sizedPackage } from '../../test/fleet/helpers/sized-package';
import { MOSQUITTO_URL, POSTGRES_URL } from '../../test/helpers/services';
import type { CloudRole } from '../../cloud/scale/cloud-roles';
import { until } from '../../cloud/scale/postgres-schema.test-helper';

/**
 * Several `edgekd cloud` processes (bin/edgekd.mjs, real child processes) on one PostgreSQL schema
 * and Mosquitto, a simulated fleet of real agents (light engine) in forked processes, and a
 * rollout driven through the API. Shared by test/scale/leader-kill-rollout.test.ts (asserts) and
 * bench/fleet-scale-out.ts (records the failover row).
 */

const root = resolve(import.meta.dirname, '../..');

export interface CloudProc {
  readonly role: CloudRole;
  readonly processId: string;
  readonly child: ChildProcess;
  /** The HTTP base URL, once the process printed it. */
  url(): Promise<string>;
  out(): string;
}

export interface MultiCloud {
  readonly schema: string;
  readonly token: string;
  readonly db: SqlDb;
  readonly procs: CloudProc[];
  start(role: CloudRole, processId: string): CloudProc;
  /** The fleet lease row (holder process id, fencing token). */
  lease(): Promise<{ holder: string; token: number } | undefined>;
  api(proc: CloudProc, path: string, init?: { method?: string; body?: unknown }): Promise<{ status: number; body: unknown }>;
  /** Kills every process; `dropSchema` then removes the schema and its tables. */
  close(o?: { dropSchema?: boolean }): Promise<void>;
}

export async function startMultiCloud(opts: { schema: string; leaderTtlMs?: number; logLevel?: string; ingestGroup?: string }): Promise<MultiCloud> {
  const token = `adm-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const db = await openPostgres(POSTGRES_URL, { schema: opts.schema });
  const dirs: string[] = [];
  const procs: CloudProc[] = [];
  // One data folder per process (as on separate machines), one artifact store they all mount.
  const artifacts = mkdtempSync(join(tmpdir(), 'edgekd-artifacts-'));
  dirs.push(artifacts);
  const start = (role: CloudRole, processId: string): CloudProc => {
    const dir = mkdtempSync(join(tmpdir(), `edgekd-${role}-`));
    dirs.push(dir);
    const child = spawn(process.execPath, [
      join(root, 'bin/edgekd.mjs'), 'cloud', '--role', role, '--process-id', processId, '--data', dir, '--artifacts', artifacts, '--db', POSTGRES_URL, '--db-schema', opts.schema,
      '--broker', MOSQUITTO_URL, '--port', '0', '--teacher', join(dir, 'none'), '--token', `admin:${token}`,
      ...(opts.leaderTtlMs ? ['--leader-ttl-ms', String(opts.leaderTtlMs)] : []),
      ...(opts.ingestGroup ? ['--ingest-group', opts.ingestGroup] : []),
    ], { cwd: root, env: { ...process.env, EDGEKD_LOG_LEVEL: opts.logLevel ?? 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-20_000)));
    child.stderr!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-20_000)));
    // The first lines name the URL; later log lines may push them out of the kept tail, so it is read once.
    let head = '';
    child.stdout!.on('data', (b: Buffer) => {
      if (head.length < 4096) head += b.toString();
    });
    let found: Promise<string> | undefined;
    const url = (): Promise<string> =>
      (found ??= until(`${processId} to serve HTTP`, async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${processId} exited: ${out}`);
        return /console\s+(http:\/\/[^/\s]+)\//.exec(head)?.[1] ?? null;
      }, 120_000));
    const p = { role, processId, child, url, out: () => out };
    procs.push(p);
    return p;
  };
  return {
    schema: opts.schema,
    token,
    db,
    procs,
    start,
    async lease() {
      return (await db.query<{ holder: string; token: number }>("SELECT holder, token FROM edgekd_leases WHERE role = 'fleet'").catch(() => []))[0];
    },
    async api(proc, path, init = {}) {
      const res = await fetch(`${await proc.url()}${path}`, {
        method: init.method ?? 'GET',
        headers: { authorization: `Bearer ${token}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      });
      return { status: res.status, body: await res.json().catch(() => null) };
    },
    async close(o = {}) {
      const exits = procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => new Promise((r) => p.child.once('exit', r)));
      for (const p of procs) {
        if (p.child.exitCode === null && p.child.signalCode === null) {
          p.child.kill('SIGCONT');
          p.child.kill('SIGKILL');
        }
      }
      await Promise.all(exits);
      if (o.dropSchema) await db.exec(`DROP SCHEMA IF EXISTS "${opts.schema}" CASCADE`);
      await db.close();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

/**
 * Registers the package, its signing key and the devices in the shared store, as the export
 * pipeline (registerPackage) and `edgekd devices add` do, before any fleet process starts.
 */
export async function seedFleet(db: SqlDb, o: { deviceIds: readonly string[]; group: string; packageBytes: number; name: string }): Promise<{ packageId: string; trustedKeysFile: string; dir: string }> {
  const store = await FleetStore.open(db);
  const registry = new DeviceRegistry(store, Date.now);
  const fx = sizedPackage({ targetBytes: o.packageBytes, version: 1, name: o.name });
  await registry.addTrustedKey(fx.trustedKeys.keys[0]!);
  const m = fx.pkg.manifest as unknown as { name: string; version: number; model: { sha256: string; size: number } };
  await store.insertPackage({
    packageId: `${m.name}@${m.version}`, name: m.name, version: m.version, sha256: m.model.sha256, sizeBytes: m.model.size,
    manifest: fx.pkg.manifest as unknown as Record<string, unknown>, signature: fx.pkg.signature as unknown as Record<string, unknown>, createdAt: Date.now(), model: fx.pkg.model,
  });
  for (const deviceId of o.deviceIds) await registry.provision({ deviceId, groups: [o.group] });
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-multi-fleet-'));
  const trustedKeysFile = join(dir, 'trusted-keys.json');
  writeFileSync(trustedKeysFile, JSON.stringify(fx.trustedKeys));
  return { packageId: `${m.name}@${m.version}`, trustedKeysFile, dir };
}

export interface OfferLog {
  /** Per device: deployment ids offered, distinct offer payloads, and publications seen (re-sends included). */
  byDevice(): Map<string, { deployments: Set<string>; payloads: Set<string>; publications: number }>;
  close(): Promise<void>;
}

/** Counts offers per device from the broker side: a subscriber on every device's offer topic (empty payloads, the clears, skipped). */
export async function watchOffers(prefix: string): Promise<OfferLog> {
  const client = await mqtt.connectAsync(MOSQUITTO_URL, { clientId: `offer-watch-${prefix}`, clean: true, protocolVersion: 5, reconnectPeriod: 500 });
  const seen = new Map<string, { deployments: Set<string>; payloads: Set<string>; publications: number }>();
  client.on('message', (topic, payload) => {
    const deviceId = topic.split('/')[3] ?? '';
    if (!deviceId.startsWith(prefix) || payload.length === 0) return;
    const s = seen.get(deviceId) ?? { deployments: new Set(), payloads: new Set(), publications: 0 };
    s.publications++;
    s.payloads.add(payload.toString());
    s.deployments.add(String((JSON.parse(payload.toString()) as { deploymentId?: unknown }).deploymentId));
    seen.set(deviceId, s);
  });
  await client.subscribeAsync(topicFilter('offer'), { qos: 1 });
  return { byDevice: () => seen, close: () => client.endAsync() };
}

export function startAgents(o: { prefix: string; agents: number; processes: number; trustedKeysFile: string; stateDir: string }): SimulatedFleet {
  // The simulation processes take their log level from the environment at fork: warn, not one line per agent step.
  const level = process.env.EDGEKD_LOG_LEVEL;
  process.env.EDGEKD_LOG_LEVEL = 'warn';
  try {
    return start();
  } finally {
    if (level === undefined) delete process.env.EDGEKD_LOG_LEVEL;
    else process.env.EDGEKD_LOG_LEVEL = level;
  }
  function start(): SimulatedFleet {
  return startSimulatedFleet({
    agents: o.agents, processes: o.processes, idPrefix: o.prefix, brokerUrl: MOSQUITTO_URL, trustedKeysFile: o.trustedKeysFile,
    stateDir: o.stateDir, engine: 'light', protocolVersion: 5, heartbeatIntervalMs: 30_000, startConcurrency: 20,
  });
  }
}

interface RolloutView {
  status: string;
  counts: Record<string, number>;
  currentWave: number;
}

export interface FailoverRun {
  processes: number;
  agents: number;
  leaderKilledAtSeconds: number;
  takeoverSeconds: number;
  allCommittedSeconds: number | null;
  failed: number;
  committed: number;
  status: string;
  oldLeader: { holder: string; token: number };
  newLeader: { holder: string; token: number };
  offers: OfferLog;
  /** Committed devices when the leader was killed. */
  committedAtKill: number;
}

/**
 * Three cloud processes (`fleet`, `fleet`, `worker`) and an `api`; a rollout of the seeded package
 * to every agent, created on the leader; the leader is killed with SIGKILL once a wave is under
 * way (some devices committed, others in flight). Times are from the rollout's creation.
 */
export async function runLeaderKill(o: { cloud: MultiCloud; prefix: string; packageId: string; group: string; agents: number; timeoutMs: number; killAfterCommitted: number }): Promise<FailoverRun> {
  const { cloud } = o;
  const offers = await watchOffers(o.prefix);
  const fleets = [cloud.start('fleet', `${o.prefix}fa`), cloud.start('fleet', `${o.prefix}fb`)];
  cloud.start('worker', `${o.prefix}w`);
  const api = cloud.start('api', `${o.prefix}api`);
  await Promise.all(cloud.procs.map((p) => p.url()));
  const first = await until('a fleet leader', async () => {
    const l = await cloud.lease();
    const leader = l && fleets.find((f) => f.processId === l.holder);
    return leader && (await cloud.api(leader, '/api/fleet/leader')).status === 200 ? { lease: l, leader } : null;
  }, 60_000);
  const created = await cloud.api(first.leader, '/api/rollouts', {
    method: 'POST',
    body: {
      packageId: o.packageId, target: { groups: [o.group] }, waves: { canaryDevices: 10, firstWaveDevices: 40, growthFactor: 2 }, bakeMs: 0,
      timeouts: { offeredMs: 60_000, stepMs: 60_000, rollbackMs: 30_000 },
    },
  });
  if (created.status !== 200 && created.status !== 201) throw new Error(`rollout refused: ${created.status} ${JSON.stringify(created.body)}`);
  const t0 = performance.now();
  const id = (created.body as { id: string }).id;
  // Reads go to the api process: it answers from the store, whichever fleet process leads.
  const view = async (): Promise<RolloutView> => (await cloud.api(api, `/api/rollouts/${encodeURIComponent(id)}`)).body as RolloutView;
  const atKill = await until('a wave in flight', async () => {
    const r = await view();
    const inFlight = (r.counts.offered ?? 0) + (r.counts.in_progress ?? 0);
    return r.status === 'running' && (r.counts.committed ?? 0) >= o.killAfterCommitted && inFlight > 0 ? r : null;
  }, o.timeoutMs);
  first.leader.child.kill('SIGKILL');
  const killedAt = performance.now();
  const standby = fleets.find((f) => f !== first.leader)!;
  const next = await until('the standby to lead', async () => {
    const l = await cloud.lease();
    return l && l.holder === standby.processId && (await cloud.api(standby, '/api/fleet/leader')).status === 200 ? l : null;
  }, 60_000);
  const tookOver = performance.now();
  let final = await view();
  const deadline = killedAt + o.timeoutMs;
  while (!['completed', 'rolled_back', 'aborted', 'failed'].includes(final.status) && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    final = await view();
  }
  const done = performance.now();
  const failed = (final.counts.failed ?? 0) + (final.counts.rejected ?? 0) + (final.counts.timed_out ?? 0);
  return {
    processes: cloud.procs.length,
    agents: o.agents,
    leaderKilledAtSeconds: (killedAt - t0) / 1000,
    takeoverSeconds: (tookOver - killedAt) / 1000,
    allCommittedSeconds: final.status === 'completed' && (final.counts.committed ?? 0) === o.agents ? (done - t0) / 1000 : null,
    failed,
    committed: final.counts.committed ?? 0,
    status: final.status,
    oldLeader: first.lease,
    newLeader: next,
    offers,
    committedAtKill: atKill.counts.committed ?? 0,
  };
}
