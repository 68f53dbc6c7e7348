import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { runConvProbe } from './conv-probe';
import { createRandom } from '../random/seeded-random';
import { applyImageShift, priorShiftWeights } from './shifts';

describe('conv probe', () => {
  it('matches TensorFlow.js conv2d channel means and mean squares (same and valid padding)', async () => {
    await tf.setBackend('cpu');
    const r = createRandom(3);
    const [h, w, cin, cout, k] = [9, 7, 2, 3, 3];
    const x = Float32Array.from({ length: h * w * cin }, () => r.normal());
    const kernel = Float32Array.from({ length: k * k * cin * cout }, () => r.normal());
    for (const padding of ['same', 'valid'] as const) {
      const y = tf.conv2d(tf.tensor4d(x, [1, h, w, cin]), tf.tensor4d(kernel, [k, k, cin, cout]), 1, padding);
      const mean = await y.mean([0, 1, 2]).data();
      const meanSq = await y.square().mean([0, 1, 2]).data();
      const p = runConvProbe(x, h, w, { kind: 'conv2d', kernelShape: [k, k, cin, cout], kernel, strides: 1, padding });
      for (let o = 0; o < cout; o++) {
        expect(p.mean[o]).toBeCloseTo(mean[o]!, 4);
        expect(p.meanSquare![o]).toBeCloseTo(meanSq[o]!, 3);
      }
    }
  });
});

describe('shifts', () => {
  const g = { height: 8, width: 8, channels: 1, range: [-1, 1] as const };
  it('keep values in range and change the image; brightness raises the mean', () => {
    const r = createRandom(5);
    const x = Float32Array.from({ length: 64 }, (_, i) => (i % 8 < 4 ? -1 : 0.5));
    for (const kind of ['noise', 'blur', 'brightness', 'contrast', 'occlusion'] as const) {
      const y = applyImageShift(x, kind, 3, g, r);
      expect(y.every((v) => v >= -1 && v <= 1)).toBe(true);
      expect(y.some((v, i) => Math.abs(v - x[i]!) > 1e-6)).toBe(true);
    }
    const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
    expect(mean(applyImageShift(x, 'brightness', 5, g, r))).toBeGreaterThan(mean(x) + 0.5);
  });

  it('prior shift weights favour three classes more at higher severity', () => {
    const w1 = priorShiftWeights(10, 1);
    const w5 = priorShiftWeights(10, 5);
    expect(w1.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(w5[0]! / w5[9]!).toBeGreaterThan(w1[0]! / w1[9]!);
  });
});
