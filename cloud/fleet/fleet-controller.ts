import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { EdgekdError, toEdgekdError } from '../../shared/errors';
import { createLogger, type Logger } from '../../shared/log/logger';
import { parseTopic, type CodecOptions, type Decoded } from '../../shared/protocol/codec';
import type { StatusReport } from '../../shared/protocol/messages/status';
import type { DriftReportEnvelope } from '../../shared/protocol/messages/drift';
import type { ChunkRequest } from '../../shared/protocol/messages/chunk';
import type { Presence } from '../../shared/protocol/messages/presence';
import { verifyPackage, type PackageContents } from '../../shared/package/verify-package';
import type { TrustedKey, TrustedKeys } from '../../shared/package/trusted-keys';
import type { SqlDb } from '../store/sql-db';
import { SerialQueue } from '../store/serial-queue';
import type { Fence } from '../scale/leader-lease';
import type { ArtifactStore } from '../scale/artifact-store';
import { FleetStore, type PackageRecord } from './store/fleet-store';
import { DeviceRegistry, type ProvisionRequest, type ProvisionedDevice, type PublicDevice } from './registry/device-registry';
import { applyEvent, createRolloutState, isDeviceTerminal, isTerminal, type EngineCommand, type EngineEvent, type RolloutState } from './rollout/rollout-engine';
import { withDefaults, type RolloutRequest } from './rollout/rollout-spec';
import { planChunks, type ChunkPlan } from './delivery/chunk-plan';
import { TokenBucket } from './delivery/token-bucket';
import { createChunkServer, type ChunkRefusal, type ChunkSource } from './delivery/chunk-server';
import { fleetDownloadPlugin, type DownloadTarget } from './delivery/http-download';
import { buildOffer, rollbackCommand } from './rollout/build-offer';
import { deploymentIdOf, newRolloutId, parseDeploymentId } from './deployment-id';
import { statusToEvent } from './status-to-event';
import { summarizeRollout, type RolloutSummary } from './rollout-summary';
import { REPORT_KINDS, ingestFilters, type IngestMode } from './ingest/ingest-filters';
import { createReportLog } from './ingest/report-log';
import { createReportTail, type ReportNotices, type ReportTail } from './ingest/report-tail';
import { createKnownDevices } from './ingest/known-devices';
import { createHeartbeatWriter } from './ingest/heartbeat-writer';
import { createAckBatcher } from './link/ack-batcher';
import { createCloudMqttLink } from './link/cloud-mqtt-link';
import { createFleetEvents, type FleetEvent, type FleetEvents } from './fleet-events';
import { decodeAccepted } from './ingest/decode-accepted';

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
  /** Share group of shared ingest (default `edgekd-ingest`; every member of one cloud must use the same). */
  ingestGroup?: string;
  /**
   * Shared ingest: other processes (`--role ingest`) log reports too, so this controller applies
   * status and drift reports by following the report log (ingest/report-tail.ts), woken by these
   * notices and by a poll every `reportPollMs` (default 1 s).
   */
  reportNotices?: ReportNotices;
  reportPollMs?: number;
  clock?: () => number;
  logger?: Logger;
  /**
   * Where package bytes live (content-addressed, shared by every process: cloud/scale). Without
   * it they stay in the packages table. With it, blobs left in the table are moved at start.
   */
  artifacts?: ArtifactStore;
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

export type { FleetEvent, FleetEvents } from './fleet-events';

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
  /** Shared ingest: reports (this process's and other ingest processes') applied from the report log. */
  reportsFromLog: number;
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
  /** Typed subscriptions (fleet-events.ts): 'rollout', 'presence', 'heartbeat', 'drift', 'message-rejected', or 'event' for all. */
  readonly events: FleetEvents;
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
  const store = await FleetStore.open(opts.db, opts.artifacts ? { artifacts: opts.artifacts } : {});
  if (opts.fence) store.setFence(opts.fence);
  if (opts.artifacts) {
    const moved = await store.moveBlobsToArtifacts();
    if (moved > 0) log.info({ moved }, 'moved package blobs from the database to the artifact store');
  }
  const registry = new DeviceRegistry(store, now, opts.mqttUsername && opts.mqttPassword ? { username: opts.mqttUsername, password: opts.mqttPassword } : undefined);
  const events = createFleetEvents(log);
  const protocolVersion = opts.protocolVersion ?? 4;
  const ingest: IngestMode = opts.ingest ?? 'exclusive';
  if (ingest === 'shared' && protocolVersion !== 5) {
    throw new EdgekdError('EDGEKD_CONFIG_INVALID', 'shared ingest needs an MQTT 5 broker (protocolVersion 5); the embedded broker speaks MQTT 3.1.1 only');
  }
  const chunkBytes = opts.chunkBytes ?? 64 * 1024;
  const maxPackageBytes = opts.maxPackageBytes ?? 256 * 2 ** 20;
  const tokenTtlMs = opts.downloadTokenTtlMs ?? 15 * 60_000;
  // Shared through the store: any process serving downloads checks the tokens of this one's offers.
  const tokenSecret = await store.downloadSecret(now());
  const codecOptions: CodecOptions = opts.messageLimits ? { maxBytes: opts.messageLimits } : {};
  let httpBaseUrl = opts.httpBaseUrl;
  const own = { httpDownloads: 0, rejectedMessages: 0, droppedMessages: 0 };
  const active = new Map<string, ActiveRollout>();
  const packages = new Map<string, Promise<LoadedPackage>>();
  const reportQueue = new SerialQueue();
  const heartbeats = createHeartbeatWriter({ store, log });
  let closed = false;

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

  // ── MQTT link, acks, delivery, report log ──────────────────────────────
  const link = createCloudMqttLink({
    brokerUrl: opts.brokerUrl,
    protocolVersion,
    ...(opts.mqttClientId !== undefined ? { clientId: opts.mqttClientId } : {}),
    // Shared ingest uses a clean session: Mosquitto 2.0 keeps routing a share group's messages to
    // a member whose persistent session is offline (measured: the live member got 5 of 10), so a
    // stopped or dead process would swallow half the reports until its session expired. Status and
    // drift missed while no member is connected come again from the device outbox (resent until
    // acked); heartbeats are periodic.
    cleanSession: ingest === 'shared',
    ...(opts.mqttUsername ? { username: opts.mqttUsername } : {}),
    ...(opts.mqttPassword ? { password: opts.mqttPassword } : {}),
    ...(opts.mqttTls ? { tls: opts.mqttTls } : {}),
    filters: ingestFilters(ingest, opts.ingestGroup),
    log,
    onMessage: (topic, payload) => receive(topic, payload),
    // Offers are retained, but an embedded broker restarted without persistence has lost them.
    onSubscribed: () => republishInFlight(),
  });
  const acks = createAckBatcher({ send: (deviceId, keys) => link.publish('ack', deviceId, { schema: 'edgekd.ack/1', keys }) });
  const chunks = createChunkServer({
    now,
    lookup: chunkSource,
    reply: (deviceId, response) => link.publish('chunkResponse', deviceId, response),
    onParkedError: (deviceId, err) => log.warn({ deviceId, err }, 'serving a parked chunk request failed'),
    ...(opts.maxConcurrentDownloads !== undefined ? { maxConcurrentDownloads: opts.maxConcurrentDownloads } : {}),
    ...(opts.maxDownloadBytesInFlight !== undefined ? { maxDownloadBytesInFlight: opts.maxDownloadBytesInFlight } : {}),
    ...(opts.chunkResendAfterMs !== undefined ? { chunkResendAfterMs: opts.chunkResendAfterMs } : {}),
  });
  const applyStatus = (deviceId: string, report: StatusReport, seq: number, rolloutId: string | null, at: number): void => {
    const ar = rolloutId ? active.get(rolloutId) : undefined;
    if (ar) applyReport(ar, deviceId, report, seq, at);
  };
  const onDrift = (deviceId: string, report: DriftReportEnvelope, at: number): void => events.emit({ type: 'drift', deviceId, at, report });
  // Shared ingest: reports are applied in log order from the log, whichever process logged them
  // (this one included), so each is applied exactly once; exclusive: as this process logs them.
  const tail: ReportTail | null = ingest === 'shared'
    ? createReportTail({
      store, queue: reportQueue, log, ...(opts.reportPollMs !== undefined ? { pollMs: opts.reportPollMs } : {}),
      deliver: (r) => {
        if (r.kind === 'status') applyStatus(r.deviceId, r.body as StatusReport, r.seq, r.rolloutId, now());
        else if (r.kind === 'drift') onDrift(r.deviceId, r.body as DriftReportEnvelope, now());
      },
    })
    : null;
  const reports = createReportLog({
    store,
    queue: reportQueue,
    now,
    ack: (deviceId, key) => acks.queue(deviceId, key),
    ...(tail ? { onLogged: () => tail.poke() } : { applyStatus, onDrift }),
    reject: (topic, e) => reject(topic, e),
  });

  /** The chunk source of a device's own deployment while it may download (offered or installing). */
  function chunkSource(deviceId: string, req: ChunkRequest): ChunkSource | ChunkRefusal {
    const parsed = parseDeploymentId(req.deploymentId);
    const ar = parsed && parsed.deviceId === deviceId ? active.get(parsed.rolloutId) : undefined;
    const d = ar?.state.devices[deviceId];
    if (!ar || !d) return { code: 'EDGEKD_NOT_FOUND', message: `no active deployment ${req.deploymentId} for ${deviceId}` };
    if (d.state !== 'offered' && d.state !== 'in_progress') return { code: 'EDGEKD_ROLLOUT_STATE', message: `deployment ${req.deploymentId} is ${d.state}` };
    return { plan: ar.pkg.plan, bytes: ar.pkg.bytes, bucket: ar.bucket };
  }

  // ── rollouts: engine commands out ──────────────────────────────────────
  function execute(ar: ActiveRollout, cmds: EngineCommand[]): void {
    const id = ar.state.id;
    for (const c of cmds) {
      switch (c.type) {
        case 'offer':
          queueOffer(ar, c.deviceId);
          break;
        case 'cancel':
          link.publish('offer', c.deviceId, null);
          link.publish('command', c.deviceId, rollbackCommand(id, c.deviceId, ar.state.reason ?? 'canceled', now()));
          break;
        case 'rollback':
          link.publish('command', c.deviceId, rollbackCommand(id, c.deviceId, ar.state.reason ?? 'rollback', now()));
          break;
        case 'notify':
          if (c.notice.kind === 'device-state' && isDeviceTerminal(c.notice.state) && c.notice.state !== 'skipped') link.publish('offer', c.notice.deviceId, null);
          if (c.notice.kind === 'device-state' && c.notice.step !== 'downloading') chunks.release(deploymentIdOf(id, c.notice.deviceId));
          events.emit({ type: 'rollout', rolloutId: id, at: now(), notice: c.notice });
          break;
      }
    }
  }

  function apply(ar: ActiveRollout, event: EngineEvent, at = now()): void {
    const cmds = applyEvent(ar.state, event, at);
    // A tick that changed nothing (no timeout, no wave step: no command) needs no snapshot; every
    // change the engine makes emits at least a notice. A 5,000-device rollout was otherwise
    // written 10 times a second while it only waited for reports.
    if (event.type !== 'tick' || cmds.length > 0) ar.dirty = true;
    execute(ar, cmds);
  }

  // Offers are write-ahead: one is published only after a snapshot that holds the state which
  // issued it (the device offered, its offer time) is stored. A leader that dies between the two
  // leaves its successor a snapshot in which the device is already offered, so the successor
  // re-publishes the same document (same issue time) instead of issuing a second one; a leader
  // whose snapshot is refused (a stale fencing token) publishes nothing. Offers whose state could
  // not be stored are held back and tried again.
  const pendingOffers: Array<{ ar: ActiveRollout; deviceId: string }> = [];
  let offerFlush: Promise<void> | null = null;
  let offerRetry: NodeJS.Timeout | undefined;
  let offersStopped = false;
  function queueOffer(ar: ActiveRollout, deviceId: string): void {
    pendingOffers.push({ ar, deviceId });
    offerFlush ??= flushOffers().finally(() => {
      offerFlush = null;
      if (pendingOffers.length > 0 && !offerRetry && !offersStopped) offerFlush = flushOffers().finally(() => (offerFlush = null));
    });
  }
  async function flushOffers(): Promise<void> {
    const batch = pendingOffers.splice(0);
    try {
      await snapshot();
    } catch (err) {
      if (offersStopped) return;
      log.warn({ err, offers: batch.length }, 'offers held back: the state that issued them could not be stored; retrying in 1 s');
      for (const o of batch) o.ar.dirty = true;
      pendingOffers.unshift(...batch);
      offerRetry ??= setTimeout(() => {
        offerRetry = undefined;
        if (pendingOffers.length > 0 && !offersStopped) offerFlush ??= flushOffers().finally(() => (offerFlush = null));
      }, 1_000);
      return;
    }
    if (offersStopped) return;
    for (const { ar, deviceId } of batch) {
      const d = ar.state.devices[deviceId];
      // Only what is still offered goes out: a device may have reported or timed out meanwhile.
      if (!d || (d.state !== 'offered' && d.state !== 'in_progress')) continue;
      try {
        link.publish('offer', deviceId, buildOffer(ar.state, deviceId, ar.pkg, { now: now(), httpBaseUrl, tokenSecret, tokenTtlMs }));
      } catch (err) {
        log.error({ rolloutId: ar.state.id, deviceId, err }, 'cannot build offer');
      }
    }
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

  function applyReport(ar: ActiveRollout, deviceId: string, r: StatusReport, seq: number, at: number): void {
    ar.appliedSeq = Math.max(ar.appliedSeq, seq);
    ar.dirty = true;
    if (r.deploymentId !== deploymentIdOf(ar.state.id, deviceId)) return; // another device's id or another deployment
    const last = ar.lastSeq.get(deviceId) ?? -1;
    if (r.seq < last) return; // an older report redelivered after a newer one: already superseded
    ar.lastSeq.set(deviceId, r.seq);
    apply(ar, statusToEvent(deviceId, r), at);
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

  // Only provisioned devices that are not revoked get anything stored, acked or answered.
  const known = createKnownDevices({ store, now });

  function drop(topic: string, deviceId: string): void {
    own.droppedMessages++;
    count('dropped', topic, 'unknown-device');
    log.warn({ topic: topic.slice(0, 300), deviceId }, 'dropped a message from a device that is not provisioned');
  }

  function reject(topic: string, e: unknown): void {
    const err = toEdgekdError(e, 'EDGEKD_MESSAGE_INVALID');
    own.rejectedMessages++;
    count('rejected', topic, err.code);
    log.warn({ topic, code: err.code, err }, 'rejected message');
    events.emit({ type: 'message-rejected', at: now(), topic, error: { code: err.code, message: err.message } });
  }

  function receive(topic: string, payload: Buffer): void {
    const m = decodeAccepted(topic, payload, { codec: codecOptions, accepted: REPORT_KINDS, consumer: 'the cloud', reject });
    if (!m) return;
    known.isKnown(m.deviceId).then(
      (known) => (known ? dispatch(topic, m) : drop(topic, m.deviceId)),
      (e: unknown) => reject(topic, e),
    );
  }

  function dispatch(topic: string, msg: Decoded): void {
    try {
      switch (msg.kind) {
        case 'status':
          reports.status(topic, msg.deviceId, msg.message);
          break;
        case 'drift':
          reports.drift(topic, msg.deviceId, msg.message);
          break;
        case 'chunkRequest':
          chunks.request(msg.deviceId, msg.message);
          break;
        case 'heartbeat': {
          const h = msg.message;
          heartbeats.record({ deviceId: msg.deviceId, at: now(), heartbeat: h, activeModel: h.activeModel, agentVersion: h.agentVersion });
          events.emit({ type: 'heartbeat', deviceId: msg.deviceId, at: now(), heartbeat: h });
          break;
        }
        case 'presence':
          void onPresence(msg.deviceId, msg.message).catch((e) => reject(topic, e));
          break;
        default:
          reject(topic, new EdgekdError('EDGEKD_MESSAGE_INVALID', `the cloud does not accept ${msg.kind} messages`));
      }
    } catch (e) {
      reject(topic, e);
    }
  }

  async function onPresence(deviceId: string, p: Presence | null): Promise<void> {
    if (p) {
      const update = { deviceId, presence: p.state, bootSeq: p.bootSeq, sessionSeq: p.sessionSeq, at: now(), ...(p.activeModel !== undefined ? { activeModel: p.activeModel } : {}), ...(p.agentVersion ? { agentVersion: p.agentVersion } : {}) };
      if (!(await store.applyPresence(update))) return; // stale (an older session's will) or unknown device
    }
    events.emit({ type: 'presence', deviceId, at: now(), presence: p });
  }

  // ── persistence and timers ─────────────────────────────────────────────
  let lastWriteMs = 0;
  let lastWriteEnd = 0;
  async function saveDirty(): Promise<void> {
    for (const ar of [...active.values()]) {
      if (!ar.dirty) continue;
      ar.dirty = false;
      // Judged on what is written: a tick may finish the rollout while the write is in flight
      // (PostgreSQL), and dropping it then would leave the pre-finish snapshot as the last word.
      const finished = isTerminal(ar.state.status);
      const t0 = performance.now();
      await store.saveRollout(ar.state, ar.appliedSeq);
      lastWriteEnd = performance.now();
      lastWriteMs = lastWriteEnd - t0;
      if (finished) active.delete(ar.state.id);
    }
  }

  // Snapshots go through the report queue so a snapshot never records an applied sequence number
  // ahead of a report still being applied.
  const snapshot = (): Promise<void> => reportQueue.run(saveDirty);

  // A snapshot is the whole engine state (5,000 devices: ~0.6 MB of JSON, tens of ms to serialise
  // and write) and holds the report queue while it is written. The report log is the write-ahead
  // log, so a later snapshot loses nothing (a resume replays more): periodic snapshots wait 9× the
  // last write's duration after it (at most ~10% of the time), but never more than 1 s, since
  // other processes read rollout progress from the snapshots. A rollout that just finished is
  // written at once, as are operator actions and rollout creation.
  const snapshotTimer = setInterval(() => {
    const finishing = [...active.values()].some((ar) => ar.dirty && isTerminal(ar.state.status));
    if (!finishing && performance.now() < lastWriteEnd + Math.min(9 * lastWriteMs, 1_000)) return;
    void snapshot().catch((err) => log.error({ err }, 'snapshot failed'));
  }, opts.snapshotMs ?? 100);
  const tickTimer = setInterval(() => {
    for (const ar of active.values()) if (!isTerminal(ar.state.status)) apply(ar, { type: 'tick' });
    chunks.expireIdle();
  }, opts.tickMs ?? 250);
  let stopListening = async (): Promise<void> => undefined;
  const stopTimers = (): void => {
    clearInterval(snapshotTimer);
    clearInterval(tickTimer);
    offersStopped = true;
    clearTimeout(offerRetry);
    tail?.close();
  };

  // ── resume after a restart ─────────────────────────────────────────────
  // Inside the report queue: reports arriving meanwhile wait until their rollout is loaded.
  await reportQueue.run(async () => {
    // Shared ingest: the tail takes over after the last report logged now; replays stop there.
    const tailFrom = tail ? await store.lastReportSeq() : undefined;
    for (const { state, appliedReportSeq } of await store.loadRollouts({ activeOnly: true })) {
      const pkg = await loadPackage(state.spec.packageId);
      const ar: ActiveRollout = { state, appliedSeq: appliedReportSeq, dirty: false, pkg, bucket: bucketFor(state), lastSeq: new Map() };
      active.set(state.id, ar);
      // Reports logged after the snapshot are the write-ahead log: apply them again, in order.
      await reports.replay(state.id, appliedReportSeq, (deviceId, r, seq, at) => applyReport(ar, deviceId, r, seq, at), tailFrom);
      apply(ar, { type: 'tick' });
      log.info({ rolloutId: state.id, status: state.status }, 'resumed rollout');
    }
    await saveDirty();
    if (tail && tailFrom !== undefined) tail.start(tailFrom);
  });
  if (tail && opts.reportNotices) {
    stopListening = await opts.reportNotices.listen(() => tail.poke()).catch((err: unknown) => {
      log.warn({ err }, 'cannot listen for reports logged by other processes; polling the report log');
      return async () => undefined;
    });
  }

  function bucketFor(s: RolloutState): TokenBucket | null {
    const rate = s.spec.bandwidthBytesPerSecond;
    return rate > 0 ? new TokenBucket(rate, Math.max(rate, chunkBytes), now()) : null;
  }

  if (link.connected) republishInFlight(); // connected while resuming: offers of resumed rollouts go out now
  // The connection may already be up (resuming rollouts above can take longer than connecting).
  await link.waitConnected(opts.connectTimeoutMs ?? 10_000).catch(async (e: unknown) => {
    stopTimers();
    await heartbeats.close();
    await stopListening();
    throw e;
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
    own.httpDownloads++;
    const bytes = ar.pkg.bytes;
    return { sizeBytes: bytes.length, read: async (start, end) => bytes.subarray(start, end), sha256: ar.pkg.plan.sha256, bucket: ar.bucket };
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
      if (spec.delivery === 'http' && !httpBaseUrl) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'HTTP delivery needs a download address (httpBaseUrl or listenHttp(); edgekd cloud --download-url)');
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
      await app.register(fleetDownloadPlugin, { secret: tokenSecret, now, resolve: downloadResolve });
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
    stats: () => ({ ...link.traffic(), ...chunks.counters(), ...reports.counters(), reportsFromLog: tail?.delivered() ?? 0, ...own }),
    messageCounters: () => [...counters.values()],
    async flush() {
      await reportQueue.run(async () => undefined);
      // Shared ingest: a batch logged just now woke the tail, whose read is queued behind the above.
      if (tail) await reportQueue.run(async () => undefined);
      acks.flush();
      await snapshot();
    },
    async close() {
      if (closed) return;
      closed = true;
      stopTimers();
      acks.flush();
      await snapshot().catch(() => undefined);
      await heartbeats.close();
      await stopListening();
      await link.close();
    },
  };
  return controller;
}

