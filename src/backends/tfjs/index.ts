/**
 * The tfjs backend and tensor inputs (`deep-nrc/tfjs`).
 *
 * - {@link tfjsBackend}: Gram matrices and cross products on the active tfjs backend (cpu, wasm,
 *   webgl, webgpu, node). tfjs computes in float32, so the products are float32 partial products
 *   over row tiles (batched `matMul` of explicitly transposed tiles: `transposeA` is ~20× slower
 *   on tfjs-wasm), summed in float64 on the host, with the columns centered and power-of-two
 *   scaled first (see `../webgpu/f32prep.ts`). Everything else falls back to the float64 JS kernels.
 *   Measured (test/backends/f32-suite.ts): |ΔGᵢⱼ| ≤ 5e-7·‖ãᵢ‖‖ãⱼ‖ on tfjs-wasm (10000×512, whose
 *   matMul sums in float32), 6e-8 on tfjs-cpu (which sums 48-term blocks in float64); NRC1 within
 *   1.2e-7 absolute, NRC2/NRC3 within 4e-7 where the eigengap is ≥ 0.03. Time on tfjs-wasm
 *   (10000×512 Gram, 2 cores): ~0.4 s; `matMul(x, x, true)` took 17.8× as long as
 *   `matMul(transpose(x), x)` there.
 * - {@link fromTensor}, {@link toMatrixInput}, {@link tensorsToInputs}: accept `tf.Tensor2D`
 *   (and 4-D conv tensors) wherever the core accepts a matrix.
 *
 * `@tensorflow/tfjs-core` is an optional peer dependency; the core entry never imports it.
 *
 * @module
 */
import { NRCInputError, fmtShape } from "../../errors.js";
import type { Backend, Kernels, Mat } from "../types.js";
import { checkMat, importPeer } from "../peer.js";
import * as core from "../../index.js";
import { type ColPrep, fillChunk, finishProduct, prepColumns } from "../webgpu/f32prep.js";

/**
 * The tfjs namespace (`import * as tf from "@tensorflow/tfjs-core"` or `@tensorflow/tfjs`): only
 * the members this module calls, typed loosely, so that the published declarations do not import
 * `@tensorflow/tfjs-core` (an optional peer: `tsc` without `skipLibCheck` must pass without it).
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
export interface TF {
  getBackend(): string;
  ready(): Promise<void>;
  tidy(...args: any[]): any;
  tensor2d(...args: any[]): any;
  matMul(...args: any[]): any;
  transpose(...args: any[]): any;
  concat(...args: any[]): any;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** The part of a tfjs tensor the backend's kernels use. */
interface TfTensor {
  data(): Promise<Float32Array | Int32Array | Uint8Array>;
  dispose(): void;
}

/** Options of {@link tfjsBackend}. */
export interface TfjsBackendOptions {
  /**
   * Rows per float32 partial product (default 1024). Each tile's n×q product is read back and the
   * tiles are summed in float64; smaller tiles round less and read back more.
   */
  tileRows?: number;
  /** Upper bound on the float32 input of one batched matMul, in bytes (default 64 MiB). */
  maxChunkBytes?: number;
}

/** The kernels a started tfjs backend provides. */
export interface TfjsKernels extends Kernels {
  readonly name: "tfjs";
  /** The active tfjs backend when the kernels started (`tf.getBackend()`), e.g. `"wasm"`. */
  readonly tfBackend: string;
  /** Rows per float32 partial product. */
  readonly tileRows: number;
  gram(a: Mat): Promise<Mat>;
  crossProd(a: Mat, b: Mat): Promise<Mat>;
}

async function loadTf(tf: TF | undefined): Promise<TF> {
  if (tf) return tf;
  return importPeer<TF>(
    "@tensorflow/tfjs-core",
    "tfjs backend: pass the tf namespace (tfjsBackend(tf)) or install the optional peer '@tensorflow/tfjs-core'",
  );
}

/**
 * A backend that runs the Gram matrix `AᵀA` and cross products `AᵀB` on the active tfjs backend
 * (`tf.getBackend()`: cpu, wasm, webgl, webgpu, tensorflow), as float32 partial products over row
 * tiles summed in float64 (columns centered and power-of-two scaled before the float32 conversion,
 * means added back exactly). `symEig`, `svd`, `qr` and `matmul` stay on the float64 JS kernels.
 * Accuracy: about 1e-7 relative to the centered Gram (float32); use the `js`/`wasm` backends where a
 * metric must resolve less than ~1e-6 of the variance (NRC1 of collapsed layers).
 *
 * @param tf The tfjs namespace whose backend to use (default: `import("@tensorflow/tfjs-core")`,
 *   which must share its engine with the backend you registered). Register and select a backend
 *   first, e.g. `import "@tensorflow/tfjs-backend-wasm"; await tf.setBackend("wasm")`.
 * @param opts `tileRows` (default 1024), `maxChunkBytes` (default 64 MiB).
 * @returns A {@link Backend}; `init()` waits for `tf.ready()`.
 * @throws `init()` rejects when tfjs cannot be loaded or no tfjs backend is registered.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { measureNRC } from "deep-nrc";
 * import { tfjsBackend } from "deep-nrc/tfjs";
 * await tf.setBackend("cpu");
 * const report = await measureNRC({ layers, targets, backend: tfjsBackend(tf) });
 * ```
 */
export function tfjsBackend(tf?: TF, opts: TfjsBackendOptions = {}): Backend {
  return {
    name: "tfjs",
    async init(): Promise<TfjsKernels> {
      const t = await loadTf(tf);
      try {
        await t.ready();
      } catch (e) {
        throw new Error(
          `tfjs backend: no tfjs backend is ready (register one, e.g. import "@tensorflow/tfjs-backend-cpu"): ${(e as Error).message}`,
        );
      }
      const name = t.getBackend();
      if (!name) throw new Error("tfjs backend: tf.getBackend() returned no backend");
      return makeTfjsKernels(t, name, opts);
    },
  };
}

function makeTfjsKernels(tf: TF, tfBackend: string, opts: TfjsBackendOptions): TfjsKernels {
  const tileRows = Math.max(1, Math.floor(opts.tileRows ?? 1024));
  const maxChunkBytes = Math.max(4096, opts.maxChunkBytes ?? 64 * 1024 * 1024);

  async function product(fn: string, a: Mat, b: Mat | null): Promise<Mat> {
    checkMat(fn, "a", a);
    if (b) {
      checkMat(fn, "b", b);
      if (b.rows !== a.rows)
        throw new NRCInputError(
          fn,
          "b",
          `a and b must have the same number of rows; got ${fmtShape(a.rows, a.cols)} and ${fmtShape(b.rows, b.cols)}`,
        );
    }
    const m = a.rows;
    const n = a.cols;
    const q = b ? b.cols : n;
    const pa: ColPrep = prepColumns(a);
    const pb: ColPrep = b ? prepColumns(b) : pa;
    const T = Math.min(tileRows, m);
    const tilesTotal = Math.ceil(m / T);
    const bytesPerTile = T * (n + (b ? q : 0)) * 4;
    const tilesPerChunk = Math.max(
      1,
      Math.min(tilesTotal, Math.floor(maxChunkBytes / bytesPerTile)),
    );
    const acc = new Float64Array(n * q);
    const nq = n * q;
    for (let t0 = 0; t0 < tilesTotal; t0 += tilesPerChunk) {
      const tiles = Math.min(tilesPerChunk, tilesTotal - t0);
      const r0 = t0 * T;
      const r1 = Math.min(m, r0 + tiles * T);
      const fa = new Float32Array(tiles * T * n);
      fillChunk(a, pa, r0, r1, fa);
      let fb: Float32Array | null = null;
      if (b) {
        fb = new Float32Array(tiles * T * q);
        fillChunk(b, pb, r0, r1, fb);
      }
      const out: TfTensor = tf.tidy(() => {
        const parts: TfTensor[] = [];
        for (let t = 0; t < tiles; t++) {
          const x = tf.tensor2d(fa.subarray(t * T * n, (t + 1) * T * n), [T, n], "float32");
          const y = fb
            ? tf.tensor2d(fb.subarray(t * T * q, (t + 1) * T * q), [T, q], "float32")
            : x;
          // Transpose explicitly: matMul's transposeA is far slower on some tfjs backends.
          parts.push(tf.matMul(tf.transpose(x), y));
        }
        return parts.length === 1 ? parts[0] : tf.concat(parts, 0);
      });
      let part: Float32Array | Int32Array | Uint8Array;
      try {
        part = await out.data();
      } finally {
        out.dispose();
      }
      for (let t = 0; t < tiles; t++) {
        const o = t * nq;
        if (b) {
          for (let k = 0; k < nq; k++) acc[k] += part[o + k];
        } else {
          for (let i = 0; i < n; i++) {
            const ro = i * n;
            for (let j = i; j < n; j++) acc[ro + j] += part[o + ro + j];
          }
        }
      }
    }
    return finishProduct(acc, m, pa, pb, b === null);
  }

  return {
    name: "tfjs",
    tfBackend,
    tileRows,
    gram: (a: Mat) => product("gram", a, null),
    crossProd: (a: Mat, b: Mat) => product("crossProd", a, b),
  };
}

/** Anything shaped like a tfjs tensor (checked structurally, so any tfjs instance works). */
export interface TensorLike {
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly rank: number;
  data(): Promise<ArrayLike<number> | ArrayLike<string>>;
  dispose(): void;
}

/** Whether `x` is a tfjs tensor (structural check: `shape`, `dtype`, `rank`, `data()`, `dataSync()`). */
export function isTensor(x: unknown): x is TensorLike {
  if (x === null || typeof x !== "object") return false;
  const o = x as Record<string, unknown>;
  return (
    Array.isArray(o.shape) &&
    typeof o.dtype === "string" &&
    typeof o.rank === "number" &&
    typeof o.data === "function" &&
    typeof o.dataSync === "function"
  );
}

async function tensorData(fn: string, arg: string, t: TensorLike): Promise<Float64Array> {
  if (t.dtype !== "float32" && t.dtype !== "int32" && t.dtype !== "bool")
    throw new NRCInputError(
      fn,
      arg,
      `${arg} must be a numeric tensor (float32, int32 or bool); got dtype ${t.dtype}`,
    );
  if ((t as { isDisposed?: boolean }).isDisposed === true)
    throw new NRCInputError(fn, arg, `${arg} is a disposed tensor`);
  const d = (await t.data()) as ArrayLike<number>;
  return Float64Array.from(d);
}

/**
 * Reads a 2-D tfjs tensor into the `{ rows, cols, data }` matrix form every deep-nrc function
 * accepts (rows = samples). The values are copied into a float64 array (tfjs float32 values are
 * exact in float64); the tensor is not disposed.
 *
 * @param t A rank-2 tensor of dtype float32, int32 or bool.
 * @returns `{ rows: t.shape[0], cols: t.shape[1], data }` with `data` a row-major Float64Array.
 * @throws NRCInputError when `t` is not a tensor, not rank 2, empty, disposed or of dtype string/complex.
 * @example
 * ```ts
 * const H = tf.randomNormal([100, 16]) as tf.Tensor2D;
 * const m = await fromTensor(H); // { rows: 100, cols: 16, data: Float64Array(1600) }
 * ```
 */
export async function fromTensor(
  t: TensorLike,
): Promise<{ rows: number; cols: number; data: Float64Array }> {
  if (!isTensor(t))
    throw new NRCInputError("fromTensor", "t", `t must be a tfjs Tensor2D; got ${typeof t}`);
  if (t.rank !== 2)
    throw new NRCInputError(
      "fromTensor",
      "t",
      `t must be a rank-2 tensor (samples × features); got shape [${t.shape.join(", ")}]`,
    );
  const [rows, cols] = t.shape as [number, number];
  if (rows < 1 || cols < 1)
    throw new NRCInputError(
      "fromTensor",
      "t",
      `t must be non-empty; got shape [${t.shape.join(", ")}]`,
    );
  return { rows, cols, data: await tensorData("fromTensor", "t", t) };
}

/**
 * Converts a tfjs tensor into the plain form the core accepts, and passes anything else through
 * unchanged: a rank-2 tensor becomes `{ rows, cols, data }`, a rank-4 tensor (conv features
 * N×C×h×w or filters Cout×Cin×kh×kw) becomes `{ data, shape }`.
 *
 * @param x A tensor, or any other matrix argument (returned as is).
 * @param name The argument's name, for error messages (default `"x"`).
 * @returns The converted value, or `x` itself when it is not a tensor.
 * @throws NRCInputError on a tensor of rank other than 2 or 4, or of a non-numeric dtype.
 * @example
 * ```ts
 * import { linearCKA } from "deep-nrc";
 * const cka = await linearCKA(await toMatrixInput(Xtensor), await toMatrixInput(Ytensor));
 * ```
 */
export async function toMatrixInput<T>(
  x: T,
  name = "x",
): Promise<
  T extends TensorLike
    ? { rows: number; cols: number; data: Float64Array } | { data: Float64Array; shape: number[] }
    : T
> {
  type R = Awaited<ReturnType<typeof toMatrixInput<T>>>;
  if (!isTensor(x)) return x as R;
  if (x.rank === 2) {
    const [rows, cols] = x.shape as [number, number];
    if (rows < 1 || cols < 1)
      throw new NRCInputError(
        "toMatrixInput",
        name,
        `${name} must be non-empty; got shape [${x.shape.join(", ")}]`,
      );
    return { rows, cols, data: await tensorData("toMatrixInput", name, x) } as R;
  }
  if (x.rank === 4)
    return { data: await tensorData("toMatrixInput", name, x), shape: [...x.shape] } as R;
  throw new NRCInputError(
    "toMatrixInput",
    name,
    `${name} must be a rank-2 (samples × features) or rank-4 (conv) tensor; got shape [${x.shape.join(", ")}]`,
  );
}

/** A plain data object (no class instance, no methods: backends and kernels are left alone). */
function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== "object") return false;
  const p = Object.getPrototypeOf(x);
  if (p !== Object.prototype && p !== null) return false;
  return !Object.values(x).some((v) => typeof v === "function");
}

/**
 * A parameter type in which every matrix (or conv tensor) may also be a tfjs tensor, at any depth
 * of objects and arrays (e.g. `measureNRC`'s `layers[i].features`).
 */
export type WithTensors<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends ArrayBufferView
    ? T | TensorLike
    : T extends readonly (readonly number[])[]
      ? T | TensorLike
      : T extends readonly (infer E)[]
        ? readonly WithTensors<E>[]
        : T extends object
          ? { [K in keyof T]: WithTensors<T[K]> } | TensorLike
          : T;

/**
 * Replaces every tfjs tensor in an argument — at the top level or inside plain objects and arrays
 * of objects, e.g. `measureNRC({ layers: [{ features, weight }], targets })` — by its plain form
 * ({@link toMatrixInput}). Returns new objects; the input is not mutated. Arrays of arrays
 * (`number[][]` matrices), typed arrays, class instances and objects holding functions (backends,
 * kernels) are passed through without being walked.
 *
 * @param x Any argument value.
 * @param name Its name, for error messages.
 * @returns The same structure with tensors replaced.
 * @throws NRCInputError on a tensor of unsupported rank or dtype (the message names its path).
 * @example
 * ```ts
 * const args = await tensorsToInputs({ layers: [{ features: h1, weight: w1 }], targets: y });
 * const report = await measureNRC(args);
 * ```
 */
export async function tensorsToInputs<T>(x: WithTensors<T> | T, name = "x"): Promise<T> {
  if (isTensor(x)) return (await toMatrixInput(x, name)) as T;
  if (Array.isArray(x)) {
    // Only arrays of objects (layer lists) can hold tensors; number[][] matrices are left alone.
    if (!x.some((e) => isTensor(e) || isPlainObject(e))) return x as T;
    return (await Promise.all(x.map((e, i) => tensorsToInputs(e, `${name}[${i}]`)))) as T;
  }
  if (isPlainObject(x)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) out[k] = await tensorsToInputs(v, `${name}.${k}`);
    return out as T;
  }
  return x as T;
}

/** Any function (the functions {@link withTensorInputs} can wrap). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFn = (...args: any[]) => unknown;

/** An argument list in which every matrix may also be a tfjs tensor. */
export type WithTensorArgs<A extends readonly unknown[]> = { [K in keyof A]: WithTensors<A[K]> };

/** A core function whose matrix arguments may also be tfjs tensors; always returns a Promise. */
export type TensorAccepting<F extends AnyFn> = (
  ...args: WithTensorArgs<Parameters<F>>
) => Promise<Awaited<ReturnType<F>>>;

/**
 * Wraps a function so that any tfjs tensor among its arguments (at any depth of plain objects and
 * arrays) is read ({@link tensorsToInputs}) before the call. The tensors are not disposed.
 *
 * @param f The function to wrap (e.g. a deep-nrc metric).
 * @param names Argument names for error messages.
 * @returns An async function taking the same arguments, tensors allowed.
 * @throws Whatever `f` throws; NRCInputError for a tensor of unsupported rank or dtype.
 * @example
 * ```ts
 * import { linearCKA as cka64 } from "deep-nrc";
 * const linearCKA = withTensorInputs(cka64, ["X", "Y"]);
 * await linearCKA(tf.randomNormal([50, 4]), tf.randomNormal([50, 2]));
 * ```
 */
export function withTensorInputs<F extends AnyFn>(
  f: F,
  names: readonly string[] = [],
): TensorAccepting<F> {
  return (async (...args: unknown[]) => {
    const plain = await Promise.all(
      args.map((a, i) => tensorsToInputs(a, names[i] ?? `argument ${i + 1}`)),
    );
    return await f(...plain);
  }) as TensorAccepting<F>;
}

/** Options of this module's {@link measureNRC}: the core's, tensors allowed, plus `layout`. */
export type TfjsMeasureOptions = WithTensors<core.MeasureOptions> & {
  /**
   * How rank-4 tfjs tensors are laid out: `"NHWC"` (default, what tfjs produces: activations
   * [N, h, w, C] and `conv2d` filters [kh, kw, Cin, Cout], HWIO) or `"NCHW"` (activations
   * [N, C, h, w] and filters [Cout, Cin, kh, kw], as the core reads). Plain `{ data, shape }`
   * values are always read as NCHW/OIHW, as the core does.
   */
  layout?: "NHWC" | "NCHW";
};

/** Permutes a C-order 4-D array: `out[i0][i1][i2][i3] = src` at `axes` (out axis k = src axis axes[k]). */
function permute4(
  data: ArrayLike<number>,
  shape: readonly number[],
  axes: readonly [number, number, number, number],
): { data: Float64Array; shape: number[] } {
  const outShape = axes.map((a) => shape[a]);
  const strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
  const st = axes.map((a) => strides[a]);
  const out = new Float64Array(data.length);
  let o = 0;
  for (let a = 0; a < outShape[0]; a++)
    for (let b = 0; b < outShape[1]; b++)
      for (let c = 0; c < outShape[2]; c++) {
        const base = a * st[0] + b * st[1] + c * st[2];
        for (let d = 0; d < outShape[3]; d++) out[o++] = data[base + d * st[3]];
      }
  return { data: out, shape: outShape };
}

/**
 * {@link core.measureNRC} accepting tfjs tensors for `layers[i].features`, `layers[i].weight` and
 * `targets`, with conv tensors read in tfjs's own layout by default (`layout: "NHWC"`: activations
 * NHWC, filters HWIO), converted to the core's NCHW/OIHW.
 * @param options - as {@link core.measureNRC}, plus `layout` (`"NHWC"` default, or `"NCHW"`).
 * @returns the {@link core.NRCReport}.
 * @throws NRCInputError as {@link core.measureNRC}, and on a `layout` other than "NHWC"/"NCHW".
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { measureNRC } from "deep-nrc/tfjs";
 * const x = tf.randomNormal([8, 5, 5, 3]); // NHWC input of a conv layer
 * const f = tf.randomNormal([3, 3, 3, 4]); // HWIO filters
 * const y = tf.randomNormal([8, 2]);
 * const report = await measureNRC({ layers: [{ features: x, weight: f }], targets: y });
 * ```
 */
export async function measureNRC(options: TfjsMeasureOptions): Promise<core.NRCReport> {
  // Not an object: the core's own error.
  if (options === null || typeof options !== "object") return core.measureNRC(options as never);
  const { layout = "NHWC", ...rest } = options as Record<string, unknown>;
  if (layout !== "NHWC" && layout !== "NCHW")
    throw new NRCInputError(
      "measureNRC",
      "layout",
      `layout must be "NHWC" (tfjs: activations NHWC, filters HWIO) or "NCHW"; got ${JSON.stringify(layout)}`,
    );
  const layers = rest.layers;
  if (layout === "NHWC" && Array.isArray(layers))
    rest.layers = await Promise.all(
      layers.map(async (l: unknown, i) => {
        if (l === null || typeof l !== "object") return l;
        const o = { ...(l as Record<string, unknown>) };
        const f = o.features;
        if (isTensor(f) && f.rank === 4) {
          const v = await toMatrixInput(f, `options.layers[${i}].features`);
          const { data, shape } = v as { data: Float64Array; shape: number[] };
          o.features = permute4(data, shape, [0, 3, 1, 2]); // NHWC → NCHW
        }
        const w = o.weight;
        if (isTensor(w) && w.rank === 4) {
          const v = await toMatrixInput(w, `options.layers[${i}].weight`);
          const { data, shape } = v as { data: Float64Array; shape: number[] };
          o.weight = permute4(data, shape, [3, 2, 0, 1]); // HWIO → OIHW
        }
        return o;
      }),
    );
  return core.measureNRC(await tensorsToInputs<core.MeasureOptions>(rest as never, "options"));
}
/** {@link core.noiseComponent} (NRC1) accepting a tfjs tensor for `H`. */
export const noiseComponent = withTensorInputs(core.noiseComponent, ["H", "t", "options"]);
/** {@link core.linearCKA} accepting tfjs tensors. */
export const linearCKA = withTensorInputs(core.linearCKA, ["X", "Y", "options"]);
/** {@link core.signalTargetAlignment} (NRC2) accepting tfjs tensors. */
export const signalTargetAlignment = withTensorInputs(core.signalTargetAlignment, [
  "H",
  "Y",
  "t",
  "options",
]);
/** {@link core.principalAngles} accepting tfjs tensors. */
export const principalAngles = withTensorInputs(core.principalAngles, ["A", "B", "options"]);
/** {@link core.featureWeightAlignment} (NRC3) accepting tfjs tensors. */
export const featureWeightAlignment = withTensorInputs(core.featureWeightAlignment, [
  "H",
  "W",
  "t",
  "options",
]);
/** {@link core.pinvPredictMSE} (NRC4) accepting tfjs tensors. */
export const pinvPredictMSE = withTensorInputs(core.pinvPredictMSE, ["H", "Y", "options"]);
/** {@link core.stableRank} accepting a tfjs tensor. */
export const stableRank = withTensorInputs(core.stableRank, ["A", "options"]);
/** {@link core.proposition1Bound} accepting tfjs tensors. */
export const proposition1Bound = withTensorInputs(core.proposition1Bound, [
  "H",
  "Y",
  "t",
  "options",
]);
/** {@link core.convFeaturesToMatrix} accepting a rank-4 tfjs tensor (async here). */
export const convFeaturesToMatrix = withTensorInputs(core.convFeaturesToMatrix, ["x", "options"]);
/** {@link core.convWeightsToMatrix} accepting a rank-4 tfjs tensor (async here). */
export const convWeightsToMatrix = withTensorInputs(core.convWeightsToMatrix, ["x", "options"]);

export {
  measureLayersModel,
  type MeasureLayersModelOptions,
  type LayersModelLike,
  type TfLayersNamespace,
  type LayerLike,
} from "../../tfjs/layers-model.js";
