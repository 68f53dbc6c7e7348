import { outputStatistics } from './output-statistics';
import { inputStatistics, type InputGeometry, type InputStatistics } from './input-statistics';

/**
 * What the detectors keep of one inference: a few scalars (and, when the package has a feature
 * probe, per-channel means). The raw input and the probability vector are not retained.
 */
export interface InferenceSummary {
  predictedClass: number;
  maxSoftmax: number;
  entropy: number;
  margin: number;
  input?: InputStatistics;
  /** One entry per monitored layer, in the order of the reference's `featureStatistics`. */
  features?: ReadonlyArray<FeatureSample>;
}

export interface FeatureSample {
  /** Per-channel spatial mean of the probed activation for this inference. */
  mean: ArrayLike<number>;
  /** Per-channel spatial mean of the squared activation (optional). */
  meanSquare?: ArrayLike<number>;
}

export interface SummarizeInput {
  probabilities: ArrayLike<number>;
  input?: ArrayLike<number>;
  features?: ReadonlyArray<FeatureSample>;
}

export function summarizeInference(x: SummarizeInput, geometry?: InputGeometry): InferenceSummary {
  const o = outputStatistics(x.probabilities);
  const s: InferenceSummary = { ...o };
  if (x.input && geometry) s.input = inputStatistics(x.input, geometry);
  if (x.features) s.features = x.features;
  return s;
}
