/**
 * Whether two accumulator states may be merged: the same options as in effect (t after its
 * default — the targets' width —, r, preset, NRC4 mode, model MSE, threshold), the same layers
 * (count, widths, targets' width), the same weights (compared by SHA-256), and no samples in
 * common (each state records the ids of the states whose samples it holds). Each mismatch is an
 * NRCInputError naming the field, so a shard measured with other settings or another checkpoint,
 * or a shard merged twice, is refused instead of averaged in.
 * @module
 */
import type { Mat } from "../backends/types.js";
import { NRCInputError, checkKeys } from "../errors.js";
import type { LayerStats } from "../stats/moments.js";
import { weightHash } from "./checksum.js";
import { sharedSources, type StateOptions } from "./snapshot.js";

/** What the check reads of a state. */
export interface StateShape {
  options: StateOptions;
  /** Per-layer statistics, null before any batch. */
  layers: readonly LayerStats[] | null;
  weights: readonly (Mat | null)[] | null;
  /** The ids of the states whose samples it holds (absent: not checked). */
  sources?: readonly string[];
}

/** Options of {@link checkCompatible}. */
export interface CompatOptions {
  /** How to call the other state in messages (e.g. "other", "b.nrc.safetensors"). */
  what?: string;
  /** Merge even when both hold the samples of one state (they are then counted twice). */
  allowDuplicates?: boolean;
}

/** Options of `NRCAccumulator.merge`. */
export interface MergeOptions {
  /**
   * Merge even when both states hold the samples of one state (e.g. a shard merged twice): they
   * are then counted twice. Default false: such a merge is refused.
   */
  allowDuplicates?: boolean;
}

/**
 * Checks `merge`'s options.
 * @throws NRCInputError naming `options` or `allowDuplicates`.
 */
export function checkMergeOptions(fn: string, options: MergeOptions): void {
  if (options === null || typeof options !== "object")
    throw new NRCInputError(fn, "options", "options must be { allowDuplicates? }");
  checkKeys(fn, "options", options, ["allowDuplicates"]);
  if (options.allowDuplicates !== undefined && typeof options.allowDuplicates !== "boolean")
    throw new NRCInputError(
      fn,
      "allowDuplicates",
      `allowDuplicates must be a boolean; got ${JSON.stringify(options.allowDuplicates)}`,
    );
}

/** An option as in effect: t defaults to the targets' width (undefined: not known yet). */
function inEffect(k: keyof StateOptions, s: StateShape): unknown {
  const v = s.options[k];
  if (k === "t") return v ?? s.layers?.[0].q;
  if (k === "nrc4") return v ?? "tsqr";
  if (k === "debiased") return v ?? false;
  return v ?? null;
}

const FIELDS: [keyof StateOptions, string][] = [
  ["t", "t"],
  ["r", "r"],
  ["preset", "preset"],
  ["nrc4", "nrc4"],
  ["modelMSE", "modelMSE"],
  ["collapseThreshold", "collapseThreshold"],
  ["debiased", "debiased"],
];

const show = (v: unknown) => (v === null || v === undefined ? "unset" : JSON.stringify(v));

/**
 * Throws unless `b` can be merged into `a`.
 * @param fn - the public function (for the message).
 * @param a - this state.
 * @param b - the other state.
 * @param opts - `what` (default "other"), `allowDuplicates`.
 */
export function checkCompatible(
  fn: string,
  a: StateShape,
  b: StateShape,
  opts: CompatOptions = {},
): void {
  const what = opts.what ?? "other";
  for (const [k, name] of FIELDS) {
    const x = inEffect(k, a);
    const y = inEffect(k, b);
    // t of a state without samples and without an explicit t is whatever its targets will be.
    if (x === undefined || y === undefined) continue;
    if (x !== y) {
      const note = (s: StateShape) =>
        k === "t" && s.options.t === null ? " (the default: its targets' width)" : "";
      throw new NRCInputError(
        fn,
        name,
        `${what} was made with ${name} = ${show(y)}${note(b)}, this state with ${name} = ${show(x)}${note(a)}; states merge only when ${name} agrees`,
      );
    }
  }
  if (a.sources && b.sources && !opts.allowDuplicates) {
    const both = sharedSources(a.sources, b.sources);
    if (both.length > 0)
      throw new NRCInputError(
        fn,
        "other",
        `${what} and this state both hold the samples of state ${both[0]}${both.length > 1 ? ` (and ${both.length - 1} more)` : ""}: merging would count them twice (merging a state with itself or with a state it was merged into?); allow it on purpose with allowDuplicates`,
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
