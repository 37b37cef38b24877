/**
 * The model's inputs: checked against the graph's declared inputs (names, element types, shapes)
 * and cut into ONNX Runtime tensors batch by batch (float16 inputs rounded to half bits).
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { TensorInput } from "../io/conv.js";
import { asMatrix, type MatrixInput } from "../linalg/matrix.js";
import { DTYPE_NAMES } from "./proto.js";
import type { GraphInfo } from "./linear-maps.js";

/** A model input: a `{ data, shape }` tensor, or an N×d matrix for a 2-D input. */
export type ONNXInput = TensorInput | MatrixInput;

export type Ort = typeof import("onnxruntime-web");
export type OrtSession = import("onnxruntime-web").InferenceSession;
export type OrtTensor = import("onnxruntime-web").Tensor;

/* ------------------------------------------------------------------ inputs */

export interface FeedSpec {
  name: string;
  elemType: number;
  shape: number[];
  data: ArrayLike<number>;
  /** The axis of the samples (0, or the one dynamic axis of a sequence-first input, or as given). */
  axis: number;
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

/**
 * The samples' axis of a model input from its declared dims: 0, unless dim 0 is a fixed number and
 * exactly one other axis is dynamic (a sequence-first L×N×… input exported with a dynamic N).
 */
export function inferSampleAxis(dims: readonly (number | string | null)[]): number {
  if (typeof dims[0] !== "number") return 0;
  const dynamic = dims.flatMap((d, i) => (typeof d === "number" ? [] : [i]));
  return dynamic.length === 1 ? dynamic[0] : 0;
}

export function feedSpecs(
  fn: string,
  g: GraphInfo,
  inputs: unknown,
  sampleAxis?: number,
): FeedSpec[] {
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
      want.some(
        (d, i) =>
          i !== (sampleAxis ?? inferSampleAxis(want)) && typeof d === "number" && d !== shape[i],
      );
    if (mismatch)
      throw new NRCInputError(
        fn,
        arg,
        `the model's input '${spec.name}' has shape [${want.map((d) => d ?? "?").join(", ")}] (${DTYPE_NAMES[et]}); got a tensor of shape [${shape.join(", ")}]`,
      );
    const axis = sampleAxis ?? inferSampleAxis(want);
    if (axis >= shape.length)
      throw new NRCInputError(
        fn,
        "sampleAxis",
        `sampleAxis ${axis} is past the last axis of the model's input '${spec.name}' of shape [${want.map((d) => d ?? "?").join(", ")}]`,
      );
    return { name: spec.name, elemType: et, shape, data, axis };
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

/**
 * The ORT tensor of the samples `idx` (positions along the input's sample axis, in that order), or
 * of samples start…end−1 when `idx` is a number pair.
 */
export function makeFeed(
  ort: Ort,
  f: FeedSpec,
  start: number,
  end: number,
  idx?: ArrayLike<number>,
): OrtTensor {
  const n = idx ? idx.length : end - start;
  const N = f.shape[f.axis];
  const pre = f.shape.slice(0, f.axis).reduce((a, b) => a * b, 1);
  const post = f.shape.slice(f.axis + 1).reduce((a, b) => a * b, 1);
  const len = pre * n * post;
  const shape = f.shape.map((d, i) => (i === f.axis ? n : d));
  const src = f.data;
  const put = (set: (o: number, v: number) => void) => {
    let o = 0;
    for (let i = 0; i < pre; i++)
      for (let j = 0; j < n; j++) {
        const lo = (i * N + (idx ? idx[j] : start + j)) * post;
        for (let k = 0; k < post; k++) set(o++, src[lo + k]);
      }
  };
  switch (f.elemType) {
    case 1: {
      const a = new Float32Array(len);
      put((o, v) => (a[o] = v));
      return new ort.Tensor("float32", a, shape);
    }
    case 11: {
      const a = new Float64Array(len);
      put((o, v) => (a[o] = v));
      return new ort.Tensor("float64", a, shape);
    }
    case 10: {
      const a = new Uint16Array(len);
      put((o, v) => (a[o] = toHalfBits(v)));
      return new ort.Tensor("float16", a, shape);
    }
    case 6: {
      const a = new Int32Array(len);
      put((o, v) => (a[o] = v));
      return new ort.Tensor("int32", a, shape);
    }
    default: {
      const a = new BigInt64Array(len);
      put((o, v) => (a[o] = BigInt(v)));
      return new ort.Tensor("int64", a, shape);
    }
  }
}
