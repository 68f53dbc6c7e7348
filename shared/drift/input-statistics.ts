import type { InputStatisticName } from './reference';

export interface InputGeometry {
  height: number;
  width: number;
  /** Interleaved channels (HWC). */
  channels: number;
  /** The input range after preprocessing; saturation counts pixels within 1% of either end. */
  range: readonly [number, number];
}

export const INPUT_STATISTIC_NAMES: readonly InputStatisticName[] = ['mean', 'std', 'gradient', 'saturation'];

/**
 * Cheap scalar descriptors of one input: brightness (mean), contrast (std), sharpness/noise (mean
 * absolute neighbour difference) and clipping/occlusion (fraction of pixels at the range ends).
 * One pass over the pixels.
 */
export function inputStatistics(x: ArrayLike<number>, g: InputGeometry): Record<InputStatisticName, number> {
  const n = x.length;
  if (n === 0 || n !== g.height * g.width * g.channels) {
    throw new RangeError(`inputStatistics: ${n} values for ${g.height}x${g.width}x${g.channels}`);
  }
  const [lo, hi] = g.range;
  const tol = (hi - lo) * 0.01;
  let s = 0;
  let s2 = 0;
  let sat = 0;
  let grad = 0;
  let gradN = 0;
  const row = g.width * g.channels;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    s += v;
    s2 += v * v;
    if (v <= lo + tol || v >= hi - tol) sat++;
    const col = i % row;
    if (col + g.channels < row) {
      grad += Math.abs(x[i + g.channels]! - v);
      gradN++;
    }
    if (i + row < n) {
      grad += Math.abs(x[i + row]! - v);
      gradN++;
    }
  }
  const mean = s / n;
  return {
    mean,
    std: Math.sqrt(Math.max(0, s2 / n - mean * mean)),
    gradient: gradN > 0 ? grad / gradN : 0,
    saturation: sat / n,
  };
}
