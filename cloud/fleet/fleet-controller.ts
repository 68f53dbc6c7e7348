import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { EdgekdError, toEdgekdError } from '../../shared/errors';
import { createLogger, type Logger } from '../../shared/log/logger';
import { decode, encode, parseTopic, type CodecOptions, type Decoded, type MessageMap } from '../../shared/protocol/codec';
import type { TopicKind } from '../../shared/protocol/topics';
import type { Offer } from '../../shared/protocol/messages/offer';
import type { StatusReport } from '../../shared/protocol/messages/status';
import type { ChunkRequest } from '../../shared/protocol/messages/chunk';
import type { Heartbeat } from '../../shared/protocol/messages/heartbeat';
import type { Presence } from '../../shared/protocol/messages/presence';
import type { DriftReportEnvelope } from '../../shared/protocol/messages/drift';
import { verifyPackage, type PackageContents } from '../../shared/package/verify-package';
import type { TrustedKey, TrustedKeys } from '../../shared/package/trusted-keys';
import type { SqlDb } from '../store/sql-db';
import { SerialQueue } from '../store/serial-queue';
import type { Fence } from '../scale/leader-lease';
import { FleetStore, type HeartbeatUpdate, type PackageRecord } from './store/fleet-store';
import { DeviceRegistry, type ProvisionRequest, type ProvisionedDevice, type PublicDevice } from './registry/device-registry';
import { applyEvent, createRolloutState, isDeviceTerminal, isTerminal, type EngineCommand, type EngineEvent, type RolloutNotice, type RolloutState } from './rollout/rollout-engine';
import { withDefaults, type RolloutRequest } from './rollout/rollout-spec';
import { planChunks, type ChunkPlan } from './delivery/chunk-plan';
import { TokenBucket } from './delivery/token-bucket';
import { DownloadAdmission } from './delivery/download-admission';
import { issueDownloadToken } from './delivery/download-token';
import { downloadPath, fleetDownloadPlugin, type DownloadTarget } from './delivery/http-download';
import { deploymentIdOf, newRolloutId, parseDeploymentId } from './deployment-id';
import { statusToEvent } from './status-to-event';
import { summarizeRollout, type RolloutSummary } from './rollout-summary';
import { redact } from '../broker/broker-target';
import { REPORT_KINDS, ingestFilters, type IngestMode } from './ingest/ingest-filters';

export interface FleetControllerOptions {
  db: SqlDb;
  /** mqtt://host:port of the embedded broker or Mosquitto. */
  brokerUrl: string;
  /** The cloud's MQTT account (Mosquitto: the `edgekd-cloud` user of deploy/mosquitto/acl). */
  mqttUsername?: string;
  mqttPassword?: string;
  /** mqtts:// material: CA to trust, client certificate and key. */
  mqttTls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** Stable id so a restarted cloud gets the QoS 1 reports queued while it was away (persistent session). */
  mqttClientId?: string;
  /** 4 (MQTT 3.1.1, required by the embedded broker) or 5 (Mosquitto: adds message expiry). */
  protocolVersion?: 4 | 5;
  /**
   * `shared` (MQTT 5 only): status, drift and heartbeat are consumed through the
   * `$share/edgekd-ingest/…` group so several cloud processes split them; `exclusive` (default):
   * this process receives every report. See cloud/fleet/ingest/ingest-filters.ts.
   */
  ingest?: IngestMode;
  clock?: () => number;
  logger?: Logger;
  /** Leader fencing token on a shared store (`--role fleet`): rollout snapshots are fenced writes. */
  fence?: Fence;
  /** Preferred chunk size for MQTT delivery (default 64 KiB). */
  chunkBytes?: number;
  /** Largest model file accepted by registerPackage (default 256 MiB). */
  maxPackageBytes?: number;
  /** Engine tick (timeouts, bake ends): default 250 ms. */
  tickMs?: number;
  /** How often changed rollouts are written (default 100 ms); reports are logged before they are applied. */
  snapshotMs?: number;
  /** Lifetime of HTTP download tokens in offers (default 15 min). */
  downloadTokenTtlMs?: number;
  /** Base URL devices use for HTTP downloads, e.g. https://cloud.example:8443 (set by listenHttp when absent). */
  httpBaseUrl?: string;
  /** Receive limits per topic kind in bytes (default: the protocol table's maxBytes); larger payloads are rejected with EDGEKD_PAYLOAD_TOO_LARGE. */
  messageLimits?: CodecOptions['maxBytes'];
  /**
   * Devices downloading at the same time over MQTT (default 500), and the package bytes they may
   * hold together (`maxDownloadBytesInFlight`, default 64 MiB; one device is always admitted); the
   * chunk requests of others wait in arrival order and are answered when a slot frees. Bounds the
   * bytes in flight so a large wave cannot bury slow devices under data they then time out on and
   * request again.
   */
  maxConcurrentDownloads?: number;
  maxDownloadBytesInFlight?: number;
  /**
   * A chunk served to a deployment is not served again within this window (default 8 s): a device
   * that timed out re-asks, but the answer already on its way is still accepted (protocol rule).
   */
  chunkResendAfterMs?: number;
  /** How long to wait for the first broker connection before failing (default 10 s). */
  connectTimeoutMs?: number;
}

export type FleetEvent =
  | { type: 'rollout'; rolloutId: string; at: number; notice: RolloutNotice }
  | { type: 'presence'; deviceId: string; at: number; presence: Presence | null }
  | { type: 'heartbeat'; deviceId: string; at: number; heartbeat: Heartbeat }
  | { type: 'drift'; deviceId: string; at: number; report: DriftReportEnvelope }
  | { type: 'message-rejected'; at: number; topic: string; error: { code: string; message: string } };

export interface FleetStats {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  chunksServed: number;
  chunkBytesServed: number;
  /** HTTP download requests accepted (token valid, deployment active). */
  httpDownloads: number;
  reportsApplied: number;
  reportsDuplicate: number;
  rejectedMessages: number;
  /** Well-formed messages from devices that are not provisioned: nothing stored, acked or answered. */
  droppedMessages: number;
  /** Chunk requests not answered because the same chunk was sent to that deployment moments ago. */
  chunkRequestsSuppressed: number;
  /** Chunk requests answered EDGEKD_RATE_LIMITED (the rollout's bandwidth cap). */
  chunkRequestsDeferred: number;
  /** Chunk requests parked until a download slot freed (maxConcurrentDownloads). */
  chunkRequestsQueued: number;
}

export interface MessageCounter {
  readonly outcome: 'rejected' | 'dropped';
  /** Topic kind, or `unknown` when the topic name does not parse. */
  readonly kind: string;
  /** An EDGEKD_… code (rejected) or `unknown-device` (dropped). */
  readonly reason: string;
  readonly count: number;
}

export interface FleetController {
  readonly events: EventEmitter;
  readonly registry: DeviceRegistry;
  readonly store: FleetStore;
  provisionDevice(req: ProvisionRequest): Promise<ProvisionedDevice>;
  listDevices(): Promise<PublicDevice[]>;
  getDevice(deviceId: string): Promise<PublicDevice | null>;
  addTrustedKey(entry: TrustedKey): Promise<void>;
  trustedKeys(): Promise<TrustedKeys>;
  registerPackage(pkg: PackageContents): Promise<PackageRecord>;
  listPackages(): Promise<PackageRecord[]>;
  createRollout(req: RolloutRequest): Promise<RolloutSummary>;
  pauseRollout(id: string): Promise<RolloutSummary>;
  resumeRollout(id: string): Promise<RolloutSummary>;
  abortRollout(id: string, reason?: string): Promise<RolloutSummary>;
  getRollout(id: string): Promise<RolloutSummary | null>;
  /** Full engine state (every device's state, step, timings, health). */
  getRolloutState(id: string): Promise<RolloutState | null>;
  listRollouts(): Promise<RolloutSummary[]>;
  /** Fastify plugin serving HTTP downloads; mount it in the API app. */
  httpPlugin(): FastifyPluginAsync;
  /** Serves only the download route on its own port; sets httpBaseUrl when it was not configured. */
  listenHttp(opts?: { host?: string; port?: number }): Promise<{ url: string; close(): Promise<void> }>;
  stats(): FleetStats;
  /**
   * Messages refused (cannot be decoded: bad topic, schema, size) and dropped (well-formed, but
   * from a device that is not provisioned), by topic kind and reason; monotonic, for /metrics.
   */
  messageCounters(): MessageCounter[];
  /** Waits until every report received so far is logged and applied and state is written. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

interface ActiveRollout {
  state: RolloutState;
  appliedSeq: number;
  dirty: boolean;
  pkg: LoadedPackage;
  bucket: TokenBucket | null;
  /** Highest report seq applied per device (older reports arriving late are logged, not applied). */
  lastSeq: Map<string, number>;
}

interface LoadedPackage {
  record: PackageRecord;
  bytes: Uint8Array;
  plan: ChunkPlan;
}


/**
 * The cloud side of the fleet, composed: store, registry, rollout engine driver, MQTT link and
 * delivery. One instance per cloud process; see cloud/fleet/README.md.
 */
export async function createFleetController(opts: FleetControllerOptions): Promise<FleetController> {
  const now = opts.clock ?? Date.now;
  const log = opts.logger ?? createLogger('fleet');
  const store = await FleetStore.open(opts.db);
  if (opts.fence) store.setFence(opts.fence);
  const registry = new DeviceRegistry(store, now, opts.mqttUsername && opts.mqttPassword ? { username: opts.mqttUsername, password: opts.mqttPassword } : undefined);
  const events = new EventEmitter();
  events.setMaxListeners(100);
  const protocolVersion = opts.protocolVersion ?? 4;
  const ingest: IngestMode = opts.ingest ?? 'exclusive';
  if (ingest === 'shared' && protocolVersion !== 5) {
    throw new EdgekdError('EDGEKD_CONFIG_INVALID', 'shared ingest needs an MQTT 5 broker (protocolVersion 5); the embedded broker speaks MQTT 3.1.1 only');
  }
  const chunkBytes = opts.chunkBytes ?? 64 * 1024;
  const maxPackageBytes = opts.maxPackageBytes ?? 256 * 2 ** 20;
  const tokenTtl = opts.downloadTokenTtlMs ?? 15 * 60_000;
  const secret = randomBytes(32);
  const codecOptions: CodecOptions = opts.messageLimits ? { maxBytes: opts.messageLimits } : {};
  let httpBaseUrl = opts.httpBaseUrl;
  const stats: FleetStats = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, chunksServed: 0, chunkBytesServed: 0, httpDownloads: 0, reportsApplied: 0, reportsDuplicate: 0, rejectedMessages: 0, droppedMessages: 0, chunkRequestsSuppressed: 0, chunkRequestsDeferred: 0, chunkRequestsQueued: 0 };
  // A device count alone bounded 100 × 200 KB = 20 MB or 100 × 50 MB = 5 GB in flight; the byte
  // budget scales with the package (200 KB: 335 devices at once, 50 MB: 1).
  const maxConcurrentDownloads = opts.maxConcurrentDownloads ?? 500;
  const maxDownloadBytesInFlight = opts.maxDownloadBytesInFlight ?? 64 * 2 ** 20;
  const chunkResendAfterMs = opts.chunkResendAfterMs ?? 8_000;
  /** Which deployments may download now; the chunk requests of the others wait in its queue. */
  const admission = new DownloadAdmission<{ deviceId: string; req: ChunkRequest }>(maxConcurrentDownloads, maxDownloadBytesInFlight);
  /** deploymentId → chunk index → when that chunk was last served. */
  const served = new Map<string, Map<number, number>>();
  const active = new Map<string, ActiveRollout>();
  const packages = new Map<string, Promise<LoadedPackage>>();
  const reportQueue = new SerialQueue();
  const pendingAcks = new Map<string, string[]>();
  let ackTimer: NodeJS.Timeout | null = null;
  const heartbeats = new Map<string, HeartbeatUpdate>();
  let closed = false;

  const emit = (e: FleetEvent): void => {
    events.emit(e.type, e);
    events.emit('event', e);
  };

  // ── packages ───────────────────────────────────────────────────────────
  function loadPackage(packageId: string): Promise<LoadedPackage> {
    let p = packages.get(packageId);
    if (!p) {
      p = (async () => {
        const record = await store.getPackage(packageId);
        const bytes = await store.getPackageBytes(packageId);
        if (!record || !bytes) throw new EdgekdError('EDGEKD_NOT_FOUND', `package '${packageId}' is not registered`);
        const plan = planChunks(bytes, chunkBytes);
        if (plan.sha256 !== record.sha256) {
          // The stored bytes changed after registration (storage corruption or tampering). The offer
          // still announces the signed manifest's hash, so every device refuses the file
          // (EDGEKD_HASH_MISMATCH); chunk hashes only protect the transport.
          log.error({ packageId, stored: plan.sha256, manifest: record.sha256 }, 'stored model bytes do not match the signed manifest');
        }
        return { record, bytes, plan: { ...plan, sha256: record.sha256 } };
      })();
      p.catch(() => packages.delete(packageId));
      packages.set(packageId, p);
    }
    return p;
  }

  // ── MQTT link ──────────────────────────────────────────────────────────
  const client: MqttClient = mqtt.connect(opts.brokerUrl, {
    protocolVersion,
    clientId: opts.mqttClientId ?? `edgekd-cloud-${randomBytes(4).toString('hex')}`,
    // Shared ingest uses a clean session: Mosquitto 2.0 keeps routing a share group's messages to
    // a member whose persistent session is offline (measured: the live member got 5 of 10), so a
    // stopped or dead process would swallow half the reports until its session expired. Status and
    // drift missed while no member is connected come again from the device outbox (resent until
    // acked); heartbeats are periodic.
    clean: opts.mqttClientId === undefined || ingest === 'shared',
    ...(opts.mqttUsername ? { username: opts.mqttUsername } : {}),
    ...(opts.mqttPassword ? { password: opts.mqttPassword } : {}),
    ...(opts.mqttTls ?? {}),
    reconnectPeriod: 500,
    connectTimeout: 5_000,
    resubscribe: true,
  });
  client.on('error', (e) => log.warn({ err: e.message }, 'mqtt error'));
  // Many small QoS 1 messages and acks in both directions: Nagle plus delayed ACK would add ~40 ms
  // to every exchange on this one connection and serialise the whole fleet behind it.
  client.on('connect', () => (client.stream as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true));
  client.on('offline', () => log.info('mqtt offline, reconnecting'));

  function publish(kind: TopicKind, deviceId: string, message: unknown): void {
    if (closed) return;
    try {
      const out = encode(kind, deviceId, message as MessageMap[typeof kind], { protocolVersion });
      stats.messagesOut++;
      stats.bytesOut += out.payload.length;
      client.publish(out.topic, out.payload, { qos: out.qos, retain: out.retain, ...(out.properties ? { properties: out.properties } : {}) }, (err) => {
        if (err) log.warn({ topic: out.topic, err: err.message }, 'publish failed');
      });
    } catch (e) {
      log.error({ kind, deviceId, err: (e as Error).message }, 'refusing to publish an invalid message');
    }
  }

  function queueAck(deviceId: string, key: string): void {
    const list = pendingAcks.get(deviceId) ?? [];
    list.push(key);
    pendingAcks.set(deviceId, list);
    if (list.length >= 1000) flushAcks();
    else ackTimer ??= setTimeout(flushAcks, 5);
  }

  function flushAcks(): void {
    if (ackTimer) clearTimeout(ackTimer);
    ackTimer = null;
    for (const [deviceId, keys] of pendingAcks) publish('ack', deviceId, { schema: 'edgekd.ack/1', keys: [...new Set(keys)].slice(0, 1000) });
    pendingAcks.clear();
  }

  // ── offers and commands ────────────────────────────────────────────────
  function buildOffer(ar: ActiveRollout, deviceId: string): Offer {
    const s = ar.state;
    const d = s.devices[deviceId]!;
    const deploymentId = deploymentIdOf(s.id, deviceId);
    const { record, plan } = ar.pkg;
    const manifest = record.manifest as { name: string; version: number };
    const offer: Offer = {
      schema: 'edgekd.offer/1',
      deploymentId,
      rolloutId: s.id,
      wave: d.wave === 0 && s.spec.waves.canaryDevices > 0 ? 'canary' : `wave-${d.wave}`,
      issuedAt: new Date(d.offeredAt ?? now()).toISOString(),
      model: { name: manifest.name, version: manifest.version, sha256: plan.sha256 },
      manifest: record.manifest,
      signature: record.signature as Offer["signature"],
      delivery: { sizeBytes: plan.sizeBytes, sha256: plan.sha256, chunkBytes: plan.chunkBytes, chunkSha256: plan.chunkSha256, prefer: s.spec.delivery },
    };
    if (s.spec.delivery === 'http') {
      if (!httpBaseUrl) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'HTTP delivery needs httpBaseUrl or listenHttp()');
      const expiresAt = now() + tokenTtl;
      offer.delivery.http = { url: `${httpBaseUrl}${downloadPath(deploymentId)}`, token: issueDownloadToken(secret, deploymentId, expiresAt), expiresAt: new Date(expiresAt).toISOString() };
    }
    if (s.spec.activation) offer.activation = s.spec.activation;
    if (s.spec.deviceTimeoutsMs) offer.timeoutsMs = s.spec.deviceTimeoutsMs;
    if (s.spec.allowDowngrade) offer.allowDowngrade = true;
    if (s.spec.downgrade) offer.downgrade = s.spec.downgrade;
    return offer;
  }

  function rollbackCommand(rolloutId: string, deviceId: string, reason: string): unknown {
    const deploymentId = deploymentIdOf(rolloutId, deviceId);
    return { schema: 'edgekd.command/1', type: 'rollback', commandId: `${deploymentId}:rollback`, issuedAt: new Date(now()).toISOString(), deploymentId, reason: reason.slice(0, 500) };
  }

  function execute(ar: ActiveRollout, cmds: EngineCommand[]): void {
    const id = ar.state.id;
    for (const c of cmds) {
      switch (c.type) {
        case 'offer':
          try {
            publish('offer', c.deviceId, buildOffer(ar, c.deviceId));
          } catch (e) {
            log.error({ rolloutId: id, deviceId: c.deviceId, err: (e as Error).message }, 'cannot build offer');
          }
          break;
        case 'cancel':
          publish('offer', c.deviceId, null);
          publish('command', c.deviceId, rollbackCommand(id, c.deviceId, ar.state.reason ?? 'canceled'));
          break;
        case 'rollback':
          publish('command', c.deviceId, rollbackCommand(id, c.deviceId, ar.state.reason ?? 'rollback'));
          break;
        case 'notify':
          if (c.notice.kind === 'device-state' && isDeviceTerminal(c.notice.state) && c.notice.state !== 'skipped') publish('offer', c.notice.deviceId, null);
          if (c.notice.kind === 'device-state' && c.notice.step !== 'downloading') releaseDownload(deploymentIdOf(id, c.notice.deviceId));
          emit({ type: 'rollout', rolloutId: id, at: now(), notice: c.notice });
          break;
      }
    }
  }

  function releaseDownload(deploymentId: string): void {
    served.delete(deploymentId);
    serveAdmitted(admission.release(deploymentId, now()));
  }

  /** Serves the parked requests of deployments just admitted into a download slot. */
  function serveAdmitted(reqs: Array<{ deviceId: string; req: ChunkRequest }>): void {
    for (const { deviceId, req } of reqs) void onChunkRequest(deviceId, req).catch((e) => log.warn({ deviceId, err: (e as Error).message }, 'serving a parked chunk request failed'));
  }

  function apply(ar: ActiveRollout, event: EngineEvent, at = now()): void {
    const cmds = applyEvent(ar.state, event, at);
    ar.dirty = true;
    execute(ar, cmds);
  }

  /** Re-sends what a device may have missed (after a broker or cloud restart): offers and rollbacks in flight. */
  function republishInFlight(): void {
    for (const ar of active.values()) {
      for (const [deviceId, d] of Object.entries(ar.state.devices)) {
        if (d.state === 'offered' || d.state === 'in_progress') execute(ar, [{ type: 'offer', deviceId, wave: d.wave }]);
        else if (d.state === 'rolling_back') execute(ar, [{ type: 'rollback', deviceId }]);
      }
    }
  }

  // ── incoming messages ──────────────────────────────────────────────────
  const counters = new Map<string, MessageCounter>();
  function count(outcome: MessageCounter['outcome'], topic: string, reason: string): void {
    let kind = 'unknown';
    try {
      kind = parseTopic(topic).kind;
    } catch {
      // the topic name itself is what was wrong
    }
    const key = `${outcome}\u0000${kind}\u0000${reason}`;
    const c = counters.get(key);
    counters.set(key, { outcome, kind, reason, count: (c?.count ?? 0) + 1 });
  }

  /**
   * Only provisioned devices that are not revoked get anything stored, acked or answered (a revoked
   * device's session is ended by the broker; this covers what it sent meanwhile, within the cache
   * period below). A known id is remembered for
   * 10 s (a PK read per device and period, not per message); an unknown one is never remembered,
   * so a flood of invented ids costs reads, never writes. Lookups of one device share one promise,
   * so its messages keep their order.
   */
  const knownUntil = new Map<string, number>();
  const lookups = new Map<string, Promise<boolean>>();
  function isKnown(deviceId: string): Promise<boolean> {
    const until = knownUntil.get(deviceId);
    if (until !== undefined && until > now()) return Promise.resolve(true);
    let p = lookups.get(deviceId);
    if (!p) {
      p = store.getDevice(deviceId).then(
        (d) => {
          lookups.delete(deviceId);
          const ok = d !== null && d.revokedAt === null;
          if (ok) knownUntil.set(deviceId, now() + 10_000);
          else knownUntil.delete(deviceId);
          return ok;
        },
        (e: unknown) => {
          lookups.delete(deviceId);
          throw e;
        },
      );
      lookups.set(deviceId, p);
    }
    return p;
  }

  function drop(topic: string, deviceId: string): void {
    stats.droppedMessages++;
    count('dropped', topic, 'unknown-device');
    log.warn({ topic: topic.slice(0, 300), deviceId }, 'dropped a message from a device that is not provisioned');
  }

  function reject(topic: string, e: unknown): void {
    const err = toEdgekdError(e, 'EDGEKD_MESSAGE_INVALID');
    stats.rejectedMessages++;
    count('rejected', topic, err.code);
    log.warn({ topic, code: err.code, err: err.message }, 'rejected message');
    emit({ type: 'message-rejected', at: now(), topic, error: { code: err.code, message: err.message } });
  }

  client.on('message', (topic, payload) => {
    stats.messagesIn++;
    stats.bytesIn += payload.length;
    let msg: Decoded;
    try {
      msg = decode(topic, payload, codecOptions);
    } catch (e) {
      reject(topic, e);
      return;
    }
    if (!REPORT_KINDS.includes(msg.kind)) {
      reject(topic, new EdgekdError('EDGEKD_MESSAGE_INVALID', `the cloud does not accept ${msg.kind} messages`));
      return;
    }
    const m = msg;
    isKnown(m.deviceId).then(
      (known) => (known ? dispatch(topic, m) : drop(topic, m.deviceId)),
      (e: unknown) => reject(topic, e),
    );
  });

  function dispatch(topic: string, msg: Decoded): void {
    try {
      switch (msg.kind) {
        case 'status':
          queueStatus(topic, msg.deviceId, msg.message as StatusReport);
          break;
        case 'drift':
          void reportQueue.run(() => onDrift(msg.deviceId, msg.message as DriftReportEnvelope)).catch((e) => reject(topic, e));
          break;
        case 'chunkRequest':
          void onChunkRequest(msg.deviceId, msg.message as ChunkRequest).catch((e) => reject(topic, e));
          break;
        case 'heartbeat':
          onHeartbeat(msg.deviceId, msg.message as Heartbeat);
          break;
        case 'presence':
          void onPresence(msg.deviceId, msg.message as Presence | null).catch((e) => reject(topic, e));
          break;
        default:
          reject(topic, new EdgekdError('EDGEKD_MESSAGE_INVALID', `the cloud does not accept ${msg.kind} messages`));
      }
    } catch (e) {
      reject(topic, e);
    }
  }

  /**
   * Status reports are logged in batches: everything that arrived while the previous batch was
   * being written goes into the next transaction (one commit per batch, not one per report; 1,000
   * devices send ~8,000 reports in a rollout). Each report is still logged before it touches the
   * engine and acked only after its batch committed.
   */
  let statusBatch: Array<{ topic: string; deviceId: string; report: StatusReport }> = [];
  function queueStatus(topic: string, deviceId: string, report: StatusReport): void {
    statusBatch.push({ topic, deviceId, report });
    if (statusBatch.length === 1) {
      void reportQueue.run(async () => {
        const batch = statusBatch;
        statusBatch = [];
        await onStatuses(batch).catch((e) => {
          for (const b of batch) reject(b.topic, e);
        });
      });
    }
  }

  async function onStatuses(batch: ReadonlyArray<{ deviceId: string; report: StatusReport }>): Promise<void> {
    const at = now();
    const rows = batch.map(({ deviceId, report: r }) => {
      const rolloutId = r.rolloutId ?? parseDeploymentId(r.deploymentId)?.rolloutId ?? null;
      return { idempotencyKey: r.idempotencyKey, deviceId, rolloutId, kind: 'status', body: r, receivedAt: at };
    });
    const seqs = await store.logReports(rows);
    for (const [i, { deviceId, report: r }] of batch.entries()) {
      queueAck(deviceId, r.idempotencyKey);
      const seq = seqs[i] ?? null;
      if (seq === null) {
        stats.reportsDuplicate++;
        continue;
      }
      stats.reportsApplied++;
      const rolloutId = rows[i]!.rolloutId;
      const ar = rolloutId ? active.get(rolloutId) : undefined;
      if (ar) applyReport(ar, deviceId, r, seq, now());
    }
  }

  function applyReport(ar: ActiveRollout, deviceId: string, r: StatusReport, seq: number, at: number): void {
    ar.appliedSeq = Math.max(ar.appliedSeq, seq);
    ar.dirty = true;
    if (r.deploymentId !== deploymentIdOf(ar.state.id, deviceId)) return; // another device's id or another deployment
    const last = ar.lastSeq.get(deviceId) ?? -1;
    if (r.seq < last) return; // an older report redelivered after a newer one: already superseded
    ar.lastSeq.set(deviceId, r.seq);
    apply(ar, statusToEvent(deviceId, r), at);
  }

  async function onDrift(deviceId: string, r: DriftReportEnvelope): Promise<void> {
    const seq = await store.logReport({ idempotencyKey: r.idempotencyKey, deviceId, rolloutId: null, kind: 'drift', body: r, receivedAt: now() });
    queueAck(deviceId, r.idempotencyKey);
    if (seq === null) stats.reportsDuplicate++;
    else emit({ type: 'drift', deviceId, at: now(), report: r });
  }

  function onHeartbeat(deviceId: string, h: Heartbeat): void {
    heartbeats.set(deviceId, { deviceId, at: now(), heartbeat: h, activeModel: h.activeModel, agentVersion: h.agentVersion });
    emit({ type: 'heartbeat', deviceId, at: now(), heartbeat: h });
  }

  async function onPresence(deviceId: string, p: Presence | null): Promise<void> {
    if (p) {
      const update = { deviceId, presence: p.state, bootSeq: p.bootSeq, sessionSeq: p.sessionSeq, at: now(), ...(p.activeModel !== undefined ? { activeModel: p.activeModel } : {}), ...(p.agentVersion ? { agentVersion: p.agentVersion } : {}) };
      if (!(await store.applyPresence(update))) return; // stale (an older session's will) or unknown device
    }
    emit({ type: 'presence', deviceId, at: now(), presence: p });
  }

  async function onChunkRequest(deviceId: string, req: ChunkRequest): Promise<void> {
    const header = { schema: 'edgekd.chunk/1' as const, requestId: req.requestId, deploymentId: req.deploymentId, sha256: req.sha256, index: req.index, offset: 0 };
    const fail = (code: string, message: string, retryAfterMs?: number): void =>
      publish('chunkResponse', deviceId, { header: { ...header, error: { code, message }, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }, data: new Uint8Array(0) });
    const parsed = parseDeploymentId(req.deploymentId);
    const ar = parsed && parsed.deviceId === deviceId ? active.get(parsed.rolloutId) : undefined;
    const d = ar?.state.devices[deviceId];
    if (!ar || !d) return fail('EDGEKD_NOT_FOUND', `no active deployment ${req.deploymentId} for ${deviceId}`);
    if (d.state !== 'offered' && d.state !== 'in_progress') return fail('EDGEKD_ROLLOUT_STATE', `deployment ${req.deploymentId} is ${d.state}`);
    const { plan, bytes } = ar.pkg;
    if (req.sha256 !== plan.sha256) return fail('EDGEKD_NOT_FOUND', `deployment ${req.deploymentId} delivers ${plan.sha256}, not ${req.sha256}`);
    if (req.index >= plan.chunkSha256.length) return fail('EDGEKD_INVALID_ARGUMENT', `chunk ${req.index} is past the last chunk (${plan.chunkSha256.length - 1})`);
    const t = now();
    const last = served.get(req.deploymentId)?.get(req.index);
    if (last !== undefined && t - last < chunkResendAfterMs) {
      stats.chunkRequestsSuppressed++;
      return; // the answer sent moments ago is still on its way; the device accepts it late
    }
    if (!admission.admit(req.deploymentId, req.index, { deviceId, req }, t, plan.sizeBytes)) {
      stats.chunkRequestsQueued++;
      return; // answered when a slot frees (serveAdmitted)
    }
    const offset = req.index * plan.chunkBytes;
    const data = bytes.subarray(offset, Math.min(bytes.length, offset + plan.chunkBytes));
    const wait = ar.bucket?.take(data.length, t) ?? 0;
    if (wait > 0) {
      stats.chunkRequestsDeferred++;
      return fail('EDGEKD_RATE_LIMITED', 'rollout bandwidth cap reached', wait);
    }
    admission.touch(req.deploymentId, t);
    const perDeployment = served.get(req.deploymentId) ?? new Map<number, number>();
    perDeployment.set(req.index, t);
    served.set(req.deploymentId, perDeployment);
    stats.chunksServed++;
    stats.chunkBytesServed += data.length;
    publish('chunkResponse', deviceId, { header: { ...header, offset, chunkSha256: plan.chunkSha256[req.index]! }, data });
  }

  // ── persistence and timers ─────────────────────────────────────────────
  async function saveDirty(): Promise<void> {
    for (const ar of [...active.values()]) {
      if (!ar.dirty) continue;
      ar.dirty = false;
      // Judged on what is written: a tick may finish the rollout while the write is in flight
      // (PostgreSQL), and dropping it then would leave the pre-finish snapshot as the last word.
      const finished = isTerminal(ar.state.status);
      await store.saveRollout(ar.state, ar.appliedSeq);
      if (finished) active.delete(ar.state.id);
    }
  }

  // Snapshots go through the report queue so a snapshot never records an applied sequence number
  // ahead of a report still being applied.
  const snapshot = (): Promise<void> => reportQueue.run(saveDirty);

  const snapshotTimer = setInterval(() => void snapshot().catch((e) => log.error({ err: (e as Error).message }, 'snapshot failed')), opts.snapshotMs ?? 100);
  const tickTimer = setInterval(() => {
    for (const ar of active.values()) if (!isTerminal(ar.state.status)) apply(ar, { type: 'tick' });
    const t = now();
    // A holder silent for 3 s while others wait (device gone, or done and slow to say so) gives up
    // its slot; with nobody waiting only an abandoned one (60 s) does.
    serveAdmitted(admission.expireIdle(t, admission.queued > 0 ? 3_000 : 60_000));
  }, opts.tickMs ?? 250);
  const heartbeatTimer = setInterval(() => {
    const batch = [...heartbeats.values()];
    heartbeats.clear();
    void store.applyHeartbeats(batch).catch((e) => log.warn({ err: (e as Error).message }, 'heartbeat write failed'));
  }, 1_000);

  // ── connect ────────────────────────────────────────────────────────────
  let firstConnect = true;
  // Registered before resuming rollouts: the first CONNACK may arrive while the store is read.
  client.on('connect', () => {
    const filters = ingestFilters(ingest);
    client.subscribe(filters, (err) => {
      if (err) log.error({ err: err.message }, 'subscribe failed');
      // Offers are retained, but an embedded broker restarted without persistence has lost them.
      republishInFlight();
    });
    if (!firstConnect) log.info('mqtt reconnected');
    firstConnect = false;
  });
  // ── resume after a restart ─────────────────────────────────────────────
  // Inside the report queue: reports arriving meanwhile wait until their rollout is loaded.
  await reportQueue.run(async () => {
  for (const { state, appliedReportSeq } of await store.loadRollouts({ activeOnly: true })) {
    const pkg = await loadPackage(state.spec.packageId);
    const ar: ActiveRollout = { state, appliedSeq: appliedReportSeq, dirty: false, pkg, bucket: bucketFor(state), lastSeq: new Map() };
    active.set(state.id, ar);
    // Reports logged after the snapshot are the write-ahead log: apply them again, in order.
    for (const r of await store.reportsAfter(state.id, appliedReportSeq)) {
      if (r.kind === 'status') applyReport(ar, r.deviceId, r.body as StatusReport, r.seq, r.receivedAt);
    }
    apply(ar, { type: 'tick' });
    log.info({ rolloutId: state.id, status: state.status }, 'resumed rollout');
  }
  await saveDirty();
  });

  function bucketFor(s: RolloutState): TokenBucket | null {
    const rate = s.spec.bandwidthBytesPerSecond;
    return rate > 0 ? new TokenBucket(rate, Math.max(rate, chunkBytes), now()) : null;
  }

  if (client.connected) republishInFlight(); // connected while resuming: offers of resumed rollouts go out now

  // The connection may already be up (resuming rollouts above can take longer than connecting).
  if (!client.connected) await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      client.end(true);
      clearInterval(snapshotTimer);
      clearInterval(tickTimer);
      clearInterval(heartbeatTimer);
      reject(new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', `cannot connect to the MQTT broker at ${redact(opts.brokerUrl)}`));
    }, opts.connectTimeoutMs ?? 10_000);
    client.once('connect', () => {
      clearTimeout(t);
      resolve();
    });
  });

  // ── API ────────────────────────────────────────────────────────────────
  async function requireActive(id: string): Promise<ActiveRollout> {
    const ar = active.get(id);
    if (ar) return ar;
    const s = await store.getRollout(id);
    if (!s) throw new EdgekdError('EDGEKD_NOT_FOUND', `rollout '${id}' does not exist`);
    throw new EdgekdError('EDGEKD_ROLLOUT_STATE', `rollout '${id}' is ${s.status}`);
  }

  async function control(id: string, event: EngineEvent, allowed: string[]): Promise<RolloutSummary> {
    return reportQueue.run(async () => {
      const ar = await requireActive(id);
      if (!allowed.includes(ar.state.status)) throw new EdgekdError('EDGEKD_ROLLOUT_STATE', `rollout '${id}' is ${ar.state.status}; ${event.type} needs ${allowed.join(' or ')}`);
      apply(ar, event);
      await saveDirty();
      return summarizeRollout(ar.state);
    });
  }

  const downloadResolve = async (deploymentId: string): Promise<DownloadTarget | null> => {
    const p = parseDeploymentId(deploymentId);
    const ar = p ? active.get(p.rolloutId) : undefined;
    const d = ar && p ? ar.state.devices[p.deviceId] : undefined;
    if (!ar || !d || (d.state !== 'offered' && d.state !== 'in_progress')) return null;
    stats.httpDownloads++;
    return { bytes: ar.pkg.bytes, sha256: ar.pkg.plan.sha256, bucket: ar.bucket };
  };

  const controller: FleetController = {
    events,
    registry,
    store,
    provisionDevice: (req) => registry.provision(req),
    listDevices: () => registry.list(),
    getDevice: (id) => registry.get(id),
    addTrustedKey: (entry) => registry.addTrustedKey(entry),
    trustedKeys: () => registry.trustedKeys(),

    async registerPackage(pkg) {
      if (pkg.model.byteLength > maxPackageBytes) {
        throw new EdgekdError('EDGEKD_PAYLOAD_TOO_LARGE', `model of ${pkg.model.byteLength} bytes exceeds the ${maxPackageBytes}-byte limit`);
      }
      const v = verifyPackage(pkg, await registry.trustedKeys(), { now: new Date(now()) });
      if (!v.ok) throw v.error;
      const record: PackageRecord = {
        packageId: `${v.manifest.name}@${v.manifest.version}`,
        name: v.manifest.name,
        version: v.manifest.version,
        sha256: v.manifest.model.sha256,
        sizeBytes: v.manifest.model.size,
        manifest: pkg.manifest as Record<string, unknown>,
        signature: pkg.signature as Record<string, unknown>,
        createdAt: now(),
      };
      if (!(await store.insertPackage({ ...record, model: pkg.model }))) {
        const existing = await store.getPackage(record.packageId);
        if (existing?.sha256 !== record.sha256) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `${record.packageId} is already registered with other bytes; publish a new version`);
        return existing;
      }
      return record;
    },
    listPackages: () => store.listPackages(),

    async createRollout(req) {
      const spec = withDefaults(req);
      const pkg = await loadPackage(spec.packageId);
      if (spec.delivery === 'http' && !httpBaseUrl) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'HTTP delivery needs httpBaseUrl or listenHttp()');
      const deviceIds = await registry.resolveTarget(spec.target);
      return reportQueue.run(async () => {
        for (const other of active.values()) {
          const busy = deviceIds.find((d) => {
            const s = other.state.devices[d]?.state;
            return s !== undefined && !isDeviceTerminal(s) && s !== 'queued';
          });
          if (busy) throw new EdgekdError('EDGEKD_ROLLOUT_STATE', `device '${busy}' is still in rollout ${other.state.id}; wait for it, or abort it`);
        }
        const state = createRolloutState(newRolloutId(now()), spec, deviceIds, now());
        const ar: ActiveRollout = { state, appliedSeq: 0, dirty: true, pkg, bucket: bucketFor(state), lastSeq: new Map() };
        active.set(state.id, ar);
        await store.saveRollout(state, 0);
        apply(ar, { type: 'start' });
        await saveDirty();
        return summarizeRollout(state);
      });
    },
    pauseRollout: (id) => control(id, { type: 'pause' }, ['running']),
    resumeRollout: (id) => control(id, { type: 'resume' }, ['paused']),
    abortRollout: (id, reason) => control(id, reason ? { type: 'abort', reason } : { type: 'abort' }, ['created', 'running', 'paused', 'rolling_back']),
    async getRollout(id) {
      const s = await controller.getRolloutState(id);
      return s ? summarizeRollout(s) : null;
    },
    async getRolloutState(id) {
      return active.get(id)?.state ?? (await store.getRollout(id));
    },
    async listRollouts() {
      const stored = await store.loadRollouts();
      return stored.map(({ state }) => summarizeRollout(active.get(state.id)?.state ?? state));
    },
    httpPlugin: () => async (app) => {
      await app.register(fleetDownloadPlugin, { secret, now, resolve: downloadResolve });
    },
    async listenHttp(o = {}) {
      const app: FastifyInstance = Fastify({ logger: false });
      await app.register(controller.httpPlugin());
      const host = o.host ?? '127.0.0.1';
      await app.listen({ host, port: o.port ?? 0 });
      const addr = app.server.address() as { port: number };
      const url = `http://${host}:${addr.port}`;
      httpBaseUrl ??= url;
      return { url, close: () => app.close() };
    },
    stats: () => ({ ...stats }),
    messageCounters: () => [...counters.values()],
    async flush() {
      await reportQueue.run(async () => undefined);
      flushAcks();
      await snapshot();
    },
    async close() {
      if (closed) return;
      clearInterval(snapshotTimer);
      clearInterval(tickTimer);
      clearInterval(heartbeatTimer);
      flushAcks();
      await snapshot().catch(() => undefined);
      await store.applyHeartbeats([...heartbeats.values()]).catch(() => undefined);
      closed = true;
      // Let in-flight QoS 1 publishes (acks, clears) finish, but never hang on a broker that is gone.
      const graceful = client.connected ? client.endAsync(false).then(() => true) : Promise.resolve(false);
      const done = await Promise.race([graceful, new Promise<boolean>((r) => setTimeout(() => r(false), 2_000))]);
      if (!done) await client.endAsync(true);
    },
  };
  return controller;
}

