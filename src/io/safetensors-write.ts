/**
 * A small `.safetensors` writer (browser-safe): float64 or float32 tensors, little-endian, C order,
 * tiling the data buffer in the order given, and an optional `__metadata__` object of strings.
 * The JSON header is padded with spaces to a multiple of 8 bytes, so every tensor starts 8-byte
 * aligned (what huggingface/safetensors writes too). Used for the accumulator's state files.
 * @module
 */

/** One tensor to write. `data` holds the values in C order; its length must match `shape`. */
export interface SafetensorsEntry {
  name: string;
  dtype: "F64" | "F32";
  shape: number[];
  data: Float64Array | Float32Array;
}

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Encodes tensors (and string metadata) as the bytes of a `.safetensors` file.
 * Internal: callers build the entries themselves (names unique, lengths matching shapes).
 * @internal
 */
export function encodeSafetensors(
  entries: readonly SafetensorsEntry[],
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const e of entries) {
    const size = e.dtype === "F64" ? 8 : 4;
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (n !== e.data.length)
      throw new Error(
        `encodeSafetensors: ${e.name} has ${e.data.length} values for shape [${e.shape}]`,
      );
    if (Object.hasOwn(header, e.name)) throw new Error(`encodeSafetensors: duplicate ${e.name}`);
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + n * size] };
    off += n * size;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + off);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, json.length % 2 ** 32, true);
  dv.setUint32(4, Math.floor(json.length / 2 ** 32), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const e of entries) {
    const size = e.dtype === "F64" ? 8 : 4;
    const src = e.dtype === "F64" ? Float64Array.from(e.data) : Float32Array.from(e.data);
    if (LE) out.set(new Uint8Array(src.buffer, 0, src.byteLength), pos);
    else
      for (let i = 0; i < src.length; i++)
        if (size === 8) dv.setFloat64(pos + 8 * i, src[i], true);
        else dv.setFloat32(pos + 4 * i, src[i], true);
    pos += src.byteLength;
  }
  return out;
}
