import { onnx } from './onnx-proto';
import type { onnx as P } from 'onnx-proto';

/** TensorProto.DataType values (onnx.proto). */
export const OnnxDataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7 } as const;
export type OnnxDataType = (typeof OnnxDataType)[keyof typeof OnnxDataType];

/** Opset 13 is the first with per-axis QuantizeLinear/DequantizeLinear; ONNX 1.8 pairs it with IR 7. */
export const DEFAULT_OPSET = 13;
/** The lowest IR version for each opset we may write (docs/Versioning.md of onnx/onnx). */
export function irVersionForOpset(opset: number): number {
  if (opset <= 13) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  if (opset === 23) return 11;
  if (opset === 24) return 12;
  return 13;
}

export type AttrValue = { i: number } | { f: number } | { ints: number[] } | { floats: number[] } | { s: string };
export const attr = {
  int: (i: number): AttrValue => ({ i }),
  float: (f: number): AttrValue => ({ f }),
  ints: (ints: number[]): AttrValue => ({ ints }),
  floats: (floats: number[]): AttrValue => ({ floats }),
  str: (s: string): AttrValue => ({ s }),
};

export type TensorData = Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;

function dataTypeOf(data: TensorData): OnnxDataType {
  if (data instanceof Float32Array) return OnnxDataType.FLOAT;
  if (data instanceof Int8Array) return OnnxDataType.INT8;
  if (data instanceof Uint8Array) return OnnxDataType.UINT8;
  if (data instanceof Int32Array) return OnnxDataType.INT32;
  return OnnxDataType.INT64;
}

/** Little-endian bytes of a typed array (raw_data must be little-endian whatever the host is). */
function littleEndianBytes(data: TensorData): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (le || data.BYTES_PER_ELEMENT === 1) return bytes.slice();
  const out = new Uint8Array(bytes.length);
  const w = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < bytes.length; i += w) for (let j = 0; j < w; j++) out[i + j] = bytes[i + w - 1 - j]!;
  return out;
}

/** One node attribute as an AttributeProto (also used by cloud/export's writer). */
export function attributeProto(name: string, v: AttrValue): P.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('i' in v) return { name, type: T.INT, i: v.i };
  if ('f' in v) return { name, type: T.FLOAT, f: v.f };
  if ('ints' in v) return { name, type: T.INTS, ints: v.ints };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  return { name, type: T.STRING, s: new TextEncoder().encode(v.s) };
}

function valueInfo(name: string, elemType: OnnxDataType, dims?: Array<number | string>): P.IValueInfoProto {
  const tensorType: P.TypeProto.ITensor = { elemType };
  if (dims) tensorType.shape = { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name, type: { tensorType } };
}

/**
 * Accumulates one ONNX graph and encodes it as a ModelProto. Names must be unique; the builder
 * hands out fresh ones through `fresh(prefix)`. Initializers are stored as raw_data.
 */
export class OnnxGraphBuilder {
  private readonly nodes: P.INodeProto[] = [];
  private readonly inits: P.ITensorProto[] = [];
  private readonly inputs: P.IValueInfoProto[] = [];
  private readonly outputs: P.IValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private readonly metadata: Array<{ key: string; value: string }> = [];

  constructor(
    readonly graphName: string,
    readonly opset: number = DEFAULT_OPSET,
  ) {}

  fresh(prefix: string): string {
    let n = prefix;
    for (let i = 1; this.used.has(n); i++) n = `${prefix}_${i}`;
    this.used.add(n);
    return n;
  }

  input(name: string, elemType: OnnxDataType, dims: Array<number | string>): string {
    this.used.add(name);
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: OnnxDataType, dims?: Array<number | string>): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  initializer(prefix: string, data: TensorData, dims: number[]): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`initializer ${prefix}: ${data.length} values for shape [${dims}]`);
    const name = this.fresh(prefix);
    this.inits.push({ name, dims, dataType: dataTypeOf(data), rawData: littleEndianBytes(data) });
    return name;
  }

  scalar(prefix: string, value: number, type: 'float' | 'uint8' | 'int8' | 'int64' = 'float'): string {
    const data = type === 'float' ? new Float32Array([value]) : type === 'uint8' ? new Uint8Array([value]) : type === 'int8' ? new Int8Array([value]) : new BigInt64Array([BigInt(value)]);
    return this.initializer(prefix, data, []);
  }

  /** Adds a node; returns its outputs (fresh names from `outputPrefixes` when they are given as prefixes). */
  node(opType: string, inputs: string[], outputs: string[] | number, attrs: Record<string, AttrValue> = {}, name?: string): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, i) => this.fresh(`${name ?? opType}_out${i}`)) : outputs.map((o) => this.fresh(o));
    this.nodes.push({
      opType,
      name: this.fresh(name ?? opType),
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attributeProto(k, v)),
    });
    return outs;
  }

  /** Adds a node whose single output gets exactly `output` as its name (for graph outputs). */
  nodeNamed(opType: string, inputs: string[], output: string, attrs: Record<string, AttrValue> = {}): string {
    if (this.used.has(output)) throw new Error(`tensor name ${output} already used`);
    return this.node(opType, inputs, [output], attrs)[0]!;
  }

  meta(key: string, value: string): void {
    this.metadata.push({ key, value });
  }

  toModelProto(producer = 'edgekd'): P.IModelProto {
    return {
      irVersion: irVersionForOpset(this.opset),
      producerName: producer,
      producerVersion: '1',
      opsetImport: [{ domain: '', version: this.opset }],
      metadataProps: this.metadata,
      graph: { name: this.graphName, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    };
  }

  encode(producer?: string): Uint8Array {
    return onnx.ModelProto.encode(onnx.ModelProto.create(this.toModelProto(producer))).finish();
  }
}
