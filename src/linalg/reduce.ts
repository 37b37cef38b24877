/**
 * Exact shortcuts for the columns of trained layers, found before any factorisation.
 *
 * - An exactly **constant** column (a dead ReLU unit is all zeros; a saturated unit is constant)
 *   is a zero column of the centered features Hc: it changes neither Hc's nonzero spectrum nor
 *   the span of Hc; in span(H) a nonzero constant column contributes only the ones vector **1**.
 * - **Duplicate** columns (m exact copies of x) contribute m·xxᵀ = (√m·x)(√m·x)ᵀ to Hc·Hcᵀ, so
 *   one column √m·x in their place leaves every nonzero singular value of Hc (and of H) and the
 *   left singular vectors — hence the spectrum, span(H) and pinv's cutoff — unchanged.
 *
 * So the metrics are computed on the reduced, scaled columns `Hr = [H[:, keep]·diag(scale)]`
 * (plus `c·1`, c² the sum of the nonzero constants' squares, where span(H) needs it), and every
 * vector is expanded back: a kept column's coefficient is shared equally by its m copies
 * (v/√m each) and constant columns get 0. The candidates come from the layer's moments (a
 * constant column's centered variance is zero up to rounding; two equal columns have equal
 * variances, means and covariance); each is then **verified exactly** against the data, so a
 * column is dropped only when it is bit-for-bit constant or a copy.
 * @module
 */
import type { Mat } from "../backends/types.js";

const EPS = 2 ** -52;

/** How a layer's columns reduce ({@link findReduction}). */
export interface ColumnReduction {
  /** The original width d. */
  d: number;
  /** The kept (representative, non-constant) columns, ascending. */
  keep: Int32Array;
  /** √(number of copies) of each kept column. */
  scale: Float64Array;
  /** For each original column: its slot in `keep`, or −1 for an exactly constant column. */
  slot: Int32Array;
  /** Σ c² over the columns that are exactly constant c ≠ 0 (0 when none). */
  constSq: number;
}

/**
 * Which of the candidate columns of h are bit-for-bit constant: one pass over the rows (each row
 * read once, in order), dropping a candidate at its first differing entry.
 */
function constantColumns(h: Mat, candidates: number[]): number[] {
  const { rows, cols, data } = h;
  let live = Int32Array.from(candidates);
  let count = live.length;
  for (let i = 1, o = cols; i < rows && count > 0; i++, o += cols) {
    let w = 0;
    for (let c = 0; c < count; c++) {
      const j = live[c];
      if (data[o + j] === data[j]) live[w++] = j;
    }
    count = w;
  }
  live = live.subarray(0, count);
  return Array.from(live);
}

/** Whether columns i and j of h are bit-for-bit equal. */
function columnsEqual(h: Mat, i: number, j: number): boolean {
  const { rows, cols, data } = h;
  for (let r = 0, o = 0; r < rows; r++, o += cols) if (data[o + i] !== data[o + j]) return false;
  return true;
}

/**
 * The exact column reduction of a layer (see the module doc), or null when every column is
 * non-constant and distinct.
 * @param h - the layer's features (N×d, rows = samples).
 * @param mean - their column means.
 * @param m2 - their centered Gram Σ(h−μ)(h−μ)ᵀ (d×d row-major), used only to find candidates.
 */
export function findReduction(
  h: Mat,
  mean: Float64Array,
  m2: Float64Array,
): ColumnReduction | null {
  const { rows: n, cols: d } = h;
  const slot = new Int32Array(d).fill(-2);
  let constSq = 0;
  // A constant column's centered sum of squares is rounding: ≲ n·(8ε·|μ|)².
  const candidates: number[] = [];
  for (let j = 0; j < d; j++)
    if (m2[j * d + j] <= n * (8 * EPS * Math.abs(mean[j])) ** 2) candidates.push(j);
  for (const j of constantColumns(h, candidates)) {
    slot[j] = -1;
    constSq += h.data[j] * h.data[j];
  }
  // Duplicates: equal variances, means and ‖cᵢ − cⱼ‖² = M_ii + M_jj − 2M_ij ≈ 0 (to rounding).
  const keepList: number[] = [];
  const copies: number[] = [];
  const tol = 1e-9;
  for (let j = 0; j < d; j++) {
    if (slot[j] === -1) continue;
    const vj = m2[j * d + j];
    const sj = Math.sqrt(vj / n);
    let found = -1;
    for (let a = 0; a < keepList.length; a++) {
      const i = keepList[a];
      const vi = m2[i * d + i];
      if (Math.abs(vi - vj) > tol * (vi + vj)) continue;
      if (vi + vj - 2 * m2[i * d + j] > tol * (vi + vj)) continue;
      if (Math.abs(mean[i] - mean[j]) > tol * (Math.abs(mean[i]) + Math.abs(mean[j]) + sj))
        continue;
      if (columnsEqual(h, i, j)) {
        found = a;
        break;
      }
    }
    if (found >= 0) {
      slot[j] = found;
      copies[found]++;
    } else {
      slot[j] = keepList.length;
      keepList.push(j);
      copies.push(1);
    }
  }
  if (keepList.length === d) return null;
  return {
    d,
    keep: Int32Array.from(keepList),
    scale: Float64Array.from(copies, (m) => Math.sqrt(m)),
    slot,
    constSq,
  };
}

/** The reduced, scaled d'×d' matrix `S·M[keep, keep]·S` of a d×d matrix M. */
export function reduceGram(red: ColumnReduction, m: Float64Array): Mat {
  const { keep, scale, d } = red;
  const k = keep.length;
  const out = new Float64Array(k * k);
  for (let a = 0; a < k; a++) {
    const row = keep[a] * d;
    const sa = scale[a];
    for (let b = 0; b < k; b++) out[a * k + b] = sa * scale[b] * m[row + keep[b]];
  }
  return { rows: k, cols: k, data: out };
}

/** `S·X[keep, :]` of a d×q matrix X (rows of kept columns, scaled). */
export function reduceRows(red: ColumnReduction, x: Float64Array, q: number): Float64Array {
  const { keep, scale } = red;
  const out = new Float64Array(keep.length * q);
  for (let a = 0; a < keep.length; a++) {
    const s = scale[a];
    const o = keep[a] * q;
    for (let c = 0; c < q; c++) out[a * q + c] = s * x[o + c];
  }
  return out;
}

/**
 * Coefficients on the reduced, scaled columns (d'×q) as coefficients on the original columns
 * (d×q) with the same product: `H·X = Hr·Xr` for X[keep[a]] = scale[a]·Xr[a], zero elsewhere.
 */
export function expandCoefficients(
  red: ColumnReduction,
  xr: Float64Array,
  q: number,
): Float64Array {
  const { keep, scale, d } = red;
  const out = new Float64Array(d * q);
  for (let a = 0; a < keep.length; a++) {
    const s = scale[a];
    const o = keep[a] * q;
    for (let c = 0; c < q; c++) out[o + c] = s * xr[a * q + c];
  }
  return out;
}

/**
 * Right singular vectors of the reduced, scaled columns (d'×k, orthonormal) as right singular
 * vectors of the original columns (d×k, orthonormal): each copy of a kept column gets v/√m,
 * constant columns 0. With `complete`, the d − d' vectors of the null space the reduction removed
 * are appended (unit vectors of constant columns; for each group of m copies the m − 1 Helmert
 * contrasts), so the result is a full orthonormal basis of ℝᵈ (d×(k + d − d') with k = d').
 */
export function expandVectors(red: ColumnReduction, v: Mat, complete = false): Mat {
  const { slot, scale, d } = red;
  const k = v.cols;
  const extra = complete ? d - red.keep.length : 0;
  const cols = k + extra;
  const out = new Float64Array(d * cols);
  for (let j = 0; j < d; j++) {
    const a = slot[j];
    if (a < 0) continue;
    const s = 1 / scale[a];
    for (let c = 0; c < k; c++) out[j * cols + c] = v.data[a * k + c] * s;
  }
  if (complete) {
    let c = k;
    const members: number[][] = Array.from({ length: red.keep.length }, () => []);
    for (let j = 0; j < d; j++) {
      if (slot[j] === -1) out[j * cols + c++] = 1;
      else members[slot[j]].push(j);
    }
    for (const g of members)
      for (let m = 1; m < g.length; m++) {
        // Helmert contrast: (e_{g0} + … + e_{g(m−1)} − m·e_{gm}) / √(m(m+1)).
        const s = 1 / Math.sqrt(m * (m + 1));
        for (let l = 0; l < m; l++) out[g[l] * cols + c] = s;
        out[g[m] * cols + c] = -m * s;
        c++;
      }
  }
  return { rows: d, cols, data: out };
}

/**
 * `[Hr | Y | 1]` in one pass: the reduced, scaled columns `H[:, keep]·S`, then `√constSq·1` where
 * nonzero constants put 1 in span(H), then the targets and a ones column — the matrix whose QR
 * gives NRC4's residual ({@link nrc4Residual}); `Hr` has the same nonzero singular values and
 * left singular vectors as H, hence the same pinv projection. Returns the matrix and Hr's width.
 * With `y` null, `[Hr]` (or `[Hr | √constSq·1]`) alone.
 */
export function reducedAugmented(
  red: ColumnReduction,
  h: Mat,
  y: Mat | null,
): { a: Mat; d: number } {
  const { keep, scale } = red;
  const ones = red.constSq > 0;
  const dr = keep.length + (ones ? 1 : 0);
  const q = y ? y.cols : 0;
  const w = y ? dr + q + 1 : dr;
  const n = h.rows;
  const out = new Float64Array(n * w);
  const c1 = Math.sqrt(red.constSq);
  for (let i = 0; i < n; i++) {
    const src = i * h.cols;
    const dst = i * w;
    for (let a = 0; a < keep.length; a++) out[dst + a] = scale[a] * h.data[src + keep[a]];
    if (ones) out[dst + dr - 1] = c1;
    if (!y) continue;
    for (let c = 0; c < q; c++) out[dst + dr + c] = y.data[i * q + c];
    out[dst + w - 1] = 1;
  }
  return { a: { rows: n, cols: w, data: out }, d: dr };
}
