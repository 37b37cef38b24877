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
 * @module
 */
import { pow2Scaled, scaledNorm } from "../linalg/scale.js";
import type { CompleteKernels, Mat } from "../backends/types.js";
import { toMat, type MatrixInput } from "../linalg/matrix.js";
import { center, frobeniusSq, leadingColumns, unitScaled } from "../linalg/center.js";
import { withKernels, workOf } from "../backends/registry.js";
import type { Preset } from "../report.js";
import { checkDim, checkOptions, checkPreset, checkSameRows, checkVariance } from "./validate.js";
import { featureSpectrum, type MetricOptions } from "./noise.js";
import type { Spectrum } from "../linalg/spectrum.js";

/** The three Frobenius quantities of CKA from centered X and Y. @internal */
async function ckaParts(k: CompleteKernels, xc: Mat, yc: Mat): Promise<[number, number, number]> {
  const cross = frobeniusSq(await k.crossProd(xc, yc));
  const xx = Math.sqrt(frobeniusSq(await k.gram(xc)));
  const yy = Math.sqrt(frobeniusSq(await k.gram(yc)));
  return [cross, xx, yy];
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
 * @returns a number in [0, 1]; symmetric; 1 for X vs X; invariant to orthogonal transforms and
 *   isotropic scaling.
 * @throws NRCInputError on mismatched rows, fewer than 2 samples, NaN/±Infinity or zero variance.
 * @example
 * ```ts
 * import { linearCKA } from "deep-nrc";
 * await linearCKA([[1, 0], [0, 1], [2, 1]], [[1], [0], [2]]);
 * ```
 */
export async function linearCKA(
  X: MatrixInput,
  Y: MatrixInput,
  options: MetricOptions = {},
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
  return withKernels(fn, options.backend, workOf(xc, yc), (k) => ckaCentered(k, xc, yc));
}

/** Options of {@link signalTargetAlignment}. */
export interface AlignmentOptions extends MetricOptions {
  /** `paper` (default) projects onto the top-t subspace; `reference-code` uses H[:, :t]. */
  preset?: Preset;
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
