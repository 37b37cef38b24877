/**
 * Streaming capture: ONNX Runtime runs the model batch by batch with the linear maps' inputs
 * exposed as outputs, and each layer's features are read into deep-nrc's layouts; plus
 * {@link measureONNX}, which feeds that stream to an accumulator.
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { Mat, MatF32 } from "../backends/types.js";
import type { BackendOption } from "../backends/choose.js";
import type { TensorInput } from "../io/conv.js";
import type { MatrixInput } from "../linalg/matrix.js";
import { asMatrix } from "../linalg/matrix.js";
import { createNRCAccumulator, type AccumulatorBatch } from "../engine/accumulator.js";
import type { NRCReport, Preset } from "../engine/report.js";
import { decodeModel } from "./proto.js";
import { appendGraphOutputs } from "./expose-outputs.js";
import {
  analyseGraph,
  checkFilter,
  stripWeight,
  type LayerFilter,
  type ONNXLayer,
} from "./linear-maps.js";
import { modelBytes, type ONNXModelSource } from "./load.js";
import { openExternalData } from "./external-data.js";
import {
  checkRuntimeOption,
  loadRuntime,
  openSession,
  type RuntimeName,
  type RuntimeOption,
} from "./runtime.js";
import { PROBE_ROWS, throughputRows } from "./batching.js";
import { foldingNote } from "./batchnorm.js";
import {
  feedSpecs,
  makeFeed,
  type ONNXInput,
  type Ort,
  type OrtSession,
  type OrtTensor,
} from "./feed.js";

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
  /**
   * Samples per model run. Default: sized for throughput after a first run of 8 samples measures
   * the features (≤ 96 MiB of them per run, ≥ 512 samples where that fits, and enough rows per
   * layer that the accumulator's per-call cost stays small; see `batching.ts`).
   */
  batchRows?: number;
  /**
   * Which ONNX Runtime runs the model: `"auto"` (default: onnxruntime-node in Node when it is
   * installed — native, multi-threaded — else onnxruntime-web's WebAssembly build),
   * `"onnxruntime-node"` or `"onnxruntime-web"`. The report names the one that ran.
   */
  runtime?: RuntimeOption;
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
    /** The runtime that computed the features, e.g. `onnxruntime-node 1.31.1`. */
    runtime: string;
    /**
     * The weights are the file's tensors; this says when a Conv's filters may have BatchNorm
     * folded in (see `batchnorm.ts`), else null.
     */
    weightsNote: string | null;
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
  /** The runtime running the model, e.g. `onnxruntime-node 1.31.1`. */
  runtime: string;
  /**
   * The features' precision for NRC4's cutoff: `"float16"` for a model with float16 inputs (its
   * features come decoded into float32), else `"auto"` (float32 features arrive as Float32Array).
   */
  featurePrecision: "auto" | "float16";
  /** Runs the model batch by batch; each call a fresh pass over all samples. */
  batches(): AsyncGenerator<AccumulatorBatch>;
  /** Releases the ONNX Runtime session. */
  close(): Promise<void>;
}

function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * An ORT tensor's values: float32 as given (no copy; the accumulator reads float32 rows and takes
 * their precision for NRC4's cutoff), float16 decoded into float32 (exact), float64 as given.
 */
function values(
  fn: string,
  name: string,
  t: { type: string; data: unknown },
): Float32Array | Float64Array {
  const d = t.data as ArrayLike<number>;
  if (t.type === "float16") {
    // Float16Array (newer runtimes) reads values; Uint16Array holds bit patterns.
    if (d instanceof Uint16Array) {
      const out = new Float32Array(d.length);
      for (let i = 0; i < d.length; i++) out[i] = halfToNumber(d[i]);
      return out;
    }
    return Float32Array.from(d);
  }
  if (t.type === "float32") return d instanceof Float32Array ? d : Float32Array.from(d);
  if (t.type === "float64") return d instanceof Float64Array ? d : Float64Array.from(d);
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
): Mat | MatF32 | TensorInput {
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
    return { rows: dims[0], cols: dims[1], data: v } as Mat | MatF32;
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
  const runtimeOpt = checkRuntimeOption(fn, options.runtime);
  const { bytes } = await modelBytes(fn, options.model);
  const proto = await decodeModel(fn, bytes);
  const ext = await openExternalData(
    fn,
    proto,
    typeof options.model === "string" ? options.model : null,
    options.externalData,
  );
  try {
    return await startCapture(fn, options, bytes, proto, ext, batchOpt, runtimeOpt);
  } catch (e) {
    ext.close();
    throw e;
  }
}

async function startCapture(
  fn: string,
  options: CaptureONNXOptions,
  bytes: Uint8Array,
  proto: Awaited<ReturnType<typeof decodeModel>>,
  ext: Awaited<ReturnType<typeof openExternalData>>,
  batchOpt: number | undefined,
  runtimeOpt: RuntimeOption,
): Promise<ONNXCapture> {
  const g = analyseGraph(fn, proto, options.layers, ext.read);
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
  let batchRows: number | undefined;
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
  } else batchRows = batchOpt;
  const rt = await loadRuntime(fn, runtimeOpt);
  const ort = rt.ort;
  const graphInputs = new Set(g.inputs.map((i) => i.name));
  const fetch = [...new Set(g.layers.map((l) => l.input).filter((n) => !graphInputs.has(n)))];
  const existingOutputs = new Set((proto.graph?.output ?? []).map((o) => o.name));
  const withOutputs = await appendGraphOutputs(
    fn,
    bytes,
    fetch.filter((n) => !existingOutputs.has(n)),
  );
  const session: OrtSession = await openSession(fn, rt, withOutputs, ext);
  ext.close(); // the weights are read; the runtime holds (or maps) what it needs
  const notes = g.layers.filter((l) => l.note).map((l) => l.note!);
  let closed = false;
  /** Runs samples [start, end) and reads every layer's features. */
  async function run(start: number, end: number): Promise<AccumulatorBatch> {
    const feedMap: Record<string, OrtTensor> = {};
    for (const f of feeds) feedMap[f.name] = makeFeed(ort, f, start, end);
    let out: Record<string, OrtTensor>;
    try {
      // Only graph inputs wanted (e.g. a first-layer filter): nothing to run.
      out = fetch.length ? ((await session.run(feedMap, fetch)) as Record<string, OrtTensor>) : {};
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
    const targets: Mat = {
      rows: end - start,
      cols: y.cols,
      data: y.data.subarray(start * y.cols, end * y.cols),
    };
    return { features, targets };
  }
  /** Samples per run after the first: given, fixed, or measured on the first batch. */
  let steady = batchRows;
  const sizeFrom = (b: AccumulatorBatch, rows: number) => {
    if (steady !== undefined) return;
    let bytes = 0;
    const layers = b.features.map((f) => {
      const data = (f as { data: ArrayLike<number> & { byteLength?: number } }).data;
      bytes += data.byteLength ?? data.length * 8;
      const shape = (f as TensorInput).shape;
      if (shape) return { d: shape[1], positions: shape.slice(2).reduce((a, c) => a * c, 1) };
      const m = f as Mat;
      return { d: m.cols, positions: m.rows / rows };
    });
    steady = throughputRows({ bytesPerSample: bytes / rows, layers, q: y.cols });
  };
  async function* batches(): AsyncGenerator<AccumulatorBatch> {
    let start = 0;
    let end = Math.min(N, steady ?? PROBE_ROWS);
    let pending: Promise<AccumulatorBatch> | null = run(start, end);
    while (pending) {
      if (closed) throw new NRCInputError(fn, "capture", "the capture was closed");
      const batch = await pending;
      pending = null;
      sizeFrom(batch, end - start);
      const done = end;
      // The next run starts before this batch is handed over: the runtime computes batch k + 1
      // (onnxruntime-node on its own threads) while the caller accumulates batch k.
      if (done < N) {
        start = done;
        end = Math.min(N, done + steady!);
        pending = run(start, end);
        pending.catch(() => undefined); // surfaced when awaited
      }
      yield batch;
      options.onProgress?.(done, N);
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
    runtime: `${rt.name}${rt.version ? ` ${rt.version}` : ""}`,
    featurePrecision: g.inputs.some((i) => i.elemType === 10) ? "float16" : "auto",
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
      // float32 features arrive as Float32Array (precision read off them); a float16 model's
      // are decoded into float32 exactly, so its precision is said here.
      featurePrecision: cap.featurePrecision,
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
        model: {
          layers: cap.layers,
          notes: cap.notes,
          opset: cap.opset,
          producer: cap.producer,
          runtime: cap.runtime,
          weightsNote: foldingNote(cap.layers),
        },
      };
    } finally {
      await acc.dispose();
    }
  } finally {
    await cap.close();
  }
}
