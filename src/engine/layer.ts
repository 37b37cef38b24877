/**
 * One layer through the engine: its input validated and reshaped ({@link prepareLayer}: dense or
 * conv features, the weight as out×in, targets repeated per spatial position), its degeneracy
 * decided, and every metric computed from its sufficient statistics ({@link finalizeLayer}: NRC1
 * and the stable rank from the spectrum, NRC2 by CKA, NRC3 by principal angles with the weight's
 * top input directions, NRC4 from `nrc4.ts`, the intrinsic-dimension variants). Shared by
 * `measureNRC` and the streaming accumulator.
 * @module
 */
import type { CompleteKernels, Mat, MatF32, TopEigResult } from "../backends/types.js";
import { type MatrixInput, asMatrix, isTensor4 } from "../linalg/matrix.js";
import { frobeniusSq } from "../linalg/center.js";
import { widenMat } from "../backends/composed.js";
import { tailSum, type Spectrum } from "../linalg/spectrum.js";
import type { LayerStats } from "../stats/moments.js";
import { dataTails, gramTailUnresolved } from "../linalg/tail.js";
import { findReduction } from "../linalg/reduce.js";
import { NRCInputError, fmtShape } from "../errors.js";
import { scaledNorm } from "../linalg/scale.js";
import { convFeaturesToMatrix, convWeightsToMatrix, type TensorInput } from "../io/conv.js";
import { guardedFromParts, nrc2FromParts, debiasedNRC2 } from "../metrics/cka.js";
import type { DebiasedSums } from "../stats/hsic.js";
import { subspaceAlignment, weightInputSpectrum } from "../metrics/angles.js";
import { stableRankFromSpectrum } from "../metrics/stable-rank.js";
import type {
  IntrinsicReport,
  LayerCertificate,
  LayerReasons,
  LayerReport,
  Preset,
} from "./report.js";
import type { Ctx } from "./options.js";
import {
  spectrumVectors,
  layerSpectrum,
  reducedSpectrum,
  type ReducedSpectrum,
} from "./layer-spectrum.js";
import { layerResidual, nrc4Rtol } from "./nrc4.js";

/** One layer: the features entering a linear map, and (optionally) that map's weight. */
export interface LayerInput {
  /** A display name (default `layer {index}`). */
  name?: string;
  /** N×d features (rows = samples), or a 4-D conv tensor `{ data, shape: [N, C, h, w] }`. */
  features: MatrixInput | TensorInput;
  /** out×in weight reading these features, or conv filters `{ data, shape: [Cout, Cin, kh, kw] }`. */
  weight?: MatrixInput | TensorInput | null;
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

export const emptyLayer = (
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

/**
 * Why a layer cannot be measured (zero variance), or null. A layer with fewer features than t is
 * measured: only its metrics that need t are null (see `reasons`). @internal
 */
export function degenerateReason(s: LayerStats, spec: Spectrum): string | null {
  const { d, count: n } = s;
  let meanScale = 0;
  for (let i = 0; i < d; i++) meanScale = Math.max(meanScale, Math.abs(s.meanH[i]));
  if (!(spec.total * n > n * d * (8 * EPS * meanScale) ** 2))
    return "zero-variance features (every feature is constant, e.g. a dead ReLU layer)";
  return null;
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
  /** The tail sums Σ_{i≥from} λᵢ, when already read from the data (the certified path). */
  tails?: (from: number) => number;
  /** The certified path's bounds, copied into the report. */
  certificate?: LayerCertificate;
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
  // Exactly constant and duplicate columns (dead units, copies) are verified against the data
  // and left out of the eigen work and NRC4 (src/linalg/reduce.ts).
  const red = extra.data && !extra.spec ? findReduction(extra.data.h, s.meanH, s.m2H) : null;
  const want = spectrumVectors(d, t, r);
  let reduced: ReducedSpectrum | undefined;
  let spec: Spectrum;
  if (extra.spec) spec = extra.spec;
  else if (red) ({ spec, reduced } = await reducedSpectrum(k, s, red, want));
  else spec = await layerSpectrum(k, s, want);
  const why = degenerateReason(s, spec);
  if (why) return emptyLayer(index, name, kind, shape, why);
  const c: Mat = { rows: d, cols: q, data: s.cross };
  const yyF = scaledNorm(s.m2Y);
  // Tails the Gram cannot resolve are read from the data (src/linalg/tail.ts).
  const tails =
    extra.tails ??
    (extra.data && gramTailUnresolved(spec, d, Math.max(t, r ?? t))
      ? await dataTails(k, extra.data.h, s.meanH, spec, Math.max(t, r ?? 0))
      : null);
  const tailAt = (from: number) => (tails ? tails(from) : tailSum(spec.values, from));
  const reasons: LayerReasons = {};
  // A layer narrower than t (e.g. a first conv with 1–2 channels) has no top-t subspace: NRC1–3
  // are undefined there, NRC4, the stable ranks and the metrics at r ≤ d are not.
  const narrow = t > d ? `the layer has ${d} features, fewer than t = ${t}` : null;
  if (narrow) reasons.nrc1 = reasons.nrc2 = narrow;
  const nrc1 = narrow ? null : tailAt(t) / spec.total;
  let nrc2: number | null;
  if (narrow) nrc2 = null;
  else if (preset === "paper") nrc2 = nrc2FromParts(spec, c, yyF, n, t);
  else {
    let cross = 0;
    for (let i = 0; i < t * q; i++) cross += s.cross[i] ** 2;
    let xx = 0;
    for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) xx += s.m2H[i * d + j] ** 2;
    nrc2 = guardedFromParts(cross, Math.sqrt(xx), yyF);
  }
  if (ctx.debiased && !narrow) nrc2 = await debiasedNRC2(k, "NRC2", s, spec, t, preset, extra);
  const rtol = nrc4Rtol(preset, n, d);
  const nrc4 =
    (extra.residual ??
      (await layerResidual(k, s, spec, rtol, extra.data, reduced, extra.beforeFactor))) /
    (n * q);
  let nrc3: number | null = null;
  let stableRankWeight: number | null = null;
  let ws: TopEigResult | null = null;
  if (w) {
    // NRC3 and the intrinsic variants read only W's top max(t, r) input directions.
    ws = await weightInputSpectrum(k, w, Math.min(w.cols, Math.max(t, r ?? 0)));
    if (ws.values[0] > 0) {
      stableRankWeight = frobeniusSq(w) / ws.values[0];
      if (t <= Math.min(w.rows, d))
        nrc3 = await subspaceAlignment(k, spec.vectors, 0, t, ws.vectors, 0, t);
      else reasons.nrc3 = narrow ?? `the weight has ${w.rows} outputs, fewer than t = ${t}`;
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
    collapsed: nrc1 !== null && nrc1 <= ctx.threshold,
    intrinsic,
    reasons,
    ...(extra.certificate ? { certificate: extra.certificate } : {}),
  };
}
