import * as tf from '@tensorflow/tfjs';
import type { LossFn } from './losses';

/** The tf.Variable behind each trainable weight of a layers model, in `trainableWeights` order. */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  // LayersVariable.read() returns the backing tf.Variable (what Model.fit hands the optimizer).
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/**
 * Loss and gradients of one batch in training mode (BatchNorm uses batch statistics and updates
 * its moving averages, as in Model.fit). Gradients come back in `trainableWeights` order; the
 * caller owns (and disposes) them.
 */
export function modelGradients(model: tf.LayersModel, lossFn: LossFn, x: tf.Tensor, y: tf.Tensor): { loss: number; grads: tf.Tensor[] } {
  const vars = trainableVariables(model);
  const { value, grads } = tf.variableGrads(() => lossFn(model.apply(x, { training: true }) as tf.Tensor, y), vars);
  const loss = value.dataSync()[0]!;
  value.dispose();
  return { loss, grads: vars.map((v) => grads[v.name]!) };
}

/**
 * Gradient of a loss with respect to the input through a frozen model (inference mode: BatchNorm
 * uses its moving statistics, nothing is updated): what model inversion needs.
 */
export function inputGradient(model: tf.LayersModel, lossFn: LossFn, x: tf.Tensor, y: tf.Tensor): { loss: number; grad: tf.Tensor } {
  const { value, grad } = tf.valueAndGrad((input: tf.Tensor) => lossFn(model.apply(input, { training: false }) as tf.Tensor, y))(x);
  const loss = value.dataSync()[0]!;
  value.dispose();
  return { loss, grad };
}
