import * as tf from '@tensorflow/tfjs';
import { backendOps, type BackendOps, type ConvPad, type Info } from './backend-ops';

/**
 * Convolution gradients built from forward convolutions, so that a backend whose forward kernels
 * are fast (wasm: XNNPACK) trains at close to forward speed. Notation (NHWC, tfjs conventions):
 * forward y[n,oh,ow,co] = Σ x[n, oh·s + i·d − top, ow·s + j·d − left, ci] · f[i,j,ci,co]
 * with stride s, dilation d and the padding computed by `computeConv2DInfo`.
 *
 * - filter gradient: Σ over (n, oh, ow) is itself a convolution if the batch axis is moved into
 *   the channel axis: conv(xᵀ[ci,h,w,n], dyᵀ[oh,ow,n,co]) with stride d and dilation s.
 * - input gradient: the transposed convolution, i.e. a stride-1 convolution of dy, dilated by s
 *   (zeros between rows and columns) and padded by (k−1)·d − top, with the filter rotated by 180°
 *   and its in/out channels swapped.
 * - depthwise filter gradient: the per-channel sum over (n, oh, ow) becomes one depthwise
 *   convolution by laying the batch side by side along the width axis (one block per image,
 *   block width a multiple of s), with dy laid out the same way as the filter.
 */

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

/** `bench:compute` switches the matrix-product input gradient off to measure what it buys; always on otherwise. */
export const convGradSwitches = { denseInputGradient: true };
type Rounding = 'floor' | 'round' | 'ceil' | undefined;
type Shape4 = [number, number, number, number];
type Pair = [number, number];

const pair = (v: number | number[] | undefined): Pair =>
  v == null ? [1, 1] : typeof v === 'number' ? [v, v] : [v[0]!, v[1] ?? v[0]!];

const as4 = (s: number[]): Shape4 => {
  if (s.length !== 4) throw new Error(`expected a rank-4 shape, got [${s.join(',')}]`);
  return s as Shape4;
};

const convPad = (top: number, bottom: number, left: number, right: number): ConvPad => [
  [0, 0],
  [top, bottom],
  [left, right],
  [0, 0],
];

const ceilTo = (v: number, m: number): number => Math.ceil(v / m) * m;

/** Inserts s−1 zero rows/columns after every row/column of dy: [n, oh·sh, ow·sw, c]. */
function dilateByStride(ops: BackendOps, dy: Info, sh: number, sw: number): { dyD: Info; owned: Info | null } {
  if (sh === 1 && sw === 1) return { dyD: dy, owned: null };
  const [n, oh, ow, c] = as4(dy.shape);
  const padded = ops.pad(ops.view(dy, [n, oh, 1, ow, 1, c]), [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return { dyD: ops.view(padded, [n, oh * sh, ow * sw, c]), owned: padded };
}

export function conv2dFilterGradient(
  ops: BackendOps,
  x: Info,
  dy: Info,
  filterShape: Shape4,
  strides: number | number[],
  pad: Pad,
  dimRoundingMode?: Rounding,
  dilations: number | number[] = 1,
): Info {
  const info = tf.backend_util.computeConv2DInfo(as4(x.shape), filterShape, pair(strides), pair(dilations), pad, dimRoundingMode, false, 'channelsLast');
  const [kh, kw, ci, co] = filterShape;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, outHeight: oh, outWidth: ow } = info;
  const { top, left } = info.padInfo;
  const [, h, w] = as4(x.shape);
  // Rows of the padded input the filter gradient reads; anything beyond only adds output rows
  // that the final slice drops.
  const bottom = Math.max(0, (kh - 1) * dh + (oh - 1) * sh + 1 - top - h);
  const right = Math.max(0, (kw - 1) * dw + (ow - 1) * sw + 1 - left - w);
  const xT = ops.transpose(x, [3, 1, 2, 0]);
  const dyT = ops.transpose(dy, [1, 2, 0, 3]);
  const g = ops.conv2d(xT, dyT, [dh, dw], [sh, sw], convPad(top, bottom, left, right));
  ops.free(xT, dyT);
  const gs = ops.slice(g, [0, 0, 0, 0], [ci, kh, kw, co]);
  ops.free(g);
  const out = ops.transpose(gs, [1, 2, 0, 3]);
  ops.free(gs);
  return out;
}

export function conv2dInputGradient(
  ops: BackendOps,
  dy: Info,
  filter: Info,
  inputShape: Shape4,
  strides: number | number[],
  pad: Pad,
  dimRoundingMode?: Rounding,
): Info {
  const info = tf.backend_util.computeConv2DInfo(inputShape, as4(filter.shape), pair(strides), [1, 1], pad, dimRoundingMode, false, 'channelsLast');
  const [kh, kw, , co] = as4(filter.shape);
  const [n, h, w, ci] = inputShape;
  const p = info.padInfo;
  if (convGradSwitches.denseInputGradient && info.outHeight === 1 && info.outWidth === 1 && kh === h && kw === w && p.top === 0 && p.bottom === 0 && p.left === 0 && p.right === 0) {
    // The filter covers the whole input once (LeNet's last convolution, a dense layer in
    // disguise): dx[n, ·] = dy[n, ·] · f[(i,j,ci), co]ᵀ, one matrix product. The transposed
    // convolution would pad dy to (2k−1)² and do k² times the work, almost all on zeros
    // (4.5 ms per call for the LeNet teacher's 5×5×16→120 layer at batch 32).
    const dx = ops.run('BatchMatMul', { a: ops.view(dy, [1, n, co]), b: ops.view(filter, [1, kh * kw * ci, co]) }, { transposeA: false, transposeB: true });
    return ops.view(dx, [n, h, w, ci]);
  }
  const { strideHeight: sh, strideWidth: sw } = info;
  const { dyD, owned } = dilateByStride(ops, dy, sh, sw);
  const [, rows, cols] = as4(dyD.shape);
  const top = kh - 1 - info.padInfo.top;
  const left = kw - 1 - info.padInfo.left;
  if (top < 0 || left < 0) throw new Error('conv2d input gradient: padding larger than the filter is not supported');
  const bottom = h + kh - 1 - rows - top;
  const right = w + kw - 1 - cols - left;
  // Filter rotated by 180° with in/out channels swapped: [kh, kw, co, ci].
  const flipped = ops.run('Reverse', { x: filter }, { dims: [0, 1] });
  const rotated = ops.transpose(flipped, [0, 1, 3, 2]);
  ops.free(flipped);
  const dx = ops.conv2d(dyD, rotated, [1, 1], [1, 1], convPad(top, Math.max(0, bottom), left, Math.max(0, right)));
  ops.free(rotated);
  if (owned) ops.free(owned);
  if (bottom >= 0 && right >= 0) return dx;
  const cut = ops.slice(dx, [0, 0, 0, 0], [n, h, w, ci]);
  ops.free(dx);
  return cut;
}

export function depthwiseInputGradient(
  ops: BackendOps,
  dy: Info,
  filter: Info,
  inputShape: Shape4,
  strides: number | number[],
  dilations: number | number[] | undefined,
  pad: Pad,
  dimRoundingMode?: Rounding,
): Info {
  const info = tf.backend_util.computeConv2DInfo(inputShape, as4(filter.shape), pair(strides), pair(dilations), pad, dimRoundingMode, true, 'channelsLast');
  const [kh, kw, c, m] = as4(filter.shape);
  const [n, h, w] = inputShape;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { dyD, owned } = dilateByStride(ops, dy, sh, sw);
  const [, rows, cols] = as4(dyD.shape);
  const top = (kh - 1) * dh - info.padInfo.top;
  const left = (kw - 1) * dw - info.padInfo.left;
  if (top < 0 || left < 0) throw new Error('depthwise input gradient: padding larger than the filter is not supported');
  const bottom = h + (kh - 1) * dh - rows - top;
  const right = w + (kw - 1) * dw - cols - left;
  // Each of the c·m dy channels is correlated with its own rotated filter tap set.
  const flipped = ops.run('Reverse', { x: filter }, { dims: [0, 1] });
  const dxm = ops.depthwise(dyD, ops.view(flipped, [kh, kw, c * m, 1]), [1, 1], [dh, dw], convPad(top, Math.max(0, bottom), left, Math.max(0, right)));
  ops.free(flipped);
  if (owned) ops.free(owned);
  let dx = dxm;
  if (bottom < 0 || right < 0) {
    dx = ops.slice(dxm, [0, 0, 0, 0], [n, h, w, c * m]);
    ops.free(dxm);
  }
  if (m === 1) return dx;
  const summed = ops.run('Sum', { x: ops.view(dx, [n, h, w, c, m]) }, { axis: [4], keepDims: false });
  ops.free(dx);
  return summed;
}

/**
 * The depthwise filter gradient as a direct loop over the wasm heap. Depthwise convolutions carry
 * few MACs (kh·kw per output element), so a scalar loop (~1 ns per MAC) beats the composed
 * convolution below, whose single huge-kernel grouped convolution XNNPACK runs slowly. Sums are
 * accumulated in float64 in a fixed order.
 */
function depthwiseFilterGradientLoop(
  heap: HeapAccess,
  x: Info,
  dy: Info,
  filterShape: Shape4,
  info: tf.backend_util.Conv2DInfo,
): Info {
  const [n, h, w, c] = as4(x.shape);
  const [kh, kw, , m] = filterShape;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, outHeight: oh, outWidth: ow } = info;
  const { top, left } = info.padInfo;
  const cm = c * m;
  const acc = new Float64Array(kh * kw * cm);
  const xs = heap.typedArrayFromHeap(x) as Float32Array;
  const dys = heap.typedArrayFromHeap(dy) as Float32Array;
  for (let b = 0; b < n; b++)
    for (let r = 0; r < oh; r++)
      for (let q = 0; q < ow; q++) {
        const dyOff = ((b * oh + r) * ow + q) * cm;
        for (let i = 0; i < kh; i++) {
          const ih = r * sh + i * dh - top;
          if (ih < 0 || ih >= h) continue;
          for (let j = 0; j < kw; j++) {
            const iw = q * sw + j * dw - left;
            if (iw < 0 || iw >= w) continue;
            const xOff = ((b * h + ih) * w + iw) * c;
            const fOff = (i * kw + j) * cm;
            if (m === 1) {
              for (let k = 0; k < c; k++) acc[fOff + k]! += xs[xOff + k]! * dys[dyOff + k]!;
            } else {
              for (let k = 0; k < c; k++) {
                const xv = xs[xOff + k]!;
                for (let t = 0; t < m; t++) acc[fOff + k * m + t]! += xv * dys[dyOff + k * m + t]!;
              }
            }
          }
        }
      }
  const out = heap.makeOutput([kh, kw, c, m], 'float32');
  (heap.typedArrayFromHeap(out) as Float32Array).set(acc);
  return out;
}

interface HeapAccess {
  makeOutput(shape: number[], dtype: tf.DataType): Info;
  typedArrayFromHeap(info: Info): Float32Array | Int32Array | Uint8Array;
}

function heapAccess(ops: BackendOps): HeapAccess | null {
  const b = ops.backend as unknown as Partial<HeapAccess>;
  return typeof b.typedArrayFromHeap === 'function' && typeof b.makeOutput === 'function' ? (b as HeapAccess) : null;
}

export function depthwiseFilterGradient(
  ops: BackendOps,
  x: Info,
  dy: Info,
  filterShape: Shape4,
  strides: number | number[],
  dilations: number | number[] | undefined,
  pad: Pad,
  dimRoundingMode?: Rounding,
  preferLoop = true,
): Info {
  const info = tf.backend_util.computeConv2DInfo(as4(x.shape), filterShape, pair(strides), pair(dilations), pad, dimRoundingMode, true, 'channelsLast');
  const heap = preferLoop ? heapAccess(ops) : null;
  if (heap && x.dtype === 'float32' && dy.dtype === 'float32') return depthwiseFilterGradientLoop(heap, x, dy, filterShape, info);
  const [n, h, w, c] = as4(x.shape);
  const [kh, kw, , m] = filterShape;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, outHeight: oh, outWidth: ow } = info;
  const { top, left } = info.padInfo;
  const bottom = Math.max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - top - h);
  // One block per image, wide enough for every read of the forward pass and a multiple of the
  // stride so that dy's taps (dilation s) land at the start of each block. One extra all-zero
  // block at the end gives the last image's shifted reads somewhere to land.
  const block = ceilTo(Math.max(left + w, (ow - 1) * sw + (kw - 1) * dw + 1), sw);
  const taps = block / sw;
  const xp = ops.pad(x, [
    [0, 1],
    [top, bottom],
    [left, block - left - w],
    [0, 0],
  ]);
  const rows = top + h + bottom;
  const xt = ops.transpose(xp, [1, 0, 2, 3]);
  ops.free(xp);
  const dyp = taps === ow ? null : ops.pad(dy, [
    [0, 0],
    [0, 0],
    [0, taps - ow],
    [0, 0],
  ]);
  const dyt = ops.transpose(dyp ?? dy, [1, 0, 2, 3]);
  if (dyp) ops.free(dyp);
  const g = ops.depthwise(ops.view(xt, [1, rows, (n + 1) * block, c]), ops.view(dyt, [oh, n * taps, c, m]), [dh, dw], [sh, sw], convPad(0, 0, 0, 0));
  ops.free(xt, dyt);
  const gs = ops.slice(g, [0, 0, 0, 0], [1, kh, kw, c * m]);
  ops.free(g);
  return ops.view(gs, [kh, kw, c, m]);
}

type KernelArgs = Parameters<tf.KernelFunc>[0];
const attr = <T>(args: KernelArgs, name: string): T => (args.attrs as Record<string, unknown>)[name] as T;
const opsFor = (args: KernelArgs, backendName: string): BackendOps => backendOps(args.backend as tf.KernelBackend, backendName);

/** Kernel configurations for one backend (wasm in practice; tests also run them on cpu). */
export function convGradKernelConfigs(backendName: string): tf.KernelConfig[] {
  return [
    {
      kernelName: 'Conv2DBackpropFilter',
      backendName,
      kernelFunc: (args) =>
        conv2dFilterGradient(opsFor(args, backendName), args.inputs.x!, args.inputs.dy!, attr<Shape4>(args, 'filterShape'), attr(args, 'strides'), attr(args, 'pad'), attr(args, 'dimRoundingMode')),
    },
    {
      kernelName: 'Conv2DBackpropInput',
      backendName,
      kernelFunc: (args) =>
        conv2dInputGradient(opsFor(args, backendName), args.inputs.dy!, args.inputs.filter!, attr<Shape4>(args, 'inputShape'), attr(args, 'strides'), attr(args, 'pad'), attr(args, 'dimRoundingMode')),
    },
    {
      kernelName: 'DepthwiseConv2dNativeBackpropFilter',
      backendName,
      kernelFunc: (args) =>
        depthwiseFilterGradient(opsFor(args, backendName), args.inputs.x!, args.inputs.dy!, attr<Shape4>(args, 'filterShape'), attr(args, 'strides'), attr(args, 'dilations'), attr(args, 'pad'), attr(args, 'dimRoundingMode')),
    },
    {
      kernelName: 'DepthwiseConv2dNativeBackpropInput',
      backendName,
      kernelFunc: (args) =>
        depthwiseInputGradient(opsFor(args, backendName), args.inputs.dy!, args.inputs.filter!, attr<Shape4>(args, 'inputShape'), attr(args, 'strides'), attr(args, 'dilations'), attr(args, 'pad'), attr(args, 'dimRoundingMode')),
    },
  ];
}
