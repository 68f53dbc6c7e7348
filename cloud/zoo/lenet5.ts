import * as tf from '@tensorflow/tfjs';
import { convBn, dense, relu } from './blocks';
import type { SeededInit } from './seeded-init';

/**
 * LeNet-5 as in the DAFL protocol (Chen et al., ICCV 2019): conv 5x5 ×6 → pool → conv 5x5 ×16 →
 * pool → conv 5x5 ×120 → fc 84 → fc classes, here with BatchNorm after every convolution (the
 * statistics data-free inversion matches). `width` 0.5 is LeNet-5-half (3, 8, 60, 42), DAFL's
 * student. On 28x28 inputs the first conv pads 'same' (as the original LeNet padded MNIST to
 * 32x32); on 32x32 inputs it is 'valid'; both reach 5x5x16 before conv3.
 */
export function lenet5(inputShape: readonly [number, number, number], numClasses: number, init: SeededInit, width: number): tf.LayersModel {
  const c = (n: number) => Math.max(1, Math.round(n * width));
  const input = tf.input({ name: 'input', shape: [...inputShape] });
  let x = convBn(input, 'conv1', c(6), 5, init, { padding: inputShape[0] < 32 ? 'same' : 'valid' });
  x = relu(x, 'conv1_relu');
  x = tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2, strides: 2 }).apply(x) as tf.SymbolicTensor;
  x = convBn(x, 'conv2', c(16), 5, init, { padding: 'valid' });
  x = relu(x, 'conv2_relu');
  x = tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2, strides: 2 }).apply(x) as tf.SymbolicTensor;
  x = convBn(x, 'conv3', c(120), 5, init, { padding: 'valid' });
  x = relu(x, 'conv3_relu');
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  x = relu(dense(x, 'fc1', c(84), init.he()), 'fc1_relu');
  const logits = dense(x, 'logits', numClasses, init.glorot());
  return tf.model({ name: width === 1 ? 'lenet5-bn' : 'lenet5-half', inputs: input, outputs: logits });
}
