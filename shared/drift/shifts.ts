import type { Random } from '../random/seeded-random';

/**
 * The distribution shifts the benchmark measures and the demo injects, in one place so both use
 * the same code. Image shifts work on one HWC image in model-input units within `range`
 * (Fashion-MNIST in edgekd: [-1, 1]); severities 1..5 follow the spirit of ImageNet-C
 * (Hendrycks & Dietterich 2019): 1 barely visible, 3 clearly visible, 5 heavy.
 */
export const SHIFT_KINDS = ['noise', 'blur', 'brightness', 'contrast', 'occlusion', 'prior'] as const;
export type ShiftKind = (typeof SHIFT_KINDS)[number];
export type ImageShiftKind = Exclude<ShiftKind, 'prior'>;

export interface ImageGeometry {
  height: number;
  width: number;
  channels: number;
  range: readonly [number, number];
}

// Per-severity parameters, in the [0, 1] pixel scale.
const NOISE_SIGMA = [0.04, 0.08, 0.12, 0.18, 0.26];
const BLUR_SIGMA = [0.5, 0.75, 1.0, 1.5, 2.0];
const BRIGHTNESS = [0.05, 0.1, 0.2, 0.3, 0.4];
const CONTRAST = [0.75, 0.6, 0.45, 0.3, 0.2];
const OCCLUSION_SIDE_FRACTION = [0.15, 0.22, 0.3, 0.4, 0.5];
/** Weight of each favoured class relative to the others (3 favoured classes). */
const PRIOR_WEIGHT = [2, 3, 5, 8, 12];
export const PRIOR_FAVOURED_CLASSES = [0, 1, 2] as const;

export function isShiftKind(s: string): s is ShiftKind {
  return (SHIFT_KINDS as readonly string[]).includes(s);
}

/**
 * The one parameter of an image shift at a severity, in the [0, 1] pixel scale: noise σ, blur σ
 * (pixels), brightness offset, contrast factor, occlusion side fraction. The retrain's degradation
 * family (cloud/retrain/degradation.ts) uses the same parameters, so a benchmark can name the
 * degradation that is exactly the injected shift (its oracle candidate).
 */
export function imageShiftParameter(kind: ImageShiftKind, severity: number): number {
  const s = Math.min(5, Math.max(1, Math.round(severity))) - 1;
  const table = { noise: NOISE_SIGMA, blur: BLUR_SIGMA, brightness: BRIGHTNESS, contrast: CONTRAST, occlusion: OCCLUSION_SIDE_FRACTION }[kind];
  return table[s]!;
}

/** Applies an image shift; returns a new array (the input is not modified). */
export function applyImageShift(x: ArrayLike<number>, kind: ImageShiftKind, severity: number, g: ImageGeometry, random: Random): Float32Array {
  const s = Math.min(5, Math.max(1, Math.round(severity))) - 1;
  const [lo, hi] = g.range;
  const span = hi - lo;
  const n = x.length;
  const u = new Float32Array(n);
  for (let i = 0; i < n; i++) u[i] = (x[i]! - lo) / span; // to [0, 1]
  switch (kind) {
    case 'noise':
      for (let i = 0; i < n; i++) u[i] = u[i]! + NOISE_SIGMA[s]! * random.normal();
      break;
    case 'blur':
      gaussianBlur(u, g, BLUR_SIGMA[s]!);
      break;
    case 'brightness':
      for (let i = 0; i < n; i++) u[i] = u[i]! + BRIGHTNESS[s]!;
      break;
    case 'contrast': {
      let m = 0;
      for (let i = 0; i < n; i++) m += u[i]!;
      m /= n;
      for (let i = 0; i < n; i++) u[i] = m + (u[i]! - m) * CONTRAST[s]!;
      break;
    }
    case 'occlusion': {
      const side = Math.max(1, Math.round(OCCLUSION_SIDE_FRACTION[s]! * Math.min(g.height, g.width)));
      const top = random.int(g.height - side + 1);
      const left = random.int(g.width - side + 1);
      for (let r = top; r < top + side; r++)
        for (let c = left; c < left + side; c++) for (let ch = 0; ch < g.channels; ch++) u[(r * g.width + c) * g.channels + ch] = 0.5;
      break;
    }
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + Math.min(1, Math.max(0, u[i]!)) * span;
  return out;
}

/** Separable Gaussian blur with edge clamping, in place (values in any units; also the retrain's degradation family). */
export function gaussianBlur(u: Float32Array, g: ImageGeometry, sigma: number): void {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const k: number[] = [];
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    k.push(v);
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  const { height: h, width: w, channels: ch } = g;
  const tmp = new Float32Array(u.length);
  const at = (r: number, c: number, z: number) => (r * w + c) * ch + z;
  for (let r = 0; r < h; r++)
    for (let c = 0; c < w; c++)
      for (let z = 0; z < ch; z++) {
        let acc = 0;
        for (let d = -radius; d <= radius; d++) acc += k[d + radius]! * u[at(r, Math.min(w - 1, Math.max(0, c + d)), z)]!;
        tmp[at(r, c, z)] = acc;
      }
  for (let r = 0; r < h; r++)
    for (let c = 0; c < w; c++)
      for (let z = 0; z < ch; z++) {
        let acc = 0;
        for (let d = -radius; d <= radius; d++) acc += k[d + radius]! * tmp[at(Math.min(h - 1, Math.max(0, r + d)), c, z)]!;
        u[at(r, c, z)] = acc;
      }
}

/**
 * Class weights of a label-prior shift: the favoured classes are `PRIOR_WEIGHT[severity]` times as
 * likely as the rest. Returned normalised. A stream sampler draws a class from these weights, then
 * an image of that class; no image is modified.
 */
export function priorShiftWeights(numClasses: number, severity: number): number[] {
  const s = Math.min(5, Math.max(1, Math.round(severity))) - 1;
  const w = Array.from({ length: numClasses }, (_, c) => ((PRIOR_FAVOURED_CLASSES as readonly number[]).includes(c) ? PRIOR_WEIGHT[s]! : 1));
  const t = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / t);
}

/** Draws an index from normalised weights. */
export function sampleCategorical(weights: readonly number[], random: Random): number {
  let u = random.next();
  for (let i = 0; i < weights.length; i++) {
    u -= weights[i]!;
    if (u < 0) return i;
  }
  return weights.length - 1;
}
