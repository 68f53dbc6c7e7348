import * as tf from '@tensorflow/tfjs';
import { convBn, depthwiseSeparableHead, relu } from './blocks';
import type { SeededInit } from './seeded-init';

/**
 * A MobileNet-v1-style student: a 3x3 stride-2 stem, then depthwise-separable blocks (3x3
 * depthwise + BN + ReLU6, 1x1 pointwise + BN + ReLU6) of 32, 64 (stride 2) and 128 (stride 2)
 * channels, global average pooling and a logit layer. Sized to about the multiply-accumulates of
 * LeNet-5 with a fifth of its parameters.
 */
export function mobilenetTiny(inputShape: readonly [number, number, number], numClasses: number, init: SeededInit): tf.LayersModel {
  const input = tf.input({ name: 'input', shape: [...inputShape] });
  const x = relu(convBn(input, 'stem', 16, 3, init, { strides: 2 }), 'stem_relu6', 6);
  const logits = depthwiseSeparableHead(
    x,
    [
      [32, 1],
      [64, 2],
      [128, 2],
    ],
    numClasses,
    init,
  );
  return tf.model({ name: 'mobilenet-tiny', inputs: input, outputs: logits });
}
