/**
 * Whether two accumulator states may be merged: same options (t, r, preset, NRC4 mode, model
 * MSE, threshold, an explicit NRC4 cutoff; the features' precision merges to the coarser), the same layers (count, widths, targets' width) and the same weights (compared
 * by SHA-256). Each mismatch is an NRCInputError naming the field, so a shard measured with
 * other settings or another checkpoint is refused instead of averaged in.
 * @module
 */
import type { Mat } from "../backends/types.js";
import { NRCInputError } from "../errors.js";
import type { LayerStats } from "../stats/moments.js";
import { weightHash, type StateOptions } from "./binary.js";

/** What the check reads of a state. */
export interface StateShape {
  options: StateOptions;
  /** Per-layer statistics, null before any batch. */
  layers: readonly LayerStats[] | null;
  weights: readonly (Mat | null)[] | null;
}

const FIELDS: [keyof StateOptions, string][] = [
  ["t", "t"],
  ["r", "r"],
  ["preset", "preset"],
  ["nrc4", "nrc4"],
  ["modelMSE", "modelMSE"],
  ["collapseThreshold", "collapseThreshold"],
  ["debiased", "debiased"],
  ["nrc4Rtol", "nrc4Rtol"],
];

const show = (v: unknown) => (v === null || v === undefined ? "unset" : JSON.stringify(v));

/**
 * Throws unless `b` can be merged into `a`.
 * @param fn - the public function (for the message).
 * @param a - this state.
 * @param b - the other state.
 * @param what - how to call the other state in messages (e.g. "other", "b.nrc.safetensors").
 */
export function checkCompatible(fn: string, a: StateShape, b: StateShape, what = "other"): void {
  for (const [k, name] of FIELDS) {
    const dflt = k === "nrc4" ? "tsqr" : k === "debiased" ? false : null;
    const x = a.options[k] ?? dflt;
    const y = b.options[k] ?? dflt;
    if (x !== y)
      throw new NRCInputError(
        fn,
        name,
        `${what} was made with ${name} = ${show(y)}, this state with ${name} = ${show(x)}; states merge only when ${name} agrees`,
      );
  }
  if (a.layers && b.layers) {
    if (a.layers.length !== b.layers.length)
      throw new NRCInputError(
        fn,
        "layers",
        `${what} has ${b.layers.length} layers, this state ${a.layers.length}`,
      );
    a.layers.forEach((s, i) => {
      const o = b.layers![i];
      if (s.d !== o.d)
        throw new NRCInputError(
          fn,
          `widths[${i}]`,
          `${what}'s layer ${i} is ${o.d} wide, this state's ${s.d}`,
        );
    });
    if (a.layers[0].q !== b.layers[0].q)
      throw new NRCInputError(
        fn,
        "targets",
        `${what} has ${b.layers[0].q} target columns, this state ${a.layers[0].q}`,
      );
  }
  const L = Math.max(a.weights?.length ?? 0, b.weights?.length ?? 0);
  for (let i = 0; i < L; i++) {
    const x = a.weights?.[i] ?? null;
    const y = b.weights?.[i] ?? null;
    if (!x && !y) continue;
    const hx = x ? `${x.rows}×${x.cols} sha256 ${weightHash(x).slice(0, 12)}…` : "none";
    const hy = y ? `${y.rows}×${y.cols} sha256 ${weightHash(y).slice(0, 12)}…` : "none";
    const same =
      !!x && !!y && x.rows === y.rows && x.cols === y.cols && weightHash(x) === weightHash(y);
    if (!same)
      throw new NRCInputError(
        fn,
        `weights[${i}]`,
        `${what} was measured with other weights for layer ${i} (${hy}) than this state (${hx}); states merge only for the same checkpoint`,
      );
  }
}
