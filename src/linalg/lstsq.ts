/**
 * Least-squares residuals through the pseudo-inverse, computed directly:
 * `‖A·pinv(A)·B − B‖²_F` with pinv's cutoff `σ ≤ rtol·σ_max`. A = QR (Householder, reflectors
 * applied to B), R = U·S·Vᵀ (one-sided Jacobi); then with z = (QᵀB)[:k] and U₊ the left
 * singular vectors kept by the cutoff, the residual is the trailing part of QᵀB plus
 * `‖z − U₊U₊ᵀz‖²`, each a sum of squares of small numbers, never a difference of large ones.
 * @module
 */
import type { CompleteKernels, Mat } from "../backends/types.js";

/** Default pinv cutoff `max(m, n)·ε₆₄` (numpy's `matrix_rank`/`lstsq` convention). */
export function defaultRtol(m: number, n: number): number {
  return Math.max(m, n) * 2 ** -52;
}

/** Per-column squared residuals of B off range(A) through pinv with cutoff rtol·σ_max. */
export async function pinvResidualSq(
  k: CompleteKernels,
  a: Mat,
  b: Mat,
  rtol: number,
): Promise<{ perColumn: Float64Array; rank: number }> {
  const { R, QtB, residualSq } = await k.qr(a, b);
  const z = QtB as Mat;
  const perColumn = Float64Array.from(residualSq as Float64Array);
  const { U, S } = await k.svd(R);
  const cut = rtol * (S[0] ?? 0);
  let rank = 0;
  while (rank < S.length && S[rank] > cut && S[rank] > 0) rank++;
  const kk = z.rows;
  const q = z.cols;
  // c = U₊ᵀ z (rank × q); residual part = z − U₊ c.
  for (let col = 0; col < q; col++) {
    const coef = new Float64Array(rank);
    for (let j = 0; j < rank; j++) {
      let s = 0;
      for (let i = 0; i < kk; i++) s += U.data[i * U.cols + j] * z.data[i * q + col];
      coef[j] = s;
    }
    let ss = 0;
    for (let i = 0; i < kk; i++) {
      let p = 0;
      for (let j = 0; j < rank; j++) p += U.data[i * U.cols + j] * coef[j];
      const r = z.data[i * q + col] - p;
      ss += r * r;
    }
    perColumn[col] += ss;
  }
  return { perColumn, rank };
}
