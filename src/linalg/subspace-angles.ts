/**
 * Principal angles between subspaces, the sine–cosine way (Knyazev & Argentati, SIAM J. Sci.
 * Comput. 23(6), 2002; as scipy.linalg.subspace_angles): from orthonormal bases Qa (m×p) and
 * Qb (m×q), the cosines are the singular values of QaᵀQb and the sines those of the smaller basis
 * minus its projection on the larger; an angle is taken from its sine where cos² ≥ ½ (small
 * angles, where arccos loses half the digits) and from its cosine otherwise. Cosines (descending)
 * and sines (ascending) are paired by position, which stays right when tiny and large angles mix.
 * @module
 */
import type { CompleteKernels, Mat } from "../backends/types.js";

const EPS = 2 ** -52;

/** Orthonormal basis of the column space of A (m×p), rank cutoff σ ≤ rtol·σ_max with rtol = max(m, p)·ε. */
export async function orthonormalBasis(k: CompleteKernels, a: Mat, rtol?: number): Promise<Mat> {
  const { U, S } = await k.svd(a);
  const cut = (rtol ?? Math.max(a.rows, a.cols) * EPS) * (S[0] ?? 0);
  let r = 0;
  while (r < S.length && S[r] > cut) r++;
  const out = new Float64Array(a.rows * r);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < r; j++) out[i * r + j] = U.data[i * U.cols + j];
  return { rows: a.rows, cols: r, data: out };
}

/** Principal angles (radians, ascending) between the spans of two orthonormal bases of ℝᵐ. */
export async function anglesBetweenBases(
  k: CompleteKernels,
  qa: Mat,
  qb: Mat,
): Promise<Float64Array> {
  const [small, large] = qa.cols <= qb.cols ? [qa, qb] : [qb, qa];
  const nAngles = small.cols;
  if (nAngles === 0) return new Float64Array(0);
  // M = Largeᵀ·Small (q_large × q_small); cosines = σ(M).
  const M = await k.crossProd(large, small);
  const cosines = (await k.svd(M)).S;
  // Sines = σ(Small − Large·M), ascending = reversed descending.
  const proj = await k.matmul(large, M);
  const diff = new Float64Array(small.data.length);
  for (let i = 0; i < diff.length; i++) diff[i] = small.data[i] - proj.data[i];
  const sines = (await k.svd({ rows: small.rows, cols: nAngles, data: diff })).S;
  const out = new Float64Array(nAngles);
  for (let i = 0; i < nAngles; i++) {
    const c = Math.min(Math.max(cosines[i] ?? 0, 0), 1);
    const s = Math.min(Math.max(sines[nAngles - 1 - i] ?? 0, 0), 1);
    out[i] = c * c >= 0.5 ? Math.asin(s) : Math.acos(c);
  }
  // Guard monotonicity against the hand-over between the two formulas.
  out.sort();
  return out;
}

/** Mean of cos θ over principal angles θ. */
export function meanCosine(angles: Float64Array): number {
  if (angles.length === 0) return 0;
  let s = 0;
  for (let i = 0; i < angles.length; i++) s += Math.cos(angles[i]);
  return s / angles.length;
}
