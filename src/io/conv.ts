/**
 * Reshaping convolutional tensors into the matrices the metrics read (Rangamani & Unal 2026):
 * feature maps N×C×h×w become (N·h·w)×C — every spatial position a sample, channels as features
 * (row index (n·h + y)·w + x) — or, as the authors' scripts do, N×C by global average pooling;
 * filters Cout×Cin×kh×kw become (Cout·kh·kw)×Cin (row index (o·kh + a)·kw + b), so that their
 * input subspace lives in channel space like the features'.
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { Mat } from "../backends/types.js";

/** A dense tensor: C-order data and its shape. */
export interface TensorInput {
  data: Float64Array | Float32Array | ArrayLike<number>;
  shape: readonly number[];
}

/** Options of {@link convFeaturesToMatrix}. */
export interface ConvFeatureOptions {
  /** `flatten` (default, paper): (N·h·w)×C; `gap`: N×C global average pool (authors' scripts). */
  mode?: "flatten" | "gap";
  /** Memory layout of `data`, and the order of `shape`: `NCHW` (PyTorch, default) or `NHWC` (tfjs). */
  layout?: "NCHW" | "NHWC";
}

/** Options of {@link convWeightsToMatrix}. */
export interface ConvWeightOptions {
  /** `OIHW` (PyTorch, shape [Cout, Cin, kh, kw], default) or `HWIO` (tfjs, shape [kh, kw, Cin, Cout]). */
  layout?: "OIHW" | "HWIO";
}

/** Validates a 4-D tensor and returns its dims. @internal */
export function check4D(
  fn: string,
  arg: string,
  x: unknown,
  dims: string,
): [number, number, number, number] {
  const o = x as TensorInput | null;
  if (o === null || typeof o !== "object" || !Array.isArray(o.shape))
    throw new NRCInputError(
      fn,
      arg,
      `${arg} must be { data, shape: [${dims}] }; got ${o === null ? "null" : typeof o}`,
    );
  const s = o.shape;
  if (s.length !== 4 || !s.every((v) => Number.isInteger(v) && v >= 1))
    throw new NRCInputError(
      fn,
      arg,
      `${arg}.shape must be 4 positive integers [${dims}]; got [${s.join(", ")}]`,
    );
  const d = o.data as ArrayLike<number> | undefined;
  if (d == null || typeof d.length !== "number")
    throw new NRCInputError(
      fn,
      arg,
      `${arg}.data must be a Float64Array, Float32Array or number[]`,
    );
  const size = s[0] * s[1] * s[2] * s[3];
  if (d.length !== size)
    throw new NRCInputError(
      fn,
      arg,
      `${arg}.data must hold ${s.join("·")} = ${size} values for shape [${s.join(", ")}]; got ${d.length}`,
    );
  for (let i = 0; i < size; i++)
    if (!Number.isFinite(d[i]))
      throw new NRCInputError(
        fn,
        arg,
        `${arg}.data must hold finite numbers; got ${String(d[i])} at flat index ${i}`,
      );
  return [s[0], s[1], s[2], s[3]];
}

/**
 * Reshapes conv feature maps into a feature matrix.
 * @param x - `{ data, shape }`, shape [N, C, h, w] (NCHW) or [N, h, w, C] (NHWC).
 * @param options - `mode` (`flatten` default, or `gap`) and `layout`.
 * @returns `{ rows, cols, data }`: (N·h·w)×C (flatten) or N×C (gap), float64.
 * @throws NRCInputError on a non-4-D shape, a data length that does not match, or NaN.
 * @example
 * ```ts
 * import { convFeaturesToMatrix } from "deep-nrc";
 * const m = convFeaturesToMatrix({ data: new Float32Array(2 * 3 * 4 * 4), shape: [2, 3, 4, 4] });
 * // m.rows === 32, m.cols === 3
 * ```
 */
export function convFeaturesToMatrix(x: TensorInput, options: ConvFeatureOptions = {}): Mat {
  const fn = "convFeaturesToMatrix";
  const layout = options.layout ?? "NCHW";
  const mode = options.mode ?? "flatten";
  if (layout !== "NCHW" && layout !== "NHWC")
    throw new NRCInputError(
      fn,
      "layout",
      `layout must be "NCHW" or "NHWC"; got ${JSON.stringify(layout)}`,
    );
  if (mode !== "flatten" && mode !== "gap")
    throw new NRCInputError(
      fn,
      "mode",
      `mode must be "flatten" or "gap"; got ${JSON.stringify(mode)}`,
    );
  const s = check4D(fn, "x", x, layout === "NCHW" ? "N, C, h, w" : "N, h, w, C");
  const [N, C, h, w] = layout === "NCHW" ? s : [s[0], s[3], s[1], s[2]];
  const src = x.data as ArrayLike<number>;
  const at =
    layout === "NCHW"
      ? (n: number, c: number, yy: number, xx: number) => src[((n * C + c) * h + yy) * w + xx]
      : (n: number, c: number, yy: number, xx: number) => src[((n * h + yy) * w + xx) * C + c];
  if (mode === "gap") {
    const out = new Float64Array(N * C);
    const hw = h * w;
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++) {
        let sum = 0;
        for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) sum += at(n, c, yy, xx);
        out[n * C + c] = sum / hw;
      }
    return { rows: N, cols: C, data: out };
  }
  const out = new Float64Array(N * h * w * C);
  if (layout === "NCHW") flattenNCHW(src, out, N, C, h * w);
  else
    for (let n = 0; n < N; n++)
      for (let yy = 0; yy < h; yy++)
        for (let xx = 0; xx < w; xx++) {
          const row = (n * h + yy) * w + xx;
          for (let c = 0; c < C; c++) out[row * C + c] = at(n, c, yy, xx);
        }
  return { rows: N * h * w, cols: C, data: out };
}

/**
 * NCHW → (N·P)×C, P = h·w: each channel plane read contiguously (a strided read per value, as
 * the generic loop does, costs ~2× on the conv features ONNX Runtime returns).
 */
function flattenNCHW(
  src: ArrayLike<number>,
  out: Float64Array,
  N: number,
  C: number,
  P: number,
): void {
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const from = (n * C + c) * P;
      const to = n * P * C + c;
      for (let p = 0; p < P; p++) out[to + p * C] = src[from + p];
    }
}

/**
 * Reshapes conv filters into an out×in weight matrix over input channels.
 * @param x - `{ data, shape }`, shape [Cout, Cin, kh, kw] (OIHW, PyTorch) or [kh, kw, Cin, Cout] (HWIO, tfjs).
 * @returns `{ rows, cols, data }`: (Cout·kh·kw)×Cin, row (o·kh + a)·kw + b.
 * @throws NRCInputError on a non-4-D shape, a data length that does not match, or NaN.
 * @example
 * ```ts
 * import { convWeightsToMatrix } from "deep-nrc";
 * const W = convWeightsToMatrix({ data: new Float32Array(8 * 3 * 3 * 3), shape: [8, 3, 3, 3] });
 * // W.rows === 72, W.cols === 3
 * ```
 */
export function convWeightsToMatrix(x: TensorInput, options: ConvWeightOptions = {}): Mat {
  const fn = "convWeightsToMatrix";
  const layout = options.layout ?? "OIHW";
  if (layout !== "OIHW" && layout !== "HWIO")
    throw new NRCInputError(
      fn,
      "layout",
      `layout must be "OIHW" or "HWIO"; got ${JSON.stringify(layout)}`,
    );
  const s = check4D(fn, "x", x, layout === "OIHW" ? "Cout, Cin, kh, kw" : "kh, kw, Cin, Cout");
  const [O, I, kh, kw] = layout === "OIHW" ? s : [s[3], s[2], s[0], s[1]];
  const src = x.data as ArrayLike<number>;
  const out = new Float64Array(O * kh * kw * I);
  for (let o = 0; o < O; o++)
    for (let a = 0; a < kh; a++)
      for (let b = 0; b < kw; b++) {
        const row = (o * kh + a) * kw + b;
        for (let i = 0; i < I; i++)
          out[row * I + i] =
            layout === "OIHW"
              ? src[((o * I + i) * kh + a) * kw + b]
              : src[((a * kw + b) * I + i) * O + o];
      }
  return { rows: O * kh * kw, cols: I, data: out };
}
