import * as tf from '@tensorflow/tfjs';
import { convBn, dense, relu } from './blocks';
import type { SeededInit } from './seeded-init';

type Sym = tf.SymbolicTensor;

/** A CIFAR-style ResNet: three stages of basic blocks, stages 2 and 3 halve the resolution. */
export interface ResNetSpec {
  readonly name: string;
  /** Channels of the stem and stage 1, stage 2, stage 3. */
  readonly widths: readonly [number, number, number];
  /** Basic blocks per stage (1 → ResNet-8, 3 → ResNet-20: 6n + 2 layers). */
  readonly blocksPerStage: number;
}

/**
 * A 3x3 conv+BN stem, then `blocksPerStage` basic residual blocks per stage (two 3x3 conv+BN each;
 * the first block of stages 2 and 3 has stride 2 and a 1x1 conv+BN shortcut where the shape
 * changes), global average pooling and a logit layer. Layer names: `stem`, `block<k>_a/_b/_proj`
 * numbered through the whole network, so ResNet-8's names are those it always had.
 */
export function resnet(spec: ResNetSpec, inputShape: readonly [number, number, number], numClasses: number, init: SeededInit): tf.LayersModel {
  const input = tf.input({ name: 'input', shape: [...inputShape] });
  let x = relu(convBn(input, 'stem', spec.widths[0], 3, init), 'stem_relu');
  let channels = spec.widths[0];
  let k = 0;
  spec.widths.forEach((filters, stage) => {
    for (let b = 0; b < spec.blocksPerStage; b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const name = `block${++k}`;
      let y = relu(convBn(x, `${name}_a`, filters, 3, init, { strides: stride }), `${name}_a_relu`);
      y = convBn(y, `${name}_b`, filters, 3, init);
      const shortcut = stride !== 1 || channels !== filters ? convBn(x, `${name}_proj`, filters, 1, init, { strides: stride }) : x;
      const sum = tf.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as Sym;
      x = relu(sum, `${name}_relu`);
      channels = filters;
    }
  });
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as Sym;
  const logits = dense(x, 'logits', numClasses, init.glorot());
  return tf.model({ name: spec.name, inputs: input, outputs: logits });
}

/** ResNet-8: 16, 32, 64 channels, one block per stage (7 convs + 1 dense on the main path). */
export const RESNET8: ResNetSpec = { name: 'resnet8', widths: [16, 32, 64], blocksPerStage: 1 };
/** ResNet-8 at half width (8, 16, 32): a student about a quarter of ResNet-8's MACs. */
export const RESNET8_HALF: ResNetSpec = { name: 'resnet8-half', widths: [8, 16, 32], blocksPerStage: 1 };
/** ResNet-20 (He et al.'s CIFAR ResNet): 16, 32, 64 channels, three blocks per stage. */
export const RESNET20: ResNetSpec = { name: 'resnet20', widths: [16, 32, 64], blocksPerStage: 3 };

export function resnet8(inputShape: readonly [number, number, number], numClasses: number, init: SeededInit): tf.LayersModel {
  return resnet(RESNET8, inputShape, numClasses, init);
}
