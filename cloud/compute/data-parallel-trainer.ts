import * as tf from '@tensorflow/tfjs';
import { Worker } from 'node:worker_threads';
import { EdgekdError } from '../../shared/errors';
import { createLogger, type Logger } from '../../shared/log/logger';
import type { FromWorker, ToWorker, WireTensor } from './data-parallel-protocol';
import type { ComputeBackend } from './init-compute';
import type { LossSpec } from './losses';
import { threadCpuMs } from './thread-cpu-time';

/**
 * Synchronous data-parallel training over worker threads, each with its own tfjs engine (on
 * wasm: its own single-threaded wasm instance, i.e. one core each).
 *
 * One step: the batch is cut into contiguous shards (sizes differ by at most one), every worker
 * receives the current weights and one shard, returns the gradient of its shard's mean loss,
 * and the main thread averages the gradients weighted by shard size (the gradient of the full
 * batch's mean loss) and applies one optimizer update to its own model. Only the main thread
 * writes weights and the reduction runs in worker order, so replicas cannot drift and a run is
 * reproducible for a given worker count.
 *
 * BatchNorm: each shard normalises with its own batch statistics (unsynchronised BN, as in
 * PyTorch DDP without SyncBatchNorm); the moving statistics returned by the workers are averaged
 * by shard size.
 */
export interface DataParallelTrainerOptions {
  /** The model to train; it lives on the main thread and holds the authoritative weights. */
  model: tf.LayersModel;
  /** Applied on the main thread; omit it to use only `gradients()`. */
  optimizer?: tf.Optimizer;
  loss: LossSpec;
  /** Number of worker threads (≥ 1). */
  workers: number;
  /** Backend inside each worker (default: initCompute's choice: tensorflow, else wasm). */
  backend?: ComputeBackend;
  wasmSpeedups?: boolean;
  logger?: Logger;
}

export interface DataParallelStats {
  /** Wall time of the last step on the main thread (ms), including messaging. */
  stepMs: number;
  /** Per worker: time spent inside the worker on the last step (ms). */
  workerMs: number[];
  /** Per worker: CPU time of the worker thread on the last step (ms; NaN off Linux). */
  workerCpuMs: number[];
  /** CPU time of the calling (main) thread inside the last gradients() call: slicing, copying, averaging. */
  mainCpuMs: number;
}

export interface DataParallelTrainer {
  readonly workers: number;
  /** Backend and reason reported by each worker. */
  readonly workerBackends: ReadonlyArray<{ backend: string; reason: string }>;
  /**
   * Averaged gradients of the mean loss over the whole batch, keyed by the main model's variable
   * names (what `optimizer.applyGradients` takes), plus the mean loss. Also copies the averaged
   * BatchNorm moving statistics into the main model. The caller disposes the gradients.
   */
  gradients(x: tf.Tensor, y: tf.Tensor): Promise<{ loss: number; grads: tf.NamedTensorMap }>;
  /** gradients() + one optimizer update. */
  step(x: tf.Tensor, y: tf.Tensor): Promise<{ loss: number }>;
  stats(): DataParallelStats;
  close(): Promise<void>;
}

const WORKER_ENTRY = new URL('./data-parallel-worker.mjs', import.meta.url);

interface Pending {
  resolve: (m: Extract<FromWorker, { type: 'grads' }>) => void;
  reject: (e: Error) => void;
}

class GradientWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private readyWaiter: { resolve: (m: { backend: string; reason: string }) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;

  constructor(readonly index: number, private readonly log: Logger) {
    // A fresh isolate: the entry shim registers tsx so the TypeScript worker body loads as is.
    this.worker = new Worker(WORKER_ENTRY, { execArgv: [], env: process.env, stdout: false, stderr: false });
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => {
      if (code !== 0) this.fail(new Error(`gradient worker ${index} exited with code ${code}`));
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.log.error({ err, worker: this.index }, 'gradient worker failed');
    this.readyWaiter?.reject(err);
    this.readyWaiter = null;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'ready') {
      this.readyWaiter?.resolve({ backend: m.backend, reason: m.reason });
      this.readyWaiter = null;
    } else if (m.type === 'grads') {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      p?.resolve(m);
    } else {
      const err = new EdgekdError('EDGEKD_INTERNAL', `gradient worker ${this.index}: ${m.message}`, { details: { code: m.code } });
      if (m.id === undefined) this.fail(err);
      else {
        this.pending.get(m.id)?.reject(err);
        this.pending.delete(m.id);
      }
    }
  }

  init(msg: Extract<ToWorker, { type: 'init' }>): Promise<{ backend: string; reason: string }> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.readyWaiter = { resolve, reject };
      this.worker.postMessage(msg);
    });
  }

  step(msg: Extract<ToWorker, { type: 'step' }>, transfer: ArrayBuffer[]): Promise<Extract<FromWorker, { type: 'grads' }>> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.pending.set(msg.id, { resolve, reject });
      this.worker.postMessage(msg, transfer);
    });
  }

  async close(): Promise<void> {
    if (!this.failure) this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    // The worker closes its port and exits; terminate covers a wedged one.
    await Promise.race([new Promise((r) => this.worker.once('exit', r)), new Promise((r) => setTimeout(r, 2000).unref())]);
    await this.worker.terminate();
  }
}

function wire(t: tf.Tensor, begin: number, size: number): WireTensor {
  const shard = tf.slice(t, [begin], [size]);
  const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
  const data = dtype === 'int32' ? new Int32Array(shard.dataSync()) : new Float32Array(shard.dataSync());
  shard.dispose();
  return { data, shape: [size, ...t.shape.slice(1)], dtype };
}

/** Splits n rows into k contiguous shards whose sizes differ by at most one (none empty). */
export function shardSizes(n: number, k: number): number[] {
  const parts = Math.min(n, k);
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));
}

export async function createDataParallelTrainer(options: DataParallelTrainerOptions): Promise<DataParallelTrainer> {
  const { model, optimizer, loss } = options;
  const log = options.logger ?? createLogger('data-parallel');
  if (!Number.isInteger(options.workers) || options.workers < 1) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `workers must be an integer ≥ 1, got ${options.workers}`);
  }
  const topology = model.toJSON(null, false) as object;
  const workers = Array.from({ length: options.workers }, (_, i) => new GradientWorker(i, log));
  let workerBackends: Array<{ backend: string; reason: string }>;
  try {
    workerBackends = await Promise.all(
      workers.map((w) => w.init({ type: 'init', topology, loss, ...(options.backend ? { backend: options.backend } : {}), ...(options.wasmSpeedups === undefined ? {} : { wasmSpeedups: options.wasmSpeedups }) })),
    );
  } catch (err) {
    await Promise.allSettled(workers.map((w) => w.close()));
    throw err instanceof EdgekdError ? err : new EdgekdError('EDGEKD_BACKEND_UNAVAILABLE', `gradient workers failed to start: ${(err as Error).message}`, { cause: err });
  }
  log.info({ workers: options.workers, backends: workerBackends.map((b) => b.backend) }, 'data-parallel trainer ready');

  let nextId = 0;
  let last: DataParallelStats = { stepMs: 0, workerMs: [], workerCpuMs: [], mainCpuMs: 0 };
  const trainableVars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const nonTrainable = model.nonTrainableWeights;

  async function gradients(x: tf.Tensor, y: tf.Tensor): Promise<{ loss: number; grads: tf.NamedTensorMap }> {
    const t0 = performance.now();
    const c0 = threadCpuMs();
    const n = x.shape[0]!;
    if (y.shape[0] !== n) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `x has ${n} rows but y has ${y.shape[0]}`);
    const sizes = shardSizes(n, workers.length);
    const trainableValues = trainableVars.map((v) => v.dataSync() as Float32Array);
    const nonTrainableValues = nonTrainable.map((w) => w.read().dataSync() as Float32Array);
    let begin = 0;
    const replies = await Promise.all(
      sizes.map((size, i) => {
        const msg: Extract<ToWorker, { type: 'step' }> = {
          type: 'step',
          id: nextId++,
          // Structured clone copies these per worker; the main model keeps its own.
          trainable: trainableValues,
          nonTrainable: nonTrainableValues,
          x: wire(x, begin, size),
          y: wire(y, begin, size),
        };
        begin += size;
        return workers[i]!.step(msg, [msg.x.data.buffer as ArrayBuffer, msg.y.data.buffer as ArrayBuffer]);
      }),
    );
    // Weighted mean in worker order: the same sequence of float operations every step.
    const avg = (pick: (r: (typeof replies)[number]) => Float32Array[], j: number, len: number): Float32Array => {
      const out = new Float32Array(len);
      replies.forEach((r, i) => {
        const w = sizes[i]! / n;
        const a = pick(r)[j]!;
        for (let k = 0; k < len; k++) out[k]! += w * a[k]!;
      });
      return out;
    };
    const grads: tf.NamedTensorMap = {};
    trainableVars.forEach((v, j) => {
      grads[v.name] = tf.tensor(avg((r) => r.grads, j, v.size), v.shape);
    });
    nonTrainable.forEach((w, j) => {
      const t = tf.tensor(avg((r) => r.nonTrainable, j, nonTrainableValues[j]!.length), w.shape as number[]);
      w.write(t);
      t.dispose();
    });
    const lossValue = replies.reduce((s, r, i) => s + (sizes[i]! / n) * r.loss, 0);
    last = { stepMs: performance.now() - t0, workerMs: replies.map((r) => r.ms), workerCpuMs: replies.map((r) => r.cpuMs), mainCpuMs: threadCpuMs() - c0 };
    return { loss: lossValue, grads };
  }

  return {
    workers: workers.length,
    workerBackends,
    gradients,
    async step(x, y) {
      if (!optimizer) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'step() needs an optimizer; pass one or use gradients()');
      const { loss: l, grads } = await gradients(x, y);
      optimizer.applyGradients(grads);
      tf.dispose(grads);
      return { loss: l };
    },
    stats: () => last,
    async close() {
      await Promise.allSettled(workers.map((w) => w.close()));
    },
  };
}
