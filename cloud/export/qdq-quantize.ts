import { EdgekdError } from '../../shared/errors';
import { attr } from '../../shared/package/onnx/onnx-protos';
import { NameScope, cloneGraph, consumersOf, type IrGraph, type IrNode } from './onnx-ir';
import { asymmetricUint8, quantizeBias, quantizeWeightsPerChannel, symmetricInt8, weightScaleFloorForBias, type QParams } from './quant-math';

/**
 * Static QDQ quantization of an exported fp32 graph.
 *
 * Both targets: int8 weights, symmetric (7-bit on `cpu` by default, see `reduceRange`), one scale per output channel (axis 0 of Conv W and of
 * Gemm B with transB = 1); one scale/zero point per activation tensor; every quantized
 * activation tensor gets exactly one QuantizeLinear → DequantizeLinear pair right after its
 * producer, and all its consumers read the DequantizeLinear output.
 *
 * - `cpu`: uint8 asymmetric activations and int32 biases (scale = s_x·s_w[c]). A Relu or
 *   Clip(0, m) that is the only consumer of a Conv/Gemm/Add output is removed and the producer's
 *   output is quantized with the activation's range (zero point 0 saturates negatives, the upper
 *   bound saturates at ≤ m), so every Conv is directly followed by a QuantizeLinear — the
 *   DQ→Conv→Q unit onnxruntime's CPU provider fuses into QLinearConv. uint8 (not int8) because
 *   x86 onnxruntime converts int8 QDQ pairs to uint8 only when a Q has a single consumer.
 * - `tensorrt`: int8 symmetric activations with zero points 0 (TensorRT accepts nothing else),
 *   activations stay explicit (a ReLU cannot fold into a symmetric range), float biases.
 *
 * Not quantized: probe branches (`floatOnly`), the tensors that are graph outputs (logits or
 * probabilities stay float), and ops outside QUANTIZED_OPS. Flatten is rewritten as
 * Reshape(0, −1), which the CPU provider runs directly on uint8. Transpose, Reshape and MaxPool
 * reuse their input's scale and zero point (onnxruntime drops their Q/DQ only when they match).
 */

export type QuantTarget = 'cpu' | 'tensorrt';

export interface QuantizeOptions {
  target: QuantTarget;
  /** Real-valued range per tensor name, from calibration. */
  ranges: Map<string, [number, number]>;
  /**
   * 7-bit weights in [−63, 63] (onnxruntime's reduce_range). x86 CPUs without VNNI multiply
   * uint8 activations by int8 weights with VPMADDUBSW, which adds pairs of products into a
   * saturating int16: 255·127·2 overflows, 255·63·2 does not. Default: true for `cpu`, false
   * for `tensorrt` (TensorRT computes in int32).
   */
  reduceRange?: boolean;
  /**
   * Conv/Gemm nodes kept in float (with their activation), by node name: the per-layer opt-out.
   * `floatLayersByRule` picks them from the measured rule; the report lists them.
   */
  keepFloat?: ReadonlySet<string>;
}

export interface QuantizeReport {
  target: QuantTarget;
  quantizedConvs: number;
  quantizedGemms: number;
  foldedActivations: string[];
  quantizedTensors: number;
  floatNodes: string[];
  /** Weight bits used: 7 (reduce_range) or 8. */
  weightBits: 7 | 8;
  /** Conv/Gemm nodes the opt-out kept in float. */
  keptFloat: string[];
}

const QUANTIZED_OPS = new Set(['Conv', 'Gemm', 'Add', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Transpose', 'Reshape', 'Relu', 'Clip']);
const SHARES_INPUT_PARAMS = new Set(['Transpose', 'Reshape', 'MaxPool']);
const FOLDS_ACTIVATION = new Set(['Conv', 'Gemm', 'Add']);

function clipBounds(g: IrGraph, n: IrNode): [number, number] | null {
  const lo = n.inputs[1] ? g.initializers.get(n.inputs[1]) : undefined;
  const hi = n.inputs[2] ? g.initializers.get(n.inputs[2]) : undefined;
  const min = lo ? (lo.data as Float32Array)[0]! : -Infinity;
  const max = hi ? (hi.data as Float32Array)[0]! : Infinity;
  return [min, max];
}

/** Ops that only move or clamp values: they follow the precision of their neighbours. */
const PASS_THROUGH = new Set(['Transpose', 'Reshape', 'Flatten', 'MaxPool', 'AveragePool', 'Relu', 'Clip']);

/**
 * Marks the opted-out layers float, and with them the pass-through ops that would otherwise sit
 * between a float layer and a Q/DQ pair: downstream of a float node (its ReLU, its pooling) and
 * upstream when every consumer is float (the input Transpose). Without this, onnxruntime (≥ 1.20)
 * sees DQ → Conv(float weights) → Q and quantizes the "float" convolution itself.
 * Returns the marked node names, in graph order.
 */
function keepFloatRegion(g: IrGraph, keep: ReadonlySet<string>): string[] {
  if (keep.size === 0) return [];
  const float = new Set<string>();
  for (const n of g.nodes) if (keep.has(n.name) && !n.floatOnly) float.add(n.name);
  const producers = new Map<string, IrNode>();
  for (const n of g.nodes) for (const o of n.outputs) producers.set(o, n);
  let changed = true;
  while (changed) {
    changed = false;
    const consumers = consumersOf(g);
    for (const n of g.nodes) {
      if (float.has(n.name) || n.floatOnly || !PASS_THROUGH.has(n.opType)) continue;
      const src = producers.get(n.inputs[0]!);
      const fromFloat = src !== undefined && float.has(src.name);
      const outs = n.outputs.flatMap((o) => consumers.get(o) ?? []).map((i) => g.nodes[i]!);
      const intoFloat = outs.length > 0 && outs.every((c) => float.has(c.name) || c.floatOnly);
      if (fromFloat || intoFloat) {
        float.add(n.name);
        changed = true;
      }
    }
  }
  const marked: string[] = [];
  for (const n of g.nodes) {
    if (!float.has(n.name)) continue;
    n.floatOnly = true;
    marked.push(n.name);
  }
  return marked;
}

export function quantizeQdq(fp32: IrGraph, options: QuantizeOptions): { graph: IrGraph; report: QuantizeReport } {
  const g = cloneGraph(fp32);
  const names = new NameScope(g);
  const graphOutputs = new Set(g.outputs.map((o) => o.name));
  const floatNodes: string[] = [];
  const keepFloat = options.keepFloat ?? new Set<string>();
  // A kept-float node behaves like a probe node from here on: no Q/DQ on its inputs or outputs, no folding.
  const keptFloat = keepFloatRegion(g, keepFloat);
  const keptFloatSet = new Set(keptFloat);

  // Flatten → Reshape(0, −1): same result for our [N, …] tensors, and Reshape keeps uint8.
  for (const n of g.nodes) {
    if (n.floatOnly || n.opType !== 'Flatten') continue;
    const shapeName = names.fresh(`${n.name}_shape`);
    g.initializers.set(shapeName, { name: shapeName, dims: [2], data: new BigInt64Array([0n, -1n]) });
    n.opType = 'Reshape';
    n.inputs = [n.inputs[0]!, shapeName];
    n.attrs = {};
  }

  // Fold ReLU / ReLU6 into the producer's output range (cpu only).
  const folded: string[] = [];
  if (options.target === 'cpu') {
    let changed = true;
    while (changed) {
      changed = false;
      const consumers = consumersOf(g);
      for (let i = 0; i < g.nodes.length; i++) {
        const p = g.nodes[i]!;
        if (p.floatOnly || !FOLDS_ACTIVATION.has(p.opType)) continue;
        const out = p.outputs[0]!;
        const cons = consumers.get(out) ?? [];
        if (cons.length !== 1 || graphOutputs.has(out)) continue;
        const a = g.nodes[cons[0]!]!;
        if (a.floatOnly) continue;
        const isRelu = a.opType === 'Relu';
        const bounds = a.opType === 'Clip' ? clipBounds(g, a) : null;
        if (!isRelu && !(bounds && bounds[0] === 0)) continue;
        const r = options.ranges.get(a.outputs[0]!);
        if (!r) continue;
        // The producer now writes the activation's output tensor, whose calibrated range starts at ≥ 0.
        p.outputs[0] = a.outputs[0]!;
        g.nodes.splice(cons[0]!, 1);
        folded.push(a.name);
        if (bounds) options.ranges.set(a.outputs[0]!, [Math.max(0, r[0]), Math.min(bounds[1], r[1])]);
        changed = true;
        break;
      }
    }
  }

  const weightBits: 7 | 8 = (options.reduceRange ?? options.target === 'cpu') ? 7 : 8;
  const paramsFor = options.target === 'cpu' ? asymmetricUint8 : symmetricInt8;
  const qType = options.target === 'cpu' ? 'uint8' : 'int8';
  const params = new Map<string, QParams>();
  const consumers = consumersOf(g);
  const isQuantNode = (n: IrNode): boolean => !n.floatOnly && QUANTIZED_OPS.has(n.opType);

  // Which tensors get a Q/DQ pair: produced by the graph input or a quantized node, consumed by a quantized node, not a graph output.
  const producers = new Map<string, IrNode>();
  for (const n of g.nodes) for (const o of n.outputs) producers.set(o, n);
  const wantsQ = (t: string): boolean => {
    if (graphOutputs.has(t) || g.initializers.has(t)) return false;
    const p = producers.get(t);
    // A kept-float region ends in one QuantizeLinear where an int8 layer reads it.
    if (p && !isQuantNode(p) && !keptFloatSet.has(p.name)) return false;
    return (consumers.get(t) ?? []).some((i) => isQuantNode(g.nodes[i]!));
  };

  const out: IrNode[] = [];
  const dqName = new Map<string, string>();
  const scalarInit = (prefix: string, data: Float32Array | Uint8Array | Int8Array | Int32Array, dims: number[] = []): string => {
    const n = names.fresh(prefix);
    g.initializers.set(n, { name: n, dims, data });
    return n;
  };
  const zpArray = (zp: number, len = 1): Uint8Array | Int8Array => (qType === 'uint8' ? new Uint8Array(len).fill(zp) : new Int8Array(len).fill(zp));

  const emitQdq = (t: string, p: QParams): void => {
    const s = scalarInit(`${t}_scale`, new Float32Array([p.scale]));
    const z = scalarInit(`${t}_zero_point`, zpArray(p.zeroPoint));
    const q = names.fresh(`${t}_quantized`);
    const dq = names.fresh(`${t}_dequantized`);
    out.push({ name: names.fresh(`${t}_QuantizeLinear`), opType: 'QuantizeLinear', inputs: [t, s, z], outputs: [q], attrs: {} });
    out.push({ name: names.fresh(`${t}_DequantizeLinear`), opType: 'DequantizeLinear', inputs: [q, s, z], outputs: [dq], attrs: {} });
    dqName.set(t, dq);
    params.set(t, p);
  };

  const paramsOfTensor = (t: string, producer: IrNode | undefined): QParams | null => {
    if (producer && SHARES_INPUT_PARAMS.has(producer.opType)) {
      const inP = params.get(producer.inputs[0]!);
      if (inP) return inP;
    }
    const r = options.ranges.get(t);
    return r ? paramsFor(r[0], r[1]) : null;
  };

  for (const inp of g.inputs) {
    if (!wantsQ(inp.name)) continue;
    const p = paramsOfTensor(inp.name, undefined);
    if (!p) throw new EdgekdError('EDGEKD_CALIBRATION_INVALID', `no calibrated range for the graph input ${inp.name}`);
    emitQdq(inp.name, p);
  }

  let convs = 0;
  let gemms = 0;
  for (const n of g.nodes) {
    const node: IrNode = { ...n, inputs: n.inputs.map((x) => dqName.get(x) ?? x) };
    if (!n.floatOnly && (n.opType === 'Conv' || n.opType === 'Gemm')) {
      const xParams = params.get(n.inputs[0]!);
      const w = g.initializers.get(n.inputs[1]!);
      const b = n.inputs[2] ? g.initializers.get(n.inputs[2]) : undefined;
      const transB = n.opType === 'Conv' || (n.attrs.transB && 'i' in n.attrs.transB && n.attrs.transB.i === 1);
      if (xParams && w && transB) {
        const channels = w.dims[0]!;
        const wData = w.data as Float32Array;
        const floor = b && options.target === 'cpu' ? weightScaleFloorForBias(b.data as Float32Array, xParams.scale) : undefined;
        const wMax = weightBits === 7 ? 63 : 127;
        let pc = quantizeWeightsPerChannel(wData, channels, 0, wMax);
        if (floor && floor.some((f, c) => f > pc.scales[c]!)) {
          // Raise only the channels whose int32 bias would overflow (onnxruntime does the same adjustment).
          const per = wData.length / channels;
          const q = new Int8Array(wData.length);
          const scales = new Float32Array(channels);
          for (let c = 0; c < channels; c++) {
            const one = quantizeWeightsPerChannel(wData.subarray(c * per, (c + 1) * per), 1, floor[c]!, wMax);
            q.set(one.q, c * per);
            scales[c] = one.scales[0]!;
          }
          pc = { q, scales };
        }
        const wq = scalarInit(`${w.name}_quantized`, pc.q, w.dims);
        const ws = scalarInit(`${w.name}_scale`, pc.scales, [channels]);
        const wz = scalarInit(`${w.name}_zero_point`, new Int8Array(channels), [channels]);
        const wdq = names.fresh(`${w.name}_dequantized`);
        out.push({ name: names.fresh(`${w.name}_DequantizeLinear`), opType: 'DequantizeLinear', inputs: [wq, ws, wz], outputs: [wdq], attrs: { axis: attr.int(0) } });
        node.inputs[1] = wdq;
        if (b && options.target === 'cpu') {
          const bq = quantizeBias(b.data as Float32Array, xParams.scale, pc.scales);
          const bqn = scalarInit(`${b.name}_quantized`, bq.q, b.dims);
          const bs = scalarInit(`${b.name}_scale`, bq.scales, [channels]);
          const bz = scalarInit(`${b.name}_zero_point`, new Int32Array(channels), [channels]);
          const bdq = names.fresh(`${b.name}_dequantized`);
          out.push({ name: names.fresh(`${b.name}_DequantizeLinear`), opType: 'DequantizeLinear', inputs: [bqn, bs, bz], outputs: [bdq], attrs: { axis: attr.int(0) } });
          node.inputs[2] = bdq;
        }
        if (n.opType === 'Conv') convs++;
        else gemms++;
      } else floatNodes.push(n.name);
    } else if (!isQuantNode(n)) floatNodes.push(n.name);
    out.push(node);
    for (const o of n.outputs) {
      if (!wantsQ(o)) continue;
      const p = paramsOfTensor(o, n);
      if (!p) throw new EdgekdError('EDGEKD_CALIBRATION_INVALID', `no calibrated range for tensor ${o} (node ${n.name})`);
      emitQdq(o, p);
    }
  }
  g.nodes = out;
  // Drop the float weights and biases that now have quantized copies.
  const used = new Set(g.nodes.flatMap((n) => n.inputs));
  for (const k of [...g.initializers.keys()]) if (!used.has(k)) g.initializers.delete(k);
  g.metadata['edgekd.quantization'] = `qdq-${options.target}`;
  return { graph: g, report: { target: options.target, quantizedConvs: convs, quantizedGemms: gemms, foldedActivations: folded, quantizedTensors: params.size, floatNodes, weightBits, keptFloat } };
}
