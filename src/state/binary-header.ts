/**
 * The JSON header of a binary state file (`__metadata__["deep-nrc"]` of the `.safetensors`
 * container; see `binary.ts` for the layout), its checksum (`__metadata__["deep-nrc.sha256"]`,
 * SHA-256 of the header's text) and its checks: every field is validated before any tensor is
 * read, each failure an `NRCInputError` naming the field.
 * @module
 */
import { NRCInputError } from "../errors.js";
import { readSafetensorsHeader, type SafetensorsHeader } from "../io/safetensors.js";
import { memorySource } from "../io/source.js";
import { checkIdentity, textHash } from "./checksum.js";
import { sha256Hex } from "./sha256.js";
import type { StateOptions } from "./snapshot.js";
import type { Preset } from "../errors.js";

/** The `format` string of a binary state's header. */
export const STATE_FORMAT = "deep-nrc/accumulator-state";
/**
 * The version this library writes (and the newest it reads). Version 2 added the checksums and
 * the identity (`id`, `sources`); version-1 files are still read.
 */
export const STATE_VERSION = 2;
/** The `__metadata__` key holding the header. */
export const STATE_METADATA_KEY = "deep-nrc";
/** The `__metadata__` key holding the header's SHA-256 (version ≥ 2). */
export const STATE_CHECKSUM_KEY = "deep-nrc.sha256";

/** A stored weight's shape and SHA-256 (of its float64 values). */
export interface WeightInfo {
  rows: number;
  cols: number;
  sha256: string;
}

/** One layer's entry in the header. */
export interface LayerHeader {
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
  /** This state's random id (version ≥ 2; derived from the file's bytes for version 1). */
  id: string;
  /** The ids of the states whose samples it holds (version ≥ 2; `[id]` for version 1). */
  sources: string[];
  /** SHA-256 of each statistic tensor's stored bytes (version ≥ 2; null for version 1). */
  checksums: Record<string, string> | null;
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * A version-1 state (no recorded identity): its id is derived from its bytes, so the same file
 * read twice still has one id and is not merged with itself.
 */
function legacyIdentity(bytes: Uint8Array, samples: number): { id: string; sources: string[] } {
  const id = sha256Hex(bytes).slice(0, 32);
  return { id, sources: samples > 0 ? [id] : [] };
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
  const sum = st.metadata?.[STATE_CHECKSUM_KEY];
  if (sum !== undefined && sum !== textHash(text))
    throw new NRCInputError(
      fn,
      "header",
      `${name}: the state header does not match its checksum (__metadata__["${STATE_CHECKSUM_KEY}"]): the file was corrupted or edited after it was written`,
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
  if (h.version >= 2 && sum === undefined)
    throw new NRCInputError(
      fn,
      "header",
      `${name}: a version-${h.version} state must carry its header's checksum (__metadata__["${STATE_CHECKSUM_KEY}"]); it has none`,
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
        !HEX64.test(w.sha256)
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
  const identity =
    h.version >= 2
      ? checkIdentity(fn, "", h.id, h.sources, h.samples as number)
      : legacyIdentity(bytes, h.samples as number);
  let checksums: Record<string, string> | null = null;
  if (h.version >= 2) {
    const c = h.checksums;
    if (!isObj(c) || !Object.values(c).every((v) => typeof v === "string" && HEX64.test(v)))
      throw new NRCInputError(
        fn,
        "checksums",
        `${name}: checksums must map each statistic tensor to its SHA-256 (64 hex digits); got ${JSON.stringify(c)?.slice(0, 80)}`,
      );
    checksums = c as Record<string, string>;
  }
  return {
    header: { ...(h as unknown as StateHeader), options, ...identity, checksums },
    st,
  };
}
