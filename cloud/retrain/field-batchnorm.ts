import * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';
import { studentBatchNormLayers } from '../zoo/batchnorm-layers';

export { studentBatchNormLayers };

/**
 * Statistics-only adaptation of a student to the field (AdaBN, Li et al. 2016; prior-weighted as in
 * Schneider et al. 2020): every BatchNorm layer of the student normalises with the per-channel
 * mean and variance of its input as measured on the devices, instead of the running statistics it
 * learned on synthetic data.
 *
 * Why here and not in the ONNX graph: the package folds each BatchNorm into its convolution, so the
 * correction has to be re-folded into the weights anyway. Changing the tfjs student's moving
 * statistics and exporting again does exactly that (W′ = W·γ/√(σ²ₜ+ε), b′ = β − μₜ·γ/√(σ²ₜ+ε)), and
 * the export recalibrates the int8 ranges of the adapted graph.
 *
 * The devices measure each BatchNorm's *input* (the exporter's `channel-mean` /
 * `channel-mean-square` outputs undo the folded affine), so the numbers are on the scale of the
 * running statistics they replace. Invariant: only statistics reach this function, never inputs.
 */
export interface FieldLayerStatistics {
  /** BatchNorm layer of the student. */
  layer: string;
  mean: readonly number[];
  variance: readonly number[];
  sampleCount: number;
}

export interface FieldBatchNormOptions {
  /**
   * Weight of the field statistics against the student's own running statistics, in [0, 1]:
   * 1 replaces them (AdaBN), smaller values keep part of the source prior. When `priorSamples` is
   * set the weight is n / (n + priorSamples) per layer instead (Schneider et al.'s N/(N+n) rule).
   */
  fieldWeight?: number;
  priorSamples?: number;
  /** Layers with fewer field samples than this are left unchanged (default 256: privacy and noise floor). */
  minSamples?: number;
}

export interface FieldBatchNormResult {
  adapted: Array<{ layer: string; weight: number; sampleCount: number }>;
  skipped: Array<{ layer: string; reason: string }>;
}

/**
 * Replaces (or mixes) the moving mean and variance of each listed BatchNorm layer with the field
 * statistics, in place. Mismatched layers are skipped with a reason, never half-applied.
 */
export function applyFieldBatchNormStatistics(model: tf.LayersModel, stats: readonly FieldLayerStatistics[], options: FieldBatchNormOptions = {}): FieldBatchNormResult {
  const minSamples = options.minSamples ?? 256;
  const fixed = options.fieldWeight ?? 1;
  if (!(fixed >= 0 && fixed <= 1)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `fieldWeight must be in [0, 1], got ${fixed}`);
  if (options.priorSamples !== undefined && !(options.priorSamples >= 0)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `priorSamples must be ≥ 0, got ${options.priorSamples}`);
  const result: FieldBatchNormResult = { adapted: [], skipped: [] };
  const bnNames = new Set(studentBatchNormLayers(model).map((b) => b.layer));
  for (const s of stats) {
    if (!bnNames.has(s.layer)) {
      result.skipped.push({ layer: s.layer, reason: 'not a BatchNorm layer of the student' });
      continue;
    }
    if (s.sampleCount < minSamples) {
      result.skipped.push({ layer: s.layer, reason: `${s.sampleCount} field samples < ${minSamples}` });
      continue;
    }
    const layer = model.getLayer(s.layer);
    const weights = layer.getWeights();
    // [gamma?, beta?, movingMean, movingVariance]: the moving statistics are always the last two.
    const meanT = weights[weights.length - 2]!;
    const varT = weights[weights.length - 1]!;
    const c = meanT.shape[0]!;
    if (s.mean.length !== c || s.variance.length !== c) {
      result.skipped.push({ layer: s.layer, reason: `${s.mean.length}/${s.variance.length} field channels, the layer has ${c}` });
      continue;
    }
    if (![...s.mean, ...s.variance].every(Number.isFinite) || s.variance.some((v) => v < 0)) {
      result.skipped.push({ layer: s.layer, reason: 'non-finite or negative statistics' });
      continue;
    }
    const w = options.priorSamples !== undefined ? s.sampleCount / (s.sampleCount + options.priorSamples) : fixed;
    const oldMean = meanT.dataSync();
    const oldVar = varT.dataSync();
    const mean = Float32Array.from(oldMean, (m, i) => (1 - w) * m + w * s.mean[i]!);
    const variance = Float32Array.from(oldVar, (v, i) => (1 - w) * v + w * s.variance[i]!);
    const next = [tf.tensor1d(mean), tf.tensor1d(variance)];
    layer.setWeights([...weights.slice(0, -2), ...next]);
    tf.dispose(next);
    result.adapted.push({ layer: s.layer, weight: w, sampleCount: s.sampleCount });
  }
  return result;
}
