/**
 * Measuring a tfjs `LayersModel` directly (`deep-nrc/tfjs`): {@link measureLayersModel} finds
 * every `Dense` and `Conv2D` layer, reads its kernel, and captures every such layer's **input**
 * with one multi-output model per batch, streamed into the accumulator.
 *
 * Layouts: a Dense kernel is stored in×out (`y = x·K`) and is transposed to out×in; a Conv2D kernel
 * is HWIO ([kh, kw, Cin, Cout]) and becomes OIHW; `channelsLast` activations (NHWC, tfjs's default)
 * become NCHW. A Dense applied to N×…×d inputs counts every position as a sample (N×d×P×1, like a
 * conv's pixels). Only the model's own layers are seen (not layers inside nested models).
 * Needs `@tensorflow/tfjs-layers` (or `@tensorflow/tfjs`), optional peers.
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { Mat } from "../backends/types.js";
import type { TensorInput } from "../io/conv.js";
import type { MatrixInput } from "../linalg/matrix.js";
import type { NRCReport } from "../engine/report.js";
import { createNRCAccumulator, type AccumulatorBatch } from "../engine/accumulator.js";
import { asMatrix } from "../linalg/matrix.js";
import { pickNRCOptions, type NRCOptions } from "../engine/options.js";
import { isTensor as isTensorLike } from "./tensors.js";

/** A tfjs tensor, structurally. */
interface TensorLike {
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly rank: number;
  data(): Promise<ArrayLike<number>>;
  dataSync(): ArrayLike<number>;
  dispose(): void;
  readonly isDisposed?: boolean;
}

/** The structural tensor check of `tensors.ts`, narrowing to this module's {@link TensorLike}. */
const isTensor = (x: unknown): x is TensorLike => isTensorLike(x);

/** A tfjs-layers layer, structurally. */
export interface LayerLike {
  readonly name: string;
  getClassName(): string;
  readonly input: unknown;
  /** The layer's variables (kernel first), read with `dataSync()`, never disposed. */
  getWeights(): { readonly shape: readonly number[]; dataSync(): ArrayLike<number> }[];
  getConfig(): Record<string, unknown>;
}

/** A tfjs `LayersModel` (or `Sequential`), structurally. */
export interface LayersModelLike {
  readonly layers: readonly LayerLike[];
  readonly inputs: readonly unknown[];
}

/** The parts of tfjs used: `tf.model({ inputs, outputs })` (layers) and `tf.slice` (core). */
export interface TfLayersNamespace {
  slice(x: unknown, begin: number[], size: number[]): unknown;
  model(args: { inputs: unknown; outputs: unknown }): {
    predict(x: unknown, opts?: { batchSize?: number }): unknown;
  };
}

/** Options of {@link measureLayersModel}: the shared {@link NRCOptions}, plus the model's batching and layers. */
export interface MeasureLayersModelOptions extends Omit<NRCOptions, "debiased"> {
  /** Samples per forward pass (default 512). */
  batchRows?: number;
  /** Layer names (exact) or a RegExp (default: every Dense and Conv2D). */
  layers?: RegExp | readonly string[];
  /**
   * The tfjs namespace (`import * as tf from "@tensorflow/tfjs"`; needs `model` and `slice`);
   * default: `@tensorflow/tfjs-layers` and `@tensorflow/tfjs-core`, imported.
   */
  tf?: TfLayersNamespace;
  /** Called after each batch with (samples done, total). */
  onProgress?: (done: number, total: number) => void;
}

interface Found {
  name: string;
  kind: "dense" | "conv";
  channelsFirst: boolean;
  symbolic: unknown;
  /** Index into the model's inputs when the layer reads a model input directly, else -1. */
  modelInput: number;
  weight: Mat | TensorInput;
}

/** Dense kernel in×out → out×in. */
function denseWeight(k: ArrayLike<number>, shape: readonly number[]): Mat {
  const [i, o] = shape;
  const data = new Float64Array(i * o);
  for (let a = 0; a < i; a++) for (let b = 0; b < o; b++) data[b * i + a] = k[a * o + b];
  return { rows: o, cols: i, data };
}

/** Conv2D kernel HWIO → OIHW. */
function convWeight(k: ArrayLike<number>, shape: readonly number[]): TensorInput {
  const [kh, kw, I, O] = shape;
  const data = new Float64Array(O * I * kh * kw);
  for (let a = 0; a < kh; a++)
    for (let b = 0; b < kw; b++)
      for (let i = 0; i < I; i++)
        for (let o = 0; o < O; o++)
          data[((o * I + i) * kh + a) * kw + b] = k[((a * kw + b) * I + i) * O + o];
  return { data, shape: [O, I, kh, kw] };
}

/** Features of one layer from its activation values, in deep-nrc's layouts. */
function features(f: Found, v: ArrayLike<number>, shape: readonly number[]): Mat | TensorInput {
  if (f.kind === "conv") {
    const [n, a, b, c] = shape;
    if (f.channelsFirst) return { data: Float64Array.from(v), shape: [n, a, b, c] };
    // NHWC → NCHW
    const out = new Float64Array(v.length);
    for (let s = 0; s < n; s++)
      for (let y = 0; y < a; y++)
        for (let x = 0; x < b; x++)
          for (let ch = 0; ch < c; ch++)
            out[((s * c + ch) * a + y) * b + x] = v[((s * a + y) * b + x) * c + ch];
    return { data: out, shape: [n, c, a, b] };
  }
  if (shape.length === 2) return { rows: shape[0], cols: shape[1], data: Float64Array.from(v) };
  const n = shape[0];
  const d = shape[shape.length - 1];
  const p = v.length / (n * d);
  const out = new Float64Array(v.length);
  for (let s = 0; s < n; s++)
    for (let q = 0; q < p; q++)
      for (let c = 0; c < d; c++) out[(s * d + c) * p + q] = v[(s * p + q) * d + c];
  return { data: out, shape: [n, d, p, 1] };
}

/**
 * Measures every Deep Neural Regression Collapse condition (Rangamani & Unal 2026) of a tfjs
 * `LayersModel`: for every `Dense` and `Conv2D` layer, the features entering it (captured with one
 * multi-output model per batch) against its kernel (transposed to out×in; Conv2D HWIO → OIHW).
 * Memory O(batch + d²) per layer; no tensor is left allocated.
 * @param model - A `tf.LayersModel` or `tf.Sequential` (built: its `inputs` known).
 * @param x - The inputs, a tensor with samples first (N×…), matching the model's single input.
 * @param y - N×q targets: a 2-D tensor or any matrix input.
 * @param options - `t`, `r`, `preset`, `batchRows` (default 512), `layers` filter, `backend`, `tf`.
 * @returns The same report as `measureNRC`; layer names are the tfjs layer names.
 * @throws NRCInputError on a model without Dense/Conv2D layers, a layer shared by several calls,
 *   a multi-input model, `x`/`y` with different sample counts, or a missing tfjs-layers.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { measureLayersModel } from "deep-nrc/tfjs";
 * const report = await measureLayersModel(model, xTrain, yTrain, { tf });
 * console.log(report.layers.map((l) => [l.name, l.nrc1]));
 * ```
 */
export async function measureLayersModel(
  model: LayersModelLike,
  x: unknown,
  y: MatrixInput | unknown,
  options: MeasureLayersModelOptions = {},
): Promise<NRCReport> {
  const fn = "measureLayersModel";
  if (
    model === null ||
    typeof model !== "object" ||
    !Array.isArray((model as LayersModelLike).layers)
  )
    throw new NRCInputError(
      fn,
      "model",
      "model must be a tfjs LayersModel (tf.sequential or tf.model)",
    );
  if (!Array.isArray(model.inputs) || model.inputs.length !== 1)
    throw new NRCInputError(
      fn,
      "model",
      `model must have exactly one input (built, e.g. with inputShape); got ${Array.isArray(model.inputs) ? model.inputs.length : "none"}`,
    );
  if (!isTensor(x) || x.isDisposed)
    throw new NRCInputError(
      fn,
      "x",
      `x must be a tfjs tensor with samples first; got ${x === null ? "null" : typeof x}`,
    );
  const N = x.shape[0];
  let ym: Mat;
  if (isTensor(y)) {
    if (y.rank !== 2 && y.rank !== 1)
      throw new NRCInputError(
        fn,
        "y",
        `y must be N×q (or a vector of N); got shape [${y.shape.join(", ")}]`,
      );
    const d = await y.data();
    ym = asMatrix(fn, "y", { rows: y.shape[0], cols: y.shape[1] ?? 1, data: Float64Array.from(d) });
  } else ym = asMatrix(fn, "y", y);
  if (ym.rows !== N)
    throw new NRCInputError(
      fn,
      "y",
      `y must have one row per sample of x (${N}); got ${ym.rows}×${ym.cols}`,
    );
  const batchRows = options.batchRows ?? 512;
  if (!Number.isSafeInteger(batchRows) || batchRows < 1)
    throw new NRCInputError(
      fn,
      "batchRows",
      `batchRows must be an integer ≥ 1; got ${String(options.batchRows)}`,
    );
  const filter = options.layers;
  const matches = (name: string) =>
    filter === undefined
      ? true
      : filter instanceof RegExp
        ? filter.test(name)
        : filter.includes(name);

  const found: Found[] = [];
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls !== "Dense" && cls !== "Conv2D") continue;
    if (!matches(layer.name)) continue;
    let sym: unknown;
    try {
      sym = layer.input;
    } catch (e) {
      throw new NRCInputError(
        fn,
        "model",
        `layer '${layer.name}' (${cls}) has no single input (shared by several calls?): ${(e as Error).message}`,
      );
    }
    const kernel = layer.getWeights()[0];
    if (!kernel)
      throw new NRCInputError(
        fn,
        "model",
        `layer '${layer.name}' (${cls}) has no kernel (not built?)`,
      );
    const kd = kernel.dataSync(); // the layer's variable: read, never disposed
    const cfg = layer.getConfig();
    found.push({
      name: layer.name,
      kind: cls === "Dense" ? "dense" : "conv",
      channelsFirst: cfg.dataFormat === "channelsFirst",
      symbolic: sym,
      modelInput: model.inputs.indexOf(sym),
      weight: cls === "Dense" ? denseWeight(kd, kernel.shape) : convWeight(kd, kernel.shape),
    });
  }
  if (found.length === 0)
    throw new NRCInputError(
      fn,
      "model",
      `the model has no Dense or Conv2D layer${filter ? " matching layers" : ""} (layers: ${model.layers.map((l) => `${l.name} (${l.getClassName()})`).join(", ")})`,
    );
  let tfl = options.tf;
  if (!tfl) {
    try {
      const layersNs = (await import("@tensorflow/tfjs-layers")) as unknown as TfLayersNamespace;
      const core = (await import("@tensorflow/tfjs-core")) as unknown as TfLayersNamespace;
      tfl = { model: layersNs.model, slice: core.slice };
    } catch {
      throw new NRCInputError(
        fn,
        "tf",
        "measureLayersModel needs @tensorflow/tfjs-layers (or pass options.tf from @tensorflow/tfjs)",
      );
    }
  }
  const outputs = [...new Set(found.filter((f) => f.modelInput < 0).map((f) => f.symbolic))];
  const sub = outputs.length ? tfl.model({ inputs: model.inputs[0], outputs }) : null;

  async function* batches(): AsyncGenerator<AccumulatorBatch> {
    for (let start = 0; start < N; start += batchRows) {
      const n = Math.min(N, start + batchRows) - start;
      const xb = x as TensorLike;
      const slice = tfl!.slice(
        xb,
        [start, ...xb.shape.slice(1).map(() => 0)],
        [n, ...xb.shape.slice(1).map(() => -1)],
      ) as TensorLike;
      const vals = new Map<unknown, { v: ArrayLike<number>; shape: readonly number[] }>();
      try {
        if (sub) {
          const out = sub.predict(slice, { batchSize: n });
          const ts = (Array.isArray(out) ? out : [out]) as TensorLike[];
          try {
            for (let i = 0; i < ts.length; i++)
              vals.set(outputs[i], { v: await ts[i].data(), shape: ts[i].shape });
          } finally {
            for (const t of ts) t.dispose();
          }
        }
        const xv = found.some((f) => f.modelInput >= 0) ? await slice.data() : null;
        const feats = found.map((f) => {
          const r = f.modelInput >= 0 ? { v: xv!, shape: slice.shape } : vals.get(f.symbolic)!;
          return features(f, r.v, r.shape);
        });
        const targets: Mat = {
          rows: n,
          cols: ym.cols,
          data: ym.data.subarray(start * ym.cols, (start + n) * ym.cols),
        };
        yield { features: feats, targets };
      } finally {
        slice.dispose();
      }
      options.onProgress?.(start + n, N);
    }
  }

  const acc = createNRCAccumulator({
    weights: found.map((f) => f.weight),
    names: found.map((f) => f.name),
    ...pickNRCOptions(options),
  });
  try {
    await acc.addAll(batches());
    return await acc.finalize();
  } finally {
    await acc.dispose();
  }
}
