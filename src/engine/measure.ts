/**
 * `measureNRC`: every Deep Neural Regression Collapse condition of Rangamani & Unal (2026), per
 * layer, from one pass of shared intermediates per layer (`shiftedMoments`: the centered Gram,
 * the feature–target cross products and the means in one read of H): every eigenvalue of the
 * Gram and its leading max(t, r) eigenvectors (NRC1, NRC2, stable rank, intrinsic-dimension
 * variants; all of them only for the bottom-subspace alignment), the weight's Gram (NRC3, its
 * stable rank), and for NRC4 the normal equations — solved with the Gram's Cholesky factor, or
 * its eigenvectors when all are at hand — refined against the data where the Gram's spectrum
 * proves that safe, else a Householder QR of [H | Y | 1] and an SVD of its factor. Nothing N×N
 * is formed.
 * @module
 */
import type { CompleteKernels, Mat, MatF32, TopEigResult } from "../backends/types.js";
import { assertFinite, toMat, toMatKeepF32, type MatrixInput } from "../linalg/matrix.js";
import { center, frobeniusSq } from "../linalg/center.js";
import { widenMat } from "../backends/composed.js";
import { psdSpectrum, tailSum, type Spectrum } from "../linalg/spectrum.js";
import {
  centeredGramSolver,
  defaultRtol,
  refinedResidualSq,
  type CenteredGramEigen,
} from "../linalg/lstsq.js";
import {
  augmented,
  centerWith,
  nrc4Residual,
  startBatchStats,
  type LayerStats,
} from "../stats/moments.js";
import { dataTails, gramTailUnresolved } from "../linalg/tail.js";
import {
  expandVectors,
  findReduction,
  reduceGram,
  reduceRows,
  reducedAugmented,
  type ColumnReduction,
} from "../linalg/reduce.js";
import { withKernels, type BackendOption } from "../backends/registry.js";
import {
  NRCInputError,
  fmtShape,
  checkCallback,
  checkDim,
  checkKeys,
  checkPreset,
} from "../errors.js";
import { pow2Normalized, pow2Scaled, scaledNorm, unscaleSquared } from "../linalg/scale.js";
import { convFeaturesToMatrix, convWeightsToMatrix, type TensorInput } from "../io/conv.js";
import { guardedFromParts, nrc2FromParts } from "../metrics/cka.js";
import { checkDebiased, debiasedNRC2 } from "../metrics/cka.js";
import type { DebiasedSums } from "../stats/hsic.js";
import { subspaceAlignment, weightInputSpectrum } from "../metrics/angles.js";
import { stableRankFromSpectrum } from "../metrics/stable-rank.js";
import type { IntrinsicReport, LayerReasons, LayerReport, NRCReport, Preset } from "./report.js";

/** The upper bound of t and r, checked per layer (a layer with fewer features is degenerate). @internal */
export const LAYER_BOUND = "a layer's feature count; layers with fewer are reported degenerate";

/** The keys {@link measureNRC} reads (others are rejected). @internal */
export const MEASURE_KEYS = [
  "layers",
  "targets",
  "t",
  "r",
  "preset",
  "modelMSE",
  "collapseThreshold",
  "backend",
  "onProgress",
  "debiased",
] as const;

/** The keys of one {@link LayerInput}. @internal */
export const LAYER_KEYS = ["name", "features", "weight"] as const;

/** Default NRC1 threshold at or below which a layer counts as collapsed. */
export const DEFAULT_COLLAPSE_THRESHOLD = 0.01;

/** One layer: the features entering a linear map, and (optionally) that map's weight. */
export interface LayerInput {
  /** A display name (default `layer {index}`). */
  name?: string;
  /** N×d features (rows = samples), or a 4-D conv tensor `{ data, shape: [N, C, h, w] }`. */
  features: MatrixInput | TensorInput;
  /** out×in weight reading these features, or conv filters `{ data, shape: [Cout, Cin, kh, kw] }`. */
  weight?: MatrixInput | TensorInput | null;
}

/** Arguments of {@link measureNRC}. */
export interface MeasureOptions {
  /** The layers, input side first. */
  layers: readonly LayerInput[];
  /** N×q targets. */
  targets: MatrixInput;
  /** Signal dimension (default q, the number of target columns). */
  t?: number;
  /** Intrinsic dimension r: adds NRC1/NRC3 at r and the bottom-subspace alignment. */
  r?: number;
  /** `paper` (default) or `reference-code` (the authors' published scripts). */
  preset?: Preset;
  /** The model's train MSE; adds `nrc4OverModelMSE`. */
  modelMSE?: number;
  /** NRC1 at or below which a layer counts as collapsed (default 0.01). */
  collapseThreshold?: number;
  /**
   * Backend: a name (`"auto"`, `"wasm"`, `"js"`, `"webgpu"`, `"tfjs"`), a `Backend`, started
   * kernels, or a list to try in order. Default: the JS kernels for inputs under
   * `AUTO_BACKEND_MIN_WORK` flops, else `"auto"` (wasm with threads, else js). Named backends
   * (and the default) are started once per process and reused by later calls, then released
   * after `SHARED_BACKEND_IDLE_MS` idle. `report.backend` names the one that ran.
   */
  backend?: BackendOption;
  /** Called after each layer with (layers done, total). */
  onProgress?: (done: number, total: number) => void;
  /**
   * NRC2 as debiased CKA (the unbiased HSIC estimator, see `linearCKA`): ≈ 0 for features
   * independent of the targets at any N, where biased CKA reads ~0.2 at N = 32. Needs N ≥ 4.
   */
  debiased?: boolean;
}

/** Σ rows·cols² of a features argument, read from its shape only (0 when unknown). @internal */
export function roughWork(x: unknown): number {
  if (x === null || typeof x !== "object") return 0;
  const o = x as { rows?: unknown; cols?: unknown; columns?: unknown; shape?: unknown };
  if (Array.isArray(x)) {
    const c = Array.isArray(x[0]) ? (x[0] as unknown[]).length : 0;
    return x.length * c * c;
  }
  if (Array.isArray(o.shape) && o.shape.every((v) => typeof v === "number")) {
    const sh = o.shape as number[];
    if (sh.length === 4) return sh[0] * sh[2] * sh[3] * sh[1] * sh[1];
    if (sh.length === 2) return sh[0] * sh[1] * sh[1];
  }
  const cols = typeof o.cols === "number" ? o.cols : typeof o.columns === "number" ? o.columns : 0;
  return typeof o.rows === "number" ? o.rows * cols * cols : 0;
}

function isTensor4(x: unknown): x is TensorInput {
  return (
    x !== null &&
    typeof x === "object" &&
    Array.isArray((x as TensorInput).shape) &&
    (x as TensorInput).shape.length === 4 &&
    "data" in (x as object)
  );
}

/** A matrix argument, also accepting a 2-D `{ data, shape }` tensor. @internal */
export function asMatrix(
  fn: string,
  arg: string,
  x: unknown,
  minRows?: number,
  skipFinite?: boolean,
): Mat;
export function asMatrix(
  fn: string,
  arg: string,
  x: unknown,
  minRows: number,
  skipFinite: boolean,
  keepFloat32: boolean,
): Mat | MatF32;
export function asMatrix(
  fn: string,
  arg: string,
  x: unknown,
  minRows = 1,
  skipFinite = false,
  keepFloat32 = false,
): Mat | MatF32 {
  const conv = keepFloat32 ? toMatKeepF32 : toMat;
  if (x !== null && typeof x === "object" && Array.isArray((x as TensorInput).shape)) {
    const s = (x as TensorInput).shape;
    if (s.length !== 2)
      throw new NRCInputError(
        fn,
        arg,
        `${arg} must be a matrix or a 4-D conv tensor; got a tensor of shape [${s.join(", ")}]`,
      );
    return conv(
      fn,
      arg,
      { rows: s[0], cols: s[1], data: (x as TensorInput).data },
      { minRows, skipFinite },
    );
  }
  return conv(fn, arg, x, { minRows, skipFinite });
}

const emptyLayer = (
  index: number,
  name: string,
  kind: "dense" | "conv",
  h: Mat,
  reason: string,
): LayerReport => ({
  index,
  name,
  kind,
  samples: h.rows,
  features: h.cols,
  degenerate: reason,
  nrc1: null,
  nrc2: null,
  nrc3: null,
  nrc4: null,
  nrc4OverModelMSE: null,
  stableRankFeatures: null,
  stableRankWeight: null,
  topEigenvalues: [],
  collapsed: false,
  intrinsic: null,
  reasons: {},
});

/** Settings shared by all layers of one measurement. @internal */
export interface Ctx {
  preset: Preset;
  t: number;
  r: number | null;
  modelMSE: number | null;
  threshold: number;
  /** NRC2 as debiased CKA. */
  debiased?: boolean;
}

/** A layer's input, validated and reshaped: features, the targets row-aligned with them, weight. */
export interface PreparedLayer {
  name: string;
  kind: "dense" | "conv";
  /** The features in float64 (for float32 features given with `keepFloat32`: widened on first read). */
  h: Mat;
  /**
   * With `keepFloat32`, float32 dense features as given (no copy): for the kernels that take
   * {@link MatF32} and widen as they read. Absent otherwise.
   */
  h32?: MatF32;
  /** Target rows repeated this many times per sample (h·w for flattened conv maps, else 1). */
  repeat: number;
  w: Mat | null;
}

/** A weight argument: an out×in matrix, or conv filters reshaped to (Cout·kh·kw)×Cin. @internal */
export function weightMatrix(fn: string, arg: string, weight: unknown): Mat {
  return isTensor4(weight) ? convWeightsToMatrix(weight as TensorInput) : asMatrix(fn, arg, weight);
}

/** Validates and reshapes one layer's features and weight. @internal */
export function prepareLayer(
  fn: string,
  arg: string,
  index: number,
  features: unknown,
  weight: unknown,
  name: unknown,
  preset: Preset,
  samples: number,
  deferFinite = false,
  keepFloat32 = false,
): PreparedLayer {
  const label = name ?? `layer ${index}`;
  if (typeof label !== "string")
    throw new NRCInputError(fn, `${arg}.name`, `${arg}.name must be a string; got ${typeof label}`);
  const conv = isTensor4(features);
  let h: Mat | MatF32;
  let repeat = 1;
  if (conv) {
    const f = features as TensorInput;
    const mode = preset === "paper" ? "flatten" : "gap";
    h = convFeaturesToMatrix(f, { mode });
    if (mode === "flatten") repeat = f.shape[2] * f.shape[3];
  } else h = asMatrix(fn, `${arg}.features`, features, 1, deferFinite, keepFloat32);
  if (h.rows !== samples * repeat)
    throw new NRCInputError(
      fn,
      `${arg}.features`,
      `${arg}.features must have one row per sample of targets (${samples}${repeat > 1 ? ` × ${repeat} spatial positions` : ""}); got ${fmtShape(h.rows, h.cols)}`,
    );
  let w: Mat | null = null;
  if (weight != null) {
    w = isTensor4(weight)
      ? convWeightsToMatrix(weight as TensorInput)
      : asMatrix(fn, `${arg}.weight`, weight);
    if (w.cols !== h.cols)
      throw new NRCInputError(
        fn,
        `${arg}.weight`,
        `${arg}.weight must be out×in with in = ${h.cols} (the features' column count); got ${fmtShape(w.rows, w.cols)}`,
      );
  }
  const kind = conv ? "conv" : "dense";
  if (!(h.data instanceof Float32Array)) return { name: label, kind, h: h as Mat, repeat, w };
  const h32 = h as MatF32;
  let wide: Mat | null = null;
  return {
    name: label,
    kind,
    get h() {
      return (wide ??= widenMat(h32));
    },
    h32,
    repeat,
    w,
  };
}

/** Repeats each row of m `times` times (an image's targets for each of its spatial positions). @internal */
export function repeatRows(m: Mat, times: number): Mat {
  if (times === 1) return m;
  const out = new Float64Array(m.rows * times * m.cols);
  for (let i = 0; i < m.rows; i++)
    for (let r = 0; r < times; r++)
      out.set(m.data.subarray(i * m.cols, (i + 1) * m.cols), (i * times + r) * m.cols);
  return { rows: m.rows * times, cols: m.cols, data: out };
}

const EPS = 2 ** -52;

/** Why a layer cannot be measured (fewer than t features, zero variance), or null. @internal */
export function degenerateReason(s: LayerStats, spec: Spectrum | null, t: number): string | null {
  const { d, count: n } = s;
  if (t > d) return `has ${d} features, fewer than t = ${t}`;
  if (!spec) return null;
  let meanScale = 0;
  for (let i = 0; i < d; i++) meanScale = Math.max(meanScale, Math.abs(s.meanH[i]));
  if (!(spec.total * n > n * d * (8 * EPS * meanScale) ** 2))
    return "zero-variance features (every feature is constant, e.g. a dead ReLU layer)";
  return null;
}

/**
 * How many leading eigenvectors of the features' covariance the metrics read: t (NRC2, NRC3) and
 * r (intrinsic NRC3), or all of them when the bottom-subspace alignment (r < d) is asked for.
 * @internal
 */
export function spectrumVectors(d: number, t: number, r: number | null): number {
  if (r !== null && r < d) return d;
  return Math.min(d, Math.max(t, r ?? 0));
}

/**
 * Whether a batch's moments are finite: the means and the diagonal of the centered Gram, which
 * are finite only when every entry of the features is (or, for finite features, unless their
 * squares overflow). @internal
 */
export function momentsFinite(s: LayerStats): boolean {
  let probe = 0;
  for (let j = 0; j < s.d; j++) probe += s.meanH[j] * 0 + s.m2H[j * s.d + j] * 0;
  return probe === 0;
}

/** The covariance spectrum of a layer's statistics: every eigenvalue, `vectors` eigenvectors (default all). @internal */
export function layerSpectrum(
  k: CompleteKernels,
  s: LayerStats,
  vectors?: number,
): Promise<Spectrum> {
  return psdSpectrum(k, { rows: s.d, cols: s.d, data: s.m2H }, s.count, vectors);
}

/** What the NRC4 refinement solves with ({@link centeredGramSolver}) for a layer's statistics. @internal */
export function layerGramSolver(
  k: CompleteKernels,
  s: LayerStats,
  spec: Spectrum,
): Promise<CenteredGramEigen> {
  const c = { rows: s.d, cols: s.d, data: s.m2H };
  return centeredGramSolver(
    k,
    c,
    spec.values.map((v) => v * s.count),
    spec.vectors,
    s.meanH,
  );
}

/** pinv's cutoff for NRC4 under a preset. @internal */
export function nrc4Rtol(preset: Preset, n: number, d: number): number {
  return preset === "paper" ? defaultRtol(n, d) : 1e-3;
}

/** What a caller may already have for {@link finalizeLayer}. @internal */
export interface LayerExtras {
  /** The layer's features and row-aligned targets, for NRC4 when the statistics hold no factor. */
  data?: { h: Mat; y: Mat };
  /** The spectrum, when already computed ({@link layerSpectrum}). */
  spec?: Spectrum;
  /** NRC4's residual ‖(I − H·pinv(H))·Yc‖², when already computed. */
  residual?: number;
  /** Debiased NRC2's sums when there is no data (the accumulator, preset reference-code). */
  hsic?: DebiasedSums;
  /**
   * Called before NRC4's fallback factorises the data, so the backend's threads are free for it:
   * `measureNRC` completes the next layer's background moments there (the QR would otherwise run
   * on the calling thread alone while the workers take those moments).
   */
  beforeFactor?: () => Promise<unknown>;
}

/** Every metric of one layer from its sufficient statistics (and `extra`). @internal */
export async function finalizeLayer(
  k: CompleteKernels,
  index: number,
  meta: { name: string; kind: "dense" | "conv"; w: Mat | null },
  s: LayerStats,
  ctx: Ctx,
  extra: LayerExtras = {},
): Promise<LayerReport> {
  const { name, kind, w } = meta;
  const { d, q, count: n } = s;
  const { t, r, preset } = ctx;
  const shape = { rows: n, cols: d, data: new Float64Array(0) };
  const early = degenerateReason(s, null, t);
  if (early) return emptyLayer(index, name, kind, shape, early);
  // Exactly constant and duplicate columns (dead units, copies) are verified against the data
  // and left out of the eigen work and NRC4 (src/linalg/reduce.ts).
  const red = extra.data && !extra.spec ? findReduction(extra.data.h, s.meanH, s.m2H) : null;
  const want = spectrumVectors(d, t, r);
  let reduced: ReducedSpectrum | undefined;
  let spec: Spectrum;
  if (extra.spec) spec = extra.spec;
  else if (red) ({ spec, reduced } = await reducedSpectrum(k, s, red, want));
  else spec = await layerSpectrum(k, s, want);
  const why = degenerateReason(s, spec, t);
  if (why) return emptyLayer(index, name, kind, shape, why);
  const c: Mat = { rows: d, cols: q, data: s.cross };
  const yyF = scaledNorm(s.m2Y);
  // Tails the Gram cannot resolve are read from the data (src/linalg/tail.ts).
  const tails =
    extra.data && gramTailUnresolved(spec, d, Math.max(t, r ?? t))
      ? await dataTails(k, extra.data.h, s.meanH, spec, Math.max(t, r ?? 0))
      : null;
  const tailAt = (from: number) => (tails ? tails(from) : tailSum(spec.values, from));
  const nrc1 = tailAt(t) / spec.total;
  let nrc2: number;
  if (preset === "paper") nrc2 = nrc2FromParts(spec, c, yyF, n, t);
  else {
    let cross = 0;
    for (let i = 0; i < t * q; i++) cross += s.cross[i] ** 2;
    let xx = 0;
    for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) xx += s.m2H[i * d + j] ** 2;
    nrc2 = guardedFromParts(cross, Math.sqrt(xx), yyF);
  }
  if (ctx.debiased) nrc2 = await debiasedNRC2(k, "NRC2", s, spec, t, preset, extra);
  const rtol = nrc4Rtol(preset, n, d);
  const nrc4 =
    (extra.residual ??
      (await layerResidual(k, s, spec, rtol, extra.data, reduced, extra.beforeFactor))) /
    (n * q);
  let nrc3: number | null = null;
  let stableRankWeight: number | null = null;
  let ws: TopEigResult | null = null;
  const reasons: LayerReasons = {};
  if (w) {
    // NRC3 and the intrinsic variants read only W's top max(t, r) input directions.
    ws = await weightInputSpectrum(k, w, Math.min(w.cols, Math.max(t, r ?? 0)));
    if (ws.values[0] > 0) {
      stableRankWeight = frobeniusSq(w) / ws.values[0];
      if (t <= Math.min(w.rows, d))
        nrc3 = await subspaceAlignment(k, spec.vectors, 0, t, ws.vectors, 0, t);
      else reasons.nrc3 = `the weight has ${w.rows} outputs, fewer than t = ${t}`;
    } else {
      ws = null;
      reasons.nrc3 = "the weight is all zero (no input subspace)";
    }
  }
  let intrinsic: IntrinsicReport | null = null;
  if (r !== null && r > d) reasons.intrinsic = `r = ${r} exceeds the layer's ${d} features`;
  if (r !== null && r <= d) {
    const wOk = ws !== null && w !== null && r <= Math.min(w.rows, d);
    if (w && !wOk)
      reasons.intrinsic =
        ws === null
          ? "the weight is all zero (no input subspace)"
          : `the weight has ${w.rows} outputs, fewer than r = ${r}`;
    intrinsic = {
      r,
      nrc1: tailAt(r) / spec.total,
      nrc3: wOk ? await subspaceAlignment(k, spec.vectors, 0, r, ws!.vectors, 0, r) : null,
      bottomAlignment:
        wOk && r < d ? await subspaceAlignment(k, ws!.vectors, 0, r, spec.vectors, r, d) : null,
    };
  }
  return {
    index,
    name,
    kind,
    samples: n,
    features: d,
    degenerate: null,
    nrc1,
    nrc2,
    nrc3,
    nrc4,
    nrc4OverModelMSE: ctx.modelMSE !== null ? nrc4 / ctx.modelMSE : null,
    stableRankFeatures: stableRankFromSpectrum(spec, preset === "reference-code"),
    stableRankWeight,
    topEigenvalues: Array.from(spec.values.subarray(0, Math.min(d, t + 2))),
    collapsed: nrc1 <= ctx.threshold,
    intrinsic,
    reasons,
  };
}

/**
 * NRC4's residual ‖(I − H·pinv(H))·Yc‖²: from the TSQR factor when the statistics hold one;
 * otherwise from the data, by refined normal equations where the spectrum proves them safe
 * ({@link refinedResidualSq}) and by a Householder QR of [H | Y | 1] where it does not.
 */
async function layerResidual(
  k: CompleteKernels,
  s: LayerStats,
  spec: Spectrum,
  rtol: number,
  data: { h: Mat; y: Mat } | undefined,
  reduced?: ReducedSpectrum,
  beforeFactor?: () => Promise<unknown>,
): Promise<number> {
  if (s.r) return nrc4Residual(k, { ...s, r: s.r }, rtol);
  if (!data) throw new Error("finalizeLayer: neither a TSQR factor, the data nor the residual");
  const yc = centerWith(data.y, s.meanY);
  const cross = { rows: s.d, cols: s.q, data: s.cross };
  let refined: number | null;
  if (reduced) {
    const { red, gram, spec: rs } = reduced;
    const dr = red.keep.length;
    const eig = await centeredGramSolver(
      k,
      gram,
      rs.values.map((v) => v * s.count),
      rs.vectors,
      reduceRows(red, s.meanH, 1),
    );
    refined = await refinedResidualSq(k, data.h, yc, { ...eig, columns: red }, rtol, {
      rows: dr,
      cols: s.q,
      data: reduceRows(red, s.cross, s.q),
    });
    if (refined !== null) return refined;
    await beforeFactor?.();
    const { a, d: width } = reducedAugmented(red, data.h, data.y);
    const r = (await k.qr(a)).R;
    return nrc4Residual(k, { ...s, d: width, r }, rtol);
  }
  refined = await refinedResidualSq(k, data.h, yc, await layerGramSolver(k, s, spec), rtol, cross);
  if (refined !== null) return refined;
  await beforeFactor?.();
  const r = (await k.qr(augmented(data.h, data.y))).R;
  return nrc4Residual(k, { ...s, r }, rtol);
}

/** A spectrum computed on reduced columns: the reduction, its d'×d' Gram and spectrum. */
interface ReducedSpectrum {
  red: ColumnReduction;
  gram: Mat;
  spec: Spectrum;
}

/**
 * The covariance spectrum of a layer through its column reduction: the eigen-decomposition of
 * the reduced, scaled d'×d' Gram, its values padded with d − d' zeros and its vectors expanded
 * to d rows (completed to a basis of ℝᵈ where more than d' are wanted).
 */
async function reducedSpectrum(
  k: CompleteKernels,
  s: LayerStats,
  red: ColumnReduction,
  want: number,
): Promise<{ spec: Spectrum; reduced: ReducedSpectrum }> {
  const gram = reduceGram(red, s.m2H);
  const dr = red.keep.length;
  const rs = dr > 0 ? await psdSpectrum(k, gram, s.count, Math.min(want, dr)) : null;
  const values = new Float64Array(s.d);
  if (rs) values.set(rs.values);
  const vr = rs?.vectors ?? { rows: 0, cols: 0, data: new Float64Array(0) };
  const vectors = expandVectors(red, vr, want > vr.cols);
  const spec = { values, vectors, total: rs?.total ?? 0 };
  return {
    spec,
    reduced: { red, gram, spec: rs ?? { values: new Float64Array(0), vectors: vr, total: 0 } },
  };
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
    layers,
  };
}

/** Start of the longest suffix of collapsed layers, or null. */
function firstCollapsed(layers: LayerReport[]): number | null {
  let first: number | null = null;
  for (let i = layers.length - 1; i >= 0 && layers[i].collapsed; i--) first = i;
  return first;
}

/**
 * Measures Deep Neural Regression Collapse layer by layer (Rangamani & Unal 2026): NRC1 noise
 * component, NRC2 signal–target alignment, NRC3 feature–weight alignment, NRC4 linear
 * predictability, stable ranks, intrinsic-dimension variants and the first collapsed layer.
 *
 * A layer whose features have zero variance (a dead ReLU layer) or fewer than t columns is
 * reported with `degenerate` set and null metrics; the others are still measured.
 * @param options - layers (features entering each linear map + its weight), targets, and
 *   `t`, `r`, `preset`, `modelMSE`, `collapseThreshold`, `backend`, `onProgress`.
 * @returns an {@link NRCReport}.
 * @throws NRCInputError on malformed input: no layers, a row-count mismatch, a weight whose
 *   column count differs from the features', NaN/±Infinity, t or r out of range, zero-variance
 *   targets, a bad preset/threshold/modelMSE.
 * @example
 * ```ts
 * import { measureNRC } from "deep-nrc";
 * const report = await measureNRC({
 *   layers: [{ name: "fc1", features: H1, weight: W1 }, { name: "fc2", features: H2, weight: W2 }],
 *   targets: Y,
 * });
 * console.log(report.firstCollapsedLayer, report.layers.map((l) => l.nrc1));
 * ```
 */
export async function measureNRC(options: MeasureOptions): Promise<NRCReport> {
  const fn = "measureNRC";
  if (options === null || typeof options !== "object")
    throw new NRCInputError(
      fn,
      "options",
      `options must be { layers, targets, … }; got ${options === null ? "null" : typeof options}`,
    );
  checkKeys(fn, "options", options, MEASURE_KEYS);
  checkCallback(fn, "onProgress", options.onProgress);
  const { layers } = options;
  if (!Array.isArray(layers) || layers.length === 0)
    throw new NRCInputError(
      fn,
      "layers",
      `layers must be a non-empty array of { name?, features, weight? }; got ${Array.isArray(layers) ? "[]" : typeof layers}`,
    );
  // Before any work: a misspelt key (`weights:`) would otherwise drop a metric silently.
  layers.forEach((l: unknown, i) => {
    if (l !== null && typeof l === "object") checkKeys(fn, `layers[${i}]`, l, LAYER_KEYS);
  });
  const preset = checkPreset(fn, options.preset);
  // Exact power-of-two rescaling of targets and features of extreme size (outside 2^±200), so
  // their Grams stay finite and normal; NRC4 is scaled back (it scales with Y²), the rest is
  // scale invariant.
  const { m: y, exp: yExp } = pow2Normalized(asMatrix(fn, "targets", options.targets, 2));
  const t =
    options.t === undefined
      ? y.cols
      : checkDim(fn, "t", options.t, Number.MAX_SAFE_INTEGER, LAYER_BOUND);
  const r =
    options.r === undefined || options.r === null
      ? null
      : checkDim(fn, "r", options.r, Number.MAX_SAFE_INTEGER, LAYER_BOUND);
  const threshold = options.collapseThreshold ?? DEFAULT_COLLAPSE_THRESHOLD;
  if (typeof threshold !== "number" || !Number.isFinite(threshold) || threshold < 0)
    throw new NRCInputError(
      fn,
      "collapseThreshold",
      `collapseThreshold must be a finite number ≥ 0; got ${String(threshold)}`,
    );
  const modelMSE = options.modelMSE ?? null;
  if (
    modelMSE !== null &&
    (typeof modelMSE !== "number" || !Number.isFinite(modelMSE) || modelMSE <= 0)
  )
    throw new NRCInputError(
      fn,
      "modelMSE",
      `modelMSE must be a finite number > 0; got ${String(modelMSE)}`,
    );
  const yc = center(y).centered;
  if (!(frobeniusSq(yc) > 0))
    throw new NRCInputError(
      fn,
      "targets",
      `targets have zero variance (every column constant across ${y.rows} samples); NRC2 and NRC4 are undefined`,
    );
  const debiased = checkDebiased(fn, options.debiased, y.rows);
  const ctx: Ctx = { preset, t, r, modelMSE, threshold, debiased };
  let work = 0;
  for (const layer of layers) work += roughWork((layer as LayerInput | null)?.features);
  return withKernels(fn, options.backend, work, async (k) => {
    const out: LayerReport[] = [];
    // A reusable buffer for backends that center by copying (allocated only if one asks).
    let buf = new Float64Array(0);
    const scratch = (len: number) => (buf.length >= len ? buf : (buf = new Float64Array(len)));
    const prepare = (i: number) => {
      const arg = `layers[${i}]`;
      const layer = layers[i];
      if (layer === null || typeof layer !== "object")
        throw new NRCInputError(
          fn,
          arg,
          `${arg} must be { name?, features, weight? }; got ${layer === null ? "null" : typeof layer}`,
        );
      // Finiteness of the features is read off their moments (a pass made anyway) instead of a
      // scan of its own; the scan runs only when they are not finite, to name the entry.
      const p = prepareLayer(
        fn,
        arg,
        i,
        layer.features,
        layer.weight,
        layer.name,
        preset,
        y.rows,
        true,
      );
      p.h = pow2Scaled(p.h);
      if (p.w) p.w = pow2Scaled(p.w);
      const yr = repeatRows(y, p.repeat);
      return { arg, p, yr, stats: startBatchStats(k, p.h, yr, scratch) };
    };
    // Layer i + 1's moments are started (on the wasm backend's worker threads, in the
    // background) before layer i is finished, so the two overlap.
    let next: ReturnType<typeof prepare> | null = prepare(0);
    try {
      for (let i = 0; i < layers.length; i++) {
        const { arg, p, yr, stats: pending } = next!;
        next = null;
        const { stats, rows } = await pending.finish();
        if (!momentsFinite(stats)) assertFinite(fn, `${arg}.features`, p.h);
        if (i + 1 < layers.length) next = prepare(i + 1);
        const upcoming = next;
        out.push(
          await finalizeLayer(k, i, p, stats, ctx, {
            data: { h: rows, y: yr },
            // An error of the next layer surfaces when its turn comes (finish() is memoised).
            beforeFactor: upcoming
              ? () => upcoming.stats.finish().catch(() => undefined)
              : undefined,
          }),
        );
        options.onProgress?.(i + 1, layers.length);
      }
    } finally {
      // A layer that failed leaves the next one's moments pending: complete them (unused).
      if (next) await next.stats.finish().catch(() => undefined);
    }
    if (yExp !== 0)
      for (const l of out) {
        if (l.nrc4 === null) continue;
        const v = unscaleSquared(l.nrc4, yExp);
        if (!Number.isFinite(v))
          throw new NRCInputError(
            fn,
            "targets",
            `NRC4 of ${l.name} ${yExp > 0 ? "overflows" : "underflows"} float64: ${l.nrc4} × 2^${2 * yExp} (the targets reach 2^${yExp}); rescale the targets`,
          );
        l.nrc4 = v;
        l.nrc4OverModelMSE = modelMSE !== null ? v / modelMSE : null;
      }
    return assembleReport(
      k,
      ctx,
      { samples: y.rows, count: y.rows, q: y.cols, m2Y: (await k.gram(yc)).data },
      out,
    );
  });
}
