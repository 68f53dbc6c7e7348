import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/logger';
import { initCompute } from './init-compute';

/** The replacement Tile and Sum kernels on wasm against the cpu backend, shape for shape. */

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
});
