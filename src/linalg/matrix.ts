/**
 * Input normalisation: every public matrix argument goes through {@link toMat}, which accepts
 * `number[][]`, `{ rows, cols, data }` (row-major Float64Array/Float32Array/number[]) and an
 * ml-matrix `Matrix` (anything with `rows`, `columns` and `get(i, j)`), checks shape and
 * finiteness, and returns a fresh float64 copy, so the caller's input is never mutated.
 * @module
 */
import { NRCInputError, fmtShape } from "../errors.js";
import type { Mat, MatF32 } from "../backends/types.js";
import type { TensorInput } from "../io/conv.js";

export type { Mat, MatF32 };

/** A dense row-major matrix value: `data[i * cols + j]` is element (i, j). */
export interface DenseMatrixInput {
  rows: number;
  cols: number;
  data: Float64Array | Float32Array | ArrayLike<number>;
}

/** Anything shaped like an ml-matrix `Matrix`. */
export interface MatrixLikeObject {
  rows: number;
  columns: number;
  get(i: number, j: number): number;
}

/**
 * A matrix argument: `number[][]` (rows = samples), a `{ rows, cols, data }` row-major value,
 * or an ml-matrix `Matrix`.
 */
export type MatrixInput = readonly (readonly number[])[] | DenseMatrixInput | MatrixLikeObject;

/** Creates an r×c zero matrix. */
export function zeros(rows: number, cols: number): Mat {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

/** Describes a value's type/shape for an error message. */
export function describe(x: unknown): string {
  if (x === null) return "null";
  if (x === undefined) return "undefined";
  if (Array.isArray(x)) {
    if (x.length === 0) return "an empty array";
    if (Array.isArray(x[0])) return `an array of ${x.length} rows`;
    return `a flat array of length ${x.length}`;
  }
  if (typeof x === "object") {
    const o = x as Record<string, unknown>;
    if (typeof o.rows === "number" && typeof o.cols === "number")
      return `a ${fmtShape(o.rows, o.cols)} matrix`;
    if (typeof o.rows === "number" && typeof o.columns === "number")
      return `a ${fmtShape(o.rows, o.columns as number)} matrix`;
    if (Array.isArray(o.shape)) return `a tensor of shape [${(o.shape as number[]).join(", ")}]`;
    return "an object without rows/cols/data";
  }
  return typeof x;
}

function isArrayLikeNumbers(d: unknown): d is ArrayLike<number> {
  return (
    d instanceof Float64Array ||
    d instanceof Float32Array ||
    Array.isArray(d) ||
    (ArrayBuffer.isView(d) && !(d instanceof DataView))
  );
}

/** The {@link assertFinite}-style error for an entry that is not a number (null, a string, …). */
function notANumber(fn: string, arg: string, v: unknown, i: number, j: number): NRCInputError {
  const what = typeof v === "string" ? `the string ${JSON.stringify(v)}` : describe(v);
  return new NRCInputError(
    fn,
    arg,
    `${arg} must hold finite numbers; got ${what} at (${i}, ${j}) (a NaN written by JSON.stringify reads back as null)`,
  );
}

/** Throws for the first entry of a plain array that is not a number (typed arrays hold only numbers). */
function checkNumbers(fn: string, arg: string, d: ArrayLike<unknown>, cols: number): void {
  if (!Array.isArray(d)) return;
  for (let k = 0; k < d.length; k++)
    if (typeof d[k] !== "number") {
      const i = Math.floor(k / cols);
      throw notANumber(fn, arg, d[k], i, k - i * cols);
    }
}

/** Options for {@link toMat}. */
export interface ToMatOptions {
  /** Require at least this many rows (default 1). */
  minRows?: number;
  /**
   * Skip the scan for NaN/±Infinity: for a caller that learns it from a pass it makes anyway
   * (column sums and sums of squares are finite only if every entry is) and then calls
   * {@link assertFinite} when they are not, so the error is the same.
   */
  skipFinite?: boolean;
}

/**
 * Throws the {@link toMat} error for the first NaN/±Infinity in `m` (row-major), if any.
 * @throws NRCInputError naming the value and its position.
 */
export function assertFinite(fn: string, arg: string, m: Mat | MatF32): void {
  const { data, cols } = m;
  // v·0 is 0 for finite v and NaN for ±Infinity/NaN: one tight pass finds whether to look
  // (four independent sums, so the pass is not one chain of dependent adds).
  let p0 = 0,
    p1 = 0,
    p2 = 0,
    p3 = 0;
  let k4 = 0;
  for (; k4 + 3 < data.length; k4 += 4) {
    p0 += data[k4] * 0;
    p1 += data[k4 + 1] * 0;
    p2 += data[k4 + 2] * 0;
    p3 += data[k4 + 3] * 0;
  }
  for (; k4 < data.length; k4++) p0 += data[k4] * 0;
  const probe = p0 + p1 + (p2 + p3);
  for (let k = 0; probe !== 0 && k < data.length; k++) {
    const v = data[k];
    if (!Number.isFinite(v)) {
      const i = Math.floor(k / cols);
      throw new NRCInputError(
        fn,
        arg,
        `${arg} must hold finite numbers; got ${typeof v === "number" ? String(v) : describe(v)} at (${i}, ${k - i * cols})`,
      );
    }
  }
}

/**
 * Validates and copies a matrix argument into a float64 {@link Mat}.
 * @throws NRCInputError when the value is not a matrix, is empty or ragged, or holds NaN/±Infinity.
 */
export function toMat(fn: string, arg: string, x: unknown, opts: ToMatOptions = {}): Mat {
  const minRows = opts.minRows ?? 1;
  let rows: number;
  let cols: number;
  let data: Float64Array;
  if (Array.isArray(x)) {
    rows = x.length;
    if (rows === 0)
      throw new NRCInputError(fn, arg, `${arg} must be a non-empty matrix; got an empty array`);
    const first = x[0];
    if (!Array.isArray(first) && !ArrayBuffer.isView(first))
      throw new NRCInputError(
        fn,
        arg,
        `${arg} must be a matrix (an array of rows); got ${describe(x)}`,
      );
    cols = (first as ArrayLike<number>).length;
    if (cols === 0)
      throw new NRCInputError(fn, arg, `${arg} must have at least one column; got ${rows}×0`);
    data = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      const row = x[i] as ArrayLike<number>;
      if (row == null || typeof row.length !== "number")
        throw new NRCInputError(
          fn,
          arg,
          `${arg} row ${i} must be an array of numbers; got ${describe(row)}`,
        );
      if (row.length !== cols)
        throw new NRCInputError(
          fn,
          arg,
          `${arg} must not be ragged: every row needs ${cols} entries (row 0); row ${i} has ${row.length}`,
        );
      const plain = Array.isArray(row);
      for (let j = 0; j < cols; j++) {
        const v: unknown = row[j];
        if (plain && typeof v !== "number") throw notANumber(fn, arg, v, i, j);
        data[i * cols + j] = v as number;
      }
    }
  } else if (x !== null && typeof x === "object") {
    const o = x as Record<string, unknown>;
    if (typeof o.rows === "number" && typeof o.cols === "number" && "data" in o) {
      rows = o.rows;
      cols = o.cols;
      if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1)
        throw new NRCInputError(
          fn,
          arg,
          `${arg} must have positive integer rows and cols; got ${rows}×${cols}`,
        );
      if (!isArrayLikeNumbers(o.data))
        throw new NRCInputError(
          fn,
          arg,
          `${arg}.data must be a Float64Array, Float32Array or number[]; got ${describe(o.data)}`,
        );
      const d = o.data as ArrayLike<number>;
      checkNumbers(fn, `${arg}.data`, d, cols);
      if (d.length !== rows * cols)
        throw new NRCInputError(
          fn,
          arg,
          `${arg}.data must hold rows·cols = ${rows}·${cols} = ${rows * cols} values; got ${d.length}`,
        );
      // A Float64Array is used in place, not copied (a copy of a 10000×512 layer costs ~40 ms,
      // mostly page faults): nothing in this library writes to a matrix it was given, which
      // test/errors.test.ts checks for every public function and backend.
      data = d instanceof Float64Array ? d : Float64Array.from(d as ArrayLike<number>);
    } else if (
      typeof o.rows === "number" &&
      typeof o.columns === "number" &&
      typeof o.get === "function"
    ) {
      const m = x as MatrixLikeObject;
      rows = m.rows;
      cols = m.columns;
      if (rows < 1 || cols < 1)
        throw new NRCInputError(fn, arg, `${arg} must be a non-empty matrix; got ${rows}×${cols}`);
      data = new Float64Array(rows * cols);
      for (let i = 0; i < rows; i++)
        for (let j = 0; j < cols; j++) {
          const v: unknown = m.get(i, j);
          if (typeof v !== "number") throw notANumber(fn, arg, v, i, j);
          data[i * cols + j] = v;
        }
    } else {
      throw new NRCInputError(
        fn,
        arg,
        `${arg} must be a matrix (number[][], { rows, cols, data } or an ml-matrix Matrix); got ${describe(x)}`,
      );
    }
  } else {
    throw new NRCInputError(
      fn,
      arg,
      `${arg} must be a matrix (number[][], { rows, cols, data } or an ml-matrix Matrix); got ${describe(x)}`,
    );
  }
  if (!opts.skipFinite) assertFinite(fn, arg, { rows, cols, data });
  if (rows < minRows)
    throw new NRCInputError(
      fn,
      arg,
      `${arg} must have at least ${minRows} rows (samples); got ${fmtShape(rows, cols)}`,
    );
  return { rows, cols, data };
}

/**
 * {@link toMat} that keeps float32 values as they are: a `{ rows, cols, data }` value whose data
 * is a Float32Array is checked exactly as {@link toMat} checks it (shape, length, NaN/±Infinity
 * unless `skipFinite`) and returned as a {@link MatF32} sharing the caller's array (no copy, no
 * widening: the kernels that take float32 widen entry by entry); anything else goes to toMat.
 * @throws NRCInputError as toMat.
 */
export function toMatKeepF32(
  fn: string,
  arg: string,
  x: unknown,
  opts: ToMatOptions = {},
): Mat | MatF32 {
  const o = x as { rows?: unknown; cols?: unknown; data?: unknown } | null;
  if (
    o === null ||
    typeof o !== "object" ||
    Array.isArray(o) ||
    !(o.data instanceof Float32Array) ||
    typeof o.rows !== "number" ||
    typeof o.cols !== "number"
  )
    return toMat(fn, arg, x, opts);
  const { rows, cols, data } = o as { rows: number; cols: number; data: Float32Array };
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1)
    throw new NRCInputError(
      fn,
      arg,
      `${arg} must have positive integer rows and cols; got ${rows}×${cols}`,
    );
  if (data.length !== rows * cols)
    throw new NRCInputError(
      fn,
      arg,
      `${arg}.data must hold rows·cols = ${rows}·${cols} = ${rows * cols} values; got ${data.length}`,
    );
  const m: MatF32 = { rows, cols, data };
  if (!opts.skipFinite) assertFinite(fn, arg, m);
  const minRows = opts.minRows ?? 1;
  if (rows < minRows)
    throw new NRCInputError(
      fn,
      arg,
      `${arg} must have at least ${minRows} rows (samples); got ${fmtShape(rows, cols)}`,
    );
  return m;
}

export function isTensor4(x: unknown): x is TensorInput {
  return (
    x !== null &&
    typeof x === "object" &&
    Array.isArray((x as TensorInput).shape) &&
    (x as TensorInput).shape.length === 4 &&
    "data" in (x as object)
  );
}

/** A matrix argument, also accepting a 2-D `{ data, shape }` tensor. @internal */
export function asMatrix(
  fn: string,
  arg: string,
  x: unknown,
  minRows?: number,
  skipFinite?: boolean,
): Mat;
export function asMatrix(
  fn: string,
  arg: string,
  x: unknown,
  minRows: number,
  skipFinite: boolean,
  keepFloat32: boolean,
): Mat | MatF32;
export function asMatrix(
  fn: string,
  arg: string,
  x: unknown,
  minRows = 1,
  skipFinite = false,
  keepFloat32 = false,
): Mat | MatF32 {
  const conv = keepFloat32 ? toMatKeepF32 : toMat;
  if (x !== null && typeof x === "object" && Array.isArray((x as TensorInput).shape)) {
    const s = (x as TensorInput).shape;
    if (s.length !== 2)
      throw new NRCInputError(
        fn,
        arg,
        `${arg} must be a matrix or a 4-D conv tensor; got a tensor of shape [${s.join(", ")}]`,
      );
    return conv(
      fn,
      arg,
      { rows: s[0], cols: s[1], data: (x as TensorInput).data },
      { minRows, skipFinite },
    );
  }
  return conv(fn, arg, x, { minRows, skipFinite });
}
