import * as ort from 'onnxruntime-node';
import { EdgekdError } from '../../shared/errors';
import { OnnxDataType } from '../../shared/package/onnx/onnx-protos';
import { assertNotReal } from '../data/provenance';
import { cloneGraph, encodeGraph, type IrGraph } from './onnx-ir';
import type { CalibrationMethod } from '../../shared/package/manifest';

/**
 * Activation-range calibration. The fp32 graph is augmented so every intermediate tensor of the
 * main branch is a graph output, run by onnxruntime (optimizations off, so tensors keep their
 * names), and each tensor's values are summarised: pass 1 min/max, pass 2 (percentile, entropy)
 * a histogram over the pass-1 range.
 */

/**
 * What calibration accepts: synthetic NHWC images, e.g. `ReplayBuffer.exportCalibrationSet(n)`
 * (same shape of object). Anything a real-data loader tagged is refused.
 */
export interface CalibrationSamples {
  readonly provenance: 'synthetic';
  readonly data: Float32Array;
  /** [n, h, w, c] */
  readonly shape: readonly [number, number, number, number];
}

export function assertCalibrationSamples(x: unknown): asserts x is CalibrationSamples {
  assertNotReal(x, 'int8 calibration');
  const s = x as Partial<CalibrationSamples> | null;
  if (!s || typeof s !== 'object') throw new EdgekdError('EDGEKD_CALIBRATION_INVALID', 'calibration samples missing');
  assertNotReal(s.data, 'int8 calibration');
  if (s.provenance !== 'synthetic') throw new EdgekdError('EDGEKD_CALIBRATION_INVALID', `calibration samples must be synthetic (provenance '${String(s.provenance)}')`);
  if (!(s.data instanceof Float32Array) || !Array.isArray(s.shape) || s.shape.length !== 4) throw new EdgekdError('EDGEKD_CALIBRATION_INVALID', 'calibration samples need a Float32Array `data` and an [n, h, w, c] `shape`');
  const [n, h, w, c] = s.shape;
  if (n! < 1 || s.data.length !== n! * h! * w! * c!) throw new EdgekdError('EDGEKD_CALIBRATION_INVALID', `calibration data holds ${s.data.length} values, shape [${s.shape.join(', ')}]`);
}

export interface TensorStats {
  min: number;
  max: number;
  /** Histogram of values over [min, max] (HIST_BINS bins), present after pass 2. */
  hist?: Float64Array;
  count: number;
}

export const HIST_BINS = 2048;

/** Tensors whose ranges the quantizer may need: graph input and outputs of main-branch nodes. */
export function calibrationTensors(g: IrGraph): string[] {
  const out = new Set<string>(g.inputs.map((i) => i.name));
  for (const n of g.nodes) if (!n.floatOnly) for (const o of n.outputs) out.add(o);
  return [...out];
}

async function* batches(images: Float32Array, shape: readonly number[], batch: number): AsyncGenerator<{ data: Float32Array; dims: number[] }> {
  const [n, h, w, c] = shape as [number, number, number, number];
  const per = h * w * c;
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    yield { data: images.subarray(i * per, (i + m) * per), dims: [m, h, w, c] };
  }
}

/**
 * Runs the graph over `images` and returns per-tensor statistics. This is the raw engine; it does
 * not look at provenance. Product code goes through `calibrate`, which refuses real data; only
 * the benchmark's real-data control calls this directly.
 */
export async function collectActivationStats(
  g: IrGraph,
  images: Float32Array,
  shape: readonly [number, number, number, number],
  options: { histograms: boolean; batchSize?: number },
): Promise<Map<string, TensorStats>> {
  const names = calibrationTensors(g);
  const aug = cloneGraph(g);
  const existing = new Set(aug.outputs.map((o) => o.name));
  for (const n of names) if (!existing.has(n) && !aug.inputs.some((i) => i.name === n)) aug.outputs.push({ name: n, elemType: OnnxDataType.FLOAT });
  const session = await ort.InferenceSession.create(encodeGraph(aug), { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
  const inputName = g.inputs[0]!.name;
  const stats = new Map<string, TensorStats>(names.map((n) => [n, { min: Infinity, max: -Infinity, count: 0 }]));
  const bs = options.batchSize ?? 64;
  const fetch = names.filter((n) => n !== inputName);
  try {
    for await (const b of batches(images, shape, bs)) {
      const out = await session.run({ [inputName]: new ort.Tensor('float32', b.data, b.dims) }, fetch);
      for (const n of names) {
        const v = n === inputName ? b.data : (out[n]!.data as Float32Array);
        const s = stats.get(n)!;
        let lo = s.min;
        let hi = s.max;
        for (let i = 0; i < v.length; i++) {
          const x = v[i]!;
          if (x < lo) lo = x;
          if (x > hi) hi = x;
        }
        s.min = lo;
        s.max = hi;
        s.count += v.length;
      }
    }
    if (options.histograms) {
      for (const s of stats.values()) s.hist = new Float64Array(HIST_BINS);
      for await (const b of batches(images, shape, bs)) {
        const out = await session.run({ [inputName]: new ort.Tensor('float32', b.data, b.dims) }, fetch);
        for (const n of names) {
          const v = n === inputName ? b.data : (out[n]!.data as Float32Array);
          const s = stats.get(n)!;
          const width = s.max - s.min;
          const h = s.hist!;
          if (!(width > 0)) {
            h[0]! += v.length;
            continue;
          }
          const k = HIST_BINS / width;
          for (let i = 0; i < v.length; i++) {
            let j = Math.floor((v[i]! - s.min) * k);
            if (j >= HIST_BINS) j = HIST_BINS - 1;
            h[j]! += 1;
          }
        }
      }
    }
  } finally {
    await session.release();
  }
  return stats;
}

export interface CalibrationOptions {
  method: CalibrationMethod;
  /** Percentile kept on each side for `percentile` (default 99.99). */
  percentile?: number;
  batchSize?: number;
  /** tensorrt: symmetric int8 activations, so entropy uses 128 levels even for one-sided tensors. */
  target?: 'cpu' | 'tensorrt';
}

export interface CalibrationResult {
  method: CalibrationMethod;
  samples: number;
  percentile?: number;
  ranges: Map<string, [number, number]>;
}

/** Value at cumulative fraction `q` of a histogram over [min, max]. */
function histQuantile(s: TensorStats, q: number): number {
  const h = s.hist!;
  const total = h.reduce((a, b) => a + b, 0);
  const target = q * total;
  let acc = 0;
  const width = (s.max - s.min) / h.length;
  for (let i = 0; i < h.length; i++) {
    if (acc + h[i]! >= target) {
      const frac = h[i]! > 0 ? (target - acc) / h[i]! : 0;
      return s.min + (i + frac) * width;
    }
    acc += h[i]!;
  }
  return s.max;
}

/** Percentile range: drop (100 − p)/2 % of the mass on each side, never narrower than zero-inclusive. */
export function percentileRange(s: TensorStats, p: number): [number, number] {
  const tail = (1 - p / 100) / 2;
  const lo = s.min >= 0 ? s.min : histQuantile(s, tail);
  const hi = s.max <= 0 ? s.max : histQuantile(s, 1 - tail);
  return [lo, hi];
}

/**
 * Entropy (KL) calibration in the TensorRT style: over a histogram of |x| (re-binned from the
 * value histogram), choose the clipping threshold T whose `levels`-bin quantized distribution q
 * diverges least from the clipped reference p (outliers folded into the last kept bin). Range
 * [max(min, −T), min(max, T)]. `levels` is 128 for signed int8 and 256 for one-sided uint8.
 */
export function entropyRange(s: TensorStats, levels: number): [number, number] {
  const bins = 2048;
  const absmax = Math.max(Math.abs(s.min), Math.abs(s.max));
  if (!(absmax > 0) || !s.hist) return [s.min, s.max];
  // |x| histogram on [0, absmax].
  const a = new Float64Array(bins);
  const src = s.hist;
  const w = (s.max - s.min) / src.length;
  for (let i = 0; i < src.length; i++) {
    if (!src[i]) continue;
    const centre = Math.abs(s.min + (i + 0.5) * w);
    a[Math.min(bins - 1, Math.floor((centre / absmax) * bins))]! += src[i]!;
  }
  // Post-ReLU tensors hold a spike of exact zeros that dominates the normalised distributions and
  // makes clipping the informative tail look cheap; it is quantized exactly anyway (zero is
  // representable), so it is left out of the divergence.
  if (s.min >= 0) a[0] = 0;
  let best = bins;
  let bestKl = Infinity;
  for (let i = levels; i <= bins; i += Math.max(1, Math.floor(levels / 8))) {
    const p = a.slice(0, i);
    let outliers = 0;
    for (let j = i; j < bins; j++) outliers += a[j]!;
    p[i - 1]! += outliers;
    // q: merge p's first i bins (without the outliers) into `levels` groups, spread back over non-empty bins.
    const q = new Float64Array(i);
    const step = i / levels;
    for (let g = 0; g < levels; g++) {
      const start = Math.floor(g * step);
      const end = g === levels - 1 ? i : Math.floor((g + 1) * step);
      let sum = 0;
      let nonZero = 0;
      for (let j = start; j < end; j++) {
        sum += a[j]!;
        if (a[j]! > 0) nonZero++;
      }
      for (let j = start; j < end; j++) if (a[j]! > 0) q[j] = sum / nonZero;
    }
    const kl = klDivergence(p, q);
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  const t = (best / bins) * absmax;
  return [Math.max(s.min, -t), Math.min(s.max, t)];
}

function klDivergence(p: Float64Array, q: Float64Array): number {
  const eps = 1e-10;
  let ps = 0;
  let qs = 0;
  for (let i = 0; i < p.length; i++) {
    ps += p[i]!;
    qs += q[i]!;
  }
  if (ps === 0 || qs === 0) return Infinity;
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    const pi = p[i]! / ps;
    const qi = Math.max(q[i]! / qs, eps);
    kl += pi * Math.log(pi / qi);
  }
  return kl;
}

/**
 * Turns statistics into ranges with the chosen method. Tensors named in `exact` (the graph
 * input: its domain is the normalised pixel range, and Fashion-MNIST's background sits exactly at
 * its minimum) always keep their full min/max; clipping them would move every background pixel.
 */
export function rangesFromStats(
  stats: Map<string, TensorStats>,
  method: CalibrationMethod,
  options: { percentile?: number; signedLevels?: boolean; exact?: readonly string[] } = {},
): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const [name, s] of stats) {
    if (!Number.isFinite(s.min) || !Number.isFinite(s.max)) continue;
    if (method === 'minmax' || options.exact?.includes(name)) out.set(name, [s.min, s.max]);
    else if (method === 'percentile') out.set(name, percentileRange(s, options.percentile ?? 99.99));
    else out.set(name, entropyRange(s, options.signedLevels || s.min < 0 ? 128 : 256));
  }
  return out;
}

/** Calibrates `g` on synthetic samples only (EDGEKD_REAL_DATA_FORBIDDEN / EDGEKD_CALIBRATION_INVALID otherwise). */
export async function calibrate(g: IrGraph, samples: CalibrationSamples, options: CalibrationOptions): Promise<CalibrationResult> {
  assertCalibrationSamples(samples);
  const stats = await collectActivationStats(g, samples.data, samples.shape, { histograms: options.method !== 'minmax', batchSize: options.batchSize });
  return {
    method: options.method,
    samples: samples.shape[0],
    ...(options.method === 'percentile' ? { percentile: options.percentile ?? 99.99 } : {}),
    ranges: rangesFromStats(stats, options.method, { percentile: options.percentile, signedLevels: options.target === 'tensorrt', exact: g.inputs.map((i) => i.name) }),
  };
}
