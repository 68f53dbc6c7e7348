import type * as tf from '@tensorflow/tfjs';
import { defaultConfig } from './config';
import { kdPerSample, weightedMean } from './losses';

/**
 * The KD loss as a `LossFn` module for the data-parallel trainer (cloud/compute), whose workers
 * import a loss by module path: targets are the teacher's logits, the temperature is the default
 * configuration's. A batch mean, as the trainer requires.
 */
export function kdLossDefaultTemperature(studentLogits: tf.Tensor, teacherLogits: tf.Tensor): tf.Scalar {
  return weightedMean(kdPerSample(studentLogits as tf.Tensor2D, teacherLogits as tf.Tensor2D, defaultConfig.kd.temperature));
}
