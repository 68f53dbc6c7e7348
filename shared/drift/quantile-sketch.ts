import type { QuantileSketch } from './reference';

/**
 * Quantiles of `values` at q evenly spaced probabilities 0, 1/(q−1), …, 1 (linear interpolation
 * between order statistics, the "type 7" definition).
 */
export function quantileSketch(values: readonly number[], q = 101): QuantileSketch {
  if (values.length === 0) throw new RangeError('quantileSketch: no values');
  const s = Float64Array.from(values).sort();
  const quantiles: number[] = [];
  for (let i = 0; i < q; i++) quantiles.push(quantileSorted(s, i / (q - 1)));
  return { quantiles, sampleCount: values.length };
}

export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * CDF of the piecewise-linear distribution through the sketch's points. `strict` gives the left
 * limit P(X < x), which differs from P(X ≤ x) where several quantiles are equal (a point mass).
 */
export function sketchCdf(quantiles: readonly number[], x: number, strict = false): number {
  const q = quantiles.length;
  const step = 1 / (q - 1);
  const below = (v: number): boolean => (strict ? v < x : v <= x);
  if (!below(quantiles[0]!)) return 0;
  if (below(quantiles[q - 1]!)) return 1;
  // Largest j with quantiles[j] below x (binary search; quantiles are non-decreasing).
  let lo = 0;
  let hi = q - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (below(quantiles[mid]!)) lo = mid;
    else hi = mid;
  }
  const a = quantiles[lo]!;
  const b = quantiles[lo + 1]!;
  const frac = b > a ? Math.min(1, Math.max(0, (x - a) / (b - a))) : 0;
  return (lo + frac) * step;
}
