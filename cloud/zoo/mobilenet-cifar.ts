import * as tf from '@tensorflow/tfjs';
import { convBn, depthwiseSeparableHead, relu } from './blocks';
import type { SeededInit } from './seeded-init';

/**
 * A depthwise-separable student for 32x32 colour images (what a Jetson-class device runs): a 3x3
 * stride-1 stem of 32 channels (mobilenet-tiny's stride-2 stem throws away half of a 32x32 image
 * before any feature is learnt), then depthwise-separable blocks (3x3 depthwise + BN + ReLU6, 1x1
 * pointwise + BN + ReLU6) of 64, 128 (stride 2), 128, 256 (stride 2) channels, global average
 * pooling and a logit layer.
 */
export function mobilenetCifar(inputShape: readonly [number, number, number], numClasses: number, init: SeededInit): tf.LayersModel {
  const input = tf.input({ name: 'input', shape: [...inputShape] });
  const x = relu(convBn(input, 'stem', 32, 3, init), 'stem_relu6', 6);
  const logits = depthwiseSeparableHead(
    x,
    [
      [64, 1],
      [128, 2],
      [128, 1],
      [256, 2],
    ],
    numClasses,
    init,
  );
  return tf.model({ name: 'mobilenet-cifar', inputs: input, outputs: logits });
}
