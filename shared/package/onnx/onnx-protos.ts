import { onnx } from './onnx-proto';
import type { onnx as P } from 'onnx-proto';

/**
 * The pieces of an ONNX ModelProto that both writers share: the graph builder below (small test
 * and conformance models) and the exporter's in-memory graph (`cloud/export/onnx-ir.ts`). One
 * copy, so the two cannot disagree on data types, byte order or IR versions.
 */

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

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * raw_data must be little-endian whatever the host is. On a little-endian host this is a view of
 * the array's own bytes (no copy: exported models hold megabytes of weights); on a big-endian
 * host each element is byte-swapped into a new buffer.
 */
function littleEndianBytes(data: TensorData): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return bytes;
  const out = new Uint8Array(bytes.length);
  const w = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < bytes.length; i += w) for (let j = 0; j < w; j++) out[i + j] = bytes[i + w - 1 - j]!;
  return out;
}

/** An initializer as a TensorProto, its values in raw_data. */
export function tensorProto(name: string, dims: number[], data: TensorData): P.ITensorProto {
  return { name, dims, dataType: dataTypeOf(data), rawData: littleEndianBytes(data) };
}

/** One node attribute as an AttributeProto. */
export function attributeProto(name: string, v: AttrValue): P.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('i' in v) return { name, type: T.INT, i: v.i };
  if ('f' in v) return { name, type: T.FLOAT, f: v.f };
  if ('ints' in v) return { name, type: T.INTS, ints: v.ints };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  return { name, type: T.STRING, s: new TextEncoder().encode(v.s) };
}

/** A graph input or output; `dims` entries are sizes or symbolic names (dim_param). */
export function valueInfoProto(name: string, elemType: OnnxDataType, dims?: Array<number | string>): P.IValueInfoProto {
  const tensorType: P.TypeProto.ITensor = { elemType };
  if (dims) tensorType.shape = { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name, type: { tensorType } };
}

/** Encodes a ModelProto with the lowest IR version that matches `opset`. */
export function encodeModel(m: { opset: number; producer: string; graph: P.IGraphProto; metadata: Array<{ key: string; value: string }> }): Uint8Array {
  const model: P.IModelProto = {
    irVersion: irVersionForOpset(m.opset),
    producerName: m.producer,
    producerVersion: '1',
    opsetImport: [{ domain: '', version: m.opset }],
    metadataProps: m.metadata,
    graph: m.graph,
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}
