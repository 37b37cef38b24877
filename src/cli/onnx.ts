/**
 * `deep-nrc measure model.onnx --inputs X.npy --targets Y.npy`, `deep-nrc accumulate model.onnx
 * … --state s.nrc.safetensors` (one shard of the samples) and `deep-nrc layers model.onnx`:
 * the CLI side of `deep-nrc/onnx` (loaded only when a `.onnx` path is given, so the optional
 * packages onnxruntime-web and protobufjs are needed only then). Node only.
 * @module
 */
import { NRCInputError } from "../errors.js";
import { readNpy, readNpyHeader } from "../io/npy.js";
import { openFileSource } from "../node/file-source.js";
import type { Tensor } from "../io/common.js";
import type { BackendOption } from "../backends/choose.js";
import type { Preset } from "../engine/report.js";
import type { MeasureONNXOptions, ONNXReport } from "../onnx/measure-onnx.js";
import type { NRCAccumulator } from "../engine/accumulator.js";

const FN = "deep-nrc measure";
const FN_ACCUMULATE = "deep-nrc accumulate";

/** Whether a path names an ONNX model (by its extension). */
export function isONNXPath(path: string): boolean {
  return /\.onnx$/i.test(path);
}

async function readNpyFile(
  path: string,
  flag: string,
  rows?: [number, number],
  headerOnly = false,
  float32 = false,
): Promise<Pick<Tensor, "shape" | "data">> {
  if (!/\.npy$/i.test(path))
    throw new NRCInputError(FN, flag, `${flag} must be a .npy file; got ${path}`);
  let src;
  try {
    src = await openFileSource(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NRCInputError(
      FN,
      flag,
      `${flag}: cannot read ${path}: ${code === "ENOENT" ? "no such file" : (e as Error).message}`,
    );
  }
  try {
    if (headerOnly) return { shape: (await readNpyHeader(src)).shape, data: new Float64Array(0) };
    // Inputs stay float32 when stored so (half the memory; the model reads float32 anyway).
    return await readNpy(src, { ...(rows ? { rows } : {}), ...(float32 ? { float32: true } : {}) });
  } finally {
    await src.close();
  }
}

async function loadONNX() {
  try {
    return await import("../onnx/measure-onnx.js");
  } catch (e) {
    throw new NRCInputError(FN, "model", `cannot load deep-nrc/onnx: ${(e as Error).message}`);
  }
}

/** What `measure model.onnx` needs from the command line. */
export interface ONNXMeasureArgs {
  path: string;
  /** `X.npy`, or `name=X.npy` per model input. */
  inputs: readonly string[];
  targets: string;
  layers?: RegExp;
  batchRows?: number;
  samples?: number;
  t?: number;
  r?: number;
  preset: Preset;
  modelMSE?: number;
  collapseThreshold?: number;
  backend: BackendOption;
  onProgress: (label: string, done: number, total: number) => void;
  note: (s: string) => void;
}

/** The samples of `--inputs` and `--targets` (rows a … b−1 when `rows` is given). */
async function readSamples(
  a: { inputs: readonly string[]; targets: string },
  rows: [number, number] | undefined,
) {
  const named = a.inputs.map((s) => {
    const m = /^([^=]+)=(.+)$/.exec(s);
    return m && !/\.npy$/i.test(m[1]) ? { name: m[1], path: m[2] } : { name: null, path: s };
  });
  if (named.length > 1 && named.some((n) => n.name === null))
    throw new NRCInputError(
      FN,
      "--inputs",
      "with several --inputs, name each one: --inputs name=X.npy (the model's input names: deep-nrc layers model.onnx)",
    );
  const y = await readNpyFile(a.targets, "--targets", rows);
  if (y.shape.length < 1 || y.shape.length > 2)
    throw new NRCInputError(
      FN,
      "--targets",
      `--targets must be N×t (or a vector of N); got shape ${y.shape.join("×")}`,
    );
  const targets = { rows: y.shape[0], cols: y.shape[1] ?? 1, data: y.data };
  const tensors: Record<string, { data: Float64Array; shape: number[] }> = {};
  let single: { data: Float64Array; shape: number[] } | null = null;
  for (const n of named) {
    const x = await readNpyFile(n.path, "--inputs", rows, false, true);
    if (x.shape.length === 0)
      throw new NRCInputError(FN, "--inputs", `--inputs ${n.path} is a scalar; expected N×…`);
    if (x.shape[0] !== targets.rows)
      throw new NRCInputError(
        FN,
        "--targets",
        `--inputs ${n.path} has ${x.shape[0]} samples (shape ${x.shape.join("×")}) but --targets ${a.targets} has ${targets.rows} (shape ${y.shape.join("×")})`,
      );
    if (n.name === null) single = { data: x.data, shape: x.shape };
    else tensors[n.name] = { data: x.data, shape: x.shape };
  }
  return { inputs: single ?? tensors, targets };
}

/** The number of samples in a .npy file (its first dimension), read from its header. */
export async function npySamples(path: string, flag: string): Promise<number> {
  const t = await readNpyFile(path, flag, undefined, true);
  if (t.shape.length === 0)
    throw new NRCInputError(FN, flag, `${flag} ${path} is a scalar; expected N×…`);
  return t.shape[0];
}

/** The model, its samples and the metric options of a command line, as `deep-nrc/onnx` takes them. */
function onnxOptions(
  a: ONNXMeasureArgs,
  samples: Awaited<ReturnType<typeof readSamples>>,
): MeasureONNXOptions {
  return {
    model: a.path,
    ...samples,
    layers: a.layers,
    batchRows: a.batchRows,
    t: a.t,
    r: a.r,
    preset: a.preset,
    modelMSE: a.modelMSE,
    collapseThreshold: a.collapseThreshold,
    backend: a.backend,
    onProgress: (done, total) => a.onProgress("running the model", done, total),
  };
}

/**
 * Measures an ONNX model on the samples in `--inputs` against `--targets` (both .npy, first
 * dimension = samples; `--samples n` reads only the first n rows).
 */
export async function measureONNXFile(a: ONNXMeasureArgs): Promise<ONNXReport> {
  const onnx = await loadONNX();
  const rows: [number, number] | undefined = a.samples !== undefined ? [0, a.samples] : undefined;
  const report = await onnx.measureONNX(onnxOptions(a, await readSamples(a, rows)));
  for (const n of report.model.notes) a.note(`note: ${n}`);
  return report;
}

/** What `accumulate model.onnx` needs from the command line. */
export interface ONNXAccumulateArgs extends Omit<ONNXMeasureArgs, "samples"> {
  /** Samples a … b−1 of the .npy files (the shard). */
  rows: [number, number];
  /** NRC2 as debiased CKA (preset reference-code). */
  debiased?: boolean;
}

/**
 * One shard of a model measurement: runs the model on samples a … b−1 of `--inputs` and keeps
 * the statistics (exact, float64, with a TSQR factor) in an accumulator, ready to be written as a
 * state file and merged with the other shards' (`deep-nrc merge`) into the one-pass report.
 */
export async function accumulateONNXFile(a: ONNXAccumulateArgs): Promise<NRCAccumulator> {
  const onnx = await loadONNX();
  const { accumulator, model } = await onnx.accumulateONNX(
    { ...onnxOptions(a, await readSamples(a, a.rows)), ...(a.debiased ? { debiased: true } : {}) },
    FN_ACCUMULATE,
  );
  a.note(`note: features computed by ${model.runtime}`);
  for (const n of model.notes) a.note(`note: ${n}`);
  return accumulator;
}
