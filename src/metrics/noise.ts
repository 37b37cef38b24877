/**
 * NRC1, the noise component (Rangamani & Unal 2026, "Deep Neural Regression Collapse", NRC1):
 *
 *   NRC1(H, t) = Σ_{i>t} λ_i / Σ_i λ_i,   λ₁ ≥ … ≥ λ_d the eigenvalues of Σ_H = HcᵀHc / N,
 *
 * the share of the centered features' variance outside their top-t principal subspace
 * (= 1 − Tr(U_tᵀΣ_H U_t)/Tr(Σ_H)). The tail is summed directly, smallest eigenvalue first.
 * → 0 in collapsed layers.
 * @module
 */
import { checkDim, checkOptions } from "../errors.js";
import { pow2Scaled } from "../linalg/scale.js";
import type { CompleteKernels, Mat } from "../backends/types.js";
import { toMat, type MatrixInput } from "../linalg/matrix.js";
import { center } from "../linalg/center.js";
import { covarianceSpectrum, tailSum, type Spectrum } from "../linalg/spectrum.js";
import { dataTails, gramTailUnresolved } from "../linalg/tail.js";
import { withKernels, workOf } from "../backends/shared.js";
import { type BackendOption } from "../backends/choose.js";
import { checkVariance } from "./matrix-checks.js";

/** Options shared by the metric functions. */
export interface MetricOptions {
  /** Backend to compute with (default: the JS kernels). */
  backend?: BackendOption;
}

/** NRC1 from a spectrum: tail share beyond the top t. @internal */
export function noiseFromSpectrum(s: Spectrum, t: number): number {
  return tailSum(s.values, t) / s.total;
}

/**
 * Centers H and returns its covariance spectrum (every eigenvalue; the leading `vectors`
 * eigenvectors, default all), checking for zero variance. @internal
 */
export async function featureSpectrum(
  k: CompleteKernels,
  fn: string,
  arg: string,
  h: Mat,
  vectors?: number,
): Promise<{ hc: Mat; spectrum: Spectrum }> {
  const hc = center(h).centered;
  const spectrum = await covarianceSpectrum(k, hc, vectors);
  checkVariance(fn, arg, spectrum.total, h);
  return { hc, spectrum };
}

/**
 * NRC1 noise component: `Σ_{i>t} λ_i / Σ_i λ_i` over the eigenvalues of the features'
 * covariance (Rangamani & Unal 2026).
 * @param H - features, N×d (rows = samples).
 * @param t - signal dimension, 1 ≤ t ≤ d (usually the number of targets).
 * @returns a number in [0, 1]; 0 when rank(Hc) ≤ t.
 * @throws NRCInputError on a non-matrix, NaN/±Infinity, fewer than 2 samples, t outside [1, d],
 *   or zero-variance features.
 * @example
 * ```ts
 * import { noiseComponent } from "deep-nrc";
 * const H = [[1, 2, 0], [2, 1, 1], [3, 5, 1], [4, 3, 2], [0, 1, 0], [5, 4, 3]];
 * await noiseComponent(H, 2); // 0.004758239938369435
 * ```
 */
export async function noiseComponent(
  H: MatrixInput,
  t: number,
  options: MetricOptions = {},
): Promise<number> {
  const fn = "noiseComponent";
  checkOptions(fn, options);
  const h = pow2Scaled(toMat(fn, "H", H, { minRows: 2 }));
  checkDim(fn, "t", t, h.cols, "the feature count d");
  return withKernels(fn, options.backend, workOf(h), async (k) => {
    const { hc, spectrum } = await featureSpectrum(k, fn, "H", h, t);
    // A tail below what the Gram resolves is read from the data (src/linalg/tail.ts).
    if (!gramTailUnresolved(spectrum, h.cols, t)) return noiseFromSpectrum(spectrum, t);
    const tails = await dataTails(k, hc, new Float64Array(h.cols), spectrum, t);
    return tails(t) / spectrum.total;
  });
}
