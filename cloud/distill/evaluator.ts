import * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';
import type { LabelledSplit } from '../data/labelled-split';

/**
 * Test-set accuracy. The evaluator is built from the TEST split only and exposes nothing but a
 * score, so handing it to a data-free run gives that run no image to learn from.
 */
export interface Evaluator {
  readonly samples: number;
  accuracy(model: tf.LayersModel): number;
}

export function createTestEvaluator(test: LabelledSplit, opts: { batchSize?: number } = {}): Evaluator {
  if (test.count === 0) throw new EdgekdError('EDGEKD_DATASET_INVALID', 'the test split is empty');
  const bs = opts.batchSize ?? 1000;
  const [h, w, c] = test.shape;
  const dim = h * w * c;
  const images = test.images;
  const labels = test.labels;
  return {
    samples: test.count,
    accuracy(model) {
      let correct = 0;
      for (let start = 0; start < test.count; start += bs) {
        const n = Math.min(bs, test.count - start);
        const pred = tf.tidy(() => {
          const x = tf.tensor4d(images.subarray(start * dim, (start + n) * dim), [n, h, w, c]);
          return tf.argMax(model.apply(x, { training: false }) as tf.Tensor, -1);
        });
        const p = pred.dataSync();
        pred.dispose();
        for (let i = 0; i < n; i++) if (p[i] === labels[start + i]) correct++;
      }
      return correct / test.count;
    },
  };
}

/** Fraction of inputs on which two models' top classes agree (no labels involved). */
export function agreement(a: tf.LayersModel, b: tf.LayersModel, x: tf.Tensor4D): number {
  return tf.tidy(() => {
    const pa = tf.argMax(a.apply(x, { training: false }) as tf.Tensor, -1);
    const pb = tf.argMax(b.apply(x, { training: false }) as tf.Tensor, -1);
    return tf.mean(tf.cast(tf.equal(pa, pb), 'float32')).dataSync()[0]!;
  });
}
