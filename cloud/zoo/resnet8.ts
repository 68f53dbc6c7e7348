import * as tf from '@tensorflow/tfjs';
import { convBn, dense, relu } from './blocks';
import type { SeededInit } from './seeded-init';

type Sym = tf.SymbolicTensor;

/**
 * ResNet-8: a 3x3 stem and three basic residual blocks (16, 32 stride 2, 64 stride 2 channels; two
 * 3x3 conv+BN each, a 1x1 conv+BN shortcut where the shape changes), global average pooling and a
 * logit layer: 7 convs + 1 dense on the main path.
 */
export function resnet8(inputShape: readonly [number, number, number], numClasses: number, init: SeededInit): tf.LayersModel {
  const input = tf.input({ name: 'input', shape: [...inputShape] });
  let x = relu(convBn(input, 'stem', 16, 3, init), 'stem_relu');
  let channels = 16;
  [
    [16, 1],
    [32, 2],
    [64, 2],
  ].forEach(([filters, stride], i) => {
    const name = `block${i + 1}`;
    let y = relu(convBn(x, `${name}_a`, filters!, 3, init, { strides: stride! }), `${name}_a_relu`);
    y = convBn(y, `${name}_b`, filters!, 3, init);
    const shortcut = stride !== 1 || channels !== filters ? convBn(x, `${name}_proj`, filters!, 1, init, { strides: stride! }) : x;
    const sum = tf.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as Sym;
    x = relu(sum, `${name}_relu`);
    channels = filters!;
  });
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as Sym;
  const logits = dense(x, 'logits', numClasses, init.glorot());
  return tf.model({ name: 'resnet8', inputs: input, outputs: logits });
}
