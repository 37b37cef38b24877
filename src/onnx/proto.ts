/**
 * Reading an ONNX file's graph with protobufjs (an optional peer, the one onnxruntime-web itself
 * depends on), from a schema of the few `onnx.proto` messages deep-nrc reads (field numbers from
 * onnx/onnx.proto, IR version 10). Fields not listed are skipped by the decoder.
 *
 * The model is never re-encoded (see `expose-outputs.ts`).
 * @module
 */
import { NRCInputError } from "../errors.js";
import { decodeInto, type ElementType } from "../io/common.js";

/** protobufjs/light's namespace (only the parts used here). */
interface ProtobufLight {
  Root: { fromJSON(json: unknown): { lookupType(name: string): ProtoType } };
}
interface ProtoType {
  decode(bytes: Uint8Array): unknown;
  encode(msg: unknown): { finish(): Uint8Array };
  fromObject(o: unknown): unknown;
}

/** A 64-bit integer as protobufjs decodes it: a number, or a Long when `long` is installed. */
type Int64 = number | { toNumber(): number } | string;

export interface TensorProto {
  dims?: Int64[];
  dataType?: number;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: Int64[];
  name?: string;
  rawData?: Uint8Array;
  doubleData?: number[];
  externalData?: { key?: string; value?: string }[];
  dataLocation?: number;
}
export interface AttributeProto {
  name?: string;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  floats?: number[];
  ints?: Int64[];
  type?: number;
}
export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  opType?: string;
  domain?: string;
  attribute?: AttributeProto[];
}
export interface ValueInfoProto {
  name?: string;
  type?: {
    tensorType?: {
      elemType?: number;
      shape?: { dim?: { dimValue?: Int64; dimParam?: string }[] };
    };
  };
}
export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  sparseInitializer?: unknown[];
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
}
export interface ModelProto {
  irVersion?: Int64;
  opsetImport?: { domain?: string; version?: Int64 }[];
  producerName?: string;
  producerVersion?: string;
  graph?: GraphProto;
}

const r = (type: string, id: number) => ({ rule: "repeated", type, id });
const f = (type: string, id: number) => ({ type, id });

/** The subset of onnx.proto read here (protobufjs JSON descriptor). */
const SCHEMA = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: f("int64", 1),
            opsetImport: r("OperatorSetIdProto", 8),
            producerName: f("string", 2),
            producerVersion: f("string", 3),
            graph: f("GraphProto", 7),
          },
        },
        OperatorSetIdProto: { fields: { domain: f("string", 1), version: f("int64", 2) } },
        GraphProto: {
          fields: {
            node: r("NodeProto", 1),
            name: f("string", 2),
            initializer: r("TensorProto", 5),
            sparseInitializer: r("SparseTensorProto", 15),
            input: r("ValueInfoProto", 11),
            output: r("ValueInfoProto", 12),
          },
        },
        SparseTensorProto: { fields: { dims: r("int64", 3) } },
        NodeProto: {
          fields: {
            input: r("string", 1),
            output: r("string", 2),
            name: f("string", 3),
            opType: f("string", 4),
            domain: f("string", 7),
            attribute: r("AttributeProto", 5),
          },
        },
        AttributeProto: {
          fields: {
            name: f("string", 1),
            f: f("float", 2),
            i: f("int64", 3),
            s: f("bytes", 4),
            t: f("TensorProto", 5),
            floats: r("float", 7),
            ints: r("int64", 8),
            type: f("int32", 20),
          },
        },
        TensorProto: {
          fields: {
            dims: r("int64", 1),
            dataType: f("int32", 2),
            floatData: r("float", 4),
            int32Data: r("int32", 5),
            int64Data: r("int64", 7),
            name: f("string", 8),
            rawData: f("bytes", 9),
            doubleData: r("double", 10),
            externalData: r("StringStringEntryProto", 13),
            dataLocation: f("int32", 14),
          },
        },
        StringStringEntryProto: { fields: { key: f("string", 1), value: f("string", 2) } },
        ValueInfoProto: { fields: { name: f("string", 1), type: f("TypeProto", 2) } },
        TypeProto: { fields: { tensorType: f("TypeProtoTensor", 1) } },
        TypeProtoTensor: { fields: { elemType: f("int32", 1), shape: f("TensorShapeProto", 2) } },
        TensorShapeProto: { fields: { dim: r("Dimension", 1) } },
        Dimension: { fields: { dimValue: f("int64", 1), dimParam: f("string", 2) } },
      },
    },
  },
};

let MODEL_TYPE: ProtoType | null = null;

export async function modelType(fn: string): Promise<ProtoType> {
  if (MODEL_TYPE) return MODEL_TYPE;
  let pb: ProtobufLight;
  try {
    const m = (await import("protobufjs/light.js")) as unknown as {
      default?: ProtobufLight;
    } & ProtobufLight;
    pb = m.default ?? m;
  } catch {
    throw new NRCInputError(
      fn,
      "model",
      "reading ONNX files needs the optional package protobufjs (npm i onnxruntime-web protobufjs)",
    );
  }
  MODEL_TYPE = pb.Root.fromJSON(SCHEMA).lookupType("onnx.ModelProto");
  return MODEL_TYPE;
}

/** A 64-bit field as a number. */
export function int64(v: Int64 | undefined | null): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === "number") return v;
  if (typeof v === "string") return Number(v);
  return v.toNumber();
}

/**
 * Decodes an ONNX model's bytes.
 * @throws NRCInputError when the bytes are not an ONNX ModelProto (not protobuf, or no graph).
 */
export async function decodeModel(fn: string, bytes: Uint8Array): Promise<ModelProto> {
  const T = await modelType(fn);
  let m: ModelProto;
  try {
    m = T.decode(bytes) as ModelProto;
  } catch (e) {
    throw new NRCInputError(
      fn,
      "model",
      `model is not an ONNX file (protobuf ModelProto): ${(e as Error).message} (${bytes.length} bytes)`,
    );
  }
  if (!m.graph || int64(m.irVersion) <= 0 || !m.opsetImport?.length)
    throw new NRCInputError(
      fn,
      "model",
      `model is not an ONNX file: no ${!m.graph ? "graph" : int64(m.irVersion) <= 0 ? "ir_version" : "opset_import"} in its ${bytes.length} bytes`,
    );
  return m;
}

/** ONNX TensorProto.DataType codes and names. */
export const DTYPE_NAMES: Record<number, string> = {
  1: "float32",
  2: "uint8",
  3: "int8",
  4: "uint16",
  5: "int16",
  6: "int32",
  7: "int64",
  8: "string",
  9: "bool",
  10: "float16",
  11: "float64",
  12: "uint32",
  13: "uint64",
  16: "bfloat16",
};

const RAW_TYPES: Record<number, ElementType> = {
  1: { kind: "f", size: 4, littleEndian: true },
  10: { kind: "f", size: 2, littleEndian: true },
  11: { kind: "f", size: 8, littleEndian: true },
  16: { kind: "bf", size: 2, littleEndian: true },
  2: { kind: "u", size: 1, littleEndian: true },
  3: { kind: "i", size: 1, littleEndian: true },
  4: { kind: "u", size: 2, littleEndian: true },
  5: { kind: "i", size: 2, littleEndian: true },
  6: { kind: "i", size: 4, littleEndian: true },
  7: { kind: "i", size: 8, littleEndian: true },
};

/** A decoded initializer: float64 values and dims. */
export interface DenseTensor {
  dims: number[];
  data: Float64Array;
}

/**
 * An initializer's values as float64 (raw_data little-endian, or the typed repeated fields;
 * float16/bfloat16 in int32_data hold the bit patterns).
 * @throws NRCInputError for external data without `external`, and unsupported element types.
 */
export function tensorValues(
  fn: string,
  t: TensorProto,
  what: string,
  external?: (location: string, offset: number, length: number) => Uint8Array,
): DenseTensor {
  const dims = (t.dims ?? []).map(int64);
  const n = dims.reduce((a, b) => a * b, 1);
  const dt = t.dataType ?? 0;
  const et = RAW_TYPES[dt];
  if (!et)
    throw new NRCInputError(
      fn,
      "model",
      `${what} has element type ${DTYPE_NAMES[dt] ?? dt}, which is not a number type deep-nrc reads`,
    );
  const out = new Float64Array(n);
  let raw = t.rawData && t.rawData.length ? t.rawData : null;
  if (t.dataLocation === 1) {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? "", e.value ?? ""]));
    const location = kv.get("location") ?? "";
    if (!external)
      throw new NRCInputError(
        fn,
        "model",
        `${what} is stored in an external data file (${location}); pass the model as a file path (Node) so deep-nrc can read it, or externalData: { "${location}": bytes }`,
      );
    raw = external(location, Number(kv.get("offset") ?? 0), Number(kv.get("length") ?? -1));
  }
  if (raw) {
    if (raw.length !== n * et.size)
      throw new NRCInputError(
        fn,
        "model",
        `${what}: raw data holds ${raw.length} bytes; dims [${dims.join(", ")}] of ${DTYPE_NAMES[dt]} need ${n * et.size}`,
      );
    decodeInto(raw, et, n, out, 0);
    return { dims, data: out };
  }
  let src: ArrayLike<number>;
  if (dt === 1) src = t.floatData ?? [];
  else if (dt === 11) src = t.doubleData ?? [];
  else if (dt === 7) src = (t.int64Data ?? []).map(int64);
  else src = t.int32Data ?? [];
  if (src.length !== n)
    throw new NRCInputError(
      fn,
      "model",
      `${what} holds ${src.length} values; dims [${dims.join(", ")}] need ${n}`,
    );
  if (dt === 10 || dt === 16) {
    const bits = new Uint8Array(2 * n);
    const dv = new DataView(bits.buffer);
    for (let i = 0; i < n; i++) dv.setUint16(2 * i, src[i], true);
    decodeInto(bits, et, n, out, 0);
  } else for (let i = 0; i < n; i++) out[i] = src[i];
  return { dims, data: out };
}
