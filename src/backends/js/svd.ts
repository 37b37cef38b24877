/**
 * Thin SVD in plain TypeScript by one-sided (Hestenes) Jacobi, preconditioned as in Drmač &
 * Veselić (2008): tall matrices are first reduced by Householder QR, and the columns are first
 * rotated by the eigenvectors of the Gram matrix so that a couple of Jacobi sweeps finish the
 * job. One-sided Jacobi gives every singular value to absolute accuracy ≈ ε·σ_max (and small
 * ones to high relative accuracy on well-scaled inputs), which the rank cutoffs `rtol·σ_max` of
 * pinv and of orthonormal bases rely on; a Gram-only eigen approach cannot resolve σ below
 * √ε·σ_max.
 * @module
 */
import type { Mat, QrResult, SvdResult, SymEigResult } from "../types.js";
import { toColumnMajor, dot, matmul, transpose, gram } from "./blas.js";
import { qr } from "./qr.js";
import { symEig } from "./eig.js";

const EPS = 2 ** -52;

/** One-sided Jacobi on the columns of column-major m×n `Bc`, accumulating into n×n column-major `Vc`. */
function jacobi(Bc: Float64Array, m: number, n: number, Vc: Float64Array): void {
  const norms = new Float64Array(n);
  for (let sweep = 0; sweep < 80; sweep++) {
    // Squared column norms, refreshed each sweep and updated exactly by each rotation in between.
    let maxNorm = 0;
    for (let j = 0; j < n; j++) {
      norms[j] = dot(Bc, j * m, Bc, j * m, m);
      if (norms[j] > maxNorm) maxNorm = norms[j];
    }
    // Columns below 1e-2·ε·(largest column) are numerically zero: rotating them cannot improve
    // accuracy and, with subnormal entries, could cycle forever.
    const floor = Math.max(maxNorm * EPS * EPS * 1e-4, 1e-300);
    // Two columns count as orthogonal once their cosine is below m·ε (LAPACK dgesvj's default
    // tolerance, CTOL = M): the cosine of a length-m dot product carries rounding noise of order
    // √m·ε, so a bare ε threshold never stops rotating tall, nearly dependent columns (seen on a
    // 512×512 TSQR factor of 1e6 samples). Singular values stay accurate to ~m·ε·σ_max.
    const tol = Math.max(1, m) * EPS;
    let rotated = false;
    for (let i = 0; i < n - 1; i++) {
      const ci = i * m;
      for (let j = i + 1; j < n; j++) {
        const cj = j * m;
        const alpha = norms[i];
        const beta = norms[j];
        if (alpha <= floor || beta <= floor) continue;
        const gamma = dot(Bc, ci, Bc, cj, m);
        if (Math.abs(gamma) <= tol * Math.sqrt(alpha) * Math.sqrt(beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        norms[i] = Math.max(alpha - t * gamma, 0);
        norms[j] = beta + t * gamma;
        for (let r = 0; r < m; r++) {
          const bi = Bc[ci + r];
          const bj = Bc[cj + r];
          Bc[ci + r] = c * bi - s * bj;
          Bc[cj + r] = s * bi + c * bj;
        }
        const vi = i * n;
        const vj = j * n;
        for (let r = 0; r < n; r++) {
          const a = Vc[vi + r];
          const b = Vc[vj + r];
          Vc[vi + r] = c * a - s * b;
          Vc[vj + r] = s * a + c * b;
        }
      }
    }
    if (!rotated) return;
  }
  throw new Error(`svd: one-sided Jacobi did not converge for a ${m}×${n} matrix`);
}

/**
 * The synchronous kernels the SVD driver composes; a backend with faster ones (the wasm backend)
 * builds its SVD with {@link svdWith} and its own kernels, sharing this driver.
 * @internal
 */
export interface SvdOps {
  gram(a: Mat): Mat;
  symEig(a: Mat): SymEigResult;
  matmul(a: Mat, b: Mat): Mat;
  qr(a: Mat, b?: Mat, opts?: { wantQ?: boolean }): QrResult;
  /** One-sided Jacobi on column-major m×n `Bc`, accumulating into column-major n×n `Vc`; throws if it does not converge. */
  jacobi(Bc: Float64Array, m: number, n: number, Vc: Float64Array): void;
}

/** The thin SVD (QR for tall input, Gram-eigenvector preconditioning, Jacobi) over `ops`. @internal */
export function svdWith(ops: SvdOps): (a: Mat) => SvdResult {
  /** SVD of m×n A with m ≥ n, no QR step. */
  const svdTallSquareish = (a: Mat): SvdResult => {
    const m = a.rows;
    const n = a.cols;
    let work = a;
    let V0: Mat | null = null;
    if (n > 8) {
      // Precondition: rotate columns by the Gram's eigenvectors (they become nearly orthogonal).
      V0 = ops.symEig(ops.gram(a)).vectors;
      work = ops.matmul(a, V0);
    }
    const Bc = toColumnMajor(work);
    const Vc = new Float64Array(n * n);
    for (let i = 0; i < n; i++) Vc[i * n + i] = 1;
    ops.jacobi(Bc, m, n, Vc);
    const sig = new Float64Array(n);
    for (let j = 0; j < n; j++) sig[j] = Math.sqrt(dot(Bc, j * m, Bc, j * m, m));
    const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => sig[y] - sig[x]);
    const S = new Float64Array(n);
    const U = new Float64Array(m * n);
    const Vj = new Float64Array(n * n); // row-major n×n, Jacobi rotations only
    // Columns at Jacobi's zero floor (never rotated: their direction is rounding noise) give no
    // left vector; normalising them would return a unit vector not orthogonal to the others.
    const uFloor = (sig[order[0]] ?? 0) * EPS * 1e-2;
    for (let c = 0; c < n; c++) {
      const src = order[c];
      const s = sig[src];
      S[c] = s;
      if (s > uFloor && s > 0) for (let r = 0; r < m; r++) U[r * n + c] = Bc[src * m + r] / s;
      for (let r = 0; r < n; r++) Vj[r * n + c] = Vc[src * n + r];
    }
    const Vm: Mat = { rows: n, cols: n, data: Vj };
    return { U: { rows: m, cols: n, data: U }, S, V: V0 ? ops.matmul(V0, Vm) : Vm };
  };
  const svdOf = (a: Mat): SvdResult => {
    if (a.rows < a.cols) {
      const r = svdOf(transpose(a));
      return { U: r.V, S: r.S, V: r.U };
    }
    if (a.rows > a.cols + (a.cols >> 2)) {
      const { R, Q } = ops.qr(a, undefined, { wantQ: true });
      const r = svdTallSquareish(R);
      return { U: ops.matmul(Q as Mat, r.U), S: r.S, V: r.V };
    }
    return svdTallSquareish(a);
  };
  return svdOf;
}

/**
 * Thin SVD `A = U·diag(S)·Vᵀ`, singular values descending. Columns of U for σ = 0, or at the
 * Jacobi zero floor σ ≤ 1e-2·ε·σ_max, are zero.
 */
export const svd: (a: Mat) => SvdResult = svdWith({ gram, symEig, matmul, qr, jacobi });
