/**
 * The modulating function φ of SSD-KD (class balance × difficulty).
 *
 * What the paper says (abstract, overview figure): φ is "diversity aware" and "difficulty aware"
 * and is used both while synthesising and while distilling. Its exact formula is not public. The
 * form below is a RECONSTRUCTION (see cloud/distill/README.md); every constant is configuration:
 *
 *   φ_div(x)  = N / (C · n_ŷ)          n_ŷ: samples predicted as the teacher's class ŷ in the
 *                                       reference histogram (buffer ∪ batch); N its total
 *   φ_diff(x) = (1 − p_t(y|x) + floor)^γ   focal-style; y is the sample's TARGET class when it has
 *                                       one (synthesis, insertion), else the teacher's top class ŷ;
 *                                       floor keeps confident samples alive
 *   φ(x)      = normalise_batch(φ_div^useDiv · φ_diff^useDiff), mean 1, clipped to maxWeight
 *
 * Mean 1 keeps the scale of any loss φ multiplies, so φ reweights samples without changing the
 * effective learning rate.
 */
export interface ModulationConfig {
  /** Use the class-balance (diversity) term. */
  diversity: boolean;
  /** Use the difficulty term. */
  difficulty: boolean;
  /**
   * Focal exponent γ. Not from the paper. The focal-loss default 2 measured worse than 0.5 here
   * (quick schedule, seeds 1-2): at γ = 2 a sample the teacher is sure of weighs ~1/30 of an
   * uncertain one, so synthesis and insertion chase ambiguous images.
   */
  gamma: number;
  /** Added to 1 − p before the power, so a sample the teacher is sure of keeps some weight. */
  difficultyFloor: number;
  /** Upper clip of a normalised weight (before the final renormalisation). */
  maxWeight: number;
}

/*
 * Why the target's confidence and not the top class's: with p_t(ŷ|x), a sample the teacher
 * confidently puts in the WRONG class looks easy (p_t(ŷ) near 1) and its class loss is turned
 * down, exactly where the generator most needs the push. With p_t(y|x) it is the hardest sample.
 */

export const defaultModulation: ModulationConfig = {
  diversity: true,
  difficulty: true,
  gamma: 0.5,
  difficultyFloor: 0.1,
  maxWeight: 5,
};

/**
 * φ for a batch. `probs` is the teacher's softmax, row-major [n, C]; `histogram` counts predicted
 * classes in the reference set (the batch's own predictions are added here, so an empty buffer
 * still balances within the batch); `targets`, when the samples have them, are the classes whose
 * confidence the difficulty term reads.
 */
export function modulate(probs: Float32Array, numClasses: number, histogram: ArrayLike<number>, cfg: ModulationConfig, targets?: ArrayLike<number>): Float32Array {
  const n = probs.length / numClasses;
  const pred = new Int32Array(n);
  const conf = new Float32Array(n);
  const counts = new Float64Array(numClasses);
  for (let c = 0; c < numClasses; c++) counts[c] = histogram[c] ?? 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (probs[i * numClasses + c]! > probs[i * numClasses + best]!) best = c;
    pred[i] = best;
    conf[i] = probs[i * numClasses + (targets ? targets[i]! : best)]!;
    counts[best]! += 1;
  }
  let total = 0;
  for (let c = 0; c < numClasses; c++) total += counts[c]!;
  const phi = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let w = 1;
    if (cfg.diversity) w *= total / (numClasses * Math.max(counts[pred[i]!]!, 1));
    if (cfg.difficulty) w *= Math.pow(1 - conf[i]! + cfg.difficultyFloor, cfg.gamma);
    phi[i] = w;
  }
  return normaliseWeights(phi, cfg.maxWeight);
}

/** Scales to mean 1, clips at maxWeight, scales to mean 1 again. All-zero input becomes all ones. */
export function normaliseWeights(w: Float32Array, maxWeight: number): Float32Array {
  const n = w.length;
  if (n === 0) return w;
  const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / n;
  let m = mean(w);
  if (!(m > 0)) return w.fill(1);
  for (let i = 0; i < n; i++) w[i] = Math.min(w[i]! / m, maxWeight);
  m = mean(w);
  for (let i = 0; i < n; i++) w[i] = w[i]! / m;
  return w;
}

/**
 * Synthesis targets drawn against the buffer's imbalance: P(c) ∝ 1 / (n_c + 1). With an empty
 * buffer this is uniform, which is what Fast-DFKD draws. Part of the modulating function's
 * "diversity aware" role at synthesis time (reconstruction).
 */
export function balancedTargets(histogram: ArrayLike<number>, numClasses: number, n: number, uniform01: () => number): Int32Array {
  const w = new Float64Array(numClasses);
  let s = 0;
  for (let c = 0; c < numClasses; c++) {
    w[c] = 1 / ((histogram[c] ?? 0) + 1);
    s += w[c]!;
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let u = uniform01() * s;
    let c = 0;
    while (c < numClasses - 1 && u >= w[c]!) {
      u -= w[c]!;
      c++;
    }
    out[i] = c;
  }
  return out;
}
