/**
 * A lazy, strict reader for `.safetensors` files.
 *
 * Why not an npm package: the JavaScript parsers available (e.g. the `safetensors` package at
 * 0.0.1) read a whole buffer and do not validate offsets; we need one tensor or a row range of a
 * file larger than memory, and malformed files rejected before anything is allocated.
 *
 * Format (huggingface/safetensors): 8 bytes little-endian unsigned header length N; N bytes of
 * UTF-8 JSON, an object mapping tensor names to `{ "dtype", "shape", "data_offsets": [begin, end] }`
 * plus an optional `"__metadata__"` object of string → string (the header may be padded with
 * spaces); then the byte buffer. Offsets are relative to the buffer; tensors are little-endian,
 * C order, and (as the reference implementation checks) tile the buffer exactly: sorted by
 * offset they start at 0, follow each other without gap or overlap, and end at the buffer's end.
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
import { planRows, readCOrderRows } from "./rows.js";

/** The safetensors dtypes this reader decodes. */
export type SafetensorsDtype =
  | "F16"
  | "BF16"
  | "F32"
  | "F64"
  | "I8"
  | "I16"
  | "I32"
  | "I64"
  | "U8"
  | "U16"
  | "U32"
  | "U64"
  | "BOOL";

const DTYPES: Record<SafetensorsDtype, ElementType> = {
  F16: { kind: "f", size: 2, littleEndian: true },
  BF16: { kind: "bf", size: 2, littleEndian: true },
  F32: { kind: "f", size: 4, littleEndian: true },
  F64: { kind: "f", size: 8, littleEndian: true },
  I8: { kind: "i", size: 1, littleEndian: true },
  I16: { kind: "i", size: 2, littleEndian: true },
  I32: { kind: "i", size: 4, littleEndian: true },
  I64: { kind: "i", size: 8, littleEndian: true },
  U8: { kind: "u", size: 1, littleEndian: true },
  U16: { kind: "u", size: 2, littleEndian: true },
  U32: { kind: "u", size: 4, littleEndian: true },
  U64: { kind: "u", size: 8, littleEndian: true },
  BOOL: { kind: "b", size: 1, littleEndian: true },
};

/** One tensor's entry in a safetensors header. */
export interface SafetensorsTensorInfo {
  /** The tensor's name. */
  name: string;
  /** Its dtype. */
  dtype: SafetensorsDtype;
  /** Its shape. */
  shape: number[];
  /** `[begin, end)` byte offsets relative to the start of the data buffer. */
  dataOffsets: [number, number];
}

/** The parsed header of a `.safetensors` file. */
export interface SafetensorsHeader {
  /** Byte offset of the data buffer in the file (8 + header length). */
  dataOffset: number;
  /** The `__metadata__` object, or null when absent. */
  metadata: Record<string, string> | null;
  /** The tensors, in data order (by offset). */
  tensors: SafetensorsTensorInfo[];
}

/** Options for {@link readSafetensorsHeader}. */
export interface SafetensorsHeaderOptions {
  /** Largest JSON header accepted, in bytes (default 100 MB, the reference implementation's limit). */
  maxHeaderBytes?: number;
}

/** Options for {@link readSafetensor}. */
export interface ReadSafetensorOptions extends ReadTensorOptions, SafetensorsHeaderOptions {
  /** A header from {@link readSafetensorsHeader} on the same source, to avoid re-reading it. */
  header?: SafetensorsHeader;
}

const DEFAULT_MAX_HEADER = 100_000_000;
const MAX_DIMS = 64;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

async function parseHeader(
  fn: string,
  src: ByteSource,
  opts: SafetensorsHeaderOptions,
): Promise<SafetensorsHeader> {
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
  if (src.size < 8)
    bad(`not a .safetensors file: ${src.size} bytes, shorter than the 8-byte header length`);
  const pre = await readExact(fn, src, 0, 8, "the header length");
  const dv = new DataView(pre.buffer, pre.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo; // may be inexact above 2^53, but then it is far beyond any limit
  if (n > maxHeader)
    bad(`header length ${n} exceeds the limit of ${maxHeader} bytes (maxHeaderBytes)`);
  if (8 + n > src.size)
    bad(`header length ${n} runs past the end of the file (${src.size} bytes; truncated?)`);
  if (n < 2) bad(`header length ${n} is too short for a JSON object`);
  const hb = await readExact(fn, src, 8, n, "the header");
  if (hb[0] !== 0x7b)
    bad(`header does not start with '{' (byte 0x${hb[0].toString(16).padStart(2, "0")})`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(hb);
  } catch {
    return bad("header is not valid UTF-8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return bad(`header is not valid JSON (${(e as Error).message.slice(0, 120)})`);
  }
  if (!isPlainObject(json)) return bad("header JSON is not an object");
  const dataOffset = 8 + n;
  const bufferLen = src.size - dataOffset;
  let metadata: Record<string, string> | null = null;
  const tensors: SafetensorsTensorInfo[] = [];
  for (const [key, val] of Object.entries(json)) {
    const what = `tensor ${JSON.stringify(key.slice(0, 80))}`;
    if (key === "__metadata__") {
      if (!isPlainObject(val)) bad("__metadata__ must be an object of strings");
      for (const [mk, mv] of Object.entries(val as object))
        if (typeof mv !== "string")
          bad(`__metadata__[${JSON.stringify(mk.slice(0, 80))}] must be a string`);
      metadata = { ...(val as Record<string, string>) };
      continue;
    }
    if (!isPlainObject(val)) bad(`${what}: expected an object { dtype, shape, data_offsets }`);
    const v = val as Record<string, unknown>;
    const extra = Object.keys(v).filter(
      (k) => k !== "dtype" && k !== "shape" && k !== "data_offsets",
    );
    if (extra.length) bad(`${what}: unexpected key ${JSON.stringify(extra[0].slice(0, 40))}`);
    if (typeof v.dtype !== "string") bad(`${what}: dtype must be a string`);
    const dtype = v.dtype as string;
    if (!Object.hasOwn(DTYPES, dtype))
      bad(
        `${what}: unsupported dtype ${JSON.stringify(dtype.slice(0, 20))} (supported: ${Object.keys(DTYPES).join(", ")})`,
      );
    const et = DTYPES[dtype as SafetensorsDtype];
    if (!Array.isArray(v.shape)) bad(`${what}: shape must be an array`);
    const shape = v.shape as unknown[];
    if (shape.length > MAX_DIMS)
      bad(`${what}: shape has ${shape.length} dimensions, more than ${MAX_DIMS}`);
    for (const d of shape)
      if (!(typeof d === "number" && Number.isSafeInteger(d) && d >= 0))
        bad(`${what}: shape must hold non-negative integers; got ${JSON.stringify(d)}`);
    const offs = v.data_offsets;
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((o) => typeof o === "number" && Number.isSafeInteger(o) && o >= 0)
    )
      bad(
        `${what}: data_offsets must be [begin, end] with non-negative integers; got ${JSON.stringify(offs)?.slice(0, 60)}`,
      );
    const [b, e] = offs as [number, number];
    if (b > e) bad(`${what}: data_offsets [${b}, ${e}] has begin > end`);
    if (e > bufferLen)
      bad(
        `${what}: data_offsets [${b}, ${e}] run past the end of the data buffer (${bufferLen} bytes; truncated file?)`,
      );
    const count = boundedProduct(shape as number[], Math.floor(bufferLen / et.size));
    if (count < 0 || count * et.size !== e - b) {
      const declared = boundedProduct(shape as number[], Number.MAX_SAFE_INTEGER / et.size);
      bad(
        `${what}: shape [${(shape as number[]).join(", ")}] of ${dtype} needs ${declared >= 0 ? declared * et.size : "more than 2^53"} bytes but data_offsets [${b}, ${e}] span ${e - b}`,
      );
    }
    tensors.push({
      name: key,
      dtype: dtype as SafetensorsDtype,
      shape: shape as number[],
      dataOffsets: [b, e],
    });
  }
  tensors.sort(
    (x, y) => x.dataOffsets[0] - y.dataOffsets[0] || x.dataOffsets[1] - y.dataOffsets[1],
  );
  let end = 0;
  for (const t of tensors) {
    if (t.dataOffsets[0] !== end)
      bad(
        t.dataOffsets[0] < end
          ? `tensor ${JSON.stringify(t.name)}: data_offsets [${t.dataOffsets.join(", ")}] overlap the previous tensor (which ends at ${end})`
          : `tensor ${JSON.stringify(t.name)}: data_offsets [${t.dataOffsets.join(", ")}] leave a gap after byte ${end}`,
      );
    end = t.dataOffsets[1];
  }
  if (end !== bufferLen)
    bad(
      `the tensors cover ${end} bytes of data but ${bufferLen} bytes follow the header (trailing garbage or lying header)`,
    );
  return { dataOffset, metadata, tensors };
}

/**
 * Reads and validates the header of a `.safetensors` file, without reading any tensor data.
 *
 * Checks, as the reference implementation does: the 8-byte length fits the file, the header is a
 * UTF-8 JSON object, every entry has a supported dtype, a shape of non-negative integers and
 * `data_offsets` whose span equals the shape's byte size, and the tensors tile the data buffer
 * exactly (no gap, no overlap, nothing past the end, nothing after the last).
 *
 * @param src - The file as a {@link ByteSource}.
 * @param opts - `maxHeaderBytes` (default 100 MB).
 * @returns `{ dataOffset, metadata, tensors }` with tensors in data order.
 * @throws NRCInputError naming `readSafetensorsHeader` and what is wrong with the file.
 * @example
 * ```ts
 * const h = await readSafetensorsHeader(memorySource(bytes));
 * for (const t of h.tensors) console.log(t.name, t.dtype, t.shape);
 * ```
 */
export async function readSafetensorsHeader(
  src: ByteSource,
  opts: SafetensorsHeaderOptions = {},
): Promise<SafetensorsHeader> {
  return parseHeader("readSafetensorsHeader", checkSource("readSafetensorsHeader", src), opts);
}

/**
 * Reads one tensor (or a range of its rows) from a `.safetensors` file as float64 in C order.
 *
 * Reads the header (unless given) and then only the requested bytes. F16/BF16 are decoded
 * exactly; I64/U64 beyond 2⁵³ are rounded to nearest; BOOL becomes 0/1.
 *
 * @param src - The file as a {@link ByteSource}.
 * @param name - The tensor's name, e.g. `"features.0"`.
 * @param opts - `rows: [start, end)` along the first axis; `maxElements` (default 2²⁸);
 *   `header` from {@link readSafetensorsHeader} to skip re-reading it; `into` (a buffer to
 *   decode into); `float32: true` to get an F32 tensor's values as a Float32Array
 *   ({@link TensorF32}: no conversion, half the memory).
 * @returns `{ shape, dtype, data }`.
 * @throws NRCInputError naming `readSafetensor` for a malformed file, a missing tensor (the message
 *   lists the names present), a bad row range or more than `maxElements` values.
 * @example
 * ```ts
 * import { readSafetensor, readSafetensorsHeader } from "deep-nrc";
 * import { openFileSource } from "deep-nrc/node";
 * const src = await openFileSource("run.safetensors");
 * try {
 *   const header = await readSafetensorsHeader(src);
 *   const w = await readSafetensor(src, "weight.0", { header }); // { shape, dtype, data }
 * } finally {
 *   await src.close(); // an unclosed FileHandle is a DeprecationWarning when collected
 * }
 * ```
 */
export async function readSafetensor(
  src: ByteSource,
  name: string,
  opts: ReadSafetensorOptions & { float32: true },
): Promise<Tensor | TensorF32>;
export async function readSafetensor(
  src: ByteSource,
  name: string,
  opts?: ReadSafetensorOptions,
): Promise<Tensor>;
export async function readSafetensor(
  src: ByteSource,
  name: string,
  opts: ReadSafetensorOptions = {},
): Promise<Tensor | TensorF32> {
  const fn = "readSafetensor";
  checkSource(fn, src);
  const h = opts.header ?? (await parseHeader(fn, src, opts));
  if (typeof name !== "string")
    throw new NRCInputError(fn, "name", `expected a tensor name (string); got ${typeof name}`);
  const info = h.tensors.find((t) => t.name === name);
  if (!info) {
    const names = h.tensors.map((t) => t.name);
    const list =
      names.slice(0, 20).join(", ") + (names.length > 20 ? `, … (${names.length} in all)` : "");
    throw new NRCInputError(
      fn,
      "name",
      `${sourceName(src)}: no tensor named ${JSON.stringify(name)}; the file holds ${list || "no tensors"}`,
    );
  }
  const et = DTYPES[info.dtype];
  const plan = planRows(
    fn,
    { element: et, shape: info.shape, dtype: info.dtype },
    opts,
    (shape) => `the requested tensor ${JSON.stringify(name)} of shape [${shape.join(", ")}]`,
  );
  const out = plan.out;
  if (plan.count === 0) return out;
  const base = h.dataOffset + info.dataOffsets[0];
  await readCOrderRows(fn, src, et, base, plan, `tensor ${JSON.stringify(name)}`);
  return out;
}
