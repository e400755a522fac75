/**
 * A small graph builder over the official ONNX protobuf schema (`onnx-proto`: protobufjs code generated from
 * onnx.proto). Nothing here encodes bytes by hand: nodes, initializers and the model are plain `onnx.*Proto`
 * objects that protobufjs serializes.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
type IGraphProto = onnxProto.onnx.IGraphProto;

/** ONNX element types petra writes. */
export type OnnxDtype = 'float32' | 'uint8' | 'int8' | 'int32' | 'int64';

const DTYPE: Record<OnnxDtype, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  uint8: onnx.TensorProto.DataType.UINT8,
  int8: onnx.TensorProto.DataType.INT8,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
};

export type AttrValue = number | string | number[] | { floats: number[] } | { graph: IGraphProto } | { int: number };

/** Little-endian raw bytes of `values` as `dtype` (ONNX's raw_data is always little-endian). */
function rawBytes(dtype: OnnxDtype, values: ArrayLike<number> | ArrayLike<bigint>): Uint8Array {
  const n = values.length;
  switch (dtype) {
    case 'float32': {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = Number(values[i]);
      return new Uint8Array(a.buffer);
    }
    case 'uint8':
      return Uint8Array.from(values as ArrayLike<number>, Number);
    case 'int8':
      return new Uint8Array(Int8Array.from(values as ArrayLike<number>, Number).buffer);
    case 'int32':
      return new Uint8Array(Int32Array.from(values as ArrayLike<number>, Number).buffer);
    case 'int64': {
      const a = new BigInt64Array(n);
      for (let i = 0; i < n; i++) a[i] = BigInt(values[i] as number | bigint);
      return new Uint8Array(a.buffer);
    }
  }
}

function attribute(name: string, value: AttrValue): IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
  }
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('int' in value) return { name, type: T.INT, i: value.int };
  if ('floats' in value) return { name, type: T.FLOATS, floats: value.floats };
  return { name, type: T.GRAPH, g: value.graph };
}

/**
 * One ONNX graph under construction. Tensor names are unique: `fresh()` derives new ones from a stem, and
 * constants of equal value are not deduplicated (they are small: scales, zero points, shapes).
 */
export class OnnxGraph {
  readonly nodes: INodeProto[] = [];
  readonly initializers: ITensorProto[] = [];
  readonly inputs: IValueInfoProto[] = [];
  readonly outputs: IValueInfoProto[] = [];
  readonly #used = new Set<string>();
  readonly #opCounts = new Map<string, number>();
  constructor(readonly name: string) {}

  /** A tensor name not used before, derived from `stem`. */
  fresh(stem: string): string {
    let name = stem;
    for (let k = 1; this.#used.has(name); k++) name = `${stem}_${k}`;
    this.#used.add(name);
    return name;
  }

  /** Claims `name` as given (graph inputs and outputs keep their names); throws if taken. */
  claim(name: string): string {
    if (this.#used.has(name)) throw new Error(`ONNX tensor name '${name}' is used twice`);
    this.#used.add(name);
    return name;
  }

  /** Adds a node; returns its output names (fresh names from `outStem` unless `outputs` names them). */
  node(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue | undefined> = {},
    o: { outStem?: string; outputs?: string[]; count?: number; domain?: string } = {},
  ): string[] {
    const outputs =
      o.outputs ??
      Array.from({ length: o.count ?? 1 }, (_, i) => this.fresh(`${o.outStem ?? opType}${i > 0 ? `_out${i}` : ''}`));
    const k = (this.#opCounts.get(opType) ?? 0) + 1;
    this.#opCounts.set(opType, k);
    const attribute_: IAttributeProto[] = [];
    for (const [key, v] of Object.entries(attrs)) if (v !== undefined) attribute_.push(attribute(key, v));
    this.nodes.push({
      opType,
      input: inputs,
      output: outputs,
      name: `${opType}_${k}`,
      attribute: attribute_,
      ...(o.domain ? { domain: o.domain } : {}),
    });
    return outputs;
  }

  /** Single-output node. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue | undefined> = {}, outStem?: string): string {
    return this.node(opType, inputs, attrs, outStem ? { outStem } : {})[0]!;
  }

  /** An initializer; returns its name. */
  constant(stem: string, dtype: OnnxDtype, dims: number[], values: ArrayLike<number> | ArrayLike<bigint>): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (values.length !== count)
      throw new Error(`constant '${stem}': ${values.length} values for shape [${dims.join(', ')}]`);
    const name = this.fresh(stem);
    this.initializers.push({ name, dataType: DTYPE[dtype], dims, rawData: rawBytes(dtype, values) });
    return name;
  }

  scalar(stem: string, dtype: OnnxDtype, value: number): string {
    return this.constant(stem, dtype, [], [value]);
  }
  ints(stem: string, values: number[]): string {
    return this.constant(stem, 'int64', [values.length], values);
  }

  input(name: string, dtype: OnnxDtype, shape: (number | string)[]): string {
    this.inputs.push(valueInfo(this.claim(name), dtype, shape));
    return name;
  }

  output(name: string, dtype: OnnxDtype, shape: (number | string)[]): void {
    this.outputs.push(valueInfo(name, dtype, shape));
  }

  proto(): IGraphProto {
    return {
      name: this.name,
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
    };
  }
}

export function valueInfo(name: string, dtype: OnnxDtype, shape: (number | string)[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DTYPE[dtype],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export interface ModelMeta {
  producerName: string;
  producerVersion: string;
  docString?: string;
  metadata?: Record<string, string>;
}

/** Serializes a graph as an ONNX model (IR version 8) importing the default domain at `opset`. */
export function encodeModel(graph: OnnxGraph, opset: number, meta: ModelMeta): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: opset }],
    producerName: meta.producerName,
    producerVersion: meta.producerVersion,
    graph: graph.proto(),
    ...(meta.docString ? { docString: meta.docString } : {}),
    metadataProps: Object.entries(meta.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Parses ONNX bytes (tests, tools): the decoded ModelProto. */
export function decodeModel(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
