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

/**
 * `weightedMean(kdPerSample(s, t, T), w)` as one op with a closed-form gradient, for the student
 * step: the forward reads the student's logits once and computes each sample's T²·KL on the host
 * (float64), the backward is one tensor, ∂L/∂sᵢ = (wᵢ/n)·T·(softmax(sᵢ/T) − softmax(tᵢ/T)).
 * The tensor version is ~25 kernels forward and backward on a [128, 10] tensor, each a dispatch.
 * Same value as the tensor version to float32 rounding (losses.test.ts).
 */
export function kdLossFused(studentLogits: tf.Tensor2D, teacherLogits: Float32Array, temperature: number, weights?: Float32Array): { loss: tf.Scalar; perSample: Float32Array } {
  const [n, C] = studentLogits.shape;
  const T = temperature;
  const perSample = new Float32Array(n);
  const op = tf.customGrad(((s: tf.Tensor) => {
    const sv = s.dataSync() as Float32Array;
    const grad = new Float32Array(n * C);
    const ps = new Float64Array(C);
    const pt = new Float64Array(C);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const o = i * C;
      const lseS = logSumExpScaled(sv, o, C, T);
      const lseT = logSumExpScaled(teacherLogits, o, C, T);
      let kl = 0;
      for (let c = 0; c < C; c++) {
        const logPs = sv[o + c]! / T - lseS;
        const logPt = teacherLogits[o + c]! / T - lseT;
        ps[c] = Math.exp(logPs);
        pt[c] = Math.exp(logPt);
        kl += pt[c]! * (logPt - logPs);
      }
      const per = T * T * kl;
      perSample[i] = per;
      const w = weights ? weights[i]! : 1;
      total += w * per;
      const k = (w / n) * T;
      for (let c = 0; c < C; c++) grad[o + c] = k * (ps[c]! - pt[c]!);
    }
    return { value: tf.scalar(total / n), gradFunc: (dy: tf.Tensor) => tf.mul(dy, tf.tensor2d(grad, [n, C])) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return { loss: op(studentLogits) as tf.Scalar, perSample };
}

/** log Σ_c exp(a[o+c]/T), stabilised by the row maximum. */
function logSumExpScaled(a: ArrayLike<number>, o: number, C: number, T: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < C; c++) max = Math.max(max, a[o + c]! / T);
  let sum = 0;
  for (let c = 0; c < C; c++) sum += Math.exp(a[o + c]! / T - max);
  return max + Math.log(sum);
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
