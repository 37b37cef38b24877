/**
 * Reading a range of rows of a stored array — the one row reader behind `readNpy` and
 * `readSafetensor`: the row range and allocation checked, the output buffer chosen (float64, or
 * float32 kept as stored), and the rows of a C-order array read in bounded chunks and decoded
 * (float32 little-endian data read straight into the output).
 * @module
 */
import { type ByteSource, readExact, readExactInto } from "./source.js";
import {
  type ElementType,
  type ReadTensorOptions,
  type Tensor,
  type TensorF32,
  PLATFORM_LE,
  checkAllocation,
  checkRows,
  chunkBytesOption,
  boundedProduct,
  decodeF32Into,
  decodeInto,
  keepsFloat32,
  outputBuffer,
} from "./common.js";

/** How an array is stored: its element type, full shape and dtype name. @internal */
export interface StoredArray {
  element: ElementType;
  shape: readonly number[];
  dtype: string;
}

/** A planned read of rows [s, e) of a {@link StoredArray}. @internal */
export interface RowPlan {
  s: number;
  e: number;
  /** Rows in the output (1 for a 0-d array). */
  nRows: number;
  /** Elements per row. */
  rowElements: number;
  count: number;
  f32: boolean;
  chunkBytes: number;
  out: Tensor | TensorF32;
}

/**
 * Checks a row read (range, allocation against `maxElements`, `into`, `chunkBytes`) and allocates
 * its output; `label(shape)` names the requested array in the allocation error.
 * @internal
 */
export function planRows(
  fn: string,
  a: StoredArray,
  opts: ReadTensorOptions,
  label: (shape: readonly number[]) => string,
): RowPlan {
  const [s, e] = checkRows(fn, a.shape, opts.rows);
  const chunkBytes = chunkBytesOption(fn, opts.chunkBytes);
  const shape = a.shape.length === 0 ? [] : [e - s, ...a.shape.slice(1)];
  const count = boundedProduct(shape, Number.MAX_SAFE_INTEGER); // ≤ stored elements: bounded
  checkAllocation(fn, count, opts.maxElements, label(shape));
  const f32 = keepsFloat32(a.element, opts);
  const data = outputBuffer(fn, count, opts.into, f32);
  const nRows = a.shape.length === 0 ? 1 : e - s;
  return {
    s,
    e,
    nRows,
    rowElements: nRows > 0 ? count / nRows : 0,
    count,
    f32,
    chunkBytes,
    out: { shape, dtype: a.dtype, data } as Tensor | TensorF32,
  };
}

/**
 * Decodes `n` stored elements into `into` at `offset`: float32 values as float32 when the plan
 * keeps them, else as float64. @internal
 */
export function decodeRows(
  plan: RowPlan,
  element: ElementType,
  bytes: Uint8Array,
  n: number,
  into: Float64Array | Float32Array,
  offset: number,
): void {
  if (plan.f32) decodeF32Into(bytes, element.littleEndian, n, into as Float32Array, offset);
  else decodeInto(bytes, element, n, into as Float64Array, offset);
}

/**
 * Reads the planned rows of a C-order array whose row 0 starts at byte `base` of `src`, in
 * chunks of at most `chunkBytes` (at least one row); `what` names the data in short-read errors.
 * @internal
 */
export async function readCOrderRows(
  fn: string,
  src: ByteSource,
  element: ElementType,
  base: number,
  plan: RowPlan,
  what: string,
): Promise<void> {
  const { nRows, rowElements: R, out } = plan;
  const data = out.data;
  const rowBytes = R * element.size;
  const start = base + plan.s * rowBytes;
  const rowsPerChunk = Math.max(1, Math.floor(plan.chunkBytes / rowBytes));
  for (let r = 0; r < nRows; r += rowsPerChunk) {
    const nr = Math.min(rowsPerChunk, nRows - r);
    const at = start + r * rowBytes;
    if (plan.f32 && element.littleEndian === PLATFORM_LE) {
      // The stored bytes are the output: read them in place (no buffer, no copy).
      const target = new Uint8Array(data.buffer, data.byteOffset + r * rowBytes, nr * rowBytes);
      await readExactInto(fn, src, at, target, what);
      continue;
    }
    const bytes = await readExact(fn, src, at, nr * rowBytes, what);
    decodeRows(plan, element, bytes, nr * R, data, r * R);
  }
}
