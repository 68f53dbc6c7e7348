import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { augmentBatch } from './augment';
import { augmentBatchHost, augmentPixels } from './augment-pixels';
import { createRandom } from '../../shared/random/seeded-random';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('augmentPixels', () => {
  for (const [label, cfg, shape] of [
    ['pad 2 + flip, 8 groups, 1 channel', { pad: 2, flip: true, groups: 8 }, [13, 6, 5, 1]],
    ['pad 4, no flip, 3 channels', { pad: 4, flip: false, groups: 3 }, [5, 7, 7, 3]],
    ['flip only, more groups than images', { pad: 0, flip: true, groups: 16 }, [4, 3, 4, 2]],
    ['nothing to do', { pad: 0, flip: false, groups: 8 }, [2, 3, 3, 1]],
  ] as const) {
    it(`matches augmentBatch value for value and draws the same random numbers: ${label}`, () => {
      const [n, h, w, c] = shape;
      const src = Float32Array.from({ length: n * h * w * c }, (_, i) => Math.sin(i * 1.7));
      const a = createRandom(42);
      const b = createRandom(42);
      const expected = tf.tidy(() => augmentBatch(tf.tensor4d(src, [n, h, w, c]), cfg, -1, a).dataSync() as Float32Array);
      const got = augmentPixels(src, [n, h, w, c], cfg, -1, b);
      expect(Array.from(got)).toEqual(Array.from(expected));
      expect(b.next()).toBe(a.next());
    });
  }
});

describe('augmentBatchHost', () => {
  for (const [label, cfg, shape] of [
    ['pad 2 + flip, 8 groups, 1 channel', { pad: 2, flip: true, groups: 8 }, [13, 6, 5, 1]],
    ['pad 4, no flip, 3 channels', { pad: 4, flip: false, groups: 3 }, [5, 7, 7, 3]],
    ['flip only', { pad: 0, flip: true, groups: 4 }, [4, 3, 4, 2]],
  ] as const) {
    it(`gives augmentBatch's values and gradient, exactly: ${label}`, () => {
      const [n, h, w, c] = shape;
      const src = tf.tensor4d(Float32Array.from({ length: n * h * w * c }, (_, i) => Math.sin(i * 1.7)), [n, h, w, c]);
      // A weighting that differs per output element, so a misplaced gradient shows.
      const wts = tf.tensor4d(Float32Array.from({ length: n * h * w * c }, (_, i) => Math.cos(i * 0.37)), [n, h, w, c]);
      const run = (f: typeof augmentBatch, seed: number) => {
        const rng = createRandom(seed);
        let y: number[] = [];
        const g = tf.grad((x: tf.Tensor) => {
          const a = f(x as tf.Tensor4D, cfg, -1, rng);
          y = Array.from(a.dataSync());
          return tf.sum(tf.mul(a, wts));
        })(src);
        return { y, g: Array.from(g.dataSync()), next: rng.next() };
      };
      const ref = run(augmentBatch, 9);
      const got = run(augmentBatchHost, 9);
      expect(got.y).toEqual(ref.y);
      expect(got.g).toEqual(ref.g);
      expect(got.next).toBe(ref.next);
    });
  }
});
