import * as tf from '@tensorflow/tfjs';

/**
 * Tiny teacher/student pairs for fast tests on the cpu backend (8x8x1 inputs by default, or
 * `channels: 3` for colour; 3 classes). The teacher gets non-trivial BN running statistics so BN
 * matching has something to match.
 */
export function tinyTeacher(seed: number, opts: { batchNorm?: boolean; size?: number; classes?: number; channels?: number } = {}): tf.LayersModel {
  const s = opts.size ?? 8;
  const input = tf.input({ shape: [s, s, opts.channels ?? 1] });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tf.initializers.glorotNormal({ seed }) }).apply(input) as tf.SymbolicTensor;
  if (opts.batchNorm !== false) x = tf.layers.batchNormalization({ name: `t_bn_${seed}` }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: opts.classes ?? 3, kernelInitializer: tf.initializers.glorotNormal({ seed: seed + 1 }) }).apply(x) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: out });
  if (opts.batchNorm !== false) {
    const bn = m.layers.find((l) => l.getClassName() === 'BatchNormalization')!;
    const [g, b] = bn.getWeights();
    bn.setWeights([g!, b!, tf.tensor1d([0.1, -0.2, 0.3, 0]), tf.tensor1d([0.5, 1.5, 1, 2])]);
  }
  return m;
}

export function tinyStudent(seed: number, opts: { size?: number; classes?: number; channels?: number } = {}): tf.LayersModel {
  const s = opts.size ?? 8;
  const input = tf.input({ shape: [s, s, opts.channels ?? 1] });
  let x = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotNormal({ seed }) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: opts.classes ?? 3, kernelInitializer: tf.initializers.glorotNormal({ seed: seed + 1 }) }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** Fixed probe images (smooth random blobs in [-1, 1]) for measuring teacher–student agreement. */
export function probeImages(n: number, seed: number, size = 8, channels = 1): tf.Tensor4D {
  return tf.tidy(() => {
    const coarse = tf.randomUniform([n, 4, 4, channels], -1, 1, 'float32', seed);
    return tf.image.resizeBilinear(coarse as tf.Tensor4D, [size, size]);
  });
}
