import * as tf from '@tensorflow/tfjs';
import { softmaxRows } from '../../shared/math/softmax-rows';
import { augmentBatch, type AugmentConfig } from './augment';
import { augmentBatchHost } from './augment-pixels';
import { assignGenerator, cloneGenerator, createGenerator, generate, type GeneratorConfig, type GeneratorParams } from './generator';
import { agreementMask, bnStatsLoss, channelMoments, crossEntropyPerSample, maskedDisagreement, weightedMean } from './losses';
import { Adam, type OptimizerState, type UpdatePath } from './optimizers';

/**
 * How a synthesis step is computed; defaults are the fast paths, `tensor` the reference ones that
 * `bench:compute` measures against. `augment`: `host` = `augmentBatchHost` (one op with its
 * adjoint as gradient), `tensor` = `augmentBatch`. `update`: where Adam runs (optimizers.ts).
 */
export interface SynthesisPaths {
  augment: 'host' | 'tensor';
  update: UpdatePath;
}

const fastPaths: SynthesisPaths = { augment: 'host', update: 'host' };
import type { Random } from '../../shared/random/seeded-random';
import { BatchSynthesizer, type SyntheticBatch } from './synthetic-batch';
import type { TeacherView } from './teacher';

/**
 * Inversion: turns noise into a batch of images the teacher finds typical of its BN statistics,
 * confidently of a target class, and (after warm-up) on which the student still disagrees.
 *
 * `MetaSynthesizer` is Fast-DFKD's fast_meta (datafree/synthesis/fast_meta.py): each call clones
 * the meta-generator, runs `gSteps` Adam steps on the clone and on z, sums the clone's gradients
 * over those steps (first-order MAML) and applies the sum to the meta-generator with Adam at
 * lr_g·gSteps. The returned batch is the generator output at the step with the lowest loss.
 *
 * `PixelSynthesizer` is the DeepInversion-style baseline: the images themselves are optimised for
 * `steps` Adam steps from noise, with a total-variation prior.
 */
export interface InversionLossConfig {
  /** Weight of the BN-statistics loss [V: 10]. */
  bnWeight: number;
  /** Weight of the class cross-entropy [V: 0.5]. */
  ohWeight: number;
  /** Weight of the masked adversarial term [V: 1.0–1.33 by teacher]. */
  advWeight: number;
  /** EMA mix of batch BN statistics [V: 0.9]; 0 disables. */
  bnMomentum: number;
}

export interface MetaSynthesisConfig extends InversionLossConfig {
  batchSize: number;
  /** Inner steps per call (Fast-2/5/10). */
  gSteps: number;
  lrG: number;
  lrZ: number;
}

export interface PixelSynthesisConfig extends InversionLossConfig {
  batchSize: number;
  steps: number;
  lr: number;
  tvWeight: number;
}

export interface SynthesisRequest {
  targets: Int32Array;
  /** The student, for the adversarial term; null during warm-up. */
  student: tf.LayersModel | null;
  /** Per-sample weights from the teacher's probabilities (the modulating function); null = 1. */
  phi: ((teacherProbs: Float32Array) => Float32Array) | null;
  /** Added to the initial latent codes, [n · nz] (label conditioning); absent = pure noise. */
  latentOffset?: Float32Array;
  /** Weights the adversarial term by δ's replay probability, (KL_i + ε)^α at mean 1; absent = off. */
  advPriority?: { alpha: number; epsilon: number } | null;
}

export interface SynthesisLosses {
  bn: number;
  oh: number;
  adv: number;
  total: number;
}

export interface SynthesisOutput {
  batch: SyntheticBatch;
  /** Teacher softmax on the returned (un-augmented) images, [n, C]. */
  teacherProbs: Float32Array;
  /** Loss terms at the returned step. */
  losses: SynthesisLosses;
}

export interface Synthesizer {
  synthesize(req: SynthesisRequest): SynthesisOutput;
  state(): SynthesizerState;
  restore(s: SynthesizerState): void;
  dispose(): void;
}

export interface SynthesizerState {
  params: tf.Tensor[];
  optimizer: OptimizerState;
  ema: Array<{ mean: tf.Tensor1D; variance: tf.Tensor1D } | null>;
}

interface StepResult {
  losses: SynthesisLosses;
  moments: Array<{ mean: tf.Tensor1D; variance: tf.Tensor1D }>;
}

/** One evaluation of the inversion loss on images x (inside a gradient tape). */
function inversionLoss(
  teacher: TeacherView,
  x: tf.Tensor4D,
  req: SynthesisRequest,
  cfg: InversionLossConfig,
  ema: SynthesizerState['ema'],
  aug: AugmentConfig,
  fill: number,
  rng: Random,
  extra: ((x: tf.Tensor4D) => tf.Scalar) | null,
  out: { step?: StepResult },
  augmentPath: SynthesisPaths['augment'] = 'host',
): tf.Scalar {
  const C = teacher.numClasses;
  const xa = augmentPath === 'host' ? augmentBatchHost(x, aug, fill, rng) : augmentBatch(x, aug, fill, rng);
  const { bnInputs, logits } = teacher.probe(xa);
  const moments = bnInputs.map((b) => {
    const m = channelMoments(b);
    return { mean: tf.keep(m.mean), variance: tf.keep(m.variance) };
  });
  const lbn = bnStatsLoss(bnInputs, teacher.bnLayers, ema, cfg.bnMomentum);
  const tLogits = logits.dataSync() as Float32Array;
  const phi = req.phi ? req.phi(softmaxRows(tLogits, C)) : undefined;
  const loh = weightedMean(crossEntropyPerSample(logits, req.targets, C), phi);
  let ladv: tf.Scalar = tf.scalar(0);
  if (req.student && cfg.advWeight > 0) {
    const s = req.student.apply(xa, { training: false }) as tf.Tensor2D;
    const mask = agreementMask(s.dataSync() as Float32Array, tLogits, C);
    const kl = maskedDisagreement(s, logits, mask);
    ladv = tf.neg(weightedMean(kl, req.advPriority ? priorityWeights(kl.dataSync() as Float32Array, req.advPriority, phi) : phi));
  }
  let total = tf.addN([tf.mul(lbn, cfg.bnWeight), tf.mul(loh, cfg.ohWeight), tf.mul(ladv, cfg.advWeight)]) as tf.Scalar;
  if (extra) total = tf.add(total, extra(x));
  out.step = {
    losses: { bn: lbn.dataSync()[0]!, oh: loh.dataSync()[0]!, adv: ladv.dataSync()[0]!, total: total.dataSync()[0]! },
    moments,
  };
  return total;
}

/** δ's sampling probability of each fresh sample, (kl + ε)^α, times φ, scaled to mean 1 (no gradient). */
function priorityWeights(kl: Float32Array, p: { alpha: number; epsilon: number }, phi: Float32Array | undefined): Float32Array {
  const w = kl.map((v, i) => Math.pow(Math.max(0, v) + p.epsilon, p.alpha) * (phi ? phi[i]! : 1));
  const mean = w.reduce((a, b) => a + b, 0) / Math.max(1, w.length);
  return mean > 0 ? w.map((v) => v / mean) : w.fill(1);
}

function updateEma(ema: SynthesizerState['ema'], moments: StepResult['moments'], m: number): void {
  moments.forEach((cur, l) => {
    const prev = ema[l];
    if (!prev) {
      ema[l] = { mean: cur.mean.clone(), variance: cur.variance.clone() };
      return;
    }
    const next = tf.tidy(() => ({
      mean: tf.add(tf.mul(prev.mean, m), tf.mul(cur.mean, 1 - m)) as tf.Tensor1D,
      variance: tf.add(tf.mul(prev.variance, m), tf.mul(cur.variance, 1 - m)) as tf.Tensor1D,
    }));
    prev.mean.dispose();
    prev.variance.dispose();
    ema[l] = next;
  });
}

function disposeMoments(s: StepResult | undefined): void {
  s?.moments.forEach((m) => {
    m.mean.dispose();
    m.variance.dispose();
  });
}

/** Teacher softmax on images, inference mode. */
export function teacherProbs(teacher: TeacherView, x: tf.Tensor4D): Float32Array {
  const logits = tf.tidy(() => teacher.logits(x));
  const out = softmaxRows(logits.dataSync() as Float32Array, teacher.numClasses);
  logits.dispose();
  return out;
}

export class MetaSynthesizer extends BatchSynthesizer implements Synthesizer {
  readonly params: GeneratorParams;
  private readonly metaOpt: Adam;
  private ema: SynthesizerState['ema'];

  constructor(
    private readonly teacher: TeacherView,
    private readonly gen: GeneratorConfig,
    private readonly cfg: MetaSynthesisConfig,
    private readonly aug: AugmentConfig,
    private readonly rng: Random,
    private readonly paths: SynthesisPaths = fastPaths,
  ) {
    super();
    this.params = createGenerator(gen, rng);
    this.metaOpt = new Adam(cfg.lrG * cfg.gSteps, 0.5, 0.999, 1e-8, paths.update);
    this.ema = teacher.bnLayers.map(() => null);
  }

  synthesize(req: SynthesisRequest): SynthesisOutput {
    const { batchSize: n, gSteps } = this.cfg;
    const [h, w, c] = this.gen.outputShape;
    const zInit = this.rng.normals(n * this.gen.nz);
    if (req.latentOffset) for (let i = 0; i < zInit.length; i++) zInit[i] = zInit[i]! + req.latentOffset[i]!;
    const z = tf.tidy(() => tf.variable(tf.tensor2d(zInit, [n, this.gen.nz]), true));
    const fast = cloneGenerator(this.params);
    const optG = new Adam(this.cfg.lrG, 0.5, 0.999, 1e-8, this.paths.update);
    const optZ = new Adam(this.cfg.lrZ, 0.5, 0.999, 1e-8, this.paths.update);
    let metaGrad: tf.Tensor[] | null = null;
    let best: { x: tf.Tensor4D; losses: SynthesisLosses } | null = null;
    let last: StepResult | undefined;
    for (let it = 0; it < gSteps; it++) {
      const holder: { step?: StepResult; x?: tf.Tensor4D } = {};
      const vars = [...fast, z];
      const { value, grads } = tf.variableGrads(() => {
        const x = generate(fast, z, this.gen);
        holder.x = tf.keep(x);
        return inversionLoss(this.teacher, x, req, this.cfg, this.ema, this.aug, this.gen.range.low, this.rng, null, holder, this.paths.augment);
      }, vars);
      value.dispose();
      const g = vars.map((v) => grads[v.name]!);
      // First-order MAML: the meta-gradient is the sum of the clone's gradients over the inner steps.
      const gGen = g.slice(0, fast.length);
      if (metaGrad === null) metaGrad = gGen.map((t) => t.clone());
      else {
        const prev: tf.Tensor[] = metaGrad;
        metaGrad = prev.map((t, i) => tf.add(t, gGen[i]!));
        prev.forEach((t) => t.dispose());
      }
      optG.apply(fast, gGen);
      optZ.apply([z], [g[g.length - 1]!]);
      g.forEach((t) => t.dispose());
      const step = holder.step!;
      if (!best || step.losses.total < best.losses.total) {
        best?.x.dispose();
        best = { x: holder.x!, losses: step.losses };
      } else holder.x!.dispose();
      disposeMoments(last);
      last = step;
    }
    this.metaOpt.apply(this.params, metaGrad!);
    metaGrad!.forEach((t) => t.dispose());
    if (last && this.cfg.bnMomentum > 0) updateEma(this.ema, last.moments, this.cfg.bnMomentum);
    disposeMoments(last);
    optG.dispose();
    optZ.dispose();
    fast.forEach((v) => v.dispose());
    z.dispose();
    const probs = teacherProbs(this.teacher, best!.x);
    const images = best!.x.dataSync() as Float32Array;
    best!.x.dispose();
    return { batch: this.mintBatch(new Float32Array(images), [n, h, w, c]), teacherProbs: probs, losses: best!.losses };
  }

  state(): SynthesizerState {
    return { params: this.params.map((p) => p.clone()), optimizer: this.metaOpt.state(), ema: this.ema.map((e) => (e ? { mean: e.mean.clone(), variance: e.variance.clone() } : null)) };
  }

  restore(s: SynthesizerState): void {
    assignGenerator(this.params, s.params);
    this.metaOpt.restore(s.optimizer);
    this.ema.forEach((e) => {
      e?.mean.dispose();
      e?.variance.dispose();
    });
    this.ema = s.ema.map((e) => (e ? { mean: e.mean.clone(), variance: e.variance.clone() } : null));
  }

  dispose(): void {
    this.params.forEach((p) => p.dispose());
    this.metaOpt.dispose();
    this.ema.forEach((e) => {
      e?.mean.dispose();
      e?.variance.dispose();
    });
  }
}

/** Total variation: mean absolute difference between neighbouring pixels. */
function totalVariation(x: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    const dy = tf.sub(tf.slice(x, [0, 1, 0, 0], [-1, h - 1, -1, -1]), tf.slice(x, [0, 0, 0, 0], [-1, h - 1, -1, -1]));
    const dx = tf.sub(tf.slice(x, [0, 0, 1, 0], [-1, -1, w - 1, -1]), tf.slice(x, [0, 0, 0, 0], [-1, -1, w - 1, -1]));
    return tf.add(tf.mean(tf.abs(dy)), tf.mean(tf.abs(dx))) as tf.Scalar;
  });
}

export class PixelSynthesizer extends BatchSynthesizer implements Synthesizer {
  constructor(
    private readonly teacher: TeacherView,
    private readonly shape: [number, number, number],
    private readonly range: { low: number; high: number },
    private readonly cfg: PixelSynthesisConfig,
    private readonly aug: AugmentConfig,
    private readonly rng: Random,
  ) {
    super();
  }

  synthesize(req: SynthesisRequest): SynthesisOutput {
    const n = this.cfg.batchSize;
    const [h, w, c] = this.shape;
    const mid = (this.range.low + this.range.high) / 2;
    const half = (this.range.high - this.range.low) / 2;
    const xInit = this.rng.normals(n * h * w * c).map((v) => mid + 0.5 * half * v);
    const x = tf.tidy(() => tf.variable(tf.tensor4d(xInit, [n, h, w, c]), true));
    const opt = new Adam(this.cfg.lr, 0.5, 0.99);
    let best: { x: tf.Tensor4D; losses: SynthesisLosses } | null = null;
    for (let it = 0; it < this.cfg.steps; it++) {
      const holder: { step?: StepResult } = {};
      const { value, grads } = tf.variableGrads(
        () => inversionLoss(this.teacher, x, req, this.cfg, null as never, this.aug, this.range.low, this.rng, (xx) => tf.mul(totalVariation(xx), this.cfg.tvWeight) as tf.Scalar, holder),
        [x],
      );
      value.dispose();
      opt.apply([x], [grads[x.name]!]);
      grads[x.name]!.dispose();
      tf.tidy(() => x.assign(tf.clipByValue(x, this.range.low, this.range.high)));
      const step = holder.step!;
      if (!best || step.losses.total < best.losses.total) {
        best?.x.dispose();
        best = { x: x.clone(), losses: step.losses };
      }
      disposeMoments(step);
    }
    opt.dispose();
    x.dispose();
    const probs = teacherProbs(this.teacher, best!.x);
    const images = new Float32Array(best!.x.dataSync() as Float32Array);
    best!.x.dispose();
    return { batch: this.mintBatch(images, [n, h, w, c]), teacherProbs: probs, losses: best!.losses };
  }

  state(): SynthesizerState {
    return { params: [], optimizer: { step: 0, slots: [] }, ema: [] };
  }

  restore(): void {}

  dispose(): void {}
}
