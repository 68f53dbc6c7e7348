import * as tf from '@tensorflow/tfjs';
import type { Initializer, SeededInit } from './seeded-init';

/**
 * Building blocks shared by the zoo. Every layer gets an explicit name (stable weight names in
 * saved models and ONNX exports) and only ops the exporter maps: Conv2D, DepthwiseConv2D,
 * BatchNormalization, ReLU (max 6 for ReLU6), Add, MaxPooling2D, GlobalAveragePooling2D, Flatten,
 * Dense. Convolutions followed by BatchNorm carry no bias (BatchNorm's beta replaces it).
 */
type Sym = tf.SymbolicTensor;

export function convBn(
  x: Sym,
  name: string,
  filters: number,
  kernel: number,
  init: SeededInit,
  opts: { strides?: number; padding?: 'same' | 'valid' } = {},
): Sym {
  const conv = tf.layers.conv2d({
    name: `${name}_conv`,
    filters,
    kernelSize: kernel,
    strides: opts.strides ?? 1,
    padding: opts.padding ?? 'same',
    useBias: false,
    kernelInitializer: init.he(),
  });
  const bn = tf.layers.batchNormalization({ name: `${name}_bn`, momentum: 0.9, epsilon: 1e-3 });
  return bn.apply(conv.apply(x)) as Sym;
}

export function relu(x: Sym, name: string, maxValue?: number): Sym {
  return tf.layers.reLU({ name, ...(maxValue === undefined ? {} : { maxValue }) }).apply(x) as Sym;
}

export function depthwiseBn(x: Sym, name: string, kernel: number, strides: number, init: SeededInit): Sym {
  const dw = tf.layers.depthwiseConv2d({
    name: `${name}_dw`,
    kernelSize: kernel,
    strides,
    padding: 'same',
    depthMultiplier: 1,
    useBias: false,
    depthwiseInitializer: init.he(),
  });
  const bn = tf.layers.batchNormalization({ name: `${name}_dwbn`, momentum: 0.9, epsilon: 1e-3 });
  return bn.apply(dw.apply(x)) as Sym;
}

export function dense(x: Sym, name: string, units: number, initializer: Initializer): Sym {
  return tf.layers.dense({ name, units, useBias: true, kernelInitializer: initializer, biasInitializer: 'zeros' }).apply(x) as Sym;
}

/**
 * The MobileNet-v1 body shared by the depthwise students: for each `[filters, stride]`, a 3x3
 * depthwise conv + BN + ReLU6 (`dws<i>`) then a 1x1 pointwise conv + BN + ReLU6 (`dws<i>_pw`);
 * then global average pooling and the logit layer. Layer names are part of saved models.
 */
export function depthwiseSeparableHead(x: tf.SymbolicTensor, blocks: ReadonlyArray<readonly [number, number]>, numClasses: number, init: SeededInit): tf.SymbolicTensor {
  let y = x;
  blocks.forEach(([filters, stride], i) => {
    const name = `dws${i + 1}`;
    y = relu(depthwiseBn(y, name, 3, stride, init), `${name}_dw_relu6`, 6);
    y = relu(convBn(y, `${name}_pw`, filters, 1, init), `${name}_pw_relu6`, 6);
  });
  y = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(y) as tf.SymbolicTensor;
  return dense(y, 'logits', numClasses, init.glorot());
}
