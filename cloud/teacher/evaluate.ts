import * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';
import { iterateBatches } from '../data/batches';
import type { LabelledSplit } from '../data/labelled-split';

export interface EvalResult {
  /** Share of images whose arg-max logit is the label. */
  readonly accuracy: number;
  readonly samples: number;
  /** Mean softmax cross-entropy. */
  readonly loss: number;
}

/** Inference-mode accuracy (BatchNorm uses its moving statistics) over a whole split. */
export function evaluateModel(model: tf.LayersModel, split: LabelledSplit, batchSize = 256): EvalResult {
  const inShape = model.inputs[0]!.shape.slice(1);
  if (inShape.join('x') !== split.shape.join('x')) {
    throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `model expects ${inShape.join('x')} inputs, the dataset has ${split.shape.join('x')}`);
  }
  const numClasses = model.outputs[0]!.shape[1] as number;
  let correct = 0;
  let lossSum = 0;
  for (const batch of iterateBatches(split, { batchSize })) {
    const [c, l] = tf.tidy(() => {
      const xs = tf.tensor4d(batch.xs, [batch.size, ...batch.shape]);
      const labels = tf.tensor1d(batch.labels, 'int32');
      const logits = model.predict(xs) as tf.Tensor2D;
      const hits = logits.argMax(1).equal(labels).sum();
      const loss = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, numClasses), logits, undefined, undefined, tf.Reduction.SUM);
      return [hits.dataSync()[0]!, loss.dataSync()[0]!];
    });
    correct += c;
    lossSum += l;
  }
  return { accuracy: split.count === 0 ? 0 : correct / split.count, samples: split.count, loss: split.count === 0 ? 0 : lossSum / split.count };
}
