import * as tf from '@tensorflow/tfjs';
import { createRandom } from '../../../shared/random/seeded-random';

/**
 * Gives every BatchNorm layer non-trivial statistics and affine parameters, as a trained model
 * would have (fresh layers have mean 0, variance 1, γ 1, β 0, which would hide folding bugs).
 */
export function randomizeBatchNorm(model: tf.LayersModel, seed = 7): void {
  const rand = createRandom(seed);
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const ws = layer.getWeights();
    const next = layer.weights.map((w, i) => {
      const n = ws[i]!.size;
      const short = (w.originalName ?? w.name).split('/').pop()!;
      const v = new Float32Array(n);
      for (let j = 0; j < n; j++) {
        if (short.startsWith('gamma')) v[j] = 0.5 + rand.next();
        else if (short.startsWith('beta')) v[j] = rand.next() - 0.5;
        else if (short.startsWith('moving_mean')) v[j] = (rand.next() - 0.5) * 0.4;
        else v[j] = 0.3 + rand.next();
      }
      return tf.tensor(v, ws[i]!.shape);
    });
    layer.setWeights(next);
    next.forEach((t) => t.dispose());
  }
}

/** A small model using every layer type the exporter maps (for tests when the zoo is not enough). */
export function allOpsModel(seed = 3): tf.LayersModel {
  const init = () => tf.initializers.heNormal({ seed: seed++ });
  const input = tf.input({ name: 'input', shape: [12, 12, 3] });
  let x = tf.layers.conv2d({ name: 'c1', filters: 8, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init() }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'c1_bn' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'c1_relu6', maxValue: 6 }).apply(x) as tf.SymbolicTensor;
  const skip = x;
  let y = tf.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, padding: 'same', depthwiseInitializer: init() }).apply(x) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization({ name: 'dw_bn' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.reLU({ name: 'dw_relu' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.conv2d({ name: 'pw', filters: 8, kernelSize: 1, kernelInitializer: init() }).apply(y) as tf.SymbolicTensor;
  x = tf.layers.add({ name: 'add' }).apply([y, skip]) as tf.SymbolicTensor;
  x = tf.layers.activation({ name: 'add_relu', activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ name: 'mp', poolSize: 2, strides: 2 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ name: 'c2', filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init() }).apply(x) as tf.SymbolicTensor;
  const a = tf.layers.averagePooling2d({ name: 'ap', poolSize: 2, strides: 1, padding: 'same' }).apply(x) as tf.SymbolicTensor;
  const f = tf.layers.flatten({ name: 'flat' }).apply(a) as tf.SymbolicTensor;
  const gp = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  let d = tf.layers.dense({ name: 'fc1', units: 10, kernelInitializer: init() }).apply(f) as tf.SymbolicTensor;
  d = tf.layers.batchNormalization({ name: 'fc1_bn' }).apply(d) as tf.SymbolicTensor;
  d = tf.layers.dropout({ name: 'drop', rate: 0.5 }).apply(d) as tf.SymbolicTensor;
  const g2 = tf.layers.dense({ name: 'fc_gap', units: 10, activation: 'relu', kernelInitializer: init() }).apply(gp) as tf.SymbolicTensor;
  let o = tf.layers.add({ name: 'merge' }).apply([d, g2]) as tf.SymbolicTensor;
  o = tf.layers.dense({ name: 'out', units: 5, kernelInitializer: init() }).apply(o) as tf.SymbolicTensor;
  const model = tf.model({ name: 'all-ops', inputs: input, outputs: o });
  randomizeBatchNorm(model, seed);
  return model;
}

export function randomImages(n: number, shape: readonly number[], seed: number, range: [number, number] = [-1, 1]): Float32Array {
  const rand = createRandom(seed);
  const size = n * shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = range[0] + (range[1] - range[0]) * rand.next();
  return out;
}
