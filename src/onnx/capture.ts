/**
 * Streaming capture: ONNX Runtime runs the model batch by batch with the linear maps' inputs
 * exposed as outputs, and each layer's features are read into deep-nrc's layouts; plus
 * {@link measureONNX}, which feeds that stream to an accumulator.
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { Mat } from "../backends/types.js";
import type { BackendOption } from "../backends/choose.js";
import type { TensorInput } from "../io/conv.js";
import { asMatrix, type MatrixInput } from "../linalg/matrix.js";
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
import { externalFiles, externalReader, modelBytes, type ONNXModelSource } from "./model-bytes.js";
import { pairRows, rowView, type RowPairing } from "./pairing.js";
import { probeLayers } from "./probe.js";
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
  /** Samples per model run (default: 1024 dense; fewer for conv models, ~32 MiB of features). */
  batchRows?: number;
  /**
   * The axis of the samples in every input (default: 0, or the one dynamic axis of an input whose
   * first dimension is fixed, as a sequence-first L×N×… export has). Targets are always N×q.
   */
  sampleAxis?: number;
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
    layers: ONNXCapturedLayer[];
    /** Layers measured without NRC3, and other notes. */
    notes: string[];
    opset: number;
    producer: string;
  };
}

/** A linear map being measured, with how its input rows pair with the samples (proven). */
export type ONNXCapturedLayer = Omit<ONNXLayer, "weight"> & { pairing: RowPairing };

/** What {@link captureONNX} returns. */
export interface ONNXCapture {
  /** The linear maps, in graph order. */
  layers: ONNXCapturedLayer[];
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

/* ------------------------------------------------------------------ runtime */

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

function checkSampleAxis(fn: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    throw new NRCInputError(
      fn,
      "sampleAxis",
      `sampleAxis must be an integer ≥ 0; got ${String(v)}`,
    );
  return v;
}

function checkBatchRows(fn: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1)
    throw new NRCInputError(fn, "batchRows", `batchRows must be an integer ≥ 1; got ${String(v)}`);
  return v;
}

/**
 * Opens an ONNX model for streaming capture: finds its linear maps, starts ONNX Runtime (WASM,
 * graph optimisations off) with their inputs added as outputs, proves which rows of each map's
 * input belong to which sample (a probe batch and a permutation of it, see `pairing.ts`), and
 * returns the weights and a re-iterable stream of {@link AccumulatorBatch}es (features of every
 * paired layer, each row beside its sample's targets, + targets).
 * @param options - `model`, `inputs`, `targets`, optional `layers`, `batchRows`, `sampleAxis`,
 *   `externalData`, `onProgress`.
 * @returns An {@link ONNXCapture}; call `close()` when done. Its `layers` carry their `pairing`;
 *   maps whose rows could not be paired are left out and named in `notes`.
 * @throws NRCInputError: not an ONNX file, unsupported op/opset (naming the node), input shape or
 *   element type that does not match the model's, targets with another row count, a bad
 *   `sampleAxis`, no map that could be paired, a batch whose rows split otherwise than the probe
 *   batch's, a missing external data file, a filter that matches nothing, or a missing optional
 *   package.
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
  const sampleAxis = checkSampleAxis(fn, options.sampleAxis);
  const feeds = feedSpecs(fn, g, options.inputs, sampleAxis);
  const N = feeds[0].shape[feeds[0].axis];
  for (const f of feeds)
    if (f.shape[f.axis] !== N)
      throw new NRCInputError(
        fn,
        "inputs",
        `every input must have the same number of samples; '${feeds[0].name}' has ${N}, '${f.name}' ${f.shape[f.axis]}`,
      );
  const y = asMatrix(fn, "targets", options.targets);
  if (y.rows !== N)
    throw new NRCInputError(
      fn,
      "targets",
      `targets must have one row per sample (${N}, the inputs' ${feeds[0].axis === 0 ? "first dimension" : `axis ${feeds[0].axis}`}); got ${y.rows}×${y.cols}`,
    );
  // A model with a fixed batch dimension runs in batches of exactly that size.
  const fixed = g.inputs
    .map((i, k) => i.dims[feeds[k].axis])
    .find((d): d is number => typeof d === "number");
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
  const fetch = [
    ...new Set(
      g.layers
        .flatMap((l) => (l.weightFromRun ? [l.input, l.weightName] : [l.input]))
        .filter((n) => !graphInputs.has(n)),
    ),
  ];
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
  const read = (out: Record<string, OrtTensor>, l: ONNXLayer) => {
    const t = out[l.input];
    return rowView(fn, l, t.dims, values(fn, l.input, t));
  };
  const run = async (start: number, end: number, idx?: Int32Array) => {
    const feedMap: Record<string, OrtTensor> = {};
    for (const f of feeds) feedMap[f.name] = makeFeed(ort, f, start, end, idx);
    let out: Record<string, OrtTensor>;
    try {
      // Only graph inputs wanted (e.g. a first-layer filter): nothing to run.
      out = fetch.length ? ((await session.run(feedMap, fetch)) as Record<string, OrtTensor>) : {};
    } catch (e) {
      const which = idx
        ? `a permutation of samples 0–${idx.length - 1}`
        : `samples ${start}–${end - 1}`;
      throw new NRCInputError(
        fn,
        "inputs",
        `ONNX Runtime failed on ${which}: ${(e as Error).message}`,
      );
    }
    return { ...feedMap, ...out };
  };
  // Samples ↔ rows, proven (pairing.ts, probe.ts): a probe batch and a cyclic shift of it.
  const probeN = fixed ?? Math.min(N, 16);
  const probe = await probeLayers(
    g.layers,
    probeN,
    (order) => run(0, probeN, order),
    read,
    (name, t) => values(fn, name, t),
  );
  for (const t of probe.dispose) t.dispose?.();
  const pairings = probe.pairings;
  notes.push(...probe.notes);
  const kept = g.layers.filter((l) => pairings.has(l));
  if (kept.length === 0)
    throw new NRCInputError(
      fn,
      "model",
      `no linear map could be paired with the samples: ${notes.join("; ")}`,
    );
  const fetchKept = new Set(kept.map((l) => l.input));
  fetch.splice(0, fetch.length, ...fetch.filter((n) => fetchKept.has(n)));
  let closed = false;
  async function* batches(): AsyncGenerator<AccumulatorBatch> {
    for (let start = 0; start < N; start += batchRows) {
      if (closed) throw new NRCInputError(fn, "capture", "the capture was closed");
      const end = Math.min(N, start + batchRows);
      const out = await run(start, end);
      const features = kept.map((l) =>
        pairRows(fn, l, read(out, l), end - start, pairings.get(l)!),
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
    layers: kept.map((l) => ({ ...stripWeight(l), pairing: pairings.get(l)! })),
    weights: kept.map((l) => l.weight),
    names: kept.map((l) => l.name),
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
      // A MatMul read as a conv is one on N×…×d inputs: its positions (tokens) are the samples.
      report.layers.forEach((l, i) => {
        if (l.kind === "conv" && cap.layers[i].op === "MatMul") l.kind = "token";
      });
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
