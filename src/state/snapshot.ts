/**
 * What a saved accumulator state holds, independent of its encoding (binary `.nrc.safetensors`,
 * see `binary.ts`, or plain JSON, see `json.ts`): the options, the per-layer statistics, the
 * weights, and the state's identity — a random `id` and the ids of the states whose samples it
 * holds (`sources`), so that a merge that would count the same samples twice is refused.
 * @module
 */
import type { Mat } from "../backends/types.js";
import type { LayerStats } from "../stats/moments.js";
import type { HsicSums } from "../stats/hsic.js";
import type { Preset } from "../errors.js";

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

/** Everything a state holds, decoded. */
export interface StateSnapshot {
  options: StateOptions;
  samples: number;
  names: string[] | null;
  kinds: ("dense" | "conv")[] | null;
  layers: LayerStats[] | null;
  weights: (Mat | null)[] | null;
  /** Debiased NRC2's running sums per layer (only with `options.debiased`). */
  hsic?: HsicSums[] | null;
  /** This state's random id (32 hex digits). */
  id: string;
  /**
   * The ids of the states whose samples this one holds (its own id once it added a batch, and
   * those of every state merged into it), sorted. Empty for a state without samples.
   */
  sources: string[];
}

/** A state id: 32 lowercase hex digits. */
export const ID_PATTERN = /^[0-9a-f]{32}$/;

/** A fresh random state id (128 bits from the platform's `crypto.getRandomValues`). */
export function newStateId(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The ids two states' samples share (empty when none). */
export function sharedSources(a: readonly string[], b: readonly string[]): string[] {
  const set = new Set(a);
  return b.filter((x) => set.has(x));
}

/** The union of two sorted id lists, sorted. */
export function unionSources(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}
