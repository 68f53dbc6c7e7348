import { EdgekdError } from '../../shared/errors';
import type { Random } from '../../shared/random/seeded-random';
import { gaussianBlur, type ImageGeometry } from '../../shared/drift/shifts';

/**
 * The degradation family the field-conditioned retrain imitates the teacher under: one operator per
 * kind of image shift the drift benchmark injects (shared/drift/shifts.ts), each with one continuous
 * amount, so a fit can place the field anywhere between the benchmark's severities. Amounts are in
 * the [0, 1] pixel scale of the input range:
 * - `contrast`: factor about the image's own mean (1 = unchanged, < 1 flatter);
 * - `brightness`: offset added to every pixel (negative darkens);
 * - `blur`: Gaussian σ in pixels;
 * - `noise`: σ of additive Gaussian noise;
 * - `occlusion`: side of a mid-grey square as a fraction of the shorter image side, at a random place;
 * - `none`: the identity.
 * Every result is clipped to the range, as a camera's output is.
 */
export const DEGRADATION_KINDS = ['none', 'contrast', 'brightness', 'blur', 'noise', 'occlusion'] as const;
export type DegradationKind = (typeof DEGRADATION_KINDS)[number];

export interface Degradation {
  kind: DegradationKind;
  amount: number;
}

/** Bounds a fit or a caller may use; outside them an operator is not what its name says. */
const LIMITS: Record<Exclude<DegradationKind, 'none'>, readonly [number, number]> = {
  contrast: [0.05, 1],
  brightness: [-0.6, 0.6],
  blur: [0.2, 4],
  noise: [0, 0.5],
  occlusion: [0.05, 0.8],
};

export function checkDegradation(d: Degradation): void {
  if (d.kind === 'none') return;
  const lim = LIMITS[d.kind];
  if (!lim || !Number.isFinite(d.amount) || d.amount < lim[0] || d.amount > lim[1]) {
    throw new EdgekdError('EDGEKD_CONFIG_INVALID', `degradation ${d.kind} amount ${d.amount} outside [${lim?.join(', ') ?? '?'}]`);
  }
}

/** Applies `d` to one HWC image in model-input units; returns a new array. */
export function degradeImage(x: ArrayLike<number>, d: Degradation, g: ImageGeometry, random: Random): Float32Array {
  const [lo, hi] = g.range;
  const span = hi - lo;
  const n = x.length;
  const u = new Float32Array(n);
  for (let i = 0; i < n; i++) u[i] = (x[i]! - lo) / span;
  switch (d.kind) {
    case 'none':
      break;
    case 'contrast': {
      let m = 0;
      for (let i = 0; i < n; i++) m += u[i]!;
      m /= n;
      for (let i = 0; i < n; i++) u[i] = m + (u[i]! - m) * d.amount;
      break;
    }
    case 'brightness':
      for (let i = 0; i < n; i++) u[i] = u[i]! + d.amount;
      break;
    case 'blur':
      gaussianBlur(u, g, d.amount);
      break;
    case 'noise':
      for (let i = 0; i < n; i++) u[i] = u[i]! + d.amount * random.normal();
      break;
    case 'occlusion': {
      const side = Math.min(Math.min(g.height, g.width), Math.max(1, Math.round(d.amount * Math.min(g.height, g.width))));
      const top = random.int(g.height - side + 1);
      const left = random.int(g.width - side + 1);
      for (let r = top; r < top + side; r++) for (let c = left; c < left + side; c++) for (let z = 0; z < g.channels; z++) u[(r * g.width + c) * g.channels + z] = 0.5;
      break;
    }
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + Math.min(1, Math.max(0, u[i]!)) * span;
  return out;
}

/** Applies `d` to each of the `count` images packed in `pixels` (HWC each); returns a new array. */
export function degradeBatch(pixels: Float32Array, count: number, d: Degradation, g: ImageGeometry, random: Random): Float32Array {
  const size = g.height * g.width * g.channels;
  if (pixels.length !== count * size) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `degradeBatch: ${pixels.length} values for ${count} images of ${size}`);
  if (d.kind === 'none') return pixels.slice();
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < count; i++) out.set(degradeImage(pixels.subarray(i * size, (i + 1) * size), d, g, random), i * size);
  return out;
}
