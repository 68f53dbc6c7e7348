import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/logger';
import { initCompute } from './init-compute';

/** The replacement Tile, Sum and MaxPoolGrad kernels on wasm against the cpu backend, shape for shape. */

function seededData(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

async function onBoth<T>(f: () => T): Promise<{ wasm: T; cpu: T }> {
  await tf.setBackend('cpu');
  const cpu = f();
  await tf.setBackend('wasm');
  return { wasm: f(), cpu };
}

describe('wasm Tile and Sum replacements', () => {
  beforeAll(async () => {
    await initCompute({ backend: 'wasm', logger: createLogger('compute-test', 'silent') });
  });

  it.each([
    { shape: [1, 1, 1, 5], reps: [3, 4, 2, 1] },
    { shape: [2, 3], reps: [3, 2] },
    { shape: [3, 1, 2], reps: [1, 4, 3] },
    { shape: [7], reps: [5] },
    { shape: [2, 2, 2, 2], reps: [1, 1, 1, 1] },
  ])('tile $shape by $reps like the cpu backend', async ({ shape, reps }) => {
    const data = seededData(shape.reduce((a, b) => a * b), 3);
    const r = await onBoth(() => tf.tidy(() => tf.tile(tf.tensor(data, shape), reps).arraySync()));
    expect(r.wasm).toEqual(r.cpu);
    const ints = await onBoth(() => tf.tidy(() => tf.tile(tf.tensor(Array.from(data, (v) => Math.round(v * 100)), shape, 'int32'), reps).arraySync()));
    expect(ints.wasm).toEqual(ints.cpu);
  });

  it.each([
    { shape: [4, 3, 5, 6], axis: [0, 1, 2], keepDims: false },
    { shape: [4, 3, 5, 6], axis: [2, 0, 1], keepDims: true },
    { shape: [4, 3, 5, 6], axis: [0], keepDims: false },
    { shape: [4, 3, 5, 6], axis: [1, 2], keepDims: false },
    { shape: [4, 3, 5, 6], axis: [0, 1, 2, 3], keepDims: false },
    { shape: [9, 7], axis: [-2], keepDims: true },
  ])('sum $shape over $axis (keepDims $keepDims) like the cpu backend', async ({ shape, axis, keepDims }) => {
    const data = seededData(shape.reduce((a, b) => a * b), 11);
    const r = await onBoth(() => tf.tidy(() => {
      const s = tf.sum(tf.tensor(data, shape), axis, keepDims);
      return { shape: s.shape, values: Array.from(s.dataSync()) };
    }));
    expect(r.wasm.shape).toEqual(r.cpu.shape);
    r.wasm.values.forEach((v, i) => expect(v).toBeCloseTo(r.cpu.values[i]!, 4));
  });

  it.each([
    { shape: [3, 8, 8, 3], size: 2, stride: 2, pad: 'valid' as const, ties: false },
    { shape: [2, 9, 7, 4], size: 3, stride: 2, pad: 'same' as const, ties: false },
    { shape: [2, 6, 6, 2], size: 2, stride: 1, pad: 'valid' as const, ties: false },
    // After a ReLU whole windows are 0: the gradient goes to the first position, as on cpu.
    { shape: [2, 8, 8, 3], size: 2, stride: 2, pad: 'valid' as const, ties: true },
  ])('maxPool gradient $shape, window $size stride $stride $pad (ties $ties) like the cpu backend', async ({ shape, size, stride, pad, ties }) => {
    const data = seededData(shape.reduce((a, b) => a * b), 5).map((v) => (ties ? Math.max(0, v) : v));
    const r = await onBoth(() =>
      tf.tidy(() => {
        const x = tf.tensor4d(data, shape as [number, number, number, number]);
        // dy = 1, 2, 3, … so every output's gradient is distinguishable and sums stay exact.
        const g = tf.grad((t: tf.Tensor) => {
          const y = tf.maxPool(t as tf.Tensor4D, size, stride, pad);
          return tf.sum(tf.mul(y, tf.range(1, 1 + y.size).reshape(y.shape)));
        })(x);
        return Array.from(g.dataSync());
      }),
    );
    expect(r.wasm).toEqual(r.cpu);
  });
});
