import * as tf from '@tensorflow/tfjs';

/**
 * Leaner gradients for BatchNorm training, same mathematics as tfjs-core 4.22's.
 *
 * In training, a BatchNorm layer is Mean → SquaredDifference → Mean (tf.moments) → FusedBatchNorm.
 * tfjs's gradients for these materialise several activation-sized tensors that are only
 * broadcasts: FusedBatchNorm tiles rsqrt(var+ε) to the full shape and multiplies per element in
 * four separate full-size products; Mean multiplies dy by a freshly filled tensor of ones and
 * divides. Here:
 *
 * - FusedBatchNorm (per-channel statistics): with r = rsqrt(var+ε), s = scale and the shared
 *   reductions Σdy and Σdy·(x−mean) over every axis but the channel axis,
 *   dx = dy·(r·s) (a broadcast multiply), dmean = −r·s·Σdy,
 *   dvar = −½·r³·s·Σdy·(x−mean), dscale = r·Σdy·(x−mean), doffset = Σdy.
 *   About nine activation-sized passes in training (one in inference) instead of about fifteen
 *   plus a Tile.
 * - Mean: dx = tile(dy/n) over the reduced axes: one write pass (Tile is a heap copy on wasm, see
 *   wasm-speedups.ts) instead of fill + multiply + divide.
 *
 * Anything else (statistics not per channel) goes to the original gradient.
 */

type GradFunc = tf.GradConfig['gradFunc'];

export function fusedBatchNormGradConfig(original: tf.GradConfig): tf.GradConfig {
  const gradFunc: GradFunc = (dy, saved, attrs) => {
    const [x, mean, variance, scale] = saved as tf.Tensor[];
    if (!x || !mean || !variance || mean.rank !== 1 || Array.isArray(dy)) return original.gradFunc(dy, saved, attrs);
    const dyT = dy as tf.Tensor;
    const eps = (attrs as { varianceEpsilon: number }).varianceEpsilon;
    const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
    // tfjs runs each closure below inside its own tidy, so nothing computed in one closure may
    // be reused by another: each reduction is recomputed where needed (cheap next to tiling).
    const r = () => tf.rsqrt(tf.add(variance, tf.scalar(eps)));
    const rs = () => (scale ? tf.mul(r(), scale) : r());
    const sumDyXm = () => tf.sum(tf.mul(dyT, tf.sub(x, mean)), axes);
    return {
      x: () => tf.mul(dyT, rs()),
      mean: () => tf.reshape(tf.mul(tf.neg(rs()), tf.sum(dyT, axes)), mean.shape),
      variance: () => {
        const rr = r();
        return tf.reshape(tf.mul(tf.mul(tf.mul(tf.mul(rr, rr), rs()), tf.scalar(-0.5)), sumDyXm()), mean.shape);
      },
      scale: () => tf.reshape(tf.mul(r(), sumDyXm()), mean.shape),
      offset: () => tf.reshape(tf.sum(dyT, axes), mean.shape),
    };
  };
  return { ...original, gradFunc };
}

export function meanGradConfig(original: tf.GradConfig): tf.GradConfig {
  const gradFunc: GradFunc = (dy, saved, attrs) => {
    const [x] = saved as tf.Tensor[];
    if (!x || Array.isArray(dy)) return original.gradFunc(dy, saved, attrs);
    const axes = tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, x.shape);
    const n = axes.reduce((p, a) => p * x.shape[a]!, 1);
    return {
      x: () => {
        const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
        const reps = x.shape.map((d, i) => (axes.includes(i) ? d : 1));
        return tf.tile(tf.mul(tf.reshape(dy as tf.Tensor, expanded), tf.scalar(1 / n)), reps);
      },
    };
  };
  return { ...original, gradFunc };
}

const MARK = Symbol.for('edgekd.compute.gradient');

/**
 * Replaces the FusedBatchNorm and Mean gradients for every backend (the gradient registry is not
 * per backend; the mathematics is the same). Idempotent. Returns the kernel names replaced.
 */
export function registerBatchNormGradients(): string[] {
  const replaced: string[] = [];
  for (const [name, make] of [
    ['FusedBatchNorm', fusedBatchNormGradConfig],
    ['Mean', meanGradConfig],
  ] as const) {
    const current = tf.getGradient(name) as (tf.GradConfig & { [MARK]?: true }) | undefined;
    if (!current || current[MARK]) continue;
    tf.registerGradient({ ...make(current), [MARK]: true } as tf.GradConfig);
    replaced.push(name);
  }
  return replaced;
}
