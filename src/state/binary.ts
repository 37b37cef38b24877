/**
 * Binary state files of the accumulator (`*.nrc.safetensors`): every statistic as float64,
 * bit-exact, in a standard `.safetensors` container readable with numpy alone.
 *
 * Layout. `__metadata__["deep-nrc"]` holds a JSON header:
 * `{ format: "deep-nrc/accumulator-state", version: 1, samples, options: { t, r, preset, modelMSE,
 * collapseThreshold, nrc4 }, names, kinds, widths, targets, layers: [{ d, q, count, m2h, r }],
 * weights: [{ rows, cols, sha256 } | null] | null }`. Tensors, per layer l (all F64, C order):
 * - `layers.l.mean_h` [d], `layers.l.mean_y` [q], `layers.l.cross` [d, q], `layers.l.m2_y` [q, q];
 * - `layers.l.m2_h` — header `m2h: "triu"`: the upper triangle, row by row, [d(d+1)/2]
 *   (the accumulator keeps M2_H exactly symmetric); `"full"`: [d, d];
 * - `layers.l.r` — the TSQR factor (absent in `nrc4: "rescan"` mode); header `r: { rows, packed }`:
 *   packed, the upper-trapezoidal part of the k×(d+q+1) factor row by row (below the diagonal it
 *   is exactly zero), else the full [k, d+q+1];
 * - `layers.l.hsic.*` (only with `options.debiased`): debiased NRC2's running sums (see
 *   `hsic.ts`): `meanX` [p], `meanY` [q], `m` [p·p], `c` [p·q], `nn` [q·q], `ax`, `bx` [p],
 *   `ay`, `by` [q], `sums` [Σab, Σa², Σb²];
 * - `weights.l` [out, in] (F32 when every value is a float32, else F64): the layer's weight, so a
 *   state file alone gives the whole report; its `sha256` (of the weight as float64
 *   little-endian bytes) is checked on load and at merge.
 * @module
 */
import type { Mat } from "../backends/types.js";
import { NRCInputError } from "../errors.js";
import type { LayerStats } from "../stats/moments.js";
import type { Preset } from "../errors.js";
import { encodeSafetensors, type SafetensorsEntry } from "../io/safetensors-write.js";
import {
  readSafetensor,
  readSafetensorsHeader,
  type SafetensorsHeader,
} from "../io/safetensors.js";
import { memorySource } from "../io/source.js";
import { sha256Hex } from "./sha256.js";
import { validateCounts, validateLayerStats } from "./validate.js";
import { HSIC_ARRAYS, hsicLengths, type HsicSums } from "../stats/hsic.js";

/** The `format` string of a binary state's header. */
export const STATE_FORMAT = "deep-nrc/accumulator-state";
/** The version this library writes (and the newest it reads). */
export const STATE_VERSION = 1;
/** The `__metadata__` key holding the header. */
export const STATE_METADATA_KEY = "deep-nrc";

/** The accumulator's options as stored. */
export interface StateOptions {
  t: number | null;
  r: number | null;
  preset: Preset;
  modelMSE: number | null;
  collapseThreshold: number;
  nrc4?: "tsqr" | "rescan";
  /** Present (true) only for debiased NRC2 (preset reference-code). */
  debiased?: boolean;
}

/** Everything a state file holds, decoded. */
export interface StateSnapshot {
  options: StateOptions;
  samples: number;
  names: string[] | null;
  kinds: ("dense" | "conv")[] | null;
  layers: LayerStats[] | null;
  weights: (Mat | null)[] | null;
  /** Debiased NRC2's running sums per layer (only with `options.debiased`). */
  hsic?: HsicSums[] | null;
}

interface WeightInfo {
  rows: number;
  cols: number;
  sha256: string;
}

interface LayerHeader {
  d: number;
  q: number;
  count: number;
  m2h: "triu" | "full";
  r: { rows: number; packed: boolean } | null;
  /** Debiased NRC2's sums: X's width p (= min(t, d)); absent without `debiased`. */
  hsic?: { p: number; n: number } | null;
}

/** The JSON header of a state file. */
export interface StateHeader {
  format: typeof STATE_FORMAT;
  version: number;
  samples: number;
  options: StateOptions;
  names: string[] | null;
  kinds: ("dense" | "conv")[] | null;
  widths: number[] | null;
  targets: number | null;
  layers: LayerHeader[] | null;
  weights: (WeightInfo | null)[] | null;
}

const hashes = new WeakMap<Mat, string>();

/** SHA-256 of a weight's float64 little-endian bytes (cached per matrix). */
export function weightHash(m: Mat): string {
  let h = hashes.get(m);
  if (h === undefined) {
    const f = Float64Array.from(m.data);
    const bytes = new Uint8Array(f.buffer);
    if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
      const dv = new DataView(f.buffer);
      for (let i = 0; i < f.length; i++) dv.setFloat64(8 * i, m.data[i], true);
    }
    h = sha256Hex(bytes);
    hashes.set(m, h);
  }
  return h;
}

function isSymmetric(m: Float64Array, n: number): boolean {
  for (let i = 0; i < n; i++)
    for (let j = 0; j < i; j++) if (m[i * n + j] !== m[j * n + i]) return false;
  return true;
}

function lowerZero(r: Mat): boolean {
  for (let i = 0; i < r.rows; i++)
    for (let j = 0; j < Math.min(i, r.cols); j++) if (r.data[i * r.cols + j] !== 0) return false;
  return true;
}

/** Upper-trapezoidal part of a rows×cols matrix, row by row. */
function packUpper(a: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(packedLength(rows, cols));
  let k = 0;
  for (let i = 0; i < rows; i++) for (let j = i; j < cols; j++) out[k++] = a[i * cols + j];
  return out;
}

function packedLength(rows: number, cols: number): number {
  let n = 0;
  for (let i = 0; i < rows; i++) n += Math.max(0, cols - i);
  return n;
}

/** Inverse of {@link packUpper}; `mirror` fills the lower triangle (square symmetric). */
function unpackUpper(p: Float64Array, rows: number, cols: number, mirror: boolean): Float64Array {
  const out = new Float64Array(rows * cols);
  let k = 0;
  for (let i = 0; i < rows; i++)
    for (let j = i; j < cols; j++) {
      out[i * cols + j] = p[k];
      if (mirror) out[j * cols + i] = p[k];
      k++;
    }
  return out;
}

/** Encodes a snapshot as the bytes of a `.safetensors` state file. */
export function encodeState(s: StateSnapshot): Uint8Array {
  const entries: SafetensorsEntry[] = [];
  const f64 = (name: string, shape: number[], data: Float64Array) =>
    entries.push({ name, dtype: "F64", shape, data });
  const layers: LayerHeader[] | null = s.layers
    ? s.layers.map((st, l) => {
        const { d, q } = st;
        const p = `layers.${l}`;
        f64(`${p}.mean_h`, [d], st.meanH);
        f64(`${p}.mean_y`, [q], st.meanY);
        const sym = isSymmetric(st.m2H, d);
        if (sym) f64(`${p}.m2_h`, [(d * (d + 1)) / 2], packUpper(st.m2H, d, d));
        else f64(`${p}.m2_h`, [d, d], st.m2H);
        f64(`${p}.cross`, [d, q], st.cross);
        f64(`${p}.m2_y`, [q, q], st.m2Y);
        let r: LayerHeader["r"] = null;
        if (st.r) {
          const packed = lowerZero(st.r);
          if (packed)
            f64(
              `${p}.r`,
              [packedLength(st.r.rows, st.r.cols)],
              packUpper(st.r.data, st.r.rows, st.r.cols),
            );
          else f64(`${p}.r`, [st.r.rows, st.r.cols], st.r.data);
          r = { rows: st.r.rows, packed };
        }
        const hs = s.hsic?.[l];
        if (hs) {
          for (const k of HSIC_ARRAYS) f64(`${p}.hsic.${k}`, [hs[k].length], hs[k]);
          f64(`${p}.hsic.sums`, [3], Float64Array.of(hs.ab, hs.aa, hs.bb));
        }
        return {
          d,
          q,
          count: st.count,
          m2h: sym ? "triu" : "full",
          r,
          ...(hs ? { hsic: { p: hs.p, n: hs.n } } : {}),
        };
      })
    : null;
  const weights = s.weights
    ? s.weights.map((w, l) => {
        if (!w) return null;
        const f32 = w.data.every((v) => Math.fround(v) === v);
        entries.push({
          name: `weights.${l}`,
          dtype: f32 ? "F32" : "F64",
          shape: [w.rows, w.cols],
          data: f32 ? Float32Array.from(w.data) : w.data,
        });
        return { rows: w.rows, cols: w.cols, sha256: weightHash(w) };
      })
    : null;
  const header: StateHeader = {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    samples: s.samples,
    options: { ...s.options, nrc4: s.options.nrc4 ?? "tsqr" },
    names: s.names,
    kinds: s.kinds,
    widths: s.layers ? s.layers.map((x) => x.d) : null,
    targets: s.layers ? s.layers[0].q : null,
    layers,
    weights,
  };
  return encodeSafetensors(entries, { [STATE_METADATA_KEY]: JSON.stringify(header) });
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isPosInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;

/** Checks the options recorded in a header (each failure names `options.<field>`). */
function checkOptions(fn: string, o: unknown): StateOptions {
  const bad = (field: string, what: string, got: unknown): never => {
    throw new NRCInputError(
      fn,
      `options.${field}`,
      `options.${field} must be ${what}; got ${JSON.stringify(got)}`,
    );
  };
  if (!isObj(o)) return bad("", "an object", o);
  if (o.t !== null && !isPosInt(o.t)) bad("t", "a positive integer or null", o.t);
  if (o.r !== null && !isPosInt(o.r)) bad("r", "a positive integer or null", o.r);
  if (o.preset !== "paper" && o.preset !== "reference-code")
    bad("preset", '"paper" or "reference-code"', o.preset);
  if (
    o.modelMSE !== null &&
    !(typeof o.modelMSE === "number" && Number.isFinite(o.modelMSE) && o.modelMSE > 0)
  )
    bad("modelMSE", "a finite number > 0 or null", o.modelMSE);
  const th = o.collapseThreshold;
  if (!(typeof th === "number" && Number.isFinite(th) && th >= 0))
    bad("collapseThreshold", "a finite number ≥ 0", th);
  if (o.nrc4 !== "tsqr" && o.nrc4 !== "rescan") bad("nrc4", '"tsqr" or "rescan"', o.nrc4);
  if (o.debiased !== undefined && o.debiased !== true)
    bad("debiased", "true or absent", o.debiased);
  return {
    t: o.t as number | null,
    r: o.r as number | null,
    preset: o.preset as Preset,
    modelMSE: o.modelMSE as number | null,
    collapseThreshold: th as number,
    nrc4: o.nrc4 as "tsqr" | "rescan",
    ...(o.debiased ? { debiased: true } : {}),
  };
}

/** Reads and checks the JSON header of a state file (without reading any tensor). */
export async function readStateHeader(
  fn: string,
  bytes: Uint8Array,
  name = "state",
): Promise<{ header: StateHeader; st: SafetensorsHeader }> {
  if (!(bytes instanceof Uint8Array))
    throw new NRCInputError(
      fn,
      "bytes",
      `bytes must be a Uint8Array (a state file's contents); got ${bytes === null ? "null" : typeof bytes}`,
    );
  let st: SafetensorsHeader;
  try {
    st = await readSafetensorsHeader(memorySource(bytes, name));
  } catch (e) {
    throw new NRCInputError(fn, "bytes", `not a deep-nrc state file: ${(e as Error).message}`);
  }
  const text = st.metadata?.[STATE_METADATA_KEY];
  if (text === undefined)
    throw new NRCInputError(
      fn,
      "bytes",
      `${name}: a .safetensors file but not a deep-nrc state (no __metadata__["${STATE_METADATA_KEY}"]; tensors: ${
        st.tensors
          .slice(0, 5)
          .map((t) => t.name)
          .join(", ") || "none"
      })`,
    );
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(text);
  } catch (e) {
    throw new NRCInputError(
      fn,
      "header",
      `${name}: the state header is not valid JSON (${(e as Error).message})`,
    );
  }
  if (!isObj(h) || h.format !== STATE_FORMAT)
    throw new NRCInputError(
      fn,
      "format",
      `${name}: format must be "${STATE_FORMAT}"; got ${JSON.stringify(isObj(h) ? h.format : h)}`,
    );
  if (!isPosInt(h.version) || h.version > STATE_VERSION)
    throw new NRCInputError(
      fn,
      "version",
      `${name}: version must be an integer from 1 to ${STATE_VERSION}${isPosInt(h.version) ? " (written by a newer deep-nrc: upgrade)" : ""}; got ${JSON.stringify(h.version)}`,
    );
  const options = checkOptions(fn, h.options);
  if (!Number.isSafeInteger(h.samples) || (h.samples as number) < 0)
    throw new NRCInputError(
      fn,
      "samples",
      `samples must be an integer ≥ 0; got ${JSON.stringify(h.samples)}`,
    );
  const layers = h.layers;
  if (layers !== null && (!Array.isArray(layers) || layers.length === 0))
    throw new NRCInputError(
      fn,
      "layers",
      `layers must be a non-empty array or null; got ${JSON.stringify(layers)?.slice(0, 80)}`,
    );
  const L = layers ? (layers as unknown[]).length : null;
  if ((L === null) !== (h.samples === 0))
    throw new NRCInputError(
      fn,
      "samples",
      `samples (${String(h.samples)}) must be 0 exactly when layers is null`,
    );
  (layers as unknown[] | null)?.forEach((x, i) => {
    const f = `layers[${i}]`;
    if (!isObj(x)) throw new NRCInputError(fn, f, `${f} must be an object`);
    for (const k of ["d", "q", "count"] as const)
      if (!isPosInt(x[k]))
        throw new NRCInputError(
          fn,
          `${f}.${k}`,
          `${f}.${k} must be a positive integer; got ${JSON.stringify(x[k])}`,
        );
    if (x.m2h !== "triu" && x.m2h !== "full")
      throw new NRCInputError(
        fn,
        `${f}.m2h`,
        `${f}.m2h must be "triu" or "full"; got ${JSON.stringify(x.m2h)}`,
      );
    const w = (x.d as number) + (x.q as number) + 1;
    const r = x.r;
    if ((r === null) !== (options.nrc4 === "rescan"))
      throw new NRCInputError(
        fn,
        `${f}.r`,
        `${f}.r must be ${options.nrc4 === "rescan" ? "null in rescan mode" : "present (nrc4: tsqr)"}; got ${JSON.stringify(r)}`,
      );
    const hs = x.hsic;
    if (options.debiased) {
      if (!isObj(hs) || !isPosInt(hs.p) || (hs.p as number) > (x.d as number) || hs.n !== x.count)
        throw new NRCInputError(
          fn,
          `${f}.hsic`,
          `${f}.hsic must be { p: 1…${x.d}, n: ${x.count} } (debiased NRC2's sums); got ${JSON.stringify(hs)}`,
        );
    } else if (hs !== undefined && hs !== null)
      throw new NRCInputError(fn, `${f}.hsic`, `${f}.hsic must be absent without options.debiased`);
    if (
      r !== null &&
      (!isObj(r) || !isPosInt(r.rows) || (r.rows as number) > w || typeof r.packed !== "boolean")
    )
      throw new NRCInputError(
        fn,
        `${f}.r`,
        `${f}.r must be { rows: 1…${w}, packed: boolean }; got ${JSON.stringify(r)}`,
      );
  });
  const strings = (v: unknown, field: string, ok: (s: unknown) => boolean, what: string) => {
    if (v === null) return;
    if (!Array.isArray(v) || (L !== null && v.length !== L) || !v.every(ok))
      throw new NRCInputError(
        fn,
        field,
        `${field} must be null or ${L ?? "an array of"} ${what}; got ${JSON.stringify(v)?.slice(0, 80)}`,
      );
  };
  strings(h.names, "names", (s) => typeof s === "string", "strings");
  strings(h.kinds, "kinds", (s) => s === "dense" || s === "conv", '"dense" or "conv"');
  const weights = h.weights;
  if (weights !== null) {
    if (!Array.isArray(weights) || (L !== null && weights.length !== L))
      throw new NRCInputError(
        fn,
        "weights",
        `weights must be null or one entry per layer; got ${JSON.stringify(weights)?.slice(0, 80)}`,
      );
    weights.forEach((w, i) => {
      if (w === null) return;
      if (
        !isObj(w) ||
        !isPosInt(w.rows) ||
        !isPosInt(w.cols) ||
        typeof w.sha256 !== "string" ||
        !/^[0-9a-f]{64}$/.test(w.sha256)
      )
        throw new NRCInputError(
          fn,
          `weights[${i}]`,
          `weights[${i}] must be { rows, cols, sha256 } or null; got ${JSON.stringify(w)?.slice(0, 120)}`,
        );
      const d = (layers as LayerHeader[] | null)?.[i]?.d;
      if (d !== undefined && w.cols !== d)
        throw new NRCInputError(
          fn,
          `weights[${i}]`,
          `weights[${i}] must have ${d} columns (layer ${i}'s width); got ${w.rows}×${w.cols}`,
        );
    });
  }
  return {
    header: { ...(h as unknown as StateHeader), options },
    st,
  };
}

/**
 * Decodes and validates a state file.
 * @throws NRCInputError naming the field at fault.
 */
export async function decodeState(
  fn: string,
  bytes: Uint8Array,
  name = "state",
): Promise<StateSnapshot> {
  const { header: h, st } = await readStateHeader(fn, bytes, name);
  const src = memorySource(bytes, name);
  const want = new Map<string, number[]>();
  const read = async (
    tensor: string,
    shape: number[],
    dtypes: string[] = ["F64"],
  ): Promise<Float64Array> => {
    const info = st.tensors.find((t) => t.name === tensor);
    if (!info) throw new NRCInputError(fn, tensor, `${name}: tensor ${tensor} is missing`);
    if (
      !dtypes.includes(info.dtype) ||
      info.shape.length !== shape.length ||
      info.shape.some((v, i) => v !== shape[i])
    )
      throw new NRCInputError(
        fn,
        tensor,
        `${name}: ${tensor} must be ${dtypes.join(" or ")} of shape [${shape.join(", ")}]; got ${info.dtype} [${info.shape.join(", ")}]`,
      );
    want.set(tensor, shape);
    return (await readSafetensor(src, tensor, { header: st, maxElements: Number.MAX_SAFE_INTEGER }))
      .data;
  };
  let layers: LayerStats[] | null = null;
  let hsic: HsicSums[] | null = null;
  if (h.layers) {
    layers = [];
    for (let l = 0; l < h.layers.length; l++) {
      const { d, q, count, m2h, r } = h.layers[l];
      const p = `layers.${l}`;
      const m2Hraw = await read(`${p}.m2_h`, m2h === "triu" ? [(d * (d + 1)) / 2] : [d, d]);
      let rMat: Mat | undefined;
      if (r) {
        const w = d + q + 1;
        const raw = await read(`${p}.r`, r.packed ? [packedLength(r.rows, w)] : [r.rows, w]);
        rMat = { rows: r.rows, cols: w, data: r.packed ? unpackUpper(raw, r.rows, w, false) : raw };
      }
      const s: LayerStats = {
        count,
        d,
        q,
        meanH: await read(`${p}.mean_h`, [d]),
        meanY: await read(`${p}.mean_y`, [q]),
        m2H: m2h === "triu" ? unpackUpper(m2Hraw, d, d, true) : m2Hraw,
        cross: await read(`${p}.cross`, [d, q]),
        m2Y: await read(`${p}.m2_y`, [q, q]),
        r: rMat,
      };
      validateLayerStats(fn, `layers[${l}]`, s, m2h === "triu");
      layers.push(s);
      const hi = h.layers[l].hsic;
      if (hi) {
        const len = hsicLengths(hi.p, q);
        const hs = { n: hi.n, p: hi.p, q } as HsicSums;
        for (const k of HSIC_ARRAYS) hs[k] = await read(`${p}.hsic.${k}`, [len[k]]);
        [hs.ab, hs.aa, hs.bb] = await read(`${p}.hsic.sums`, [3]);
        for (const k of HSIC_ARRAYS)
          if (!hs[k].every(Number.isFinite))
            throw new NRCInputError(
              fn,
              `layers[${l}].hsic.${k}`,
              `layers[${l}].hsic.${k} must hold finite numbers`,
            );
        if (!(hs.aa >= 0 && hs.bb >= 0 && hs.ab >= 0))
          throw new NRCInputError(
            fn,
            `layers[${l}].hsic.sums`,
            `layers[${l}].hsic.sums (Σab, Σa², Σb²) must be finite and ≥ 0; got ${hs.ab}, ${hs.aa}, ${hs.bb}`,
          );
        (hsic ??= []).push(hs);
      }
    }
    const kinds = h.kinds ?? layers.map(() => "dense" as const);
    validateCounts(fn, h.samples, layers, kinds);
  }
  let weights: (Mat | null)[] | null = null;
  if (h.weights) {
    weights = [];
    for (let l = 0; l < h.weights.length; l++) {
      const info = h.weights[l];
      if (!info) {
        weights.push(null);
        continue;
      }
      const data = await read(`weights.${l}`, [info.rows, info.cols], ["F32", "F64"]);
      const m: Mat = { rows: info.rows, cols: info.cols, data };
      if (weightHash(m) !== info.sha256)
        throw new NRCInputError(
          fn,
          `weights[${l}]`,
          `${name}: weights.${l} does not match its recorded sha256 (corrupted file?)`,
        );
      weights.push(m);
    }
  }
  const extra = st.tensors.find((t) => !want.has(t.name));
  if (extra)
    throw new NRCInputError(
      fn,
      extra.name,
      `${name}: unexpected tensor ${extra.name} (not part of a version-${h.version} state)`,
    );
  return {
    options: h.options,
    samples: h.samples,
    names: h.names,
    kinds: h.kinds,
    layers,
    weights,
    hsic,
  };
}
