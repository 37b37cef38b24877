/**
 * Stable rank (Rudelson & Vershynin 2007), as used by Rangamani & Unal (2026):
 *
 *   srank(A) = ‖A‖²_F / ‖A‖²_2 = Σ σ_i² / σ₁²,
 *
 * a smooth lower bound on rank, in [1, rank A]. For features the paper takes it of the centered
 * Hc (= Σλ/λ₁ of Σ_H); the authors' scripts take it of the covariance (Σλ²/λ₁²).
 * @module
 */
import { pow2Scaled } from "../linalg/scale.js";
import { toMat, type MatrixInput } from "../linalg/matrix.js";
import { frobeniusSq } from "../linalg/center.js";
import { withKernels, workOf } from "../backends/shared.js";
import { NRCInputError, checkOptions } from "../errors.js";
import type { Spectrum } from "../linalg/spectrum.js";
import { transpose } from "../backends/js/blas.js";
import type { MetricOptions } from "./noise.js";

/** Σλ/λ₁ (paper) or Σλ²/λ₁² (of the covariance, reference-code) from a spectrum. @internal */
export function stableRankFromSpectrum(s: Spectrum, ofCovariance: boolean): number {
  const l1 = s.values[0];
  if (!ofCovariance) return s.total / l1;
  let sq = 0;
  for (let i = s.values.length - 1; i >= 0; i--) sq += (s.values[i] / l1) ** 2;
  return sq;
}

/**
 * Stable rank `‖A‖²_F / ‖A‖²_2` of a matrix as given (no centering).
 * @param A - any m×n matrix (a weight W, or centered features).
 * @returns a number in [1, rank A].
 * @throws NRCInputError on NaN/±Infinity, a non-matrix, or the zero matrix.
 * @example
 * ```ts
 * import { stableRank } from "deep-nrc";
 * await stableRank([[1, 0, 2], [0, 1, -1], [1, 1, 1], [2, -1, 0]]); // 1.651378988721896
 * ```
 */
export async function stableRank(A: MatrixInput, options: MetricOptions = {}): Promise<number> {
  const fn = "stableRank";
  checkOptions(fn, options);
  const a = pow2Scaled(toMat(fn, "A", A));
  const fro = frobeniusSq(a);
  if (!(fro > 0))
    throw new NRCInputError(fn, "A", "A must not be the zero matrix; its stable rank is undefined");
  return withKernels(fn, options.backend, workOf(a), async (k) => {
    const small = a.rows < a.cols ? transpose(a) : a;
    const { values } = await k.symEig(await k.gram(small));
    return fro / values[0];
  });
}
