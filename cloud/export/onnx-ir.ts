import { attributeProto, encodeModel, tensorProto, valueInfoProto, type AttrValue, type OnnxDataType, type TensorData } from '../../shared/package/onnx/onnx-protos';

/**
 * A small in-memory ONNX graph: what the exporter produces, the quantizer rewrites and the
 * calibrator augments, before one final encode. Initializer data stay typed arrays.
 */
export interface IrInitializer {
  name: string;
  dims: number[];
  data: TensorData;
}

export interface IrNode {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
  /** The tfjs layer this node implements (for error messages and per-layer quantization choices). */
  layer?: string;
  /** Nodes of a drift probe branch: always left in float by the quantizer. */
  floatOnly?: boolean;
}

export interface IrValue {
  name: string;
  elemType: OnnxDataType;
  dims?: Array<number | string>;
}

export interface IrGraph {
  name: string;
  opset: number;
  inputs: IrValue[];
  outputs: IrValue[];
  nodes: IrNode[];
  initializers: Map<string, IrInitializer>;
  metadata: Record<string, string>;
}

export function emptyGraph(name: string, opset: number): IrGraph {
  return { name, opset, inputs: [], outputs: [], nodes: [], initializers: new Map(), metadata: {} };
}

export function cloneGraph(g: IrGraph): IrGraph {
  return {
    ...g,
    inputs: g.inputs.map((v) => ({ ...v })),
    outputs: g.outputs.map((v) => ({ ...v })),
    nodes: g.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: { ...n.attrs } })),
    initializers: new Map(g.initializers),
    metadata: { ...g.metadata },
  };
}

/** Hands out unique tensor and node names within one graph. */
export class NameScope {
  private readonly used = new Set<string>();
  constructor(g?: IrGraph) {
    if (!g) return;
    for (const v of [...g.inputs, ...g.outputs]) this.used.add(v.name);
    for (const n of g.nodes) {
      this.used.add(n.name);
      for (const o of n.outputs) this.used.add(o);
    }
    for (const k of g.initializers.keys()) this.used.add(k);
  }
  fresh(prefix: string): string {
    const base = prefix.replace(/[^A-Za-z0-9_./:-]/g, '_');
    let n = base;
    for (let i = 1; this.used.has(n); i++) n = `${base}_${i}`;
    this.used.add(n);
    return n;
  }
  /** Frees a reserved name so `claim` can take it for the tensor that really carries it. */
  release(name: string): void {
    this.used.delete(name);
  }
  claim(name: string): string {
    if (this.used.has(name)) throw new Error(`name ${name} already used`);
    this.used.add(name);
    return name;
  }
}

/** Encodes the graph as an ONNX ModelProto with the lowest IR version that matches its opset. */
export function encodeGraph(g: IrGraph, producer = 'edgekd'): Uint8Array {
  const valueInfo = (v: IrValue) => valueInfoProto(v.name, v.elemType, v.dims);
  return encodeModel({
    opset: g.opset,
    producer,
    metadata: Object.entries(g.metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: g.name,
      node: g.nodes.map((n) => ({ name: n.name, opType: n.opType, input: n.inputs, output: n.outputs, attribute: Object.entries(n.attrs).map(([k, v]) => attributeProto(k, v)) })),
      initializer: [...g.initializers.values()].map((t) => tensorProto(t.name, t.dims, t.data)),
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
  });
}

/** Consumers of each tensor name (node indices). */
export function consumersOf(g: IrGraph): Map<string, number[]> {
  const m = new Map<string, number[]>();
  g.nodes.forEach((n, i) => {
    for (const x of n.inputs) {
      if (!x) continue;
      const l = m.get(x) ?? [];
      l.push(i);
      m.set(x, l);
    }
  });
  return m;
}

