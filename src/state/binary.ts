/**
 * Binary state files of the accumulator (`*.nrc.safetensors`): every statistic as float64,
 * bit-exact, in a standard `.safetensors` container readable with numpy alone.
 *
 * Layout. `__metadata__["deep-nrc"]` holds a JSON header:
 * `{ format: "deep-nrc/accumulator-state", version: 2, samples, options: { t, r, preset, modelMSE,
 * collapseThreshold, nrc4 }, names, kinds, widths, targets, layers: [{ d, q, count, m2h, r }],
 * weights: [{ rows, cols, sha256 } | null] | null, id, sources, checksums }`, and
 * `__metadata__["deep-nrc.sha256"]` the SHA-256 of that header's text. `id` is the state's random
 * id (32 hex digits), `sources` the ids of the states whose samples it holds (a merge that would
 * count them twice is refused), `checksums` the SHA-256 of every statistic tensor's stored bytes
 * (checked on load: a flipped bit is an error naming the tensor). Version-1 files (no checksums,
 * no ids) are still read, with the same consistency checks. Tensors, per layer l (all F64, C
 * order):
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
import { encodeSafetensors, type SafetensorsEntry } from "../io/safetensors-write.js";
import { readSafetensor } from "../io/safetensors.js";
import { memorySource } from "../io/source.js";
import { sha256Hex } from "./sha256.js";
import { leBytes, sha256Async, textHash, weightHash } from "./checksum.js";
import { validateCounts, validateLayerStats } from "./validate-binary.js";
import { checkStateLayers } from "./validate-stats.js";
import { HSIC_ARRAYS, hsicLengths, type HsicSums } from "../stats/hsic.js";
import {
  readStateHeader,
  STATE_CHECKSUM_KEY,
  STATE_FORMAT,
  STATE_METADATA_KEY,
  STATE_VERSION,
  type LayerHeader,
  type StateHeader,
} from "./binary-header.js";
import type { StateSnapshot } from "./snapshot.js";

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
  const checksums: Record<string, string> = {};
  const f64 = (name: string, shape: number[], data: Float64Array) => {
    entries.push({ name, dtype: "F64", shape, data });
    checksums[name] = sha256Hex(leBytes(data));
  };
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
    id: s.id,
    sources: s.sources,
    checksums,
  };
  const text = JSON.stringify(header);
  return encodeSafetensors(entries, {
    [STATE_METADATA_KEY]: text,
    [STATE_CHECKSUM_KEY]: textHash(text),
  });
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
    if (h.checksums && !tensor.startsWith("weights.")) {
      const sum = h.checksums[tensor];
      if (sum === undefined)
        throw new NRCInputError(fn, tensor, `${name}: ${tensor} has no recorded checksum`);
      const [a, b] = info.dataOffsets;
      if ((await sha256Async(bytes.subarray(st.dataOffset + a, st.dataOffset + b))) !== sum)
        throw new NRCInputError(
          fn,
          tensor,
          `${name}: ${tensor} does not match its recorded checksum (sha256): the file was corrupted or edited after it was written`,
        );
    }
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
      validateLayerStats(fn, `layers[${l}]`, s);
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
    checkStateLayers(fn, layers, h.samples, kinds, "binary");
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
  const unread = Object.keys(h.checksums ?? {}).find((t) => !want.has(t));
  if (unread)
    throw new NRCInputError(
      fn,
      "checksums",
      `${name}: checksums names ${unread}, not in the state`,
    );
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
    id: h.id,
    sources: h.sources,
  };
}
