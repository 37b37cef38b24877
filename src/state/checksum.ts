/**
 * Checksums of saved states: SHA-256 over the stored bytes of every statistic and over the
 * header, written into the state and checked on load (so on every merge of saved states), so a
 * flipped bit anywhere in a state is an `NRCInputError` naming the tensor (or the header) instead
 * of a wrong report. The weights keep their own SHA-256 (of their float64 values), which the
 * merge compares. Also the check of a state's identity (`id`, `sources`).
 * @module
 */
import type { Mat } from "../backends/types.js";
import { NRCInputError } from "../errors.js";
import { sha256Hex } from "./sha256.js";
import { ID_PATTERN } from "./snapshot.js";

const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The little-endian bytes of a float64 array (a view where the platform is little-endian). */
export function leBytes(a: Float64Array): Uint8Array {
  if (LITTLE) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.length * 8);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) dv.setFloat64(8 * i, a[i], true);
  return out;
}

const hashes = new WeakMap<Mat, string>();

/** SHA-256 of a weight's float64 little-endian bytes (cached per matrix). */
export function weightHash(m: Mat): string {
  let h = hashes.get(m);
  if (h === undefined) {
    h = sha256Hex(leBytes(Float64Array.from(m.data)));
    hashes.set(m, h);
  }
  return h;
}

/**
 * SHA-256 as 64 hex digits, by the platform's WebCrypto where it has one (Node, secure browser
 * pages: native, ~10× the plain-TypeScript digest), else by {@link sha256Hex}.
 */
export async function sha256Async(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return sha256Hex(bytes);
  const d = new Uint8Array(await subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 of a string's UTF-8 bytes. */
export function textHash(text: string): string {
  return sha256Hex(new TextEncoder().encode(text));
}

/**
 * A value as JSON with every object's keys sorted (numbers as JavaScript writes them: the
 * shortest text that reads back to the same float64), so a state re-indented or re-ordered by
 * another tool keeps its checksum, and any change of a value does not.
 */
export function canonicalJSON(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJSON).join(",")}]`;
  if (v !== null && typeof v === "object")
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJSON((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v) ?? "null";
}

/**
 * Checks a state's recorded identity: `id` 32 hex digits, `sources` sorted distinct ids, empty
 * exactly when the state holds no samples.
 * @param fn - the public function (for the message).
 * @param prefix - how the fields are spelled in messages (`state.` for JSON, `` for binary).
 * @throws NRCInputError naming `id` or `sources`.
 */
export function checkIdentity(
  fn: string,
  prefix: string,
  id: unknown,
  sources: unknown,
  samples: number,
): { id: string; sources: string[] } {
  if (typeof id !== "string" || !ID_PATTERN.test(id))
    throw new NRCInputError(
      fn,
      `${prefix}id`,
      `${prefix}id must be 32 lowercase hex digits; got ${JSON.stringify(id)?.slice(0, 60)}`,
    );
  const ok =
    Array.isArray(sources) &&
    sources.every(
      (s, i) => typeof s === "string" && ID_PATTERN.test(s) && (i === 0 || sources[i - 1] < s),
    ) &&
    (sources.length === 0) === (samples === 0);
  if (!ok)
    throw new NRCInputError(
      fn,
      `${prefix}sources`,
      `${prefix}sources must be the sorted, distinct ids (32 hex digits) of the states whose samples this one holds, empty exactly when it holds none (${samples} samples); got ${JSON.stringify(sources)?.slice(0, 80)}`,
    );
  return { id, sources: sources as string[] };
}
