import { randomUUID } from 'node:crypto';
import { mkdir, readFile, statfs } from 'node:fs/promises';
import { arch, cpus, loadavg, platform } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { parseJson } from '../../shared/contracts/parse';
import { EdgekdError } from '../../shared/errors';
import { createLogger, type Logger } from '../../shared/log/logger';
import { parseTrustedKeys, type TrustedKeys } from '../../shared/package';
import type { ChunkResponse, Decoded, DriftReportEnvelope, ModelRef } from '../../shared/protocol';
import { createStateStore, type AgentState } from '../deploy/deployment-record';
import { createModelLoader, restoreActiveSlot } from '../deploy/model-loader';
import { createReconciler, type Reconciler } from '../deploy/reconciler';
import { attachDriftMonitor } from '../drift/attach-drift-monitor';
import type { DriftMonitor } from '../drift/drift-monitor';
import type { InferenceEngine } from '../inference/engine';
import { createHttpEndpoint } from '../inference/http-endpoint';
import { createLightEngine } from '../inference/light-engine';
import { createModelRuntime, type InferenceObserver, type ModelRuntime } from '../inference/model-runtime';
import { openOutbox, type Outbox } from '../storage/outbox';
import { createSlotStore } from '../storage/slots';
import { MAX_ONNX_OPSET } from './agent-version';
import { resolveAgentConfig, type ResolvedAgentConfig } from './config';
import { answerInference } from './answer-inference';
import { createModelChangeNotifier, type ModelChangeListener } from './model-change';
import { createMqttLink, type MqttLink, type MqttLinkDeps } from './mqtt-link';
import { createReporter } from './reporter';

export type { ModelChangeListener } from './model-change';

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
  /** Opens storage, restores the active model, starts HTTP, MQTT, timers, the drift monitor and any resumed deployment. */
  start(): Promise<void>;
  /** Clean stop: last drift period queued, offline/shutdown presence, timers off, sessions released, storage closed. */
  stop(): Promise<void>;
  /** Inference observers (the drift monitor's hook); push/splice freely. */
  readonly inferenceObservers: InferenceObserver[];
  onModelChange(listener: ModelChangeListener): () => void;
  /** Wraps a drift statistics body in the protocol envelope and appends it to the outbox. */
  reportDrift(stats: Record<string, unknown>, model: ModelRef, window: DriftReportEnvelope['window']): void;
  /** The drift monitor attached from configuration (`driftReportEveryMs` > 0) while started, else null. */
  driftMonitor(): DriftMonitor | null;
  infer: ModelRuntime['infer'];
  status(): AgentStatus;
  httpAddress(): AddressInfo | null;
  whenConnected(): Promise<void>;
  /** Resolves when the deployment loop has nothing to do (tests). */
  idle(): Promise<void>;
  readonly runtime: ModelRuntime;
}

/** Longest a clean stop waits for the acks of reports already sent. */
const STOP_DRAIN_MS = 2_000;

/** Everything `start()` builds; absent before it. */
interface Running {
  readonly engine: InferenceEngine;
  readonly trustedKeys: TrustedKeys;
  readonly outbox: Outbox;
  readonly state: AgentState;
  readonly reconciler: Reconciler;
  readonly link: MqttLink;
  readonly http: ReturnType<typeof createHttpEndpoint> | null;
  readonly httpAddr: AddressInfo | null;
  readonly timers: NodeJS.Timeout[];
  readonly drift: ReturnType<typeof attachDriftMonitor> | null;
}

/**
 * The composition root: builds every part from the configuration and injected engine/clock/ids,
 * without starting anything until `start()` (so tests can build agents freely). Behaviour lives
 * in the parts (reporter, reconciler and executors, model runtime and loader, MQTT link, drift
 * monitor); this function only connects them.
 */
export function createAgent(deps: AgentDeps): Agent {
  // Always validated: resolving an already resolved configuration is a no-op.
  const config: ResolvedAgentConfig = resolveAgentConfig(deps.config);
  const log = (deps.logger ?? createLogger('edge-agent')).child({ deviceId: config.deviceId });
  const nowMs = deps.nowMs ?? Date.now;
  const newId = deps.newId ?? randomUUID;
  const bootId = newId();
  const slots = createSlotStore(config.stateDir);
  const chunkHandlers = new Set<(r: ChunkResponse) => void>();
  const observers: InferenceObserver[] = [];
  /** The runtime exists from `start()` on (its engine may be imported lazily). */
  let runtime: ModelRuntime | null = null;
  let running: Running | null = null;
  /** The parts stay readable after `stop()` (status, runtime); only a second stop is a no-op. */
  let stopped = false;
  /** Set early in `start()`: the presence of the first connection already reports them. */
  let booting: { engine: InferenceEngine; trustedKeyIds: string[]; state: AgentState } | null = null;

  const modelChanges = createModelChangeNotifier(() => runtime?.active() ?? null, log);
  const reporter = createReporter({
    identity: { deviceId: config.deviceId, bootId },
    nowMs, log,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    outboxResendIntervalMs: config.outboxResendIntervalMs,
    sources: {
      servingWindow: () => runtime!.drainWindow(),
      activeModel: () => {
        const a = runtime?.active();
        return a ? { ref: a.ref, executionProvider: a.session.provider } : null;
      },
      deployment: () => running?.reconciler.current() ?? null,
      bootSeq: () => booting?.state.bootSeq ?? 0,
      runtimeInfo: () => ({
        onnxruntime: (booting?.engine ?? deps.engine)?.runtimeVersion ?? 'unknown',
        executionProviders: [...config.inference.executionProviders], platform: platform(), arch: arch(), node: process.versions.node,
      }),
      trustedKeyIds: () => booting?.trustedKeyIds ?? [],
      resources: () => {
        const mem = process.memoryUsage();
        return { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, loadAvg: loadavg().map((x) => Math.max(0, x)), cpuCount: cpus().length };
      },
    },
  });

  const onMessage = (m: Decoded): void => {
    const r = running;
    switch (m.kind) {
      case 'offer':
        r?.reconciler.offer(m.message);
        break;
      case 'command':
        if (m.message.type === 'rollback') r?.reconciler.rollback(m.message);
        else {
          r?.link.publish('presence', reporter.presence('online', r.link.sessionSeq())).catch(() => undefined);
          reporter.sendHeartbeat();
        }
        break;
      case 'ack':
        reporter.ack(m.message.keys);
        break;
      case 'chunkResponse':
        for (const h of chunkHandlers) h(m.message);
        break;
      case 'inferRequest':
        if (config.inference.mqttEnabled && r && runtime) {
          const link = r.link;
          void answerInference(runtime, m.message).then((res) => link.publish('inferResponse', res).catch((e) => log.debug({ err: e }, 'inference response not sent')));
        }
        break;
      default:
        log.debug({ kind: m.kind }, 'ignored a message of a device→cloud kind');
    }
  };

  const notStarted = (): EdgekdError => new EdgekdError('EDGEKD_ROLLOUT_STATE', 'the agent is not started');

  const agent: Agent = {
    deviceId: config.deviceId,
    bootId,
    inferenceObservers: observers,
    get runtime() {
      return runtime!;
    },
    onModelChange: (l) => modelChanges.listen(l),
    reportDrift: (stats, model, window) => reporter.drift(stats, model, window),
    driftMonitor: () => (stopped ? null : running?.drift?.monitor ?? null),
    infer: (input, options) => runtime!.infer(input, options),
    status: () => {
      const cur = running?.reconciler.current() ?? null;
      return {
        deviceId: config.deviceId, bootId, connected: running?.link.connected ?? false,
        activeModel: runtime?.active()?.ref ?? null, executionProvider: runtime?.active()?.session.provider ?? null,
        deployment: cur ? { deploymentId: cur.deploymentId, state: cur.state } : null,
        outboxPending: reporter.pending(),
      };
    },
    httpAddress: () => running?.httpAddr ?? null,
    whenConnected: () => (running ? running.link.whenConnected() : Promise.reject(notStarted())),
    idle: async () => {
      await running?.reconciler.idle();
    },

    async start() {
      await mkdir(join(config.stateDir, 'downloads'), { recursive: true });
      const trustedKeys = parseTrustedKeys(parseJson(await readFile(config.trustedKeysFile, 'utf8').catch((e: unknown) => {
        throw new EdgekdError('EDGEKD_CONFIG_INVALID', `cannot read trusted keys ${config.trustedKeysFile}: ${(e as Error).message}`, { cause: e });
      }), 'trusted keys', 'EDGEKD_CONFIG_INVALID'));
      const engine = deps.engine ?? (config.inference.engine === 'light' ? createLightEngine() : (await import('../inference/ort-engine')).createOrtEngine());
      const rt = createModelRuntime({
        engine,
        sessionOptions: { executionProviders: config.inference.executionProviders, intraOpThreads: config.inference.intraOpThreads },
        onObserverError: (e) => log.warn({ err: e }, 'inference observer failed'),
        // A Jetson with the npm (CPU-only) onnxruntime lands here on every model load: say why.
        onProviderFallback: (used, failures, modelPath) => log.warn({ used, failures, modelPath }, `execution provider fallback: running on ${used}`),
      });
      runtime = rt;
      // Observers registered on the agent see every inference of the runtime.
      rt.observers.push((ev) => {
        for (const o of observers) {
          try {
            o(ev);
          } catch (e) {
            log.warn({ err: e }, 'inference observer failed');
          }
        }
      });
      const outbox = openOutbox(config.stateDir, newId);
      const store = createStateStore(config.stateDir, outbox);
      const state = await store.load();
      state.bootSeq += 1;
      await store.save(state);
      await store.durable(); // bootSeq orders presence documents: never reused after a power cut
      booting = { engine, trustedKeyIds: trustedKeys.keys.map((k) => k.keyId).slice(0, 64), state };
      const models = createModelLoader(slots, rt);
      await restoreActiveSlot(slots, models, rt, log);
      modelChanges.check();

      let link: MqttLink | null = null;
      const reconciler = createReconciler({
        store, state, log, nowMs, config,
        // Every transition that can swap the serving model reports: the listeners hear it there.
        report: (fields) => {
          reporter.status(fields);
          modelChanges.check();
        },
        onProgress: (deploymentId, bytesDone, bytesTotal) => reporter.progress(deploymentId, bytesDone, bytesTotal),
        baseContext: {
          config, slots, runtime: rt, trustedKeys, models,
          chunks: {
            request: (req) => {
              link?.publish('chunkRequest', req).catch(() => undefined);
            },
            onResponse: (h) => {
              chunkHandlers.add(h);
              return () => chunkHandlers.delete(h);
            },
          },
          runtimeVersion: engine.runtimeVersion,
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
        },
      });

      let http: ReturnType<typeof createHttpEndpoint> | null = null;
      let httpAddr: AddressInfo | null = null;
      if (config.http.enabled) {
        http = createHttpEndpoint({ infer: (i, o) => rt.infer(i, o), health: () => agent.status(), maxBodyBytes: config.http.maxBodyBytes });
        httpAddr = await http.listen(config.http.host, config.http.port);
        log.info({ address: httpAddr }, 'inference endpoint listening');
      }

      const linkDeps: MqttLinkDeps = {
        config, log, presence: reporter.presence, onMessage,
        onConnected: () => {
          reporter.sendHeartbeat();
          void reporter.flush(true);
        },
      };
      link = createMqttLink(deps.connect ? { ...linkDeps, connect: deps.connect } : linkDeps);
      reporter.open(outbox, link);
      running = { engine, trustedKeys, outbox, state, reconciler, link, http, httpAddr, timers: [], drift: null };
      link.start();
      await reconciler.recover();
      const timers = [
        setInterval(() => reporter.sendHeartbeat(), config.heartbeatIntervalMs),
        setInterval(() => void reporter.flush(false), config.outboxResendIntervalMs),
      ];
      const drift = config.driftReportEveryMs > 0
        ? attachDriftMonitor(
            {
              inferenceObservers: observers,
              onModelChange: (l) => modelChanges.listen(l),
              reportDrift: (stats, model, window) => reporter.drift(stats, model, window),
              serving: () => rt.active(),
            },
            { reportEveryMs: config.driftReportEveryMs, baselineSamples: config.driftBaselineSamples, tickEveryMs: Math.min(10_000, config.driftReportEveryMs), logger: log },
          )
        : null;
      running = { ...running, timers, drift };
      log.info({ bootSeq: state.bootSeq, activeModel: rt.active()?.ref ?? null }, 'agent started');
    },

    async stop() {
      const r = running;
      if (!r || stopped) return;
      stopped = true;
      r.drift?.detach(); // queues the last partial period in the outbox
      for (const t of r.timers) clearInterval(t);
      await r.reconciler.stop();
      // A clean stop lets acks already on their way arrive (bounded): reports whose ack is in
      // flight would otherwise be resent after the next start. Correctness never depends on this
      // (the cloud dedups by idempotency key); it only spares the cloud those duplicates.
      await reporter.drain(STOP_DRAIN_MS);
      await r.link.stop();
      await r.http?.close();
      const a = runtime?.active();
      if (a) await a.session.release().catch(() => undefined);
      reporter.close();
      r.outbox.close();
    },
  };
  return agent;
}
