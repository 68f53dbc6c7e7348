import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from './config';
import { StudentTrainer } from './student-trainer';
import { probeImages, tinyStudent } from './tiny-models.test-helper';

/** The fast student step (fused KD loss, host SGD) against the reference tensor path. */

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('StudentTrainer step paths', () => {
  it('fused KD loss with the host SGD trains the same weights as the tensor path, within float32 rounding', () => {
    const a = tinyStudent(3);
    const b = tinyStudent(3);
    const fast = new StudentTrainer(a, defaultConfig.kd, { kdLoss: 'fused', update: 'host' });
    const ref = new StudentTrainer(b, defaultConfig.kd, { kdLoss: 'tensor', update: 'tensor' });
    const x = probeImages(12, 5);
    const t = tf.tidy(() => tf.mul(tf.randomNormal([12, 3], 0, 1, 'float32', 9), 3)) as tf.Tensor2D;
    const w = Float32Array.from({ length: 12 }, (_, i) => 0.5 + (i % 3) * 0.5);
    for (let k = 0; k < 3; k++) {
      const r1 = fast.kdStep(x, t, w);
      const r2 = ref.kdStep(x, t, w);
      expect(Math.abs(r1.loss - r2.loss)).toBeLessThanOrEqual(1e-4 * Math.abs(r2.loss));
      r1.perSample.forEach((v, i) => expect(Math.abs(v - r2.perSample[i]!)).toBeLessThanOrEqual(1e-4 * Math.max(1e-3, Math.abs(r2.perSample[i]!))));
    }
    const wa = a.getWeights().map((v) => Array.from(v.dataSync()));
    const wb = b.getWeights().map((v) => Array.from(v.dataSync()));
    wa.forEach((v, i) => v.forEach((x, j) => expect(Math.abs(x - wb[i]![j]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(x)))));
    // The step moved the weights at all (the comparison is not between two untouched models).
    const w0 = tinyStudent(3).getWeights().map((v) => Array.from(v.dataSync()));
    expect(wa.some((v, i) => v.some((x, j) => x !== w0[i]![j]))).toBe(true);
  });
});
