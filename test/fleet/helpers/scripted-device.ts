import { createHash, randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { decode, encode, topicFor, type MessageMap } from '../../../shared/protocol/codec';
import type { Offer } from '../../../shared/protocol/messages/offer';
import type { DeploymentState, StatusReport } from '../../../shared/protocol/messages/status';

/**
 * A minimal protocol-conformant device written only from docs/protocol.md, for tests of the
 * cloud's wiring (the real agent lives in edge/). It downloads every chunk over MQTT, checks each
 * chunk and the whole file, walks the states to `committed` and answers rollbacks.
 */
export interface ScriptedDeviceOptions {
  url: string;
  deviceId: string;
  username?: string;
  password?: string;
  /** Report `failed` with this code at `verifying`. */
  failWith?: string;
  bake?: { inferences: number; errors: number; p95LatencyMs: number };
  shadow?: { agreement: number; confidenceShift: number };
}

export interface ScriptedDevice {
  readonly reports: StatusReport[];
  readonly acked: Set<string>;
  readonly chunkRequests: number;
  bytesReceived(): number;
  /** Publishes a drift report envelope on this device's drift topic (what the agent's monitor sends). */
  publishDrift(envelope: MessageMap['drift']): Promise<void>;
  close(): Promise<void>;
}

export async function startScriptedDevice(o: ScriptedDeviceOptions): Promise<ScriptedDevice> {
  const client: MqttClient = await mqtt.connectAsync(o.url, {
    protocolVersion: 4, clientId: o.username ?? o.deviceId, clean: true, reconnectPeriod: 200,
    ...(o.username ? { username: o.username, password: o.password } : {}),
  });
  (client.stream as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
  client.on('connect', () => (client.stream as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true));
  const bootId = randomUUID();
  let seq = 0;
  let received = 0;
  let chunkRequests = 0;
  const reports: StatusReport[] = [];
  const acked = new Set<string>();
  const seen = new Set<string>();
  const waiting = new Map<string, (data: Uint8Array, header: MessageMap['chunkResponse']['header']) => void>();
  let current: Offer | null = null;

  const send = async (kind: 'status' | 'chunkRequest', message: unknown): Promise<void> => {
    const out = encode(kind, o.deviceId, message as never);
    await client.publishAsync(out.topic, out.payload, { qos: out.qos, retain: out.retain });
  };
  const report = async (offer: Offer, state: DeploymentState, extra: Partial<StatusReport> = {}): Promise<void> => {
    const r: StatusReport = {
      schema: 'edgekd.status/1', deviceId: o.deviceId, bootId, seq: seq++, idempotencyKey: randomUUID(), ts: new Date().toISOString(),
      deploymentId: offer.deploymentId, rolloutId: offer.rolloutId, state, ...extra,
    };
    reports.push(r);
    await send('status', r);
  };

  async function fetchChunk(offer: Offer, index: number): Promise<Uint8Array> {
    for (;;) {
      const requestId = randomUUID();
      const got = new Promise<{ data: Uint8Array; header: MessageMap['chunkResponse']['header'] }>((resolve) => waiting.set(requestId, (data, header) => resolve({ data, header })));
      chunkRequests++;
      await send('chunkRequest', { schema: 'edgekd.chunk-request/1', requestId, deploymentId: offer.deploymentId, sha256: offer.delivery.sha256, index });
      // A lost answer (broker restart, dropped connection) is asked for again, as the protocol says.
      const answer = await Promise.race([got, new Promise<null>((r) => setTimeout(() => r(null), 1_000))]);
      if (!answer) {
        waiting.delete(requestId);
        continue;
      }
      const { data, header } = answer;
      if (header.error) {
        await new Promise((r) => setTimeout(r, header.retryAfterMs ?? 100));
        continue;
      }
      if (createHash('sha256').update(data).digest('hex') === offer.delivery.chunkSha256[index]) return data;
    }
  }

  async function deploy(offer: Offer): Promise<void> {
    await report(offer, 'downloading', { transport: 'mqtt', bytesDone: 0, bytesTotal: offer.delivery.sizeBytes });
    const parts: Uint8Array[] = [];
    for (let i = 0; i < offer.delivery.chunkSha256.length; i++) {
      if (current?.deploymentId !== offer.deploymentId) return;
      const c = await fetchChunk(offer, i);
      received += c.length;
      parts.push(c);
    }
    await report(offer, 'verifying');
    const whole = Buffer.concat(parts);
    if (o.failWith) return report(offer, 'failed', { failedStep: 'verifying', error: { code: o.failWith, message: 'scripted failure' } });
    if (createHash('sha256').update(whole).digest('hex') !== offer.delivery.sha256) {
      return report(offer, 'failed', { failedStep: 'verifying', error: { code: 'EDGEKD_HASH_MISMATCH', message: 'whole file hash differs' } });
    }
    for (const s of ['staging', 'warming'] as const) await report(offer, s);
    if (o.shadow) await report(offer, 'shadow', { shadow: { inferences: 50, ...o.shadow } });
    await report(offer, 'activating');
    await report(offer, 'baking');
    const bake = o.bake ?? { inferences: 20, errors: 0, p95LatencyMs: 1 };
    await report(offer, 'committed', { bake: { ...bake, bakedMs: 0 } });
  }

  client.on('message', (topic, payload) => {
    let m;
    try {
      m = decode(topic, payload);
    } catch {
      return;
    }
    if (m.kind === 'offer' && m.message && !seen.has(m.message.deploymentId)) {
      seen.add(m.message.deploymentId);
      current = m.message;
      void deploy(m.message).catch(() => undefined);
    } else if (m.kind === 'chunkResponse') {
      waiting.get(m.message.header.requestId)?.(m.message.data, m.message.header);
      waiting.delete(m.message.header.requestId);
    } else if (m.kind === 'ack') {
      for (const k of m.message.keys) acked.add(k);
    } else if (m.kind === 'command' && m.message.type === 'rollback') {
      const offer = current;
      current = null;
      if (offer) void report(offer, 'rolled_back', { commandId: m.message.commandId });
    }
  });
  await client.subscribeAsync(['offer', 'command', 'ack', 'chunkResponse'].map((k) => topicFor(k as never, o.deviceId)), { qos: 1 });

  return {
    reports,
    acked,
    get chunkRequests() {
      return chunkRequests;
    },
    bytesReceived: () => received,
    async publishDrift(envelope) {
      const out = encode('drift', o.deviceId, envelope);
      await client.publishAsync(out.topic, out.payload, { qos: out.qos, retain: out.retain });
    },
    close: () => client.endAsync(true),
  };
}
