/**
 * The weights given when a saved state is loaded: for a JSON state (which stores none) each must
 * read its layer's features; for a binary state (which stores them) each must be the stored one,
 * where the state recorded one (by SHA-256), and is taken as given where it recorded none.
 * @module
 */
import type { Mat } from "../backends/types.js";
import { NRCInputError } from "../errors.js";
import type { LayerStats } from "../stats/moments.js";
import { checkCompatible } from "./merge-compat.js";
import type { StateOptions } from "./snapshot.js";

/**
 * Weights given with a JSON state: one per layer (null where none), each out×in with in = the
 * layer's width.
 * @throws NRCInputError naming `weights` or `weights[i]`.
 */
export function checkWeightsFitLayers(
  fn: string,
  weights: readonly (Mat | null)[] | null,
  layers: readonly LayerStats[] | null,
): void {
  if (!weights || !layers) return;
  if (weights.length !== layers.length)
    throw new NRCInputError(
      fn,
      "weights",
      `weights must hold one entry per layer of the state (${layers.length}, null where none); got ${weights.length}`,
    );
  weights.forEach((w, i) => {
    const d = layers[i].d;
    if (w && w.cols !== d)
      throw new NRCInputError(
        fn,
        `weights[${i}]`,
        `weights[${i}] must be out×in with in = ${d} (layer ${i}'s features in the state); got ${w.rows}×${w.cols}${weights.some((o, j) => o && o.cols === d && j !== i) ? " (weights in another order?)" : ""}`,
      );
  });
}

/**
 * Weights given with a binary state: the state's own where it recorded some (compared by
 * SHA-256); where it recorded none (the shard had no weights) they are taken as given (they
 * change no statistic, only NRC3).
 * @throws NRCInputError naming `weights[i]`.
 */
export function checkWeightsMatchState(
  fn: string,
  options: StateOptions,
  recorded: readonly (Mat | null)[] | null,
  given: readonly (Mat | null)[] | null,
): void {
  const L = Math.max(recorded?.length ?? 0, given?.length ?? 0);
  const want = Array.from({ length: L }, (_, i) => recorded?.[i] ?? given?.[i] ?? null);
  checkCompatible(
    fn,
    { options, layers: null, weights: want },
    { options, layers: null, weights: given },
    { what: "the weights passed" },
  );
}
