/**
 * Byte sources: the one abstraction the `.npy` and `.safetensors` readers read through, so that a
 * header, one tensor or a row range can be read without loading a whole file.
 *
 * This module is browser-safe (no Node built-ins). The Node file source lives in
 * `src/node/file-source.ts`, which only Node entry points (the CLI) import.
 * @module
 */
import { NRCInputError } from "../errors.js";

/**
 * Random-access bytes: a file, an in-memory buffer, an HTTP resource with range requests, …
 *
 * `read(offset, length)` must resolve to exactly `length` bytes starting at `offset` (the readers
 * check, and report a short read as a truncated file). The returned array may be a view into a
 * larger buffer; the readers never write to it.
 */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** A name for error messages (e.g. the file path). */
  readonly name?: string;
  /** Reads `length` bytes at `offset` (0 ≤ offset, offset + length ≤ size). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: reads `target.byteLength` bytes at `offset` straight into `target` (no buffer of
   * its own). The readers use it where the stored bytes are the output as they are (float32 kept
   * as float32 in the platform's byte order), so a batch costs no allocation and no copy.
   */
  readInto?(offset: number, target: Uint8Array): Promise<void>;
}

/**
 * Wraps bytes already in memory (a `Uint8Array`, any typed array view or an `ArrayBuffer`) as a
 * {@link ByteSource}. Reads are zero-copy views. Browser-safe.
 *
 * @param bytes - The file contents.
 * @param name - A name for error messages (default `"<memory>"`).
 * @returns A source whose `read` returns subarrays of `bytes`.
 * @throws NRCInputError when `bytes` is not an ArrayBuffer or ArrayBuffer view.
 * @example
 * ```ts
 * const res = await fetch("features.0.npy");
 * const src = memorySource(await res.arrayBuffer(), "features.0.npy");
 * const { shape, data } = await readNpy(src);
 * ```
 */
export function memorySource(
  bytes: Uint8Array | ArrayBuffer | ArrayBufferView,
  name = "<memory>",
): ByteSource {
  let u8: Uint8Array;
  if (bytes instanceof Uint8Array) u8 = bytes;
  else if (bytes instanceof ArrayBuffer) u8 = new Uint8Array(bytes);
  else if (ArrayBuffer.isView(bytes))
    u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  else
    throw new NRCInputError(
      "memorySource",
      "bytes",
      `expected a Uint8Array, ArrayBuffer or ArrayBuffer view; got ${bytes === null ? "null" : typeof bytes}`,
    );
  return {
    size: u8.byteLength,
    name,
    read(offset: number, length: number): Promise<Uint8Array> {
      if (!(offset >= 0 && length >= 0 && offset + length <= u8.byteLength))
        return Promise.reject(
          new NRCInputError(
            "memorySource.read",
            "offset",
            `range [${offset}, ${offset + length}) is outside the ${u8.byteLength} bytes of ${name}`,
          ),
        );
      return Promise.resolve(u8.subarray(offset, offset + length));
    },
  };
}

/** The name used in error messages for a source. */
export function sourceName(src: ByteSource): string {
  return src.name ?? "<source>";
}

/**
 * Checks that `src` looks like a {@link ByteSource}.
 * @internal
 */
export function checkSource(fn: string, src: unknown): ByteSource {
  const s = src as ByteSource | null | undefined;
  if (
    s === null ||
    typeof s !== "object" ||
    typeof s.read !== "function" ||
    typeof s.size !== "number" ||
    !Number.isSafeInteger(s.size) ||
    s.size < 0
  )
    throw new NRCInputError(
      fn,
      "source",
      "expected a ByteSource { size, read(offset, length) } (use memorySource(bytes) or openFileSource(path))",
    );
  return s;
}

/**
 * Reads exactly `length` bytes at `offset`, turning a short read or a read error into an
 * NRCInputError naming `fn` and what was being read.
 * @internal
 */
/**
 * Reads exactly `target.byteLength` bytes at `offset` into `target`: with the source's `readInto`
 * where it has one, else read and copied. Errors as {@link readExact}'s.
 * @internal
 */
export async function readExactInto(
  fn: string,
  src: ByteSource,
  offset: number,
  target: Uint8Array,
  what: string,
): Promise<void> {
  if (typeof src.readInto !== "function") {
    target.set(await readExact(fn, src, offset, target.byteLength, what));
    return;
  }
  if (offset + target.byteLength > src.size)
    throw new NRCInputError(
      fn,
      "source",
      `${sourceName(src)}: ${what} needs bytes [${offset}, ${offset + target.byteLength}) but the file has only ${src.size} bytes (truncated file?)`,
    );
  try {
    await src.readInto(offset, target);
  } catch (e) {
    if (e instanceof NRCInputError) throw e;
    throw new NRCInputError(
      fn,
      "source",
      `${sourceName(src)}: reading ${what} failed: ${(e as Error)?.message ?? String(e)}`,
    );
  }
}

export async function readExact(
  fn: string,
  src: ByteSource,
  offset: number,
  length: number,
  what: string,
): Promise<Uint8Array> {
  if (offset + length > src.size)
    throw new NRCInputError(
      fn,
      "source",
      `${sourceName(src)}: ${what} needs bytes [${offset}, ${offset + length}) but the file has only ${src.size} bytes (truncated file?)`,
    );
  let got: Uint8Array;
  try {
    got = await src.read(offset, length);
  } catch (e) {
    if (e instanceof NRCInputError) throw e;
    throw new NRCInputError(
      fn,
      "source",
      `${sourceName(src)}: reading ${what} failed: ${(e as Error)?.message ?? String(e)}`,
    );
  }
  if (!(got instanceof Uint8Array) || got.byteLength !== length)
    throw new NRCInputError(
      fn,
      "source",
      `${sourceName(src)}: reading ${what} returned ${got instanceof Uint8Array ? got.byteLength : "no"} bytes, expected ${length} (file truncated or changed while reading?)`,
    );
  return got;
}
