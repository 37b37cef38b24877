/**
 * Linear CKA (Kornblith et al., ICML 2019), in feature space, never forming N×N matrices:
 *
 *   CKA(X, Y) = ‖YcᵀXc‖²_F / (‖XcᵀXc‖_F · ‖YcᵀYc‖_F),
 *
 * and NRC2, the signal–target alignment of Rangamani & Unal (2026): CKA between the projected
 * features `Hc·U_t·U_tᵀ` (U_t the top-t eigenvectors of Σ_H) and the targets. For those
 * projected features the three products reduce to `‖U_tᵀ·HcᵀYc‖²_F`, `N·√(Σ_{i≤t} λ_i²)` and
 * `‖YcᵀYc‖_F`, so NRC2 needs only the Gram, the cross products and the targets' Gram.
 *
 * Preset `reference-code` reproduces the authors' script: CKA of the first t raw columns
 * `H[:, :t]` against Y, with their guard `‖YcᵀXc‖²_F / √(‖XcᵀXc‖²_F·‖YcᵀYc‖²_F + 1e-12)` and 0 when
 * that root is ≤ 1e-12.
 *
 * Debiased CKA (option `debiased`): the same ratio with the unbiased HSIC estimator of Song et al.
 * (2012) in place of the biased one, as Nguyen, Raghu & Kornblith (2021) use for CKA. Biased CKA
 * of independent data is far from 0 at small N (≈ 0.19 for N = 32 samples of 16 and 4 independent
 * normals); the unbiased estimator reads ≈ 0 there. In feature space, with centered data
 * (x_i, y_i its rows, a_i = ‖x_i‖², b_i = ‖y_i‖²; the estimator is invariant to shifts of X and Y),
 *
 *   n(n−3)·HSIC_u(X, Y) = ‖XcᵀYc‖²_F + (Σa)(Σb)/((n−1)(n−2)) − n/(n−2)·Σ a_i b_i,
 *
 * (the zero-diagonal kernel sums 1ᵀK̃1 = −Σa and 1ᵀK̃L̃1 = Σ a_i b_i once the data are centered),
 * so it needs, beyond the three Frobenius products, only the per-sample squared norms: O(N·(p+q))
 * more work, no N×N matrix. Needs N ≥ 4; can be slightly negative.
 * @module
 */
import { pow2Scaled, scaledNorm } from "../linalg/scale.js";
import type { CompleteKernels, Mat } from "../backends/types.js";
import { toMat, type MatrixInput } from "../linalg/matrix.js";
import { center, frobeniusSq, leadingColumns, unitScaled } from "../linalg/center.js";
import { withKernels, workOf } from "../backends/shared.js";
import type { Preset } from "../errors.js";
import { debiasedFromSums, type DebiasedSums } from "../stats/hsic.js";
import { checkSameRows, checkVariance } from "./matrix-checks.js";
import { featureSpectrum, type MetricOptions } from "./noise.js";
import type { Spectrum } from "../linalg/spectrum.js";
import { NRCInputError, checkDim, checkOptions, checkPreset } from "../errors.js";

/** Options of {@link linearCKA}. */
export interface CKAOptions extends MetricOptions {
  /**
   * Use the unbiased HSIC estimator (Song et al. 2012; debiased CKA as in Nguyen et al. 2021):
   * ≈ 0 for independent data at any N (biased CKA is ≈ 0.19 at N = 32, 16 × 4 features). N ≥ 4.
   */
  debiased?: boolean;
}

/** Checks a `debiased` option (a boolean; N ≥ 4 when true). @internal */
export function checkDebiased(fn: string, v: unknown, n: number): boolean {
  if (v === undefined || v === false) return false;
  if (v !== true)
    throw new NRCInputError(fn, "debiased", `debiased must be a boolean; got ${JSON.stringify(v)}`);
  if (n < 4)
    throw new NRCInputError(
      fn,
      "debiased",
      `debiased CKA needs at least 4 samples (the unbiased HSIC estimator divides by n(n−3)); got ${n}`,
    );
  return true;
}

/** The three Frobenius quantities of CKA from centered X and Y. @internal */
async function ckaParts(k: CompleteKernels, xc: Mat, yc: Mat): Promise<[number, number, number]> {
  const cross = frobeniusSq(await k.crossProd(xc, yc));
  const xx = Math.sqrt(frobeniusSq(await k.gram(xc)));
  const yy = Math.sqrt(frobeniusSq(await k.gram(yc)));
  return [cross, xx, yy];
}

/** The {@link DebiasedSums} of centered X and Y. @internal */
export async function debiasedSums(k: CompleteKernels, xc: Mat, yc: Mat): Promise<DebiasedSums> {
  const [cross, xxF, yyF] = await ckaParts(k, xc, yc);
  const n = xc.rows;
  let a = 0;
  let b = 0;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    let ai = 0;
    let bi = 0;
    for (let j = 0; j < xc.cols; j++) ai += xc.data[i * xc.cols + j] ** 2;
    for (let j = 0; j < yc.cols; j++) bi += yc.data[i * yc.cols + j] ** 2;
    a += ai;
    b += bi;
    ab += ai * bi;
    aa += ai * ai;
    bb += bi * bi;
  }
  return { n, cross, xx: xxF * xxF, yy: yyF * yyF, a, b, ab, aa, bb };
}

/**
 * Debiased linear CKA of centered inputs.
 * @throws NRCInputError (naming `fn`) when an unbiased self-HSIC estimate is ≤ 0.
 * @internal
 */
export async function ckaDebiasedCentered(
  k: CompleteKernels,
  fn: string,
  xc: Mat,
  yc: Mat,
): Promise<number> {
  const v = debiasedFromSums(await debiasedSums(k, unitScaled(xc), unitScaled(yc)));
  if (v === null)
    throw new NRCInputError(
      fn,
      "debiased",
      `the unbiased HSIC estimate of x with itself (or y with itself) is ≤ 0 at N = ${xc.rows}: too few samples for debiased CKA`,
    );
  return v;
}

/** Linear CKA of centered inputs. @internal */
export async function ckaCentered(k: CompleteKernels, xc: Mat, yc: Mat): Promise<number> {
  const [cross, xx, yy] = await ckaParts(k, unitScaled(xc), unitScaled(yc));
  return cross / xx / yy;
}

/** The authors' guard on CKA's three Frobenius quantities (reference-code preset). @internal */
export function guardedFromParts(cross: number, xx: number, yy: number): number {
  const den = Math.sqrt(xx * xx * yy * yy + 1e-12);
  return den <= 1e-12 ? 0 : cross / den;
}

/** The authors' guarded CKA (reference-code preset). @internal */
export async function ckaGuarded(k: CompleteKernels, xc: Mat, yc: Mat): Promise<number> {
  const [cross, xx, yy] = await ckaParts(k, xc, yc);
  return guardedFromParts(cross, xx, yy);
}

/** Paper NRC2 from the spectrum of Σ_H, C = HcᵀYc and ‖YcᵀYc‖_F. @internal */
export function nrc2FromParts(s: Spectrum, c: Mat, yyF: number, n: number, t: number): number {
  const d = c.rows;
  const q = c.cols;
  const U = s.vectors;
  // Scale invariant as written: C is scaled by its largest entry and the eigenvalues by the
  // largest, so that ‖U_tᵀC‖² and Σ(N·λ)² neither overflow nor underflow for features or
  // targets of size 1e±80 (their squares and fourth powers would).
  let cMax = 0;
  for (let i = 0; i < c.data.length; i++) cMax = Math.max(cMax, Math.abs(c.data[i]));
  if (cMax === 0) return 0;
  let num = 0;
  for (let a = 0; a < t; a++)
    for (let col = 0; col < q; col++) {
      let v = 0;
      for (let i = 0; i < d; i++) v += U.data[i * U.cols + a] * (c.data[i * q + col] / cMax);
      num += v * v;
    }
  const l0 = s.values[0];
  let lam2 = 0;
  for (let a = 0; a < t; a++) lam2 += (s.values[a] / l0) ** 2;
  return (num / Math.sqrt(lam2)) * (cMax / (n * l0)) * (cMax / yyF);
}

/**
 * Linear CKA between two representations of the same samples (Kornblith et al. 2019).
 * @param X - N×p (rows = samples).
 * @param Y - N×q.
 * @param options - `backend`; `debiased: true` for the unbiased HSIC estimator (module doc).
 * @returns a number in [0, 1] (debiased: ≈ 0 for independent data, may dip slightly below 0);
 *   symmetric; 1 for X vs X; invariant to orthogonal transforms and isotropic scaling.
 * @throws NRCInputError on mismatched rows, fewer than 2 samples (4 when debiased), NaN/±Infinity
 *   or zero variance.
 * @example
 * ```ts
 * import { linearCKA } from "deep-nrc";
 * await linearCKA([[1, 0], [0, 1], [2, 1]], [[1], [0], [2]]);
 * await linearCKA(X, Y, { debiased: true }); // Song et al. 2012's unbiased HSIC
 * ```
 */
export async function linearCKA(
  X: MatrixInput,
  Y: MatrixInput,
  options: CKAOptions = {},
): Promise<number> {
  const fn = "linearCKA";
  checkOptions(fn, options);
  const x = pow2Scaled(toMat(fn, "x", X, { minRows: 2 }));
  const y = pow2Scaled(toMat(fn, "y", Y, { minRows: 2 }));
  checkSameRows(fn, "x", x, "y", y);
  const xc = center(x).centered;
  const yc = center(y).centered;
  checkVariance(fn, "x", frobeniusSq(xc), x);
  checkVariance(fn, "y", frobeniusSq(yc), y);
  if (checkDebiased(fn, options.debiased, x.rows))
    return withKernels(fn, options.backend, workOf(xc, yc), (k) =>
      ckaDebiasedCentered(k, fn, xc, yc),
    );
  return withKernels(fn, options.backend, workOf(xc, yc), (k) => ckaCentered(k, xc, yc));
}

/** Options of {@link signalTargetAlignment}. */
export interface AlignmentOptions extends MetricOptions {
  /** `paper` (default) projects onto the top-t subspace; `reference-code` uses H[:, :t]. */
  preset?: Preset;
  /**
   * Debiased CKA (unbiased HSIC, see {@link linearCKA}) of the same two representations; with
   * `reference-code`, of H[:, :t] and Y without the authors' guard. N ≥ 4.
   */
  debiased?: boolean;
}

/**
 * NRC2 signal–target alignment: linear CKA between `Hc·U_t·U_tᵀ` and Y (paper), or between
 * `H[:, :t]` and Y with the authors' guard (preset `reference-code`). Rangamani & Unal 2026.
 * @param H - features, N×d.
 * @param Y - targets, N×q.
 * @param t - signal dimension, 1 ≤ t ≤ d.
 * @returns a number in [0, 1]; → 1 in collapsed layers.
 * @throws NRCInputError on mismatched rows, t outside [1, d], NaN, or zero-variance H or Y
 *   (paper preset; the reference-code guard returns 0 for dead columns instead).
 * @example
 * ```ts
 * import { signalTargetAlignment } from "deep-nrc";
 * const H = [[1, 2, 0], [2, 1, 1], [3, 5, 1], [4, 3, 2], [0, 1, 0], [5, 4, 3]];
 * const Y = [[1, 0], [0, 1], [2, 1], [1, 3], [0, 0], [3, 1]];
 * await signalTargetAlignment(H, Y, 2); // 0.8007472778855418
 * ```
 */
export async function signalTargetAlignment(
  H: MatrixInput,
  Y: MatrixInput,
  t: number,
  options: AlignmentOptions = {},
): Promise<number> {
  const fn = "signalTargetAlignment";
  checkOptions(fn, options);
  let h = toMat(fn, "H", H, { minRows: 2 });
  let y = toMat(fn, "Y", Y, { minRows: 2 });
  checkSameRows(fn, "H", h, "Y", y);
  checkDim(fn, "t", t, h.cols, "the feature count d");
  const preset = checkPreset(fn, options.preset);
  // The paper's NRC2 is scale invariant: exact power-of-two rescaling keeps 1e±170 data finite.
  // (The authors' guard, an absolute 1e-12, is not: reference-code sees the data as given.)
  if (preset === "paper") {
    h = pow2Scaled(h);
    y = pow2Scaled(y);
  }
  const yc = center(y).centered;
  if (checkDebiased(fn, options.debiased, h.rows)) {
    checkVariance(fn, "Y", frobeniusSq(yc), y);
    return withKernels(fn, options.backend, workOf(h, y), async (k) => {
      let xc: Mat;
      if (preset === "reference-code") {
        xc = center(leadingColumns(h, t)).centered;
        checkVariance(fn, "H[:, :t]", frobeniusSq(xc), h);
      } else {
        const { hc, spectrum } = await featureSpectrum(k, fn, "H", h, t);
        xc = projectOnto(hc, spectrum, t);
      }
      return ckaDebiasedCentered(k, fn, xc, yc);
    });
  }
  if (preset === "reference-code") {
    return withKernels(fn, options.backend, workOf(h, y), (k) =>
      ckaGuarded(k, center(leadingColumns(h, t)).centered, yc),
    );
  }
  const yy = frobeniusSq(yc);
  checkVariance(fn, "Y", yy, y);
  return withKernels(fn, options.backend, workOf(h, y), async (k) => {
    const { hc, spectrum } = await featureSpectrum(k, fn, "H", h, t);
    const c = await k.crossProd(hc, yc);
    const yyF = scaledNorm((await k.gram(yc)).data);
    return nrc2FromParts(spectrum, c, yyF, h.rows, t);
  });
}

/** Hc·U_t (N×t): the features' coordinates in their top-t eigenvectors. @internal */
export function projectOnto(hc: Mat, s: Spectrum, t: number): Mat {
  const { rows: n, cols: d } = hc;
  const U = s.vectors;
  const out = new Float64Array(n * t);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < t; a++) {
      let v = 0;
      for (let j = 0; j < d; j++) v += hc.data[i * d + j] * U.data[j * U.cols + a];
      out[i * t + a] = v;
    }
  return { rows: n, cols: t, data: out };
}

/**
 * Debiased NRC2 of one layer, for `measureNRC` and the accumulator: from the layer's data (the
 * paper's Hc·U_t, or H[:, :t] for `reference-code`, against Yc), or from the accumulator's running
 * sums (`reference-code` only: the paper's projection is known only at the end).
 * @internal
 */
export async function debiasedNRC2(
  k: CompleteKernels,
  fn: string,
  s: { meanH: Float64Array; meanY: Float64Array },
  spec: Spectrum,
  t: number,
  preset: Preset,
  src: { data?: { h: Mat; y: Mat }; hsic?: DebiasedSums },
): Promise<number> {
  if (src.hsic) {
    const v = debiasedFromSums(src.hsic);
    if (v === null)
      throw new NRCInputError(
        fn,
        "debiased",
        `the unbiased HSIC estimate of H[:, :t] or Y with itself is ≤ 0 at N = ${src.hsic.n}: too few samples for debiased CKA`,
      );
    return v;
  }
  if (!src.data) throw new Error("debiasedNRC2: neither the data nor the running sums");
  const { h, y } = src.data;
  const hc = centerCols(h, s.meanH, preset === "paper" ? h.cols : t);
  const xc = preset === "paper" ? projectOnto(hc, spec, t) : hc;
  return ckaDebiasedCentered(k, fn, xc, centerCols(y, s.meanY, y.cols));
}

/** The first `cols` columns of m minus their means. */
function centerCols(m: Mat, mean: Float64Array, cols: number): Mat {
  const out = new Float64Array(m.rows * cols);
  for (let i = 0; i < m.rows; i++)
    for (let j = 0; j < cols; j++) out[i * cols + j] = m.data[i * m.cols + j] - mean[j];
  return { rows: m.rows, cols, data: out };
}
