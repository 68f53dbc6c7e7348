import type { FeatureSample } from './summary';

/**
 * A feature probe computed in plain JavaScript: the teacher's first convolution (before its
 * BatchNorm), reduced per channel to the spatial mean and mean square. This is what BN's running
 * mean and variance describe, so the edge gets statistics comparable to the teacher's BN without
 * running the teacher and without the student's (folded) BN. For a first layer the cost is
 * kh·kw·cin·cout·H·W multiply-adds (5·5·1·6·28·28 ≈ 118 k for LeNet-5 on 28×28), negligible next
 * to the student. Larger probes ship as extra ONNX outputs instead (see docs/drift.md).
 */
export interface ConvProbe {
  kind: 'conv2d';
  /** [kh, kw, cin, cout], values in the same (HWIO) order as TensorFlow.js Conv2D kernels. */
  kernelShape: readonly [number, number, number, number];
  kernel: ArrayLike<number>;
  bias?: ArrayLike<number>;
  strides: number;
  padding: 'same' | 'valid';
}

export function runConvProbe(x: ArrayLike<number>, height: number, width: number, p: ConvProbe): FeatureSample {
  const [kh, kw, cin, cout] = p.kernelShape;
  if (x.length !== height * width * cin) throw new RangeError(`runConvProbe: ${x.length} values for ${height}x${width}x${cin}`);
  const s = p.strides;
  let outH: number, outW: number, padTop: number, padLeft: number;
  if (p.padding === 'same') {
    outH = Math.ceil(height / s);
    outW = Math.ceil(width / s);
    padTop = Math.floor(Math.max(0, (outH - 1) * s + kh - height) / 2);
    padLeft = Math.floor(Math.max(0, (outW - 1) * s + kw - width) / 2);
  } else {
    outH = Math.floor((height - kh) / s) + 1;
    outW = Math.floor((width - kw) / s) + 1;
    padTop = 0;
    padLeft = 0;
  }
  // Hot loop: locals only, one output channel at a time with a scalar accumulator; the kernel is
  // re-laid out once as [cout][kh][kw][cin] so the innermost reads are contiguous.
  const kernel = new Float64Array(kh * kw * cin * cout);
  for (let i = 0; i < kh * kw * cin; i++) for (let o = 0; o < cout; o++) kernel[o * kh * kw * cin + i] = p.kernel[i * cout + o]!;
  const xs = Float64Array.from(x);
  const sum = new Float64Array(cout);
  const sumSq = new Float64Array(cout);
  const taps = kh * kw * cin;
  for (let o = 0; o < cout; o++) {
    const b = p.bias ? p.bias[o]! : 0;
    const kOff = o * taps;
    let s1 = 0;
    let s2 = 0;
    for (let oy = 0; oy < outH; oy++) {
      const y0 = oy * s - padTop;
      const kyStart = y0 < 0 ? -y0 : 0;
      const kyEnd = Math.min(kh, height - y0);
      for (let ox = 0; ox < outW; ox++) {
        const x0 = ox * s - padLeft;
        const kxStart = x0 < 0 ? -x0 : 0;
        const kxEnd = Math.min(kw, width - x0);
        let a = b;
        for (let ky = kyStart; ky < kyEnd; ky++) {
          const inRow = ((y0 + ky) * width + x0) * cin;
          const kRow = kOff + ky * kw * cin;
          for (let j = kxStart * cin; j < kxEnd * cin; j++) a += xs[inRow + j]! * kernel[kRow + j]!;
        }
        s1 += a;
        s2 += a * a;
      }
    }
    sum[o] = s1;
    sumSq[o] = s2;
  }
  const positions = outH * outW;
  return { mean: Array.from(sum, (v) => v / positions), meanSquare: Array.from(sumSq, (v) => v / positions) };
}
