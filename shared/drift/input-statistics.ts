import type { InputStatisticName } from './reference';

export interface InputGeometry {
  height: number;
  width: number;
  /** Interleaved channels (HWC). */
  channels: number;
  /** The input range after preprocessing; saturation counts pixels within 1% of either end. */
  range: readonly [number, number];
}

/** The statistics every input gets, whatever its channel count. */
export const INPUT_STATISTIC_NAMES: readonly InputStatisticName[] = ['mean', 'std', 'gradient', 'saturation'];
/** Per-channel means, computed for inputs of 2 to 4 channels (a grey input's channel mean is `mean`). */
export const CHANNEL_MEAN_NAMES = ['mean_c0', 'mean_c1', 'mean_c2', 'mean_c3'] as const;
export type ChannelMeanName = (typeof CHANNEL_MEAN_NAMES)[number];
export type InputStatistics = Record<'mean' | 'std' | 'gradient' | 'saturation', number> & Partial<Record<ChannelMeanName, number>>;

/**
 * Cheap scalar descriptors of one input: brightness (mean), contrast (std), sharpness/noise (mean
 * absolute neighbour difference) and clipping/occlusion (fraction of pixels at the range ends),
 * plus, for 2-4 channel inputs, each channel's mean (`mean_c0`…). One pass over the pixels.
 */
export function inputStatistics(x: ArrayLike<number>, g: InputGeometry): InputStatistics {
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
  const perChannel = g.channels > 1 && g.channels <= CHANNEL_MEAN_NAMES.length ? new Float64Array(g.channels) : null;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    s += v;
    if (perChannel) perChannel[i % g.channels] += v;
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
  const out: InputStatistics = {
    mean,
    std: Math.sqrt(Math.max(0, s2 / n - mean * mean)),
    gradient: gradN > 0 ? grad / gradN : 0,
    saturation: sat / n,
  };
  if (perChannel) perChannel.forEach((sum, c) => (out[CHANNEL_MEAN_NAMES[c]!] = sum / (n / g.channels)));
  return out;
}
