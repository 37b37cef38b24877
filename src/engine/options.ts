/**
 * The options every measurement shares — `measureNRC`, the streaming accumulator, `measureONNX`
 * and `measureLayersModel` — declared once ({@link NRCOptions}), checked once
 * ({@link checkNRCOptions}), and resolved into the settings the per-layer engine reads
 * ({@link Ctx}).
 * @module
 */
import type { BackendOption } from "../backends/choose.js";
import { NRCInputError, checkDim, checkPreset, type Preset } from "../errors.js";
import {
  checkPrecisionOption,
  checkRtolOption,
  type FeaturePrecision,
  type FeaturePrecisionOption,
} from "./nrc4-cutoff.js";

/** The upper bound of t and r, checked per layer (a layer with fewer features is degenerate). @internal */
export const LAYER_BOUND = "a layer's feature count; layers with fewer are reported degenerate";

/** Default NRC1 threshold at or below which a layer counts as collapsed. */
export const DEFAULT_COLLAPSE_THRESHOLD = 0.01;

/**
 * The options shared by every measurement entry (`measureNRC`, `createNRCAccumulator`,
 * `measureONNX`, `measureLayersModel`). Each entry adds its own (layers, weights, batching, …).
 */
export interface NRCOptions {
  /** Signal dimension t (default q, the number of target columns). */
  t?: number;
  /** Intrinsic dimension r: adds NRC1/NRC3 at r and the bottom-subspace alignment (paper §4.3). */
  r?: number;
  /** `paper` (default) or `reference-code` (the authors' published scripts; see SPEC). */
  preset?: Preset;
  /** The model's train MSE (> 0); adds `nrc4OverModelMSE` per layer. */
  modelMSE?: number;
  /** NRC1 at or below which a layer counts as collapsed (default {@link DEFAULT_COLLAPSE_THRESHOLD}). */
  collapseThreshold?: number;
  /**
   * Backend: a name (`"auto"`, `"wasm"`, `"js"`, `"webgpu"`, `"tfjs"`), a `Backend`, started
   * kernels, or a list to try in order. Default: the JS kernels for inputs under
   * `AUTO_BACKEND_MIN_WORK` flops (a stream: its first batch × `STREAM_WORK_FACTOR`), else
   * `"auto"` (wasm with threads, else js) — one policy, `backends/shared.ts`. Named backends
   * (and the default) are started once per process and reused by later calls, then released
   * after `SHARED_BACKEND_IDLE_MS` idle. `report.backend` names the one that ran.
   */
  backend?: BackendOption;
  /**
   * NRC2 as debiased CKA (the unbiased HSIC estimator, see `linearCKA`): ≈ 0 for features
   * independent of the targets at any N, where biased CKA reads ~0.2 at N = 32. Needs N ≥ 4.
   */
  debiased?: boolean;
  /**
   * The precision the features were computed in, for NRC4's pseudo-inverse cutoff (see
   * `nrc4-cutoff.ts`: max(N, d)·ε₆₄ for float64, max(d·ε_p, max(N, d)·ε₆₄) for float32/float16).
   * Default `"auto"`: float32 when any layer's features (in any batch) are a `Float32Array`.
   */
  featurePrecision?: FeaturePrecisionOption;
  /** NRC4's relative cutoff, overriding the rule above and the presets' (σ ≤ rtol·σ_max dropped). */
  nrc4Rtol?: number;
}

/**
 * The keys of {@link NRCOptions} but `debiased`, for each entry's unknown-key check (entries list
 * their own keys after these, and `debiased` last, so the accepted keys read in the same order
 * everywhere). @internal
 */
export const NRC_OPTION_KEYS = [
  "t",
  "r",
  "preset",
  "modelMSE",
  "collapseThreshold",
  "backend",
  "featurePrecision",
  "nrc4Rtol",
] as const;

/**
 * The shared options of an entry's argument, for the accumulator it feeds (each entry passes its
 * own — weights, names, NRC4 mode — beside them); `debiased` is left to the entry. @internal
 */
export function pickNRCOptions(o: NRCOptions): Omit<NRCOptions, "debiased"> {
  const out: Record<string, unknown> = {};
  for (const k of NRC_OPTION_KEYS) if (o[k] !== undefined) out[k] = o[k];
  return out as Omit<NRCOptions, "debiased">;
}

/** {@link NRCOptions} checked, with defaults applied (t stays null until the targets are known). @internal */
export interface CheckedNRCOptions {
  t: number | null;
  r: number | null;
  preset: Preset;
  modelMSE: number | null;
  threshold: number;
  debiased: boolean;
  /** `featurePrecision` as asked (`"auto"`: read off the data). */
  precisionOption: FeaturePrecisionOption;
  /** `nrc4Rtol`, or null. */
  nrc4Rtol: number | null;
}

/**
 * Checks the shared options and applies their defaults: t and r integers ≥ 1 (their upper bound
 * is each layer's width, checked per layer), the preset's name, the threshold a finite number
 * ≥ 0, modelMSE a finite number > 0, debiased a boolean.
 * @throws NRCInputError naming `fn` and the option.
 * @internal
 */
export function checkNRCOptions(fn: string, o: NRCOptions): CheckedNRCOptions {
  const t = o.t === undefined ? null : checkDim(fn, "t", o.t, Number.MAX_SAFE_INTEGER, LAYER_BOUND);
  const r =
    o.r === undefined || o.r === null
      ? null
      : checkDim(fn, "r", o.r, Number.MAX_SAFE_INTEGER, LAYER_BOUND);
  const preset = checkPreset(fn, o.preset);
  const threshold = o.collapseThreshold ?? DEFAULT_COLLAPSE_THRESHOLD;
  if (typeof threshold !== "number" || !Number.isFinite(threshold) || threshold < 0)
    throw new NRCInputError(
      fn,
      "collapseThreshold",
      `collapseThreshold must be a finite number ≥ 0; got ${String(threshold)}`,
    );
  const modelMSE = o.modelMSE ?? null;
  if (
    modelMSE !== null &&
    (typeof modelMSE !== "number" || !Number.isFinite(modelMSE) || modelMSE <= 0)
  )
    throw new NRCInputError(
      fn,
      "modelMSE",
      `modelMSE must be a finite number > 0; got ${String(modelMSE)}`,
    );
  if (o.debiased !== undefined && typeof o.debiased !== "boolean")
    throw new NRCInputError(
      fn,
      "debiased",
      `debiased must be a boolean; got ${JSON.stringify(o.debiased)}`,
    );
  return {
    t,
    r,
    preset,
    modelMSE,
    threshold,
    debiased: o.debiased === true,
    precisionOption: checkPrecisionOption(fn, o.featurePrecision),
    nrc4Rtol: checkRtolOption(fn, o.nrc4Rtol),
  };
}

/** Settings shared by all layers of one measurement. @internal */
export interface Ctx {
  preset: Preset;
  t: number;
  r: number | null;
  modelMSE: number | null;
  threshold: number;
  /** NRC2 as debiased CKA. */
  debiased?: boolean;
  /** The features' precision, for NRC4's cutoff (default float64; see nrc4-cutoff.ts). */
  precision?: FeaturePrecision;
  /** NRC4's cutoff as given (the `nrc4Rtol` option), overriding the rule. */
  nrc4Rtol?: number | null;
}
