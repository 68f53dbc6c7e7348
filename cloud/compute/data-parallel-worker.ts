import * as tf from '@tensorflow/tfjs';
import { parentPort } from 'node:worker_threads';
import { createLogger } from '../../shared/log/logger';
import type { FromWorker, ToWorker, WireTensor } from './data-parallel-protocol';
import { initCompute } from './init-compute';
import { resolveLoss, type LossFn } from './losses';
import { modelGradients } from './model-gradients';
import { threadCpuMs } from './thread-cpu-time';

/**
 * Gradient worker: owns one tfjs engine (its own wasm instance on its own core), a replica of the
 * model and the loss. Each `step` sets the replica's weights to the main thread's values, runs
 * forward + backward on its shard in training mode and returns the gradients and the updated
 * BatchNorm statistics. It never applies an update itself: the main thread is the only writer
 * of weights, which keeps every replica identical by construction.
 */

const port = parentPort;
if (!port) throw new Error('data-parallel-worker must run in a worker thread');

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

function toTensor(t: WireTensor): tf.Tensor {
  return tf.tensor(t.data, t.shape, t.dtype);
}

function setValues(weights: tf.LayerVariable[], values: Float32Array[], what: string): void {
  if (values.length !== weights.length) throw new Error(`${what}: expected ${weights.length} arrays, got ${values.length}`);
  weights.forEach((w, i) => {
    const t = tf.tensor(values[i]!, w.shape as number[]);
    w.write(t);
    t.dispose();
  });
}

let model: tf.LayersModel | null = null;
let lossFn: LossFn | null = null;

port.on('message', (msg: ToWorker) => {
  void handle(msg).catch((err: unknown) => {
    const e = err as { message?: string; code?: string };
    post({ type: 'error', id: msg.type === 'step' ? msg.id : undefined, message: e?.message ?? String(err), ...(e?.code ? { code: e.code } : {}) });
  });
});

async function handle(msg: ToWorker): Promise<void> {
  if (msg.type === 'close') {
    model?.dispose();
    port!.close();
    return;
  }
  if (msg.type === 'init') {
    const choice = await initCompute({ backend: msg.backend, wasmSpeedups: msg.wasmSpeedups, logger: createLogger('compute-worker', process.env.EDGEKD_LOG_LEVEL ?? 'warn') });
    model = await tf.models.modelFromJSON({ modelTopology: msg.topology } as tf.io.ModelJSON);
    lossFn = await resolveLoss(msg.loss);
    post({ type: 'ready', backend: choice.backend, reason: choice.reason });
    return;
  }
  if (!model || !lossFn) throw new Error('step before init');
  const t0 = performance.now();
  const c0 = threadCpuMs();
  setValues(model.trainableWeights, msg.trainable, 'trainable weights');
  setValues(model.nonTrainableWeights, msg.nonTrainable, 'non-trainable weights');
  const x = toTensor(msg.x);
  const y = toTensor(msg.y);
  const { loss, grads } = modelGradients(model, lossFn, x, y);
  x.dispose();
  y.dispose();
  const gradArrays = grads.map((g) => new Float32Array(g.dataSync()));
  tf.dispose(grads);
  // Fresh copies (never views of the wasm heap), so their buffers can be transferred.
  const stats = model.nonTrainableWeights.map((w) => new Float32Array(w.read().dataSync()));
  post({ type: 'grads', id: msg.id, loss, grads: gradArrays, nonTrainable: stats, ms: performance.now() - t0, cpuMs: threadCpuMs() - c0 }, [
    ...gradArrays.map((a) => a.buffer as ArrayBuffer),
    ...stats.map((a) => a.buffer as ArrayBuffer),
  ]);
}
