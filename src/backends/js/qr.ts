/**
 * Householder QR with right-hand sides, in plain TypeScript (Golub & Van Loan §5.2).
 * Works on column-major copies so every reflector is a contiguous dot product and axpy.
 * The reflectors are applied to B as they are made, so `QᵀB` and the squared distance of each
 * column of B from range(A) come out without forming Q; that distance is read off the trailing
 * rows directly, never as a difference ‖B‖² − ‖QᵀB‖².
 * @module
 */
import type { Mat, QrResult } from "../types.js";
import { toColumnMajor, dot } from "./blas.js";

function fromColumnMajor(c: Float64Array, m: number, n: number, rows = m): Mat {
  const out = new Float64Array(rows * n);
  for (let j = 0; j < n; j++) for (let i = 0; i < rows; i++) out[i * n + j] = c[j * m + i];
  return { rows, cols: n, data: out };
}

/** Thin Householder QR of m×n A (k = min(m, n)), applied to optional m×q B. */
export function qr(a: Mat, b?: Mat, opts: { wantQ?: boolean } = {}): QrResult {
  const m = a.rows;
  const n = a.cols;
  const k = Math.min(m, n);
  const A = toColumnMajor(a);
  const B = b ? toColumnMajor(b) : undefined;
  const q = b ? b.cols : 0;
  // Reflector j: v (stored in rows j..m-1 of `V` column j, v[j] = 1 implied not used), beta.
  const V = new Float64Array(m * k);
  const betas = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    const cj = j * m;
    let scale = 0;
    for (let i = j; i < m; i++) scale = Math.max(scale, Math.abs(A[cj + i]));
    if (scale === 0) continue;
    let tail = 0;
    for (let i = j + 1; i < m; i++) {
      const x = A[cj + i] / scale;
      tail += x * x;
    }
    if (tail === 0) continue; // nothing below the diagonal: H_j = I
    const x0 = A[cj + j] / scale;
    const norm = Math.sqrt(x0 * x0 + tail);
    const alpha = x0 >= 0 ? -norm : norm;
    const v0 = x0 - alpha;
    const vj = j * m;
    V[vj + j] = v0;
    for (let i = j + 1; i < m; i++) V[vj + i] = A[cj + i] / scale;
    const beta = 2 / (v0 * v0 + tail);
    betas[j] = beta;
    A[cj + j] = alpha * scale;
    for (let i = j + 1; i < m; i++) A[cj + i] = 0;
    const len = m - j;
    for (let c = j + 1; c < n; c++) {
      const cc = c * m;
      const f = beta * dot(V, vj + j, A, cc + j, len);
      if (f !== 0) for (let i = j; i < m; i++) A[cc + i] -= f * V[vj + i];
    }
    if (B)
      for (let c = 0; c < q; c++) {
        const cc = c * m;
        const f = beta * dot(V, vj + j, B, cc + j, len);
        if (f !== 0) for (let i = j; i < m; i++) B[cc + i] -= f * V[vj + i];
      }
  }
  const R = new Float64Array(k * n);
  for (let i = 0; i < k; i++) for (let j = i; j < n; j++) R[i * n + j] = A[j * m + i];
  const result: QrResult = { R: { rows: k, cols: n, data: R } };
  if (B) {
    result.QtB = fromColumnMajor(B, m, q, k);
    const res = new Float64Array(q);
    for (let c = 0; c < q; c++) {
      let s = 0;
      for (let i = k; i < m; i++) s += B[c * m + i] * B[c * m + i];
      res[c] = s;
    }
    result.residualSq = res;
  }
  if (opts.wantQ) {
    // Q = H_0 H_1 … H_{k-1} I[:, :k], applied right to left.
    const Q = new Float64Array(m * k);
    for (let c = 0; c < k; c++) Q[c * m + c] = 1;
    for (let j = k - 1; j >= 0; j--) {
      const beta = betas[j];
      if (beta === 0) continue;
      const vj = j * m;
      const len = m - j;
      for (let c = j; c < k; c++) {
        const cc = c * m;
        const f = beta * dot(V, vj + j, Q, cc + j, len);
        if (f !== 0) for (let i = j; i < m; i++) Q[cc + i] -= f * V[vj + i];
      }
    }
    result.Q = fromColumnMajor(Q, m, k);
  }
  return result;
}
