import * as tf from '@tensorflow/tfjs';

/**
 * Loss terms of inversion and distillation. Formulas marked [V] follow the Fast-DFKD code
 * (zju-vipa/Fast-Datafree); see cloud/distill/README.md.
 */

/** [V] Per-sample T²·KL(softmax(t/T) ‖ softmax(s/T)), shape [n]. */
export function kdPerSample(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, temperature: number): tf.Tensor1D {
  return tf.tidy(() => {
    const logPs = tf.logSoftmax(tf.div(studentLogits, temperature));
    const logPt = tf.logSoftmax(tf.div(teacherLogits, temperature));
    const pt = tf.exp(logPt);
    return tf.mul(tf.sum(tf.mul(pt, tf.sub(logPt, logPs)), -1), temperature * temperature) as tf.Tensor1D;
  });
}

/** Weighted batch mean of a per-sample loss: Σ wᵢ·lᵢ / n (weights not renormalised). */
export function weightedMean(perSample: tf.Tensor1D, weights?: Float32Array): tf.Scalar {
  return tf.tidy(() => (weights ? tf.mean(tf.mul(perSample, tf.tensor1d(weights))) : tf.mean(perSample)) as tf.Scalar);
}

/** Per-sample cross-entropy of logits against integer labels, shape [n]. */
export function crossEntropyPerSample(logits: tf.Tensor2D, labels: Int32Array, numClasses: number): tf.Tensor1D {
  return tf.tidy(() => {
    const oh = tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses);
    return tf.neg(tf.sum(tf.mul(oh, tf.logSoftmax(logits)), -1)) as tf.Tensor1D;
  });
}

/**
 * [V] The masked adversarial term: mask_i·KL(t‖s) at T = 1, where mask_i = [argmax s = argmax t].
 * The generator minimises −mean(φ·this), i.e. pushes the student to disagree only where it
 * currently agrees with the teacher. The mask is data (computed by `agreementMask`), so no
 * gradient tries to pass through argmax.
 */
export function maskedDisagreement(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, mask: Float32Array): tf.Tensor1D {
  return tf.tidy(() => tf.mul(tf.tensor1d(mask), kdPerSample(studentLogits, teacherLogits, 1)) as tf.Tensor1D);
}

/** 1 where the two row-wise argmaxes agree, else 0. */
export function agreementMask(a: Float32Array | Int32Array, b: Float32Array | Int32Array, numClasses: number): Float32Array {
  const n = a.length / numClasses;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = argmaxRow(a, i, numClasses) === argmaxRow(b, i, numClasses) ? 1 : 0;
  return out;
}

export function argmaxRow(a: ArrayLike<number>, i: number, numClasses: number): number {
  let best = 0;
  for (let c = 1; c < numClasses; c++) if (a[i * numClasses + c]! > a[i * numClasses + best]!) best = c;
  return best;
}

/** Biased per-channel mean and variance of a BN input over every axis but the last. */
export function channelMoments(x: tf.Tensor): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  return { mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/**
 * [V] BN-statistics loss: Σ_l ‖σ²_l − σ̂²_l‖₂ + ‖μ_l − μ̂_l‖₂ (plain L2 norms, not squared).
 * With `ema` (one entry per layer) the batch moments are mixed as μ̂ = (1−m)·μ_batch + m·μ_ema,
 * Fast-DFKD's bn_mmt trick that lets a small batch match the running statistics on average.
 */
export function bnStatsLoss(
  bnInputs: readonly tf.Tensor[],
  targets: ReadonlyArray<{ mean: tf.Tensor1D; variance: tf.Tensor1D }>,
  ema?: ReadonlyArray<{ mean: tf.Tensor1D; variance: tf.Tensor1D } | null>,
  momentum = 0,
): tf.Scalar {
  return tf.tidy(() => {
    let total: tf.Tensor = tf.scalar(0);
    bnInputs.forEach((x, l) => {
      let { mean, variance } = channelMoments(x);
      const e = ema?.[l];
      if (e && momentum > 0) {
        mean = tf.add(tf.mul(mean, 1 - momentum), tf.mul(e.mean, momentum));
        variance = tf.add(tf.mul(variance, 1 - momentum), tf.mul(e.variance, momentum));
      }
      const t = targets[l]!;
      total = tf.add(total, tf.add(l2(tf.sub(variance, t.variance)), l2(tf.sub(mean, t.mean))));
    });
    return total as tf.Scalar;
  });
}

/** ‖d‖₂ with a 1e-12 floor under the root, so the gradient stays finite when d = 0. */
function l2(d: tf.Tensor): tf.Scalar {
  return tf.sqrt(tf.add(tf.sum(tf.square(d)), 1e-12)) as tf.Scalar;
}
