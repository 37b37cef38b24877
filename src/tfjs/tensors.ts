/**
 * tfjs tensors as deep-nrc inputs: read a `tf.Tensor2D` (or a rank-4 conv tensor) into the plain
 * matrix form the core accepts, and wrap a core function so its matrix arguments may be tensors.
 * Structural checks only: no tfjs import, so any tfjs instance works.
 * @module
 */
import { NRCInputError } from "../errors.js";

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
