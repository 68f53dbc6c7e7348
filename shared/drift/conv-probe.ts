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
  const sum = new Float64Array(cout);
  const sumSq = new Float64Array(cout);
  const acc = new Float64Array(cout);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      for (let o = 0; o < cout; o++) acc[o] = p.bias ? p.bias[o]! : 0;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * s + ky - padTop;
        if (iy < 0 || iy >= height) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * s + kx - padLeft;
          if (ix < 0 || ix >= width) continue;
          for (let ci = 0; ci < cin; ci++) {
            const v = x[(iy * width + ix) * cin + ci]!;
            if (v === 0) continue;
            const base = ((ky * kw + kx) * cin + ci) * cout;
            for (let o = 0; o < cout; o++) acc[o] += v * p.kernel[base + o]!;
          }
        }
      }
      for (let o = 0; o < cout; o++) {
        sum[o] += acc[o]!;
        sumSq[o] += acc[o]! * acc[o]!;
      }
    }
  }
  const positions = outH * outW;
  return { mean: Array.from(sum, (v) => v / positions), meanSquare: Array.from(sumSq, (v) => v / positions) };
}
