import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/logger';
import { registerBatchNormGradients } from './batchnorm-gradients';
import { initCompute } from './init-compute';

/**
 * The replacement FusedBatchNorm and Mean gradients against tfjs's own, on the same inputs:
 * reference computed on the cpu backend before the replacements are registered, then the same
 * function differentiated after registration on cpu and on wasm.
 */

function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (s * 1664525 + 1013904223) >>> 0), s / 2 ** 32 - 0.5));
}

const shape: [number, number, number, number] = [4, 5, 3, 6];
const size = shape.reduce((a, b) => a * b);
const data = { x: seeded(size, 1), r: seeded(size, 2), gamma: seeded(6, 3), beta: seeded(6, 4), w: seeded(4 * 6, 5) };

/** Gradients wrt x, gamma, beta of a training-mode BatchNorm plus a spatial Mean, as plain arrays. */
function grads(training: boolean): number[][] {
  return tf.tidy(() => {
    const x = tf.tensor4d(data.x, shape);
    const gamma = tf.tensor1d(data.gamma);
    const beta = tf.tensor1d(data.beta);
    const movingMean = tf.tensor1d([0.1, -0.2, 0.3, 0, 0.05, -0.1]);
    const movingVar = tf.tensor1d([1, 0.5, 2, 1.5, 0.8, 1.2]);
    const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = training ? tf.moments(a, [0, 1, 2]) : { mean: movingMean, variance: movingVar };
      const y = tf.batchNorm(a as tf.Tensor4D, mean, variance, b as tf.Tensor1D, g as tf.Tensor1D, 1e-3);
      const pooled = tf.mean(y, [1, 2]); // global average pooling: the Mean gradient
      return tf.add(tf.sum(tf.mul(y, tf.tensor4d(data.r, shape))), tf.sum(tf.mul(pooled, tf.tensor2d(data.w, [4, 6])))) as tf.Scalar;
    };
    return tf.grads(f)([x, gamma, beta]).map((t) => Array.from(t.dataSync()));
  });
}

function expectClose(a: number[][], b: number[][]): void {
  a.forEach((arr, i) => arr.forEach((v, j) => expect(Math.abs(v - b[i]![j]!), `grad ${i}[${j}]`).toBeLessThan(2e-5 * Math.max(1, Math.abs(b[i]![j]!)))));
}

describe('BatchNorm and Mean gradient replacements', () => {
  it('match tfjs-core\'s gradients in training and inference mode, on cpu and wasm', async () => {
    await tf.setBackend('cpu');
    const refTrain = grads(true);
    const refInfer = grads(false);
    expect(registerBatchNormGradients()).toEqual(['FusedBatchNorm', 'Mean']);
    expect(registerBatchNormGradients()).toEqual([]); // idempotent
    expectClose(grads(true), refTrain);
    expectClose(grads(false), refInfer);
    await initCompute({ backend: 'wasm', logger: createLogger('compute-test', 'silent') });
    expectClose(grads(true), refTrain);
    expectClose(grads(false), refInfer);
  });
});
