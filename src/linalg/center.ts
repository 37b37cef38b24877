/**
 * Centering over samples, two-pass: the mean, then a correction pass adding the mean of the
 * residuals (Björck's refinement), so `Hc = H − 1·mean(H)` is accurate even when the mean is
 * large against the spread. A column constant up to rounding (its centered sum of squares below
 * (8ε·max|x|)²·N) is set exactly to zero, so constant features read as zero variance rather than
 * as rounding noise.
 * @module
 */
import type { Mat } from "../backends/types.js";
import { columnMeans } from "../backends/composed.js";

const EPS = 2 ** -52;

/** Returns the centered copy `A − 1·mean(A)` and the means. */
export function center(a: Mat): { centered: Mat; mean: Float64Array } {
  const { rows: n, cols: d, data } = a;
  const mean = columnMeans(a);
  const out = new Float64Array(n * d);
  const maxAbs = new Float64Array(d);
  const ss = new Float64Array(d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      const x = data[i * d + j];
      const c = x - mean[j];
      out[i * d + j] = c;
      ss[j] += c * c;
      const ax = Math.abs(x);
      if (ax > maxAbs[j]) maxAbs[j] = ax;
    }
  for (let j = 0; j < d; j++) {
    const floor = 8 * EPS * maxAbs[j];
    if (ss[j] <= n * floor * floor) for (let i = 0; i < n; i++) out[i * d + j] = 0;
  }
  return { centered: { rows: n, cols: d, data: out }, mean };
}

/** Sum of squares of all entries (scaled to avoid overflow is unnecessary for finite float64 data of sane range). */
export function frobeniusSq(a: Mat): number {
  let s = 0;
  const x = a.data;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

/** Copies columns [0, k) of a matrix. */
export function leadingColumns(a: Mat, k: number): Mat {
  const out = new Float64Array(a.rows * k);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < k; j++) out[i * k + j] = a.data[i * a.cols + j];
  return { rows: a.rows, cols: k, data: out };
}

/** Copies columns [from, to) of a matrix. */
export function columnRange(a: Mat, from: number, to: number): Mat {
  const k = to - from;
  const out = new Float64Array(a.rows * k);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < k; j++) out[i * k + j] = a.data[i * a.cols + from + j];
  return { rows: a.rows, cols: k, data: out };
}

/** A copy scaled so its largest entry is 1 (CKA is scale-invariant; avoids under/overflow). */
export function unitScaled(m: Mat): Mat {
  let mx = 0;
  for (let i = 0; i < m.data.length; i++) mx = Math.max(mx, Math.abs(m.data[i]));
  if (mx === 0 || mx === 1) return m;
  const out = new Float64Array(m.data.length);
  for (let i = 0; i < out.length; i++) out[i] = m.data[i] / mx;
  return { rows: m.rows, cols: m.cols, data: out };
}
