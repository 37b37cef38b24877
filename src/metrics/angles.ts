/**
 * Principal angles between column spaces, and NRC3, the feature–weight alignment of
 * Rangamani & Unal (2026):
 *
 *   NRC3(H, W, t) = (1/t)·Σ_i cos θ_i,  θ the principal angles between span(U_t) — the top-t
 *   eigenvectors of Σ_H — and the top-t input subspace of W (its top right singular vectors;
 *   W is out×in).
 *
 * Angles use the sine–cosine method (see `linalg/angles`), accurate for tiny angles.
 * @module
 */
import { pow2Scaled } from "../linalg/scale.js";
import type { CompleteKernels, Mat, TopEigResult } from "../backends/types.js";
import { toMat, type MatrixInput } from "../linalg/matrix.js";
import { NRCInputError, fmtShape, checkDim, checkOptions } from "../errors.js";
import { anglesBetweenBases, meanCosine, orthonormalBasis } from "../linalg/subspace-angles.js";
import { columnRange, unitScaled } from "../linalg/center.js";
import { withKernels, workOf } from "../backends/shared.js";
import { checkWeight } from "./matrix-checks.js";
import { featureSpectrum, type MetricOptions } from "./noise.js";

/**
 * Principal angles between the column spaces of A and B.
 * @param A - m×p.
 * @param B - m×q (same m).
 * @returns min(rank A, rank B) angles in [0, π/2], ascending, in radians. Rank cutoff
 *   σ ≤ max(m, p)·ε·σ_max for each basis (as scipy's `orth`).
 * @throws NRCInputError when the row counts differ, on NaN/±Infinity, or when A or B is zero.
 * @example
 * ```ts
 * import { principalAngles } from "deep-nrc";
 * await principalAngles([[1, 0], [0, 1], [0, 0]], [[1], [1], [0]]); // [0]
 * await principalAngles([[1], [0]], [[0], [1]]); // [π/2]
 * ```
 */
export async function principalAngles(
  A: MatrixInput,
  B: MatrixInput,
  options: MetricOptions = {},
): Promise<Float64Array> {
  const fn = "principalAngles";
  checkOptions(fn, options);
  const a = toMat(fn, "A", A);
  const b = toMat(fn, "B", B);
  if (a.rows !== b.rows)
    throw new NRCInputError(
      fn,
      "B",
      `A and B must have the same number of rows (the ambient dimension); got ${fmtShape(a.rows, a.cols)} and ${fmtShape(b.rows, b.cols)}`,
    );
  return withKernels(fn, options.backend, workOf(a, b), async (k) => {
    // Column spaces ignore scale; unit scaling keeps subnormal or huge inputs exact.
    const qa = await orthonormalBasis(k, unitScaled(a));
    const qb = await orthonormalBasis(k, unitScaled(b));
    if (qa.cols === 0)
      throw new NRCInputError(fn, "A", "A must not be the zero matrix (its column space is {0})");
    if (qb.cols === 0)
      throw new NRCInputError(fn, "B", "B must not be the zero matrix (its column space is {0})");
    return anglesBetweenBases(k, qa, qb);
  });
}

/**
 * W's top k right singular vectors (in×k, descending; its input subspace) and the k largest
 * eigenvalues of WᵀW (σᵢ²), via the backend's top-k eigensolver on WᵀW: nothing else of W's
 * spectrum is needed (its stable rank reads σ₁² and ‖W‖²_F). @internal
 */
export async function weightInputSpectrum(
  k: CompleteKernels,
  w: Mat,
  vectors: number,
): Promise<TopEigResult> {
  const kk = Math.max(1, Math.min(w.cols, vectors));
  const { values, vectors: vecs } = await k.topEig(await k.gram(w), kk);
  return { values: Float64Array.from(values, (v) => Math.max(v, 0)), vectors: vecs };
}

/** Mean cosine between columns [a0, a1) of U and [b0, b1) of V (both orthonormal). @internal */
export async function subspaceAlignment(
  k: CompleteKernels,
  U: Mat,
  a0: number,
  a1: number,
  V: Mat,
  b0: number,
  b1: number,
): Promise<number> {
  return meanCosine(await anglesBetweenBases(k, columnRange(U, a0, a1), columnRange(V, b0, b1)));
}

/**
 * NRC3 feature–weight alignment: mean cosine of the principal angles between the top-t
 * eigen-subspace of the features' covariance and the top-t input subspace of W
 * (Rangamani & Unal 2026).
 * @param H - features entering the layer, N×d.
 * @param W - the layer's weight, out×in with in = d (PyTorch layout, y = W·h).
 * @param t - subspace dimension, 1 ≤ t ≤ min(d, out).
 * @returns a number in [0, 1]; → 1 when W reads exactly the features' top-t subspace.
 * @throws NRCInputError on shape mismatch, t out of range, NaN, or zero-variance features.
 * @example
 * ```ts
 * import { featureWeightAlignment } from "deep-nrc";
 * const H = [[1, 2, 0], [2, 1, 1], [3, 5, 1], [4, 3, 2], [0, 1, 0], [5, 4, 3]];
 * const W = [[1, 0, 2], [0, 1, -1], [1, 1, 1], [2, -1, 0]];
 * await featureWeightAlignment(H, W, 2); // 0.7672156585617669
 * ```
 */
export async function featureWeightAlignment(
  H: MatrixInput,
  W: MatrixInput,
  t: number,
  options: MetricOptions = {},
): Promise<number> {
  const fn = "featureWeightAlignment";
  checkOptions(fn, options);
  const h = pow2Scaled(toMat(fn, "H", H, { minRows: 2 }));
  const w = pow2Scaled(toMat(fn, "W", W));
  checkWeight(fn, w, h.cols);
  checkDim(fn, "t", t, Math.min(h.cols, w.rows), "min(d, W's output count)");
  return withKernels(fn, options.backend, workOf(h, w), async (k) => {
    const { spectrum } = await featureSpectrum(k, fn, "H", h, t);
    const ws = await weightInputSpectrum(k, w, t);
    if (!(ws.values[0] > 0)) throw new NRCInputError(fn, "W", "W must not be the zero matrix");
    return subspaceAlignment(k, spectrum.vectors, 0, t, ws.vectors, 0, t);
  });
}
