import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/logger';
import { initCompute } from './init-compute';
import { backendOps } from './backend-ops';
import { depthwiseFilterGradient } from './conv-grad-kernels';

/**
 * The wasm gradient kernels against (a) the pure-JS cpu backend's own gradient kernels and
 * (b) central finite differences of the wasm forward pass. The loss is Σ y·r for a fixed random
 * r, which is linear in x and in the filter, so central differences are exact up to float32
 * rounding and a tight tolerance is meaningful.
 */

type Case = {
  name: string;
  x: [number, number, number, number];
  k: number;
  out: number; // output channels (conv2d) or channel multiplier (depthwise)
  stride: 1 | 2;
  pad: 'same' | 'valid';
  depthwise: boolean;
};

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

const cases: Case[] = [];
for (const depthwise of [false, true])
  for (const stride of [1, 2] as const)
    for (const pad of ['same', 'valid'] as const)
      for (const k of [1, 3, 5]) cases.push({ name: '', x: [2, 7, 5, 3], k, out: depthwise ? 1 : 4, stride, pad, depthwise });
// Odd and even sizes, non-square, channel multiplier > 1, a single image.
cases.push({ name: '', x: [1, 8, 9, 2], k: 3, out: 5, stride: 2, pad: 'same', depthwise: false });
cases.push({ name: '', x: [3, 6, 6, 4], k: 3, out: 2, stride: 2, pad: 'same', depthwise: true });
cases.push({ name: '', x: [2, 9, 6, 2], k: 5, out: 3, stride: 2, pad: 'valid', depthwise: true });
// The filter covers the whole input (1×1 output, the matrix-product input gradient).
cases.push({ name: '', x: [3, 5, 5, 4], k: 5, out: 6, stride: 1, pad: 'valid', depthwise: false });
cases.push({ name: '', x: [2, 3, 3, 2], k: 3, out: 3, stride: 2, pad: 'valid', depthwise: false });
for (const c of cases) c.name = `${c.depthwise ? 'depthwise' : 'conv2d'} x=${c.x.join('x')} k=${c.k} ${c.depthwise ? 'mult' : 'out'}=${c.out} stride=${c.stride} ${c.pad}`;

function filterShape(c: Case): [number, number, number, number] {
  return [c.k, c.k, c.x[3], c.out];
}

function forward(c: Case, x: tf.Tensor4D, f: tf.Tensor4D): tf.Tensor4D {
  return c.depthwise ? tf.depthwiseConv2d(x, f, c.stride, c.pad) : tf.conv2d(x, f, c.stride, c.pad);
}

function inputs(c: Case, seed: number) {
  const rnd = seeded(seed);
  const xs = Float32Array.from({ length: c.x.reduce((a, b) => a * b) }, rnd);
  const fShape = filterShape(c);
  const fs = Float32Array.from({ length: fShape.reduce((a, b) => a * b) }, rnd);
  const outShape = tf.tidy(() => forward(c, tf.zeros(c.x), tf.zeros(fShape)).shape);
  const rs = Float32Array.from({ length: outShape.reduce((a, b) => a * b) }, rnd);
  return { xs, fs, rs, fShape, outShape };
}

/** Gradients of Σ conv(x, f)·r on the active backend. Plain arrays cross backends safely. */
function gradients(c: Case, data: ReturnType<typeof inputs>): { dx: Float32Array; df: Float32Array } {
  return tf.tidy(() => {
    const x = tf.tensor4d(data.xs, c.x);
    const f = tf.tensor4d(data.fs, data.fShape);
    const r = tf.tensor(data.rs, data.outShape);
    const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(forward(c, a as tf.Tensor4D, b as tf.Tensor4D), r)))([x, f]);
    return { dx: dx!.dataSync() as Float32Array, df: df!.dataSync() as Float32Array };
  });
}

function loss(c: Case, data: ReturnType<typeof inputs>, xs: Float32Array, fs: Float32Array): number {
  return tf.tidy(() => tf.sum(tf.mul(forward(c, tf.tensor4d(xs, c.x), tf.tensor4d(fs, data.fShape)), tf.tensor(data.rs, data.outShape))).dataSync()[0]!);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('wasm convolution gradient kernels', () => {
  beforeAll(async () => {
    const choice = await initCompute({ backend: 'wasm', logger: createLogger('compute-test', 'silent') });
    expect(choice.backend).toBe('wasm');
  });

  it.each(cases)('match the cpu backend: $name', async (c) => {
    const data = inputs(c, 17);
    await tf.setBackend('cpu');
    const ref = gradients(c, data);
    await tf.setBackend('wasm');
    const got = gradients(c, data);
    expect(maxAbsDiff(got.dx, ref.dx)).toBeLessThan(2e-5);
    expect(maxAbsDiff(got.df, ref.df)).toBeLessThan(5e-5);
  });

  it.each(cases.filter((c) => c.stride === 2 || c.k === 3))('match finite differences: $name', async (c) => {
    await tf.setBackend('wasm');
    const data = inputs(c, 99);
    const got = gradients(c, data);
    const eps = 1e-2;
    const pick = seeded(5);
    for (const [which, base, grad] of [
      ['x', data.xs, got.dx],
      ['f', data.fs, got.df],
    ] as const) {
      // Every element of a small tensor, a random sample of a larger one.
      const idx = base.length <= 60 ? [...base.keys()] : Array.from({ length: 24 }, () => Math.floor((pick() + 0.5) * base.length));
      for (const i of idx) {
        const plus = Float32Array.from(base);
        const minus = Float32Array.from(base);
        plus[i]! += eps;
        minus[i]! -= eps;
        const fd =
          which === 'x'
            ? (loss(c, data, plus, data.fs) - loss(c, data, minus, data.fs)) / (2 * eps)
            : (loss(c, data, data.xs, plus) - loss(c, data, data.xs, minus)) / (2 * eps);
        expect(Math.abs(fd - grad[i]!), `${which}[${i}]`).toBeLessThan(2e-3 * Math.max(1, Math.abs(fd)));
      }
    }
  });
});

describe('depthwise filter gradient, composed-convolution form', () => {
  // On wasm the kernel uses a direct heap loop; the composed form (used by backends without
  // heap access) is checked here against it on the same inputs.
  it.each(cases.filter((c) => c.depthwise))('matches the heap loop: $name', async (c) => {
    await initCompute({ backend: 'wasm', logger: createLogger('compute-test', 'silent') });
    const data = inputs(c, 23);
    const ops = backendOps(tf.backend(), 'wasm');
    const x = tf.tensor4d(data.xs, c.x);
    const dy = tf.tensor(data.rs, data.outShape);
    const fShape = filterShape(c);
    const read = (info: tf.TensorInfo) => {
      const t = tf.engine().makeTensorFromTensorInfo(info);
      const v = t.dataSync() as Float32Array;
      t.dispose();
      return v;
    };
    const loop = read(depthwiseFilterGradient(ops, x, dy, fShape, c.stride, 1, c.pad, undefined, true));
    const composed = read(depthwiseFilterGradient(ops, x, dy, fShape, c.stride, 1, c.pad, undefined, false));
    expect(maxAbsDiff(composed, loop)).toBeLessThan(2e-5);
    tf.dispose([x, dy]);
  });
});
