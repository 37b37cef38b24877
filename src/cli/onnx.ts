/**
 * `deep-nrc measure model.onnx --inputs X.npy --targets Y.npy` and `deep-nrc layers model.onnx`:
 * the CLI side of `deep-nrc/onnx` (loaded only when a `.onnx` path is given, so the optional
 * packages onnxruntime-web and protobufjs are needed only then). Node only.
 * @module
 */
import { NRCInputError } from "../errors.js";
import { readNpy } from "../io/npy.js";
import { openFileSource } from "../node/file-source.js";
import type { Tensor } from "../io/common.js";
import type { BackendOption } from "../backends/choose.js";
import type { Preset } from "../engine/report.js";
import type { ONNXReport } from "../onnx/capture.js";

const FN = "deep-nrc measure";

/** Whether a path names an ONNX model (by its extension). */
export function isONNXPath(path: string): boolean {
  return /\.onnx$/i.test(path);
}

async function readNpyFile(path: string, flag: string, rows?: [number, number]): Promise<Tensor> {
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
    return await readNpy(src, rows ? { rows } : {});
  } finally {
    await src.close();
  }
}

async function loadONNX() {
  try {
    return await import("../onnx/capture.js");
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

/**
 * Measures an ONNX model on the samples in `--inputs` against `--targets` (both .npy, first
 * dimension = samples; `--samples n` reads only the first n rows).
 */
export async function measureONNXFile(a: ONNXMeasureArgs): Promise<ONNXReport> {
  const onnx = await loadONNX();
  const rows: [number, number] | undefined = a.samples !== undefined ? [0, a.samples] : undefined;
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
    const x = await readNpyFile(n.path, "--inputs", rows);
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
  const report = await onnx.measureONNX({
    model: a.path,
    inputs: single ?? tensors,
    targets,
    layers: a.layers,
    batchRows: a.batchRows,
    t: a.t,
    r: a.r,
    preset: a.preset,
    modelMSE: a.modelMSE,
    collapseThreshold: a.collapseThreshold,
    backend: a.backend,
    onProgress: (done, total) => a.onProgress("running the model", done, total),
  });
  for (const n of report.model.notes) a.note(`note: ${n}`);
  return report;
}
