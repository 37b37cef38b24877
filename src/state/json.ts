/**
 * JSON states of the accumulator (`NRCAccumulator.toJSON` / `fromJSON`): every statistic as
 * plain numbers (float64 round-trips exactly through JSON), the options, the state's identity
 * (`id`, `sources`) and a `checksum`: SHA-256 of the state's canonical JSON (keys sorted,
 * `checksum` left out), so a state changed after it was written is refused even where the change
 * keeps it consistent. Weights are not part of a JSON state (pass them again when loading).
 * Format `deep-nrc/accumulator@2`; `@1` states (no id, no checksum) are still read, with the same
 * consistency checks.
 * @module
 */
import { NRCInputError } from "../errors.js";
import { statsFromJSON, statsToJSON, type LayerStatsJSON } from "../stats/moments.js";
import { hsicFromJSON, hsicToJSON, type HsicSumsJSON } from "../stats/hsic.js";
import { canonicalJSON, checkIdentity, textHash } from "./checksum.js";
import type { StateOptions, StateSnapshot } from "./snapshot.js";
import { checkStateShape } from "./validate-json.js";
import { checkStateLayers } from "./validate-stats.js";

/** The `format` this library writes. */
export const JSON_STATE_FORMAT = "deep-nrc/accumulator@2";
/** The older format, still read (no id, no checksum). */
const JSON_STATE_FORMAT_1 = "deep-nrc/accumulator@1";

/** The serialised state of an accumulator (plain JSON). */
export interface AccumulatorState {
  format: "deep-nrc/accumulator@2" | "deep-nrc/accumulator@1";
  options: StateOptions;
  /** Debiased NRC2's running sums, one per layer (only with `options.debiased`). */
  hsic?: HsicSumsJSON[] | null;
  samples: number;
  names: string[] | null;
  kinds: ("dense" | "conv")[] | null;
  layers: LayerStatsJSON[] | null;
  /** The state's random id (32 hex digits; `@2`). */
  id?: string;
  /** The ids of the states whose samples it holds, sorted (`@2`). */
  sources?: string[];
  /** SHA-256 of the canonical JSON of every other field (`@2`). */
  checksum?: string;
}

/** The checksum of a JSON state: SHA-256 of its canonical JSON without `checksum`. */
function jsonChecksum(s: AccumulatorState): string {
  const { checksum: _, ...rest } = s;
  return textHash(canonicalJSON(rest));
}

/** A snapshot (weights are left out) as a JSON state, with its checksum. */
export function stateToJSON(s: StateSnapshot): AccumulatorState {
  const out: AccumulatorState = {
    format: JSON_STATE_FORMAT,
    options: { ...s.options },
    samples: s.samples,
    names: s.names,
    kinds: s.kinds,
    layers: s.layers ? s.layers.map(statsToJSON) : null,
    ...(s.options.debiased ? { hsic: s.hsic ? s.hsic.map(hsicToJSON) : null } : {}),
    id: s.id,
    sources: [...s.sources],
  };
  out.checksum = jsonChecksum(out);
  return out;
}

/**
 * Parses and validates a JSON state: its shape (`validate-json.ts`), the layers' numbers
 * (`validate-stats.ts`), the identity, then the checksum (`@2`).
 * @param fn - the public function (for the messages).
 * @param state - the state, or its JSON text.
 * @returns the snapshot (weights null).
 * @throws NRCInputError naming the field at fault (`state` for the state's own fields).
 */
export function stateFromJSON(fn: string, state: unknown): StateSnapshot {
  let s: AccumulatorState;
  try {
    s = typeof state === "string" ? JSON.parse(state) : (state as AccumulatorState);
  } catch (e) {
    throw new NRCInputError(fn, "state", `state must be valid JSON; ${(e as Error).message}`);
  }
  if (
    !s ||
    typeof s !== "object" ||
    (s.format !== JSON_STATE_FORMAT && s.format !== JSON_STATE_FORMAT_1)
  )
    throw new NRCInputError(
      fn,
      "state",
      `state.format must be "${JSON_STATE_FORMAT}" (or "${JSON_STATE_FORMAT_1}"); got ${JSON.stringify(s?.format)}`,
    );
  checkStateShape(fn, s as unknown as Record<string, unknown>);
  const o = s.options;
  const options: StateOptions = {
    t: o.t ?? null,
    r: o.r ?? null,
    preset: o.preset,
    modelMSE: o.modelMSE ?? null,
    collapseThreshold: o.collapseThreshold,
    nrc4: o.nrc4 ?? "tsqr",
    ...(o.debiased ? { debiased: true } : {}),
  };
  const snap: StateSnapshot = {
    options,
    samples: 0,
    names: null,
    kinds: null,
    layers: null,
    weights: null,
    hsic: null,
    id: "",
    sources: [],
  };
  if (s.layers) {
    try {
      const withFactor = options.nrc4 === "tsqr";
      snap.layers = s.layers.map((l) => statsFromJSON(l, withFactor));
    } catch (e) {
      throw new NRCInputError(fn, "state", `state.layers is malformed: ${(e as Error).message}`);
    }
    snap.samples = s.samples;
    snap.kinds = s.kinds ?? s.layers.map(() => "dense");
    snap.names = s.names ?? s.layers.map((_, i) => `layer ${i}`);
    checkStateLayers(fn, snap.layers, s.samples, snap.kinds);
    if (options.debiased) snap.hsic = hsicFromJSON(fn, s.hsic, s.layers.length);
  }
  if (s.format === JSON_STATE_FORMAT_1) {
    // No recorded identity: derived from the contents, so one state loaded twice has one id.
    const id = textHash(canonicalJSON(s)).slice(0, 32);
    return { ...snap, id, sources: snap.samples > 0 ? [id] : [] };
  }
  Object.assign(snap, checkIdentity(fn, "state.", s.id, s.sources, snap.samples));
  if (typeof s.checksum !== "string" || s.checksum !== jsonChecksum(s))
    throw new NRCInputError(
      fn,
      "state.checksum",
      typeof s.checksum === "string"
        ? "state.checksum does not match the state's contents: the state was corrupted or edited after it was written"
        : `state.checksum must be the state's SHA-256 (64 hex digits); got ${JSON.stringify(s.checksum)}`,
    );
  return snap;
}
