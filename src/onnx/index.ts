/**
 * Measure a trained model straight from its ONNX file (`deep-nrc/onnx`).
 *
 * - {@link measureONNX}: every linear map of the graph (`Gemm`, `MatMul` with a constant right
 *   operand, `Conv`), its features (the map's **input**, computed by ONNX Runtime) and its weight
 *   (the initializer), streamed in batches into {@link createNRCAccumulator}: the same
 *   {@link NRCReport} as `measureNRC`, with memory O(batch + Σd²) whatever N is.
 * - {@link captureONNX}: the same batches, for your own accumulator (shards, `merge`, `toJSON`).
 * - {@link listONNXLayers}: the linear maps found, without running the model.
 *
 * How the features are read: the inputs of the linear maps are added to the graph's outputs (see
 * `proto.ts`: appended, the model is never re-encoded) and the model runs in ONNX Runtime Web's
 * WASM backend (Node and browsers, no native binary) with graph optimisations **off**, so that no
 * fused node hides a tensor; results are looked up by name. Float16/float32/float64 models; the
 * features are read as float64.
 *
 * Conventions (SPEC.md): Gemm's weight is honoured with `transB` and scaled by `alpha` (out×in);
 * MatMul's stored in×out weight is transposed to out×in; Conv filters Cout×Cin×kh×kw and features
 * N×C×h×w go through the conv presets (paper: every position a sample; reference-code: GAP). A
 * grouped conv's filters are spread over all input channels with zeros; 1-D convs are read as
 * h×1 images. A MatMul on N×…×d inputs (tokens) reads every position as a sample, like a conv
 * (features passed as N×d×P×1).
 *
 * `onnxruntime-web` and `protobufjs` are optional peer dependencies; the core entry never imports
 * them. Linear maps inside control-flow subgraphs (If/Loop/Scan) are not seen.
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { Mat } from "../backends/types.js";
import type { BackendOption } from "../backends/choose.js";
import type { TensorInput } from "../io/conv.js";
import type { MatrixInput } from "../linalg/matrix.js";
import { asMatrix } from "../linalg/matrix.js";
import { createNRCAccumulator, type AccumulatorBatch } from "../engine/accumulator.js";
import type { NRCReport, Preset } from "../engine/report.js";
import { appendGraphOutputs, decodeModel, DTYPE_NAMES, type ModelProto } from "./proto.js";
import { analyseGraph, type GraphInfo, type LayerFilter, type ONNXLayer } from "./graph.js";

export type { ONNXLayerInfo, ONNXLayer, LayerFilter, GraphInfo } from "./graph.js";

/** An ONNX model: a file path (Node), or the file's bytes. */
export type ONNXModelSource = string | Uint8Array | ArrayBuffer;

/** A model input: a `{ data, shape }` tensor, or an N×d matrix for a 2-D input. */
export type ONNXInput = TensorInput | MatrixInput;

/** Options shared by {@link captureONNX} and {@link measureONNX}. */
export interface CaptureONNXOptions {
  /** The model: a path (Node; external data files are read from its folder) or its bytes. */
  model: ONNXModelSource;
  /**
   * The inputs, first dimension = samples: one tensor for a single-input model, or an object
   * mapping each input's name to its tensor. Converted to the input's element type.
   */
  inputs: ONNXInput | Readonly<Record<string, ONNXInput>>;
  /** N×q targets (rows = the inputs' first dimension). */
  targets: MatrixInput;
  /** Which linear maps: an exact node name, a list of names, or a RegExp (default: all). */
  layers?: LayerFilter;
  /** Samples per model run (default: 1024 dense; fewer for conv models, ~32 MiB of features). */
  batchRows?: number;
  /** External data files by location (when `model` is bytes). */
  externalData?: Readonly<Record<string, Uint8Array>>;
  /** Called after each batch with (samples done, total samples). */
  onProgress?: (done: number, total: number) => void;
}

/** Arguments of {@link measureONNX}. */
export interface MeasureONNXOptions extends CaptureONNXOptions {
  /** Signal dimension (default q). */
  t?: number;
  /** Intrinsic dimension r. */
  r?: number;
  /** `paper` (default) or `reference-code`. */
  preset?: Preset;
  /** The model's train MSE. */
  modelMSE?: number;
  /** NRC1 threshold for "collapsed" (default 0.01). */
  collapseThreshold?: number;
  /** Backend for the metrics (as `measureNRC`). */
  backend?: BackendOption;
}

/** The report of {@link measureONNX}: `measureNRC`'s, plus what was found in the model. */
export interface ONNXReport extends NRCReport {
  model: {
    /** The linear maps measured, in graph order (same order as `layers`). */
    layers: Omit<ONNXLayer, "weight">[];
    /** Layers measured without NRC3, and other notes. */
    notes: string[];
    opset: number;
    producer: string;
  };
}

/** What {@link captureONNX} returns. */
export interface ONNXCapture {
  /** The linear maps, in graph order. */
  layers: Omit<ONNXLayer, "weight">[];
  /** Their weights (out×in, or conv filters OIHW), null where not a constant. */
  weights: (Mat | TensorInput | null)[];
  /** Their names. */
  names: string[];
  /** Samples N. */
  samples: number;
  /** Notes (layers without a constant weight). */
  notes: string[];
  opset: number;
  producer: string;
  /** Runs the model batch by batch; each call a fresh pass over all samples. */
  batches(): AsyncGenerator<AccumulatorBatch>;
  /** Releases the ONNX Runtime session. */
  close(): Promise<void>;
}

/* ------------------------------------------------------------------ model bytes */

type NodeFs = typeof import("node:fs/promises");
type NodePath = typeof import("node:path");

/**
 * Node's fs and path, imported through a variable so that browser bundlers leave them alone
 * (only a model given as a path needs them).
 */
async function nodeModules(): Promise<{ fs: NodeFs; path: NodePath }> {
  const fsSpec = "node:fs/promises";
  const pathSpec = "node:path";
  const fs = (await import(/* @vite-ignore */ /* webpackIgnore: true */ fsSpec)) as NodeFs;
  const path = (await import(/* @vite-ignore */ /* webpackIgnore: true */ pathSpec)) as NodePath;
  return { fs, path };
}

async function modelBytes(
  fn: string,
  model: unknown,
): Promise<{ bytes: Uint8Array; dir: string | null }> {
  if (typeof model === "string") {
    let fs: NodeFs;
    let path: NodePath;
    try {
      ({ fs, path } = await nodeModules());
    } catch {
      throw new NRCInputError(
        fn,
        "model",
        "a model path needs Node; in a browser pass the file's bytes",
      );
    }
    try {
      const b = await fs.readFile(model);
      return {
        bytes: new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
        dir: path.dirname(model),
      };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new NRCInputError(
        fn,
        "model",
        `cannot read model file ${model}: ${code === "ENOENT" ? "no such file" : (e as Error).message}`,
      );
    }
  }
  if (model instanceof Uint8Array) return { bytes: model, dir: null };
  if (model instanceof ArrayBuffer) return { bytes: new Uint8Array(model), dir: null };
  throw new NRCInputError(
    fn,
    "model",
    `model must be a file path, a Uint8Array or an ArrayBuffer; got ${model === null ? "null" : typeof model}`,
  );
}

/** External data files the model references (location → bytes). */
async function externalFiles(
  fn: string,
  m: ModelProto,
  dir: string | null,
  given: Readonly<Record<string, Uint8Array>> | undefined,
): Promise<Map<string, Uint8Array>> {
  const locs = new Set<string>();
  for (const t of m.graph?.initializer ?? [])
    if (t.dataLocation === 1)
      for (const e of t.externalData ?? []) if (e.key === "location" && e.value) locs.add(e.value);
  const out = new Map<string, Uint8Array>();
  for (const loc of locs) {
    if (given && given[loc]) {
      out.set(loc, given[loc]);
      continue;
    }
    if (dir === null)
      throw new NRCInputError(
        fn,
        "externalData",
        `the model keeps tensors in the external data file '${loc}'; pass the model as a file path (Node) or externalData: { "${loc}": bytes }`,
      );
    if (loc.includes("..") || loc.startsWith("/") || /^[a-zA-Z]:/.test(loc))
      throw new NRCInputError(
        fn,
        "model",
        `external data location '${loc}' leaves the model's folder; refusing to read it`,
      );
    const { fs, path } = await nodeModules();
    try {
      const b = await fs.readFile(path.join(dir, loc));
      out.set(loc, new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    } catch {
      throw new NRCInputError(
        fn,
        "model",
        `the model keeps tensors in the external data file '${loc}', which is not in ${dir}`,
      );
    }
  }
  return out;
}

function externalReader(fn: string, files: Map<string, Uint8Array>) {
  return (loc: string, offset: number, length: number): Uint8Array => {
    const b = files.get(loc);
    if (!b) throw new NRCInputError(fn, "model", `external data file '${loc}' is missing`);
    const end = length < 0 ? b.length : offset + length;
    if (offset < 0 || end > b.length)
      throw new NRCInputError(
        fn,
        "model",
        `external data file '${loc}' holds ${b.length} bytes; a tensor reads bytes ${offset}–${end}`,
      );
    return b.subarray(offset, end);
  };
}

/**
 * Lists the linear maps of an ONNX model (name, op, in → out, weight shape) without running it.
 * @param model - A file path (Node) or the file's bytes.
 * @param layers - Optional filter (name, names, or RegExp).
 * @returns The maps in graph order, with the model's opset and producer.
 * @throws NRCInputError when the bytes are not an ONNX model, or on an unsupported linear op.
 * @example
 * ```ts
 * import { listONNXLayers } from "deep-nrc/onnx";
 * const { layers } = await listONNXLayers("model.onnx");
 * for (const l of layers) console.log(l.name, l.op, `${l.inDim} → ${l.outDim}`);
 * ```
 */
export async function listONNXLayers(
  model: ONNXModelSource,
  layers?: LayerFilter,
): Promise<{
  layers: Omit<ONNXLayer, "weight">[];
  inputs: GraphInfo["inputs"];
  opset: number;
  producer: string;
}> {
  const fn = "listONNXLayers";
  checkFilter(fn, layers);
  const { bytes } = await modelBytes(fn, model);
  const m = await decodeModel(fn, bytes);
  const g = analyseGraph(fn, m, layers, undefined, false);
  return {
    layers: g.layers.map(stripWeight),
    inputs: g.inputs,
    opset: g.opset,
    producer: g.producer,
  };
}

function stripWeight(l: ONNXLayer): Omit<ONNXLayer, "weight"> {
  const { weight: _w, ...rest } = l;
  return rest;
}

function checkFilter(fn: string, f: unknown): void {
  if (f === undefined || typeof f === "string" || f instanceof RegExp) return;
  if (Array.isArray(f) && f.every((s) => typeof s === "string")) return;
  throw new NRCInputError(
    fn,
    "layers",
    `layers must be a node name, an array of names or a RegExp; got ${typeof f}`,
  );
}

/* ------------------------------------------------------------------ inputs */

interface FeedSpec {
  name: string;
  elemType: number;
  shape: number[];
  data: ArrayLike<number>;
  /** Elements per sample. */
  stride: number;
}

const FLOAT_TYPES = new Set([1, 10, 11]);
const INT_TYPES = new Set([6, 7]);

function normaliseInput(
  fn: string,
  arg: string,
  x: unknown,
): { data: ArrayLike<number>; shape: number[] } {
  if (x !== null && typeof x === "object" && Array.isArray((x as TensorInput).shape)) {
    const t = x as TensorInput;
    const shape = [...t.shape];
    if (!shape.every((v) => Number.isInteger(v) && v >= 1))
      throw new NRCInputError(
        fn,
        arg,
        `${arg}.shape must be positive integers; got [${shape.join(", ")}]`,
      );
    const n = shape.reduce((a, b) => a * b, 1);
    const d = t.data as ArrayLike<number> | undefined;
    if (d == null || typeof d.length !== "number" || d.length !== n)
      throw new NRCInputError(
        fn,
        arg,
        `${arg}.data must hold ${shape.join("·")} = ${n} values for shape [${shape.join(", ")}]; got ${d == null ? "none" : d.length}`,
      );
    for (let i = 0; i < n; i++)
      if (typeof d[i] !== "number" || !Number.isFinite(d[i]))
        throw new NRCInputError(
          fn,
          arg,
          `${arg}.data must hold finite numbers; got ${String(d[i])} at flat index ${i}`,
        );
    return { data: d, shape };
  }
  const m = asMatrix(fn, arg, x);
  return { data: m.data, shape: [m.rows, m.cols] };
}

function feedSpecs(fn: string, g: GraphInfo, inputs: unknown): FeedSpec[] {
  if (g.inputs.length === 0)
    throw new NRCInputError(
      fn,
      "model",
      "the model has no inputs (every graph input is an initializer)",
    );
  let byName: Record<string, unknown>;
  const isTensorLike = (v: unknown) =>
    v !== null &&
    typeof v === "object" &&
    (Array.isArray(v) || Array.isArray((v as TensorInput).shape) || "rows" in (v as object));
  if (isTensorLike(inputs)) {
    if (g.inputs.length !== 1)
      throw new NRCInputError(
        fn,
        "inputs",
        `the model has ${g.inputs.length} inputs (${g.inputs.map((i) => i.name).join(", ")}); pass inputs as { name: tensor }`,
      );
    byName = { [g.inputs[0].name]: inputs };
  } else if (inputs !== null && typeof inputs === "object")
    byName = inputs as Record<string, unknown>;
  else
    throw new NRCInputError(
      fn,
      "inputs",
      `inputs must be a tensor { data, shape }, a matrix, or { name: tensor }; got ${String(inputs)}`,
    );
  const extra = Object.keys(byName).filter((k) => !g.inputs.some((i) => i.name === k));
  if (extra.length)
    throw new NRCInputError(
      fn,
      "inputs",
      `inputs names ${extra.join(", ")}, which the model has not; its inputs: ${g.inputs.map((i) => i.name).join(", ")}`,
    );
  return g.inputs.map((spec) => {
    const arg = `inputs.${spec.name}`;
    if (!(spec.name in byName))
      throw new NRCInputError(
        fn,
        "inputs",
        `inputs has no tensor for the model's input '${spec.name}'`,
      );
    const { data, shape } = normaliseInput(fn, arg, byName[spec.name]);
    const et = spec.elemType;
    if (!FLOAT_TYPES.has(et) && !INT_TYPES.has(et))
      throw new NRCInputError(
        fn,
        arg,
        `the model's input '${spec.name}' has element type ${DTYPE_NAMES[et] ?? et}; deep-nrc feeds float16/float32/float64/int32/int64 inputs`,
      );
    if (INT_TYPES.has(et))
      for (let i = 0; i < data.length; i++)
        if (!Number.isSafeInteger(data[i]))
          throw new NRCInputError(
            fn,
            arg,
            `the model's input '${spec.name}' is ${DTYPE_NAMES[et]}; got the non-integer ${data[i]} at flat index ${i}`,
          );
    const want = spec.dims;
    const mismatch =
      want.length !== shape.length ||
      want.some((d, i) => i > 0 && typeof d === "number" && d !== shape[i]);
    if (mismatch)
      throw new NRCInputError(
        fn,
        arg,
        `the model's input '${spec.name}' has shape [${want.map((d) => d ?? "?").join(", ")}] (${DTYPE_NAMES[et]}); got a tensor of shape [${shape.join(", ")}]`,
      );
    return {
      name: spec.name,
      elemType: et,
      shape,
      data,
      stride: shape.slice(1).reduce((a, b) => a * b, 1),
    };
  });
}

/* ------------------------------------------------------------------ float16 */

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/**
 * float64 → float16 bits, rounded to nearest even from the value's float32 rounding (exact for
 * values that are float16 or float32 already, e.g. read from a float16 .npy; a float64 within
 * float32 rounding of a float16 tie may round the other way).
 */
function toHalfBits(v: number): number {
  F32[0] = v;
  const x = U32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h; // a carry into the exponent is the correct result (up to infinity)
}

/* ------------------------------------------------------------------ runtime */

type Ort = typeof import("onnxruntime-web");
type OrtSession = import("onnxruntime-web").InferenceSession;
type OrtTensor = import("onnxruntime-web").Tensor;

async function loadOrt(fn: string): Promise<Ort> {
  try {
    const m = (await import("onnxruntime-web")) as Ort & { default?: Ort };
    const ort = (m.InferenceSession ? m : m.default) as Ort;
    const isNode = typeof process !== "undefined" && !!process.versions?.node;
    // Worker threads of the WASM build are for browsers; in Node one thread avoids them.
    if (isNode && !ort.env.wasm.numThreads) ort.env.wasm.numThreads = 1;
    return ort;
  } catch (e) {
    throw new NRCInputError(
      fn,
      "model",
      `running ONNX models needs the optional package onnxruntime-web (npm i onnxruntime-web protobufjs): ${(e as Error).message}`,
    );
  }
}

function makeFeed(ort: Ort, f: FeedSpec, start: number, end: number): OrtTensor {
  const n = end - start;
  const lo = start * f.stride;
  const len = n * f.stride;
  const shape = [n, ...f.shape.slice(1)];
  const src = f.data;
  switch (f.elemType) {
    case 1: {
      const a = new Float32Array(len);
      for (let i = 0; i < len; i++) a[i] = src[lo + i];
      return new ort.Tensor("float32", a, shape);
    }
    case 11: {
      const a = new Float64Array(len);
      for (let i = 0; i < len; i++) a[i] = src[lo + i];
      return new ort.Tensor("float64", a, shape);
    }
    case 10: {
      const a = new Uint16Array(len);
      for (let i = 0; i < len; i++) a[i] = toHalfBits(src[lo + i]);
      return new ort.Tensor("float16", a, shape);
    }
    case 6: {
      const a = new Int32Array(len);
      for (let i = 0; i < len; i++) a[i] = src[lo + i];
      return new ort.Tensor("int32", a, shape);
    }
    default: {
      const a = new BigInt64Array(len);
      for (let i = 0; i < len; i++) a[i] = BigInt(src[lo + i]);
      return new ort.Tensor("int64", a, shape);
    }
  }
}

function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** An ORT tensor's values as float64 (float16 decoded). */
function values(fn: string, name: string, t: { type: string; data: unknown }): Float64Array {
  const d = t.data as ArrayLike<number>;
  if (t.type === "float16") {
    // Float16Array (newer runtimes) reads values; Uint16Array holds bit patterns.
    if (d instanceof Uint16Array) {
      const out = new Float64Array(d.length);
      for (let i = 0; i < d.length; i++) out[i] = halfToNumber(d[i]);
      return out;
    }
    return Float64Array.from(d);
  }
  if (t.type === "float32" || t.type === "float64") return Float64Array.from(d);
  throw new NRCInputError(
    fn,
    "model",
    `the features '${name}' are ${t.type}; deep-nrc reads float tensors`,
  );
}

/** One layer's features from its ORT tensor, in deep-nrc's layouts. */
function layerFeatures(
  fn: string,
  l: ONNXLayer,
  t: { type: string; data: unknown; dims: readonly number[] },
  rows: number,
): Mat | TensorInput {
  const dims = [...t.dims];
  const v = values(fn, l.input, t);
  const where = `layer '${l.name}' (${l.op}) reads '${l.input}' of shape [${dims.join(", ")}]`;
  if (l.op === "Conv") {
    if (dims.length === 3) return { data: v, shape: [dims[0], dims[1], dims[2], 1] };
    if (dims.length !== 4) throw new NRCInputError(fn, "model", `${where}; expected N×C×h×w`);
    return { data: v, shape: dims };
  }
  if (dims.length === 2) {
    if (l.transA) {
      const [k, m] = dims;
      const out = new Float64Array(m * k);
      for (let i = 0; i < k; i++) for (let j = 0; j < m; j++) out[j * k + i] = v[i * m + j];
      if (m !== rows)
        throw new NRCInputError(
          fn,
          "model",
          `${where} (transA) whose ${m} columns are not the batch's ${rows} samples`,
        );
      return { rows: m, cols: k, data: out };
    }
    if (dims[0] !== rows)
      throw new NRCInputError(
        fn,
        "model",
        `${where}, whose ${dims[0]} rows are not the batch's ${rows} samples`,
      );
    return { rows: dims[0], cols: dims[1], data: v };
  }
  if (dims.length >= 3 && l.op === "MatMul") {
    // N×…×d: every position a sample, like a conv's pixels → N×d×P×1.
    const n = dims[0];
    const d = dims[dims.length - 1];
    const p = v.length / (n * d);
    if (n !== rows)
      throw new NRCInputError(
        fn,
        "model",
        `${where}, whose first dimension is not the batch's ${rows} samples`,
      );
    const out = new Float64Array(v.length);
    for (let s = 0; s < n; s++)
      for (let q = 0; q < p; q++)
        for (let c = 0; c < d; c++) out[(s * d + c) * p + q] = v[(s * p + q) * d + c];
    return { data: out, shape: [n, d, p, 1] };
  }
  throw new NRCInputError(fn, "model", `${where}; expected a matrix (samples × features)`);
}

function checkBatchRows(fn: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1)
    throw new NRCInputError(fn, "batchRows", `batchRows must be an integer ≥ 1; got ${String(v)}`);
  return v;
}

/**
 * Opens an ONNX model for streaming capture: finds its linear maps, starts ONNX Runtime (WASM,
 * graph optimisations off) with their inputs added as outputs, and returns the weights and a
 * re-iterable stream of {@link AccumulatorBatch}es (features of every layer + targets).
 * @param options - `model`, `inputs`, `targets`, optional `layers`, `batchRows`, `externalData`, `onProgress`.
 * @returns An {@link ONNXCapture}; call `close()` when done.
 * @throws NRCInputError: not an ONNX file, unsupported op/opset (naming the node), input shape or
 *   element type that does not match the model's, targets with another row count, a missing
 *   external data file, a filter that matches nothing, or a missing optional package.
 * @example
 * ```ts
 * import { createNRCAccumulator } from "deep-nrc";
 * import { captureONNX } from "deep-nrc/onnx";
 * const cap = await captureONNX({ model: "model.onnx", inputs: { data: x, shape: [N, 8] }, targets: y });
 * const acc = createNRCAccumulator({ weights: cap.weights, names: cap.names });
 * await acc.addAll(cap.batches());
 * const report = await acc.finalize();
 * await cap.close();
 * ```
 */
export async function captureONNX(options: CaptureONNXOptions): Promise<ONNXCapture> {
  return openCapture("captureONNX", options);
}

async function openCapture(fn: string, options: CaptureONNXOptions): Promise<ONNXCapture> {
  if (options === null || typeof options !== "object")
    throw new NRCInputError(fn, "options", "options must be { model, inputs, targets, … }");
  checkFilter(fn, options.layers);
  const batchOpt = checkBatchRows(fn, options.batchRows);
  if (options.onProgress !== undefined && typeof options.onProgress !== "function")
    throw new NRCInputError(fn, "onProgress", "onProgress must be a function");
  const { bytes, dir } = await modelBytes(fn, options.model);
  const proto = await decodeModel(fn, bytes);
  const files = await externalFiles(fn, proto, dir, options.externalData);
  const g = analyseGraph(fn, proto, options.layers, externalReader(fn, files));
  if (g.layers.length === 0)
    throw new NRCInputError(
      fn,
      "model",
      "the model has no linear map (Gemm, MatMul with a constant weight, Conv)",
    );
  const feeds = feedSpecs(fn, g, options.inputs);
  const N = feeds[0].shape[0];
  for (const f of feeds)
    if (f.shape[0] !== N)
      throw new NRCInputError(
        fn,
        "inputs",
        `every input must have the same number of samples; '${feeds[0].name}' has ${N}, '${f.name}' ${f.shape[0]}`,
      );
  const y = asMatrix(fn, "targets", options.targets);
  if (y.rows !== N)
    throw new NRCInputError(
      fn,
      "targets",
      `targets must have one row per sample (${N}, the inputs' first dimension); got ${y.rows}×${y.cols}`,
    );
  // A model with a fixed batch dimension runs in batches of exactly that size.
  const fixed = g.inputs.map((i) => i.dims[0]).find((d): d is number => typeof d === "number");
  let batchRows: number;
  if (fixed !== undefined) {
    if (batchOpt !== undefined && batchOpt !== fixed)
      throw new NRCInputError(
        fn,
        "batchRows",
        `the model's batch dimension is fixed at ${fixed}; got batchRows ${batchOpt}`,
      );
    if (N % fixed !== 0)
      throw new NRCInputError(
        fn,
        "inputs",
        `the model's batch dimension is fixed at ${fixed}, and ${N} samples are not a multiple of it`,
      );
    batchRows = fixed;
  } else {
    const perRow = g.layers.reduce((s, l) => s + (l.kind === "conv" ? 64 : 1) * (l.inDim ?? 64), 0);
    batchRows = batchOpt ?? Math.max(16, Math.min(1024, Math.floor((32 * 2 ** 20) / (8 * perRow))));
  }
  const ort = await loadOrt(fn);
  const graphInputs = new Set(g.inputs.map((i) => i.name));
  const fetch = [...new Set(g.layers.map((l) => l.input).filter((n) => !graphInputs.has(n)))];
  const existingOutputs = new Set((proto.graph?.output ?? []).map((o) => o.name));
  const withOutputs = await appendGraphOutputs(
    fn,
    bytes,
    fetch.filter((n) => !existingOutputs.has(n)),
  );
  let session: OrtSession;
  try {
    session = await ort.InferenceSession.create(withOutputs, {
      executionProviders: ["wasm"],
      graphOptimizationLevel: "disabled",
      ...(files.size ? { externalData: [...files].map(([path, data]) => ({ path, data })) } : {}),
    });
  } catch (e) {
    throw new NRCInputError(
      fn,
      "model",
      `ONNX Runtime cannot load the model: ${(e as Error).message}`,
    );
  }
  const notes = g.layers.filter((l) => l.note).map((l) => l.note!);
  let closed = false;
  async function* batches(): AsyncGenerator<AccumulatorBatch> {
    for (let start = 0; start < N; start += batchRows) {
      if (closed) throw new NRCInputError(fn, "capture", "the capture was closed");
      const end = Math.min(N, start + batchRows);
      const feedMap: Record<string, OrtTensor> = {};
      for (const f of feeds) feedMap[f.name] = makeFeed(ort, f, start, end);
      let out: Record<string, OrtTensor>;
      try {
        // Only graph inputs wanted (e.g. a first-layer filter): nothing to run.
        out = fetch.length
          ? ((await session.run(feedMap, fetch)) as Record<string, OrtTensor>)
          : {};
      } catch (e) {
        throw new NRCInputError(
          fn,
          "inputs",
          `ONNX Runtime failed on samples ${start}–${end - 1}: ${(e as Error).message}`,
        );
      }
      const features = g.layers.map((l) =>
        layerFeatures(fn, l, out[l.input] ?? feedMap[l.input], end - start),
      );
      for (const t of Object.values(out)) t.dispose?.();
      const targets: Mat = {
        rows: end - start,
        cols: y.cols,
        data: y.data.subarray(start * y.cols, end * y.cols),
      };
      yield { features, targets };
      options.onProgress?.(end, N);
    }
  }
  return {
    layers: g.layers.map(stripWeight),
    weights: g.layers.map((l) => l.weight),
    names: g.layers.map((l) => l.name),
    samples: N,
    notes,
    opset: g.opset,
    producer: g.producer,
    batches,
    close: async () => {
      if (closed) return;
      closed = true;
      await session.release();
    },
  };
}

/**
 * Measures every Deep Neural Regression Collapse condition (Rangamani & Unal 2026) of a model
 * straight from its ONNX file: NRC1–NRC4 and stable ranks per linear map, whose features are the
 * map's input as ONNX Runtime computes it, streamed in `batchRows` batches (memory O(batch + d²)
 * per layer).
 * @param options - `model` (path or bytes), `inputs`, `targets`; optional `layers`, `t`, `r`,
 *   `preset`, `batchRows`, `backend`, `modelMSE`, `collapseThreshold`, `onProgress`.
 * @returns `measureNRC`'s report (equal to it on the same features), plus `model`: the layers found
 *   and notes (e.g. a layer whose weight is computed in the graph is measured without NRC3).
 * @throws NRCInputError as {@link captureONNX}.
 * @example
 * ```ts
 * import { measureONNX } from "deep-nrc/onnx";
 * const report = await measureONNX({
 *   model: "model.onnx",
 *   inputs: { data: x, shape: [N, 8] }, // Float32Array x, N samples
 *   targets: { rows: N, cols: 3, data: y },
 * });
 * console.log(report.layers.map((l) => [l.name, l.nrc1]));
 * ```
 */
export async function measureONNX(options: MeasureONNXOptions): Promise<ONNXReport> {
  const fn = "measureONNX";
  const cap = await openCapture(fn, options);
  try {
    const acc = createNRCAccumulator({
      weights: cap.weights,
      names: cap.names,
      t: options.t,
      r: options.r,
      preset: options.preset,
      modelMSE: options.modelMSE,
      collapseThreshold: options.collapseThreshold,
      backend: options.backend,
    });
    try {
      await acc.addAll(cap.batches());
      const report = await acc.finalize();
      return {
        ...report,
        model: { layers: cap.layers, notes: cap.notes, opset: cap.opset, producer: cap.producer },
      };
    } finally {
      await acc.dispose();
    }
  } finally {
    await cap.close();
  }
}
