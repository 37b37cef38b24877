/**
 * {@link measureONNX} and {@link accumulateONNX}: a model's capture ({@link captureONNX}) streamed
 * into an accumulator — finalised into the report, or kept for a state file (shards).
 * @module
 */
import { createNRCAccumulator, type NRCAccumulator } from "../engine/accumulator.js";
import { pickNRCOptions, type NRCOptions } from "../engine/options.js";
import type { NRCReport } from "../engine/report.js";
import { foldingNote } from "./batchnorm.js";
import { openCapture, type CaptureONNXOptions, type ONNXCapturedLayer } from "./capture.js";

/** Arguments of {@link measureONNX}. */
export interface MeasureONNXOptions extends CaptureONNXOptions, NRCOptions {}

/** Arguments of {@link accumulateONNX}: {@link MeasureONNXOptions} and the accumulator's NRC4 mode. */
export interface AccumulateONNXOptions extends MeasureONNXOptions {
  /** The accumulator's NRC4 mode (default `"tsqr"`: one pass, states merge). */
  nrc4?: "tsqr";
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
    /** The runtime that computed the features, e.g. `onnxruntime-node 1.31.1`. */
    runtime: string;
    /**
     * The weights are the file's tensors; this says when a Conv's filters may have BatchNorm
     * folded in (see `batchnorm.ts`), else null.
     */
    weightsNote: string | null;
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
  const { accumulator: acc, model } = await accumulateONNX(options, "measureONNX");
  try {
    const report = await acc.finalize();
    // A MatMul read as a conv is one on N×…×d inputs: its positions (tokens) are the samples.
    report.layers.forEach((l, i) => {
      if (l.kind === "conv" && model.layers[i].op === "MatMul") l.kind = "token";
    });
    return { ...report, model };
  } finally {
    await acc.dispose();
  }
}

/**
 * Runs the model on the samples given and accumulates every linear map's statistics, without
 * finalising: the accumulator can be written as a state file (`toSafetensors`, `writeStateFile`)
 * and merged with other shards' into the one-pass report (`deep-nrc accumulate model.onnx`).
 * @param options - as {@link measureONNX}.
 * @param fn - the public function named in errors (default `accumulateONNX`).
 * @returns the accumulator (call `dispose()` when done) and what {@link measureONNX} reports as
 *   `model`.
 * @throws NRCInputError as {@link captureONNX}, and for bad metric options.
 * @example
 * ```ts
 * import { accumulateONNX } from "deep-nrc/onnx";
 * import { writeStateFile } from "deep-nrc/node";
 * const { accumulator } = await accumulateONNX({ model: "model.onnx", inputs: part, targets: yPart });
 * await writeStateFile("shard-3.nrc.safetensors", accumulator);
 * await accumulator.dispose();
 * ```
 */
export async function accumulateONNX(
  options: AccumulateONNXOptions,
  fn = "accumulateONNX",
): Promise<{ accumulator: NRCAccumulator; model: ONNXReport["model"] }> {
  const cap = await openCapture(fn, options);
  try {
    const acc = createNRCAccumulator({
      weights: cap.weights,
      names: cap.names,
      // float32 features arrive as Float32Array (precision read off them); a float16 model's
      // are decoded into float32 exactly, so its precision is said here.
      ...pickNRCOptions(options),
      featurePrecision: options.featurePrecision ?? cap.featurePrecision,
      nrc4: "tsqr",
      ...(options.debiased ? { debiased: true } : {}),
    });
    try {
      await acc.addAll(cap.batches());
    } catch (e) {
      await acc.dispose();
      throw e;
    }
    return {
      accumulator: acc,
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
    await cap.close();
  }
}
