import { createHash } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { ModelPackage } from '../../../shared/package';
import {
  decode, encode, topicFilter, topicFor, type Command, type Decoded, type DriftReportEnvelope, type Heartbeat, type InferenceResponse, type Offer, type Presence, type StatusReport,
} from '../../../shared/protocol';

/**
 * A minimal test-side cloud speaking protocol v1: publishes offers (retained), answers chunk
 * requests from registered packages, acks reports (dedup on idempotency key) and records
 * everything it sees. It is a test double for `cloud/fleet/`, small enough to read in one go.
 */
export interface FakeCloud {
  readonly statuses: StatusReport[];
  readonly presences: Presence[];
  readonly heartbeats: Heartbeat[];
  readonly chunkRequests: Array<{ deviceId: string; index: number }>;
  readonly inferResponses: InferenceResponse[];
  readonly drifts: DriftReportEnvelope[];
  readonly duplicates: number;
  /** Unique report keys applied (what a real cloud would store). */
  readonly applied: Set<string>;
  addPackage(pkg: ModelPackage): void;
  offer(deviceId: string, offer: Offer | null): Promise<void>;
  command(deviceId: string, cmd: Command): Promise<void>;
  publishRaw(topic: string, payload: Buffer, retain?: boolean): Promise<void>;
  /** Stop/start acking reports (to test redelivery). */
  setAcking(on: boolean): void;
  /** Tamper with served chunks: called per chunk, may return altered bytes. */
  setChunkTamper(fn: ((index: number, data: Uint8Array) => Uint8Array) | null): void;
  /** Drop chunk requests (simulates a slow cloud) while on. */
  setServing(on: boolean): void;
  waitFor<T>(pred: () => T | undefined | false, timeoutMs?: number): Promise<T>;
  statesOf(deviceId: string, deploymentId: string): string[];
  close(): Promise<void>;
}

export function makeOffer(pkg: ModelPackage, o: { deploymentId: string; rolloutId?: string; chunkBytes?: number; activation?: Offer['activation']; allowDowngrade?: boolean; timeoutsMs?: Offer['timeoutsMs'] }): Offer {
  const chunkBytes = o.chunkBytes ?? 1024;
  const chunks: string[] = [];
  for (let i = 0; i < pkg.model.length; i += chunkBytes) chunks.push(createHash('sha256').update(pkg.model.subarray(i, i + chunkBytes)).digest('hex'));
  const offer: Offer = {
    schema: 'edgekd.offer/1', deploymentId: o.deploymentId, rolloutId: o.rolloutId ?? 'rollout-1', issuedAt: new Date().toISOString(),
    model: { name: pkg.manifest.name, version: pkg.manifest.version, sha256: pkg.manifest.model.sha256 },
    manifest: pkg.manifest as unknown as Record<string, unknown>,
    signature: pkg.signature,
    delivery: { sizeBytes: pkg.model.length, sha256: pkg.manifest.model.sha256, chunkBytes, chunkSha256: chunks },
  };
  if (o.activation) offer.activation = o.activation;
  if (o.allowDowngrade) offer.allowDowngrade = true;
  if (o.timeoutsMs) offer.timeoutsMs = o.timeoutsMs;
  return offer;
}

/**
 * `devices`: subscribe to these devices' topics only. Needed on a broker shared with other tests
 * (Mosquitto): a wildcard subscription there also receives, and answers, every other test's
 * devices, and under a large simulated fleet the broker's per-client queue limit drops messages.
 */
export async function startFakeCloud(url: string, packages: ModelPackage[], devices?: readonly string[]): Promise<FakeCloud> {
  const client: MqttClient = mqtt.connect(url, { clientId: `fake-cloud-${process.pid}-${Math.random().toString(16).slice(2)}`, protocolVersion: 4, reconnectPeriod: 200 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const byHash = new Map(packages.map((p) => [p.manifest.model.sha256, p]));
  const offers = new Map<string, Offer>();
  let acking = true;
  let serving = true;
  let tamper: ((i: number, d: Uint8Array) => Uint8Array) | null = null;
  const cloud = {
    statuses: [] as StatusReport[], presences: [] as Presence[], heartbeats: [] as Heartbeat[],
    chunkRequests: [] as Array<{ deviceId: string; index: number }>, inferResponses: [] as InferenceResponse[], drifts: [] as DriftReportEnvelope[], duplicates: 0, applied: new Set<string>(),
  };
  const publish = (topic: string, payload: Buffer, retain = false): Promise<void> =>
    new Promise((resolve, reject) => client.publish(topic, payload, { qos: 1, retain }, (e) => (e ? reject(e) : resolve())));

  client.on('message', (topic, payload) => {
    let m: Decoded;
    try {
      m = decode(topic, payload);
    } catch {
      return;
    }
    if (m.kind === 'status' || m.kind === 'drift') {
      if (cloud.applied.has(m.message.idempotencyKey)) cloud.duplicates++;
      else {
        cloud.applied.add(m.message.idempotencyKey);
        if (m.kind === 'status') cloud.statuses.push(m.message);
        else cloud.drifts.push(m.message);
      }
      if (acking) {
        const out = encode('ack', m.deviceId, { schema: 'edgekd.ack/1', keys: [m.message.idempotencyKey] });
        void publish(out.topic, out.payload);
      }
    } else if (m.kind === 'presence' && m.message) cloud.presences.push(m.message);
    else if (m.kind === 'heartbeat') cloud.heartbeats.push(m.message);
    else if (m.kind === 'inferResponse') cloud.inferResponses.push(m.message);
    else if (m.kind === 'chunkRequest') {
      cloud.chunkRequests.push({ deviceId: m.deviceId, index: m.message.index });
      if (!serving) return;
      const req = m.message;
      const pkg = byHash.get(req.sha256);
      const offer = offers.get(`${m.deviceId}/${req.deploymentId}`);
      const header = { schema: 'edgekd.chunk/1' as const, requestId: req.requestId, deploymentId: req.deploymentId, sha256: req.sha256, index: req.index, offset: 0 };
      if (!pkg || !offer) {
        const out = encode('chunkResponse', m.deviceId, { header: { ...header, error: { code: 'EDGEKD_NOT_FOUND', message: 'unknown deployment' } }, data: new Uint8Array(0) });
        void publish(out.topic, out.payload);
        return;
      }
      const cb = offer.delivery.chunkBytes;
      let data: Uint8Array = pkg.model.subarray(req.index * cb, (req.index + 1) * cb);
      if (tamper) data = tamper(req.index, data);
      const out = encode('chunkResponse', m.deviceId, { header: { ...header, offset: req.index * cb }, data });
      void publish(out.topic, out.payload);
    }
  });
  await new Promise<void>((resolve, reject) =>
    client.subscribe(
      (['status', 'drift', 'presence', 'heartbeat', 'chunkRequest', 'inferResponse'] as const).flatMap((k) => (devices ? devices.map((d) => topicFor(k, d)) : [topicFilter(k)])),
      { qos: 1 },
      (e) => (e ? reject(e) : resolve()),
    ),
  );

  return {
    ...cloud,
    get duplicates() {
      return cloud.duplicates;
    },
    addPackage: (pkg) => void byHash.set(pkg.manifest.model.sha256, pkg),
    async offer(deviceId, offer) {
      if (offer) offers.set(`${deviceId}/${offer.deploymentId}`, offer);
      const out = encode('offer', deviceId, offer);
      await publish(out.topic, out.payload, true);
    },
    async command(deviceId, cmd) {
      const out = encode('command', deviceId, cmd);
      await publish(out.topic, out.payload);
    },
    publishRaw: publish,
    setAcking: (on) => void (acking = on),
    setChunkTamper: (fn) => void (tamper = fn),
    setServing: (on) => void (serving = on),
    async waitFor(pred, timeoutMs = 30_000) {
      const t0 = Date.now();
      for (;;) {
        const v = pred();
        if (v) return v as never;
        if (Date.now() - t0 > timeoutMs) throw new Error(`waitFor timed out after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    statesOf: (deviceId, deploymentId) => cloud.statuses.filter((s) => s.deviceId === deviceId && s.deploymentId === deploymentId).map((s) => s.state),
    close: () => new Promise<void>((resolve) => client.end(true, {}, () => resolve())),
  };
}
