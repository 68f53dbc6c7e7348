import type { onnx as P } from 'onnx-proto';
import { DEFAULT_OPSET, attributeProto, encodeModel, tensorProto, valueInfoProto, type AttrValue, type OnnxDataType, type TensorData } from './onnx-protos';

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
    this.inputs.push(valueInfoProto(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: OnnxDataType, dims?: Array<number | string>): void {
    this.outputs.push(valueInfoProto(name, elemType, dims));
  }

  initializer(prefix: string, data: TensorData, dims: number[]): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`initializer ${prefix}: ${data.length} values for shape [${dims}]`);
    const name = this.fresh(prefix);
    // A copy: the caller may reuse its array before encode().
    this.inits.push(tensorProto(name, dims, data.slice()));
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

  encode(producer = 'edgekd'): Uint8Array {
    return encodeModel({
      opset: this.opset,
      producer,
      metadata: this.metadata,
      graph: { name: this.graphName, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    });
  }
}
