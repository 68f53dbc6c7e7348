import { DRIFT_REFERENCE_VERSION, type DriftReference, type FeatureStatisticReference, type InputStatisticReference } from './reference';
import type { InferenceSummary } from './summary';
import { quantileSketch, quantileSorted } from './quantile-sketch';
import { CHANNEL_MEAN_NAMES, INPUT_STATISTIC_NAMES } from './input-statistics';
import { histogram } from './histogram';

export interface BuildReferenceOptions {
  numClasses: number;
  source: DriftReference['source'];
  /** Margin below which an inference counts as low-margin (alibi's `margin` width). */
  marginThreshold?: number;
  /** Bins for the input statistics (edges at the baseline's quantiles). */
  inputBins?: number;
  /** BatchNorm statistics of the monitored layers (from the teacher), passed through. */
  featureStatistics?: FeatureStatisticReference[];
  createdAt?: string;
}

/**
 * Builds a reference from summaries of in-distribution inferences: the student's outputs on
 * synthetic samples (cloud, at export) or the first N inferences after commit (edge, field
 * baseline). The class prior gets add-½ smoothing so an unseen class does not make χ² degenerate.
 */
export function buildDriftReference(samples: readonly InferenceSummary[], o: BuildReferenceOptions): DriftReference {
  if (samples.length < 2) throw new RangeError('buildDriftReference: need at least 2 samples');
  const counts = new Array<number>(o.numClasses).fill(0.5);
  for (const s of samples) if (s.predictedClass < o.numClasses) counts[s.predictedClass]!++;
  const total = counts.reduce((a, b) => a + b, 0);
  const threshold = o.marginThreshold ?? 0.1;
  let low = 0;
  for (const s of samples) if (s.margin < threshold) low++;
  const ref: DriftReference = {
    version: DRIFT_REFERENCE_VERSION,
    source: o.source,
    numClasses: o.numClasses,
    classPrior: counts.map((c) => c / total),
    maxSoftmax: quantileSketch(samples.map((s) => s.maxSoftmax)),
    entropy: quantileSketch(samples.map((s) => s.entropy)),
    lowMargin: { threshold, rate: low / samples.length },
    sampleCount: samples.length,
  };
  if (samples[0]!.input) ref.inputStatistics = inputReferences(samples, o.inputBins ?? 10);
  if (o.featureStatistics) ref.featureStatistics = o.featureStatistics;
  if (o.createdAt) ref.createdAt = o.createdAt;
  return ref;
}

function inputReferences(samples: readonly InferenceSummary[], bins: number): InputStatisticReference[] {
  const out: InputStatisticReference[] = [];
  // Channel means only when every sample has them (colour inputs of one geometry).
  const channelNames = CHANNEL_MEAN_NAMES.filter((name) => samples.every((s) => s.input![name] !== undefined));
  for (const name of [...INPUT_STATISTIC_NAMES, ...channelNames]) {
    const values = samples.map((s) => s.input![name]!);
    const sorted = Float64Array.from(values).sort();
    // Edges at quantiles (equal-mass bins), de-duplicated; a constant statistic gets one wide bin.
    const edges: number[] = [];
    for (let i = 0; i <= bins; i++) {
      const e = quantileSorted(sorted, i / bins);
      if (edges.length === 0 || e > edges[edges.length - 1]!) edges.push(e);
    }
    if (edges.length < 2) edges.push(edges[0]! + 1);
    const counts = histogram(edges, values);
    out.push({ name, distribution: { edges, proportions: counts.map((c) => c / values.length) } });
  }
  return out;
}

