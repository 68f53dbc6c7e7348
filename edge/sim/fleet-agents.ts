import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Logger } from '../../shared/log/logger';
import { createAgent, type Agent } from '../agent/create-agent';
import { resolveAgentConfig } from '../agent/config';

/** What one simulation process runs: a slice of the fleet, every agent real (own MQTT connection, own state dir, own outbox). */
export interface FleetSliceSpec {
  readonly deviceIds: readonly string[];
  readonly brokerUrl: string;
  readonly trustedKeysFile: string;
  /** Each agent gets `<stateDir>/<deviceId>`. */
  readonly stateDir: string;
  readonly engine: 'light' | 'onnxruntime';
  readonly protocolVersion: 4 | 5;
  readonly heartbeatIntervalMs: number;
  /** Agents started concurrently (connect storms make brokers drop CONNECTs). */
  readonly startConcurrency: number;
  readonly username?: string;
  readonly password?: string;
  /** First reconnect backoff window (default: the agent's, mqtt.reconnectPeriodMs). */
  readonly reconnectPeriodMs?: number;
  /** How long an agent waits for a CONNACK (default: the agent's 10 s). */
  readonly connectTimeoutMs?: number;
  /** Per-device passwords (username = device id), as provisioned; wins over username/password. */
  readonly credentials?: Readonly<Record<string, string>>;
  /**
   * Drift report period of every agent (default 0: off). The agents attach the same drift monitor
   * as `edgekd agent` from this configuration value; it is off by default because the light
   * engine's outputs are stand-ins (drift statistics over them mean nothing) and the fleet
   * benches count the reports the outbox wrote against the rollout's.
   */
  readonly driftReportEveryMs?: number;
  /** Field baseline of every agent's drift monitor (default: the agent's). */
  readonly driftBaselineSamples?: number;
}

export interface FleetSliceStatus {
  agents: number;
  connected: number;
  /** active model "name@version" (or "none") → agent count */
  byModel: Record<string, number>;
  outboxPending: number;
}

export interface FleetSlice {
  start(): Promise<void>;
  status(): FleetSliceStatus;
  /** Reports each agent ever wrote to its outbox (the outbox's AUTOINCREMENT high-water mark). */
  reportsWritten(): Record<string, number>;
  stop(): Promise<void>;
  readonly agents: readonly Agent[];
}

export function createFleetSlice(spec: FleetSliceSpec, logger: Logger): FleetSlice {
  const agents: Agent[] = spec.deviceIds.map((deviceId) => {
    const mqttCfg: Record<string, unknown> = { url: spec.brokerUrl, protocolVersion: spec.protocolVersion, keepaliveSec: 60 };
    // Unset: the agent's own default backoff base, so a simulated fleet reconnects like a real one.
    if (spec.reconnectPeriodMs !== undefined) mqttCfg.reconnectPeriodMs = spec.reconnectPeriodMs;
    if (spec.username !== undefined) mqttCfg.username = spec.username;
    if (spec.password !== undefined) mqttCfg.password = spec.password;
    if (spec.connectTimeoutMs !== undefined) mqttCfg.connectTimeoutMs = spec.connectTimeoutMs;
    const own = spec.credentials?.[deviceId];
    if (own !== undefined) {
      mqttCfg.username = deviceId;
      mqttCfg.password = own;
    }
    const config = resolveAgentConfig({
      deviceId,
      stateDir: join(spec.stateDir, deviceId),
      trustedKeysFile: spec.trustedKeysFile,
      mqtt: mqttCfg,
      http: { enabled: false },
      inference: { engine: spec.engine, intraOpThreads: 1 },
      heartbeatIntervalMs: spec.heartbeatIntervalMs,
      outboxResendIntervalMs: 10_000,
      driftReportEveryMs: spec.driftReportEveryMs ?? 0,
      ...(spec.driftBaselineSamples !== undefined ? { driftBaselineSamples: spec.driftBaselineSamples } : {}),
    });
    return createAgent({ config, logger });
  });
  return {
    agents,
    async start() {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < agents.length) {
          const a = agents[next++]!;
          await a.start();
          await a.whenConnected();
        }
      };
      await Promise.all(Array.from({ length: Math.min(spec.startConcurrency, agents.length) }, worker));
    },
    status() {
      const s: FleetSliceStatus = { agents: agents.length, connected: 0, byModel: {}, outboxPending: 0 };
      for (const a of agents) {
        const st = a.status();
        if (st.connected) s.connected++;
        const k = st.activeModel ? `${st.activeModel.name}@${st.activeModel.version}` : 'none';
        s.byModel[k] = (s.byModel[k] ?? 0) + 1;
        s.outboxPending += st.outboxPending;
      }
      return s;
    },
    reportsWritten() {
      const out: Record<string, number> = {};
      for (const id of spec.deviceIds) {
        const db = new DatabaseSync(join(spec.stateDir, id, 'outbox.sqlite'), { readOnly: true }); // read-only: a missing file fails to open
        try {
          const row = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").get() as unknown as { seq: number } | undefined;
          out[id] = row?.seq ?? 0;
        } finally {
          db.close();
        }
      }
      return out;
    },
    async stop() {
      await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
    },
  };
}
