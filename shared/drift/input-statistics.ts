import type { InputStatisticName } from './reference';

export interface InputGeometry {
  height: number;
  width: number;
  /** Interleaved channels (HWC). */
  channels: number;
  /** The input range after preprocessing; saturation counts pixels within 1% of either end, flat uses the same 1% tolerance. */
  range: readonly [number, number];
}

/** The statistics every input gets, whatever its channel count. */
export const INPUT_STATISTIC_NAMES: readonly InputStatisticName[] = ['mean', 'std', 'gradient', 'saturation', 'flat'];
/** Per-channel means, computed for inputs of 2 to 4 channels (a grey input's channel mean is `mean`). */
export const CHANNEL_MEAN_NAMES = ['mean_c0', 'mean_c1', 'mean_c2', 'mean_c3'] as const;
export type ChannelMeanName = (typeof CHANNEL_MEAN_NAMES)[number];
export type InputStatistics = Record<'mean' | 'std' | 'gradient' | 'saturation' | 'flat', number> & Partial<Record<ChannelMeanName, number>>;

/**
 * Cheap scalar descriptors of one input: brightness (mean), contrast (std), sharpness/noise (mean
 * absolute neighbour difference), clipping (fraction of values at the range ends) and uniform
 * unsaturated regions (`flat`), plus, for 2-4 channel inputs, each channel's mean (`mean_c0`…).
 * One pass over the pixels.
 *
 * `flat` is the fraction of values (all channels) strictly inside the range (not saturated) whose
 * existing right and lower neighbours of the same channel differ from it by less than the same 1%
 * of the range; a value with neither neighbour (the bottom-right corner) is not flat. It sees an
 * occluder, a sticker or a covered lens, which leave mean, std and saturation almost where they
 * were, and is not fooled by a black or white background, which is saturated.
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
  let flat = 0;
  const row = g.width * g.channels;
  const perChannel = g.channels > 1 && g.channels <= CHANNEL_MEAN_NAMES.length ? new Float64Array(g.channels) : null;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    s += v;
    if (perChannel) perChannel[i % g.channels] += v;
    s2 += v * v;
    const saturated = v <= lo + tol || v >= hi - tol;
    if (saturated) sat++;
    const col = i % row;
    let neighbours = 0;
    let smooth = true;
    if (col + g.channels < row) {
      const d = Math.abs(x[i + g.channels]! - v);
      grad += d;
      gradN++;
      neighbours++;
      if (d >= tol) smooth = false;
    }
    if (i + row < n) {
      const d = Math.abs(x[i + row]! - v);
      grad += d;
      gradN++;
      neighbours++;
      if (d >= tol) smooth = false;
    }
    if (!saturated && smooth && neighbours > 0) flat++;
  }
  const mean = s / n;
  const out: InputStatistics = {
    mean,
    std: Math.sqrt(Math.max(0, s2 / n - mean * mean)),
    gradient: gradN > 0 ? grad / gradN : 0,
    saturation: sat / n,
    flat: flat / n,
  };
  if (perChannel) perChannel.forEach((sum, c) => (out[CHANNEL_MEAN_NAMES[c]!] = sum / (n / g.channels)));
  return out;
}
