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

/**
 * Feature reference from the field: per-channel mean and variance of the probed activation over
 * the baseline (what BN running statistics would be had BN seen this data). Used as the
 * re-distillation targets the cloud receives, and as a fallback reference.
 */
export function fieldFeatureStatistics(samples: readonly InferenceSummary[], layer: number): { mean: number[]; variance: number[]; sampleCount: number } {
  const first = samples.find((s) => s.features?.[layer]);
  if (!first) return { mean: [], variance: [], sampleCount: 0 };
  const c = first.features![layer]!.mean.length;
  const m = new Float64Array(c);
  const sq = new Float64Array(c);
  let n = 0;
  let haveSq = true;
  for (const s of samples) {
    const f = s.features?.[layer];
    if (!f) continue;
    n++;
    for (let i = 0; i < c; i++) {
      m[i] += f.mean[i]!;
      if (f.meanSquare) sq[i] += f.meanSquare[i]!;
      else haveSq = false;
    }
  }
  const mean = Array.from(m, (v) => v / n);
  // Without mean squares, the variance of the per-sample means is the best available (a lower bound).
  const variance = haveSq
    ? Array.from(sq, (v, i) => Math.max(0, v / n - mean[i]! ** 2))
    : Array.from(mean, (mu, i) => {
        let v = 0;
        for (const s of samples) {
          const f = s.features?.[layer];
          if (f) v += (f.mean[i]! - mu) ** 2;
        }
        return v / n;
      });
  return { mean, variance, sampleCount: n };
}
