/**
 * NRC4's least squares preconditioned with a reduced-precision Gram: the Cholesky factor of the
 * approximate centered Gram C̃ (float32 products, error ‖C̃ − C‖₂ ≤ η) solves the normal
 * equations approximately, and {@link refinedResidualSq} refines against the data in float64
 * (each pass forms Yc − H·X from H; Richardson steps δ = M⁻¹·Hᵀ(Yc − H·X), M = C̃ + N·μμᵀ).
 * The steps contract by ρ = ‖I − M⁻¹HᵀH‖ ≲ ‖C̃ − C‖/λ_min(C̃): a few passes on a healthy layer,
 * no convergence (and the caller's fallback) once κ(H) is past what η resolves. The residual's
 * excess over the minimum is gᵀ(HᵀH)⁻¹g ≤ δᵀMδ/(1 − ρ), with ρ observed as the square root of
 * the last two changes' ratio (`nrc4Excess`).
 * @module
 */
import type { CompleteKernels, Mat } from "../backends/types.js";
import type { ApproxGram } from "./certified.js";
import {
  cholSolveVec,
  refinedResidualSq,
  type CenteredGramEigen,
  type RefinementInfo,
} from "./lstsq.js";

/**
 * An estimate of λ_min(L·Lᵀ) (L lower-triangular, row-major d×d) from `steps` steps of inverse
 * iteration with the factor, started from a fixed pseudo-random vector: the smallest Rayleigh
 * quotient xᵀx / xᵀ(LLᵀ)⁻¹x seen — an upper bound of λ_min, not a lower one (callers divide it
 * by a safety factor and certify by a refinement's contraction). 0 where a quotient is not
 * positive (L not numerically positive definite).
 * @internal
 */
export function cholMinEigenEstimate(L: Float64Array, d: number, steps: number): number {
  const x = new Float64Array(d);
  let seed = 12345;
  for (let i = 0; i < d; i++) {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    x[i] = seed / 2 ** 32 - 0.5;
  }
  let est = Infinity;
  for (let it = 0; it < steps; it++) {
    let xx = 0;
    for (let i = 0; i < d; i++) xx += x[i] * x[i];
    const y = Float64Array.from(x);
    cholSolveVec(L, d, y);
    let xy = 0;
    let yy = 0;
    for (let i = 0; i < d; i++) {
      xy += x[i] * y[i];
      yy += y[i] * y[i];
    }
    if (!(xy > 0)) return 0;
    est = Math.min(est, xx / xy);
    const s = 1 / Math.sqrt(yy);
    for (let i = 0; i < d; i++) x[i] = y[i] * s;
  }
  return est;
}

/**
 * The solver for {@link refinedResidualSq} from an approximate Gram: its Cholesky factor, and
 * bounds on C's spectrum for the refinement's conditioning guard (κ(HᵀH) ≤ 1e12) — λ_max ≤
 * trace, and λ_min estimated as λ̂/4, λ̂ ≥ λ_min(C̃) from three steps of inverse iteration with the
 * factor. An estimate, not a bound (the a-priori η is far too pessimistic to subtract: 1.5e-5 of
 * the trace against an actual ~1e-7); what certifies is the refinement's convergence: a
 * contraction ρ < ½ means M⁻¹HᵀH has its spectrum in [½, 3/2], so λ_min(HᵀH) ≥ λ_min(M)/2 > 0
 * ({@link preconditionedResidual}). Null when C̃ is not numerically positive definite.
 */
export async function lowGramSolver(
  k: CompleteKernels,
  approx: ApproxGram,
  mean: Float64Array,
  trace: number,
): Promise<CenteredGramEigen | null> {
  const d = mean.length;
  const chol = await k.cholesky(approx.gram);
  if (!chol) return null;
  const est = cholMinEigenEstimate(chol.data, d, 3);
  const lower = est / 4;
  if (!(lower > 0)) return null;
  return {
    values: new Float64Array(0),
    vectors: { rows: d, cols: 0, data: new Float64Array(0) },
    chol,
    mean,
    bounds: { lower, upper: trace, trace },
  };
}

/** NRC4's residual with its certificate. */
export interface CertifiedResidual {
  /** ‖(I − H·pinv(H))·Yc‖², from the last residual formed from the data. */
  residual: number;
  /** Upper bound on its excess over the minimum, relative to it. */
  excessRel: number;
  /** Passes over the data. */
  passes: number;
}

/**
 * The refined residual from the approximate Gram's solver, or null (not converged, or not
 * positive definite): then the float64 path.
 */
export async function preconditionedResidual(
  k: CompleteKernels,
  h: Mat,
  yc: Mat,
  solver: CenteredGramEigen,
  rtol: number,
  start: Mat,
): Promise<CertifiedResidual | null> {
  const info: RefinementInfo = { passes: 0, change: Infinity, previous: Infinity };
  const res = await refinedResidualSq(k, h, yc, solver, rtol, start, info);
  if (res === null) return null;
  const rho = Number.isFinite(info.previous)
    ? Math.sqrt(Math.max(0, info.change) / info.previous)
    : 0.5;
  if (!(rho < 0.5)) return null;
  const excess = info.change / (1 - rho);
  return { residual: res, excessRel: res > 0 ? excess / res : 0, passes: info.passes };
}
