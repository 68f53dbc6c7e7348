import { kolmogorovSurvival } from './special-functions';
import { sketchCdf } from './quantile-sketch';
import type { QuantileSketch } from './reference';

export interface KsResult {
  /** sup |F₁ − F₂|. */
  d: number;
  /** Asymptotic p-value with Stephens' small-sample correction. */
  pValue: number;
}

/** p-value of a two-sample KS statistic for sample sizes n and m. */
export function ksPValue(d: number, n: number, m: number): number {
  if (n <= 0 || m <= 0) return 1;
  const ne = (n * m) / (n + m);
  const sq = Math.sqrt(ne);
  return kolmogorovSurvival((sq + 0.12 + 0.11 / sq) * d);
}

/** Exact two-sample KS statistic on raw samples (merge of the two sorted samples, ties handled). */
export function ksTwoSample(a: readonly number[], b: readonly number[]): KsResult {
  if (a.length === 0 || b.length === 0) return { d: 0, pValue: 1 };
  const x = Float64Array.from(a).sort();
  const y = Float64Array.from(b).sort();
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i] === v) i++;
    while (j < y.length && y[j] === v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return { d, pValue: ksPValue(d, x.length, y.length) };
}

/**
 * KS statistic of a sample against a reference held only as a quantile sketch. The sketch's CDF is
 * continuous between its points, so the supremum is reached at a sample point (left or right
 * limit). The p-value uses the sketch's `sampleCount` as the reference size.
 */
export function ksAgainstSketch(sample: readonly number[], sketch: QuantileSketch): KsResult {
  const n = sample.length;
  if (n === 0) return { d: 0, pValue: 1 };
  const x = Float64Array.from(sample).sort();
  let d = 0;
  let i = 0;
  while (i < n) {
    const v = x[i]!;
    const before = i / n; // F_n just below v
    while (i < n && x[i] === v) i++;
    const after = i / n; // F_n at v
    const gLeft = sketchCdf(sketch.quantiles, v, true);
    const gRight = sketchCdf(sketch.quantiles, v, false);
    d = Math.max(d, Math.abs(before - gLeft), Math.abs(after - gRight));
  }
  return { d, pValue: ksPValue(d, n, sketch.sampleCount) };
}
