/**
 * Streaming capture: ONNX Runtime runs the model batch by batch with the linear maps' inputs
 * exposed as outputs, and each layer's features are read into deep-nrc's layouts; plus
 * {@link measureONNX}, which feeds that stream to an accumulator.
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { Mat, MatF32 } from "../backends/types.js";
import type { TensorInput } from "../io/conv.js";
import { asMatrix, type MatrixInput } from "../linalg/matrix.js";
import type { AccumulatorBatch } from "../engine/accumulator.js";
import { decodeModel } from "./proto.js";
import { appendGraphOutputs } from "./expose-outputs.js";
import {
  analyseGraph,
  checkFilter,
  stripWeight,
  type LayerFilter,
  type ONNXLayer,
} from "./linear-maps.js";
import { modelBytes, type ONNXModelSource } from "./model-bytes.js";
import { openExternalData } from "./external-data.js";
import { checkRuntimeOption, loadRuntime, openSession, type RuntimeOption } from "./ort-runtime.js";
import { PROBE_ROWS, throughputRows } from "./batching.js";
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
  /**
   * Samples per model run. Default: sized for throughput after the first run measures the
   * features (≤ 64 MiB of them per run, ≥ 512 samples where that fits, and enough rows per
   * layer that the accumulator's per-call cost stays small; see `batching.ts`).
   */
  batchRows?: number;
  /**
   * Which ONNX Runtime runs the model: `"auto"` (default: onnxruntime-node in Node when it is
   * installed — native, multi-threaded — else onnxruntime-web's WebAssembly build),
   * `"onnxruntime-node"` or `"onnxruntime-web"`. The report names the one that ran.
   */
  runtime?: RuntimeOption;
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

/** {@link captureONNX} with errors naming `fn` (measureONNX, accumulateONNX). @internal */
export async function openCapture(fn: string, options: CaptureONNXOptions): Promise<ONNXCapture> {
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
  const session: OrtSession = await openSession(fn, rt, withOutputs, ext);
  ext.close(); // the weights are read; the runtime holds (or maps) what it needs
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
    (name, t) => Float64Array.from(values(fn, name, t)),
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
  /** Runs samples [start, end) and pairs every kept layer's rows with its samples. */
  async function batchOf(start: number, end: number): Promise<AccumulatorBatch> {
    const out = await run(start, end);
    const features = kept.map((l) => pairRows(fn, l, read(out, l), end - start, pairings.get(l)!));
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
    if (closed) throw new NRCInputError(fn, "capture", "the capture was closed");
    if (steady === undefined) {
      // Sized on a small run first, not handed over: the first batch the caller sees is a full
      // one (the accumulator picks its backend by the first batch's work).
      const rows = Math.min(N, PROBE_ROWS);
      sizeFrom(await batchOf(0, rows), rows);
    }
    let start = 0;
    let end = Math.min(N, steady!);
    let pending: Promise<AccumulatorBatch> | null = batchOf(start, end);
    try {
      while (pending) {
        if (closed) throw new NRCInputError(fn, "capture", "the capture was closed");
        const batch = await pending;
        pending = null;
        const done = end;
        // The next run starts before this batch is handed over: the runtime computes batch k + 1
        // while the caller accumulates batch k (onnxruntime-node runs on the main thread between
        // the accumulator's awaits, its kernels on ORT's own threads).
        if (done < N) {
          start = done;
          end = Math.min(N, done + steady!);
          pending = batchOf(start, end);
          pending.catch(() => undefined); // surfaced when awaited
        }
        yield batch;
        options.onProgress?.(done, N);
      }
    } finally {
      // A caller that stops early (break, an accumulator error) leaves the next run in flight:
      // it completes before the session can be released.
      if (pending) await pending.catch(() => undefined);
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
