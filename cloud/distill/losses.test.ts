import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { agreementMask, bnStatsLoss, kdLossFused, kdPerSample, maskedDisagreement, weightedMean } from './losses';
import { cosineLr } from './student-trainer';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('KD loss', () => {
  it('is T²·KL(softmax(t/T) ‖ softmax(s/T)) per sample', () => {
    const s = tf.tensor2d([[1, 0, 0], [0, 2, 0]]);
    const t = tf.tensor2d([[0, 1, 0], [0, 2, 0]]);
    const T = 2;
    const got = Array.from(kdPerSample(s, t, T).dataSync());
    const sm = (v: number[]) => {
      const e = v.map((x) => Math.exp(x / T));
      const z = e.reduce((a, b) => a + b, 0);
      return e.map((x) => x / z);
    };
    const kl = (p: number[], q: number[]) => p.reduce((a, pi, i) => a + pi * Math.log(pi / q[i]!), 0);
    expect(got[0]).toBeCloseTo(T * T * kl(sm([0, 1, 0]), sm([1, 0, 0])), 5);
    expect(got[1]).toBeCloseTo(0, 6); // identical logits
  });

  it.each([{ weighted: false }, { weighted: true }])('fused KD loss (weighted $weighted) gives the tensor version\'s loss, per-sample values and gradient', ({ weighted }) => {
    const n = 16;
    const C = 10;
    const T = 20;
    let seed = 7;
    const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 8;
    const sv = Float32Array.from({ length: n * C }, rand);
    const tv = Float32Array.from({ length: n * C }, rand);
    const w = weighted ? Float32Array.from({ length: n }, (_, i) => 0.25 + (i % 5) * 0.3) : undefined;
    const s = tf.tensor2d(sv, [n, C]);
    const t = tf.tensor2d(tv, [n, C]);
    const refPer = Array.from(kdPerSample(s, t, T).dataSync());
    const refLoss = weightedMean(kdPerSample(s, t, T), w).dataSync()[0]!;
    const refGrad = Array.from(tf.grad((x: tf.Tensor) => weightedMean(kdPerSample(x as tf.Tensor2D, t, T), w))(s).dataSync());
    let per: Float32Array = new Float32Array(0);
    const got = tf.grad((x: tf.Tensor) => {
      const r = kdLossFused(x as tf.Tensor2D, tv, T, w);
      per = r.perSample;
      return r.loss;
    })(s);
    const loss = kdLossFused(s, tv, T, w).loss.dataSync()[0]!;
    // Tolerance: the tensor version rounds every op to float32; the fused one works in float64.
    expect(Math.abs(loss - refLoss)).toBeLessThanOrEqual(1e-5 * Math.abs(refLoss));
    Array.from(per).forEach((v, i) => expect(Math.abs(v - refPer[i]!)).toBeLessThanOrEqual(1e-4 * Math.max(1e-3, Math.abs(refPer[i]!))));
    const gmax = Math.max(...refGrad.map(Math.abs));
    Array.from(got.dataSync()).forEach((v, i) => expect(Math.abs(v - refGrad[i]!)).toBeLessThanOrEqual(1e-5 * gmax));
  });

  it('masks the adversarial divergence to samples where student and teacher agree', () => {
    const s = tf.tensor2d([[2, 0], [0, 2]]);
    const t = tf.tensor2d([[1, 0], [1, 0]]);
    const mask = agreementMask(s.dataSync() as Float32Array, t.dataSync() as Float32Array, 2);
    expect(Array.from(mask)).toEqual([1, 0]);
    const d = Array.from(maskedDisagreement(s as tf.Tensor2D, t as tf.Tensor2D, mask).dataSync());
    expect(d[0]).toBeGreaterThan(0);
    expect(d[1]).toBe(0);
  });
});

describe('BN statistics loss', () => {
  it('is zero when the batch moments equal the targets, and grows with the mismatch', () => {
    const x = tf.tensor2d([[1, 10], [3, 14]]); // channel means 2, 12; biased variances 1, 4
    const matched = bnStatsLoss([x], [{ mean: tf.tensor1d([2, 12]), variance: tf.tensor1d([1, 4]) }]);
    expect(matched.dataSync()[0]).toBeCloseTo(0, 5);
    const off = bnStatsLoss([x], [{ mean: tf.tensor1d([2, 9]), variance: tf.tensor1d([1, 0]) }]);
    expect(off.dataSync()[0]).toBeCloseTo(3 + 4, 4); // ‖Δμ‖₂ + ‖Δσ²‖₂
  });

  it('mixes in the EMA of earlier batches with the given momentum', () => {
    const x = tf.tensor2d([[0], [2]]); // mean 1, var 1
    const target = [{ mean: tf.tensor1d([2]), variance: tf.tensor1d([1]) }];
    const ema = [{ mean: tf.tensor1d([3]), variance: tf.tensor1d([1]) }];
    // mixed mean = 0.5·1 + 0.5·3 = 2 → matches
    expect(bnStatsLoss([x], target, ema, 0.5).dataSync()[0]).toBeCloseTo(0, 5);
  });
});

describe('schedule', () => {
  it('anneals the learning rate from lr to etaMin along a cosine', () => {
    const cfg = { temperature: 20, lr: 0.2, momentum: 0.9, weightDecay: 0, etaMin: 0.002 };
    expect(cosineLr(cfg, 0, 10)).toBeCloseTo(0.2);
    expect(cosineLr(cfg, 5, 10)).toBeCloseTo(0.101);
    expect(cosineLr(cfg, 10, 10)).toBeCloseTo(0.002);
  });

});
