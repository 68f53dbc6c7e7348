import * as tf from '@tensorflow/tfjs';
import { convBn, dense, depthwiseBn, relu } from './blocks';
import type { SeededInit } from './seeded-init';

type Sym = tf.SymbolicTensor;

/**
 * A MobileNet-v1-style student: a 3x3 stride-2 stem, then depthwise-separable blocks (3x3
 * depthwise + BN + ReLU6, 1x1 pointwise + BN + ReLU6) of 32, 64 (stride 2) and 128 (stride 2)
 * channels, global average pooling and a logit layer. Sized to about the multiply-accumulates of
 * LeNet-5 with a fifth of its parameters.
 */
export function mobilenetTiny(inputShape: readonly [number, number, number], numClasses: number, init: SeededInit): tf.LayersModel {
  const input = tf.input({ name: 'input', shape: [...inputShape] });
  let x = relu(convBn(input, 'stem', 16, 3, init, { strides: 2 }), 'stem_relu6', 6);
  [
    [32, 1],
    [64, 2],
    [128, 2],
  ].forEach(([filters, stride], i) => {
    const name = `dws${i + 1}`;
    x = relu(depthwiseBn(x, name, 3, stride!, init), `${name}_dw_relu6`, 6);
    x = relu(convBn(x, `${name}_pw`, filters!, 1, init), `${name}_pw_relu6`, 6);
  });
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as Sym;
  const logits = dense(x, 'logits', numClasses, init.glorot());
  return tf.model({ name: 'mobilenet-tiny', inputs: input, outputs: logits });
}
