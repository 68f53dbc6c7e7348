import * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';
import type { Random } from '../../shared/random/seeded-random';

/**
 * The generator, as plain variables and a forward function (not a layers model) so that the
 * meta-learner can clone it cheaply and take gradients for exactly the variables it wants.
 *
 * Shape follows Fast-DFKD's generator (datafree/models/generator.py) scaled down for a CPU:
 *   z[nz] → dense → [s, s, 2·ngf] → BN → up×2 → conv3x3(2ngf) → BN → LReLU(0.2)
 *         → conv3x3(ngf) → BN → LReLU(0.2) → up×2 → conv3x3(c) → tanh → input domain
 * with s = h/4 (7 for 28x28, 8 for 32x32). Unlike Fast's, the second conv runs at half
 * resolution and only the last (c-channel) conv at full resolution: on a CPU the full-resolution
 * layers dominated the generator's cost (measured ~2x cheaper at ngf 8). Generator BN always uses batch statistics (Fast's
 * generator is in train mode while synthesising). The output maps tanh's (−1, 1) linearly onto
 * the dataset's normalised range [low, high], so generated images live in the teacher's domain.
 */
export interface GeneratorConfig {
  nz: number;
  ngf: number;
  outputShape: [number, number, number];
  /** Model-input values of the darkest and brightest pixel (dataset normalisation). */
  range: { low: number; high: number };
}

/** Ordered parameter list; order is the checkpoint order. */
export type GeneratorParams = tf.Variable[];

export function createGenerator(cfg: GeneratorConfig, rng: Random): GeneratorParams {
  const [h, w, c] = cfg.outputShape;
  if (h % 4 !== 0 || w % 4 !== 0) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `generator output ${h}x${w} must be divisible by 4`);
  const s0 = (h / 4) * (w / 4);
  const c0 = 2 * cfg.ngf;
  const normal = (shape: number[], std: number) => tf.tensor(rng.normals(shape.reduce((a, b) => a * b, 1)).map((v) => v * std), shape);
  const he = (k: number, cin: number, cout: number) => normal([k, k, cin, cout], Math.sqrt(2 / (k * k * cin)));
  const ones = (n: number) => tf.ones([n]);
  const zeros = (n: number) => tf.zeros([n]);
  const init: tf.Tensor[] = [
    normal([cfg.nz, s0 * c0], Math.sqrt(1 / cfg.nz)),
    zeros(s0 * c0),
    ones(c0),
    zeros(c0),
    he(3, c0, c0),
    ones(c0),
    zeros(c0),
    he(3, c0, cfg.ngf),
    ones(cfg.ngf),
    zeros(cfg.ngf),
    he(3, cfg.ngf, c),
    zeros(c),
  ];
  return init.map((t) => {
    const v = tf.variable(t, true);
    t.dispose();
    return v;
  });
}

export function cloneGenerator(params: GeneratorParams): GeneratorParams {
  return params.map((p) => tf.variable(p, true));
}

export function assignGenerator(target: GeneratorParams, values: readonly tf.Tensor[]): void {
  target.forEach((p, i) => p.assign(values[i]!));
}

function batchNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), gamma), beta);
}

/** Nearest-neighbour ×2 upsampling as a broadcast multiply (its gradient is a sum on every backend). */
function upsample2(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const r = tf.reshape(x, [n, h, 1, w, 1, c]);
  return tf.reshape(tf.mul(r, tf.ones([1, 1, 2, 1, 2, 1])), [n, 2 * h, 2 * w, c]);
}

export function generate(params: GeneratorParams, z: tf.Tensor2D, cfg: GeneratorConfig): tf.Tensor4D {
  return tf.tidy(() => {
    const [dw, db, g0, b0, k1, g1, b1, k2, g2, b2, k3, kb3] = params as tf.Tensor[];
    const [h, w] = cfg.outputShape;
    const n = z.shape[0];
    let x: tf.Tensor = tf.add(tf.matMul(z, dw!), db!);
    x = tf.reshape(x, [n, h / 4, w / 4, 2 * cfg.ngf]);
    x = batchNorm(x, g0!, b0!);
    x = upsample2(x as tf.Tensor4D);
    x = tf.leakyRelu(batchNorm(tf.conv2d(x as tf.Tensor4D, k1 as tf.Tensor4D, 1, 'same'), g1!, b1!), 0.2);
    x = tf.leakyRelu(batchNorm(tf.conv2d(x as tf.Tensor4D, k2 as tf.Tensor4D, 1, 'same'), g2!, b2!), 0.2);
    x = upsample2(x as tf.Tensor4D);
    x = tf.add(tf.conv2d(x as tf.Tensor4D, k3 as tf.Tensor4D, 1, 'same'), kb3!);
    const { low, high } = cfg.range;
    return tf.add(tf.mul(tf.add(tf.tanh(x), 1), (high - low) / 2), low) as tf.Tensor4D;
  });
}
