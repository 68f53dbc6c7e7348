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
