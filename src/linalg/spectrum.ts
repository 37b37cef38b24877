/**
 * The covariance spectrum of centered features: `Σ_H = HcᵀHc / N`, its eigenvalues
 * (descending, tiny negatives from rounding clamped to 0) and eigenvectors, and tail sums taken
 * directly from the smallest eigenvalue up (never as `total − head`).
 * @module
 */
import type { CompleteKernels, Mat } from "../backends/types.js";

/** Eigen-decomposition of a covariance. */
export interface Spectrum {
  /** Eigenvalues of Σ, descending, ≥ 0. */
  values: Float64Array;
  /** d×k (k as asked, or d), column j the eigenvector of `values[j]`. */
  vectors: Mat;
  /** Σ values (the trace), summed smallest first. */
  total: number;
}

/** Sum of `values[from…]` (a descending array), smallest first. */
export function tailSum(values: Float64Array, from: number): number {
  let s = 0;
  for (let i = values.length - 1; i >= from; i--) s += values[i];
  return s;
}

/**
 * Spectrum of a symmetric positive semi-definite matrix `G / scale`: every eigenvalue, and the
 * leading `vectors` eigenvectors (default all; a backend may return more).
 */
export async function psdSpectrum(
  k: CompleteKernels,
  g: Mat,
  scale: number,
  vectors?: number,
): Promise<Spectrum> {
  const { values, vectors: vecs } = await k.symEig(g, { vectors });
  const v = new Float64Array(values.length);
  for (let i = 0; i < v.length; i++) v[i] = Math.max(values[i] / scale, 0);
  return { values: v, vectors: vecs, total: tailSum(v, 0) };
}

/** Spectrum of Σ = XcᵀXc / N from centered data `Xc` (N×d); `vectors` as in {@link psdSpectrum}. */
export async function covarianceSpectrum(
  k: CompleteKernels,
  xc: Mat,
  vectors?: number,
): Promise<Spectrum> {
  return psdSpectrum(k, await k.gram(xc), xc.rows, vectors);
}
