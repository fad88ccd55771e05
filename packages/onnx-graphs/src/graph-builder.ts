// A small typed wrapper over onnx-proto (the ONNX protobuf schema as generated protobufjs code)
// for writing graphs node by node. Opset 17, IR 8: what onnxruntime-node and -web both run.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

export const OPSET = 17;
export type Dim = number | string;
export type ElemType = 'float32' | 'int64' | 'bool' | 'uint8';
const elem = { float32: DT.FLOAT, int64: DT.INT64, bool: DT.BOOL, uint8: DT.UINT8 } as const;
/** onnxruntime's contrib operators (MatMulNBits), opset 1. */
export const MS_DOMAIN = 'com.microsoft';

export type AttrValue = number | number[] | { float: number } | { tensor: Float32Array | BigInt64Array; dims: number[] };

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  if (typeof v === 'number') return { name, type: AT.INT, i: v };
  if (Array.isArray(v)) return { name, type: AT.INTS, ints: v };
  if ('float' in v) return { name, type: AT.FLOAT, f: v.float };
  return { name, type: AT.TENSOR, t: tensorProto(name, v.dims, v.tensor) };
}

function tensorProto(name: string, dims: number[], data: Float32Array | BigInt64Array | Uint8Array): onnxProto.onnx.ITensorProto {
  return {
    name,
    dims,
    dataType: data instanceof Float32Array ? DT.FLOAT : data instanceof Uint8Array ? DT.UINT8 : DT.INT64,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

function valueInfo(name: string, type: ElemType, dims: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: elem[type],
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export class GraphBuilder {
  private nodes: onnxProto.onnx.INodeProto[] = [];
  private inits: onnxProto.onnx.ITensorProto[] = [];
  private inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private counter = 0;
  private domains = new Set<string>();
  /** Weights declared quantized (linear.ts): name -> what MatMulNBits needs to know of them. */
  readonly quantized = new Map<string, { bits: 4 | 8; K: number; N: number; segments: number[]; zeroPoints: boolean }>();
  /** Quantized products quantize their activations to int8 (linear.ts; QuantizedWeights.activations). */
  int8Activations = false;

  constructor(readonly name: string) {}

  input(name: string, type: ElemType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Mark `value` as a graph output called `name` (adds an Identity when the names differ). */
  output(value: string, name: string, type: ElemType, dims: Dim[]): void {
    if (value !== name) this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: `${name}/identity` });
    this.outputs.push(valueInfo(name, type, dims));
  }

  initializer(name: string, dims: number[], data: Float32Array | BigInt64Array | Uint8Array): string {
    this.inits.push(tensorProto(name, dims, data));
    return name;
  }

  ints(values: number[], prefix = 'const'): string {
    return this.initializer(`${prefix}_${this.counter++}`, [values.length], BigInt64Array.from(values.map(BigInt)));
  }

  int(value: number, prefix = 'const'): string {
    return this.initializer(`${prefix}_${this.counter++}`, [], BigInt64Array.of(BigInt(value)));
  }

  float(value: number, prefix = 'const'): string {
    return this.initializer(`${prefix}_${this.counter++}`, [], Float32Array.of(value));
  }

  /** Add a node; returns its output names (`nOut` fresh ones). `domain`: e.g. MS_DOMAIN for onnxruntime's contrib ops. */
  ops(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, nOut = 1, domain?: string): string[] {
    const id = this.counter++;
    const output = Array.from({ length: nOut }, (_, i) => `${opType.toLowerCase()}_${id}${nOut > 1 ? `_${i}` : ''}`);
    if (domain) this.domains.add(domain);
    this.nodes.push({
      ...(domain ? { domain } : {}),
      opType,
      name: `${opType}_${id}`,
      input: inputs,
      output,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return output;
  }

  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, domain?: string): string {
    return this.ops(opType, inputs, attrs, 1, domain)[0]!;
  }

  toBytes(): Uint8Array {
    return onnx.ModelProto.encode({
      irVersion: 8,
      producerName: 'splitwise-edge-cloud',
      opsetImport: [{ domain: '', version: OPSET }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))],
      graph: { name: this.name, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    }).finish();
  }
}
