/**
 * Tail sums of a covariance spectrum read from the data, for layers whose tail the Gram cannot
 * resolve. By Ky Fan's minimum principle, `Σ_{i>k} λᵢ(HcᵀHc) = min over rank-k projections P of
 * ‖Hc·(I − P)‖²_F`, attained at the top-k eigenvectors; with eigenvectors V_k computed from the
 * Gram (accurate to an angle δ ~ ε·λ₁/gap), the excess of `‖Hc − Hc·V_k·V_kᵀ‖²_F` over the true
 * tail is second order (≲ λ₁·δ²), and forming each row's residual costs rounding ε relative to
 * the row, so the tail comes out to ~2ε·√(total/tail) relative — against an absolute error of
 * ~d·ε·λ₁ per eigenvalue from the Gram (true NRC1 2.7e-15 read 4.9e-16). One pass over H,
 * 4·N·d·k flops.
 * @module
 */
import type { CompleteKernels, Mat } from "../backends/types.js";
import { tailSum, type Spectrum } from "./spectrum.js";

const EPS = 2 ** -52;

/** Tail sums from the Gram are trusted while they exceed this multiple of their error bound. */
export const TAIL_TRUST = 1e7;

/**
 * Whether the Gram cannot resolve the spectrum's tail beyond `from` to ~1e-7 relative: each
 * eigenvalue of the Gram carries an absolute error up to ~d·ε·λ₁, so a tail of d − from values
 * is trusted only above 1e7·(d − from)·d·ε·λ₁ (5.8e-4·λ₁ at d = 512). @internal
 */
export function gramTailUnresolved(spec: Spectrum, d: number, from: number): boolean {
  if (from >= d) return false;
  const lam1 = spec.values[0];
  return tailSum(spec.values, from) <= TAIL_TRUST * (d - from) * d * EPS * lam1;
}

/**
 * Tail sums Σ_{i≥from} λᵢ for every `from` ≤ kmax, read from the data in one pass
 * ({@link Kernels.projectedTail} with the top kmax eigenvectors): the tail beyond kmax directly,
 * and each shorter one plus the energy along the eigenvectors between.
 */
export async function dataTails(
  k: CompleteKernels,
  h: Mat,
  mean: Float64Array,
  spec: Spectrum,
  kmax: number,
): Promise<(from: number) => number> {
  const d = h.cols;
  const kk = Math.min(kmax, d, spec.vectors.cols);
  const v = new Float64Array(d * kk);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < kk; j++) v[i * kk + j] = spec.vectors.data[i * spec.vectors.cols + j];
  const { tail, energy } = await k.projectedTail(h, mean, { rows: d, cols: kk, data: v });
  const n = h.rows;
  return (from) => {
    if (from >= kk) return from === kk ? tail / n : tailSum(spec.values, from);
    let sum = tail;
    for (let j = kk - 1; j >= from; j--) sum += energy[j];
    return sum / n;
  };
}
