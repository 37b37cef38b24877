/**
 * Plain TypeScript float64 products on flat row-major arrays: the fallback everywhere.
 * Gram and cross products transpose to column-major first so every inner loop is a
 * contiguous dot product with four independent accumulators.
 * @module
 */
import type { Mat, MatF32, NormalStepResult } from "../types.js";

/** Column-major copy of a row-major m×n matrix: column j is `out[j*m … j*m+m)`. */
export function toColumnMajor(a: Mat): Float64Array {
  const { rows: m, cols: n, data } = a;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const row = i * n;
    for (let j = 0; j < n; j++) out[j * m + i] = data[row + j];
  }
  return out;
}

/** Dot product of x[xo … xo+len) and y[yo … yo+len). */
export function dot(x: Float64Array, xo: number, y: Float64Array, yo: number, len: number): number {
  let s0 = 0,
    s1 = 0,
    s2 = 0,
    s3 = 0;
  let k = 0;
  for (; k + 3 < len; k += 4) {
    s0 += x[xo + k] * y[yo + k];
    s1 += x[xo + k + 1] * y[yo + k + 1];
    s2 += x[xo + k + 2] * y[yo + k + 2];
    s3 += x[xo + k + 3] * y[yo + k + 3];
  }
  for (; k < len; k++) s0 += x[xo + k] * y[yo + k];
  return s0 + s1 + (s2 + s3);
}

/** `AᵀA` (n×n, symmetric) of an m×n matrix. */
export function gram(a: Mat): Mat {
  const { rows: m, cols: n } = a;
  const c = toColumnMajor(a);
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = dot(c, i * m, c, j * m, m);
      g[i * n + j] = v;
      g[j * n + i] = v;
    }
  }
  return { rows: n, cols: n, data: g };
}

/** `AᵀB` (n×q) of m×n A and m×q B. */
export function crossProd(a: Mat, b: Mat): Mat {
  const m = a.rows;
  const n = a.cols;
  const q = b.cols;
  const ca = toColumnMajor(a);
  const cb = toColumnMajor(b);
  const out = new Float64Array(n * q);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < q; j++) out[i * q + j] = dot(ca, i * m, cb, j * m, m);
  return { rows: n, cols: q, data: out };
}

/** `A·B` of m×k A and k×n B. */
export function matmul(a: Mat, b: Mat): Mat {
  const m = a.rows;
  const k = a.cols;
  const n = b.cols;
  const ad = a.data;
  const bd = b.data;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const orow = i * n;
    for (let p = 0; p < k; p++) {
      const v = ad[i * k + p];
      if (v === 0) continue;
      const brow = p * n;
      for (let j = 0; j < n; j++) out[orow + j] += v * bd[brow + j];
    }
  }
  return { rows: m, cols: n, data: out };
}

/** Transpose. */
export function transpose(a: Mat): Mat {
  const { rows: m, cols: n, data } = a;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = data[i * n + j];
  return { rows: n, cols: m, data: out };
}

/**
 * One pass of a refined least-squares solve: R = B − A·X (R = B without X), returns AᵀR and the
 * squared column norms of R, row by row (R is never stored). A float32 A is widened first.
 */
export function normalStep(a: Mat | MatF32, b: Mat, x?: Mat): NormalStepResult {
  const m = a.rows;
  const n = a.cols;
  const q = b.cols;
  const ad = a.data instanceof Float32Array ? Float64Array.from(a.data) : a.data;
  const bd = b.data;
  // X column-major so each residual entry is a contiguous dot product.
  const xt = x ? toColumnMajor(x) : null;
  const g = new Float64Array(q * n); // column-major while accumulating
  const rss = new Float64Array(q);
  for (let i = 0; i < m; i++) {
    const ro = i * n;
    for (let c = 0; c < q; c++) {
      let r = bd[i * q + c];
      if (xt) r -= dot(ad, ro, xt, c * n, n);
      rss[c] += r * r;
      if (r === 0) continue;
      const go = c * n;
      for (let j = 0; j < n; j++) g[go + j] += ad[ro + j] * r;
    }
  }
  const out = new Float64Array(n * q);
  for (let j = 0; j < n; j++) for (let c = 0; c < q; c++) out[j * q + c] = g[c * n + j];
  return { g: { rows: n, cols: q, data: out }, rss };
}

/**
 * Cholesky factor of a symmetric positive definite n×n matrix (lower triangle read): lower L with
 * A = L·Lᵀ (upper part zero), or null when a pivot is not positive. Row-oriented (each entry a
 * contiguous dot product of two rows of L).
 */
export function cholesky(a: Mat): Mat | null {
  const n = a.rows;
  const l = new Float64Array(n * n);
  const src = a.data;
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j < i; j++) {
      const rj = j * n;
      l[ri + j] = (src[ri + j] - dot(l, ri, l, rj, j)) / l[rj + j];
    }
    const s = src[ri + i] - dot(l, ri, l, ri, i);
    if (!(s > 0)) return null;
    l[ri + i] = Math.sqrt(s);
  }
  return { rows: n, cols: n, data: l };
}
