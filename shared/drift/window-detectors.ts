import type { DetectorResult, DriftReference, ScoreBand, FeatureStatisticReference } from './reference';
import type { InferenceSummary } from './summary';
import { chiSquareTwoSample } from './chi-square';
import { jensenShannonDistance } from './jensen-shannon';
import { ksAgainstSketch } from './kolmogorov-smirnov';
import { twoProportionTest } from './proportion-test';
import { populationStabilityIndex } from './psi';
import { binIndex } from './histogram';

export const DETECTOR_NAMES = ['class-histogram', 'max-softmax-ks', 'entropy-ks', 'low-margin', 'feature-bn', 'input-psi'] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];

/**
 * Minimum effect sizes used when a detector has no calibrated score band: effect size AND
 * significance, so large windows do not alarm on negligible differences (evidently #50). Values
 * follow the usual conventions: JS 0.1 (Evidently/NannyML), KS D 0.1, 5 pp margin rate, PSI 0.25.
 */
export const DEFAULT_MIN_EFFECT: Record<DetectorName, number> = {
  'class-histogram': 0.1,
  'max-softmax-ks': 0.1,
  'entropy-ks': 0.1,
  'low-margin': 0.05,
  'feature-bn': 0.5,
  'input-psi': 0.25,
};

/** A raw statistic with its p-value where the test has one. */
export interface RawScore {
  detector: DetectorName;
  statistic: number;
  pValue?: number;
}

/** Computes the raw statistic of each requested detector the reference supports. */
export function scoreWindow(window: readonly InferenceSummary[], reference: DriftReference, detectors: readonly DetectorName[]): RawScore[] {
  const out: RawScore[] = [];
  if (window.length === 0) return out;
  for (const d of detectors) {
    const r = scoreOne(d, window, reference);
    if (r) out.push(r);
  }
  return out;
}

function scoreOne(d: DetectorName, w: readonly InferenceSummary[], ref: DriftReference): RawScore | null {
  switch (d) {
    case 'class-histogram': {
      const counts = new Array<number>(ref.numClasses).fill(0);
      for (const s of w) if (s.predictedClass >= 0 && s.predictedClass < counts.length) counts[s.predictedClass]!++;
      const refCounts = ref.classPrior.map((p) => p * ref.sampleCount);
      const chi = chiSquareTwoSample(counts, refCounts);
      return { detector: d, statistic: jensenShannonDistance(counts, ref.classPrior), pValue: chi.pValue };
    }
    case 'max-softmax-ks': {
      if (!ref.maxSoftmax) return null;
      const ks = ksAgainstSketch(w.map((s) => s.maxSoftmax), ref.maxSoftmax);
      return { detector: d, statistic: ks.d, pValue: ks.pValue };
    }
    case 'entropy-ks': {
      if (!ref.entropy) return null;
      const ks = ksAgainstSketch(w.map((s) => s.entropy), ref.entropy);
      return { detector: d, statistic: ks.d, pValue: ks.pValue };
    }
    case 'low-margin': {
      if (!ref.lowMargin) return null;
      let x = 0;
      for (const s of w) if (s.margin < ref.lowMargin.threshold) x++;
      const t = twoProportionTest(x, w.length, Math.round(ref.lowMargin.rate * ref.sampleCount), ref.sampleCount);
      return { detector: d, statistic: t.difference, pValue: t.pValue };
    }
    case 'feature-bn': {
      const layers = ref.featureStatistics;
      if (!layers || layers.length === 0 || !w[0]!.features) return null;
      let total = 0;
      for (let l = 0; l < layers.length; l++) total += featureDivergence(w, l, layers[l]!);
      return { detector: d, statistic: total / layers.length };
    }
    case 'input-psi': {
      const refs = ref.inputStatistics;
      if (!refs || refs.length === 0 || !w[0]!.input) return null;
      let worst = 0;
      for (const r of refs) {
        const counts = new Array<number>(r.distribution.proportions.length).fill(0);
        let seen = 0;
        for (const s of w) {
          const v = s.input?.[r.name];
          if (v === undefined) continue; // a channel mean the input does not have
          counts[binIndex(r.distribution.edges, v)]!++;
          seen++;
        }
        if (seen === 0) continue;
        worst = Math.max(worst, populationStabilityIndex(r.distribution.proportions, counts));
      }
      return { detector: d, statistic: worst };
    }
  }
}

/**
 * Mean over channels of KL(N(m, v) ‖ N(μ, σ²)), where m and v are the window's per-channel mean
 * and variance of the probed activation and (μ, σ²) the BatchNorm running statistics. Without a
 * mean-square output only the mean term is used (v := σ²).
 */
export function featureDivergence(w: readonly InferenceSummary[], layer: number, ref: FeatureStatisticReference): number {
  const c = ref.runningMean.length;
  const mean = new Float64Array(c);
  const meanSq = new Float64Array(c);
  let haveSq = true;
  let n = 0;
  for (const s of w) {
    const f = s.features?.[layer];
    if (!f) continue;
    n++;
    for (let i = 0; i < c; i++) mean[i] += f.mean[i]!;
    if (f.meanSquare) for (let i = 0; i < c; i++) meanSq[i] += f.meanSquare[i]!;
    else haveSq = false;
  }
  if (n === 0) return 0;
  let kl = 0;
  for (let i = 0; i < c; i++) {
    const m = mean[i]! / n;
    const s2 = Math.max(ref.runningVariance[i]!, 1e-8);
    const v = haveSq ? Math.max(meanSq[i]! / n - m * m, 1e-8) : s2;
    const r = v / s2;
    kl += 0.5 * (r + (m - ref.runningMean[i]!) ** 2 / s2 - 1 - Math.log(r));
  }
  return kl / c;
}

export interface VerdictConfig {
  /** Standardised score above which a window breaches (when the detector has a band). */
  zThreshold: number;
  /** Family-wise significance level, Bonferroni-split over the detectors evaluated. */
  alpha: number;
  minEffect: Record<DetectorName, number>;
}

/**
 * Turns raw scores into verdicts: with a band, breach = z > zThreshold (and p < α/K where the
 * test has a p-value); without one, breach = statistic > minimum effect (and p < α/K).
 * Only increases count: every statistic here grows with drift.
 */
export function judge(scores: readonly RawScore[], bands: readonly ScoreBand[] | undefined, cfg: VerdictConfig): DetectorResult[] {
  const k = Math.max(1, scores.length);
  return scores.map((s) => {
    const band = bands?.find((b) => b.detector === s.detector);
    const significant = s.pValue === undefined || s.pValue < cfg.alpha / k;
    const r: DetectorResult = { detector: s.detector, statistic: s.statistic, breach: false };
    if (s.pValue !== undefined) r.pValue = s.pValue;
    if (band) {
      const z = (s.statistic - band.mean) / Math.max(band.std, 1e-9);
      r.z = z;
      r.breach = significant && z > cfg.zThreshold;
    } else {
      r.breach = significant && s.statistic > cfg.minEffect[s.detector];
    }
    return r;
  });
}

