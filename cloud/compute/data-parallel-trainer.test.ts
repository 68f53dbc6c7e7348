import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEdgekdError } from '../../shared/errors';
import { createLogger } from '../../shared/log/logger';
import { createDataParallelTrainer, shardSizes, type DataParallelTrainer } from './data-parallel-trainer';
import { initCompute } from './init-compute';
import { builtinLosses } from './losses';
import { modelGradients } from './model-gradients';

const logger = createLogger('compute-test', 'silent');

function smallModel(seed: number, withBatchNorm: boolean): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed + s });
  const input = tf.input({ shape: [8, 8, 1] });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init(1), useBias: !withBatchNorm }).apply(input) as tf.SymbolicTensor;
  if (withBatchNorm) x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, kernelInitializer: init(2) }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

function batch(n: number): { x: tf.Tensor; y: tf.Tensor } {
  let s = 7;
  const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0), s / 2 ** 32 - 0.5);
  return { x: tf.tensor(Float32Array.from({ length: n * 64 }, rnd), [n, 8, 8, 1]), y: tf.tensor(Array.from({ length: n }, (_, i) => i % 3), [n], 'int32') };
}

describe('shardSizes', () => {
  it('splits contiguously into near-equal, non-empty shards', () => {
    expect(shardSizes(64, 2)).toEqual([32, 32]);
    expect(shardSizes(7, 2)).toEqual([4, 3]);
    expect(shardSizes(1, 2)).toEqual([1]);
  });
});

describe('createDataParallelTrainer', () => {
  beforeAll(async () => {
    await initCompute({ backend: 'wasm', logger });
  });

  // One trainer for the whole file: starting workers costs seconds.
  const model = smallModel(2, true);
  const optimizer = tf.train.adam(0.05);
  let trainer: DataParallelTrainer;
  beforeAll(async () => {
    trainer = await createDataParallelTrainer({ model, optimizer, loss: 'sparse-softmax-cross-entropy', workers: 2, backend: 'wasm', logger });
  });
  afterAll(async () => {
    await trainer?.close();
  });

  it('returns the shard-size-weighted mean of the shards\' gradients (BatchNorm per shard)', async () => {
    expect(trainer.workerBackends.map((b) => b.backend)).toEqual(['wasm', 'wasm']);
    const { x, y } = batch(9); // odd: shards of 5 and 4
    const got = await trainer.gradients(x, y);
    const lossFn = builtinLosses['sparse-softmax-cross-entropy'];
    const shards = [
      modelGradients(model, lossFn, x.slice([0], [5]), y.slice([0], [5])),
      modelGradients(model, lossFn, x.slice([5], [4]), y.slice([5], [4])),
    ];
    expect(got.loss).toBeCloseTo((5 / 9) * shards[0]!.loss + (4 / 9) * shards[1]!.loss, 5);
    model.trainableWeights.forEach((w, i) => {
      const a = got.grads[(w.read() as tf.Variable).name]!.dataSync();
      const s0 = shards[0]!.grads[i]!.dataSync();
      const s1 = shards[1]!.grads[i]!.dataSync();
      let maxDiff = 0;
      a.forEach((v, k) => (maxDiff = Math.max(maxDiff, Math.abs(v - ((5 / 9) * s0[k]! + (4 / 9) * s1[k]!)))));
      expect(maxDiff).toBeLessThan(1e-5);
    });
    tf.dispose([x, y, ...shards.flatMap((s) => s.grads), ...Object.values(got.grads)]);
  });

  it('trains: the loss falls and BatchNorm moving statistics come back from the workers', async () => {
    const { x, y } = batch(16);
    const movingMean = model.nonTrainableWeights.find((w) => w.name.includes('moving_mean'))!;
    const before = Array.from(movingMean.read().dataSync());
    const first = await trainer.step(x, y);
    let lossValue = first.loss;
    for (let i = 0; i < 15; i++) lossValue = (await trainer.step(x, y)).loss;
    expect(lossValue).toBeLessThan(first.loss * 0.7);
    expect(Array.from(movingMean.read().dataSync())).not.toEqual(before);
    expect(trainer.stats().workerMs).toHaveLength(2);
    tf.dispose([x, y]);
  });

  it('rejects a worker count below one', async () => {
    const err = await createDataParallelTrainer({ model: smallModel(3, false), loss: 'mse', workers: 0, logger }).catch((e: unknown) => e);
    expect(isEdgekdError(err, 'EDGEKD_INVALID_ARGUMENT')).toBe(true);
  });
});
