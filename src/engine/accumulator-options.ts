/**
 * The streaming accumulator's options — the shared `NRCOptions` plus weights, names and NRC4's
 * mode — its batch shape, their checks, and the options a saved state records.
 * @module
 */
import type { Mat } from "../backends/types.js";
import { NRCInputError } from "../errors.js";
import type { MatrixInput } from "../linalg/matrix.js";
import type { TensorInput } from "../io/conv.js";
import type { StateOptions } from "../state/snapshot.js";
import { NRC_OPTION_KEYS, checkNRCOptions, type NRCOptions } from "./options.js";
import { weightMatrix } from "./layer.js";

/** Options of {@link createNRCAccumulator}: the shared {@link NRCOptions}, plus the weights, names and NRC4's mode. */
export interface AccumulatorOptions extends Omit<NRCOptions, "debiased"> {
  /** One weight per layer (matrix or conv filters), or null where a layer has none. */
  weights?: readonly (MatrixInput | TensorInput | null)[];
  /** Layer names. */
  names?: readonly string[];
  /**
   * How NRC4 is obtained: `"tsqr"` (default) keeps a TSQR factor, one pass; `"rescan"` keeps
   * only moments (about the Gram's cost per batch) and needs the same batches once more at
   * `finalize({ rescan })`. Same results either way (to ~1e-12).
   */
  nrc4?: "tsqr" | "rescan";
  /**
   * NRC2 as debiased CKA (unbiased HSIC; see `linearCKA`). In the accumulator only with preset
   * `reference-code` (CKA of H[:, :t] and Y, whose extra running sums merge; the paper's NRC2
   * projects onto the top-t eigenvectors, known only at the end, and would need fourth moments
   * along them): use `measureNRC({ debiased: true })` for the paper preset.
   */
  debiased?: boolean;
}

/** Options of {@link NRCAccumulator.finalize}. */
export interface FinalizeOptions {
  /**
   * `rescan` mode: returns the same batches again (same samples, any batching and order), each
   * call a fresh iteration; called once or a few times.
   */
  rescan?: () => AsyncIterable<AccumulatorBatch> | Iterable<AccumulatorBatch>;
}

/** One batch: the features of every layer for the same samples, and their targets. */
export interface AccumulatorBatch {
  features: readonly (MatrixInput | TensorInput)[];
  targets: MatrixInput;
}

/** The keys {@link createNRCAccumulator} reads. */
export const ACCUMULATOR_KEYS = ["weights", "names", ...NRC_OPTION_KEYS, "nrc4", "debiased"];

/** The accumulator options a saved state (JSON or binary) records. */
export function optionsOfState(s: {
  options: StateOptions;
  names?: string[] | null;
}): AccumulatorOptions {
  const o = s.options;
  return {
    t: o.t ?? undefined,
    r: o.r ?? undefined,
    preset: o.preset,
    modelMSE: o.modelMSE ?? undefined,
    collapseThreshold: o.collapseThreshold,
    names: s.names ?? undefined,
    nrc4: o.nrc4 ?? "tsqr",
    debiased: o.debiased,
  };
}

/**
 * The accumulator's options checked (the shared ones by `checkNRCOptions`, then names, NRC4's
 * mode, debiased, the weights), errors naming `fn`; returns the weights as out×in matrices.
 * @internal
 */
export function checkAccumulatorOptions(
  fn: string,
  options: AccumulatorOptions,
): (Mat | null)[] | null {
  checkNRCOptions(fn, options);
  if (options.names !== undefined && options.names !== null) {
    if (!Array.isArray(options.names))
      throw new NRCInputError(fn, "names", "names must be an array of strings (one per layer)");
    options.names.forEach((v, i) => {
      if (typeof v !== "string")
        throw new NRCInputError(fn, `names[${i}]`, `names[${i}] must be a string; got ${typeof v}`);
    });
  }
  if (options.nrc4 !== undefined && options.nrc4 !== "tsqr" && options.nrc4 !== "rescan")
    throw new NRCInputError(
      fn,
      "nrc4",
      `nrc4 must be "tsqr" or "rescan"; got ${JSON.stringify(options.nrc4)}`,
    );
  if (options.debiased && (options.preset ?? "paper") !== "reference-code")
    throw new NRCInputError(
      fn,
      "debiased",
      `debiased NRC2 streams only with preset "reference-code" (CKA of H[:, :t] and Y); the paper's NRC2 projects onto the top-t eigenvectors, known only at the end, and its unbiased estimator needs fourth moments along them: use measureNRC({ debiased: true }) on the samples; got preset ${JSON.stringify(options.preset ?? "paper")}`,
    );
  let weights: (Mat | null)[] | null = null;
  if (options.weights !== undefined) {
    if (!Array.isArray(options.weights))
      throw new NRCInputError(
        fn,
        "weights",
        "weights must be an array (one per layer, null where absent)",
      );
    weights = options.weights.map((w, i) => {
      if (w == null) return null;
      return weightMatrix(fn, `weights[${i}]`, w);
    });
  }
  return weights;
}
