import * as tf from '@tensorflow/tfjs';
import { registerKernels } from './register-kernels';

/**
 * Faster wasm versions of two generic kernels that dominate training once the convolution
 * gradients are fast (measured in bench/compute.ts, profile of one ResNet-8 step at batch 64):
 *
 * - Tile: the BatchNorm input gradient tiles a [1,1,1,C] vector to the activation's full shape.
 *   wasm's Tile computes an index per element (~300 ms for [64,28,28,16] across one step). Tile
 *   is pure replication, so it is written here as one copy of the input followed by doubling
 *   `copyWithin`s (memmove) per axis, directly on the wasm heap.
 * - Sum over leading axes (BatchNorm statistics and their gradients reduce [N,H,W] of NHWC):
 *   wasm's Sum first transposes the reduced axes to the inside. Summing the rows of the
 *   [outer, inner] view in place avoids the transpose; each output element is accumulated in
 *   the same order every time (deterministic), in float64 (more accurate than float32 sums).
 *
 * - Mean over leading axes (BatchNorm's batch statistics in training): the same row sum, scaled.
 * - Identity: shares the buffer (one more reference) instead of copying it; see below.
 *
 * Each keeps wasm's own kernel for every case it does not handle (other dtypes, other axes).
 */

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

function fastTile(x: tf.TensorInfo, reps: number[], backend: WasmBackendLike): tf.TensorInfo {
  const rank = x.shape.length;
  const outShape = x.shape.map((d, i) => d * reps[i]!);
  const out = backend.makeOutput(outShape, x.dtype);
  // Views taken after makeOutput: allocating may grow (and so replace) the wasm heap.
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const inStride = new Array<number>(rank).fill(1);
  const outSizeFrom = new Array<number>(rank + 1).fill(1);
  for (let i = rank - 2; i >= 0; i--) inStride[i] = inStride[i + 1]! * x.shape[i + 1]!;
  for (let i = rank - 1; i >= 0; i--) outSizeFrom[i] = outSizeFrom[i + 1]! * outShape[i]!;
  // Writes the tiled image of x[so…] at axis `axis` to dst[dstOff…]; its length is outSizeFrom[axis].
  const fill = (axis: number, so: number, dstOff: number): void => {
    let len: number;
    if (axis === rank - 1) {
      len = x.shape[axis]!;
      dst.set(src.subarray(so, so + len), dstOff);
    } else {
      len = 0;
      const block = outSizeFrom[axis + 1]!;
      for (let i = 0; i < x.shape[axis]!; i++, len += block) fill(axis + 1, so + i * inStride[axis]!, dstOff + len);
    }
    const total = len * reps[axis]!;
    for (let filled = len; filled < total; ) {
      const n = Math.min(filled, total - filled);
      dst.copyWithin(dstOff + filled, dstOff, dstOff + n);
      filled += n;
    }
  };
  if (rank === 0 || outSizeFrom[0] === 0) return out;
  fill(0, 0, 0);
  return out;
}

/**
 * Sum (or mean, scale = 1/outer) over axes [0, k) of a float32 tensor, as rows of an
 * [outer, inner] matrix.
 */
function sumLeadingAxes(x: tf.TensorInfo, k: number, keepDims: boolean, backend: WasmBackendLike, mean = false): tf.TensorInfo {
  const outer = x.shape.slice(0, k).reduce((a, b) => a * b, 1);
  const innerShape = x.shape.slice(k);
  const inner = innerShape.reduce((a, b) => a * b, 1);
  const acc = new Float64Array(inner);
  // One concrete array type keeps the loop monomorphic (a union type here costs several times).
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  for (let r = 0, off = 0; r < outer; r++, off += inner) for (let c = 0; c < inner; c++) acc[c]! += src[off + c]!;
  if (mean) for (let c = 0; c < inner; c++) acc[c]! /= outer;
  const out = backend.makeOutput(keepDims ? [...x.shape.slice(0, k).map(() => 1), ...innerShape] : innerShape, 'float32');
  (backend.typedArrayFromHeap(out) as Float32Array).set(acc);
  return out;
}

function leadingAxesCount(axis: number | number[], rank: number): number {
  const axes = [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  return axes.every((a, i) => a === i) ? axes.length : 0;
}

/**
 * MaxPool gradient in one pass over the outputs: find each window's maximum (the first one in
 * row-major window order on ties, as tfjs's cpu kernel does) and add dy there. wasm's own kernel
 * took 9.7 ms of a 114 ms LeNet student step (bench:compute profile) for 2×2 pools on small maps.
 */
function fastMaxPoolGrad(dy: tf.TensorInfo, x: tf.TensorInfo, attrs: { filterSize: number | [number, number]; strides: number | [number, number]; pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' }, backend: WasmBackendLike): tf.TensorInfo {
  const info = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const out = backend.makeOutput([...x.shape], 'float32');
  const xs = backend.typedArrayFromHeap(x) as Float32Array;
  const g = backend.typedArrayFromHeap(dy) as Float32Array;
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  for (let b = 0; b < batchSize; b++) {
    const xb = b * H * W * C;
    for (let oy = 0; oy < OH; oy++) {
      const y0 = Math.max(0, oy * sh - top);
      const y1 = Math.min(H, oy * sh - top + fh);
      for (let ox = 0; ox < OW; ox++) {
        const x0 = Math.max(0, ox * sw - left);
        const x1 = Math.min(W, ox * sw - left + fw);
        const go = ((b * OH + oy) * OW + ox) * C;
        for (let c = 0; c < C; c++) {
          let best = Number.NEGATIVE_INFINITY;
          let at = -1;
          for (let yy = y0; yy < y1; yy++) {
            for (let xx = x0; xx < x1; xx++) {
              const i = xb + (yy * W + xx) * C + c;
              if (xs[i]! > best) {
                best = xs[i]!;
                at = i;
              }
            }
          }
          if (at >= 0) dx[at]! += g[go + c]!;
        }
      }
    }
  }
  return out;
}

type BinaryOp = 'Add' | 'Sub' | 'Multiply' | 'RealDiv';

/**
 * Switches for replacements that `bench:compute` measures on and off in one process (a kernel
 * registration cannot be undone there); always on otherwise.
 */
export const wasmSpeedupSwitches = { channelBroadcast: true, batchNorm: true };

/**
 * How an element-wise op's operand repeats over the other: `period` = its size when its shape,
 * without leading 1s, is a trailing suffix of the other's (a per-channel [C] or [1,1,1,C] vector
 * against an NHWC activation, or a scalar); 0 when the broadcast is anything else.
 */
function trailingPeriod(small: readonly number[], full: readonly number[]): number {
  let i = 0;
  while (i < small.length && small[i] === 1) i++;
  const core = small.slice(i);
  if (core.length > full.length) return 0;
  const tail = full.slice(full.length - core.length);
  if (!core.every((d, j) => d === tail[j])) return 0;
  return core.reduce((a, b) => a * b, 1);
}

/**
 * a ∘ b where one operand is the full output and the other repeats with a trailing period (a
 * BatchNorm's per-channel mean, scale or shift against the activation, or a scalar). wasm's
 * binary kernels are fast for equal shapes (XNNPACK) but take a per-element index path for
 * broadcasts: 1.8 ms per [128,28,28,3] − [3] in a LeNet student step. One float32 operation per
 * element, so the result is bit for bit the IEEE float32 result (JS rounds the exact double
 * result of two float32 operands once).
 */
function channelBroadcastBinary(op: BinaryOp, a: tf.TensorInfo, b: tf.TensorInfo, backend: WasmBackendLike): tf.TensorInfo | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const aSize = a.shape.reduce((x, y) => x * y, 1);
  const bSize = b.shape.reduce((x, y) => x * y, 1);
  const aFull = aSize >= bSize;
  const full = aFull ? a : b;
  const small = aFull ? b : a;
  // Output rank is the larger rank; the full operand must already have it.
  if (small.shape.length > full.shape.length) return null;
  const period = trailingPeriod(small.shape, full.shape);
  const size = Math.max(aSize, bSize);
  if (period === 0 || period === size || size === 0) return null;
  const out = backend.makeOutput([...full.shape], 'float32');
  const f = backend.typedArrayFromHeap(full) as Float32Array;
  const s = backend.typedArrayFromHeap(small) as Float32Array;
  const o = backend.typedArrayFromHeap(out) as Float32Array;
  // Flat loops with a wrapping channel index (a nested loop over a period of 1-8 costs more in
  // loop overhead than in arithmetic); one loop per op and operand order, each monomorphic.
  if (period === 1) {
    const k = s[0]!;
    if (op === 'Add') for (let i = 0; i < size; i++) o[i] = f[i]! + k;
    else if (op === 'Multiply') for (let i = 0; i < size; i++) o[i] = f[i]! * k;
    else if (op === 'Sub') {
      if (aFull) for (let i = 0; i < size; i++) o[i] = f[i]! - k;
      else for (let i = 0; i < size; i++) o[i] = k - f[i]!;
    } else if (aFull) for (let i = 0; i < size; i++) o[i] = f[i]! / k;
    else for (let i = 0; i < size; i++) o[i] = k / f[i]!;
    return out;
  }
  if (op === 'Add') for (let i = 0, c = 0; i < size; i++, c = c + 1 === period ? 0 : c + 1) o[i] = f[i]! + s[c]!;
  else if (op === 'Multiply') for (let i = 0, c = 0; i < size; i++, c = c + 1 === period ? 0 : c + 1) o[i] = f[i]! * s[c]!;
  else if (op === 'Sub') {
    if (aFull) for (let i = 0, c = 0; i < size; i++, c = c + 1 === period ? 0 : c + 1) o[i] = f[i]! - s[c]!;
    else for (let i = 0, c = 0; i < size; i++, c = c + 1 === period ? 0 : c + 1) o[i] = s[c]! - f[i]!;
  } else if (aFull) for (let i = 0, c = 0; i < size; i++, c = c + 1 === period ? 0 : c + 1) o[i] = f[i]! / s[c]!;
  else for (let i = 0, c = 0; i < size; i++, c = c + 1 === period ? 0 : c + 1) o[i] = s[c]! / f[i]!;
  return out;
}

/**
 * FusedBatchNorm over the last (channel) axis as one pass: per channel a = scale/√(var+ε) and
 * b = offset − mean·a (float64), then x·a + b. wasm's kernel takes ~3 ns per element (1.9 ms for
 * the LeNet teacher's first [128,28,28,6] activation); BatchNorm runs 6 times per student step
 * and 3 times per synthesis inner step. Equal to the cpu backend's (x−mean)·scale/√(var+ε)+offset
 * to float32 rounding (a few ulp), not bit for bit.
 */
function fastFusedBatchNorm(inputs: { x: tf.TensorInfo; mean: tf.TensorInfo; variance: tf.TensorInfo; offset?: tf.TensorInfo; scale?: tf.TensorInfo }, eps: number, backend: WasmBackendLike): tf.TensorInfo | null {
  const { x, mean, variance, offset, scale } = inputs;
  const C = x.shape[x.shape.length - 1] ?? 0;
  const size = x.shape.reduce((a, b) => a * b, 1);
  const perChannel = (t: tf.TensorInfo | undefined) => t === undefined || (t.dtype === 'float32' && t.shape.reduce((a, b) => a * b, 1) === C && t.shape.length <= 1);
  if (x.dtype !== 'float32' || C === 0 || size === 0 || ![mean, variance, offset, scale].every(perChannel)) return null;
  const a = new Float64Array(C);
  const b = new Float64Array(C);
  {
    const m = backend.typedArrayFromHeap(mean) as Float32Array;
    const v = backend.typedArrayFromHeap(variance) as Float32Array;
    const o = offset ? (backend.typedArrayFromHeap(offset) as Float32Array) : null;
    const g = scale ? (backend.typedArrayFromHeap(scale) as Float32Array) : null;
    for (let c = 0; c < C; c++) {
      a[c] = (g ? g[c]! : 1) / Math.sqrt(v[c]! + eps);
      b[c] = (o ? o[c]! : 0) - m[c]! * a[c]!;
    }
  }
  const out = backend.makeOutput([...x.shape], 'float32');
  const xs = backend.typedArrayFromHeap(x) as Float32Array;
  const y = backend.typedArrayFromHeap(out) as Float32Array;
  for (let i = 0, c = 0; i < size; i++, c = c + 1 === C ? 0 : c + 1) y[i] = xs[i]! * a[c]! + b[c]!;
  return out;
}

export function wasmSpeedupConfigs(backendName = 'wasm'): tf.KernelConfig[] {
  const original = (name: string): tf.KernelConfig => {
    const k = tf.getKernel(name, backendName);
    if (!k) throw new Error(`backend ${backendName} has no ${name} kernel to fall back to`);
    return k;
  };
  // The fallbacks' setup functions (which bind their wasm exports) must keep running when the
  // backend is activated, so the replacements carry them.
  const tile = original('Tile');
  const sum = original('Sum');
  const mean = original('Mean');
  const maxPoolGrad = original('MaxPoolGrad');
  const maxPoolGradFallback = maxPoolGrad.kernelFunc;
  const tileFallback = tile.kernelFunc;
  const sumFallback = sum.kernelFunc;
  const meanFallback = mean.kernelFunc;
  const binaries = (['Add', 'Sub', 'Multiply', 'RealDiv'] as const).map((op): tf.KernelConfig => {
    const k = original(op);
    const fallback = k.kernelFunc;
    return {
      kernelName: op,
      backendName,
      ...(k.setupFunc ? { setupFunc: k.setupFunc } : {}),
      kernelFunc: (args) => {
        const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
        if (!wasmSpeedupSwitches.channelBroadcast) return fallback(args);
        return channelBroadcastBinary(op, a, b, args.backend as unknown as WasmBackendLike) ?? fallback(args);
      },
    };
  });
  const fbn = original('FusedBatchNorm');
  const fbnFallback = fbn.kernelFunc;
  return [
    ...binaries,
    {
      kernelName: 'FusedBatchNorm',
      backendName,
      ...(fbn.setupFunc ? { setupFunc: fbn.setupFunc } : {}),
      kernelFunc: (args) => {
        if (!wasmSpeedupSwitches.batchNorm) return fbnFallback(args);
        const eps = (args.attrs as { varianceEpsilon: number }).varianceEpsilon;
        return fastFusedBatchNorm(args.inputs as never, eps, args.backend as unknown as WasmBackendLike) ?? fbnFallback(args);
      },
    },
    {
      // wasm's Identity copies the buffer; the engine clones every tensor it saves for the
      // backward pass, so a training step made hundreds of activation-sized copies. Tensors are
      // immutable (every wasm kernel writes a fresh output), so sharing the buffer with one more
      // reference is safe, exactly what wasm's own Reshape does.
      kernelName: 'Identity',
      backendName,
      kernelFunc: (args) => {
        const x = args.inputs.x!;
        (args.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
        return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
      },
    },
    {
      kernelName: 'Mean',
      backendName,
      ...(mean.setupFunc ? { setupFunc: mean.setupFunc } : {}),
      kernelFunc: (args) => {
        const x = args.inputs.x!;
        const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
        const k = leadingAxesCount(axis, x.shape.length);
        if (x.dtype !== 'float32' || k === 0 || k === x.shape.length) return meanFallback(args);
        return sumLeadingAxes(x, k, keepDims, args.backend as unknown as WasmBackendLike, true);
      },
    },
    {
      kernelName: 'MaxPoolGrad',
      backendName,
      ...(maxPoolGrad.setupFunc ? { setupFunc: maxPoolGrad.setupFunc } : {}),
      kernelFunc: (args) => {
        const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
        if (input.dtype !== 'float32' || input.shape.length !== 4) return maxPoolGradFallback(args);
        return fastMaxPoolGrad(dy, input, args.attrs as never, args.backend as unknown as WasmBackendLike);
      },
    },
    {
      kernelName: 'Tile',
      backendName,
      ...(tile.setupFunc ? { setupFunc: tile.setupFunc } : {}),
      kernelFunc: (args) => {
        const x = args.inputs.x!;
        const reps = (args.attrs as { reps: number[] }).reps;
        if (x.dtype === 'string' || reps.length !== x.shape.length) return tileFallback(args);
        return fastTile(x, reps, args.backend as unknown as WasmBackendLike);
      },
    },
    {
      kernelName: 'Sum',
      backendName,
      ...(sum.setupFunc ? { setupFunc: sum.setupFunc } : {}),
      kernelFunc: (args) => {
        const x = args.inputs.x!;
        const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
        const k = leadingAxesCount(axis, x.shape.length);
        // Reducing the innermost axes is what wasm's kernel does well; take only leading-prefix
        // reductions that leave something inside.
        if (x.dtype !== 'float32' || k === 0 || k === x.shape.length) return sumFallback(args);
        return sumLeadingAxes(x, k, keepDims, args.backend as unknown as WasmBackendLike);
      },
    },
  ];
}

/** Registers the faster Identity, Tile, Sum, Mean, MaxPoolGrad, FusedBatchNorm and broadcast Add/Sub/Multiply/RealDiv on `backendName` (idempotent). */
export function registerWasmSpeedups(backendName = 'wasm'): string[] {
  return registerKernels(wasmSpeedupConfigs(backendName));
}
