import * as tf from '@tensorflow/tfjs';
import { crossEntropyPerSample, kdLossFused, kdPerSample, weightedMean } from './losses';
import { SgdMomentum, type OptimizerState, type UpdatePath } from './optimizers';
import type { KdConfig } from './config';

/**
 * One optimiser step of the student: KD against teacher logits (per-sample weights = importance
 * weight × φ), or cross-entropy against labels for the `student-real` reference. BatchNorm in the
 * student runs in training mode. The learning rate follows a cosine from lr to etaMin over the
 * KD epochs (Fast-DFKD: CosineAnnealingLR stepped once per epoch after warm-up).
 */
export function studentVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
}

export function cosineLr(cfg: KdConfig, kdEpoch: number, kdEpochs: number): number {
  const t = kdEpochs <= 1 ? 0 : Math.min(1, kdEpoch / kdEpochs);
  return cfg.etaMin + ((cfg.lr - cfg.etaMin) * (1 + Math.cos(Math.PI * t))) / 2;
}

/**
 * How the step is computed. Defaults are the fast paths; the reference paths stay for tests and
 * for `bench:compute`, which measures what each one buys.
 * - `kdLoss`: `fused` = one op with a closed-form gradient on the host (`kdLossFused`);
 *   `tensor` = `kdPerSample` + `weightedMean` as tensor kernels.
 * - `update`: where SGD runs (optimizers.ts).
 */
export interface StudentStepPaths {
  kdLoss: 'fused' | 'tensor';
  update: UpdatePath;
}

export class StudentTrainer {
  private readonly vars: tf.Variable[];
  private readonly opt: SgdMomentum;

  constructor(
    readonly student: tf.LayersModel,
    private readonly cfg: KdConfig,
    readonly paths: StudentStepPaths = { kdLoss: 'fused', update: 'host' },
  ) {
    this.vars = studentVariables(student);
    this.opt = new SgdMomentum(cfg.lr, cfg.momentum, cfg.weightDecay, paths.update);
  }

  setLr(lr: number): void {
    this.opt.lr = lr;
  }

  get lr(): number {
    return this.opt.lr;
  }

  /** KD step; returns the weighted batch loss and each sample's unweighted T²·KL. */
  kdStep(x: tf.Tensor4D, teacherLogits: tf.Tensor2D, weights?: Float32Array): { loss: number; perSample: Float32Array } {
    let per: Float32Array = new Float32Array(0);
    if (this.paths.kdLoss === 'fused') {
      const t = teacherLogits.dataSync() as Float32Array;
      const { value, grads } = tf.variableGrads(() => {
        const s = this.student.apply(x, { training: true }) as tf.Tensor2D;
        const r = kdLossFused(s, t, this.cfg.temperature, weights);
        per = r.perSample;
        return r.loss;
      }, this.vars);
      return { loss: this.finish(value, grads), perSample: per };
    }
    const { value, grads } = tf.variableGrads(() => {
      const s = this.student.apply(x, { training: true }) as tf.Tensor2D;
      const l = kdPerSample(s, teacherLogits, this.cfg.temperature);
      per = l.dataSync() as Float32Array;
      return weightedMean(l, weights);
    }, this.vars);
    return { loss: this.finish(value, grads), perSample: per };
  }

  /** Cross-entropy step on hard labels (the student-real reference only). */
  labelStep(x: tf.Tensor4D, labels: Int32Array, numClasses: number): { loss: number } {
    const { value, grads } = tf.variableGrads(() => {
      const s = this.student.apply(x, { training: true }) as tf.Tensor2D;
      return weightedMean(crossEntropyPerSample(s, labels, numClasses));
    }, this.vars);
    return { loss: this.finish(value, grads) };
  }

  private finish(value: tf.Scalar, grads: Record<string, tf.Tensor>): number {
    const loss = value.dataSync()[0]!;
    value.dispose();
    const g = this.vars.map((v) => grads[v.name]!);
    this.opt.apply(this.vars, g);
    g.forEach((t) => t.dispose());
    return loss;
  }

  optimizerState(): OptimizerState {
    return this.opt.state();
  }

  restoreOptimizer(s: OptimizerState): void {
    this.opt.restore(s);
  }

  dispose(): void {
    this.opt.dispose();
  }
}
