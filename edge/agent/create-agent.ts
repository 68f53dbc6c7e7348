import { randomUUID } from 'node:crypto';
import { mkdir, readFile, statfs } from 'node:fs/promises';
import { arch, cpus, loadavg, platform } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { parseJson } from '../../shared/contracts/parse';
import { EdgekdError, toEdgekdError } from '../../shared/errors';
import { createLogger, type Logger } from '../../shared/log/logger';
import { parseModelManifest, parseTrustedKeys, type ModelManifest } from '../../shared/package';
import { encode, isoTime, type ChunkResponse, type Decoded, type DriftReportEnvelope, type Heartbeat, type InferenceRequest, type InferenceResponse, type ModelRef, type Presence, type StatusReport } from '../../shared/protocol';
import { createStateStore, type AgentState, type StateStore } from '../deploy/deployment-record';
import { createReconciler, type Reconciler, type ReportFields } from '../deploy/reconciler';
import type { InferenceEngine } from '../inference/engine';
import { createHttpEndpoint } from '../inference/http-endpoint';
import { createLightEngine } from '../inference/light-engine';
import { createModelRuntime, type InferenceObserver, type LoadedModel, type ModelRuntime } from '../inference/model-runtime';
import { percentile } from '../../shared/math/percentile';
import { openOutbox, type Outbox } from '../storage/outbox';
import { createSlotStore, SLOT_FILES, type SlotName } from '../storage/slots';
import { AGENT_VERSION, MAX_ONNX_OPSET } from './agent-version';
import { resolveAgentConfig, type ResolvedAgentConfig } from './config';
import { createMqttLink, type MqttLink, type MqttLinkDeps } from './mqtt-link';

/** Called after the serving model changed (activation, rollback, restart): the drift monitor resets on it. */
export type ModelChangeListener = (manifest: ModelManifest | null, ref: ModelRef | null) => void;

export interface AgentDeps {
  /** A resolved config, or a raw object validated here. */
  readonly config: ResolvedAgentConfig | Record<string, unknown>;
  /** Inference engine (default from config: onnxruntime, or the light simulation engine). */
  readonly engine?: InferenceEngine;
  readonly nowMs?: () => number;
  readonly newId?: () => string;
  readonly logger?: Logger;
  readonly connect?: MqttLinkDeps['connect'];
  readonly fetchImpl?: typeof fetch;
}

export interface AgentStatus {
  readonly deviceId: string;
  readonly bootId: string;
  readonly connected: boolean;
  readonly activeModel: ModelRef | null;
  readonly executionProvider: string | null;
  readonly deployment: { deploymentId: string; state: string } | null;
  readonly outboxPending: number;
}

export interface Agent {
  readonly deviceId: string;
  readonly bootId: string;
  /** Opens storage, restores the active model, starts HTTP, MQTT, timers and any resumed deployment. */
  start(): Promise<void>;
  /** Clean stop: offline/shutdown presence, timers off, sessions released, storage closed. */
  stop(): Promise<void>;
  /** Inference observers (the drift monitor's hook); push/splice freely. */
  readonly inferenceObservers: InferenceObserver[];
  onModelChange(listener: ModelChangeListener): () => void;
  /** Wraps a drift statistics body in the protocol envelope and appends it to the outbox. */
  reportDrift(stats: Record<string, unknown>, model: ModelRef, window: DriftReportEnvelope['window']): void;
  infer: ModelRuntime['infer'];
  status(): AgentStatus;
  httpAddress(): AddressInfo | null;
  whenConnected(): Promise<void>;
  /** Resolves when the deployment loop has nothing to do (tests). */
  idle(): Promise<void>;
  readonly runtime: ModelRuntime;
}

/**
 * The composition root: builds every part from the configuration and injected engine/clock/ids,
 * without starting anything until `start()` (so tests can build agents freely).
 */
/** Longest a clean stop waits for the acks of reports already sent. */
const STOP_DRAIN_MS = 2_000;

export function createAgent(deps: AgentDeps): Agent {
  // Always validated: resolving an already resolved configuration is a no-op.
  const config: ResolvedAgentConfig = resolveAgentConfig(deps.config);
  const log = (deps.logger ?? createLogger('edge-agent')).child({ deviceId: config.deviceId });
  const nowMs = deps.nowMs ?? Date.now;
  const newId = deps.newId ?? randomUUID;
  const bootId = newId();
  const startedAt = nowMs();
  const engine = deps.engine ?? (config.inference.engine === 'light' ? createLightEngine() : undefined);
  let resolvedEngine: InferenceEngine | null = engine ?? null;

  const slots = createSlotStore(config.stateDir);
  let store!: StateStore;
  const listeners: ModelChangeListener[] = [];
  const chunkHandlers = new Set<(r: ChunkResponse) => void>();
  let runtime!: ModelRuntime;
  let outbox: Outbox | null = null;
  let state: AgentState | null = null;
  let reconciler: Reconciler | null = null;
  let link: MqttLink | null = null;
  let http: ReturnType<typeof createHttpEndpoint> | null = null;
  let httpAddr: AddressInfo | null = null;
  let timers: NodeJS.Timeout[] = [];
  let flushing = false;
  let progress: { deploymentId: string; bytesDone: number; bytesTotal: number } | null = null;
  let lastServing: string | null = null;
  /** Announced in presence so the cloud can watch a key rotation reach the fleet. */
  let trustedKeyIds: string[] = [];
  const observers: InferenceObserver[] = [];

  const notifyModelChange = (): void => {
    const a = runtime.active();
    const key = a?.ref.sha256 ?? null;
    if (key === lastServing) return;
    lastServing = key;
    for (const l of listeners) {
      try {
        l(a?.manifest ?? null, a?.ref ?? null);
      } catch (e) {
        log.warn({ err: e }, 'model change listener failed');
      }
    }
  };

  const presence = (s: 'online' | 'offline', sessionSeq: number): Presence => {
    const p: Presence = {
      schema: 'edgekd.presence/1', deviceId: config.deviceId, state: s, bootId, bootSeq: state?.bootSeq ?? 0, sessionSeq, ts: isoTime(nowMs()),
      agentVersion: AGENT_VERSION,
      runtime: { onnxruntime: resolvedEngine?.runtimeVersion ?? 'unknown', executionProviders: [...config.inference.executionProviders], platform: platform(), arch: arch(), node: process.versions.node },
      activeModel: runtime?.active()?.ref ?? null,
      trustedKeyIds,
    };
    if (s === 'offline') p.reason = 'lost';
    return p;
  };

  /**
   * Publishes outbox rows: `all` (after a connect) resends every unacked row once; otherwise only
   * rows never sent or last sent more than the resend interval ago. Rows stay until acked.
   */
  let flushAgain = false;
  const flushOutbox = async (all: boolean): Promise<void> => {
    if (flushing) {
      flushAgain = true;
      return;
    }
    if (!link?.connected || !outbox) return;
    flushing = true;
    try {
      // Only rows already fsynced leave the device: the cloud never sees a report a power cut could undo.
      const maxSeq = await outbox.durable();
      const sentBeforeMs = all ? Number.MAX_SAFE_INTEGER : nowMs() - config.outboxResendIntervalMs;
      let afterSeq = 0;
      while (outbox && link.connected) {
        const batch = outbox.pending(100, { sentBeforeMs, afterSeq, maxSeq });
        if (batch.length === 0 || !link.connected) break;
        await Promise.all(batch.map((e) => link!.publishRaw(e.kind, e.payload)));
        outbox?.markSent(batch.map((e) => e.seq), nowMs());
        afterSeq = batch[batch.length - 1]!.seq;
      }
    } catch (e) {
      log.debug({ err: e }, 'outbox delivery interrupted; retried on reconnect');
    } finally {
      flushing = false;
    }
    if (flushAgain) {
      flushAgain = false;
      await flushOutbox(false);
    }
  };

  const report = (fields: ReportFields): void => {
    if (!outbox) return;
    outbox.append('status', (seq, key) => {
      const doc: StatusReport = { schema: 'edgekd.status/1', deviceId: config.deviceId, bootId, seq, idempotencyKey: key, ts: isoTime(nowMs()), ...fields };
      encode('status', config.deviceId, doc); // validate before it is stored
      return doc;
    });
    notifyModelChange();
    void flushOutbox(false);
  };

  const heartbeat = (): Heartbeat => {
    const w = runtime.drainWindow();
    const a = runtime.active();
    const cur = reconciler?.current() ?? null;
    const mem = process.memoryUsage();
    const hb: Heartbeat = {
      schema: 'edgekd.heartbeat/1', deviceId: config.deviceId, bootId, ts: isoTime(nowMs()), intervalMs: config.heartbeatIntervalMs,
      agentVersion: AGENT_VERSION, uptimeSec: Math.max(0, (nowMs() - startedAt) / 1000),
      activeModel: a?.ref ?? null, executionProvider: a?.session.provider ?? null,
      resources: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, loadAvg: loadavg().map((x) => Math.max(0, x)), cpuCount: cpus().length },
      inference: { count: w.count, errors: w.errors, p50LatencyMs: percentile(w.latenciesMs, 50), p95LatencyMs: percentile(w.latenciesMs, 95) },
      outboxPending: outbox?.count() ?? 0,
    };
    if (cur) {
      hb.deployment = { deploymentId: cur.deploymentId, state: cur.state };
      if (progress?.deploymentId === cur.deploymentId) Object.assign(hb.deployment, { bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal });
    }
    return hb;
  };

  const sendHeartbeat = (): void => {
    if (!link?.connected) return;
    link.publish('heartbeat', heartbeat()).catch((e) => log.debug({ err: e }, 'heartbeat not sent'));
  };

  const answerInference = async (req: InferenceRequest): Promise<void> => {
    let res: InferenceResponse;
    try {
      const opts: { topK?: number; includeProbabilities?: boolean } = {};
      if (req.topK !== undefined) opts.topK = req.topK;
      if (req.includeProbabilities !== undefined) opts.includeProbabilities = req.includeProbabilities;
      res = { schema: 'edgekd.infer-response/1', requestId: req.requestId, ok: true, result: await runtime.infer(req.input, opts) };
    } catch (e) {
      const err = toEdgekdError(e);
      res = { schema: 'edgekd.infer-response/1', requestId: req.requestId, ok: false, error: { code: err.code, message: err.message, retryable: err.retryable } };
    }
    await link?.publish('inferResponse', res).catch((e) => log.debug({ err: e }, 'inference response not sent'));
  };

  const onMessage = (m: Decoded): void => {
    switch (m.kind) {
      case 'offer':
        reconciler?.offer(m.message);
        break;
      case 'command':
        if (m.message.type === 'rollback') reconciler?.rollback(m.message);
        else {
          link?.publish('presence', presence('online', link.sessionSeq())).catch(() => undefined);
          sendHeartbeat();
        }
        break;
      case 'ack':
        outbox?.ack(m.message.keys);
        break;
      case 'chunkResponse':
        for (const h of chunkHandlers) h(m.message);
        break;
      case 'inferRequest':
        if (config.inference.mqttEnabled) void answerInference(m.message);
        break;
      default:
        log.debug({ kind: m.kind }, 'ignored a message of a device→cloud kind');
    }
  };

  const loadSlot = async (slot: SlotName): Promise<LoadedModel> => {
    const dir = slots.slotDir(slot);
    const manifest = parseModelManifest.parse(parseJson(await readFile(join(dir, SLOT_FILES.manifest)), `slot ${slot} manifest`, 'EDGEKD_PACKAGE_INVALID'));
    return runtime.load(slots.modelPath(slot), manifest);
  };

  /** Startup: serve whatever the pointer names; a slot that will not load falls back to the previous one. */
  const restoreActive = async (): Promise<void> => {
    let pointer = await slots.readPointer();
    while (pointer) {
      try {
        runtime.setActive(await loadSlot(pointer.active.slot));
        return;
      } catch (e) {
        log.error({ err: toEdgekdError(e), slot: pointer.active.slot }, 'active slot does not load; reverting to the previous slot');
        pointer = await slots.revert();
      }
    }
  };

  const agent: Agent = {
    deviceId: config.deviceId,
    bootId,
    inferenceObservers: observers,
    get runtime() {
      return runtime;
    },
    onModelChange(l) {
      listeners.push(l);
      return () => {
        const i = listeners.indexOf(l);
        if (i >= 0) listeners.splice(i, 1);
      };
    },
    reportDrift(stats, model, window) {
      if (!outbox) throw new EdgekdError('EDGEKD_ROLLOUT_STATE', 'the agent is not started');
      outbox.append('drift', (seq, key) => {
        const doc: DriftReportEnvelope = { schema: 'edgekd.drift/1', deviceId: config.deviceId, bootId, seq, idempotencyKey: key, ts: isoTime(nowMs()), model, window, stats };
        encode('drift', config.deviceId, doc);
        return doc;
      });
      void flushOutbox(false);
    },
    infer: (input, options) => runtime.infer(input, options),
    status: () => ({
      deviceId: config.deviceId, bootId, connected: link?.connected ?? false,
      activeModel: runtime?.active()?.ref ?? null, executionProvider: runtime?.active()?.session.provider ?? null,
      deployment: reconciler?.current() ? { deploymentId: reconciler.current()!.deploymentId, state: reconciler.current()!.state } : null,
      outboxPending: outbox?.count() ?? 0,
    }),
    httpAddress: () => httpAddr,
    whenConnected: () => (link ? link.whenConnected() : Promise.reject(new EdgekdError('EDGEKD_ROLLOUT_STATE', 'the agent is not started'))),
    idle: async () => {
      await reconciler?.idle();
    },

    async start() {
      await mkdir(join(config.stateDir, 'downloads'), { recursive: true });
      const trustedKeys = parseTrustedKeys(parseJson(await readFile(config.trustedKeysFile, 'utf8').catch((e: unknown) => {
        throw new EdgekdError('EDGEKD_CONFIG_INVALID', `cannot read trusted keys ${config.trustedKeysFile}: ${(e as Error).message}`, { cause: e });
      }), 'trusted keys', 'EDGEKD_CONFIG_INVALID'));
      trustedKeyIds = trustedKeys.keys.map((k) => k.keyId).slice(0, 64);
      if (!resolvedEngine) resolvedEngine = (await import('../inference/ort-engine')).createOrtEngine();
      runtime = createModelRuntime({
        engine: resolvedEngine,
        sessionOptions: { executionProviders: config.inference.executionProviders, intraOpThreads: config.inference.intraOpThreads },
        onObserverError: (e) => log.warn({ err: e }, 'inference observer failed'),
        // A Jetson with the npm (CPU-only) onnxruntime lands here on every model load: say why.
        onProviderFallback: (used, failures, modelPath) => log.warn({ used, failures, modelPath }, `execution provider fallback: running on ${used}`),
      });
      // Observers registered on the agent see every inference of the runtime.
      runtime.observers.push((ev) => {
        for (const o of observers) {
          try {
            o(ev);
          } catch (e) {
            log.warn({ err: e }, 'inference observer failed');
          }
        }
      });
      outbox = openOutbox(config.stateDir, newId);
      store = createStateStore(config.stateDir, outbox);
      state = await store.load();
      state.bootSeq += 1;
      await store.save(state);
      await store.durable(); // bootSeq orders presence documents: never reused after a power cut
      await restoreActive();
      notifyModelChange();

      reconciler = createReconciler({
        store, state, log, nowMs, config, report,
        onProgress: (deploymentId, bytesDone, bytesTotal) => (progress = { deploymentId, bytesDone, bytesTotal }),
        baseContext: {
          config, slots, runtime, trustedKeys,
          chunks: {
            request: (req) => {
              link?.publish('chunkRequest', req).catch(() => undefined);
            },
            onResponse: (h) => {
              chunkHandlers.add(h);
              return () => chunkHandlers.delete(h);
            },
          },
          runtimeVersion: resolvedEngine.runtimeVersion,
          maxOpset: MAX_ONNX_OPSET,
          nowMs, newId,
          diskFreeBytes: async () => {
            try {
              const s = await statfs(config.stateDir);
              return s.bavail * s.bsize;
            } catch {
              return null;
            }
          },
          ...(deps.fetchImpl ? { fetchImpl: deps.fetchImpl } : {}),
          loadSlot,
          manifestOf: () => parseModelManifest.parse(reconciler!.current()!.offer.manifest),
        },
      });

      if (config.http.enabled) {
        http = createHttpEndpoint({ infer: (i, o) => runtime.infer(i, o), health: () => agent.status(), maxBodyBytes: config.http.maxBodyBytes });
        httpAddr = await http.listen(config.http.host, config.http.port);
        log.info({ address: httpAddr }, 'inference endpoint listening');
      }

      const linkDeps: MqttLinkDeps = {
        config, log, presence, onMessage,
        onConnected: () => {
          sendHeartbeat();
          void flushOutbox(true);
        },
      };
      link = createMqttLink(deps.connect ? { ...linkDeps, connect: deps.connect } : linkDeps);
      link.start();
      await reconciler.recover();
      timers = [
        setInterval(sendHeartbeat, config.heartbeatIntervalMs),
        setInterval(() => void flushOutbox(false), config.outboxResendIntervalMs),
      ];
      log.info({ bootSeq: state.bootSeq, activeModel: runtime.active()?.ref ?? null }, 'agent started');
    },

    async stop() {
      for (const t of timers) clearInterval(t);
      timers = [];
      await reconciler?.stop();
      // A clean stop lets acks already on their way arrive (bounded): reports whose ack is in
      // flight would otherwise be resent after the next start. Correctness never depends on this
      // (the cloud dedups by idempotency key); it only spares the cloud those duplicates.
      const drainUntil = Date.now() + STOP_DRAIN_MS;
      while (link?.connected && outbox && outbox.count() > 0 && Date.now() < drainUntil) {
        await flushOutbox(false);
        await new Promise((r) => setTimeout(r, 20));
      }
      await link?.stop();
      await http?.close();
      const a = runtime?.active();
      if (a) await a.session.release().catch(() => undefined);
      outbox?.close();
      outbox = null;
    },
  };
  return agent;
}
