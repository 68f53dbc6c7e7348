import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, type Agent } from '../../../edge/agent/create-agent';
import { makeOffer, startFakeCloud, type FakeCloud } from '../helpers/fake-cloud';
import { agentConfigFixture } from '../helpers/agent-fixture';
import { createLogger } from '../../../shared/log/logger';
import { mlpPackage, testKey } from '../helpers/packages';
import { encode } from '../../../shared/protocol';

const silent = createLogger('test', process.env.EDGEKD_TEST_LOG ?? 'silent');
const signer = testKey();
const v1 = { pkg: mlpPackage({ name: 'tiny', version: 1, key: signer.key, hidden: 4 }), key: signer.key, trustedKeys: signer.trustedKeys };
const v2 = { pkg: mlpPackage({ name: 'tiny', version: 2, key: signer.key, hidden: 4, seed: 7 }) };
const stranger = { pkg: mlpPackage({ name: 'tiny', version: 3, key: testKey().key, hidden: 4 }) }; // signed by a key the device does not trust
const v3 = (seed: number) => ({ pkg: mlpPackage({ name: 'tiny', version: 3, key: signer.key, hidden: 4, seed }) });
const zeros = (n: number) => new Array<number>(n).fill(0);

export interface SuiteBroker {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The agent behaviour suite, run against each broker: the embedded aedes (MQTT 3.1.1) and
 * Mosquitto (the agent on MQTT 5 there). Device ids get a per-run suffix because Mosquitto keeps
 * retained offers between runs.
 */
export function defineInstallSuite(d: typeof describe | typeof describe.skip, label: string, startBroker: () => Promise<SuiteBroker>, protocolVersion: 4 | 5): void {
d(`edge agent installs packages offered over MQTT (${label}, real onnxruntime)`, () => {
  let broker: SuiteBroker;
  let cloud: FakeCloud;
  let agent: Agent;
  let fixture: ReturnType<typeof agentConfigFixture>;
  const dev = `dev-install-${process.pid}-${Date.now().toString(36)}`;

  beforeAll(async () => {
    broker = await startBroker();
    cloud = await startFakeCloud(broker.url, [v1.pkg, v2.pkg, stranger.pkg], [dev]);
    fixture = agentConfigFixture({ brokerUrl: broker.url, deviceId: dev, trustedKeys: v1.trustedKeys, extra: { mqtt: { url: broker.url, reconnectPeriodMs: 200, keepaliveSec: 5, protocolVersion } } });
    agent = createAgent({ config: fixture.config, logger: silent });
    await agent.start();
    await agent.whenConnected();
  });
  afterAll(async () => {
    await cloud?.offer(dev, null).catch(() => undefined);
    await agent?.stop();
    // Leave no retained presence behind on a shared broker.
    await cloud?.publishRaw(`edgekd/v1/devices/${dev}/presence`, Buffer.alloc(0), true).catch(() => undefined);
    await cloud?.close();
    await broker?.close();
    fixture?.cleanup();
  });

  it('publishes a retained birth with boot sequence and session sequence', async () => {
    const p = await cloud.waitFor(() => cloud.presences.find((x) => x.deviceId === dev && x.state === 'online'));
    expect(p).toMatchObject({ bootSeq: 1, sessionSeq: 1, bootId: agent.bootId });
  });

  it('answers EDGEKD_NO_ACTIVE_MODEL over HTTP before any install', async () => {
    const res = await fetch(`http://127.0.0.1:${agent.httpAddress()!.port}/v1/infer`, {
      method: 'POST', body: JSON.stringify({ input: { dtype: 'float32', shape: [1, 784], data: zeros(784) } }),
    });
    expect(res.status).toBe(503);
    expect((await res.json()).error.code).toBe('EDGEKD_NO_ACTIVE_MODEL');
  });

  it('downloads in hash-checked chunks, verifies, warms, activates and commits v1', async () => {
    await cloud.offer(dev, makeOffer(v1.pkg, { deploymentId: 'dep-v1', chunkBytes: 1024 }));
    expect(v1.pkg.model.length).toBeGreaterThan(1024); // several chunks
    await cloud.waitFor(() => cloud.statesOf(dev, 'dep-v1').includes('committed'));
    expect(cloud.statesOf(dev, 'dep-v1')).toEqual(['offered', 'downloading', 'verifying', 'staging', 'warming', 'activating', 'baking', 'committed']);
    const chunks = Math.ceil(v1.pkg.model.length / 1024);
    expect(new Set(cloud.chunkRequests.filter((c) => c.deviceId === dev).map((c) => c.index)).size).toBe(chunks);
    expect(agent.status().activeModel).toEqual({ name: 'tiny', version: 1, sha256: v1.pkg.manifest.model.sha256 });
    const committed = cloud.statuses.find((s) => s.deploymentId === 'dep-v1' && s.state === 'committed')!;
    expect(committed.activeModel?.version).toBe(1);
    const activating = cloud.statuses.find((s) => s.deploymentId === 'dep-v1' && s.state === 'activating')!;
    expect(activating.warmup?.executionProvider).toBe('cpu');
  });

  it('serves top-k over HTTP and validates the input shape against the manifest', async () => {
    const base = `http://127.0.0.1:${agent.httpAddress()!.port}/v1/infer`;
    const ok = await fetch(base, { method: 'POST', body: JSON.stringify({ input: { dtype: 'float32', shape: [2, 784], data: new Array(1568).fill(0.5) }, topK: 2 }) });
    expect(ok.status).toBe(200);
    const body = await ok.json();
    expect(body.result.topK).toHaveLength(2);
    expect(body.result.topK[0]).toHaveLength(2);
    expect(body.result.model.version).toBe(1);
    expect(body.result.executionProvider).toBe('cpu');
    const sum = body.result.topK[0].reduce((a: number, e: { probability: number }) => a + e.probability, 0);
    expect(sum).toBeGreaterThan(0);
    for (const [input, code] of [
      [{ dtype: 'float32', shape: [1, 28, 28], data: zeros(784) }, 'EDGEKD_INPUT_SHAPE'],
      [{ dtype: 'float32', shape: [1, 783], data: zeros(783) }, 'EDGEKD_INPUT_SHAPE'],
      [{ dtype: 'uint8', shape: [1, 784], data: zeros(784) }, 'EDGEKD_INPUT_SHAPE'],
      [{ dtype: 'float32', shape: [1, 784], data: [1, 2, 3] }, 'EDGEKD_INPUT_SHAPE'],
      [{ dtype: 'float32', shape: [1, 784] }, 'EDGEKD_INPUT_SHAPE'],
      [{ dtype: 'float32', shape: 'big' }, 'EDGEKD_MESSAGE_INVALID'],
    ] as const) {
      const res = await fetch(base, { method: 'POST', body: JSON.stringify({ input }) });
      expect(res.status).toBe(400);
      expect((await res.json()).error.code).toBe(code);
    }
    const bad = await fetch(base, { method: 'POST', body: '{not json' });
    expect((await bad.json()).error.code).toBe('EDGEKD_MESSAGE_INVALID');
  });

  it('answers inference requests on its MQTT topic, with typed errors for bad shapes', async () => {
    const req = (requestId: string, shape: number[]) => encode('inferRequest', dev, { schema: 'edgekd.infer-request/1', requestId, input: { dtype: 'float32', shape, data: zeros(shape.reduce((a, b) => a * b, 1)) }, topK: 3 });
    for (const [id, shape] of [['q-ok', [1, 784]], ['q-bad', [1, 10]]] as const) {
      const out = req(id, [...shape]);
      await cloud.publishRaw(out.topic, out.payload);
    }
    const ok = await cloud.waitFor(() => cloud.inferResponses.find((r) => r.requestId === 'q-ok'));
    expect(ok.ok).toBe(true);
    expect(ok.result!.topK[0]).toHaveLength(3);
    expect(ok.result!.model.version).toBe(1);
    const bad = await cloud.waitFor(() => cloud.inferResponses.find((r) => r.requestId === 'q-bad'));
    expect(bad).toMatchObject({ ok: false, error: { code: 'EDGEKD_INPUT_SHAPE' } });
  });

  it('sends heartbeats with versions, execution provider, uptime, resources and inference counters', async () => {
    const hb = await cloud.waitFor(() => cloud.heartbeats.find((h) => h.deviceId === dev && h.activeModel?.version === 1 && h.uptimeSec > 0));
    expect(hb).toMatchObject({ agentVersion: expect.any(String), executionProvider: 'cpu', bootId: agent.bootId });
    expect(hb.resources.rssBytes).toBeGreaterThan(0);
    expect(hb.resources.loadAvg).toHaveLength(3);
    const withTraffic = await cloud.waitFor(() => cloud.heartbeats.find((h) => h.deviceId === dev && h.inference.count > 0));
    expect(withTraffic.inference.p50LatencyMs).toBeGreaterThanOrEqual(0);
  });

  it('attaches the drift monitor from its configuration, watching the serving model', () => {
    expect(agent.driftMonitor()?.state().model).toEqual(agent.status().activeModel);
  });

  it('publishes drift statistics in the report envelope through the outbox', async () => {
    const model = agent.status().activeModel!;
    agent.reportDrift({ windowSize: 3, anything: [1, 2] }, model, { start: new Date(Date.now() - 1000).toISOString(), end: new Date().toISOString(), inferences: 3 });
    const d = await cloud.waitFor(() => cloud.drifts.find((x) => x.deviceId === dev));
    expect(d).toMatchObject({ schema: 'edgekd.drift/1', model, stats: { windowSize: 3 } });
    expect(d.seq).toBeGreaterThan(0);
  });

  it('runs v2 in shadow beside v1 on live inputs, reports agreement, then commits v2', async () => {
    await cloud.offer(dev, makeOffer(v2.pkg, { deploymentId: 'dep-v2', activation: { shadow: { inferences: 5, maxWaitMs: 10_000 }, bakeMs: 300 } }));
    await cloud.waitFor(() => cloud.statesOf(dev, 'dep-v2').includes('shadow'));
    // Live traffic until the shadow step has seen enough of it (it starts right after the report).
    for (let i = 0; !cloud.statesOf(dev, 'dep-v2').includes('activating'); i++) {
      await agent.infer({ dtype: 'float32', shape: [1, 784], data: Array.from({ length: 784 }, (_, j) => ((i * 7 + j) % 10) / 10) });
      await new Promise((r) => setTimeout(r, 10));
      if (i > 5000) throw new Error('shadow evaluation never ended');
    }
    await cloud.waitFor(() => cloud.statesOf(dev, 'dep-v2').includes('committed'));
    const act = cloud.statuses.find((s) => s.deploymentId === 'dep-v2' && s.state === 'activating')!;
    expect(act.shadow!.inferences).toBeGreaterThanOrEqual(5);
    expect(act.shadow!.agreement).toBeGreaterThanOrEqual(0);
    expect(act.shadow!.agreement).toBeLessThanOrEqual(1);
    expect(agent.status().activeModel?.version).toBe(2);
    const committed = cloud.statuses.find((s) => s.deploymentId === 'dep-v2' && s.state === 'committed')!;
    expect(committed.bake!.bakedMs).toBeGreaterThanOrEqual(300);
  });

  it('rejects a downgrade before downloading, with EDGEKD_DOWNGRADE_REJECTED', async () => {
    const before = cloud.chunkRequests.length;
    await cloud.offer(dev, makeOffer(v1.pkg, { deploymentId: 'dep-down' }));
    const r = await cloud.waitFor(() => cloud.statuses.find((s) => s.deploymentId === 'dep-down' && s.state === 'rejected'));
    expect(r.error?.code).toBe('EDGEKD_DOWNGRADE_REJECTED');
    expect(cloud.chunkRequests.length).toBe(before);
    expect(agent.status().activeModel?.version).toBe(2);
  });

  it('rejects a package signed by an untrusted key with EDGEKD_KEY_UNTRUSTED', async () => {
    await cloud.offer(dev, makeOffer(stranger.pkg, { deploymentId: 'dep-stranger' }));
    const r = await cloud.waitFor(() => cloud.statuses.find((s) => s.deploymentId === 'dep-stranger' && s.state === 'rejected'));
    expect(r.error?.code).toBe('EDGEKD_KEY_UNTRUSTED');
  });

  it('rejects an altered manifest with EDGEKD_SIGNATURE_INVALID', async () => {
    const { pkg: v3pkg } = v3(9);
    const offer = makeOffer(v3pkg, { deploymentId: 'dep-badsig' });
    offer.manifest = { ...offer.manifest, labels: ['a', 'b', 'evil'] };
    await cloud.offer(dev, offer);
    const r = await cloud.waitFor(() => cloud.statuses.find((s) => s.deploymentId === 'dep-badsig' && s.state === 'rejected'));
    expect(r.error?.code).toBe('EDGEKD_SIGNATURE_INVALID');
  });

  it('fails a tampered download with a hash error and keeps serving v2', async () => {
    const { pkg: v3pkg } = v3(11);
    cloud.addPackage(v3pkg);
    cloud.setChunkTamper((i, d) => (i === 0 ? Uint8Array.from(d, (b, j) => (j === 0 ? b ^ 0xff : b)) : d));
    try {
      await cloud.offer(dev, makeOffer(v3pkg, { deploymentId: 'dep-tamper' }));
      const r = await cloud.waitFor(() => cloud.statuses.find((s) => s.deploymentId === 'dep-tamper' && s.state === 'failed'));
      expect(r.error?.code).toBe('EDGEKD_CHUNK_INVALID');
      expect(r.failedStep).toBe('downloading');
    } finally {
      cloud.addPackage(v3pkg);
    cloud.setChunkTamper(null);
    }
    expect(agent.status().activeModel?.version).toBe(2);
  });

  it('fails a download that runs past its deadline with EDGEKD_STEP_TIMEOUT', async () => {
    const { pkg } = v3(15);
    cloud.addPackage(pkg);
    cloud.setServing(false);
    try {
      await cloud.offer(dev, makeOffer(pkg, { deploymentId: 'dep-slow', timeoutsMs: { downloading: 400 } }));
      const r = await cloud.waitFor(() => cloud.statuses.find((s) => s.deploymentId === 'dep-slow' && s.state === 'failed'));
      expect(r.error?.code).toBe('EDGEKD_STEP_TIMEOUT');
      expect(r.failedStep).toBe('downloading');
    } finally {
      cloud.setServing(true);
    }
    expect(agent.status().activeModel?.version).toBe(2);
  });

  it('fails a model whose bytes differ from the signed sha256 with EDGEKD_HASH_MISMATCH at verifying', async () => {
    const { pkg } = v3(13);
    const evil = Uint8Array.from(pkg.model);
    evil[evil.length - 1] ^= 0x01; // consistent chunk hashes, wrong file hash
    const offer = makeOffer({ ...pkg, model: evil }, { deploymentId: 'dep-hash' });
    offer.delivery.sha256 = pkg.manifest.model.sha256;
    cloud.addPackage({ ...pkg, model: evil });
    await cloud.offer(dev, offer);
    const r = await cloud.waitFor(() => cloud.statuses.find((s) => s.deploymentId === 'dep-hash' && s.state === 'failed'));
    expect(r.error?.code).toBe('EDGEKD_HASH_MISMATCH');
    expect(r.failedStep).toBe('verifying');
    expect(agent.status().activeModel?.version).toBe(2);
  });

  it('rolls back a committed deployment on command and serves the previous slot again', async () => {
    await cloud.command(dev, { schema: 'edgekd.command/1', type: 'rollback', commandId: 'cmd-1', issuedAt: new Date().toISOString(), deploymentId: 'dep-v2' });
    const r = await cloud.waitFor(() => cloud.statuses.find((s) => s.deploymentId === 'dep-v2' && s.state === 'rolled_back'));
    expect(r.commandId).toBe('cmd-1');
    expect(r.activeModel?.version).toBe(1);
    expect(agent.status().activeModel?.version).toBe(1);
  });

  it('aborts a deployment during its bake on a rollback command and serves the previous slot', async () => {
    const { pkg } = v3(17);
    cloud.addPackage(pkg);
    await cloud.offer(dev, makeOffer(pkg, { deploymentId: 'dep-bake', activation: { bakeMs: 30_000 } }));
    await cloud.waitFor(() => cloud.statesOf(dev, 'dep-bake').includes('baking'));
    expect(agent.status().activeModel?.version).toBe(3);
    await cloud.command(dev, { schema: 'edgekd.command/1', type: 'rollback', commandId: 'cmd-2', issuedAt: new Date().toISOString(), deploymentId: 'dep-bake', reason: 'canary gate failed' });
    const r = await cloud.waitFor(() => cloud.statuses.find((s) => s.deploymentId === 'dep-bake' && s.state === 'rolled_back'));
    expect(r).toMatchObject({ commandId: 'cmd-2', failedStep: 'baking', activeModel: { version: 1 } });
    expect(agent.status().activeModel?.version).toBe(1);
  });

  it('drops malformed and oversized messages without crashing and keeps working', async () => {
    await cloud.publishRaw(`edgekd/v1/devices/${dev}/cmd`, Buffer.from('{"schema":"nope"'));
    await cloud.publishRaw(`edgekd/v1/devices/${dev}/cmd`, Buffer.alloc(64 * 1024, 0x41));
    await cloud.publishRaw(`edgekd/v1/devices/${dev}/offer`, Buffer.from(JSON.stringify({ schema: 'edgekd.offer/1' })), true);
    await new Promise((r) => setTimeout(r, 200));
    const res = await agent.infer({ dtype: 'float32', shape: [1, 784], data: zeros(784) });
    expect(res.model.version).toBe(1);
    expect(cloud.duplicates).toBe(0);
  });
});
}
