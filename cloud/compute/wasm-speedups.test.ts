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

  it.each([
    { a: [4, 5, 6, 3], b: [3] },
    { a: [4, 5, 6, 3], b: [1, 1, 1, 3] },
    { a: [3], b: [4, 5, 6, 3] },
    { a: [2, 7, 8], b: [7, 8] },
    { a: [4, 5, 6, 3], b: [] },
    { a: [], b: [4, 5, 6, 3] },
    // Not a trailing broadcast: wasm's own kernel.
    { a: [4, 5, 6, 3], b: [4, 1, 1, 3] },
  ])('add, sub, mul and div of $a and $b like the cpu backend, bit for bit', async ({ a, b }) => {
    const da = seededData(a.reduce((x, y) => x * y, 1), 21);
    // Divisors kept away from 0.
    const db = seededData(b.reduce((x, y) => x * y, 1), 22).map((v) => v + (v >= 0 ? 0.5 : -0.5));
    for (const op of [tf.add, tf.sub, tf.mul, tf.div]) {
      const r = await onBoth(() => tf.tidy(() => {
        const y = op(tf.tensor(da, a), tf.tensor(db, b));
        return { shape: y.shape, values: Array.from(y.dataSync()) };
      }));
      expect(r.wasm).toEqual(r.cpu);
    }
  });

  it.each([
    { shape: [3, 5, 4, 6], offset: true, scale: true },
    { shape: [2, 7, 3], offset: false, scale: true },
    { shape: [6, 4], offset: true, scale: false },
  ])('FusedBatchNorm on $shape (offset $offset, scale $scale) like the cpu backend to float32 rounding', async ({ shape, offset, scale }) => {
    const C = shape[shape.length - 1]!;
    const x = seededData(shape.reduce((p, q) => p * q, 1), 31).map((v) => 4 * v);
    const mean = seededData(C, 32);
    const variance = seededData(C, 33).map((v) => v + 0.6);
    const off = seededData(C, 34);
    const sc = seededData(C, 35).map((v) => 2 * v);
    const r = await onBoth(() => tf.tidy(() => Array.from(tf.batchNorm(tf.tensor(x, shape), tf.tensor1d(mean), tf.tensor1d(variance), offset ? tf.tensor1d(off) : undefined, scale ? tf.tensor1d(sc) : undefined, 1e-3).dataSync())));
    r.wasm.forEach((v, i) => expect(Math.abs(v - r.cpu[i]!)).toBeLessThanOrEqual(2e-6 * Math.max(1, Math.abs(r.cpu[i]!))));
  });
});
