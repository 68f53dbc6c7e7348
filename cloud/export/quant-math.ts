/**
 * Quantization arithmetic, following the ONNX QuantizeLinear definition (opset 13):
 * q = saturate(round(x / scale) + zero_point), rounding half to even, and onnxruntime's
 * quantizer for choosing scale and zero point (quant_utils.compute_scale_zp).
 */

/** Round half to even, as QuantizeLinear specifies (JavaScript's Math.round rounds half up). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

export interface QParams {
  scale: number;
  zeroPoint: number;
  /** Quantized range of the type in use. */
  qmin: number;
  qmax: number;
}

/** Smallest normal float32; a scale below it is treated as "all zeros" (scale 1, zero point 0). */
const FLOAT32_TINY = 1.1754943508222875e-38;

/**
 * Asymmetric uint8: the real range is first widened to include 0 (so zero is exact, which makes
 * zero padding exact and lets a ReLU fold into the range), scale = (rmax − rmin)/255,
 * zero point = round(−rmin/scale).
 */
export function asymmetricUint8(rmin: number, rmax: number): QParams {
  const lo = Math.min(rmin, 0);
  const hi = Math.max(rmax, 0);
  const scale = (hi - lo) / 255;
  if (!(scale >= FLOAT32_TINY)) return { scale: 1, zeroPoint: 0, qmin: 0, qmax: 255 };
  const zp = Math.min(255, Math.max(0, roundHalfEven(-lo / scale)));
  return { scale: Math.fround(scale), zeroPoint: zp, qmin: 0, qmax: 255 };
}

/** Symmetric int8 activations (TensorRT): zero point 0, scale = max|r|/127, range [−128, 127]. */
export function symmetricInt8(rmin: number, rmax: number): QParams {
  const absmax = Math.max(Math.abs(rmin), Math.abs(rmax));
  const scale = absmax / 127;
  if (!(scale >= FLOAT32_TINY)) return { scale: 1, zeroPoint: 0, qmin: -128, qmax: 127 };
  return { scale: Math.fround(scale), zeroPoint: 0, qmin: -128, qmax: 127 };
}

export function quantizeValue(x: number, p: QParams): number {
  return Math.min(p.qmax, Math.max(p.qmin, roundHalfEven(x / p.scale) + p.zeroPoint));
}

export interface PerChannelWeights {
  q: Int8Array;
  scales: Float32Array;
}

/**
 * Per-output-channel symmetric int8 weights (axis 0 of an ONNX Conv W [O, I, kh, kw] or a Gemm
 * B [O, I] with transB = 1): scale_c = max|w_c| / 127, values in [−127, 127], zero point 0.
 * `qmax` 63 gives onnxruntime's "reduce_range" 7-bit weights (see qdq-quantize.ts).
 * `minScale` floors tiny scales (an almost-dead channel after BatchNorm folding) so the int32
 * bias stays representable.
 */
export function quantizeWeightsPerChannel(w: Float32Array, channels: number, minScale = 0, qmax = 127): PerChannelWeights {
  const per = w.length / channels;
  const q = new Int8Array(w.length);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let absmax = 0;
    for (let j = 0; j < per; j++) absmax = Math.max(absmax, Math.abs(w[c * per + j]!));
    let s = absmax / qmax;
    if (!(s >= FLOAT32_TINY)) s = 1;
    s = Math.fround(Math.max(s, minScale));
    scales[c] = s;
    for (let j = 0; j < per; j++) q[c * per + j] = Math.min(qmax, Math.max(-qmax, roundHalfEven(w[c * per + j]! / s)));
  }
  return { q, scales };
}

const INT32_MAX = 2 ** 31 - 1;

/**
 * int32 bias with scale_c = input_scale · weight_scale_c and zero point 0 (what QLinearConv
 * and QGemm consume). Computed in float64; a value that would overflow int32 is a caller bug
 * (weight scales are floored to prevent it) and throws.
 */
export function quantizeBias(b: Float32Array, inputScale: number, weightScales: Float32Array): { q: Int32Array; scales: Float32Array } {
  const q = new Int32Array(b.length);
  const scales = new Float32Array(b.length);
  for (let c = 0; c < b.length; c++) {
    const s = Math.fround(inputScale * weightScales[c]!);
    scales[c] = s;
    const v = roundHalfEven(b[c]! / s);
    if (Math.abs(v) > INT32_MAX) throw new RangeError(`bias ${b[c]} / scale ${s} overflows int32`);
    q[c] = v;
  }
  return { q, scales };
}

/** The weight-scale floor per channel that keeps |b / (sx·sw)| within int32 (like onnxruntime's weight-scale adjustment). */
export function weightScaleFloorForBias(b: Float32Array, inputScale: number): Float32Array {
  const floor = new Float32Array(b.length);
  for (let c = 0; c < b.length; c++) floor[c] = (Math.abs(b[c]!) / (inputScale * (INT32_MAX - 1))) * 1.0001;
  return floor;
}
