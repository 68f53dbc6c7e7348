import type { onnx as P } from 'onnx-proto';
import { onnx } from '../../shared/package/onnx/onnx-proto';
import { OnnxDataType, attributeProto, irVersionForOpset, type AttrValue, type TensorData } from '../../shared/package/onnx/graph-builder';

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

function dataTypeOf(data: TensorData): OnnxDataType {
  if (data instanceof Float32Array) return OnnxDataType.FLOAT;
  if (data instanceof Int8Array) return OnnxDataType.INT8;
  if (data instanceof Uint8Array) return OnnxDataType.UINT8;
  if (data instanceof Int32Array) return OnnxDataType.INT32;
  return OnnxDataType.INT64;
}

/** raw_data is little-endian (onnx.proto); every supported Node host is little-endian, which this asserts. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function rawBytes(data: TensorData): Uint8Array {
  if (!HOST_LITTLE_ENDIAN && data.BYTES_PER_ELEMENT > 1) throw new Error('big-endian hosts are not supported by the ONNX writer');
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function valueInfo(v: IrValue): P.IValueInfoProto {
  const tensorType: P.TypeProto.ITensor = { elemType: v.elemType };
  if (v.dims) tensorType.shape = { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name: v.name, type: { tensorType } };
}

/** Encodes the graph as an ONNX ModelProto with the lowest IR version that matches its opset. */
export function encodeGraph(g: IrGraph, producer = 'edgekd'): Uint8Array {
  const model: P.IModelProto = {
    irVersion: irVersionForOpset(g.opset),
    producerName: producer,
    producerVersion: '1',
    opsetImport: [{ domain: '', version: g.opset }],
    metadataProps: Object.entries(g.metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: g.name,
      node: g.nodes.map((n) => ({ name: n.name, opType: n.opType, input: n.inputs, output: n.outputs, attribute: Object.entries(n.attrs).map(([k, v]) => attributeProto(k, v)) })),
      initializer: [...g.initializers.values()].map((t) => ({ name: t.name, dims: t.dims, dataType: dataTypeOf(t.data), rawData: rawBytes(t.data) })),
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
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

