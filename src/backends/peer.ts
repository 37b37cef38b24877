/**
 * What the optional-peer backends (webgpu, tfjs) share: loading an optional peer package without
 * letting a bundler pull it into the core, and the check of a kernel's matrix argument.
 *
 * @module
 */
import { NRCInputError, fmtShape } from "../errors.js";
import type { Mat, MatF32 } from "./types.js";

/**
 * Imports an optional peer package by name. The specifier is a variable, so bundlers leave the
 * import alone and the core never depends on the peer.
 *
 * @param name The package name, e.g. `"webgpu"` or `"@tensorflow/tfjs-core"`.
 * @param why The start of the error message when it cannot be loaded (the loader's own message
 *   is appended).
 * @returns The module namespace.
 * @throws Error `${why}: ${the loader's message}` when the package is missing or fails to load.
 * @example
 * ```ts
 * const tf = await importPeer<TF>("@tensorflow/tfjs-core", "tfjs backend: install the peer");
 * ```
 */
export async function importPeer<T>(name: string, why: string): Promise<T> {
  try {
    return (await import(/* @vite-ignore */ /* webpackIgnore: true */ name)) as T;
  } catch (e) {
    throw new Error(`${why}: ${(e as Error).message}`);
  }
}

/**
 * Checks a kernel's matrix argument: `{ rows ≥ 1, cols ≥ 1, data }` with `data` a Float64Array
 * (or, with `float32`, also a Float32Array) of rows·cols entries.
 *
 * @param fn The kernel's name, for the message.
 * @param arg The argument's name.
 * @param x The value to check.
 * @param float32 Whether a {@link MatF32} is accepted too (default false).
 * @throws NRCInputError naming fn, arg, what was expected and what came.
 * @example
 * ```ts
 * checkMat("gram", "a", { rows: 2, cols: 1, data: new Float64Array(2) }); // passes
 * ```
 */
export function checkMat(fn: string, arg: string, x: unknown, float32 = false): void {
  const m = x as Mat | MatF32 | null;
  const typed =
    m !== null &&
    typeof m === "object" &&
    (m.data instanceof Float64Array || (float32 && m.data instanceof Float32Array));
  if (
    typed &&
    Number.isInteger(m.rows) &&
    Number.isInteger(m.cols) &&
    m.rows >= 1 &&
    m.cols >= 1 &&
    m.data.length === m.rows * m.cols
  )
    return;
  const want = float32 ? "Float64Array or Float32Array" : "Float64Array";
  throw new NRCInputError(
    fn,
    arg,
    `${arg} must be a Mat { rows ≥ 1, cols ≥ 1, data: ${want} of rows·cols }; got ${
      m && typeof m === "object"
        ? `${fmtShape(m.rows, m.cols)} with data ${m.data?.constructor?.name ?? typeof m.data} of length ${m.data?.length}`
        : m === null
          ? "null"
          : typeof m
    }`,
  );
}

/**
 * Checks a kernel's pair of matrix arguments `a` and (when given) `b`: each a {@link checkMat}
 * matrix (float32 allowed), with the same number of rows.
 * @throws NRCInputError naming fn and the argument at fault, with the shapes.
 */
export function checkMatPair(fn: string, a: unknown, b: unknown): void {
  checkMat(fn, "a", a, true);
  if (b === null || b === undefined) return;
  checkMat(fn, "b", b, true);
  const x = a as Mat;
  const y = b as Mat;
  if (y.rows !== x.rows)
    throw new NRCInputError(
      fn,
      "b",
      `a and b must have the same number of rows; got ${fmtShape(x.rows, x.cols)} and ${fmtShape(y.rows, y.cols)}`,
    );
}

/**
 * A float32 backend's `precision` option: `"exact"` (the default) or `"float32"`.
 * @throws NRCInputError naming fn and `precision` otherwise.
 */
export function checkPrecision(fn: string, precision: unknown): "exact" | "float32" {
  const p = precision ?? "exact";
  if (p !== "exact" && p !== "float32")
    throw new NRCInputError(
      fn,
      "precision",
      `precision must be "exact" or "float32"; got ${JSON.stringify(p)}`,
    );
  return p;
}
