/**
 * Symmetric eigen-decomposition in plain TypeScript: Householder reduction to tridiagonal form
 * followed by the implicit symmetric QR algorithm with Wilkinson shifts (Golub & Van Loan,
 * "Matrix Computations", 4th ed., §8.3). Written here because ml-matrix's
 * `EigenvalueDecomposition` is ~10× slower at 512×512 and returns ascending, unnormalised order
 * conventions we would re-sort anyway. Backward stable: ‖AV − VΛ‖ ≈ n·ε·‖A‖.
 * @module
 */
import type { Mat, SymEigResult } from "../types.js";

const EPS = 2 ** -52;

/** Stable √(x² + z²). */
function hyp(x: number, z: number): number {
  const ax = Math.abs(x);
  const az = Math.abs(z);
  const t = ax > az ? ax : az;
  if (t === 0) return 0;
  const u = ax / t;
  const w = az / t;
  return t * Math.sqrt(u * u + w * w);
}

/**
 * All eigenpairs of a symmetric n×n matrix (the lower triangle is read), eigenvalues descending,
 * eigenvectors as the columns of `vectors`.
 */
export function symEig(a: Mat): SymEigResult {
  const n = a.rows;
  if (n !== a.cols) throw new Error(`symEig: matrix must be square; got ${a.rows}×${a.cols}`);
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      const v = a.data[i * n + j];
      A[i * n + j] = v;
      A[j * n + i] = v;
    }
  // Qt holds Qᵀ: its rows end up as the eigenvectors.
  const Qt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) Qt[i * n + i] = 1;
  const d = new Float64Array(n);
  const e = new Float64Array(Math.max(n - 1, 0));
  const v = new Float64Array(n);
  const p = new Float64Array(n);

  // 1. Householder tridiagonalisation A = Q T Qᵀ.
  for (let k = 0; k < n - 2; k++) {
    const m0 = k + 1;
    let scale = 0;
    for (let i = m0; i < n; i++) scale = Math.max(scale, Math.abs(A[k * n + i]));
    if (scale === 0) continue;
    let tail = 0;
    for (let i = m0; i < n; i++) {
      const x = A[k * n + i] / scale;
      v[i] = x;
      if (i > m0) tail += x * x;
    }
    if (tail === 0) continue; // column already tridiagonal
    const x0 = v[m0];
    const norm = Math.sqrt(x0 * x0 + tail);
    const alpha = x0 >= 0 ? -norm : norm;
    v[m0] = x0 - alpha;
    const vtv = v[m0] * v[m0] + tail;
    const beta = 2 / vtv;
    // p = β A22 v
    let pv = 0;
    for (let i = m0; i < n; i++) {
      let s = 0;
      const row = i * n;
      for (let j = m0; j < n; j++) s += A[row + j] * v[j];
      p[i] = beta * s;
      pv += p[i] * v[i];
    }
    const K = (beta / 2) * pv;
    for (let i = m0; i < n; i++) p[i] -= K * v[i]; // p is now w
    for (let i = m0; i < n; i++) {
      const vi = v[i];
      const wi = p[i];
      const row = i * n;
      for (let j = m0; j < n; j++) A[row + j] -= vi * p[j] + wi * v[j];
    }
    const newOff = alpha * scale;
    A[k * n + m0] = newOff;
    A[m0 * n + k] = newOff;
    for (let i = m0 + 1; i < n; i++) {
      A[k * n + i] = 0;
      A[i * n + k] = 0;
    }
    // Qᵀ ← P Qᵀ on rows m0..n-1: rows -= β v (vᵀ rows)
    for (let j = 0; j < n; j++) p[j] = 0;
    for (let i = m0; i < n; i++) {
      const vi = v[i];
      if (vi === 0) continue;
      const row = i * n;
      for (let j = 0; j < n; j++) p[j] += vi * Qt[row + j];
    }
    for (let i = m0; i < n; i++) {
      const f = beta * v[i];
      if (f === 0) continue;
      const row = i * n;
      for (let j = 0; j < n; j++) Qt[row + j] -= f * p[j];
    }
  }
  for (let i = 0; i < n; i++) d[i] = A[i * n + i];
  for (let i = 0; i < n - 1; i++) e[i] = A[(i + 1) * n + i];

  // 2. Implicit symmetric QR with Wilkinson shifts on (d, e).
  let hi = n - 1;
  let iter = 0;
  const maxIter = 60 * Math.max(n, 1);
  while (hi > 0) {
    if (Math.abs(e[hi - 1]) <= EPS * (Math.abs(d[hi - 1]) + Math.abs(d[hi]))) {
      e[hi - 1] = 0;
      hi--;
      continue;
    }
    let lo = hi - 1;
    while (lo > 0 && Math.abs(e[lo - 1]) > EPS * (Math.abs(d[lo - 1]) + Math.abs(d[lo]))) lo--;
    if (lo > 0) e[lo - 1] = 0;
    if (++iter > maxIter) throw new Error(`symEig: QR iteration did not converge for n = ${n}`);
    const dd = (d[hi - 1] - d[hi]) / 2;
    const b = e[hi - 1];
    const mu = d[hi] - (b * b) / (dd + (dd >= 0 ? 1 : -1) * hyp(dd, b));
    let x = d[lo] - mu;
    let z = e[lo];
    for (let k = lo; k < hi; k++) {
      const r = hyp(x, z);
      const c = r === 0 ? 1 : x / r;
      const s = r === 0 ? 0 : z / r;
      if (k > lo) e[k - 1] = r;
      const ak = d[k];
      const bk = e[k];
      const ck = d[k + 1];
      const cs = c * s;
      const c2 = c * c;
      const s2 = s * s;
      d[k] = c2 * ak + 2 * cs * bk + s2 * ck;
      d[k + 1] = s2 * ak - 2 * cs * bk + c2 * ck;
      e[k] = cs * (ck - ak) + (c2 - s2) * bk;
      if (k + 1 < hi) {
        z = s * e[k + 1];
        e[k + 1] = c * e[k + 1];
        x = e[k];
      }
      const rk = k * n;
      const rk1 = (k + 1) * n;
      for (let j = 0; j < n; j++) {
        const q0 = Qt[rk + j];
        const q1 = Qt[rk1 + j];
        Qt[rk + j] = c * q0 + s * q1;
        Qt[rk1 + j] = c * q1 - s * q0;
      }
    }
  }

  // 3. Sort descending; eigenvector j = row j of Qt → column of `vectors`.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[j] - d[i]);
  const values = new Float64Array(n);
  const vec = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const src = order[c];
    values[c] = d[src];
    const row = src * n;
    for (let i = 0; i < n; i++) vec[i * n + c] = Qt[row + i];
  }
  return { values, vectors: { rows: n, cols: n, data: vec } };
}
