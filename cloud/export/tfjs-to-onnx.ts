import type * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';
import { OnnxDataType, DEFAULT_OPSET, attr, type AttrValue } from '../../shared/package/onnx/onnx-protos';
import { NameScope, emptyGraph, encodeGraph, type IrGraph, type IrNode } from './onnx-ir';
import { pruneDeadNodes } from './prune';

/**
 * TensorFlow.js layers model → ONNX graph.
 *
 * Layout: the ONNX input is NHWC `[N, H, W, C]` like the tfjs model; one `Transpose(perm=[0,3,1,2])`
 * right after the input turns it into NCHW, and every 4-D tensor inside the graph is NCHW from
 * there on (weights are transposed at export). This is the only layout conversion, except that
 * `Flatten` of a spatial tensor transposes back to NHWC first so the flattened order is tfjs's
 * (h, w, c) order and the following Dense kernel can be used as is.
 *
 * BatchNorm following a Conv2D / DepthwiseConv2D / Dense whose output feeds nothing else is folded
 * into that layer's weights: s = γ/√(σ²+ε), W' = W·s (per output channel), b' = (b−μ)·s + β.
 * A BatchNorm that cannot be folded (or every BatchNorm with `foldBatchNorm: false`) becomes an
 * ONNX Batchnormalization node.
 */

export type ExtraStat = 'raw' | 'channel-mean' | 'channel-mean-square';

export interface ExtraOutputSpec {
  /** ONNX output name. */
  name: string;
  /** tfjs layer whose output is measured (the output before any BatchNorm folded into it). */
  layer: string;
  /** raw: the tensor itself (NCHW for 4-D); channel-mean / channel-mean-square: [N, C] spatial means of x / x². */
  stat: ExtraStat;
}

export interface ProbeSpec {
  /** Another model on the same input (for example the teacher), exported in float next to the main graph. */
  model: tf.LayersModel;
  outputs: ExtraOutputSpec[];
}

export interface ExportOptions {
  /** ai.onnx opset, ≥ 13 (default 13, IR 7). */
  opset?: number;
  /** Name of the graph's only input. */
  inputName?: string;
  /** Append Softmax to the model output and name it "probabilities" (else the output is named `outputName`). */
  appendSoftmax?: boolean;
  outputName?: string;
  foldBatchNorm?: boolean;
  extraOutputs?: ExtraOutputSpec[];
  probes?: ProbeSpec[];
  graphName?: string;
}

export interface ExportedOutput {
  name: string;
  kind: 'probabilities' | 'logits' | 'feature';
  dims: Array<number | string>;
}

export interface ExportResult {
  graph: IrGraph;
  bytes: Uint8Array;
  inputName: string;
  /** NHWC, batch symbolic. */
  inputShape: Array<number | string>;
  outputs: ExportedOutput[];
  opset: number;
  foldedBatchNorms: string[];
}

/** What the exporter knows about one tfjs tensor once it has an ONNX name. */
interface Val {
  name: string;
  /** Shape without batch: [C, H, W] for 4-D (NCHW inside ONNX), [F] for 2-D. */
  shape: number[];
  /** The node computing this tensor when BatchNorm may be folded into it (Conv / Gemm, linear activation). */
  foldInto?: { node: IrNode; weight: string; bias: string; channels: number };
  /**
   * Set when a BatchNorm was folded into the producer: the ONNX tensor holds s·x + t (per
   * channel) where x is this tfjs tensor's real value. Extra outputs undo it.
   */
  affine?: { s: Float64Array; t: Float64Array };
}

interface Ctx {
  g: IrGraph;
  names: NameScope;
  opset: number;
  prefix: string;
  floatOnly: boolean;
  foldBatchNorm: boolean;
  folded: string[];
}

const unsupported = (layer: string, what: string): EdgekdError =>
  new EdgekdError('EDGEKD_EXPORT_UNSUPPORTED_OP', `layer '${layer}': ${what}`, { details: { layer } });

function addNode(ctx: Ctx, opType: string, inputs: string[], outPrefix: string, attrs: Record<string, AttrValue> = {}, layer?: string): IrNode {
  const node: IrNode = {
    name: ctx.names.fresh(`${ctx.prefix}${layer ?? opType}/${opType}`),
    opType,
    inputs,
    outputs: [ctx.names.fresh(`${ctx.prefix}${outPrefix}`)],
    attrs,
    ...(layer ? { layer } : {}),
    ...(ctx.floatOnly ? { floatOnly: true } : {}),
  };
  ctx.g.nodes.push(node);
  return node;
}

function addInit(ctx: Ctx, prefix: string, data: Float32Array | BigInt64Array, dims: number[]): string {
  const name = ctx.names.fresh(`${ctx.prefix}${prefix}`);
  ctx.g.initializers.set(name, { name, dims, data });
  return name;
}

function pair(v: number | number[] | undefined | null, fallback: number): [number, number] {
  if (v === undefined || v === null) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  return [v[0] ?? fallback, v[1] ?? v[0] ?? fallback];
}

/** TF "same"/"valid" output size and explicit ONNX pads [top, left, bottom, right]. */
function convGeometry(layer: string, padding: string, inHW: [number, number], k: [number, number], s: [number, number], d: [number, number]): { out: [number, number]; pads: number[] } {
  const out: number[] = [];
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < 2; i++) {
    const effK = d[i]! * (k[i]! - 1) + 1;
    if (padding === 'same') {
      const o = Math.ceil(inHW[i]! / s[i]!);
      const total = Math.max((o - 1) * s[i]! + effK - inHW[i]!, 0);
      out.push(o);
      begin.push(Math.floor(total / 2));
      end.push(total - Math.floor(total / 2));
    } else if (padding === 'valid') {
      out.push(Math.floor((inHW[i]! - effK) / s[i]!) + 1);
      begin.push(0);
      end.push(0);
    } else throw unsupported(layer, `padding '${padding}' is not supported`);
  }
  if (out[0]! < 1 || out[1]! < 1) throw unsupported(layer, `output would be empty for input ${inHW.join('x')}`);
  return { out: [out[0]!, out[1]!], pads: [begin[0]!, begin[1]!, end[0]!, end[1]!] };
}

function weightsByName(layer: tf.layers.Layer): Map<string, { data: Float32Array; shape: number[] }> {
  const m = new Map<string, { data: Float32Array; shape: number[] }>();
  const tensors = layer.getWeights();
  layer.weights.forEach((w, i) => {
    const short = (w.originalName ?? w.name).split('/').pop()!.replace(/_\d+$/, '');
    const t = tensors[i]!;
    m.set(short, { data: t.dataSync() as Float32Array, shape: t.shape.slice() });
  });
  return m;
}

function emitActivation(ctx: Ctx, x: Val, activation: string, layer: string): Val {
  switch (activation) {
    case 'linear':
    case undefined:
      return x;
    case 'relu':
      return { name: addNode(ctx, 'Relu', [x.name], `${layer}_relu`, {}, layer).outputs[0]!, shape: x.shape };
    case 'relu6':
      return clip(ctx, x, 0, 6, layer);
    case 'sigmoid':
      return { name: addNode(ctx, 'Sigmoid', [x.name], `${layer}_sigmoid`, {}, layer).outputs[0]!, shape: x.shape };
    case 'tanh':
      return { name: addNode(ctx, 'Tanh', [x.name], `${layer}_tanh`, {}, layer).outputs[0]!, shape: x.shape };
    case 'softmax':
      return { name: addNode(ctx, 'Softmax', [x.name], `${layer}_softmax`, { axis: attr.int(x.shape.length === 1 ? -1 : 1) }, layer).outputs[0]!, shape: x.shape };
    default:
      throw unsupported(layer, `activation '${activation}' has no ONNX mapping here`);
  }
}

function clip(ctx: Ctx, x: Val, min: number, max: number, layer: string): Val {
  // Since opset 11 Clip takes min and max as inputs, not attributes.
  const lo = addInit(ctx, `${layer}_clip_min`, new Float32Array([min]), []);
  const hi = addInit(ctx, `${layer}_clip_max`, new Float32Array([max]), []);
  return { name: addNode(ctx, 'Clip', [x.name, lo, hi], `${layer}_clip`, {}, layer).outputs[0]!, shape: x.shape };
}

function need4d(x: Val, layer: string): [number, number, number] {
  if (x.shape.length !== 3) throw unsupported(layer, `expects a 4-D (image) input, got rank ${x.shape.length + 1}`);
  return x.shape as [number, number, number];
}

function exportConv(ctx: Ctx, layer: tf.layers.Layer, x: Val, depthwise: boolean): Val {
  const cfg = layer.getConfig() as Record<string, unknown>;
  const name = layer.name;
  if (cfg.dataFormat && cfg.dataFormat !== 'channelsLast') throw unsupported(name, `dataFormat ${String(cfg.dataFormat)} (only channelsLast)`);
  const [C, H, W] = need4d(x, name);
  const k = pair(cfg.kernelSize as number | number[], 1);
  const s = pair(cfg.strides as number | number[], 1);
  const d = pair(cfg.dilationRate as number | number[], 1);
  if ((s[0] > 1 || s[1] > 1) && (d[0] > 1 || d[1] > 1)) throw unsupported(name, 'strides and dilation > 1 together');
  const geo = convGeometry(name, String(cfg.padding ?? 'valid'), [H, W], k, s, d);
  const wts = weightsByName(layer);
  let out: number;
  let weight: Float32Array;
  let group = 1;
  let inPerGroup = C;
  if (depthwise) {
    const kern = wts.get('depthwise_kernel');
    if (!kern) throw unsupported(name, 'no depthwise_kernel weight');
    const M = kern.shape[3]!;
    out = C * M;
    group = C;
    inPerGroup = 1;
    weight = new Float32Array(out * k[0] * k[1]);
    // tfjs [kh, kw, C, M] → ONNX [C·M, 1, kh, kw], output channel c·M + m.
    for (let y = 0; y < k[0]; y++) for (let xx = 0; xx < k[1]; xx++) for (let c = 0; c < C; c++) for (let m = 0; m < M; m++)
      weight[((c * M + m) * k[0] + y) * k[1] + xx] = kern.data[((y * k[1] + xx) * C + c) * M + m]!;
  } else {
    const kern = wts.get('kernel');
    if (!kern) throw unsupported(name, 'no kernel weight');
    out = kern.shape[3]!;
    weight = new Float32Array(out * C * k[0] * k[1]);
    // tfjs [kh, kw, in, out] → ONNX [out, in, kh, kw].
    for (let y = 0; y < k[0]; y++) for (let xx = 0; xx < k[1]; xx++) for (let i = 0; i < C; i++) for (let o = 0; o < out; o++)
      weight[((o * C + i) * k[0] + y) * k[1] + xx] = kern.data[((y * k[1] + xx) * C + i) * out + o]!;
  }
  const bias = new Float32Array(out);
  const b = wts.get(depthwise ? 'bias' : 'bias');
  if (b) bias.set(b.data);
  const wName = addInit(ctx, `${name}_W`, weight, [out, inPerGroup, k[0], k[1]]);
  const bName = addInit(ctx, `${name}_B`, bias, [out]);
  const node = addNode(ctx, 'Conv', [x.name, wName, bName], name, {
    kernel_shape: attr.ints(k),
    strides: attr.ints(s),
    dilations: attr.ints(d),
    pads: attr.ints(geo.pads),
    group: attr.int(group),
  }, name);
  const v: Val = { name: node.outputs[0]!, shape: [out, geo.out[0], geo.out[1]] };
  const act = String(cfg.activation ?? 'linear');
  if (act === 'linear') return { ...v, foldInto: { node, weight: wName, bias: bName, channels: out } };
  return emitActivation(ctx, v, act, name);
}

function exportDense(ctx: Ctx, layer: tf.layers.Layer, x: Val): Val {
  const name = layer.name;
  if (x.shape.length !== 1) throw unsupported(name, `Dense on a rank-${x.shape.length + 1} tensor (flatten first)`);
  const wts = weightsByName(layer);
  const kern = wts.get('kernel');
  if (!kern) throw unsupported(name, 'no kernel weight');
  const [inF, outF] = kern.shape as [number, number];
  // tfjs kernel [in, out] → Gemm B [out, in] with transB=1, so per-channel quantization uses axis 0 like Conv.
  const wt = new Float32Array(outF * inF);
  for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) wt[o * inF + i] = kern.data[i * outF + o]!;
  const bias = new Float32Array(outF);
  const b = wts.get('bias');
  if (b) bias.set(b.data);
  const wName = addInit(ctx, `${name}_W`, wt, [outF, inF]);
  const bName = addInit(ctx, `${name}_B`, bias, [outF]);
  const node = addNode(ctx, 'Gemm', [x.name, wName, bName], name, { transB: attr.int(1) }, name);
  const v: Val = { name: node.outputs[0]!, shape: [outF] };
  const act = String((layer.getConfig() as Record<string, unknown>).activation ?? 'linear');
  if (act === 'linear') return { ...v, foldInto: { node, weight: wName, bias: bName, channels: outF } };
  return emitActivation(ctx, v, act, name);
}

function exportBatchNorm(ctx: Ctx, layer: tf.layers.Layer, x: Val, soleConsumer: boolean): Val {
  const cfg = layer.getConfig() as Record<string, unknown>;
  const name = layer.name;
  const axis = cfg.axis as number | number[];
  if (!(axis === -1 || axis === x.shape.length || (Array.isArray(axis) && axis.length === 1 && (axis[0] === -1 || axis[0] === x.shape.length))))
    throw unsupported(name, `BatchNormalization over axis ${JSON.stringify(axis)} (only the channel axis)`);
  const eps = Number(cfg.epsilon ?? 1e-3);
  const wts = weightsByName(layer);
  const C = x.shape[0]!;
  const mean = wts.get('moving_mean')?.data;
  const variance = wts.get('moving_variance')?.data;
  if (!mean || !variance) throw unsupported(name, 'BatchNormalization without moving statistics');
  const gamma = wts.get('gamma')?.data ?? new Float32Array(C).fill(1);
  const beta = wts.get('beta')?.data ?? new Float32Array(C);
  const s = new Float64Array(C);
  const t = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    s[c] = gamma[c]! / Math.sqrt(variance[c]! + eps);
    t[c] = beta[c]! - mean[c]! * s[c]!;
  }
  if (ctx.foldBatchNorm && x.foldInto && soleConsumer && !x.affine) {
    const f = x.foldInto;
    const w = ctx.g.initializers.get(f.weight)!;
    const b = ctx.g.initializers.get(f.bias)!;
    const wd = w.data as Float32Array;
    const bd = b.data as Float32Array;
    const per = wd.length / f.channels;
    for (let o = 0; o < f.channels; o++) {
      for (let j = 0; j < per; j++) wd[o * per + j] = wd[o * per + j]! * s[o]!;
      bd[o] = (bd[o]! - mean[o]!) * s[o]! + beta[o]!;
    }
    ctx.folded.push(name);
    return { name: x.name, shape: x.shape, affine: { s, t } };
  }
  const isImage = x.shape.length === 3;
  if (!isImage) throw unsupported(name, 'BatchNormalization on a 2-D tensor that cannot be folded into a Dense');
  const sc = addInit(ctx, `${name}_scale`, Float32Array.from(gamma), [C]);
  const bi = addInit(ctx, `${name}_bias`, Float32Array.from(beta), [C]);
  const mu = addInit(ctx, `${name}_mean`, Float32Array.from(mean), [C]);
  const vr = addInit(ctx, `${name}_var`, Float32Array.from(variance), [C]);
  const node = addNode(ctx, 'BatchNormalization', [x.name, sc, bi, mu, vr], name, { epsilon: attr.float(eps) }, name);
  return { name: node.outputs[0]!, shape: x.shape };
}

function exportPool(ctx: Ctx, layer: tf.layers.Layer, x: Val, op: 'MaxPool' | 'AveragePool'): Val {
  const cfg = layer.getConfig() as Record<string, unknown>;
  const name = layer.name;
  if (cfg.dataFormat && cfg.dataFormat !== 'channelsLast') throw unsupported(name, `dataFormat ${String(cfg.dataFormat)}`);
  const [C, H, W] = need4d(x, name);
  const k = pair(cfg.poolSize as number | number[], 2);
  const s = pair((cfg.strides as number | number[] | null) ?? k, 2);
  const geo = convGeometry(name, String(cfg.padding ?? 'valid'), [H, W], k, s, [1, 1]);
  // AveragePool's count_include_pad=0 (the default) excludes padding like TF "same".
  const node = addNode(ctx, op, [x.name], name, { kernel_shape: attr.ints(k), strides: attr.ints(s), pads: attr.ints(geo.pads) }, name);
  return { name: node.outputs[0]!, shape: [C, geo.out[0], geo.out[1]] };
}

function flatten(ctx: Ctx, x: Val, name: string): Val {
  if (x.shape.length === 1) return x;
  const [C, H, W] = need4d(x, name);
  let src = x.name;
  // tfjs flattens NHWC in (h, w, c) order; go back to NHWC so the Dense kernel rows line up.
  if (H * W > 1) src = addNode(ctx, 'Transpose', [src], `${name}_nhwc`, { perm: attr.ints([0, 2, 3, 1]) }, name).outputs[0]!;
  return { name: addNode(ctx, 'Flatten', [src], name, { axis: attr.int(1) }, name).outputs[0]!, shape: [C * H * W] };
}

/** Layers of `model` in topological order, with their tfjs input/output tensor ids. */
function layerGraph(model: tf.LayersModel): Array<{ layer: tf.layers.Layer; inputs: number[]; outputs: number[] }> {
  const out: Array<{ layer: tf.layers.Layer; inputs: number[]; outputs: number[] }> = [];
  for (const layer of model.layers) {
    const nodes = (layer as unknown as { inboundNodes: Array<{ inputTensors: tf.SymbolicTensor[]; outputTensors: tf.SymbolicTensor[] }> }).inboundNodes;
    const used = nodes.filter((n) => n.outputTensors.every((t) => t !== undefined));
    if (layer.getClassName() === 'InputLayer') continue;
    if (used.length !== 1) throw unsupported(layer.name, `layer is applied ${used.length} times; shared layers are not supported`);
    out.push({ layer, inputs: used[0]!.inputTensors.map((t) => t.id), outputs: used[0]!.outputTensors.map((t) => t.id) });
  }
  return out;
}

function inputHWC(model: tf.LayersModel): [number, number, number] {
  const shape = model.inputs[0]!.shape;
  if (model.inputs.length !== 1) throw new EdgekdError('EDGEKD_EXPORT_UNSUPPORTED_OP', `model has ${model.inputs.length} inputs; one image input is supported`);
  if (shape.length !== 4 || shape.slice(1).some((d) => d === null)) throw new EdgekdError('EDGEKD_EXPORT_UNSUPPORTED_OP', `model input shape [${shape.join(', ')}] is not [N, H, W, C] with fixed H, W, C`);
  return [shape[1]!, shape[2]!, shape[3]!];
}

/** Emits `model`'s layers on top of `input` (already NCHW). Returns every tfjs tensor id's value. */
function emitModel(ctx: Ctx, model: tf.LayersModel, input: Val): Map<number, Val> {
  const vals = new Map<number, Val>();
  vals.set(model.inputs[0]!.id, input);
  const graph = layerGraph(model);
  const consumers = new Map<number, number>();
  for (const l of graph) for (const id of l.inputs) consumers.set(id, (consumers.get(id) ?? 0) + 1);
  for (const o of model.outputs) consumers.set(o.id, (consumers.get(o.id) ?? 0) + 1);

  for (const { layer, inputs, outputs } of graph) {
    const ins = inputs.map((id) => {
      const v = vals.get(id);
      if (!v) throw unsupported(layer.name, 'input tensor was not produced by an exported layer');
      return v;
    });
    const x = ins[0]!;
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Record<string, unknown>;
    let y: Val;
    switch (cls) {
      case 'Conv2D':
        y = exportConv(ctx, layer, x, false);
        break;
      case 'DepthwiseConv2D':
        y = exportConv(ctx, layer, x, true);
        break;
      case 'Dense':
        y = exportDense(ctx, layer, x);
        break;
      case 'BatchNormalization':
        y = exportBatchNorm(ctx, layer, x, consumers.get(inputs[0]!) === 1);
        break;
      case 'ReLU': {
        const max = cfg.maxValue as number | null | undefined;
        y = max === null || max === undefined ? emitActivation(ctx, x, 'relu', layer.name) : clip(ctx, x, 0, max, layer.name);
        break;
      }
      case 'Activation':
        y = emitActivation(ctx, x, String(cfg.activation), layer.name);
        break;
      case 'Softmax':
        if (cfg.axis !== undefined && cfg.axis !== -1) throw unsupported(layer.name, `Softmax over axis ${String(cfg.axis)}`);
        y = emitActivation(ctx, x, 'softmax', layer.name);
        break;
      case 'Add': {
        let acc = x;
        for (const other of ins.slice(1)) {
          if (other.shape.join() !== acc.shape.join()) throw unsupported(layer.name, `Add of shapes [${acc.shape}] and [${other.shape}]`);
          acc = { name: addNode(ctx, 'Add', [acc.name, other.name], layer.name, {}, layer.name).outputs[0]!, shape: acc.shape };
        }
        y = acc;
        break;
      }
      case 'MaxPooling2D':
        y = exportPool(ctx, layer, x, 'MaxPool');
        break;
      case 'AveragePooling2D':
        y = exportPool(ctx, layer, x, 'AveragePool');
        break;
      case 'GlobalAveragePooling2D': {
        if (cfg.keepDims) throw unsupported(layer.name, 'GlobalAveragePooling2D with keepDims');
        const [C] = need4d(x, layer.name);
        const gap = addNode(ctx, 'GlobalAveragePool', [x.name], `${layer.name}_nchw`, {}, layer.name).outputs[0]!;
        y = { name: addNode(ctx, 'Flatten', [gap], layer.name, { axis: attr.int(1) }, layer.name).outputs[0]!, shape: [C] };
        break;
      }
      case 'GlobalMaxPooling2D': {
        const [C] = need4d(x, layer.name);
        const gmp = addNode(ctx, 'GlobalMaxPool', [x.name], `${layer.name}_nchw`, {}, layer.name).outputs[0]!;
        y = { name: addNode(ctx, 'Flatten', [gmp], layer.name, { axis: attr.int(1) }, layer.name).outputs[0]!, shape: [C] };
        break;
      }
      case 'Flatten':
        y = flatten(ctx, x, layer.name);
        break;
      case 'Dropout':
      case 'SpatialDropout2D':
      case 'GaussianNoise':
      case 'GaussianDropout':
        // Inference-time identity.
        y = { name: x.name, shape: x.shape, ...(x.affine ? { affine: x.affine } : {}) };
        break;
      default:
        throw unsupported(layer.name, `layer type ${cls} has no ONNX mapping`);
    }
    if (outputs.length !== 1) throw unsupported(layer.name, `${outputs.length} outputs`);
    vals.set(outputs[0]!, y);
    // The producer's output now holds the folded value; the producer's own tfjs tensor keeps
    // its pre-BatchNorm meaning through `affine`.
    if (y.affine && y.name === x.name) vals.set(inputs[0]!, { ...x, affine: y.affine, foldInto: undefined });
  }
  return vals;
}

function layerOutputId(model: tf.LayersModel, layerName: string): number {
  let layer: tf.layers.Layer;
  try {
    layer = model.getLayer(layerName);
  } catch {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `no layer named '${layerName}' in model ${model.name}`);
  }
  const nodes = (layer as unknown as { inboundNodes: Array<{ outputTensors: tf.SymbolicTensor[] }> }).inboundNodes;
  return nodes[0]!.outputTensors[0]!.id;
}

function reduceMeanSpatial(ctx: Ctx, x: string, outName: string): string {
  if (ctx.opset >= 18) {
    const axes = addInit(ctx, `${outName}_axes`, new BigInt64Array([2n, 3n]), [2]);
    return addNode(ctx, 'ReduceMean', [x, axes], outName, { keepdims: attr.int(0) }).outputs[0]!;
  }
  return addNode(ctx, 'ReduceMean', [x], outName, { axes: attr.ints([2, 3]), keepdims: attr.int(0) }).outputs[0]!;
}

/** Emits one extra output; the last node's output gets exactly `spec.name`. */
function emitExtraOutput(mainCtx: Ctx, v: Val, spec: ExtraOutputSpec): Array<number | string> {
  // Statistic branches stay in float in quantized models.
  const ctx: Ctx = { ...mainCtx, floatOnly: true };
  let src = v.name;
  if (v.affine) {
    // Undo the folded BatchNorm: x = (y − t) / s per channel, on this branch only.
    const C = v.shape[0]!;
    const inv = new Float32Array(C);
    const off = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      if (Math.abs(v.affine.s[c]!) < 1e-30) throw new EdgekdError('EDGEKD_EXPORT_UNSUPPORTED_OP', `layer '${spec.layer}': BatchNorm scale is 0 in channel ${c}; export with foldBatchNorm: false to probe it`);
      inv[c] = 1 / v.affine.s[c]!;
      off[c] = -v.affine.t[c]! / v.affine.s[c]!;
    }
    const dims = v.shape.length === 3 ? [C, 1, 1] : [C];
    const mul = addNode(ctx, 'Mul', [src, addInit(ctx, `${spec.name}_inv_scale`, inv, dims)], `${spec.name}_unfold_mul`).outputs[0]!;
    src = addNode(ctx, 'Add', [mul, addInit(ctx, `${spec.name}_inv_shift`, off, dims)], `${spec.name}_unfold`).outputs[0]!;
  }
  let last: string;
  let dims: Array<number | string>;
  if (spec.stat === 'raw') {
    last = addNode(ctx, 'Identity', [src], `${spec.name}_raw`).outputs[0]!;
    dims = ['N', ...v.shape];
  } else {
    if (v.shape.length !== 3) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `extra output ${spec.name}: ${spec.stat} needs a 4-D layer output, '${spec.layer}' is 2-D`);
    const x = spec.stat === 'channel-mean-square' ? addNode(ctx, 'Mul', [src, src], `${spec.name}_sq`).outputs[0]! : src;
    last = reduceMeanSpatial(ctx, x, `${spec.name}_reduce`);
    dims = ['N', v.shape[0]!];
  }
  // Rename the final tensor to the requested output name.
  const node = ctx.g.nodes.find((n) => n.outputs[0] === last)!;
  node.outputs[0] = ctx.names.claim(spec.name);
  return dims;
}

export function exportToOnnx(model: tf.LayersModel, options: ExportOptions = {}): ExportResult {
  const opset = options.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < 13 || opset > 21) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `opset must be an integer in 13..21, got ${opset}`);
  const [H, W, C] = inputHWC(model);
  const g = emptyGraph(options.graphName ?? model.name, opset);
  const names = new NameScope();
  const inputName = names.claim(options.inputName ?? 'input');
  const mainName = options.appendSoftmax ? 'probabilities' : (options.outputName ?? 'logits');
  const reserved = [mainName, ...(options.extraOutputs ?? []).map((e) => e.name), ...(options.probes ?? []).flatMap((p) => p.outputs.map((o) => o.name))];
  if (new Set(reserved).size !== reserved.length) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `output names must be unique: ${reserved.join(', ')}`);
  g.inputs.push({ name: inputName, elemType: OnnxDataType.FLOAT, dims: ['N', H, W, C] });
  const ctx: Ctx = { g, names, opset, prefix: '', floatOnly: false, foldBatchNorm: options.foldBatchNorm ?? true, folded: [] };
  // Output names are reserved so no internal tensor takes them (the zoo names its last Dense "logits").
  for (const r of reserved) names.claim(r);

  // The one layout conversion: NHWC input → NCHW.
  const nchw = addNode(ctx, 'Transpose', [inputName], 'input_nchw', { perm: attr.ints([0, 3, 1, 2]) }).outputs[0]!;
  const input: Val = { name: nchw, shape: [C, H, W] };
  const vals = emitModel(ctx, model, input);

  const outputs: ExportedOutput[] = [];
  const finalVal = vals.get(model.outputs[0]!.id)!;
  if (model.outputs.length !== 1) throw new EdgekdError('EDGEKD_EXPORT_UNSUPPORTED_OP', `model has ${model.outputs.length} outputs; one is supported`);
  if (finalVal.shape.length !== 1) throw new EdgekdError('EDGEKD_EXPORT_UNSUPPORTED_OP', `model output has rank ${finalVal.shape.length + 1}; a [N, classes] output is expected`);
  const classes = finalVal.shape[0]!;
  if (options.appendSoftmax) ctx.g.nodes.push({ name: names.fresh('probabilities/Softmax'), opType: 'Softmax', inputs: [finalVal.name], outputs: [mainName], attrs: { axis: attr.int(-1) } });
  else ctx.g.nodes.push({ name: names.fresh(`${mainName}/Identity`), opType: 'Identity', inputs: [finalVal.name], outputs: [mainName], attrs: {} });
  outputs.push({ name: mainName, kind: options.appendSoftmax ? 'probabilities' : 'logits', dims: ['N', classes] });

  const release = (n: string): void => names.release(n);
  for (const spec of options.extraOutputs ?? []) {
    const v = vals.get(layerOutputId(model, spec.layer))!;
    release(spec.name);
    outputs.push({ name: spec.name, kind: 'feature', dims: emitExtraOutput(ctx, v, spec) });
  }
  (options.probes ?? []).forEach((probe, i) => {
    const [ph, pw, pc] = inputHWC(probe.model);
    if (ph !== H || pw !== W || pc !== C) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `probe model input ${ph}x${pw}x${pc} differs from the model input ${H}x${W}x${C}`);
    const pctx: Ctx = { ...ctx, prefix: `probe${i}_`, floatOnly: true, folded: [] };
    const pvals = emitModel(pctx, probe.model, input);
    for (const spec of probe.outputs) {
      release(spec.name);
      outputs.push({ name: spec.name, kind: 'feature', dims: emitExtraOutput(pctx, pvals.get(layerOutputId(probe.model, spec.layer))!, spec) });
    }
  });
  for (const o of outputs) g.outputs.push({ name: o.name, elemType: OnnxDataType.FLOAT, dims: o.dims });
  pruneDeadNodes(g);
  g.metadata['edgekd.input_layout'] = 'NHWC';
  g.metadata['edgekd.folded_batchnorms'] = ctx.folded.join(',');
  return { graph: g, bytes: encodeGraph(g), inputName, inputShape: ['N', H, W, C], outputs, opset, foldedBatchNorms: ctx.folded };
}
