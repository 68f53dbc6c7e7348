import * as tf from '@tensorflow/tfjs';
import type { onnx as P } from 'onnx-proto';
import { EdgekdError } from '../../shared/errors';
import { onnx } from '../../shared/package/onnx/onnx-proto';

/**
 * ONNX (as PyTorch writes it, or as edgekd's exporter writes it with `foldBatchNorm: false`) →
 * a trainable TensorFlow.js layers model that keeps every BatchNormalization as a layer, so
 * data-free distillation can invert the teacher by matching its BN statistics.
 *
 * Layout: the tfjs model always takes NHWC `[N, H, W, C]`. An ONNX input `[N, C, H, W]` (PyTorch)
 * is mapped by transposing every weight once; an edgekd-exported input (NHWC followed by
 * `Transpose(0,3,1,2)`) maps directly. Inside, every 4-D ONNX tensor is NCHW and its tfjs twin
 * NHWC; `Flatten` of a spatial tensor first permutes to (c, h, w) order so the following Gemm's
 * weights are used as they are.
 *
 * Supported ops: Conv (group 1 or depthwise), BatchNormalization, Relu, Clip(0, m), Add, MaxPool,
 * AveragePool, GlobalAveragePool, Flatten, Reshape (to [N, −1]), Transpose (the layout ones),
 * Gemm, MatMul (+ Add of a bias), Softmax, Identity, Dropout.
 */

interface Tensor2 {
  dims: number[];
  data: Float32Array | BigInt64Array;
}

/** What an ONNX tensor name corresponds to in the tfjs graph. */
interface TVal {
  sym: tf.SymbolicTensor;
  /** nchw: a 4-D ONNX NCHW tensor held as NHWC in tfjs; nhwc: ONNX tensor really is NHWC (after Transpose 0,2,3,1); flat: 2-D. */
  kind: 'nchw' | 'nhwc' | 'flat';
  /** [C, H, W] for nchw/nhwc, [F] for flat. */
  shape: number[];
}

const unsupported = (what: string, node?: P.INodeProto): EdgekdError =>
  new EdgekdError('EDGEKD_EXPORT_UNSUPPORTED_OP', `${node ? `node '${node.name || node.output?.[0]}' (${node.opType}): ` : ''}${what}`, { details: { op: node?.opType, node: node?.name } });

function toNumber(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

function readTensor(t: P.ITensorProto): Tensor2 {
  const dims = (t.dims ?? []).map(toNumber);
  const n = dims.reduce((a, b) => a * b, 1);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  switch (t.dataType) {
    case 1: {
      if (raw) return { dims, data: new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)) };
      return { dims, data: Float32Array.from(t.floatData ?? []) };
    }
    case 7: {
      if (raw) return { dims, data: new BigInt64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)) };
      return { dims, data: BigInt64Array.from((t.int64Data ?? []).map((v) => BigInt(toNumber(v as never)))) };
    }
    default:
      throw unsupported(`initializer ${t.name} has data type ${t.dataType}; only float32 and int64 are read (is the model quantized?)`);
  }
  void n;
}

function attrs(node: P.INodeProto): Map<string, P.IAttributeProto> {
  return new Map((node.attribute ?? []).map((a) => [a.name!, a]));
}
const ints = (a: P.IAttributeProto | undefined, d: number[]): number[] => (a?.ints && a.ints.length ? a.ints.map((v) => toNumber(v as never)) : d);
const int = (a: P.IAttributeProto | undefined, d: number): number => (a ? toNumber(a.i as never) : d);
const float = (a: P.IAttributeProto | undefined, d: number): number => (a?.f !== undefined && a.f !== null ? a.f : d);

/** 'valid' / 'same' (TF semantics) for explicit ONNX pads, or the explicit pads when neither fits. */
function paddingFor(pads: number[], auto: string, inHW: [number, number], k: [number, number], s: [number, number], d: [number, number]): { mode: 'valid' | 'same'; extra?: [[number, number], [number, number]] } {
  if (auto === 'SAME_UPPER') return { mode: 'same' };
  if (auto === 'VALID' || pads.every((p) => p === 0)) return { mode: 'valid' };
  const same: number[] = [];
  for (let i = 0; i < 2; i++) {
    const o = Math.ceil(inHW[i]! / s[i]!);
    const total = Math.max((o - 1) * s[i]! + d[i]! * (k[i]! - 1) + 1 - inHW[i]!, 0);
    same.push(Math.floor(total / 2), total - Math.floor(total / 2));
  }
  const [t, l, b, r] = pads as [number, number, number, number];
  if (t === same[0] && b === same[1] && l === same[2] && r === same[3]) return { mode: 'same' };
  return { mode: 'valid', extra: [[t, b], [l, r]] };
}

function outHW(inHW: [number, number], k: [number, number], s: [number, number], d: [number, number], mode: 'valid' | 'same'): [number, number] {
  if (mode === 'same') return [Math.ceil(inHW[0] / s[0]), Math.ceil(inHW[1] / s[1])];
  return [Math.floor((inHW[0] - d[0] * (k[0] - 1) - 1) / s[0]) + 1, Math.floor((inHW[1] - d[1] * (k[1] - 1) - 1) / s[1]) + 1];
}

export interface ImportResult {
  model: tf.LayersModel;
  batchNormLayers: string[];
  /** 'NCHW' when the ONNX input was NCHW (feed the tfjs model NHWC images, i.e. transposed). */
  onnxInputLayout: 'NCHW' | 'NHWC';
  inputShape: [number, number, number];
  numClasses: number;
}

export function importOnnxModel(bytes: Uint8Array, options: { name?: string } = {}): ImportResult {
  let m: P.ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', `not an ONNX model: ${(e as Error).message}`, { cause: e });
  }
  const g = m.graph;
  if (!g) throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', 'ONNX model has no graph');
  const inits = new Map<string, Tensor2>((g.initializer ?? []).map((t) => [t.name!, readTensor(t)]));
  const realInputs = (g.input ?? []).filter((i) => !inits.has(i.name!));
  if (realInputs.length !== 1) throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', `expected one image input, found ${realInputs.length}`);
  const inp = realInputs[0]!;
  const dims = (inp.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null && toNumber(d.dimValue as never) > 0 ? toNumber(d.dimValue as never) : null));
  if (dims.length !== 4 || dims.slice(1).some((d) => d === null)) throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', `input ${inp.name} must be 4-D with fixed C, H, W; got [${dims.map((d) => d ?? '?').join(', ')}]`);
  const nodes = g.node ?? [];
  const consumers = (name: string) => nodes.filter((n) => (n.input ?? []).includes(name));
  const first = consumers(inp.name!);
  // edgekd's own export: NHWC input followed by one Transpose to NCHW.
  const nhwcInput = first.length === 1 && first[0]!.opType === 'Transpose' && ints(attrs(first[0]!).get('perm'), []).join() === '0,3,1,2';
  const [H, W, C] = nhwcInput ? [dims[1]!, dims[2]!, dims[3]!] : [dims[2]!, dims[3]!, dims[1]!];
  const input = tf.input({ name: 'input', shape: [H, W, C] });
  const vals = new Map<string, TVal>();
  const pendingWeights: Array<[tf.layers.Layer, tf.Tensor[]]> = [];
  const bnLayers: string[] = [];
  const used = new Set<string>(['input']);
  const layerName = (node: P.INodeProto, suffix = ''): string => {
    let base = (node.name || node.output?.[0] || node.opType || 'layer').replace(/[^A-Za-z0-9_]/g, '_') + suffix;
    if (!/^[A-Za-z]/.test(base)) base = `l_${base}`;
    let n = base;
    for (let i = 1; used.has(n); i++) n = `${base}_${i}`;
    used.add(n);
    return n;
  };
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[], weights?: tf.Tensor[]): tf.SymbolicTensor => {
    const y = layer.apply(x) as tf.SymbolicTensor;
    if (weights) pendingWeights.push([layer, weights]);
    return y;
  };
  vals.set(inp.name!, { sym: input, kind: nhwcInput ? 'nhwc' : 'nchw', shape: [C, H, W] });

  const get = (name: string, node: P.INodeProto): TVal => {
    const v = vals.get(name);
    if (!v) throw unsupported(`input '${name}' is not produced by a supported node (constant inputs are only read as weights)`, node);
    return v;
  };
  const init = (name: string | undefined, node: P.INodeProto): Tensor2 => {
    const t = name ? inits.get(name) : undefined;
    if (!t) throw unsupported(`expects '${name}' to be an initializer`, node);
    return t;
  };
  const need4d = (v: TVal, node: P.INodeProto): [number, number, number] => {
    if (v.kind !== 'nchw') throw unsupported('expects an NCHW image tensor', node);
    return v.shape as [number, number, number];
  };

  for (const node of nodes) {
    const a = attrs(node);
    const ins = node.input ?? [];
    const out = node.output![0]!;
    switch (node.opType) {
      case 'Transpose': {
        const perm = ints(a.get('perm'), []).join();
        const x = get(ins[0]!, node);
        if (perm === '0,3,1,2' && x.kind === 'nhwc') vals.set(out, { ...x, kind: 'nchw' });
        else if (perm === '0,2,3,1' && x.kind === 'nchw') vals.set(out, { ...x, kind: 'nhwc' });
        else throw unsupported(`Transpose perm [${perm}] on a ${x.kind} tensor`, node);
        break;
      }
      case 'Conv': {
        const x = get(ins[0]!, node);
        const [Cin, h, w] = need4d(x, node);
        const Wt = init(ins[1], node);
        const B = ins[2] ? init(ins[2], node) : null;
        const [O, I, kh, kw] = Wt.dims as [number, number, number, number];
        const group = int(a.get('group'), 1);
        const k: [number, number] = [kh, kw];
        const s = ints(a.get('strides'), [1, 1]) as [number, number];
        const d = ints(a.get('dilations'), [1, 1]) as [number, number];
        const auto = a.get('auto_pad')?.s ? new TextDecoder().decode(a.get('auto_pad')!.s!) : 'NOTSET';
        const pad = paddingFor(ints(a.get('pads'), [0, 0, 0, 0]), auto, [h, w], k, s, d);
        let src = x.sym;
        let inHW: [number, number] = [h, w];
        if (pad.extra) {
          src = apply(tf.layers.zeroPadding2d({ name: layerName(node, '_pad'), padding: pad.extra }), src);
          inHW = [h + pad.extra[0][0] + pad.extra[0][1], w + pad.extra[1][0] + pad.extra[1][1]];
        }
        const wd = Wt.data as Float32Array;
        let layer: tf.layers.Layer;
        let kernel: tf.Tensor;
        if (group === 1) {
          if (I !== Cin) throw unsupported(`weight has ${I} input channels, tensor has ${Cin}`, node);
          const kk = new Float32Array(kh * kw * I * O);
          for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let y = 0; y < kh; y++) for (let xx = 0; xx < kw; xx++) kk[((y * kw + xx) * I + i) * O + o] = wd[((o * I + i) * kh + y) * kw + xx]!;
          kernel = tf.tensor4d(kk, [kh, kw, I, O]);
          layer = tf.layers.conv2d({ name: layerName(node), filters: O, kernelSize: k, strides: s, dilationRate: d, padding: pad.mode, useBias: B !== null });
        } else if (group === Cin && I === 1 && O % Cin === 0) {
          const M = O / Cin;
          const kk = new Float32Array(kh * kw * Cin * M);
          for (let c = 0; c < Cin; c++) for (let mm = 0; mm < M; mm++) for (let y = 0; y < kh; y++) for (let xx = 0; xx < kw; xx++) kk[((y * kw + xx) * Cin + c) * M + mm] = wd[((c * M + mm) * kh + y) * kw + xx]!;
          kernel = tf.tensor4d(kk, [kh, kw, Cin, M]);
          layer = tf.layers.depthwiseConv2d({ name: layerName(node), kernelSize: k, strides: s, depthMultiplier: M, padding: pad.mode, useBias: B !== null });
        } else throw unsupported(`grouped convolution (group ${group}) that is not depthwise`, node);
        const ws = B ? [kernel, tf.tensor1d(B.data as Float32Array)] : [kernel];
        const [oh, ow] = outHW(inHW, k, s, d, pad.mode);
        vals.set(out, { sym: apply(layer, src, ws), kind: 'nchw', shape: [O, oh, ow] });
        break;
      }
      case 'BatchNormalization': {
        const x = get(ins[0]!, node);
        if (x.kind === 'nhwc') throw unsupported('BatchNormalization on an NHWC-transposed tensor', node);
        const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => init(ins[i], node).data as Float32Array);
        const eps = float(a.get('epsilon'), 1e-5);
        const momentum = float(a.get('momentum'), 0.9);
        const name = layerName(node);
        const layer = tf.layers.batchNormalization({ name, axis: -1, epsilon: eps, momentum });
        vals.set(out, { ...x, sym: apply(layer, x.sym, [tf.tensor1d(scale!), tf.tensor1d(bias!), tf.tensor1d(mean!), tf.tensor1d(variance!)]) });
        bnLayers.push(name);
        break;
      }
      case 'Relu': {
        const x = get(ins[0]!, node);
        vals.set(out, { ...x, sym: apply(tf.layers.reLU({ name: layerName(node) }), x.sym) });
        break;
      }
      case 'Clip': {
        const x = get(ins[0]!, node);
        const lo = ins[1] ? (init(ins[1], node).data as Float32Array)[0]! : float(a.get('min'), -Infinity);
        const hi = ins[2] ? (init(ins[2], node).data as Float32Array)[0]! : float(a.get('max'), Infinity);
        if (lo !== 0 || !Number.isFinite(hi)) throw unsupported(`Clip(${lo}, ${hi}); only Clip(0, m) (ReLU6-style) maps to a layer`, node);
        vals.set(out, { ...x, sym: apply(tf.layers.reLU({ name: layerName(node), maxValue: hi }), x.sym) });
        break;
      }
      case 'Add': {
        if (ins.length === 2 && inits.has(ins[1]!) && vals.has(ins[0]!)) {
          // MatMul + bias Add: fold into the Dense produced by the MatMul.
          const x = get(ins[0]!, node);
          const pending = pendingWeights.find(([l]) => l.name === (x.sym.sourceLayer as tf.layers.Layer).name);
          const b = init(ins[1], node).data as Float32Array;
          if (!pending || pending[0].getClassName() !== 'Dense' || pending[1].length !== 2) throw unsupported('Add of a constant that does not follow a MatMul', node);
          const old = pending[1][1]!;
          pending[1][1] = tf.add(old, tf.tensor1d(b));
          old.dispose();
          vals.set(out, x);
          break;
        }
        const xs = ins.map((n) => get(n, node));
        if (new Set(xs.map((v) => `${v.kind}:${v.shape.join()}`)).size !== 1) throw unsupported('Add of tensors with different shapes (broadcasting is not supported)', node);
        vals.set(out, { ...xs[0]!, sym: apply(tf.layers.add({ name: layerName(node) }), xs.map((v) => v.sym)) });
        break;
      }
      case 'MaxPool':
      case 'AveragePool': {
        const x = get(ins[0]!, node);
        const [c, h, w] = need4d(x, node);
        const k = ints(a.get('kernel_shape'), []) as [number, number];
        const s = ints(a.get('strides'), [1, 1]) as [number, number];
        if (int(a.get('ceil_mode'), 0) !== 0) throw unsupported('ceil_mode=1', node);
        const auto = a.get('auto_pad')?.s ? new TextDecoder().decode(a.get('auto_pad')!.s!) : 'NOTSET';
        const pad = paddingFor(ints(a.get('pads'), [0, 0, 0, 0]), auto, [h, w], k, s, [1, 1]);
        if (pad.extra) throw unsupported('pooling pads that are neither valid nor TF-same', node);
        if (node.opType === 'AveragePool' && pad.mode === 'same' && int(a.get('count_include_pad'), 0) !== 0) throw unsupported('AveragePool with count_include_pad=1 and padding', node);
        const cfg = { name: layerName(node), poolSize: k, strides: s, padding: pad.mode };
        const layer = node.opType === 'MaxPool' ? tf.layers.maxPooling2d(cfg) : tf.layers.averagePooling2d(cfg);
        const [oh, ow] = outHW([h, w], k, s, [1, 1], pad.mode);
        vals.set(out, { sym: apply(layer, x.sym), kind: 'nchw', shape: [c, oh, ow] });
        break;
      }
      case 'GlobalAveragePool': {
        const x = get(ins[0]!, node);
        const [c] = need4d(x, node);
        // [N, C, 1, 1] in ONNX; held flat in tfjs (a following Flatten/Reshape is then the identity).
        vals.set(out, { sym: apply(tf.layers.globalAveragePooling2d({ name: layerName(node) }), x.sym), kind: 'flat', shape: [c] });
        break;
      }
      case 'Flatten':
      case 'Reshape': {
        const x = get(ins[0]!, node);
        if (node.opType === 'Flatten' && int(a.get('axis'), 1) !== 1) throw unsupported('Flatten with axis ≠ 1', node);
        if (node.opType === 'Reshape') {
          const target = [...(init(ins[1], node).data as BigInt64Array)].map(Number);
          const total = x.shape.reduce((p, q) => p * q, 1);
          if (!(target.length === 2 && (target[1] === -1 || target[1] === total) && (target[0] === 0 || target[0] === -1 || target[0] === 1))) throw unsupported(`Reshape to [${target}] (only [N, -1] flattening)`, node);
        }
        if (x.kind === 'flat') {
          vals.set(out, x);
          break;
        }
        const total = x.shape.reduce((p, q) => p * q, 1);
        let src = x.sym;
        // ONNX flattens NCHW in (c, h, w) order; tfjs flattens its NHWC tensor in (h, w, c) order.
        if (x.kind === 'nchw' && x.shape[1]! * x.shape[2]! > 1) src = apply(tf.layers.permute({ name: layerName(node, '_chw'), dims: [3, 1, 2] }), src);
        vals.set(out, { sym: apply(tf.layers.flatten({ name: layerName(node) }), src), kind: 'flat', shape: [total] });
        break;
      }
      case 'Gemm':
      case 'MatMul': {
        const x = get(ins[0]!, node);
        if (x.kind !== 'flat') throw unsupported('expects a 2-D input (flatten first)', node);
        const Bt = init(ins[1], node);
        const transB = node.opType === 'Gemm' ? int(a.get('transB'), 0) : 0;
        if (node.opType === 'Gemm' && (int(a.get('transA'), 0) !== 0 || float(a.get('alpha'), 1) !== 1 || float(a.get('beta'), 1) !== 1)) throw unsupported('Gemm with transA, alpha or beta ≠ defaults', node);
        const [r, c] = Bt.dims as [number, number];
        const [inF, outF] = transB ? [c, r] : [r, c];
        if (inF !== x.shape[0]) throw unsupported(`weight expects ${inF} inputs, tensor has ${x.shape[0]}`, node);
        const bd = Bt.data as Float32Array;
        const kern = new Float32Array(inF * outF);
        for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) kern[i * outF + o] = transB ? bd[o * inF + i]! : bd[i * outF + o]!;
        let bias = new Float32Array(outF);
        if (node.opType === 'Gemm' && ins[2]) {
          const b = init(ins[2], node);
          if (b.data.length !== outF) throw unsupported('Gemm bias that is not one value per output', node);
          bias = Float32Array.from(b.data as Float32Array);
        }
        const layer = tf.layers.dense({ name: layerName(node), units: outF, useBias: true });
        vals.set(out, { sym: apply(layer, x.sym, [tf.tensor2d(kern, [inF, outF]), tf.tensor1d(bias)]), kind: 'flat', shape: [outF] });
        break;
      }
      case 'Softmax': {
        const x = get(ins[0]!, node);
        if (x.kind !== 'flat') throw unsupported('Softmax on a non-2-D tensor', node);
        vals.set(out, { ...x, sym: apply(tf.layers.softmax({ name: layerName(node) }), x.sym) });
        break;
      }
      case 'Identity':
      case 'Dropout':
        vals.set(out, get(ins[0]!, node));
        break;
      default:
        throw unsupported(`op ${node.opType} has no TensorFlow.js mapping in the teacher importer`, node);
    }
  }
  const outName = g.output?.[0]?.name;
  const y = outName ? vals.get(outName) : undefined;
  if (!y || y.kind !== 'flat') throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', `graph output ${outName} is not a [N, classes] tensor produced by the imported layers`);
  if (bnLayers.length === 0) {
    pendingWeights.forEach(([, ws]) => ws.forEach((t) => t.dispose()));
    throw new EdgekdError(
      'EDGEKD_BATCHNORM_FOLDED',
      'the ONNX model has no BatchNormalization node: its BatchNorm was folded into the convolutions at export, so there are no statistics to invert. Re-export without folding (see docs/byo-teacher.md: torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False))',
    );
  }
  const model = tf.model({ name: options.name ?? 'imported-teacher', inputs: input, outputs: y.sym });
  for (const [layer, ws] of pendingWeights) {
    layer.setWeights(ws);
    ws.forEach((t) => t.dispose());
  }
  return { model, batchNormLayers: bnLayers, onnxInputLayout: nhwcInput ? 'NHWC' : 'NCHW', inputShape: [H, W, C], numClasses: y.shape[0]! };
}
