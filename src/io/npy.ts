/**
 * A lazy, strict reader for NumPy `.npy` files (format versions 1.0, 2.0 and 3.0).
 *
 * Why not an npm package: the ones that exist (e.g. `npyjs`, `numpy-parser`) parse a whole
 * in-memory buffer, read little-endian C-order only and do little validation. Here we need ranged
 * reads (a row range of a file larger than memory), big-endian and Fortran-order files, float16,
 * 64-bit integers, and malformed files rejected before anything the header claims is allocated.
 *
 * Format (numpy.lib.format, NEP 1): the magic `\x93NUMPY`, a major and minor version byte, the
 * header length (uint16 LE in v1, uint32 LE in v2/v3), then the header: a Python dict literal
 * `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }` (latin-1 in v1/v2, UTF-8 in v3)
 * padded with spaces and a newline, then the raw data.
 *
 * Browser-safe: reads through a {@link ByteSource}.
 * @module
 */
import { NRCInputError } from "../errors.js";
import {
  type ElementType,
  type ReadTensorOptions,
  type Tensor,
  type TensorF32,
  boundedProduct,
} from "./common.js";
import { type ByteSource, checkSource, readExact, sourceName } from "./source.js";
import { decodeRows, planRows, readCOrderRows } from "./rows.js";

/** The parsed header of a `.npy` file. */
export interface NpyHeader {
  /** Format version `[major, minor]`: `[1, 0]`, `[2, 0]` or `[3, 0]`. */
  version: [number, number];
  /** The dtype descriptor as written, e.g. `"<f4"`, `">i8"`, `"|u1"`. */
  descr: string;
  /** Decoded element type. */
  element: ElementType;
  /** Whether the data is stored in Fortran (column-major) order. */
  fortranOrder: boolean;
  /** The array's shape. */
  shape: number[];
  /** Byte offset of the data in the file. */
  dataOffset: number;
  /** Byte length of the data (= prod(shape) · element size). */
  dataBytes: number;
}

/** Options for {@link readNpyHeader}. */
export interface NpyHeaderOptions {
  /** Largest header accepted, in bytes (default 1 MiB; numpy's own headers are < 1 KiB). */
  maxHeaderBytes?: number;
}

/** Options for {@link readNpy}. */
export interface ReadNpyOptions extends ReadTensorOptions, NpyHeaderOptions {
  /**
   * A header from {@link readNpyHeader} on the same source, to avoid re-reading it (a stream of
   * row ranges then costs one read per range). It is checked against the source's size.
   */
  header?: NpyHeader;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const DEFAULT_MAX_HEADER = 1 << 20;
const MAX_DIMS = 64;

// ---------------------------------------------------------------------------------------------
// A tiny parser for the Python literals numpy writes (dict, tuple, list, str, int, bool, None).

type PyValue =
  | { t: "str"; v: string }
  | { t: "int"; v: number }
  | { t: "bool"; v: boolean }
  | { t: "none" }
  | { t: "tuple"; v: PyValue[] }
  | { t: "list"; v: PyValue[] }
  | { t: "dict"; v: Map<string, PyValue> };

class PyParser {
  private i = 0;
  constructor(
    private readonly s: string,
    private readonly fail: (msg: string) => never,
  ) {}

  private ws(): void {
    while (this.i < this.s.length && " \t\r\n\f\v\0".includes(this.s[this.i])) this.i++;
  }

  parseTop(): PyValue {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.i !== this.s.length)
      this.fail(
        `unexpected ${JSON.stringify(this.s.slice(this.i, this.i + 16).trimEnd())} after the header dict at character ${this.i}`,
      );
    return v;
  }

  private expect(ch: string): void {
    this.ws();
    if (this.s[this.i] !== ch)
      this.fail(
        `expected '${ch}' at character ${this.i}, found ${this.i < this.s.length ? JSON.stringify(this.s[this.i]) : "the end of the header"}`,
      );
    this.i++;
  }

  private value(depth: number): PyValue {
    if (depth > 16) this.fail("header literal nested too deeply");
    this.ws();
    const c = this.s[this.i];
    if (c === undefined) this.fail("header ended where a value was expected");
    if (c === "'" || c === '"') return { t: "str", v: this.string() };
    if (c === "{") return this.dict(depth);
    if (c === "(" || c === "[") {
      const close = c === "(" ? ")" : "]";
      this.i++;
      const items: PyValue[] = [];
      let sawComma = false;
      for (;;) {
        this.ws();
        if (this.s[this.i] === close) {
          this.i++;
          break;
        }
        items.push(this.value(depth + 1));
        this.ws();
        if (this.s[this.i] === ",") {
          this.i++;
          sawComma = true;
          continue;
        }
        this.expect(close);
        break;
      }
      // Python: "(3)" is the int 3, not a tuple; numpy always writes "(3,)".
      if (c === "(" && items.length === 1 && !sawComma) return items[0];
      return { t: c === "(" ? "tuple" : "list", v: items };
    }
    const m = /^(-?\d+)L?|^(True|False|None)\b/.exec(this.s.slice(this.i, this.i + 40));
    if (!m)
      this.fail(
        `unexpected ${JSON.stringify(this.s.slice(this.i, this.i + 16))} at character ${this.i}`,
      );
    this.i += m[0].length;
    if (m[2] === "True") return { t: "bool", v: true };
    if (m[2] === "False") return { t: "bool", v: false };
    if (m[2] === "None") return { t: "none" };
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n)) this.fail(`integer ${m[1].slice(0, 30)} is too large`);
    return { t: "int", v: n };
  }

  private string(): string {
    const q = this.s[this.i++];
    const start = this.i;
    while (this.i < this.s.length && this.s[this.i] !== q) {
      if (this.s[this.i] === "\\")
        this.fail("escape sequences in header strings are not supported");
      if (this.s[this.i] === "\n") this.fail("unterminated string in header");
      this.i++;
    }
    if (this.i >= this.s.length) this.fail("unterminated string in header");
    return this.s.slice(start, this.i++);
  }

  private dict(depth: number): PyValue {
    this.i++; // {
    const map = new Map<string, PyValue>();
    for (;;) {
      this.ws();
      if (this.s[this.i] === "}") {
        this.i++;
        break;
      }
      const c = this.s[this.i];
      if (c !== "'" && c !== '"')
        this.fail(
          `expected a string key at character ${this.i}, found ${c === undefined ? "the end" : JSON.stringify(c)}`,
        );
      const k = this.string();
      this.expect(":");
      const v = this.value(depth + 1);
      if (map.has(k)) this.fail(`duplicate key '${k}'`);
      map.set(k, v);
      this.ws();
      if (this.s[this.i] === ",") {
        this.i++;
        continue;
      }
      this.expect("}");
      break;
    }
    return { t: "dict", v: map };
  }
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096)
    s += String.fromCharCode(...bytes.subarray(i, Math.min(i + 4096, bytes.length)));
  return s;
}

function describePy(v: PyValue): string {
  switch (v.t) {
    case "str":
      return `'${v.v.slice(0, 40)}'`;
    case "int":
      return String(v.v);
    case "bool":
      return v.v ? "True" : "False";
    case "none":
      return "None";
    case "tuple":
      return `a tuple of ${v.v.length}`;
    case "list":
      return `a list of ${v.v.length}`;
    case "dict":
      return "a dict";
  }
}

const DESCR_SIZES: Record<string, readonly number[]> = {
  f: [2, 4, 8],
  i: [1, 2, 4, 8],
  u: [1, 2, 4, 8],
  b: [1],
};

/** Parses a numpy descr such as `<f4` into an element type, or returns an error message. */
function parseDescr(descr: string): ElementType | string {
  const m = /^([<>|=])([fiub])(\d{1,2})$/.exec(descr);
  const supported = "f2/f4/f8, i1/i2/i4/i8, u1/u2/u4/u8 or b1 with byte order '<', '>' or '|'";
  if (!m) return `unsupported dtype '${descr.slice(0, 40)}' (supported: ${supported})`;
  const [, order, kind, sz] = m;
  const size = Number(sz);
  if (!DESCR_SIZES[kind].includes(size))
    return `unsupported dtype '${descr}' (supported: ${supported})`;
  if (order === "=")
    return `dtype '${descr}' has native byte order '=', which is ambiguous in a file (numpy writes '<' or '>')`;
  if (order === "|" && size !== 1)
    return `dtype '${descr}' has byte order '|' (not applicable) but ${size}-byte elements`;
  return { kind: kind as ElementType["kind"], size, littleEndian: order !== ">" };
}

async function parseNpyHeader(
  fn: string,
  src: ByteSource,
  opts: NpyHeaderOptions,
): Promise<NpyHeader> {
  const name = sourceName(src);
  const bad = (msg: string): never => {
    throw new NRCInputError(fn, "source", `${name}: ${msg}`);
  };
  const maxHeader = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER;
  if (!(Number.isSafeInteger(maxHeader) && maxHeader > 0))
    throw new NRCInputError(
      fn,
      "maxHeaderBytes",
      `maxHeaderBytes must be a positive integer; got ${String(opts.maxHeaderBytes)}`,
    );
  if (src.size < 10) bad(`not a .npy file: ${src.size} bytes, shorter than the 10-byte preamble`);
  const pre = await readExact(fn, src, 0, Math.min(12, src.size), "the preamble");
  for (let k = 0; k < 6; k++)
    if (pre[k] !== MAGIC[k])
      bad("not a .npy file: it does not start with the magic string \\x93NUMPY");
  const major = pre[6];
  const minor = pre[7];
  if (!((major === 1 || major === 2 || major === 3) && minor === 0))
    bad(`unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  let headerLen: number;
  let prefix: number;
  if (major === 1) {
    headerLen = pre[8] | (pre[9] << 8);
    prefix = 10;
  } else {
    if (src.size < 12)
      bad(`truncated: ${src.size} bytes, shorter than the 12-byte v${major} preamble`);
    headerLen = (pre[8] | (pre[9] << 8) | (pre[10] << 16)) + pre[11] * 2 ** 24;
    prefix = 12;
  }
  if (headerLen > maxHeader)
    bad(`header length ${headerLen} exceeds the limit of ${maxHeader} bytes (maxHeaderBytes)`);
  if (prefix + headerLen > src.size)
    bad(`header length ${headerLen} runs past the end of the file (${src.size} bytes; truncated?)`);
  const hb = await readExact(fn, src, prefix, headerLen, "the header");
  let text: string;
  if (major === 3) {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(hb);
    } catch {
      return bad("header is not valid UTF-8 (required by format version 3.0)");
    }
  } else text = latin1(hb);

  const top = new PyParser(text, (m) => bad(`malformed header: ${m}`)).parseTop();
  if (top.t !== "dict") return bad(`malformed header: expected a dict, got ${describePy(top)}`);
  const keys = [...top.v.keys()].sort();
  if (keys.join(",") !== "descr,fortran_order,shape")
    bad(
      `malformed header: expected exactly the keys descr, fortran_order, shape; got ${keys.map((k) => `'${k.slice(0, 30)}'`).join(", ") || "none"}`,
    );
  const d = top.v.get("descr")!;
  const fo = top.v.get("fortran_order")!;
  const sh = top.v.get("shape")!;
  if (d.t !== "str")
    bad(
      d.t === "list"
        ? "structured dtypes (a list descr) are not supported; save each field as its own array"
        : `descr must be a string, got ${describePy(d)}`,
    );
  const element = parseDescr((d as { v: string }).v);
  if (typeof element === "string") return bad(element);
  if (fo.t !== "bool") bad(`fortran_order must be True or False, got ${describePy(fo)}`);
  if (sh.t !== "tuple") bad(`shape must be a tuple, got ${describePy(sh)}`);
  const dims = (sh as { v: PyValue[] }).v;
  if (dims.length > MAX_DIMS) bad(`shape has ${dims.length} dimensions, more than ${MAX_DIMS}`);
  const shape: number[] = [];
  for (const x of dims) {
    if (x.t !== "int" || x.v < 0)
      bad(`shape must hold non-negative integers, got ${describePy(x)}`);
    shape.push((x as { v: number }).v);
  }
  const dataOffset = prefix + headerLen;
  const available = src.size - dataOffset;
  const count = boundedProduct(shape, Math.floor(available / element.size));
  const shapeStr = `(${shape.join(", ")}${shape.length === 1 ? "," : ""})`;
  if (count < 0) {
    const declared = boundedProduct(shape, Number.MAX_SAFE_INTEGER / element.size);
    bad(
      `header declares shape ${shapeStr} of ${(d as { v: string }).v}${declared >= 0 ? ` = ${declared * element.size} bytes of data` : ""}, more than the ${available} bytes after the header (truncated file or lying header)`,
    );
  }
  const dataBytes = count * element.size;
  if (dataBytes !== available)
    bad(
      `header declares shape ${shapeStr} of ${(d as { v: string }).v} = ${dataBytes} bytes of data, but ${available} bytes follow the header (${dataBytes < available ? "trailing garbage or lying header" : "truncated file"})`,
    );
  return {
    version: [major, minor],
    descr: (d as { v: string }).v,
    element,
    fortranOrder: (fo as { v: boolean }).v,
    shape,
    dataOffset,
    dataBytes,
  };
}

/**
 * Reads and validates the header of a `.npy` file, without reading its data.
 *
 * The header must be exactly what numpy writes: version 1.0–3.0, keys `descr`, `fortran_order`,
 * `shape`, a supported dtype, and a data size that matches the bytes after the header exactly.
 *
 * @param src - The file, as a {@link ByteSource} (e.g. `memorySource(bytes)` or
 *   `await openFileSource(path)` in Node).
 * @param opts - `maxHeaderBytes` (default 1 MiB).
 * @returns The header: version, dtype descriptor, element type, order, shape, data offset/size.
 * @throws NRCInputError naming `readNpyHeader` when the file is not a valid `.npy` file
 *   (bad magic or version, malformed or oversized header, unsupported dtype, data size that does
 *   not match the shape).
 * @example
 * ```ts
 * const h = await readNpyHeader(memorySource(bytes));
 * console.log(h.shape, h.descr); // [1000, 512] "<f4"
 * ```
 */
export async function readNpyHeader(
  src: ByteSource,
  opts: NpyHeaderOptions = {},
): Promise<NpyHeader> {
  return parseNpyHeader("readNpyHeader", checkSource("readNpyHeader", src), opts);
}

/**
 * Reads a `.npy` array (or a range of its rows) as float64 in C order.
 *
 * Only the header and the requested bytes are read; the output is allocated only after the header
 * has been checked against the file size, so a lying header cannot trigger a huge allocation.
 * Fortran-order files are transposed to C order; big-endian data is byte-swapped; float16 and
 * 64-bit integers are converted exactly (int64/uint64 beyond 2⁵³ are rounded to nearest, as
 * numpy's `astype(float64)` does); bool becomes 0/1.
 *
 * @param src - The file as a {@link ByteSource}.
 * @param opts - `rows: [start, end)` along the first axis; `maxElements` (default 2²⁸);
 *   `maxHeaderBytes`; `into` (a buffer to decode into); `float32: true` to get a float32
 *   array's values as a Float32Array ({@link TensorF32}: no conversion, half the memory).
 * @returns `{ shape, dtype, data }` where `shape[0]` is `end − start` when `rows` was given.
 * @throws NRCInputError naming `readNpy` for a malformed file, a short read, a bad row range, or
 *   more than `maxElements` values.
 * @example
 * ```ts
 * const src = await openFileSource("features.0.npy"); // Node; memorySource(bytes) in a browser
 * const batch = await readNpy(src, { rows: [0, 512] }); // the first 512 samples only
 * const H = tensorToMatrix(batch);                       // { rows: 512, cols, data }
 * ```
 */
export async function readNpy(
  src: ByteSource,
  opts: ReadNpyOptions & { float32: true },
): Promise<Tensor | TensorF32>;
export async function readNpy(src: ByteSource, opts?: ReadNpyOptions): Promise<Tensor>;
export async function readNpy(
  src: ByteSource,
  opts: ReadNpyOptions = {},
): Promise<Tensor | TensorF32> {
  const fn = "readNpy";
  checkSource(fn, src);
  const h = opts.header ?? (await parseNpyHeader(fn, src, opts));
  if (opts.header && !(h.dataOffset + h.dataBytes <= src.size))
    throw new NRCInputError(
      fn,
      "header",
      `${sourceName(src)}: the given header puts ${h.dataBytes} data bytes at offset ${h.dataOffset}, past the end of the ${src.size}-byte source (a header read from another file?)`,
    );
  const plan = planRows(
    fn,
    { element: h.element, shape: h.shape, dtype: h.descr },
    opts,
    (shape) => `the requested array of shape (${shape.join(", ")})`,
  );
  const { s, nRows, rowElements: R, f32, chunkBytes, out } = plan;
  const data = out.data;
  if (plan.count === 0) return out;
  if (!h.fortranOrder || h.shape.length <= 1) {
    // C order: the rows are one contiguous range.
    await readCOrderRows(fn, src, h.element, h.dataOffset, plan, "array data");
    return out;
  }
  const rest = h.shape.slice(1);
  const size = h.element.size;
  const decode = (bytes: Uint8Array, n: number, into: Float64Array | Float32Array, at: number) =>
    decodeRows(plan, h.element, bytes, n, into, at);
  // Fortran order: element (i0, i1, …, ik) sits at i0 + d0·(i1 + d1·(i2 + …)), so for each
  // "column" j (a Fortran-linear index over the trailing dims) the requested rows are contiguous.
  const d0 = h.shape[0];
  // cIndex[j]: the C-linear index over the trailing dims of the j-th Fortran column.
  const cIndex = new Float64Array(R);
  {
    const idx = new Array<number>(rest.length).fill(0);
    const cStride = new Array<number>(rest.length);
    let st = 1;
    for (let k = rest.length - 1; k >= 0; k--) {
      cStride[k] = st;
      st *= rest[k];
    }
    for (let j = 0; j < R; j++) {
      let c = 0;
      for (let k = 0; k < rest.length; k++) c += idx[k] * cStride[k];
      cIndex[j] = c;
      for (let k = 0; k < rest.length; k++) {
        if (++idx[k] < rest[k]) break;
        idx[k] = 0;
      }
    }
  }
  const colBytes = d0 * size;
  // Columns are decoded `sub` at a time into tmp (column-major), then written out in 64-row tiles
  // so that the strided writes into the C-order output stay in cache.
  const sub = Math.max(1, Math.min(32, Math.floor((1 << 22) / nRows)));
  const tmp = f32 ? new Float32Array(sub * nRows) : new Float64Array(sub * nRows);
  // Dense request (≥ 1/4 of each column): read spans of whole columns; sparse: one read per column.
  const colsPerRead = nRows * 4 >= d0 ? Math.max(1, Math.floor(chunkBytes / colBytes)) : 1;
  for (let j0 = 0; j0 < R; j0 += colsPerRead) {
    const nc = Math.min(colsPerRead, R - j0);
    const start = h.dataOffset + (j0 * d0 + s) * size;
    const len = ((nc - 1) * d0 + nRows) * size;
    const bytes = await readExact(fn, src, start, len, "array data");
    for (let g = 0; g < nc; g += sub) {
      const m = Math.min(sub, nc - g);
      for (let q = 0; q < m; q++) {
        const b0 = (g + q) * colBytes;
        decode(bytes.subarray(b0, b0 + nRows * size), nRows, tmp, q * nRows);
      }
      for (let i0 = 0; i0 < nRows; i0 += 64) {
        const i1 = Math.min(nRows, i0 + 64);
        for (let q = 0; q < m; q++) {
          const c = cIndex[j0 + g + q];
          const off = q * nRows;
          for (let i = i0; i < i1; i++) data[i * R + c] = tmp[off + i];
        }
      }
    }
  }
  return out;
}
