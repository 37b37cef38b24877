/**
 * The shape of a `measureNRC` report, and its assembly around the finalized layers
 * ({@link assembleReport}: the targets' stable rank, the first collapsed layer). Plain JSON: numbers, strings, booleans and `null`
 * (never NaN or undefined), so a report survives `JSON.stringify` unchanged.
 * @module
 */

/** The two presets: `paper` (default, the paper's definitions) and `reference-code`
 * (the authors' published scripts, see SPEC). */
import type { Preset } from "../errors.js";
import type { CompleteKernels } from "../backends/types.js";
import { psdSpectrum } from "../linalg/spectrum.js";
import { stableRankFromSpectrum } from "../metrics/stable-rank.js";
import type { Ctx } from "./options.js";
export type { Preset };

/** Metrics at the intrinsic dimension r (paper §4.3), present when `r` was given. */
export interface IntrinsicReport {
  /** The intrinsic dimension used. */
  r: number;
  /** NRC1 with r in place of t. */
  nrc1: number;
  /** NRC3 with r in place of t (null without a weight). */
  nrc3: number | null;
  /**
   * Mean cosine of the principal angles between the top-r input subspace of W and the bottom
   * (d − r) eigen-subspace of the features' covariance (→ 0 when collapsed layers pass no noise on).
   * Null without a weight.
   */
  bottomAlignment: number | null;
}

/** Per-layer results. */
export interface LayerReport {
  /** Position in `layers`. */
  index: number;
  /** The layer's name (given, or `layer {index}`). */
  name: string;
  /**
   * `dense`: N×d features; `conv`: a 4-D conv tensor (reshaped per the preset); `token`: a
   * MatMul on N×…×d inputs (ONNX), every position (token) a sample.
   */
  kind: "dense" | "conv" | "token";
  /** Rows (samples) of the feature matrix after reshaping. */
  samples: number;
  /** Columns (features) after reshaping. */
  features: number;
  /** Why the layer could not be measured (e.g. zero-variance features); metrics are then null. */
  degenerate: string | null;
  /** NRC1 noise component: Σ_{i>t} λ_i / Σ λ_i. */
  nrc1: number | null;
  /** NRC2 signal–target alignment (linear CKA). */
  nrc2: number | null;
  /** NRC3 feature–weight alignment (mean cosine of principal angles); null without a weight. */
  nrc3: number | null;
  /** NRC4 linear predictability: ‖H·pinv(H)·Yc − Yc‖²_F / (N·t). */
  nrc4: number | null;
  /** NRC4 / modelMSE when `modelMSE` was given, else null. */
  nrc4OverModelMSE: number | null;
  /** Stable rank of the features (paper: of Hc; reference-code: of Σ_H). */
  stableRankFeatures: number | null;
  /** Stable rank ‖W‖²_F / ‖W‖²_2 of the weight; null without a weight. */
  stableRankWeight: number | null;
  /** The top eigenvalues of Σ_H = HcᵀHc/N (at most t + 2 of them, descending). */
  topEigenvalues: number[];
  /** Whether nrc1 ≤ collapseThreshold. */
  collapsed: boolean;
  /** Metrics at the intrinsic dimension r, when `r` was given. */
  intrinsic: IntrinsicReport | null;
  /**
   * Why a metric of a measured layer is null although its inputs were given (a whole layer that
   * cannot be measured has `degenerate` instead): `nrc1`, `nrc2` (and `nrc3`) on a layer with
   * fewer features than t, whose NRC4, stable ranks and metrics at r ≤ d are still reported;
   * `nrc3` (and `stableRankWeight`) for an all-zero weight or one with fewer outputs than t; `intrinsic` when r exceeds the layer's features, or
   * its NRC3 / bottom alignment when the weight has fewer outputs than r. Keys are absent when
   * there is nothing to explain.
   */
  reasons?: LayerReasons;
  /**
   * NRC4's pseudo-inverse cutoff used (σ ≤ nrc4Rtol·σ_max dropped), present when it is not the
   * preset's float64 default: features of float32 precision (rtol = max(d·ε₃₂, max(N, d)·ε₆₄); engine/nrc4-cutoff.ts) or an explicit
   * `nrc4Rtol`.
   */
  nrc4Rtol?: number;
  /**
   * Present when the layer took the certified path (a float32 Gram refined in float64 on the
   * data): the a-posteriori bounds its values carry. Absent on the float64 path.
   */
  certificate?: LayerCertificate;
}

/**
 * The bounds of a layer measured on the certified path (`linalg/certified.ts`,
 * `linalg/preconditioned.ts`), each an upper bound computed in float64.
 */
export interface LayerCertificate {
  /** Passes over the data of the subspace iteration. */
  spectrumPasses: number;
  /** NRC1: the tail's excess over the true tail, relative (the tail is never below it). */
  nrc1Rel: number;
  /** The top-t eigenvalues: (λⱼ − θⱼ)/θⱼ at most (the Ritz values θ are lower bounds). */
  eigenvalueRel: number;
  /** ‖sin Θ‖_F between the top-t vectors used (NRC2, NRC3) and the true eigenspace. */
  sinTheta: number;
  /** The float32 Gram's a-priori 2-norm error bound, relative to the trace. */
  gramErrorRel: number;
  /**
   * NRC4's route: `refined` (float32 Cholesky preconditioner, refined on the data); past
   * κ(HᵀH) = 1e12, `two-level` (the Gram's well-resolved directions, then the data deflated of
   * them: `linalg/deflated.ts`) or, where that cannot certify its value, `qr` (a Householder QR of
   * [H | Y | 1], as the float64 path).
   */
  nrc4: "refined" | "two-level" | "qr";
  /**
   * NRC4: refinement passes over the data and the residual's error bound, relative (0 for qr;
   * for two-level, the `errorRel` of `linalg/deflated.ts`).
   */
  nrc4Passes: number;
  nrc4Rel: number;
}

/** See {@link LayerReport.reasons}. */
export interface LayerReasons {
  /** NRC1 needs a top-t subspace: null on a layer with fewer features than t. */
  nrc1?: string;
  /** NRC2 (both presets) needs t features: null on a layer with fewer features than t. */
  nrc2?: string;
  nrc3?: string;
  intrinsic?: string;
}

/** The result of `measureNRC`. */
export interface NRCReport {
  preset: Preset;
  /** Subspace dimension used (defaults to the number of target columns). */
  t: number;
  /** Intrinsic dimension, when given. */
  r: number | null;
  /** Number of samples N (rows of the targets). */
  samples: number;
  /** Number of target columns. */
  targetDim: number;
  /** Stable rank of the centered targets (reference-code: of their covariance). */
  targetStableRank: number;
  /** NRC1 threshold at or below which a layer counts as collapsed. */
  collapseThreshold: number;
  /** Index of the first layer of the longest collapsed suffix, or null when the last layer is not collapsed. */
  firstCollapsedLayer: number | null;
  /** The model's train MSE, when given. */
  modelMSE: number | null;
  /** Name of the backend that computed the report. */
  backend: string;
  /**
   * The precision the features were computed in, when not float64 (float32 features from ONNX
   * Runtime, PyTorch, `.npy` f4 or `Float32Array`s): NRC4's cutoff used its machine epsilon.
   */
  featurePrecision?: "float32" | "float16";
  layers: LayerReport[];
}

/** The report around finalized layers. @internal */
export async function assembleReport(
  k: CompleteKernels,
  ctx: Ctx,
  targets: { samples: number; count: number; q: number; m2Y: Float64Array },
  layers: LayerReport[],
): Promise<NRCReport> {
  const ySpec = await psdSpectrum(
    k,
    { rows: targets.q, cols: targets.q, data: targets.m2Y },
    targets.count,
  );
  return {
    preset: ctx.preset,
    t: ctx.t,
    r: ctx.r,
    samples: targets.samples,
    targetDim: targets.q,
    targetStableRank: stableRankFromSpectrum(ySpec, ctx.preset === "reference-code"),
    collapseThreshold: ctx.threshold,
    firstCollapsedLayer: firstCollapsed(layers),
    modelMSE: ctx.modelMSE,
    backend: k.name,
    ...((ctx.precision ?? "float64") !== "float64"
      ? { featurePrecision: ctx.precision as "float32" | "float16" }
      : {}),
    layers,
  };
}

/** Start of the longest suffix of collapsed layers, or null. */
function firstCollapsed(layers: LayerReport[]): number | null {
  let first: number | null = null;
  for (let i = layers.length - 1; i >= 0 && layers[i].collapsed; i--) first = i;
  return first;
}
